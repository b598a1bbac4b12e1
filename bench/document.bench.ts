/**
 * One flush of the whole Firecracker document (issue 3): every group in Firecracker's order,
 * with 4 block drives and 4 network interfaces and their aggregates, against `JSON.stringify`
 * of a plain object holding the same values.
 *
 * Before each flush every drive and interface, and a few global groups, are busy; the baseline
 * makes the same changes to the plain object, including to the aggregate entries, whose sums
 * the flush computes itself.
 */
import { FirecrackerMetrics } from '../src/document/firecracker-metrics.js';
import type { IncMetric } from '../src/metrics/metric.js';
import { FLUSH_GOAL, flush, flushFigure, peek, START_MS, type FlushSides } from './flush-figure.js';
import type { Figure } from './ratio.js';

const DEVICES = 4;

type PlainEntry = Record<string, number>;

/** A counter, the plain-object fields it moves (device and aggregate), and by how much. */
interface Touch {
  readonly metric: IncMetric;
  readonly fields: readonly [PlainEntry, string][];
  readonly amount: number;
}

export function documentFigures(): Figure[] {
  const document = new FirecrackerMetrics();
  const drives = Array.from({ length: DEVICES }, (_, i) => `drive${i}`);
  const interfaces = Array.from({ length: DEVICES }, (_, i) => `eth${i}`);
  for (const id of drives) document.block.alloc(id);
  for (const id of interfaces) document.net.alloc(id);
  // Commit whatever an earlier figure left, so that the plain object starts from the same zeros.
  flush(document, START_MS);

  const plain = JSON.parse(peek(document, START_MS)) as { utc_timestamp_ms: number } & Record<string, PlainEntry>;
  const entry = (key: string): PlainEntry => plain[key] as PlainEntry;
  const touches: Touch[] = [];
  const touch = (metric: IncMetric, amount: number, ...fields: [PlainEntry, string][]): void => {
    touches.push({ metric, fields, amount });
  };
  for (const id of drives) {
    const drive = document.block.alloc(id);
    touch(drive.read_count, 1, [entry(`block_${id}`), 'read_count'], [entry('block'), 'read_count']);
    touch(drive.read_bytes, 65_536, [entry(`block_${id}`), 'read_bytes'], [entry('block'), 'read_bytes']);
    touch(drive.queue_event_count, 1, [entry(`block_${id}`), 'queue_event_count'], [entry('block'), 'queue_event_count']);
  }
  for (const id of interfaces) {
    const iface = document.net.alloc(id);
    touch(iface.rx_packets_count, 8, [entry(`net_${id}`), 'rx_packets_count'], [entry('net'), 'rx_packets_count']);
    touch(iface.rx_bytes_count, 12_000, [entry(`net_${id}`), 'rx_bytes_count'], [entry('net'), 'rx_bytes_count']);
    touch(iface.tx_packets_count, 3, [entry(`net_${id}`), 'tx_packets_count'], [entry('net'), 'tx_packets_count']);
  }
  touch(document.vcpu.exit_mmio_write, 40, [entry('vcpu'), 'exit_mmio_write']);
  touch(document.interrupts.triggers, 50, [entry('interrupts'), 'triggers']);
  touch(document.balloon.inflate_count, 1, [entry('balloon'), 'inflate_count']);

  const sides: FlushSides = {
    subject: (timestampMs) => {
      for (const t of touches) t.metric.add(t.amount);
      return flush(document, timestampMs);
    },
    baseline: (timestampMs) => {
      for (const t of touches) for (const [object, field] of t.fields) object[field] = (object[field] as number) + t.amount;
      plain.utc_timestamp_ms = timestampMs;
      const text = JSON.stringify(plain);
      for (const t of touches) for (const [object, field] of t.fields) object[field] = 0;
      return text;
    },
  };
  return [flushFigure(`flush whole document, ${DEVICES} block + ${DEVICES} net ÷ JSON.stringify`, FLUSH_GOAL, sides)];
}
