/**
 * A KVM VM (the file descriptor `KVM_CREATE_VM` returned): its memory slots, its in-kernel
 * interrupt controllers and PIT, its interrupt lines, and its vCPUs. VM ioctls may be made from
 * any thread; `irqLine` is what the devices' interrupts come to.
 */
import { IOCTL, KVM_PIT_SPEAKER_DUMMY, SIZE } from './sys/abi.js';
import { check, type Libc } from './sys/libc.js';

export class KvmVm {
  constructor(
    readonly c: Libc,
    readonly fd: number,
  ) {}

  /** `KVM_SET_TSS_ADDR`: three pages Intel VMX uses for real mode, outside guest memory. */
  setTssAddress(address: number): void {
    check(this.c, this.c.ioctl(this.fd, IOCTL.setTssAddr, address), `ioctl(KVM_SET_TSS_ADDR, 0x${address.toString(16)})`, 'the TSS of real mode');
  }

  /** `KVM_CREATE_IRQCHIP`: the PICs, the IOAPIC and a local APIC per vCPU, in the kernel. */
  createIrqchip(): void {
    check(this.c, this.c.ioctl(this.fd, IOCTL.createIrqchip, 0), 'ioctl(KVM_CREATE_IRQCHIP)', 'the in-kernel interrupt controllers');
  }

  /** `KVM_CREATE_PIT2`: the i8254 in the kernel, with port 0x61 a dummy speaker. */
  createPit2(): void {
    const config = new Uint8Array(SIZE.pitConfig);
    new DataView(config.buffer).setUint32(0, KVM_PIT_SPEAKER_DUMMY, true);
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.createPit2, config), 'ioctl(KVM_CREATE_PIT2)', 'the in-kernel PIT');
  }

  /** `KVM_SET_USER_MEMORY_REGION`: guest physical `guestAddress … + size` is the process's memory at `hostAddress`. */
  setUserMemoryRegion(slot: number, guestAddress: number, size: number, hostAddress: bigint): void {
    const region = new Uint8Array(SIZE.userspaceMemoryRegion);
    const view = new DataView(region.buffer);
    view.setUint32(0, slot, true);
    view.setUint32(4, 0, true); // flags
    view.setBigUint64(8, BigInt(guestAddress), true);
    view.setBigUint64(16, BigInt(size), true);
    view.setBigUint64(24, hostAddress, true);
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.setUserMemoryRegion, region), `ioctl(KVM_SET_USER_MEMORY_REGION, slot ${slot})`, `${size} bytes of guest memory`);
  }

  /** `KVM_IRQ_LINE`: sets the level of interrupt line `irq` (a GSI of the IOAPIC, and of the PIC below 16). */
  irqLine(irq: number, level: 0 | 1): void {
    const buffer = this.#irqLevel;
    this.#irqView.setUint32(0, irq, true);
    this.#irqView.setUint32(4, level, true);
    // The message is made only on failure: this is every interrupt's path.
    if (this.c.ioctlPtr(this.fd, IOCTL.irqLine, buffer) < 0) check(this.c, -1, `ioctl(KVM_IRQ_LINE, ${irq}, ${level})`, 'a device interrupt');
  }

  readonly #irqLevel = new Uint8Array(SIZE.irqLevel);
  readonly #irqView = new DataView(this.#irqLevel.buffer);

  /** An edge on `irq`: the line up and down again, as an edge-triggered IOAPIC pin sees an interrupt. */
  pulseIrq(irq: number): void {
    this.irqLine(irq, 1);
    this.irqLine(irq, 0);
  }

  /** `KVM_CREATE_VCPU`: vCPU `id`'s file descriptor. */
  createVcpu(id: number): number {
    return check(this.c, this.c.ioctl(this.fd, IOCTL.createVcpu, id), `ioctl(KVM_CREATE_VCPU, ${id})`, 'a vCPU');
  }

  close(): void {
    this.c.close(this.fd);
  }
}
