/**
 * Several threads flushing one shared group: each has a document and a writer of its own over
 * the same shared memory, and every increment must be written exactly once across all lines.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { EntryDocument, groupEntry, Metrics } from '../../../src/index.js';
import { BalloonDeviceMetrics } from '../../../src/devices/virtio/balloon/metrics.js';

const THREADS = 3;
const INCREMENTS = 100_000;

function runWorker(workerData: Record<string, unknown>): Promise<void> {
  const worker = new Worker(new URL('../fixtures/flush-worker.js', import.meta.url), { workerData });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`worker exited with ${code}`));
    });
  });
}

function inflateDeltas(path: string): bigint[] {
  const text = readFileSync(path, 'utf8');
  assert.ok(text.endsWith('\n'));
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => BigInt((JSON.parse(line) as { balloon: { inflate_count: number } }).balloon.inflate_count));
}

test(`${THREADS} threads and the main one, each flushing its own document of one shared group, write each increment once`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-shared-'));
  try {
    const balloon = BalloonDeviceMetrics.createShared();
    const buffer = BalloonDeviceMetrics.sharedBuffer(balloon);
    const main = new Metrics(new EntryDocument([groupEntry(BalloonDeviceMetrics, balloon)]));
    const mainPath = join(dir, 'main.json');
    main.init(mainPath, { flushIntervalMs: 0 });
    const flusher = setInterval(() => main.write(), 1);
    const paths = Array.from({ length: THREADS }, (_, i) => join(dir, `thread-${i}.json`));
    // Flushing often makes the threads take deltas at the same moments, where a non-atomic take
    // would hand the same increments to two lines (and later write deltas near 2^64).
    await Promise.all(paths.map((path) => runWorker({ buffer, path, count: INCREMENTS, flushEvery: 7 })));
    clearInterval(flusher);
    main.write();
    main.close();

    const deltas = [mainPath, ...paths].flatMap(inflateDeltas);
    const total = BigInt(THREADS * INCREMENTS);
    for (const delta of deltas) assert.ok(delta <= total, `a delta of ${delta} is more than was ever counted`);
    assert.equal(deltas.reduce((a, b) => a + b, 0n), total);
    assert.equal(balloon.inflate_count.fetchDiff(), 0);
    assert.equal(balloon.inflate_count.count(), THREADS * INCREMENTS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
