import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { EntryDocument, groupEntry, Metrics } from '../../src/index.js';
import { BalloonDeviceMetrics } from '../../src/devices/virtio/balloon/metrics.js';

const WORKERS = 4;
const INCREMENTS = 1_000_000;
const INITIAL = 2n ** 60n;

test('4 workers × 1,000,000 inc() while the main thread flushes every millisecond lose nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-'));
  try {
    const balloon = BalloonDeviceMetrics.createShared();
    balloon.inflate_count.add(INITIAL);
    const metrics = new Metrics(new EntryDocument([groupEntry(BalloonDeviceMetrics, balloon)]));
    const path = join(dir, 'metrics.json');
    metrics.init(path, { flushIntervalMs: 0 });
    const flusher = setInterval(() => metrics.write(), 1);
    const buffer = BalloonDeviceMetrics.sharedBuffer(balloon);
    const workerUrl = new URL('./fixtures/inc-worker.js', import.meta.url);
    await Promise.all(
      Array.from({ length: WORKERS }, () => {
        const worker = new Worker(workerUrl, { workerData: { buffer, count: INCREMENTS } });
        return new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.once('exit', (code) => {
            if (code === 0) resolve();
            else reject(new Error(`worker exited with ${code}`));
          });
        });
      }),
    );
    clearInterval(flusher);
    metrics.write();
    metrics.close();

    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const deltas = lines.map((line) => BigInt(/"inflate_count":(\d+)/.exec(line)?.[1] ?? 'missing'));
    assert.equal(deltas.reduce((a, b) => a + b, 0n), BigInt(WORKERS * INCREMENTS) + INITIAL);
    assert.equal(balloon.inflate_count.countBigInt(), BigInt(WORKERS * INCREMENTS) + INITIAL);
    assert.equal(balloon.inflate_count.fetchDiff(), 0);
    assert.ok(lines.length > 2, `${lines.length} lines: the flushes ran while the workers did`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
