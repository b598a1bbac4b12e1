/**
 * `npm run bench`: measures every figure and prints a table; not a test, it never fails on a
 * missed goal.
 *
 *   npm run bench                      the table on stdout, progress on stderr
 *   npm run bench -- --json            only a JSON array of {"name","ratio","goal"} on stdout
 *   npm run bench -- --filter=flush    only the figures whose name matches the regex
 *   npm run bench -- --rounds=15       more rounds per figure (default 11)
 *
 * To add figures: write `bench/<topic>.bench.ts` exporting a function that returns `Figure[]`
 * (see `ratio.ts`), and list it in `SUITES` below.
 */
import { coreFigures } from './core.bench.js';
import { documentFigures } from './document.bench.js';
import { flushFigures } from './flush.bench.js';
import { writeFigures } from './write.bench.js';
import { balloonInflation, type InflationResult } from './balloon.bench.js';
import { readerFigures, readerThroughput, type ThroughputResult } from './reader.bench.js';
import { fleetFigures, type FleetResult } from './fleet.bench.js';
import { fleetReleaseFigures, type ReleaseFleetResult } from './fleet-releases.bench.js';
import { DEFAULT_RATIO_OPTIONS, measureRatio, type Figure, type FigureResult, type RatioOptions } from './ratio.js';

const SUITES: readonly (() => Figure[])[] = [coreFigures, flushFigures, documentFigures, writeFigures, readerFigures];

interface Cli {
  readonly json: boolean;
  readonly filter: RegExp | undefined;
  readonly options: RatioOptions;
}

function parseArgs(args: readonly string[]): Cli {
  let json = false;
  let filter: RegExp | undefined;
  let options = DEFAULT_RATIO_OPTIONS;
  for (const arg of args) {
    const [flag, value] = arg.split('=', 2) as [string, string | undefined];
    if (flag === '--json' && value === undefined) json = true;
    else if (flag === '--filter' && value !== undefined) filter = new RegExp(value);
    else if ((flag === '--rounds' || flag === '--min-time-ms') && value !== undefined && /^[1-9][0-9]*$/.test(value)) {
      options = flag === '--rounds' ? { ...options, rounds: Number(value) } : { ...options, minTimeMs: Number(value) };
    } else {
      throw new Error(`bench: unknown argument ${JSON.stringify(arg)} (--json, --filter=REGEX, --rounds=N, --min-time-ms=N)`);
    }
  }
  return { json, filter, options };
}

function verdict(result: FigureResult): string {
  if (result.goal === null) return 'report';
  return result.ratio <= result.goal ? 'pass' : 'MISS';
}

function formatNs(ns: number): string {
  if (ns >= 1000) return `${(ns / 1000).toFixed(2)} µs`;
  return `${ns.toFixed(ns < 10 ? 3 : 1)} ns`;
}

function table(results: readonly FigureResult[]): string {
  const header = ['figure', 'subject/op', 'baseline/op', 'ratio', 'rounds min–max', 'goal', ''];
  const rows = results.map((r) => [
    r.name,
    formatNs(r.subjectNs),
    formatNs(r.baselineNs),
    r.ratio.toFixed(3),
    `${r.minRatio.toFixed(3)}–${r.maxRatio.toFixed(3)}`,
    r.goal === null ? '—' : `≤ ${r.goal}`,
    verdict(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function round4(value: number): number {
  return Number(value.toFixed(4));
}

async function main(): Promise<void> {
  const cli = parseArgs(process.argv.slice(2));
  if (typeof globalThis.gc !== 'function') {
    process.stderr.write('bench: run with node --expose-gc (npm run bench does) so that each measurement starts after a GC\n');
  }
  const results: FigureResult[] = [];
  // A suite is set up only once the ones before it are measured: setting one up runs other
  // documents through the write path, and V8's feedback from that slowed the flush figures
  // measured after it by a fifth (0.43 → 0.54 for the balloon's).
  for (const suite of SUITES) {
    for (const figure of suite().filter((f) => cli.filter?.test(f.name) ?? true)) {
      process.stderr.write(`measuring ${figure.name} …\n`);
      results.push(await measureRatio(figure, cli.options));
    }
  }
  const reader = cli.filter === undefined || cli.filter.test('reader') ? await measureReader() : undefined;
  const balloon = cli.filter === undefined || cli.filter.test('balloon') ? measureBalloon() : undefined;
  const fleet = cli.filter === undefined || cli.filter.test('fleet') ? await measureFleet() : undefined;
  const releases = cli.filter === undefined || cli.filter.test('fleet') || cli.filter.test('releases') ? await measureReleases() : undefined;
  if (cli.json) {
    const figures: object[] = results.map(({ name, ratio, goal }) => ({ name, ratio: Number(ratio.toFixed(4)), goal }));
    if (reader) {
      const { name, ratio, goal, linesPerSecond } = reader;
      figures.push({ name, ratio: Number(ratio.toFixed(4)), goal, linesPerSecond: Math.round(linesPerSecond) });
    }
    if (balloon) {
      const { name, ratio, goal, pagesPerSecond, residentBeforeBytes, residentAfterBytes } = balloon;
      figures.push({ name, ratio: Number(ratio.toFixed(4)), goal, pagesPerSecond: Math.round(pagesPerSecond), residentBeforeBytes, residentAfterBytes });
    }
    if (fleet) {
      figures.push(
        { name: `fleet, ${fleet.vms} VMs: serve CPU share of one core`, ratio: round4(fleet.cpuShare), goal: fleet.cpuShareGoal },
        { name: `fleet, ${fleet.vms} VMs: serve CPU per line ÷ JSON.parse of the line`, ratio: round4(fleet.perLineRatio), goal: null },
        { name: `fleet, ${fleet.vms} VMs: scrape seconds`, ratio: round4(fleet.scrapeSeconds), goal: fleet.scrapeGoalSeconds },
        { name: `fleet, ${fleet.vms} VMs: scrape ÷ prom-client registry.metrics() of as many samples`, ratio: round4(fleet.scrapeRatio), goal: null },
      );
    }
    if (releases) {
      for (const f of releases.figures.slice(1)) {
        figures.push({ name: `fleet, ${releases.vms} VMs: serve CPU per v${f.version} line ÷ per ${releases.newest} line`, ratio: round4(f.ratioToNewest), goal: 1.1 });
      }
    }
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } else {
    process.stdout.write(
      `node ${process.version}, ${cli.options.rounds} rounds of ≥ ${cli.options.minTimeMs} ms per side; ` +
        'ratio = median over rounds of subject ÷ baseline (median ns per op in each)\n\n',
    );
    process.stdout.write(`${table(results)}\n`);
    if (reader) {
      process.stdout.write(
        `\n${reader.name}: ${reader.ratio.toFixed(3)} — the reader ${Math.round(reader.linesPerSecond).toLocaleString('en')} lines/s, ` +
          `JSON.parse ${Math.round(reader.baselineLinesPerSecond).toLocaleString('en')} lines/s (${(reader.bytes / 1e6).toFixed(1)} MB)\n`,
      );
    }
    if (balloon) {
      const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
      process.stdout.write(
        `${balloon.name}: ${balloon.ratio.toFixed(3)} (goal ≤ ${balloon.goal}, ${balloon.ratio <= balloon.goal ? 'pass' : 'MISS'}) — ` +
          `${balloon.pages.toLocaleString('en')} pages at ${Math.round(balloon.pagesPerSecond).toLocaleString('en')} pages/s ` +
          `(direct: ${Math.round(balloon.baselinePagesPerSecond).toLocaleString('en')} pages/s); ` +
          `host memory held by the guest ${mib(balloon.residentBeforeBytes)} before, ${mib(balloon.residentAfterBytes)} after\n`,
      );
    }
    if (fleet) {
      const pass = (ok: boolean): string => (ok ? 'pass' : 'MISS');
      process.stdout.write(
        `fleet, ${fleet.vms} VMs (whole document, 2 drives + 1 interface, ${(fleet.lineBytes / 1000).toFixed(1)} kB lines), ` +
          `${Math.round(fleet.linesPerSecond).toLocaleString('en')} lines/s over ${fleet.windowSeconds.toFixed(1)} s:\n` +
          `  serve CPU share ${fleet.cpuShare.toFixed(3)} of one core (goal ≤ ${fleet.cpuShareGoal}, ${pass(fleet.cpuShare <= fleet.cpuShareGoal)}); ` +
          `${fleet.perLineUs.toFixed(1)} µs of CPU per line ÷ JSON.parse ${fleet.jsonParseUs.toFixed(1)} µs = ${fleet.perLineRatio.toFixed(2)}\n` +
          `  scrape of ${fleet.samples.toLocaleString('en')} VM samples ${fleet.scrapeSeconds.toFixed(3)} s (goal < ${fleet.scrapeGoalSeconds} s, ${pass(fleet.scrapeSeconds < fleet.scrapeGoalSeconds)}; rendering ${fleet.renderSeconds.toFixed(3)} s of it); ` +
          `prom-client registry.metrics() of as many samples ${fleet.promClientSeconds.toFixed(3)} s: ratio ${fleet.scrapeRatio.toFixed(2)}\n`,
      );
    }
    if (releases) {
      const rows = releases.figures.map(
        (f) =>
          `  ${f.version === 'main' ? 'main' : `v${f.version}`}: ${(f.lineBytes / 1000).toFixed(1)} kB lines, ${f.perLineUs.toFixed(1)} µs of CPU per line (JSON.parse ${f.jsonParseUs.toFixed(1)} µs)` +
          (f.version === releases.newest ? ' — the baseline' : `, ÷ ${releases.newest}'s = ${f.ratioToNewest.toFixed(3)} (rounds ${f.minRatio.toFixed(3)}–${f.maxRatio.toFixed(3)}; goal ≤ 1.1, ${f.ratioToNewest <= 1.1 ? 'pass' : 'MISS'})`),
      );
      process.stdout.write(
        `fleet of releases, ${releases.vms} VMs, windows of ${releases.windowSeconds} s alternating, ${releases.rounds} rounds` +
          `${releases.dropped > 0 ? ` (${releases.dropped} lines not written: a pipe full)` : ''}:\n${rows.join('\n')}\n`,
      );
    }
  }
}

function measureBalloon(): InflationResult {
  process.stderr.write('measuring the balloon inflation …\n');
  return balloonInflation();
}

async function measureReader(): Promise<ThroughputResult> {
  process.stderr.write('measuring the reader …\n');
  return readerThroughput();
}

async function measureReleases(): Promise<ReleaseFleetResult> {
  process.stderr.write('measuring a fleet of 1,000 VMs writing older releases\' lines and the newest\'s, alternately (about 100 s) …\n');
  return fleetReleaseFigures();
}

async function measureFleet(): Promise<FleetResult> {
  process.stderr.write('measuring a fleet of 1,000 VMs served by vmm-metrics serve (about 35 s) …\n');
  return fleetFigures();
}

await main();
