/**
 * The virtio-mmio version 2 register block as a driver sees it (virtio 1.2, 4.2.2): offsets,
 * the device status bits (2.1) and the interrupt causes. The numbers are the specification's,
 * defined once beside the transport (`devices/virtio/transport/registers.ts`); the guest shares
 * them and nothing else with the host side, under the names a driver uses.
 */
export {
  MMIO_REGISTER as MMIO,
  MMIO_MAGIC_VALUE as MMIO_MAGIC,
  MMIO_VERSION,
  DEVICE_STATUS as STATUS,
  INTERRUPT_STATUS as INTERRUPT,
} from '../devices/virtio/transport/registers.js';
export { VIRTIO_F_VERSION_1 } from '../devices/virtio/device.js';

/**
 * What the driver drives: the register block through `read`/`write` of byte arrays, as a
 * memory-mapped bus would (the `MmioTransport` of `vmm-metrics/virtio` is one).
 */
export interface MmioRegisterBlock {
  /** Fills `data` from the register (or configuration bytes) at `offset`. */
  read(offset: number, data: Uint8Array): void;
  /** Writes `data` to the register (or configuration bytes) at `offset`. */
  write(offset: number, data: Uint8Array): void;
}
