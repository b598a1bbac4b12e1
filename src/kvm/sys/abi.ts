/**
 * The kernel's KVM ABI on x86_64, in one place: ioctl numbers, capability numbers, exit reasons
 * and the byte layouts of the structures this VMM passes (from `<linux/kvm.h>` and
 * `<asm/kvm.h>`; every offset and size below was checked against those headers with a C program
 * compiled on Debian 12, `offsetof`/`sizeof` for each).
 *
 * Nothing here calls the kernel; `libc.ts` does, and the modules per kernel object (`system.ts`,
 * `vm.ts`, `vcpu.ts`) lay their structures out with these numbers.
 */

/** `KVMIO`, the ioctl type of every KVM request. */
const KVMIO = 0xae;

// <asm-generic/ioctl.h>: dir (2 bits) | size (14) | type (8) | nr (8).
const io = (nr: number): number => (KVMIO << 8) | nr;
const iow = (nr: number, size: number): number => ((1 << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
const ior = (nr: number, size: number): number => ((2 << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
const iowr = (nr: number, size: number): number => ((3 << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;

/** The only KVM API version there has ever been in a released kernel. */
export const KVM_API_VERSION = 12;

/** Sizes of the structures passed by pointer (bytes). */
export const SIZE = {
  userspaceMemoryRegion: 32,
  irqLevel: 8,
  pitConfig: 64,
  regs: 144,
  sregs: 312,
  fpu: 416,
  lapicState: 1024,
  cpuidHeader: 8,
  cpuidEntry: 40,
  segment: 24,
} as const;

export const IOCTL = {
  // /dev/kvm
  getApiVersion: io(0x00),
  createVm: io(0x01),
  checkExtension: io(0x03),
  getVcpuMmapSize: io(0x04),
  getSupportedCpuid: iowr(0x05, SIZE.cpuidHeader),
  // VM
  createVcpu: io(0x41),
  setUserMemoryRegion: iow(0x46, SIZE.userspaceMemoryRegion),
  setTssAddr: io(0x47),
  createIrqchip: io(0x60),
  irqLine: iow(0x61, SIZE.irqLevel),
  createPit2: iow(0x77, SIZE.pitConfig),
  // vCPU
  run: io(0x80),
  getRegs: ior(0x81, SIZE.regs),
  setRegs: iow(0x82, SIZE.regs),
  getSregs: ior(0x83, SIZE.sregs),
  setSregs: iow(0x84, SIZE.sregs),
  setSignalMask: iow(0x8b, 4),
  setFpu: iow(0x8d, SIZE.fpu),
  getLapic: ior(0x8e, SIZE.lapicState),
  setLapic: iow(0x8f, SIZE.lapicState),
  setCpuid2: iow(0x90, SIZE.cpuidHeader),
} as const;

/** The capabilities this VMM needs (`KVM_CHECK_EXTENSION`), with what each is for. */
export const REQUIRED_CAPABILITIES = [
  { name: 'KVM_CAP_IRQCHIP', number: 0, why: 'the in-kernel PIC, IOAPIC and local APIC' },
  { name: 'KVM_CAP_HLT', number: 1, why: 'a halted vCPU waits in the kernel' },
  { name: 'KVM_CAP_USER_MEMORY', number: 3, why: 'guest memory mapped by this process' },
  { name: 'KVM_CAP_SET_TSS_ADDR', number: 4, why: 'the TSS pages Intel VMX needs' },
  { name: 'KVM_CAP_EXT_CPUID', number: 7, why: 'KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2' },
  { name: 'KVM_CAP_PIT2', number: 33, why: 'the in-kernel i8254 PIT' },
  { name: 'KVM_CAP_IMMEDIATE_EXIT', number: 136, why: 'stopping a running vCPU' },
] as const;

/** `kvm_run.exit_reason` values this VMM tells apart. */
export const EXIT = {
  io: 2,
  hlt: 5,
  mmio: 6,
  shutdown: 8,
  failEntry: 9,
  intr: 10,
  internalError: 17,
  systemEvent: 24,
} as const;

/** The shared `struct kvm_run` page of a vCPU. */
export const RUN = {
  immediateExit: 1,
  exitReason: 8,
  /** The exit's union: `io`, `mmio`, `fail_entry`, `internal`, `system_event` all start here. */
  exit: 32,
} as const;

/** `kvm_run.io`: direction (0 in, 1 out), size (1, 2, 4), port, count, data_offset into the page. */
export const RUN_IO = { direction: 32, size: 33, port: 34, count: 36, dataOffset: 40 } as const;
/** `kvm_run.mmio`: phys_addr, data[8], len, is_write. */
export const RUN_MMIO = { physAddr: 32, data: 40, len: 48, isWrite: 52 } as const;

/** `struct kvm_regs` offsets (u64 each). */
export const REGS = { rsi: 0x20, rsp: 0x30, rbp: 0x38, rip: 0x80, rflags: 0x88 } as const;

/** `struct kvm_sregs`: eight segments, then gdt, idt, control registers. */
export const SREGS = {
  cs: 0,
  ds: 24,
  es: 48,
  fs: 72,
  gs: 96,
  ss: 120,
  tr: 144,
  ldt: 168,
  gdt: 0xc0,
  idt: 0xd0,
  cr0: 0xe0,
  cr3: 0xf0,
  cr4: 0xf8,
  efer: 0x108,
} as const;

/** `struct kvm_segment`: base u64, limit u32, selector u16, then one byte each. */
export const SEGMENT = { base: 0, limit: 8, selector: 12, type: 14, present: 15, dpl: 16, db: 17, s: 18, l: 19, g: 20, avl: 21, unusable: 22 } as const;

/** `struct kvm_fpu`: the x87 control word and MXCSR. */
export const FPU = { fcw: 0x80, mxcsr: 0x198 } as const;

/** `struct kvm_cpuid_entry2`: function, index, flags, eax, ebx, ecx, edx (u32 each), padding. */
export const CPUID_ENTRY = { function: 0, index: 4, flags: 8, eax: 12, ebx: 16, ecx: 20, edx: 24 } as const;
/** How many entries KVM_GET_SUPPORTED_CPUID is offered room for (KVM returns E2BIG past its own count; Firecracker asks for 80). */
export const CPUID_MAX_ENTRIES = 256;

/** Local APIC registers in `struct kvm_lapic_state` (the APIC page's offsets) and the LVT delivery modes. */
export const LAPIC = { lvtLint0: 0x350, lvtLint1: 0x360, deliveryModeExtInt: 7, deliveryModeNmi: 4 } as const;

/** `struct kvm_pit_config.flags`: port 0x61 reads as a speaker that is not there. */
export const KVM_PIT_SPEAKER_DUMMY = 1;

/** x86 control register and EFER bits for long mode (bigints: CR0.PG is bit 31, negative as an int32). */
export const X86 = {
  cr0Pe: 0x1n,
  cr0Pg: 0x8000_0000n,
  cr4Pae: 0x20n,
  eferLme: 0x100n,
  eferLma: 0x400n,
} as const;
