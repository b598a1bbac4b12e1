/**
 * One simulated microVM: guest memory, its own Firecracker metrics document and writer, the
 * virtio-balloon device on a virtio-mmio transport, and a guest whose Linux-like driver and
 * program drive the device through its registers and rings, as a real guest would. Its memory is
 * mapped where it can be (./host-memory.ts), so that what its balloon gives back leaves the
 * process, and the view's figures are the operating system's.
 */
import { Balloon } from '../../devices/virtio/balloon/device.js';
import { MmioTransport } from '../../devices/virtio/transport/mmio.js';
import { FirecrackerMetrics } from '../../document/firecracker-metrics.js';
import { GuestMemoryModel } from '../../guest/memory-model.js';
import { SimulatedBalloonDriver } from '../../guest/balloon-driver.js';
import { Workload } from '../../guest/workload.js';
import { Metrics } from '../../metrics/writer.js';
import { PAGE_SIZE, type GuestMemory, type GuestMemoryAccess } from '../../vstate/memory.js';
import { sessionGuestMemory, type SessionGuestMemory } from './host-memory.js';
import { balloonSummary, countersLine, guestStats, mibText, MovedCounters, namedBytes, writeLine, type SessionVm } from './session-vm.js';
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
  /** Whether to map the guest's memory where koffi can (default true); false keeps it on V8's heap. */
  readonly mappedMemory?: boolean;
}

export class SimulatedVm implements SessionVm {
  readonly id: string;
  readonly memoryMib: number;
  readonly metricsPath: string;
  readonly memory: GuestMemoryAccess;
  readonly #ram: SessionGuestMemory;
  readonly document = new FirecrackerMetrics();
  readonly writer: Metrics<FirecrackerMetrics>;
  readonly balloon: Balloon;
  readonly transport: MmioTransport;
  readonly driver: SimulatedBalloonDriver;
  readonly workload: Workload;
  /** The simulated driver probes at once: the host may set targets from the first step. */
  readonly ready = true;
  #peakResident = 0;
  /** What the guest's pages held when it shut down, before its memory was unmapped. */
  #residentAtEnd: number | undefined;
  readonly #moved: MovedCounters;

  /** A VM whose guest memory is mapped where it can be (see `SimulatedVmOptions.mappedMemory`). */
  static async create(options: SimulatedVmOptions): Promise<SimulatedVm> {
    return new SimulatedVm(options, await sessionGuestMemory(options.memoryMib * MIB, options.mappedMemory === false ? { mapped: false } : {}));
  }

  private constructor(options: SimulatedVmOptions, ram: SessionGuestMemory) {
    this.id = options.id;
    this.memoryMib = options.memoryMib;
    this.metricsPath = options.metricsPath;
    this.#ram = ram;
    this.memory = ram.memory;
    // The guest's parts name GuestMemory; they use only what every GuestMemoryAccess has.
    const guestMemory = ram.memory as unknown as GuestMemory;
    this.#moved = new MovedCounters(this.document);
    this.writer = new Metrics(this.document);
    this.writer.init(options.metricsPath, { id: options.id, flushIntervalMs: 0, flushOnExit: true });
    this.balloon = new Balloon(
      { amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 1, free_page_hinting: true, free_page_reporting: true },
      { metrics: this.document.balloon },
    );
    const totalPages = (options.memoryMib * MIB) / PAGE_SIZE;
    this.workload = new Workload(new GuestMemoryModel(guestMemory), {
      target: (nowMs) => Math.round(options.workingSet(nowMs) * totalPages),
      churnPages: 64,
      seed: options.seed,
      // The program's heap gives back its top when it shrinks: whole free chunks.
      shrink: 'top',
    });
    // The interrupt line is wired before the driver that handles it exists.
    const guest: { driver?: SimulatedBalloonDriver } = {};
    this.transport = new MmioTransport(this.balloon, guestMemory, {
      onInterrupt: () => {
        guest.driver?.handleInterrupt();
      },
    });
    // Free page reporting every 2 s, Linux's delay.
    this.driver = guest.driver = new SimulatedBalloonDriver({ mmio: this.transport, memory: guestMemory, workload: this.workload, reportingIntervalMs: 2000 });
  }

  /** The guest boots: its driver finds the balloon and sets it up. */
  boot(): void {
    this.driver.probe();
  }

  /** One step of the guest: its driver runs its program, then does what is due. */
  step(nowMs: number): void {
    this.driver.tick(nowMs);
  }

  /** The host sets the balloon's target. */
  setTarget(mib: number): void {
    this.balloon.updateSize(mib);
  }

  /** Writes one line of the VM's document; a failure is reported, not thrown. */
  flush(): string | undefined {
    return writeLine(this.id, this.writer, this.metricsPath);
  }

  snapshot(): VmSnapshot {
    const config = this.balloon.config();
    // Sampled once a frame, not a step: mapped memory asks the kernel (mincore: 1.8 ms for 1 GiB here).
    const resident = this.memory.residentBytes();
    this.#peakResident = Math.max(this.#peakResident, resident);
    return {
      id: this.id,
      targetMib: config.amount_mib,
      actualMib: Math.floor((this.balloon.actualPages * PAGE_SIZE) / MIB),
      guestMib: this.memoryMib,
      ram: this.#ram.backing,
      ...(this.#ram.backing === 'heap' ? { ramNote: this.#ram.why } : {}),
      residentBytes: resident,
      peakResidentBytes: this.#peakResident,
      released: this.balloon.releasedBytes(),
      named: namedBytes(this.document),
      moved: this.#moved.take(),
      stats: guestStats(this.balloon),
    };
  }

  /** Where the guest's RAM lives: mapped (what the balloon frees leaves the process) or on V8's heap. */
  get ram(): SessionGuestMemory['backing'] {
    return this.#ram.backing;
  }

  summary(metricsPath: string): string[] {
    const where = this.#ram.backing === 'mapped' ? 'in host memory (mapped)' : "in V8's heap";
    return [
      `${this.id} (metrics in ${metricsPath})`,
      `  guest RAM ${where}: peak ${mibText(this.#peakResident)}, now ${mibText(this.#residentAtEnd ?? this.memory.residentBytes())}`,
      ...balloonSummary(this.#ram.backing, this.balloon.releasedBytes(), this.document, this.#ram.backing === 'heap' ? this.#ram.why : undefined),
      countersLine(this.document),
    ];
  }

  /** A last line, then the VM's writer closes, its timers stop and its mapped memory is unmapped. */
  shutdown(): string | undefined {
    const failure = this.flush();
    this.#residentAtEnd = this.memory.residentBytes();
    this.#peakResident = Math.max(this.#peakResident, this.#residentAtEnd);
    this.dispose();
    return failure;
  }

  /** The VM is gone (no last line): its writer closes, its balloon's timers and work stop, its mapped memory is unmapped. */
  dispose(): void {
    this.writer.close();
    this.balloon.dispose();
    if (this.#ram.backing === 'mapped') this.#ram.memory.close();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
