/**
 * The live view of the session's microVMs: one block per VM, redrawn every second — what a
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
 *
 * With a Linux guest (`--guest linux`), first its boot, which takes 10–25 s — each stage it has
 * passed, how fast v86 runs and the console's last line, so that a slow boot is not taken for a
 * frozen screen:
 *
 * ```
 * microVM session  9.0 s of 60 s   phase: booting Linux
 * vm-1  booting Linux 6.1.0-50-686 in v86 (256 MiB)  9.0 s  (10–25 s here)
 *       ✓ firmware  ▸ kernel  · modules  · driver  · first report
 *       v86 runs 1.1 G instructions/s  kernel uptime 6.0 s
 *       console  [    6.041364] mce: Unable to init MCE device (rc: -5)
 * ```
 *
 * then the guest's own MemTotal, from its console reports, under the balloon's sizes; what the
 * balloon took is zeroed, not given back to the host (v86 keeps its RAM):
 *
 * ```
 * vm-1  balloon  target    64 MiB  actual    64 MiB  [█████░░░░░░░░░░░░░░░]
 *       Linux  MemTotal 158.1 MiB (boot 222.1 − 64.0)  balloon_inflate 16384  balloon_deflate 0  balloon_migrate 0
 *       zeroed by the balloon  inflate 64 MiB  reporting 176 MiB  hinting 0 MiB  (v86 keeps its RAM)
 *       balloon metrics this second  inflate_count +8  free_page_report_count +3  free_page_report_freed +12 MiB
 *       guest stats  free 145 MiB  available 145 MiB  total 158 MiB  major faults 0
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
  /** A Linux guest's boot and own figures; undefined for the simulated guest. */
  readonly linux?: LinuxGuestView;
}

/** The stages of a Linux guest's boot, in order, as its console and our device see them. */
export const BOOT_STAGES = ['firmware', 'kernel', 'modules', 'driver', 'first report'] as const;
export type BootStage = (typeof BOOT_STAGES)[number];

/** A report of the guest's `/init` (`VMM-GUEST …` on its console), in kB and pages as Linux gives them. */
export interface GuestReportView {
  readonly seq: number;
  readonly uptimeS: number;
  readonly memTotalKb: number;
  readonly memFreeKb: number;
  readonly memAvailableKb: number;
  /** /proc/vmstat's balloon_inflate, balloon_deflate and balloon_migrate: pages, since boot. */
  readonly balloonInflate: number;
  readonly balloonDeflate: number;
  readonly balloonMigrate: number;
}

export interface LinuxGuestView {
  /** The kernel release: 6.1.0-50-686. */
  readonly kernel: string;
  /** Where Linux runs: v86 (`--guest linux`, the default) or a KVM microVM (`--guest kvm`). */
  readonly vmm?: 'v86' | 'kvm';
  /** On KVM: this process's RSS, and what it was when the host last set a target. */
  readonly processRssBytes?: number;
  readonly rssAtTargetBytes?: number;
  /** Seconds since the emulator started. */
  readonly sinceStartS: number;
  /** The first stage not passed yet; `up` once the first report came with the driver bound. */
  readonly stage: BootStage | 'up';
  /** Seconds from the emulator's start to the first report, once up. */
  readonly bootS?: number;
  /** The kernel's uptime in its last timestamped console message, while it boots. */
  readonly kernelUptimeS?: number;
  /** Instructions v86 executed per second since the last frame. */
  readonly instructionsPerS?: number;
  readonly lastConsoleLine?: string;
  /** The latest report, and MemTotal in the first (before the host set any target). */
  readonly report?: GuestReportView;
  readonly memTotalAtBootKb?: number;
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
    if (vm.linux !== undefined && vm.linux.stage !== 'up') {
      lines.push(...bootLines(vm, vm.linux, pad));
      continue;
    }
    lines.push(`${vm.id}  balloon  target ${mib(vm.targetMib * MIB)}  actual ${mib(vm.actualMib * MIB)}  ${bar(vm.actualMib, vm.guestMib, 20)}`);
    const { inflate, reporting, hinting } = vm.released;
    const released = `inflate ${mib(inflate).trim()}  reporting ${mib(reporting).trim()}  hinting ${mib(hinting).trim()}`;
    if (vm.linux === undefined) {
      lines.push(`${pad}  host memory held by the guest ${mib(vm.residentBytes)} of ${mib(vm.guestMib * MIB)}  (peak ${mib(vm.peakResidentBytes).trim()})`);
      lines.push(`${pad}  released by the balloon  ${released}`);
    } else if (vm.linux.vmm === 'kvm') {
      lines.push(`${pad}  Linux  ${reportText(vm.linux)}`);
      // On KVM the balloon's pages leave the process (madvise): its RSS is the figure that falls.
      lines.push(`${pad}  process RSS ${mib(vm.linux.processRssBytes ?? 0).trim()}${rssChange(vm.linux)}  guest pages held ${mib(vm.residentBytes).trim()} of ${mib(vm.guestMib * MIB).trim()}`);
      lines.push(`${pad}  given back by the balloon  ${released}`);
    } else {
      lines.push(`${pad}  Linux  ${reportText(vm.linux)}`);
      // What the balloon took reads as zeros in the guest; v86's RAM cannot give it to the host.
      lines.push(`${pad}  zeroed by the balloon  ${released}  (v86 keeps its RAM)`);
    }
    lines.push(`${pad}  balloon metrics this second  ${movedText(vm.moved)}`);
    lines.push(`${pad}  guest stats  ${statsText(vm.stats)}`);
  }
  return lines.map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line));
}

/** ` (−256 MiB since the target was set)`, once the host set one. */
function rssChange(linux: LinuxGuestView): string {
  if (linux.rssAtTargetBytes === undefined || linux.processRssBytes === undefined) return '';
  const change = linux.processRssBytes - linux.rssAtTargetBytes;
  return ` (${change < 0 ? '−' : '+'}${mib(Math.abs(change)).trim()} since the target was set)`;
}

function bootLines(vm: VmSnapshot, linux: LinuxGuestView, pad: string): string[] {
  const at = BOOT_STAGES.indexOf(linux.stage as BootStage);
  const stages = BOOT_STAGES.map((stage, i) => `${i < at ? '✓' : i === at ? '▸' : '·'} ${stage}`).join('  ');
  const kvm = linux.vmm === 'kvm';
  const pace = [
    kvm ? `process RSS ${mib(linux.processRssBytes ?? 0).trim()}` : linux.instructionsPerS === undefined ? 'v86 starting' : `v86 runs ${(linux.instructionsPerS / 1e9).toFixed(1)} G instructions/s`,
    ...(linux.kernelUptimeS === undefined ? [] : [`kernel uptime ${linux.kernelUptimeS.toFixed(1)} s`]),
  ].join('  ');
  return [
    kvm
      ? `${vm.id}  booting Linux ${linux.kernel} on KVM (${vm.guestMib} MiB)  ${linux.sinceStartS.toFixed(1)} s`
      : `${vm.id}  booting Linux ${linux.kernel} in v86 (${vm.guestMib} MiB)  ${linux.sinceStartS.toFixed(1)} s  (10–25 s here)`,
    `${pad}  ${stages}`,
    `${pad}  ${pace}`,
    `${pad}  console  ${linux.lastConsoleLine ?? '(nothing yet)'}`,
  ];
}

function reportText(linux: LinuxGuestView): string {
  const report = linux.report;
  if (report === undefined) return 'no report yet';
  const kbMib = (kb: number): string => (kb / 1024).toFixed(1);
  const boot = linux.memTotalAtBootKb ?? report.memTotalKb;
  const change = boot - report.memTotalKb;
  // MemFree is on the statistics line, from the statistics queue.
  return (
    `MemTotal ${kbMib(report.memTotalKb)} MiB (boot ${kbMib(boot)} ${change >= 0 ? '−' : '+'} ${kbMib(Math.abs(change))})  ` +
    `balloon_inflate ${report.balloonInflate}  balloon_deflate ${report.balloonDeflate}  balloon_migrate ${report.balloonMigrate}`
  );
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
