/**
 * The live view of the simulated microVMs: one block per VM, redrawn every second — what a
 * person watching the balloon wants at a glance, not raw JSON lines.
 *
 * ```
 * microVM session  12.0 s of 30 s   phase: hinting run
 * metrics served at http://127.0.0.1:9464/metrics
 * vm-1  balloon  target  256 MiB  actual  248 MiB  [█████░░░░░░░░░░░░░░░]
 *       host memory held by the guest  412 MiB of 1024 MiB  (peak 819 MiB)
 *       released by the balloon  inflate 256 MiB  reporting 103 MiB  hinting 48 MiB
 *       balloon metrics this second  inflate_count +1  free_page_hint_count +12  free_page_hint_freed +48 MiB
 *       guest stats  free 318 MiB  available 502 MiB  total 1024 MiB  major faults 0
 * ```
 */

const MIB = 1024 * 1024;

/** What the view shows of one VM at one moment. */
export interface VmSnapshot {
  readonly id: string;
  readonly targetMib: number;
  readonly actualMib: number;
  readonly guestMib: number;
  /** Host memory the guest's pages hold now, and at most so far. */
  readonly residentBytes: number;
  readonly peakResidentBytes: number;
  /** Host memory the balloon device released so far, by the way the guest gave it. */
  readonly released: Readonly<Record<'inflate' | 'reporting' | 'hinting', number>>;
  /** Balloon counters that moved since the last frame, by wire name. */
  readonly moved: ReadonlyMap<string, bigint>;
  /** The guest's latest statistics, in bytes where they are sizes; undefined before the first. */
  readonly stats: Readonly<Record<string, number | bigint | undefined>> | undefined;
}

export interface Frame {
  readonly elapsedS: number;
  readonly durationS: number;
  readonly phase: string;
  readonly vms: readonly VmSnapshot[];
  /** Where `--serve` serves the metrics: in every frame, as the screen is redrawn. */
  readonly url?: string;
}

/** The frame as text lines (no trailing newline); `width` caps the line length. */
export function renderFrame(frame: Frame, width = 100): string[] {
  const lines = [`microVM session  ${frame.elapsedS.toFixed(1)} s of ${frame.durationS} s   phase: ${frame.phase}`];
  if (frame.url !== undefined) lines.push(`metrics served at ${frame.url}`);
  for (const vm of frame.vms) {
    const pad = ' '.repeat(vm.id.length);
    lines.push(`${vm.id}  balloon  target ${mib(vm.targetMib * MIB)}  actual ${mib(vm.actualMib * MIB)}  ${bar(vm.actualMib, vm.guestMib, 20)}`);
    lines.push(`${pad}  host memory held by the guest ${mib(vm.residentBytes)} of ${mib(vm.guestMib * MIB)}  (peak ${mib(vm.peakResidentBytes).trim()})`);
    const { inflate, reporting, hinting } = vm.released;
    lines.push(`${pad}  released by the balloon  inflate ${mib(inflate).trim()}  reporting ${mib(reporting).trim()}  hinting ${mib(hinting).trim()}`);
    lines.push(`${pad}  balloon metrics this second  ${movedText(vm.moved)}`);
    lines.push(`${pad}  guest stats  ${statsText(vm.stats)}`);
  }
  return lines.map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line));
}

function movedText(moved: ReadonlyMap<string, bigint>): string {
  if (moved.size === 0) return 'none moved';
  return [...moved]
    .map(([name, delta]) => `${name} +${name.endsWith('_freed') ? mib(Number(delta)).trim() : delta.toString()}`)
    .join('  ');
}

function statsText(stats: VmSnapshot['stats']): string {
  if (stats === undefined) return 'none yet';
  const size = (key: string): string => {
    const value = stats[key];
    return value === undefined ? '-' : mib(Number(value)).trim();
  };
  const count = (key: string): string => {
    const value = stats[key];
    return value === undefined ? '-' : value.toString();
  };
  return `free ${size('free_memory')}  available ${size('available_memory')}  total ${size('total_memory')}  major faults ${count('major_faults')}`;
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(0).padStart(5)} MiB`;
}

function bar(part: number, whole: number, cells: number): string {
  const filled = whole <= 0 ? 0 : Math.max(0, Math.min(cells, Math.round((part / whole) * cells)));
  return `[${'█'.repeat(filled)}${'░'.repeat(cells - filled)}]`;
}
