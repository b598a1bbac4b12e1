/**
 * The hot path: one `inc()` on a balloon counter, against what it replaces.
 *
 * Every side increments one counter `INNER` times per call, then reads it (or keeps the counter
 * object) once after its loop into `do_not_optimize`. The balloon's `inflate_count` is reached
 * through its group each time, as device code does (`METRICS.inflate_count.inc()`), and the plain
 * baseline likewise through a plain object with the same 12 fields.
 */
import { do_not_optimize } from 'mitata';
import { Counter, Registry } from 'prom-client';
import { BalloonDeviceMetrics } from '../src/devices/virtio/balloon/metrics.js';
import { EntryDocument, groupEntry } from '../src/metrics/document.js';
import { flush } from './flush-figure.js';
import type { Figure } from './ratio.js';

/** Operations per call for the ~1 ns figures. */
export const INNER = 1000;

/** A plain object with the balloon group's fields, the baseline of a local counter. */
function plainBalloon() {
  return {
    activate_fails: 0,
    inflate_count: 0,
    stats_updates_count: 0,
    stats_update_fails: 0,
    deflate_count: 0,
    event_fails: 0,
    free_page_report_count: 0,
    free_page_report_freed: 0,
    free_page_report_fails: 0,
    free_page_hint_count: 0,
    free_page_hint_freed: 0,
    free_page_hint_fails: 0,
  };
}

/** Takes and commits every delta, so that a counter's pending number stays small. */
function flushBalloon(group: BalloonDeviceMetrics): void {
  flush(new EntryDocument([groupEntry(BalloonDeviceMetrics, group)]), 0);
}

export function coreFigures(): Figure[] {
  const local = BalloonDeviceMetrics.create();
  const plain = plainBalloon();

  const shared = BalloonDeviceMetrics.createShared();
  // The same kind of memory as a shared group: 64-bit words over a SharedArrayBuffer.
  const words = new BigUint64Array(new SharedArrayBuffer(BalloonDeviceMetrics.sharedByteLength));
  // inflate_count is the group's second counter: its count is word 3 (3 words per counter).
  const wordIndex = 3;

  // A private registry: nothing is registered in prom-client's global one.
  const registry = new Registry();
  const promUnlabeled = new Counter({
    name: 'bench_balloon_inflate_count',
    help: 'Number of inflations of the balloon.',
    registers: [registry],
  });
  const promLabeled = new Counter({
    name: 'bench_inflate_count',
    help: 'Number of inflations, by device.',
    labelNames: ['device'] as const,
    registers: [registry],
  });

  const localInc = (): void => {
    for (let i = 0; i < INNER; i++) local.inflate_count.inc();
    do_not_optimize(local.inflate_count.fetchDiff());
  };
  // Kept below 2^31 between measurements, so that neither side's number leaves the small-integer
  // representation halfway through the run (a flush does the same for a real counter).
  const resetLocal = (): void => {
    flushBalloon(local);
    plain.inflate_count = 0;
  };

  return [
    {
      name: 'inc() ÷ plain object field ++',
      goal: 1.5,
      opsPerCall: INNER,
      reset: resetLocal,
      subject: localInc,
      baseline: () => {
        for (let i = 0; i < INNER; i++) plain.inflate_count++;
        do_not_optimize(plain.inflate_count);
      },
    },
    {
      name: 'shared inc() ÷ Atomics.add(BigUint64Array, 1n)',
      goal: 1.3,
      opsPerCall: INNER,
      subject: () => {
        for (let i = 0; i < INNER; i++) shared.inflate_count.inc();
        do_not_optimize(shared.inflate_count.fetchDiff());
      },
      baseline: () => {
        for (let i = 0; i < INNER; i++) Atomics.add(words, wordIndex, 1n);
        do_not_optimize(Atomics.load(words, wordIndex));
      },
    },
    {
      name: 'inc() ÷ prom-client Counter.inc()',
      goal: null,
      opsPerCall: INNER,
      reset: resetLocal,
      subject: localInc,
      baseline: () => {
        for (let i = 0; i < INNER; i++) promUnlabeled.inc();
        do_not_optimize(promUnlabeled);
      },
    },
    {
      name: 'inc() ÷ prom-client Counter.inc({device})',
      goal: null,
      opsPerCall: INNER,
      reset: resetLocal,
      subject: localInc,
      baseline: () => {
        // The labels as callers write them: a fresh object literal per call.
        for (let i = 0; i < INNER; i++) promLabeled.inc({ device: 'balloon' });
        do_not_optimize(promLabeled);
      },
    },
  ];
}
