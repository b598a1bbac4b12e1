/**
 * `vmm-metrics/guest`: a simulated guest for the virtio devices of this project, driving them
 * through their registers and rings as a Linux guest would. `SimulatedBalloonDriver` is Linux's
 * `virtio_balloon` over virtio-mmio; `GuestMemoryModel` and `Workload` are the guest's memory
 * and a program using it. The balloon's wire format it speaks is `vmm-metrics/balloon`'s, the
 * register block's `vmm-metrics/virtio`'s.
 *
 * @example
 * ```ts
 * const memory = new GuestMemory(64 * 1024 * 1024);
 * const balloon = new Balloon({ amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 1 });
 * // The host wires the device's interrupt line to the guest's handler.
 * const guest: { driver?: SimulatedBalloonDriver } = {};
 * const mmio = new MmioTransport(balloon, memory, { onInterrupt: () => guest.driver?.handleInterrupt() });
 * const workload = new Workload(new GuestMemoryModel(memory), { churnPages: 64 });
 * const driver = (guest.driver = new SimulatedBalloonDriver({ mmio, memory, workload }));
 * driver.probe();
 * balloon.updateSize(16); // the driver inflates to 16 MiB in a microtask (or call driver.processPending())
 * setInterval(() => { driver.tick(Date.now()); }, 100); // workload, free page reporting, retries
 * ```
 */
export { CHUNK_PAGES } from '../vstate/memory.js';
export { OOM_DEFLATE_PAGES, SimulatedBalloonDriver } from './balloon-driver.js';
export type { BalloonDriverActivity, BalloonDriverFeatures, NegotiatedBalloonFeatures, SimulatedBalloonDriverOptions, StatsReport } from './balloon-driver.js';
export { DeviceProtocolError, GuestDriverError, ProbeError, QueueFullError } from './errors.js';
export { GuestMemoryModel } from './memory-model.js';
export type { PageOwner, Reclaimer, VmEvents } from './memory-model.js';
export { MmioDriver } from './mmio-driver.js';
export type { DeviceIdentity, MmioRegisterBlock } from './mmio-driver.js';
export { DESC_F_NEXT, DESC_F_WRITE, queueLayout, USED_F_NO_NOTIFY, VirtqueueDriver } from './virtqueue-driver.js';
export type { Buffer, QueueLayout, UsedChain } from './virtqueue-driver.js';
export { oscillatingWorkingSet, Workload } from './workload.js';
export type { ShrinkOrder, WorkloadOptions } from './workload.js';
