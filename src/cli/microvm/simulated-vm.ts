/**
 * One simulated microVM: guest memory, its own Firecracker metrics document and writer, the
 * virtio-balloon device on a virtio-mmio transport, and a guest whose Linux-like driver and
 * program drive the device through its registers and rings, as a real guest would.
 */
import { Balloon } from '../../devices/virtio/balloon/device.js';
import { MmioTransport } from '../../devices/virtio/transport/mmio.js';
import { FirecrackerMetrics } from '../../document/firecracker-metrics.js';
import { GuestMemoryModel } from '../../guest/memory-model.js';
import { SimulatedBalloonDriver } from '../../guest/balloon-driver.js';
import { Workload } from '../../guest/workload.js';
import { Metrics } from '../../metrics/writer.js';
import { GuestMemory, PAGE_SIZE } from '../../vstate/memory.js';
import { countersLine, guestStats, mibText, MovedCounters, writeLine, type SessionVm } from './session-vm.js';
import type { VmSnapshot } from './view.js';

const MIB = 1024 * 1024;

export interface SimulatedVmOptions {
  readonly id: string;
  readonly memoryMib: number;
  /** Where the VM's metrics lines go: a file or a named pipe. */
  readonly metricsPath: string;
  /** The guest program's working set, as a fraction of guest memory, at a time in ms. */
  readonly workingSet: (nowMs: number) => number;

  readonly seed: number;
}

export class SimulatedVm implements SessionVm {
  readonly id: string;
  readonly memoryMib: number;
  readonly memory: GuestMemory;
  readonly document = new FirecrackerMetrics();
  readonly writer: Metrics<FirecrackerMetrics>;
  readonly balloon: Balloon;
  readonly transport: MmioTransport;
  readonly driver: SimulatedBalloonDriver;
  readonly workload: Workload;
  /** The simulated driver probes at once: the host may set targets from the first step. */
  readonly ready = true;
  #peakResident = 0;
  readonly #moved: MovedCounters;

  constructor(options: SimulatedVmOptions) {
    this.id = options.id;
    this.memoryMib = options.memoryMib;
    this.memory = new GuestMemory(options.memoryMib * MIB);
    this.#moved = new MovedCounters(this.document);
    this.writer = new Metrics(this.document);
    this.writer.init(options.metricsPath, { id: options.id, flushIntervalMs: 0, flushOnExit: true });
    this.balloon = new Balloon(
      { amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 1, free_page_hinting: true, free_page_reporting: true },
      { metrics: this.document.balloon },
    );
    const totalPages = (options.memoryMib * MIB) / PAGE_SIZE;
    this.workload = new Workload(new GuestMemoryModel(this.memory), {
      target: (nowMs) => Math.round(options.workingSet(nowMs) * totalPages),
      churnPages: 64,
      seed: options.seed,
      // The program's heap gives back its top when it shrinks: whole free chunks.
      shrink: 'top',
    });
    // The interrupt line is wired before the driver that handles it exists.
    const guest: { driver?: SimulatedBalloonDriver } = {};
    this.transport = new MmioTransport(this.balloon, this.memory, {
      onInterrupt: () => {
        guest.driver?.handleInterrupt();
      },
    });
    // Free page reporting every 2 s, Linux's delay.
    this.driver = guest.driver = new SimulatedBalloonDriver({ mmio: this.transport, memory: this.memory, workload: this.workload, reportingIntervalMs: 2000 });
  }

  /** The guest boots: its driver finds the balloon and sets it up. */
  boot(): void {
    this.driver.probe();
  }

  /** One step of the guest: its driver runs its program, then does what is due. */
  step(nowMs: number): void {
    this.driver.tick(nowMs);
    this.#peakResident = Math.max(this.#peakResident, this.memory.residentBytes());
  }

  /** The host sets the balloon's target. */
  setTarget(mib: number): void {
    this.balloon.updateSize(mib);
  }

  /** Writes one line of the VM's document; a failure is reported, not thrown. */
  flush(): string | undefined {
    return writeLine(this.id, this.writer);
  }

  snapshot(): VmSnapshot {
    const config = this.balloon.config();
    return {
      id: this.id,
      targetMib: config.amount_mib,
      actualMib: Math.floor((this.balloon.actualPages * PAGE_SIZE) / MIB),
      guestMib: this.memoryMib,
      residentBytes: this.memory.residentBytes(),
      peakResidentBytes: this.#peakResident,
      released: this.balloon.releasedBytes(),
      moved: this.#moved.take(),
      stats: guestStats(this.balloon),
    };
  }

  get peakResidentBytes(): number {
    return this.#peakResident;
  }

  summary(metricsPath: string): string[] {
    const released = this.balloon.releasedBytes();
    const total = released.inflate + released.reporting + released.hinting;
    return [
      `${this.id} (metrics in ${metricsPath})`,
      `  host memory held by the guest: peak ${mibText(this.#peakResident)}, now ${mibText(this.memory.residentBytes())}`,
      `  host memory reclaimed by the balloon: ${mibText(total)} (inflate ${mibText(released.inflate)}, ` +
        `free page reporting ${mibText(released.reporting)}, free page hinting ${mibText(released.hinting)})`,
      countersLine(this.document),
    ];
  }

  /** A last line, then the VM's writer closes and its timers stop. */
  shutdown(): string | undefined {
    const failure = this.flush();
    this.dispose();
    return failure;
  }

  /** The VM is gone (no last line): its writer closes, its balloon's timers and work stop. */
  dispose(): void {
    this.writer.close();
    this.balloon.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
