/**
 * What the serve tests share: an exposition parsed into samples, and what a document's own
 * counts say the served totals must be.
 */
import { FirecrackerMetrics } from '../../../src/document/firecracker-metrics.js';
import { exactDecimal } from '../../../src/export/exposition.js';
import { prometheusFamilies, readExact } from '../../../src/export/names.js';
import type { EntryGroup } from '../../../src/metrics/document.js';
import type { Metrics } from '../../../src/metrics/writer.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Samples of an exposition by `name{labels}` (labels as written), values as text. */
export function parseExposition(text: string): Map<string, string> {
  const samples = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const series = line.slice(0, space);
    if (samples.has(series)) throw new Error(`the exposition repeats ${series}`);
    samples.set(series, line.slice(space + 1));
  }
  return samples;
}

/**
 * Every sample the document's cumulative values call for, as `serve` must write them: counts
 * from `countBigInt()`, stores from `fetchBigInt()`, exact decimals, labelled `vm` and `device`.
 */
export function expectedSamples(document: FirecrackerMetrics, vm: string): Map<string, string> {
  const expected = new Map<string, string>();
  const byKey = new Map(document.entries.map((e) => [e.shape.kind === 'group' ? e.shape.key : e.shape.prefix, e]));
  for (const family of prometheusFamilies(document.entries)) {
    const entry = byKey.get(family.entry);
    const groups: readonly EntryGroup[] = entry?.groups?.() ?? [];
    for (const { device, group } of groups) {
      const labels = device === undefined ? `vm="${vm}"` : `vm="${vm}",device="${device}"`;
      expected.set(`${family.name}{${labels}}`, exactDecimal(readExact(family, group), family.scale));
    }
  }
  return expected;
}

/** A busy document: a balloon, two drives and an interface, values past 2^53 (up to 64 rounds stay below 2^64) and a latency. */
export function busyDocument(): { document: FirecrackerMetrics; work: (round: number) => void } {
  const document = new FirecrackerMetrics();
  const rootfs = document.block.alloc('rootfs');
  const scratch = document.block.alloc('scratch');
  const eth0 = document.net.alloc('eth0');
  return {
    document,
    work: (round) => {
      document.balloon.inflate_count.add(round + 1);
      document.balloon.free_page_report_freed.add(4096 * round);
      document.api_server.process_startup_time_us.store(1_250_001);
      rootfs.read_bytes.add(2n ** 58n + BigInt(round));
      rootfs.read_agg.recordUs(40 + round);
      scratch.write_count.inc();
      eth0.rx_bytes_count.add(1500);
      document.vmm.panic_count.store(round % 2);
    },
  };
}

/** Points `metrics` at memory: the lines it writes, newline included, to write by hand later. */
export function collectLines(metrics: Metrics<FirecrackerMetrics>): string[] {
  const lines: string[] = [];
  metrics.init(
    {
      write: (chunk: Buffer, done?: (error?: Error | null) => void) => {
        lines.push(chunk.toString('utf8'));
        done?.();
      },
    },
    { flushIntervalMs: 0 },
  );
  return lines;
}

/** A sample's exact decimal as an integer count of millionths, to add and compare exactly. */
export function millionths(text: string): bigint {
  const [whole = '0', fraction = ''] = text.split('.');
  if (fraction.length > 6) throw new Error(`${text} has more than 6 decimals`);
  return BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
}

const PIPE_WRITER = fileURLToPath(new URL('fixtures/pipe-writer.js', import.meta.url));

/** A stand-in VMM process (fixtures/pipe-writer.ts) writing a line every 20 ms to `path`. */
export interface PipeWriter {
  readonly child: ChildProcess;
  /** What it printed: `writing` after its first line, `total N` when stopped with SIGTERM. */
  output(): string;
  readonly exited: Promise<void>;
}

export function startPipeWriter(path: string, id: string): PipeWriter {
  const child = spawn(process.execPath, [PIPE_WRITER, path, '20', id], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  return { child, output: () => output, exited };
}
