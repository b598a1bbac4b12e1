/**
 * `npm run bench:guest`: a real Linux guest (the fixtures of `npm run guest:fetch`) inflating a
 * balloon of 32 MiB with its own virtio_balloon driver, through our `Balloon` on v86's PCI bus
 * and through v86's own balloon, each in an emulator of its own, in the same run. Not part of
 * `npm run bench` (it boots Linux twice, about two minutes in all); not a test, it never fails
 * on a missed goal — only when it cannot measure (no fixtures, a guest that does not boot).
 *
 *   npm run bench:guest                     a table on stdout, progress on stderr
 *   npm run -s bench:guest -- --json        only a JSON array of {"name","ratio","goal",…} on stdout
 *   npm run bench:guest -- --rounds=7       timed rounds per balloon (default 11, after 1 to warm up)
 *   npm run bench:guest -- --boot-first=v86 boot v86's emulator first (default: ours first)
 *   npm run bench:guest -- --only=ours      one balloon, no ratio (for a profiler: node --cpu-prof)
 *
 * Figures:
 * - boot: seconds from `emulator.run()` to /init's first `VMM-GUEST-INIT` line and to its first
 *   `VMM-GUEST` report (modules loaded, the balloon bound), for each emulator;
 * - inflation: from the host setting the target to the device having taken the 8,192th page
 *   (see guest-balloon.ts for why that moment), median of the rounds, pages/s, and the ratio
 *   ours ÷ v86's (the median of the per-round ratios; goal ≤ 1.0);
 * - where the time goes: guest instructions in the window, host time inside each device's port
 *   handlers (ours: of which discarding and v86's `jit_dirty_cache`), port accesses, kicks and
 *   interrupts.
 *
 * Both emulators boot one after the other, each alone (the first may pay for V8 compiling v86's
 * WebAssembly, which the second finds done: `--boot-first` lets runs alternate). Then the rounds
 * alternate between them (the boot order in even rounds, the reverse in odd ones), the emulator
 * not being measured stopped, so that a drift in the machine's speed favours neither side and
 * neither guest's timers run in the other's window. The inflation figures also carry this
 * process's CPU time over the window, steadier than the wall time on a busy machine.
 */
import { guestDir, guestFixtures, type GuestManifest } from '../test/support/guest-fixtures.js';
import { installedV86Version } from '../src/v86/index.js';
import { bootBalloonGuest, GUEST_MIB, inflationRound, type BalloonGuest, type BalloonKind, type InflationRound } from './guest-balloon.js';
import { median } from './ratio.js';

/** 32 MiB in 4 KiB pages: the test's target. */
const PAGES = 8192;
const GOAL = 1.0;
const WARM_UP_ROUNDS = 1;

interface Cli {
  readonly json: boolean;
  readonly rounds: number;
  readonly only: BalloonKind | undefined;
  readonly bootFirst: BalloonKind;
}

function parseArgs(args: readonly string[]): Cli {
  let json = false;
  let rounds = 11;
  let only: BalloonKind | undefined;
  let bootFirst: BalloonKind = 'ours';
  for (const arg of args) {
    const [flag, value] = arg.split('=', 2) as [string, string | undefined];
    if (flag === '--json' && value === undefined) json = true;
    else if (flag === '--rounds' && value !== undefined && /^[1-9][0-9]?$/.test(value)) rounds = Number(value);
    else if (flag === '--only' && (value === 'ours' || value === 'v86')) only = value;
    else if (flag === '--boot-first' && (value === 'ours' || value === 'v86')) bootFirst = value;
    else throw new Error(`bench:guest: unknown argument ${JSON.stringify(arg)} (--json, --rounds=N, --boot-first=ours|v86, --only=ours|v86)`);
  }
  return { json, rounds, only, bootFirst };
}

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** The fixtures, or a clear failure: the bench cannot run without them. */
function fixturesOrExit(): GuestManifest {
  const dir = guestDir();
  let manifest: GuestManifest | undefined;
  try {
    manifest = guestFixtures(dir);
  } catch (error) {
    fail(`the Linux guest fixtures in ${dir} are broken (${(error as Error).message}) — rebuild them as root: npm run guest:fetch`);
  }
  if (manifest === undefined) {
    fail(`Linux guest fixtures missing in ${dir} — run as root: npm run guest:fetch (or point VMM_METRICS_GUEST_DIR at a folder it built)`);
  }
  return manifest;
}

function fail(message: string): never {
  process.stderr.write(`bench:guest: ${message}\n`);
  process.exit(1);
}

interface Side {
  readonly kind: BalloonKind;
  readonly guest: BalloonGuest;
  readonly rounds: InflationRound[];
  warmUp: InflationRound | undefined;
}

/** Medians over a side's timed rounds, figure by figure, and the pages per second of the median wall time. */
type Summary = InflationRound & { readonly pagesPerSecond: number };

function summarize(rounds: readonly InflationRound[]): Summary {
  const first = rounds[0];
  if (first === undefined) throw new Error('bench:guest: no timed round to summarize');
  const medians = Object.fromEntries(
    (Object.keys(first) as (keyof InflationRound)[]).map((figure) => [figure, median(rounds.map((round) => round[figure]))]),
  ) as unknown as InflationRound;
  return { ...medians, pagesPerSecond: (PAGES / medians.wallMs) * 1000 };
}

const LABEL: Record<BalloonKind, string> = { ours: 'our Balloon', v86: "v86's balloon" };

function formatMs(ms: number): string {
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function report(sides: readonly Side[], cli: Cli, manifest: GuestManifest): void {
  const summaries = new Map(sides.map((side) => [side.kind, summarize(side.rounds)]));
  const ours = sides.find((s) => s.kind === 'ours');
  const theirs = sides.find((s) => s.kind === 'v86');
  // Rounds are paired (round i of each side ran back to back), as in ratio.ts: a figure is the
  // median of the per-round ratios.
  const perRound = (pick: (round: InflationRound) => number): number[] =>
    ours && theirs ? ours.rounds.map((round, i) => pick(round) / (theirs.rounds[i] === undefined ? Number.NaN : pick(theirs.rounds[i]))) : [];
  const ratios = perRound((r) => r.wallMs);
  const ratio = ratios.length > 0 ? median(ratios) : undefined;
  const cpuRatios = perRound((r) => r.cpuMs);
  const cpuRatio = cpuRatios.length > 0 ? median(cpuRatios) : undefined;
  const ratioOf = (pick: (s: Summary) => number): number | undefined => {
    const a = summaries.get('ours');
    const b = summaries.get('v86');
    return a && b ? pick(a) / pick(b) : undefined;
  };

  if (cli.json) {
    const figures: object[] = [];
    const round4 = (value: number | undefined): number | null => (value === undefined || !Number.isFinite(value) ? null : Number(value.toFixed(4)));
    const perSide = <T>(pick: (side: Side, summary: Summary) => T): Partial<Record<BalloonKind, T>> =>
      Object.fromEntries(sides.map((side) => [side.kind, pick(side, summaries.get(side.kind) ?? summarize(side.rounds))]));
    figures.push({
      name: "inflate 32 MiB with Linux's virtio_balloon: our Balloon ÷ v86's balloon",
      ratio: round4(ratio),
      goal: GOAL,
      rounds: cli.rounds,
      ratios: ratios.map(round4),
      wallMs: perSide((_, s) => round4(s.wallMs)),
      pagesPerSecond: perSide((_, s) => Math.round(s.pagesPerSecond)),
      firstPagesMs: perSide((_, s) => round4(s.firstPagesMs)),
      roundsMs: perSide((side) => side.rounds.map((r) => round4(r.wallMs))),
      warmUpMs: perSide((side) => round4(side.warmUp?.wallMs)),
    });
    figures.push({
      name: "inflate 32 MiB, this process's CPU time in the window: our Balloon ÷ v86's balloon",
      ratio: round4(cpuRatio),
      goal: null,
      ratios: cpuRatios.map(round4),
      cpuMs: perSide((_, s) => round4(s.cpuMs)),
      roundsCpuMs: perSide((side) => side.rounds.map((r) => round4(r.cpuMs))),
    });
    figures.push({
      name: 'guest instructions per inflation: ours ÷ v86\'s',
      ratio: round4(ratioOf((s) => s.instructions)),
      goal: null,
      instructions: perSide((_, s) => Math.round(s.instructions)),
    });
    figures.push({
      name: "host time in the device's port handlers per inflation: ours ÷ v86's",
      ratio: round4(ratioOf((s) => s.deviceMs)),
      goal: null,
      deviceMs: perSide((_, s) => round4(s.deviceMs)),
      discardMs: perSide((_, s) => round4(s.discardMs)),
      discards: perSide((_, s) => Math.round(s.discards)),
      jitDirtyMs: perSide((_, s) => round4(s.jitDirtyMs)),
      portAccesses: perSide((_, s) => Math.round(s.portAccesses)),
      kicks: perSide((_, s) => Math.round(s.kicks)),
      interrupts: perSide((_, s) => Math.round(s.interrupts)),
    });
    for (const [name, pick] of [
      ['boot: emulator start → VMM-GUEST-INIT', (side: Side) => side.guest.boot.initSeconds],
      ['boot: emulator start → first VMM-GUEST report', (side: Side) => side.guest.boot.reportSeconds],
    ] as const) {
      const seconds = perSide((side) => round4(pick(side)));
      figures.push({
        name: `${name}: ours ÷ v86's emulator`,
        ratio: ours && theirs ? round4(pick(ours) / pick(theirs)) : null,
        goal: null,
        seconds,
        guestUptimeAtInitSeconds: perSide((side) => side.guest.boot.guestUptimeAtInitSeconds),
        bootedFirst: sides[0]?.kind,
      });
    }
    process.stdout.write(`${JSON.stringify(figures)}\n`);
    return;
  }

  // Columns in one order whichever booted first.
  const kinds = (['ours', 'v86'] as const).filter((kind) => sides.some((side) => side.kind === kind));
  const cell = (kind: BalloonKind, pick: (s: Summary) => string): string => {
    const summary = summaries.get(kind);
    return summary === undefined ? '' : pick(summary);
  };
  const bootCell = (kind: BalloonKind, pick: (side: Side) => number): string => {
    const side = sides.find((s) => s.kind === kind);
    return side === undefined ? '' : `${pick(side).toFixed(2)} s`;
  };
  const withRatio = ours && theirs;
  const header = ['', ...kinds.map((k) => LABEL[k]), ...(withRatio ? ['ours ÷ v86\'s'] : [])];
  const ratioCell = (pick: (s: Summary) => number): string[] => {
    const value = ratioOf(pick);
    return withRatio && value !== undefined ? [value.toFixed(3)] : [];
  };

  process.stdout.write(
    `Linux ${manifest.kernel.release} in v86 ${installedV86Version() ?? '?'}, ${GUEST_MIB} MiB each, node ${process.version}; ` +
      `inflating 32 MiB (${formatCount(PAGES)} pages) with Linux's virtio_balloon, ` +
      `median of ${cli.rounds} rounds per balloon after ${WARM_UP_ROUNDS} to warm up\n\n`,
  );
  process.stdout.write(
    `${table([`boot (${sides[0]?.kind === 'v86' ? "v86's balloon" : 'ours'} booted first)`, ...kinds.map((k) => LABEL[k])], [
      ['emulator start → VMM-GUEST-INIT', ...kinds.map((k) => bootCell(k, (s) => s.guest.boot.initSeconds))],
      ['emulator start → first VMM-GUEST report', ...kinds.map((k) => bootCell(k, (s) => s.guest.boot.reportSeconds))],
      ['guest uptime at VMM-GUEST-INIT', ...kinds.map((k) => bootCell(k, (s) => s.guest.boot.guestUptimeAtInitSeconds))],
    ])}\n\n`,
  );
  const rows: string[][] = [
    ['target → 8,192 pages taken (wall)', ...kinds.map((k) => cell(k, (s) => formatMs(s.wallMs))), ...(ratio === undefined ? [] : [ratio.toFixed(3)])],
    ['pages/s', ...kinds.map((k) => cell(k, (s) => formatCount(s.pagesPerSecond))), ...(ratio === undefined ? [] : [(1 / ratio).toFixed(3)])],
    ["this process's CPU time in the window", ...kinds.map((k) => cell(k, (s) => formatMs(s.cpuMs))), ...(cpuRatio === undefined ? [] : [cpuRatio.toFixed(3)])],
    ['target → first pages at the device', ...kinds.map((k) => cell(k, (s) => formatMs(s.firstPagesMs))), ...ratioCell((s) => s.firstPagesMs)],
    ['guest instructions (M)', ...kinds.map((k) => cell(k, (s) => (s.instructions / 1e6).toFixed(1))), ...ratioCell((s) => s.instructions)],
    ['host time in device port handlers', ...kinds.map((k) => cell(k, (s) => formatMs(s.deviceMs))), ...ratioCell((s) => s.deviceMs)],
    ['  of which discarding (zero + JIT)', ...kinds.map((k) => cell(k, (s) => `${formatMs(s.discardMs)} in ${formatCount(s.discards)}`)), ...(withRatio ? [''] : [])],
    ['  of which jit_dirty_cache from JS', ...kinds.map((k) => cell(k, (s) => formatMs(s.jitDirtyMs))), ...(withRatio ? [''] : [])],
    ['device port accesses', ...kinds.map((k) => cell(k, (s) => formatCount(s.portAccesses))), ...ratioCell((s) => s.portAccesses)],
    ['inflate kicks', ...kinds.map((k) => cell(k, (s) => formatCount(s.kicks))), ...ratioCell((s) => s.kicks)],
    ['interrupts asserted', ...kinds.map((k) => cell(k, (s) => formatCount(s.interrupts))), ...ratioCell((s) => s.interrupts)],
  ];
  process.stdout.write(`${table(header, rows)}\n\n`);
  for (const side of sides) {
    process.stdout.write(
      `${LABEL[side.kind]}: rounds ${side.rounds.map((r) => r.wallMs.toFixed(1)).join(', ')} ms` +
        (side.warmUp === undefined ? '' : ` (warm-up ${side.warmUp.wallMs.toFixed(1)} ms)`) +
        `; CPU ${side.rounds.map((r) => r.cpuMs.toFixed(1)).join(', ')} ms\n`,
    );
  }
  if (ratio !== undefined && cpuRatio !== undefined) {
    process.stdout.write(
      `ours ÷ v86's: ${ratio.toFixed(3)} (goal ≤ ${GOAL.toFixed(1)}: ${ratio <= GOAL ? 'pass' : 'MISS'}), the median of the per-round ratios ` +
        `${ratios.map((r) => r.toFixed(2)).join(', ')}; in CPU time ${cpuRatio.toFixed(3)}, of ${cpuRatios.map((r) => r.toFixed(2)).join(', ')}\n`,
    );
  }
}

async function main(): Promise<void> {
  const cli = parseArgs(process.argv.slice(2));
  const manifest = fixturesOrExit();
  if (typeof globalThis.gc !== 'function') progress('bench:guest: run with node --expose-gc (npm run bench:guest does) so that each round starts after a GC');
  const kinds: readonly BalloonKind[] = cli.only !== undefined ? [cli.only] : cli.bootFirst === 'ours' ? ['ours', 'v86'] : ['v86', 'ours'];
  const sides: Side[] = [];
  try {
    for (const kind of kinds) {
      progress(`booting Linux with ${LABEL[kind]} …`);
      const guest = await bootBalloonGuest(manifest, kind);
      sides.push({ kind, guest, rounds: [], warmUp: undefined });
      progress(`  /init after ${guest.boot.initSeconds.toFixed(1)} s, first report after ${guest.boot.reportSeconds.toFixed(1)} s`);
      await guest.emulator.stop();
    }
    for (let round = -WARM_UP_ROUNDS; round < cli.rounds; round++) {
      // Alternate the order, so that a drift in the machine's speed favours neither side.
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const result = await inflationRound(side.guest, PAGES);
        if (round < 0) side.warmUp = result;
        else side.rounds.push(result);
        progress(`  ${round < 0 ? 'warm-up' : `round ${round + 1}/${cli.rounds}`}, ${LABEL[side.kind]}: ${result.wallMs.toFixed(1)} ms`);
      }
    }
  } finally {
    for (const side of sides) await side.guest.destroy();
  }
  report(sides, cli, manifest);
}

try {
  await main();
} catch (error) {
  // v86 keeps timers of its own: exit rather than wait for them.
  process.stderr.write(`bench:guest: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
