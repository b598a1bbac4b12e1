/**
 * `vmm-metrics/virtio`: the virtio layer a device of this project runs on — guest memory with
 * checked accessors, split virtqueues that validate everything the guest writes, the
 * transport-neutral device interface, and the virtio-mmio (version 2) transport.
 */
export { GuestMemory, GuestMemoryError, PAGE_SIZE, pfnToAddress } from '../../vstate/memory.js';
export type { GuestAddress } from '../../vstate/memory.js';
export {
  DescriptorChain,
  InvalidAvailIndexError,
  MalformedChainError,
  Queue,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from './queue.js';
export type { Descriptor } from './queue.js';
export { DeviceActivationError, VIRTIO_DEVICE_TYPE, VIRTIO_F_VERSION_1 } from './device.js';
export type { ActivationContext, InterruptKind, InterruptLine, VirtioDevice } from './device.js';
export { MmioTransport } from './transport/mmio.js';
export type { MmioTransportOptions } from './transport/mmio.js';
export { DEVICE_STATUS, INTERRUPT_STATUS, MMIO_MAGIC_VALUE, MMIO_REGISTER, MMIO_VENDOR_ID, MMIO_VERSION, MMIO_WINDOW_SIZE } from './transport/registers.js';
