/**
 * The live view of the session's microVMs: one block per VM, redrawn every second — what a
 * person watching the balloon wants at a glance, not raw JSON lines.
 *
 * ```
 * microVM session  12.0 s of 30 s   phase: free page hinting run
 * metrics served at http://127.0.0.1:9464/metrics
 * host  this process's RSS 480 MiB (peak 977 MiB), as the OS counts it
 * vm-1  balloon  target   256 MiB  actual   128 MiB  [███░░░░░░░░░░░░░░░░░]
 *       guest RAM in host memory   412 MiB of 1024 MiB  (peak 820 MiB)
 *       given back to the host  151 MiB: inflate 100 MiB  reporting 3 MiB  hinting 48 MiB
 *       free ranges the guest named  reported 1384 MiB  hinted 404 MiB
 *       balloon counters this second  inflate_count +3  free_page_hint_freed +48 MiB
 *       guest stats  free 318 MiB  available 502 MiB  total 1024 MiB  major faults 0
 *
 * given back: pages that held host memory when the balloon freed them (madvise); the RSS fell
 * …
 * ```
 *
 * Each figure says what it counts, and the host's memory is kept apart from what the guest
 * named: the balloon gives back only pages that held memory then (`releasedBytes()`), while
 * `free_page_report_freed` counts every range each time the guest names it — a range given back
 * already, or never touched, again and again. Under the VMs, what those words mean (once, in a
 * log). Where the guest's RAM lives decides the words (`GuestRam`): given back (mapped), dropped
 * (V8's heap), zeroed (v86).
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
 *       Linux  MemTotal 158.0 MiB (boot 222.0 − 64.0)  balloon_inflate 16384  balloon_deflate 0  balloon_migrate 0
 *       guest RAM in host memory   256 MiB of 256 MiB  (v86 holds it all)
 *       zeroed by the balloon, none given back  inflate 64 MiB  reporting 176 MiB  hinting 0 MiB
 *       free ranges the guest named  reported 176 MiB  hinted 0 MiB
 *       balloon counters this second  inflate_count +8
 *       guest stats  free 145 MiB  available 145 MiB  total 158 MiB  major faults 0
 * ```
 */

const MIB = 1024 * 1024;

/**
 * Where a VM's guest RAM lives, which says what its figures are: `mapped`, an anonymous mapping
 * whose pages the balloon gives back to the operating system (`madvise`); `heap`, 4 KiB buffers
 * in V8's heap, which the balloon drops but V8 keeps; `emulator`, v86's RAM, which the balloon
 * zeroes and the emulator keeps whole.
 */
export type GuestRam = 'mapped' | 'heap' | 'emulator';

/** What the view shows of one VM at one moment. */
export interface VmSnapshot {
  readonly id: string;
  readonly targetMib: number;
  readonly actualMib: number;
  readonly guestMib: number;
  readonly ram: GuestRam;
  /** With `heap`: why the guest's memory is not mapped (koffi missing, not Linux). */
  readonly ramNote?: string;
  /** Memory the guest's pages hold now, and at most so far: the host's for `mapped`, V8's for `heap`, the whole RAM for `emulator`. */
  readonly residentBytes: number;
  readonly peakResidentBytes: number;
  /**
   * What the balloon's discards freed so far, by the way the guest gave it: host memory given
   * back (`mapped`), page buffers dropped (`heap`), bytes zeroed, each time (`emulator`).
   */
  readonly released: Readonly<Record<'inflate' | 'reporting' | 'hinting', number>>;
  /**
   * Bytes of the free ranges the guest named so far (`free_page_report_freed`,
   * `free_page_hint_freed`): each time it names a range, whether the range held memory or not.
   */
  readonly named: Readonly<Record<'reporting' | 'hinting', number>>;
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
  /** On KVM: this process's RSS when the host last set a target. */
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

/** This process's memory as the operating system counts it (VmRSS and VmHWM on Linux). */
export interface ProcessMemory {
  readonly rssBytes: number;
  readonly peakRssBytes: number;
}

export interface Frame {
  readonly elapsedS: number;
  readonly durationS: number;
  readonly phase: string;
  readonly vms: readonly VmSnapshot[];
  /** This process's memory: one line for all the VMs, which share the process. */
  readonly process?: ProcessMemory;
  /** Where `--serve` serves the metrics: in every frame, as the screen is redrawn. */
  readonly url?: string;
  /**
   * Whether the frame ends with what its words mean (default true): a terminal redraws it every
   * second; a log needs it once.
   */
  readonly legend?: boolean;
}

/** The frame as text lines (no trailing newline); `width` caps the line length. */
export function renderFrame(frame: Frame, width = 100): string[] {
  const lines = [`microVM session  ${frame.elapsedS.toFixed(1)} s of ${frame.durationS} s   phase: ${frame.phase}`];
  if (frame.url !== undefined) lines.push(`metrics served at ${frame.url}`);
  if (frame.process !== undefined) {
    lines.push(`host  this process's RSS ${mib(frame.process.rssBytes).trim()} (peak ${mib(frame.process.peakRssBytes).trim()}), as the OS counts it`);
  }
  for (const vm of frame.vms) {
    const pad = ' '.repeat(vm.id.length);
    if (vm.linux !== undefined && vm.linux.stage !== 'up') {
      lines.push(...bootLines(vm, vm.linux, pad));
      continue;
    }
    lines.push(`${vm.id}  balloon  target ${mib(vm.targetMib * MIB)}  actual ${mib(vm.actualMib * MIB)}  ${bar(vm.actualMib, vm.guestMib, 20)}`);
    if (vm.linux !== undefined) lines.push(`${pad}  Linux  ${reportText(vm.linux)}`);
    lines.push(`${pad}  ${residentText(vm, frame.process)}`);
    lines.push(`${pad}  ${releasedText(vm)}`);
    lines.push(`${pad}  free ranges the guest named  reported ${mib(vm.named.reporting).trim()}  hinted ${mib(vm.named.hinting).trim()}`);
    lines.push(`${pad}  balloon counters this second  ${movedText(vm.moved)}`);
    lines.push(`${pad}  guest stats  ${statsText(vm.stats)}`);
  }
  const legend = frame.legend === false ? [] : frameLegend(frame.vms);
  if (legend.length > 0) lines.push('', ...legend);
  return lines.map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line));
}

/** What the guest's pages hold, by where they live; on KVM, how the RSS moved since the last target. */
function residentText(vm: VmSnapshot, process: ProcessMemory | undefined): string {
  const held = `${mib(vm.residentBytes)} of ${mib(vm.guestMib * MIB).trim()}  (peak ${mib(vm.peakResidentBytes).trim()})`;
  switch (vm.ram) {
    case 'mapped': {
      const target = vm.linux?.rssAtTargetBytes;
      const change = target === undefined || process === undefined ? 0 : process.rssBytes - target;
      const since = target === undefined || process === undefined ? '' : `  RSS ${change < 0 ? '−' : '+'}${mib(Math.abs(change)).trim()} since the target was set`;
      return `guest RAM in host memory ${held}${since}`;
    }
    case 'heap':
      return `guest RAM in V8's heap ${held}`;
    case 'emulator':
      return `guest RAM in host memory ${mib(vm.residentBytes)} of ${mib(vm.guestMib * MIB).trim()}  (v86 holds it all)`;
  }
}

/** What the balloon's discards freed, by the way the guest gave it, named by what it is. */
function releasedText(vm: VmSnapshot): string {
  const { inflate, reporting, hinting } = vm.released;
  const parts = `inflate ${mib(inflate).trim()}  reporting ${mib(reporting).trim()}  hinting ${mib(hinting).trim()}`;
  const total = mib(inflate + reporting + hinting).trim();
  switch (vm.ram) {
    case 'mapped':
      return `given back to the host  ${total}: ${parts}`;
    case 'heap':
      return `dropped by the balloon  ${total}: ${parts}`;
    case 'emulator':
      return `zeroed by the balloon, none given back  ${parts}`;
  }
}

/** What the view's words mean, for the kinds of guest RAM of the VMs that are up; none while every VM boots. */
export function frameLegend(vms: readonly VmSnapshot[]): string[] {
  const up = vms.filter((vm) => vm.linux === undefined || vm.linux.stage === 'up');
  if (up.length === 0) return [];
  const shown = new Set(up.map((vm) => vm.ram));
  const heapNote = up.find((vm) => vm.ram === 'heap')?.ramNote;
  const lines: string[] = [];
  if (shown.has('mapped')) {
    lines.push(
      'given back: pages that held host memory when the balloon freed them (madvise); the RSS fell',
      "  by as much. The balloon's actual size counts every page it holds, given back then or before.",
    );
  }
  if (shown.has('heap')) {
    lines.push(
      "dropped: 4 KiB page buffers the balloon let go of; V8 keeps their memory, so the RSS need not",
      `  fall (the guest's RAM is not mapped: ${heapNote ?? 'no reason given'}).`,
    );
  }
  if (shown.has('emulator')) {
    lines.push(
      "zeroed: bytes the balloon zeroed in v86's RAM, each time the guest named them; v86 keeps its RAM",
      '  (a WebAssembly memory), so the host gets none of it back.',
    );
  }
  lines.push(
    'named: free_page_report_freed, free_page_hint_freed. A range counts each time the guest names it,',
    "  whether it held memory then or not, so the sum can pass the guest's size.",
  );
  return lines;
}

function bootLines(vm: VmSnapshot, linux: LinuxGuestView, pad: string): string[] {
  const at = BOOT_STAGES.indexOf(linux.stage as BootStage);
  const stages = BOOT_STAGES.map((stage, i) => `${i < at ? '✓' : i === at ? '▸' : '·'} ${stage}`).join('  ');
  const kvm = linux.vmm === 'kvm';
  const pace = [
    kvm ? `guest RAM in host memory ${mib(vm.residentBytes).trim()}` : linux.instructionsPerS === undefined ? 'v86 starting' : `v86 runs ${(linux.instructionsPerS / 1e9).toFixed(1)} G instructions/s`,
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
