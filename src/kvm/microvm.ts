/**
 * A microVM on KVM, as Firecracker builds one on x86_64: one vCPU, guest memory from this
 * process, the in-kernel irqchip and PIT, a 16550 UART on COM1 for the console, virtio-mmio
 * devices declared in ACPI tables, and a direct Linux boot of a bzImage and an initramfs.
 *
 * ```ts
 * const vm = await MicroVm.create({ kernel, initrd, cmdline: DEFAULT_CMDLINE, memoryBytes: 1 << 30 });
 * vm.addMmioDevice((interrupt) => new MmioTransport(balloon, vm.memory, { onInterrupt: interrupt }));
 * vm.onSerial((bytes) => process.stdout.write(bytes));
 * vm.start();
 * // … the guest runs; the devices run on this thread …
 * await vm.stop();
 * ```
 *
 * The parts, each its own module: `system.ts`, `vm.ts`, `vcpu.ts` (the kernel objects),
 * `sys/abi.ts` (ioctl numbers and structures), `memory.ts` (guest memory), `boot/` (the boot
 * protocol: zero page, e820, long mode, CPUID), `acpi/` (the tables), `devices/` (UART, MMIO
 * bus), `vcpu-thread.ts` and `vcpu-worker.ts` (the run loop). Nothing in `devices/virtio` knows
 * of any of it.
 */
import { GuestImageError } from './errors.js';
import { acpiTables } from './acpi/tables.js';
import { ENTRY_64_OFFSET, parseBzImage } from './boot/bzimage.js';
import { isElf, parseElfKernel } from './boot/elf.js';
import { guestCpuid } from './boot/cpuid.js';
import {
  ACPI_TABLES_START,
  APIC_ADDRESS,
  CMDLINE_ADDRESS,
  CMDLINE_MAX_SIZE,
  COM1_GSI,
  COM1_PORT,
  FIRST_DEVICE_GSI,
  HIMEM_START,
  IOAPIC_ADDRESS,
  KVM_TSS_ADDRESS,
  LAST_DEVICE_GSI,
  MAX_MEMORY_BYTES,
  MMIO_START,
  MMIO_WINDOW,
  RSDP_ADDRESS,
  ZERO_PAGE_ADDRESS,
} from './boot/layout.js';
import { longModeRegs, longModeSregs, longModeTables } from './boot/long-mode.js';
import { bootParams } from './boot/params.js';
import { MmioBus, type MmioDevice } from './devices/mmio-bus.js';
import { KvmGuestMemory } from './memory.js';
import { KvmSystem } from './system.js';
import type { VcpuExit } from './vcpu-channel.js';
import { VcpuThread } from './vcpu-thread.js';
import { KvmVcpu } from './vcpu.js';
import { KvmVm } from './vm.js';

/**
 * Firecracker's default boot arguments (`vmm/src/vmm_config/boot_source.rs`) less `nomodule`
 * (the virtio modules load from the initramfs) and `8250.nr_uarts=0` (the console is COM1):
 * reboot through the keyboard controller (which ends the VM), reboot at once on panic, no PCI.
 */
export const DEFAULT_CMDLINE = 'console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd';
/** The least memory this VMM boots Linux in. */
export const MIN_MEMORY_BYTES = 32 << 20;

export interface MicroVmOptions {
  /** The kernel: an uncompressed vmlinux (ELF), as Firecracker boots on x86_64, or a bzImage. */
  readonly kernel: Uint8Array;
  readonly initrd?: Uint8Array | undefined;
  readonly cmdline: string;
  /** Guest RAM in bytes: a multiple of 2 MiB, from 32 MiB to 3 GiB. */
  readonly memoryBytes: number;
  /** @default '/dev/kvm' */
  readonly kvmPath?: string | undefined;
}

/** Where a device was put: its MMIO window and its interrupt. */
export interface MmioSlot {
  readonly address: number;
  readonly length: number;
  readonly gsi: number;
}

/** A kernel ready to copy into memory: its pieces, entry point and setup header. */
interface LoadableKernel {
  readonly segments: readonly { readonly address: number; readonly bytes: Uint8Array }[];
  readonly end: number;
  readonly entry: number;
  /** The bzImage's setup header; a vmlinux has none and boots with a zeroed one, as in Firecracker. */
  readonly setupHeader: Uint8Array | undefined;
  readonly initrdAddrMax: number;
}

/** The initramfs may end below 2 GiB when the kernel does not say (boot.rst, initrd_addr_max of old protocols is lower; 2 GiB − 1 is Firecracker's bound too). */
const DEFAULT_INITRD_ADDR_MAX = 0x7fff_ffff;

/** A vmlinux (ELF) or a bzImage, by its first bytes. */
function loadableKernel(image: Uint8Array): LoadableKernel {
  if (isElf(image)) {
    const elf = parseElfKernel(image);
    return {
      segments: elf.segments.map((segment) => ({ address: segment.physicalAddress, bytes: segment.bytes })),
      end: elf.end,
      entry: elf.entry,
      setupHeader: undefined,
      initrdAddrMax: DEFAULT_INITRD_ADDR_MAX,
    };
  }
  const bz = parseBzImage(image);
  return {
    segments: [{ address: HIMEM_START, bytes: bz.kernel }],
    end: HIMEM_START + bz.kernel.length,
    entry: HIMEM_START + ENTRY_64_OFFSET,
    setupHeader: bz.setupHeader,
    initrdAddrMax: bz.initrdAddrMax,
  };
}

export class MicroVm {
  readonly memory: KvmGuestMemory;
  readonly #system: KvmSystem;
  readonly #vm: KvmVm;
  readonly #vcpu: KvmVcpu;
  readonly #bus = new MmioBus();
  readonly #slots: MmioSlot[] = [];
  readonly #serialListeners: ((bytes: Uint8Array) => void)[] = [];
  #thread: VcpuThread | undefined;
  #closed = false;
  #stopping: Promise<VcpuExit> | undefined;

  private constructor(system: KvmSystem, vm: KvmVm, vcpu: KvmVcpu, memory: KvmGuestMemory) {
    this.#system = system;
    this.#vm = vm;
    this.#vcpu = vcpu;
    this.memory = memory;
  }

  /**
   * Opens KVM (throwing a `KvmUnavailableError` or `KvmCapabilityError` that says what is
   * missing), makes the VM, its memory and its vCPU, and loads the kernel, initramfs and
   * command line. The vCPU does not run until `start()`.
   */
  static async create(options: MicroVmOptions): Promise<MicroVm> {
    const { memoryBytes } = options;
    if (!Number.isSafeInteger(memoryBytes) || memoryBytes < MIN_MEMORY_BYTES || memoryBytes > MAX_MEMORY_BYTES || memoryBytes % (2 << 20) !== 0) {
      throw new GuestImageError(`memory must be a multiple of 2 MiB from ${MIN_MEMORY_BYTES >> 20} MiB to ${MAX_MEMORY_BYTES / 2 ** 20} MiB, got ${memoryBytes} bytes`);
    }
    const cmdline = new TextEncoder().encode(options.cmdline);
    if (cmdline.length + 1 > CMDLINE_MAX_SIZE) throw new GuestImageError(`the command line is ${cmdline.length} bytes; at most ${CMDLINE_MAX_SIZE - 1} fit`);
    const kernel = loadableKernel(options.kernel);

    const system = await KvmSystem.open(options.kvmPath);
    const cleanup: (() => void)[] = [() => { system.close(); }];
    try {
      const vm = new KvmVm(system.c, system.createVm());
      cleanup.push(() => { vm.close(); });
      vm.setTssAddress(KVM_TSS_ADDRESS);
      vm.createIrqchip();
      vm.createPit2();
      const memory = KvmGuestMemory.map(system.c, memoryBytes);
      cleanup.push(() => { memory.close(); });
      vm.setUserMemoryRegion(0, 0, memoryBytes, memory.hostAddress);

      // The kernel where it asks, the initramfs at the top of RAM (below what the kernel can reach).
      if (kernel.end > memoryBytes) throw new GuestImageError(`the kernel (up to 0x${kernel.end.toString(16)}) does not fit in ${memoryBytes} bytes of memory`);
      for (const segment of kernel.segments) memory.write(segment.address, segment.bytes);
      let initrd: { address: number; size: number } | undefined;
      if (options.initrd !== undefined) {
        const top = Math.min(memoryBytes, kernel.initrdAddrMax + 1);
        const address = Math.floor((top - options.initrd.length) / 4096) * 4096;
        if (address < kernel.end) throw new GuestImageError(`the initramfs (${options.initrd.length} bytes) does not fit above the kernel in ${memoryBytes} bytes of memory`);
        memory.write(address, options.initrd);
        initrd = { address, size: options.initrd.length };
      }
      memory.write(CMDLINE_ADDRESS, cmdline);
      memory.writeU16(CMDLINE_ADDRESS + cmdline.length, 0);
      memory.write(ZERO_PAGE_ADDRESS, bootParams({ setupHeader: kernel.setupHeader, memoryBytes, cmdlineAddress: CMDLINE_ADDRESS, cmdlineSize: cmdline.length, initrd }));
      for (const { address, bytes } of longModeTables()) memory.write(address, bytes);

      const vcpu = new KvmVcpu(system.c, vm.createVcpu(0));
      cleanup.push(() => { system.c.close(vcpu.fd); });
      vcpu.setCpuid(guestCpuid(system.supportedCpuid(), 0));
      vcpu.setSregs(longModeSregs(vcpu.getSregs()));
      vcpu.setRegs(longModeRegs(kernel.entry));
      vcpu.setFpuDefaults();
      vcpu.setLocalInterrupts();
      return new MicroVm(system, vm, vcpu, memory);
    } catch (error) {
      for (const undo of cleanup.reverse()) undo();
      throw error;
    }
  }

  /**
   * Puts a device in the next MMIO window with the next interrupt; `factory` is given the
   * function that raises that interrupt (an edge on its GSI). Only before `start()`.
   */
  addMmioDevice(factory: (interrupt: () => void) => MmioDevice): MmioSlot {
    if (this.#thread !== undefined) throw new Error('MicroVm: devices are added before start()');
    const index = this.#slots.length;
    const gsi = FIRST_DEVICE_GSI + index;
    if (gsi > LAST_DEVICE_GSI) throw new RangeError(`MicroVm: at most ${LAST_DEVICE_GSI - FIRST_DEVICE_GSI + 1} MMIO devices`);
    const slot: MmioSlot = { address: MMIO_START + index * MMIO_WINDOW, length: MMIO_WINDOW, gsi };
    const device = factory(() => {
      // An interrupt raised once the VM is gone (a timer of a device) goes nowhere.
      if (!this.#closed) this.#vm.pulseIrq(gsi);
    });
    this.#bus.insert(slot.address, slot.length, device);
    this.#slots.push(slot);
    return slot;
  }

  /** The devices' windows and interrupts, in the order they were added. */
  get slots(): readonly MmioSlot[] {
    return this.#slots;
  }

  /** Console output of the guest, as it comes (lines, or chunks of a long one). */
  onSerial(listener: (bytes: Uint8Array) => void): void {
    this.#serialListeners.push(listener);
  }

  /** Writes the ACPI tables for the devices added and starts the vCPU. */
  start(): void {
    if (this.#thread !== undefined || this.#closed) throw new Error('MicroVm: start() once, before stop()');
    for (const { address, bytes } of acpiTables({
      devices: this.#slots,
      vcpus: 1,
      apicAddress: APIC_ADDRESS,
      ioapicAddress: IOAPIC_ADDRESS,
      tablesAddress: ACPI_TABLES_START,
      tablesLimit: RSDP_ADDRESS,
      rsdpAddress: RSDP_ADDRESS,
    })) {
      this.memory.write(address, bytes);
    }
    this.#thread = new VcpuThread({
      c: this.#system.c,
      vcpuFd: this.#vcpu.fd,
      vmFd: this.#vm.fd,
      runSize: this.#system.vcpuMmapSize(),
      bus: this.#bus,
      mmio: this.#slots.map((slot) => [slot.address, slot.length] as const),
      serialPort: COM1_PORT,
      serialGsi: COM1_GSI,
      onSerial: (bytes) => {
        for (const listener of this.#serialListeners) listener(bytes);
      },
    });
  }

  /** Settles when the vCPU stops: stopped by `stop()`, a guest reset or reboot, or an error. */
  get exited(): Promise<VcpuExit> {
    if (this.#thread === undefined) return Promise.reject(new Error('MicroVm: not started'));
    return this.#thread.exited;
  }

  /** Stops the vCPU and releases the VM: its memory, vCPU, VM and /dev/kvm. */
  async stop(): Promise<VcpuExit> {
    this.#stopping ??= (async () => {
      const exit = this.#thread === undefined ? ({ reason: 'stopped' } as const) : await this.#thread.stop();
      this.#closed = true;
      this.memory.close();
      this.#system.c.close(this.#vcpu.fd);
      this.#vm.close();
      this.#system.close();
      return exit;
    })();
    return this.#stopping;
  }
}
