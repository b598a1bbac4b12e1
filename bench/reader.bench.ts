/**
 * The reader's throughput (issue 3): a real 10,000-line file of the whole document (4 block and
 * 4 net devices, all busy), written by the library, read by `readMetrics()` from its path with
 * full validation; against `JSON.parse` of each line of the same file, read whole, which checks
 * nothing and rounds values above 2^53. Both sides are timed a few times, alternately.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FirecrackerMetrics } from '../src/document/firecracker-metrics.js';
import { Metrics } from '../src/metrics/writer.js';
import { readMetrics } from '../src/reader/index.js';
import { median } from './ratio.js';

export const READER_LINES = 10_000;
const RUNS = 5;

export interface ThroughputResult {
  readonly name: string;
  /** Reader time ÷ baseline time. */
  readonly ratio: number;
  readonly goal: null;
  readonly linesPerSecond: number;
  readonly baselineLinesPerSecond: number;
  readonly bytes: number;
}

function writeFile(path: string): void {
  const document = new FirecrackerMetrics();
  const drives = [0, 1, 2, 3].map((i) => document.block.alloc(`drive${i}`));
  const interfaces = [0, 1, 2, 3].map((i) => document.net.alloc(`eth${i}`));
  const metrics = new Metrics(document);
  metrics.init(path, { flushIntervalMs: 0 });
  for (let i = 0; i < READER_LINES; i++) {
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
      goal: null,
      linesPerSecond: READER_LINES / readerS,
      baselineLinesPerSecond: READER_LINES / baselineS,
      bytes,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
