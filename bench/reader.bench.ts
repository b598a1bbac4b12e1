/**
 * The reader's throughput (issue 3): a real 10,000-line file of the whole document (4 block and
 * 4 net devices, all busy), written by the library, read by `readMetrics()` from its path with
 * full validation; against `JSON.parse` of each line of the same file, read whole, which checks
 * nothing and rounds values above 2^53. Both sides are timed a few times, alternately. Goal: 1.5.
 *
 * The same lines, one at a time, also make a figure of their own: `readMetricsLine()` ÷
 * `JSON.parse`, with no file, splitting or decoding on either side. Goal: 1.5.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FirecrackerMetrics } from '../src/document/firecracker-metrics.js';
import { Metrics } from '../src/metrics/writer.js';
import { do_not_optimize } from 'mitata';
import { firecrackerSchema, readMetrics, readMetricsLine, type MetricsSchema } from '../src/reader/index.js';
import { readMetricsLineTraced } from '../src/reader/validate.js';
import { median, type Figure } from './ratio.js';

export const READER_LINES = 10_000;
const RUNS = 5;
/** The end-to-end goal: reading a file costs at most 1.5 times `JSON.parse` of its lines. */
const READER_GOAL = 1.5;
/** Lines per call of the per-line figure: a few, so that V8 sees several lines' values. */
const LINES_PER_CALL = 64;

export interface ThroughputResult {
  readonly name: string;
  /** Reader time ÷ baseline time. */
  readonly ratio: number;
  readonly goal: number;
  readonly linesPerSecond: number;
  readonly baselineLinesPerSecond: number;
  readonly bytes: number;
}

function writeFile(path: string, lines = READER_LINES): void {
  const document = new FirecrackerMetrics();
  const drives = [0, 1, 2, 3].map((i) => document.block.alloc(`drive${i}`));
  const interfaces = [0, 1, 2, 3].map((i) => document.net.alloc(`eth${i}`));
  const metrics = new Metrics(document);
  metrics.init(path, { flushIntervalMs: 0 });
  for (let i = 0; i < lines; i++) {
    for (const drive of drives) {
      drive.read_count.add(i % 17);
      drive.read_bytes.add((i % 17) * 4096);
      drive.read_agg.recordUs(50 + (i % 300));
    }
    for (const iface of interfaces) {
      iface.rx_packets_count.add(i % 5);
      iface.tx_bytes_count.add(2n ** 53n + BigInt(i)); // exact digits beyond a double's reach
    }
    metrics.write();
  }
  metrics.close();
}

async function timeReader(path: string): Promise<number> {
  const start = process.hrtime.bigint();
  let lines = 0;
  for await (const reading of readMetrics(path)) {
    if (!reading.valid) throw new Error(`reader bench: line ${reading.lineNumber} is not valid`);
    lines++;
  }
  if (lines !== READER_LINES) throw new Error(`reader bench: read ${lines} lines`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function timeJsonParse(path: string): number {
  const start = process.hrtime.bigint();
  let lines = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    JSON.parse(line);
    lines++;
  }
  if (lines !== READER_LINES) throw new Error(`reader bench: parsed ${lines} lines`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function readerThroughput(): Promise<ThroughputResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-bench-'));
  try {
    const path = join(dir, 'metrics.json');
    writeFile(path);
    const bytes = readFileSync(path).length;
    await timeReader(path);
    timeJsonParse(path);
    const reader: number[] = [];
    const baseline: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      globalThis.gc?.();
      reader.push(await timeReader(path));
      globalThis.gc?.();
      baseline.push(timeJsonParse(path));
    }
    const readerS = median(reader);
    const baselineS = median(baseline);
    return {
      name: `reader, ${READER_LINES.toLocaleString('en')}-line file ÷ JSON.parse per line`,
      ratio: readerS / baselineS,
      goal: READER_GOAL,
      linesPerSecond: READER_LINES / readerS,
      baselineLinesPerSecond: READER_LINES / baselineS,
      bytes,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A line whose `properties` hold `n` keys, in order or reversed (every key misplaced but one). */
function propertiesLine(n: number, reversed: boolean): string {
  const keys = Array.from({ length: n }, (_, i) => `"p${String(reversed ? n - i : i + 1).padStart(7, '0')}":""`);
  return `{"utc_timestamp_ms":${Date.now()},"properties":{${keys.join(',')}}}`;
}

/**
 * Hostile key order (issue 6): one line of n property keys in reverse order ÷ the same keys in
 * order, at two sizes. Both sides parse and check the same bytes; the reversed side also finds
 * the misplaced keys (a longest ordered run and a sort) and reports 100 of them. With
 * O(n log n) work the ratio stays flat from 25,000 to 200,000 keys (1.4–1.7 measured); the old
 * indexOf per misplaced key made it grow with n (400,000 reversed keys took 25 s, about 50× the
 * keys in order). The goal, 4, is about twice what is measured.
 */
export function readerFigures(): Figure[] {
  const schema = firecrackerSchema();
  const keyOrder = [25_000, 200_000].map((n): Figure => {
    const reversed = propertiesLine(n, true);
    const sorted = propertiesLine(n, false);
    return {
      name: `reader, ${n.toLocaleString('en')} property keys reversed ÷ in order`,
      goal: 4,
      opsPerCall: 1,
      subject: () => { do_not_optimize(readMetricsLine(reversed, 1, schema)); },
      baseline: () => { do_not_optimize(readMetricsLine(sorted, 1, schema)); },
    };
  });
  return [lineFigure(schema), ...keyOrder];
}

/** The first lines of the throughput file, as text. */
function benchLines(n: number): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-bench-'));
  try {
    const path = join(dir, 'metrics.json');
    writeFile(path, n);
    return readFileSync(path, 'utf8').split('\n').filter((line) => line !== '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `readMetricsLine()` of whole-document lines (9.4 kB, 500 values, 5 above 2^53) ÷ `JSON.parse`
 * of the same lines: the reader's own work per line, file and decoding left out.
 */
function lineFigure(schema: MetricsSchema): Figure {
  const lines = benchLines(LINES_PER_CALL);
  let exact = 0;
  for (const [i, line] of lines.entries()) {
    const reading = readMetricsLineTraced(line, i + 1, schema, {}, () => {
      exact++;
    });
    if (!reading.valid) throw new Error(`reader bench: line ${i + 1} is not valid`);
  }
  // The figure is meant for lines as the writer writes them, which all take the fast path.
  if (exact !== 0) throw new Error(`reader bench: ${exact} lines took the exact path`);
  return {
    name: 'reader, readMetricsLine ÷ JSON.parse, whole-document line',
    goal: READER_GOAL,
    opsPerCall: lines.length,
    subject: () => {
      for (let i = 0; i < lines.length; i++) do_not_optimize(readMetricsLine(lines[i] as string, i + 1, schema));
    },
    baseline: () => {
      for (let i = 0; i < lines.length; i++) do_not_optimize(JSON.parse(lines[i] as string));
    },
  };
}
