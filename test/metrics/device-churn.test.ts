/**
 * Hot-plug churn stays bounded: a VM that plugs and unplugs devices for as long as it runs holds
 * groups only for the devices present, and its lines stay the size they were.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { FirecrackerMetrics, Metrics } from '../../src/index.js';

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
