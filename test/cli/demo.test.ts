import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const demo = fileURLToPath(new URL('../../src/cli/demo.js', import.meta.url));

test('the demo appends one balloon line per interval and prints each', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-demo-'));
  try {
    const path = join(dir, 'metrics.json');
    const result = spawnSync(process.execPath, [demo, '--metrics-path', path, '--interval-ms', '50', '--duration-s', '0.25'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(result.status, 0, result.stderr);
    const written = readFileSync(path, 'utf8');
    assert.equal(result.stdout, written, 'what is printed is what was appended');
    const lines = written.trimEnd().split('\n');
    assert.equal(lines.length, 5);
    const inflated = lines.map((line) => (JSON.parse(line) as { balloon: { inflate_count: number } }).balloon.inflate_count);
    assert.ok(inflated.reduce((a, b) => a + b, 0) > 0, 'the workload moved the counters');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad options exit 2 with what was wrong and the usage', () => {
  const result = spawnSync(process.execPath, [demo, '--duration-s=-3'], { encoding: 'utf8' });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /--duration-s: expected a positive number, got "-3"/);
  assert.match(result.stderr, /Usage: npm start/);
});
