/**
 * The CPUID a guest vCPU gets: what KVM supports on this host (`KVM_GET_SUPPORTED_CPUID`), with
 * the few changes every VMM makes (kvmtool's and Firecracker's `cpuid` normalisation, reduced to
 * what a one-vCPU Linux guest needs): the hypervisor bit, the vCPU's APIC id, one logical
 * processor per package.
 */
import type { CpuidEntry } from '../system.js';

/** CPUID.1:ECX bit 31, "a hypervisor is present": Linux then looks for KVM's leaves (kvm-clock). */
const ECX_HYPERVISOR = 1 << 31;
/** CPUID.1:EDX bit 28, HTT: more than one logical processor per package. */
const EDX_HTT = 1 << 28;

export function guestCpuid(supported: readonly CpuidEntry[], apicId: number): CpuidEntry[] {
  return supported.map((entry) => {
    const out = { ...entry };
    if (entry.function === 1) {
      out.ecx = (entry.ecx | ECX_HYPERVISOR) >>> 0;
      out.edx = (entry.edx & ~EDX_HTT) >>> 0;
      // EBX: initial APIC id in 31–24, logical processors per package in 23–16 (1).
      out.ebx = ((entry.ebx & 0x0000_ffff) | (1 << 16) | (apicId << 24)) >>> 0;
    }
    if ((entry.function === 0xb || entry.function === 0x1f) && entry.index < 2) {
      // The x2APIC id of this vCPU; one thread per core, one core per package.
      out.edx = apicId;
      out.ebx = 1;
    }
    return out;
  });
}
