/**
 * Hot-plug churn stays bounded: a VM that plugs and unplugs devices for as long as it runs holds
 * groups only for the devices present, and its lines stay the size they were.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { DeviceFamily, FirecrackerMetrics, Metrics } from '../../src/index.js';
import { BlockDeviceMetrics } from '../../src/devices/virtio/block/metrics.js';
import { collectingWriter } from './helpers.js';

test('40,000 plug/remove cycles leave no groups and no memory behind, and the line as it was', () => {
  const child = fileURLToPath(new URL('./fixtures/churn-child.js', import.meta.url));
  const output = execFileSync(process.execPath, ['--expose-gc', child, '40000', '100'], { encoding: 'utf8' });
  const { retainedBytes, groups, line } = JSON.parse(output) as { retainedBytes: number; groups: number; line: number };
  assert.equal(groups, 0, 'every removed drive was released after the line that carried it');
  // The empty document's line, give or take the digits of its timestamp.
  const empty = new Metrics(new FirecrackerMetrics()).render().length;
  assert.ok(Math.abs(line - empty) <= 2, `the line is ${line} bytes after the churn, ${empty} without it`);
  assert.ok(retainedBytes < 8 * 1024 * 1024, `${(retainedBytes / 1024 / 1024).toFixed(1)} MiB left behind by the cycles`);
});

test('between flushes, the family holds only the devices whose last deltas are not out yet', () => {
  const document = new FirecrackerMetrics();
  const metrics = new Metrics(document);
  metrics.init({ write: () => undefined }, { flushIntervalMs: 0 });
  for (let i = 0; i < 1_000; i++) {
    const id = `nic-${i}`;
    // Plugged and unplugged without counting anything: released at once.
    document.net.alloc(id);
    document.net.remove(id);
  }
  assert.equal(document.net.size, 0);
  for (let i = 0; i < 50; i++) {
    document.net.alloc(`nic-${i}`).rx_bytes_count.add(1500);
    document.net.remove(`nic-${i}`);
  }
  assert.equal(document.net.size, 50, 'each owes the line that carries its bytes');
  const line = JSON.parse(metrics.render()) as Record<string, { rx_bytes_count: number }>;
  assert.equal(line.net?.rx_bytes_count, 50 * 1500);
  metrics.write();
  assert.equal(document.net.size, 0);
  metrics.close();
});

test('with no line committed (no writer yet, or a failing one), at most maxRemovedPending removed devices are held; the aggregate carries the rest', () => {
  const document = new FirecrackerMetrics();
  for (let i = 1; i <= 40_000; i++) {
    const drive = document.block.alloc(`drive-${i}`);
    drive.read_bytes.add(4096);
    drive.read_agg.recordUs(1 + (i % 500));
    document.block.remove(`drive-${i}`);
  }
  assert.equal(document.block.size, 1024, 'the default cap');
  const { metrics, out } = collectingWriter(document);
  metrics.write();
  const line = JSON.parse(out.lines[0] ?? '{}') as Record<string, { read_bytes: number; read_agg: { min_us: number; max_us: number; sum_us: number } }>;
  const drives = Object.keys(line).filter((key) => key.startsWith('block_'));
  assert.equal(drives.length, 1024);
  assert.deepEqual([drives[0], drives.at(-1)], ['block_drive-38977', 'block_drive-40000'], 'the most recently removed ones keep their entries');
  assert.equal(line.block?.read_bytes, 40_000 * 4096, 'the aggregate carries every device\'s bytes');
  assert.deepEqual(line.block.read_agg, { min_us: 1, max_us: 500, sum_us: Array.from({ length: 40_000 }, (_, i) => 1 + ((i + 1) % 500)).reduce((a, b) => a + b) });
  assert.equal(document.block.size, 0, 'all released once the line is out');
  metrics.write();
  const next = JSON.parse(out.lines[1] ?? '{}') as Record<string, { read_bytes: number }>;
  assert.equal(next.block?.read_bytes, 0, 'the folded deltas were written once');
  metrics.close();
});

test('maxRemovedPending is an option of a family; a family without an aggregate keeps every removed device', () => {
  const capped = new DeviceFamily('disk', BlockDeviceMetrics, { maxRemovedPending: 2 });
  const open = new DeviceFamily('vhost', BlockDeviceMetrics, { aggregate: false, maxRemovedPending: 2 });
  for (let i = 0; i < 10; i++) {
    for (const family of [capped, open]) {
      family.alloc(`d${i}`).write_count.inc();
      family.remove(`d${i}`);
    }
  }
  assert.equal(capped.size, 2);
  assert.equal(open.size, 10);
  assert.throws(() => new DeviceFamily('disk', BlockDeviceMetrics, { maxRemovedPending: -1 }), {
    name: 'RangeError',
    message: 'disk: maxRemovedPending must be an integer of 0 or more, got -1',
  });
});
