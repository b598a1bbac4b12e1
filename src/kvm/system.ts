/**
 * `/dev/kvm`, the KVM subsystem itself: its API version, its capabilities, the CPUID it can give
 * a guest, the size of a vCPU's shared page, and VMs.
 *
 * `KvmSystem.open()` checks everything this VMM needs before a VM is made, and says what is
 * missing: no /dev/kvm, no permission, no koffi, an API version other than 12, a capability the
 * kernel lacks (all of them at once, each with what it is for).
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { KvmCapabilityError, KvmUnavailableError } from './errors.js';
import { CPUID_ENTRY, CPUID_MAX_ENTRIES, IOCTL, KVM_API_VERSION, REQUIRED_CAPABILITIES, SIZE } from './sys/abi.js';
import { check, errnoName, libc, O_CLOEXEC, O_RDWR, type Libc } from './sys/libc.js';

export const DEFAULT_KVM_PATH = '/dev/kvm';

/** One CPUID leaf as KVM describes it (`struct kvm_cpuid_entry2`). */
export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export class KvmSystem {
  private constructor(
    readonly c: Libc,
    readonly fd: number,
    readonly path: string,
  ) {}

  /** Opens `path` and checks the API version and every capability this VMM needs. */
  static async open(path: string = DEFAULT_KVM_PATH): Promise<KvmSystem> {
    // Node's own access() first: a machine without KVM or without permission hears so even
    // when koffi is not installed.
    try {
      accessSync(path, fsConstants.R_OK | fsConstants.W_OK);
    } catch (error) {
      throw new KvmUnavailableError(path, (error as NodeJS.ErrnoException).code ?? 'EIO');
    }
    const c = await libc();
    const fd = c.open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) throw new KvmUnavailableError(path, errnoName(c.errno()));
    const system = new KvmSystem(c, fd, path);
    try {
      system.#checkCapabilities();
    } catch (error) {
      system.close();
      throw error;
    }
    return system;
  }

  #checkCapabilities(): void {
    const version = this.c.ioctl(this.fd, IOCTL.getApiVersion, 0);
    if (version !== KVM_API_VERSION) throw new KvmCapabilityError([`KVM_GET_API_VERSION is ${version}, this VMM speaks ${KVM_API_VERSION}`]);
    const missing = REQUIRED_CAPABILITIES.filter((cap) => this.checkExtension(cap.number) <= 0).map((cap) => `${cap.name} (${cap.why})`);
    if (missing.length > 0) throw new KvmCapabilityError(missing);
  }

  /** `KVM_CHECK_EXTENSION`: 0 when the capability is absent, else its value (often 1). */
  checkExtension(capability: number): number {
    return this.c.ioctl(this.fd, IOCTL.checkExtension, capability);
  }

  /** The size of the `struct kvm_run` mapping of each vCPU. */
  vcpuMmapSize(): number {
    return check(this.c, this.c.ioctl(this.fd, IOCTL.getVcpuMmapSize, 0), 'ioctl(KVM_GET_VCPU_MMAP_SIZE)', 'the size of a vCPU shared page');
  }

  /** `KVM_GET_SUPPORTED_CPUID`: every leaf KVM can give a guest on this host. */
  supportedCpuid(): CpuidEntry[] {
    const buffer = new Uint8Array(SIZE.cpuidHeader + CPUID_MAX_ENTRIES * SIZE.cpuidEntry);
    const view = new DataView(buffer.buffer);
    view.setUint32(0, CPUID_MAX_ENTRIES, true);
    check(this.c, this.c.ioctlPtr(this.fd, IOCTL.getSupportedCpuid, buffer), 'ioctl(KVM_GET_SUPPORTED_CPUID)', 'the CPUID leaves KVM supports');
    const count = view.getUint32(0, true);
    const entries: CpuidEntry[] = [];
    for (let i = 0; i < count; i++) {
      const at = SIZE.cpuidHeader + i * SIZE.cpuidEntry;
      const u32 = (offset: number): number => view.getUint32(at + offset, true);
      entries.push({
        function: u32(CPUID_ENTRY.function),
        index: u32(CPUID_ENTRY.index),
        flags: u32(CPUID_ENTRY.flags),
        eax: u32(CPUID_ENTRY.eax),
        ebx: u32(CPUID_ENTRY.ebx),
        ecx: u32(CPUID_ENTRY.ecx),
        edx: u32(CPUID_ENTRY.edx),
      });
    }
    return entries;
  }

  /** `KVM_CREATE_VM`: a new VM's file descriptor. */
  createVm(): number {
    return check(this.c, this.c.ioctl(this.fd, IOCTL.createVm, 0), 'ioctl(KVM_CREATE_VM)', 'a new VM');
  }

  close(): void {
    this.c.close(this.fd);
  }
}

/** The CPUID leaves as `struct kvm_cpuid2`, for KVM_SET_CPUID2. */
export function encodeCpuid(entries: readonly CpuidEntry[]): Uint8Array {
  const buffer = new Uint8Array(SIZE.cpuidHeader + entries.length * SIZE.cpuidEntry);
  const view = new DataView(buffer.buffer);
  view.setUint32(0, entries.length, true);
  entries.forEach((entry, i) => {
    const at = SIZE.cpuidHeader + i * SIZE.cpuidEntry;
    view.setUint32(at + CPUID_ENTRY.function, entry.function, true);
    view.setUint32(at + CPUID_ENTRY.index, entry.index, true);
    view.setUint32(at + CPUID_ENTRY.flags, entry.flags, true);
    view.setUint32(at + CPUID_ENTRY.eax, entry.eax >>> 0, true);
    view.setUint32(at + CPUID_ENTRY.ebx, entry.ebx >>> 0, true);
    view.setUint32(at + CPUID_ENTRY.ecx, entry.ecx >>> 0, true);
    view.setUint32(at + CPUID_ENTRY.edx, entry.edx >>> 0, true);
  });
  return buffer;
}
