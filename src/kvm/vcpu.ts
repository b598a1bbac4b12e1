/**
 * A KVM vCPU (the file descriptor `KVM_CREATE_VCPU` returned): its CPUID, registers, FPU and local
 * APIC, set once before it runs, and `KVM_RUN` with its shared `struct kvm_run` page.
 *
 * The registers are passed as the kernel's own structures (`Uint8Array`s laid out per
 * `sys/abi.ts`); what to put in them for a Linux boot is `boot/long-mode.ts`'s business.
 */
import { encodeCpuid, type CpuidEntry } from './system.js';
import { FPU, IOCTL, LAPIC, SIZE } from './sys/abi.js';
import { check, MAP_SHARED, PROT_READ, PROT_WRITE, type Libc } from './sys/libc.js';

export class KvmVcpu {
  constructor(
    readonly c: Libc,
    readonly fd: number,
  ) {}

  setCpuid(entries: readonly CpuidEntry[]): void {
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.setCpuid2, encodeCpuid(entries)), `ioctl(KVM_SET_CPUID2, ${entries.length} leaves)`, "the vCPU's CPUID");
  }

  getSregs(): Uint8Array {
    const sregs = new Uint8Array(SIZE.sregs);
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.getSregs, sregs), 'ioctl(KVM_GET_SREGS)', "the vCPU's segment and control registers");
    return sregs;
  }

  setSregs(sregs: Uint8Array): void {
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.setSregs, sregs), 'ioctl(KVM_SET_SREGS)', "the vCPU's segment and control registers");
  }

  getRegs(): Uint8Array {
    const regs = new Uint8Array(SIZE.regs);
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.getRegs, regs), 'ioctl(KVM_GET_REGS)', "the vCPU's general registers");
    return regs;
  }

  setRegs(regs: Uint8Array): void {
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.setRegs, regs), 'ioctl(KVM_SET_REGS)', "the vCPU's general registers");
  }

  /** The x87 control word and MXCSR a CPU has after reset (Intel SDM, vol. 1, 8.1.5 and 10.2.3.1). */
  setFpuDefaults(): void {
    const fpu = new Uint8Array(SIZE.fpu);
    const view = new DataView(fpu.buffer);
    view.setUint16(FPU.fcw, 0x37f, true);
    view.setUint32(FPU.mxcsr, 0x1f80, true);
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.setFpu, fpu), 'ioctl(KVM_SET_FPU)', "the vCPU's FPU state");
  }

  /**
   * LINT0 delivers the PIC's interrupts (ExtINT) and LINT1 NMIs, as a BIOS leaves the boot CPU's
   * local APIC (Firecracker's `interrupts::set_lint`).
   */
  setLocalInterrupts(): void {
    const lapic = new Uint8Array(SIZE.lapicState);
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.getLapic, lapic), 'ioctl(KVM_GET_LAPIC)', "the vCPU's local APIC");
    const view = new DataView(lapic.buffer);
    const setMode = (register: number, mode: number): void => {
      view.setUint32(register, (view.getUint32(register, true) & ~0x700) | (mode << 8), true);
    };
    setMode(LAPIC.lvtLint0, LAPIC.deliveryModeExtInt);
    setMode(LAPIC.lvtLint1, LAPIC.deliveryModeNmi);
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.setLapic, lapic), 'ioctl(KVM_SET_LAPIC)', "the vCPU's local APIC");
  }

  /**
   * The vCPU's `struct kvm_run`, mapped into this thread's view of the process. The mapping holds
   * the vCPU (and so the VM) alive in the kernel until it is unmapped with `munmap(address)`.
   */
  mapRun(size: number): { address: bigint; bytes: Uint8Array } {
    const mapped = this.c.mmap(size, PROT_READ | PROT_WRITE, MAP_SHARED, this.fd, 0);
    if (mapped.address === -1n) check(this.c, -1, 'mmap(vcpu fd)', 'the kvm_run page');
    return mapped;
  }

  /**
   * `KVM_SET_SIGNAL_MASK`: the signals blocked while the guest runs (a kernel sigset, 8 bytes).
   * The kick signal is blocked in the vCPU's thread and unblocked here, so it stops `KVM_RUN`
   * and then waits, pending, to be taken with `sigtimedwait`.
   */
  setSignalMask(kernelSigset: Uint8Array): void {
    const mask = new Uint8Array(4 + kernelSigset.length);
    new DataView(mask.buffer).setUint32(0, kernelSigset.length, true);
    mask.set(kernelSigset, 4);
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.setSignalMask, mask), 'ioctl(KVM_SET_SIGNAL_MASK)', 'the signals that stop KVM_RUN');
  }

  /** `KVM_RUN`: 0 after an exit to handle, −1 with errno set (EINTR when kicked). */
  run(): number {
    return this.c.ioctl(this.fd, IOCTL.run, 0);
  }
}
