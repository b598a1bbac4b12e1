/** What the flush figures share: a flush as `Metrics.write()` does it, and the two-sided figure. */
import { do_not_optimize } from 'mitata';
import type { MetricsDocument } from '../src/metrics/document.js';
import { allocateStorage, JsonBytes, type ByteStorage } from '../src/metrics/json-bytes.js';
import { FlushLedger } from '../src/metrics/ledger.js';
import { beginLine, endLine } from '../src/metrics/line.js';
import type { Figure } from './ratio.js';

export const FLUSH_GOAL = 0.5;
export const START_MS = 1_760_000_000_000;

/** The line a flush would write now, committing nothing: the template of the plain object. */
export function peek(document: MetricsDocument, timestampMs: number): string {
  const out = new JsonBytes(256);
  document.appendTo(beginLine(out, new FlushLedger(true), { timestampMs, headerFields: '' }));
  endLine(out);
  return out.toString().slice(0, -1);
}

/** Memory reused by every line, as `Metrics.write()` reuses it. */
let storage: ByteStorage = allocateStorage(1024);

/**
 * Builds and commits one line, as `Metrics.write()` does around its sink; returns the line's
 * length in `storage.bytes`.
 */
export function flush(document: MetricsDocument, timestampMs: number): number {
  const out = new JsonBytes(storage);
  const ledger = new FlushLedger(false);
  document.appendTo(beginLine(out, ledger, { timestampMs, headerFields: '' }));
  const length = endLine(out);
  storage = out.storage;
  ledger.commit();
  return length;
}

export interface FlushSides {
  /** Mutates the metrics, flushes, returns the line's length in `storage`. */
  readonly subject: (timestampMs: number) => number;
  /** Mutates the plain object, stringifies it, zeroes its deltas, returns the text. */
  readonly baseline: (timestampMs: number) => string;
}

/**
 * A figure from two sides that must write the same text for the same timestamp. With `encode`,
 * each side also turns its text into the bytes `Metrics.write()` hands to its sink.
 */
export function flushFigure(name: string, goal: number | null, sides: FlushSides, encode = false): Figure {
  const subjectText = Buffer.from(storage.bytes.subarray(0, sides.subject(START_MS))).toString();
  const baselineText = `${sides.baseline(START_MS)}\n`;
  if (subjectText !== baselineText) {
    throw new Error(`${name}: the two sides differ\n  flush:          ${subjectText}\n  JSON.stringify: ${baselineText}`);
  }
  let subjectMs = START_MS;
  let baselineMs = START_MS;
  const baseline = encode
    ? () => {
        do_not_optimize(Buffer.from(`${sides.baseline(++baselineMs)}\n`));
      }
    : () => {
        do_not_optimize(sides.baseline(++baselineMs));
      };
  return {
    name,
    goal,
    opsPerCall: 1,
    subject: () => {
      do_not_optimize(sides.subject(++subjectMs));
    },
    baseline,
  };
}

