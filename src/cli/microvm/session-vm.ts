/**
 * A VM of the `npm start` session, whichever guest drives its balloon — the simulated driver
 * (`SimulatedVm`, ./simulated-vm.ts) or Linux in v86 (`LinuxVm`, ./linux.ts): what the main
 * loop, the live view, the summary and `--serve` ask of it.
 */
import type { Balloon } from '../../devices/virtio/balloon/device.js';
import type { FirecrackerMetrics } from '../../document/firecracker-metrics.js';
import type { Metrics } from '../../metrics/writer.js';
import type { GuestRam, VmSnapshot } from './view.js';

export interface SessionVm {
  readonly id: string;
  readonly memoryMib: number;
  /** Where the VM's metrics lines go: a file or a named pipe. */
  readonly metricsPath: string;
  readonly document: FirecrackerMetrics;
  readonly balloon: Balloon;
  /** The guest's driver has the balloon, so the host may set its target. */
  readonly ready: boolean;
  /** Starts the guest. */
  boot(): void | Promise<void>;
  /** What the guest does in one step of the session (`nowMs` since it started). */
  step(nowMs: number): void;
  /** The host sets the balloon's target. */
  setTarget(mib: number): void;
  /** Writes one line of the VM's document; a failure is returned, not thrown. */
  flush(): string | undefined;
  snapshot(): VmSnapshot;
  /** The VM's part of the summary at the end. */
  summary(metricsPath: string): string[];
  /** Stops the guest, writes a last line and closes the writer; a failure is returned, not thrown. */
  shutdown(): string | undefined | Promise<string | undefined>;
}

/** Every balloon counter's total since the VM started, by wire name. */
export function balloonCounts(document: FirecrackerMetrics): Map<string, bigint> {
  const counts = new Map<string, bigint>();
  for (const [name, metric] of Object.entries(document.balloon)) counts.set(name, metric.countBigInt());
  return counts;
}

/** The balloon counters that moved since the last call, by wire name: what the view shows each second. */
export class MovedCounters {
  readonly #document: FirecrackerMetrics;
  #last = new Map<string, bigint>();

  constructor(document: FirecrackerMetrics) {
    this.#document = document;
  }

  take(): Map<string, bigint> {
    const counts = balloonCounts(this.#document);
    const moved = new Map<string, bigint>();
    for (const [name, count] of counts) {
      const delta = count - (this.#last.get(name) ?? 0n);
      if (delta !== 0n) moved.set(name, delta);
    }
    this.#last = counts;
    return moved;
  }
}

/** The guest's latest statistics for the view; undefined before the first arrive (latestStats() then holds only the sizes). */
export function guestStats(balloon: Balloon): VmSnapshot['stats'] {
  const latest = balloon.latestStats() as unknown as Readonly<Record<string, number | bigint | undefined>>;
  return latest.total_memory === undefined ? undefined : latest;
}

export function mibText(bytes: number | bigint): string {
  return `${(Number(bytes) / 1024 / 1024).toFixed(1)} MiB`;
}

/** Bytes of the free ranges the guest named so far, each time it named one: the `_freed` counters. */
export function namedBytes(document: FirecrackerMetrics): VmSnapshot['named'] {
  return { reporting: Number(document.balloon.free_page_report_freed.countBigInt()), hinting: Number(document.balloon.free_page_hint_freed.countBigInt()) };
}

/**
 * The summary's lines on what the balloon's discards freed and what the guest named, worded by
 * where the guest's RAM lives (the view's words: ./view.ts).
 */
export function balloonSummary(ram: GuestRam, released: VmSnapshot['released'], document: FirecrackerMetrics, ramNote?: string): string[] {
  const parts = `inflate ${mibText(released.inflate)}, free page reporting ${mibText(released.reporting)}, free page hinting ${mibText(released.hinting)}`;
  const total = mibText(released.inflate + released.reporting + released.hinting);
  const freed =
    ram === 'mapped'
      ? `  given back to the host by the balloon: ${total} of pages that held host memory, freed by madvise (${parts})`
      : ram === 'heap'
        ? `  dropped by the balloon: ${total} of 4 KiB page buffers, which V8 keeps: the RSS need not fall (${parts}; the guest's RAM is not mapped: ${ramNote ?? 'no reason given'})`
        : `  zeroed by the balloon in v86's RAM, each time the guest named a range: ${parts}; v86 keeps its RAM, so none went back to the host`;
  const named = namedBytes(document);
  const balloon = document.balloon;
  return [
    freed,
    `  free ranges the guest named, counting each range each time, whether it held memory then or not: reported ${mibText(named.reporting)} ` +
      `in ${balloon.free_page_report_count.countBigInt().toString()} ranges, hinted ${mibText(named.hinting)} in ${balloon.free_page_hint_count.countBigInt().toString()}`,
  ];
}

/** The summary's line of balloon counters. */
export function countersLine(document: FirecrackerMetrics): string {
  return `  balloon counters: ${[...balloonCounts(document)].map(([name, count]) => `${name} ${count.toString()}`).join(', ')}`;
}

/**
 * Writes one line of a VM's document: undefined, or the failure as the session reports it, naming
 * the VM and the file or pipe (`vm-1: ./metrics.json: Failed to write metrics: ENOSPC …`): the
 * writer's message follows Firecracker's, which names neither.
 */
export function writeLine(id: string, writer: Metrics<FirecrackerMetrics>, metricsPath: string): string | undefined {
  try {
    writer.write();
    return undefined;
  } catch (error) {
    return `${id}: ${metricsPath}: ${(error as Error).message}`;
  }
}
