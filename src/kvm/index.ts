/**
 * `vmm-metrics/kvm`: the smallest KVM microVM VMM, around this project's devices — a
 * virtio-mmio `MmioTransport` in front of a `Balloon` whose `discardRange` is
 * `madvise(MADV_DONTNEED)` on memory this process maps, so a balloon inflated by Linux's own
 * driver gives host memory back. Needs Linux with /dev/kvm (x86_64) and the optional peer
 * dependency koffi.
 */
export { MicroVm, DEFAULT_CMDLINE, MIN_MEMORY_BYTES } from './microvm.js';
export type { MicroVmOptions, MmioSlot } from './microvm.js';
export { BalloonVm } from './balloon-vm.js';
export type { BalloonVmOptions } from './balloon-vm.js';
export { KvmGuestMemory } from './memory.js';
export { DEFAULT_KVM_PATH, KvmSystem } from './system.js';
export type { VcpuExit } from './vcpu-channel.js';
export type { MmioDevice } from './devices/mmio-bus.js';
export { processRssBytes } from './rss.js';
export {
  GuestImageError,
  KoffiMissingError,
  KvmCapabilityError,
  KvmError,
  KvmUnavailableError,
  SystemCallError,
} from './errors.js';
