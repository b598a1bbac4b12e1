/**
 * `vmm-metrics/v86`: a device of this project in the v86 emulator, driven by a real guest's
 * driver — a modern virtio-pci function on v86's PCI bus (`attachVirtioPci`), v86's RAM as guest
 * memory (`v86GuestMemory`), and the means to start the emulator stopped (`loadV86`) and read its
 * serial console (`SerialConsole`).
 *
 * It reaches into v86's internals, which are not its public API: v86 is pinned exactly
 * (`V86_VERSION`, an optional peer dependency), and an emulator without them is refused with a
 * `V86InternalsError` that names the pinned and the installed version.
 */
export { attachVirtioPci, DEFAULT_V86_IO_BASE, DEFAULT_V86_PCI_SLOT, V86PanicEvent, V86VirtioPci } from './pci.js';
export type { V86Emulator, V86VirtioPciOptions } from './pci.js';
export { v86GuestMemory } from './memory.js';
export { loadV86, SerialConsole, v86WasmPath } from './guest.js';
export type { LoadV86Options, SerialPort, WaitForLineOptions } from './guest.js';
export { installedV86Version, v86Cpu, V86_VERSION } from './internals.js';
export type { V86Cpu, V86Main, V86OwnBalloon } from './internals.js';
export { V86InternalsError, V86PanicError } from './errors.js';
export { FlatGuestMemory } from '../vstate/flat-memory.js';
export type { RamAccess } from '../vstate/flat-memory.js';
export type { GuestMemoryAccess } from '../vstate/memory.js';
export { PciTransport } from '../devices/virtio/transport/pci.js';
export type { PciTransportOptions } from '../devices/virtio/transport/pci.js';
export { VIRTIO_PCI_BAR } from '../devices/virtio/transport/pci-registers.js';
