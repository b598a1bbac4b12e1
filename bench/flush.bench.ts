/**
 * One flush, serialized and committed without I/O, against `JSON.stringify` of a plain object
 * holding the very same values.
 *
 * A flush is what `Metrics.write()` does before its sink: a line begun in reused memory with a
 * new ledger, the document appended to it, the line ended (the UTF-8 line with its newline,
 * ready to write), and the ledger committed. Before each flush a few counters are incremented (and a store set), so that
 * deltas are not all zero; the baseline makes the same change to its plain object, stringifies
 * it, and zeroes the counters it changed, which is how plain-object counters would carry deltas.
 * Both sides produce the same text: this is checked once before measuring.
 *
 * The `÷ JSON.stringify` figure compares the flush's bytes with `JSON.stringify`'s string; the
 * `→ Buffer` figure (reported only) also counts, on the baseline side, the encoding that a
 * string needs before it can be written, `Buffer.from(`${text}\n`)`.
 */
import { BalloonDeviceMetrics } from '../src/devices/virtio/balloon/metrics.js';
import { EntryDocument, groupEntry } from '../src/metrics/document.js';
import { defineGroup, inc, latency, store, type GroupFields, type MetricGroup } from '../src/metrics/group.js';
import type { LatencyAggregateMetrics } from '../src/metrics/latency.js';
import type { IncMetric, StoreMetric } from '../src/metrics/metric.js';
import { FLUSH_GOAL, flush, flushFigure, peek, START_MS, type FlushSides } from './flush-figure.js';
import type { Figure } from './ratio.js';

interface PlainBalloonLine {
  utc_timestamp_ms: number;
  balloon: { inflate_count: number; deflate_count: number; free_page_report_freed: number };
}

function balloonFlush(): Figure[] {
  const metrics = BalloonDeviceMetrics.create();
  const document = new EntryDocument([groupEntry(BalloonDeviceMetrics, metrics)]);
  // Parsed rather than written out, so that it is the line's own shape, key for key.
  const plain = JSON.parse(peek(document, START_MS)) as PlainBalloonLine;
  const values = plain.balloon;
  const sides: FlushSides = {
    subject: (timestampMs) => {
      metrics.inflate_count.inc();
      metrics.deflate_count.inc();
      metrics.free_page_report_freed.add(4096);
      return flush(document, timestampMs);
    },
    baseline: (timestampMs) => {
      values.inflate_count++;
      values.deflate_count++;
      values.free_page_report_freed += 4096;
      plain.utc_timestamp_ms = timestampMs;
      const text = JSON.stringify(plain);
      values.inflate_count = 0;
      values.deflate_count = 0;
      values.free_page_report_freed = 0;
      return text;
    },
  };
  return [flushFigure('flush balloon group ÷ JSON.stringify', FLUSH_GOAL, sides)];
}

export const LARGE_GROUPS = 10;
export const LARGE_FIELDS = 30;

/**
 * 30 fields: every fifth one from the fourth a store, two latency aggregates, the rest counters,
 * so 22 counters, 6 stores and 2 × 3 latency numbers: 34 numbers a group, 340 in the document.
 * The ten groups share field names (as Firecracker's per-device groups do) under different keys.
 */
function largeDeclaration(): GroupFields {
  const fields: Record<string, GroupFields[string]> = {};
  for (let i = 0; i < LARGE_FIELDS; i++) {
    const n = String(i).padStart(2, '0');
    if (i === 9 || i === 24) fields[`f${n}_agg`] = latency(`Duration of operation ${n}.`);
    else if (i % 5 === 3) fields[`f${n}_bytes`] = store(`Size of thing ${n}.`);
    else fields[`f${n}_count`] = inc(`Number of events ${n}.`);
  }
  return fields;
}

/** The metrics a flush of the large document changes, per group. */
interface LargeTouched {
  readonly f00_count: IncMetric;
  readonly f01_count: IncMetric;
  readonly f02_count: IncMetric;
  readonly f03_bytes: StoreMetric;
}

interface PlainLargeGroup {
  f00_count: number;
  f01_count: number;
  f02_count: number;
  f03_bytes: number;
}

function largeFlush(): Figure[] {
  const declaration = largeDeclaration();
  const touched: LargeTouched[] = [];
  const entries = [];
  for (let g = 0; g < LARGE_GROUPS; g++) {
    const schema = defineGroup(`group_${g}`, declaration);
    const group: MetricGroup<GroupFields> = schema.create();
    const field = (name: string): unknown => group[name];
    for (let i = 0; i < LARGE_FIELDS; i++) {
      const n = String(i).padStart(2, '0');
      if (i === 9 || i === 24) (field(`f${n}_agg`) as LatencyAggregateMetrics).recordUs(100 + g + i);
      else if (i % 5 === 3) (field(`f${n}_bytes`) as StoreMetric).store(4096 * (g + i));
      else (field(`f${n}_count`) as IncMetric).add(g * i);
    }
    touched.push({
      f00_count: field('f00_count') as IncMetric,
      f01_count: field('f01_count') as IncMetric,
      f02_count: field('f02_count') as IncMetric,
      f03_bytes: field('f03_bytes') as StoreMetric,
    });
    entries.push(groupEntry(schema, group));
  }
  const document = new EntryDocument(entries);
  // Commit the counts set up above: from here on, untouched counters write a delta of 0.
  flush(document, START_MS);

  const plain = JSON.parse(peek(document, START_MS)) as { utc_timestamp_ms: number } & Record<string, unknown>;
  const plainGroups: PlainLargeGroup[] = [];
  for (let g = 0; g < LARGE_GROUPS; g++) plainGroups.push(plain[`group_${g}`] as PlainLargeGroup);

  const sides: FlushSides = {
    subject: (timestampMs) => {
      const size = timestampMs % 65536;
      for (const t of touched) {
        t.f00_count.inc();
        t.f01_count.inc();
        t.f02_count.add(512);
        t.f03_bytes.store(size);
      }
      return flush(document, timestampMs);
    },
    baseline: (timestampMs) => {
      const size = timestampMs % 65536;
      for (const p of plainGroups) {
        p.f00_count++;
        p.f01_count++;
        p.f02_count += 512;
        p.f03_bytes = size;
      }
      plain.utc_timestamp_ms = timestampMs;
      const text = JSON.stringify(plain);
      for (const p of plainGroups) {
        p.f00_count = 0;
        p.f01_count = 0;
        p.f02_count = 0;
      }
      return text;
    },
  };
  const name = `flush ${LARGE_GROUPS}×${LARGE_FIELDS}-field document`;
  return [
    flushFigure(`${name} ÷ JSON.stringify`, FLUSH_GOAL, sides),
    flushFigure(`${name} → Buffer ÷ JSON.stringify → Buffer`, null, sides, true),
  ];
}

export function flushFigures(): Figure[] {
  return [...balloonFlush(), ...largeFlush()];
}
