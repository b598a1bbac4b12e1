/**
 * contrib/systemd/vmm-metrics-serve.service: systemd's own checker takes it without a word (an
 * unknown key or a bad value is only a warning to systemd, so any output fails the test), and its
 * offline security review rates it well. The command it runs is swapped for this build's (the
 * unit names /usr/local/bin/vmm-metrics, where `npm install -g` puts it, and systemd checks the
 * executable exists). Skips loudly without systemd-analyze (Debian's `systemd` package).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const UNIT = join(ROOT, 'contrib', 'systemd', 'vmm-metrics-serve.service');
const CLI = join(ROOT, 'build', 'src', 'cli', 'main.js');
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));

function run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(ANALYZE as string, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

function analyzeOrSkip(t: TestContext): boolean {
  if (ANALYZE !== undefined) return true;
  const message = 'SKIPPED: systemd-analyze is not installed (apt-get install systemd): the unit is not checked';
  console.warn(message);
  t.skip(message);
  return false;
}

/** The unit, with this build's command for the installed one, in a folder of its own. */
function unitHere(): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-unit-'));
  const text = readFileSync(UNIT, 'utf8');
  assert.match(text, /^ExecStart=\/usr\/local\/bin\/vmm-metrics serve /m);
  const path = join(dir, 'vmm-metrics-serve.service');
  writeFileSync(path, text.replace(/^ExecStart=\/usr\/local\/bin\/vmm-metrics /m, `ExecStart=${process.execPath} ${CLI} `));
  return { path, remove: () => { rmSync(dir, { recursive: true, force: true }); } };
}

test('the unit runs serve as a dynamic user over a read-only system, following the jailer glob', () => {
  const text = readFileSync(UNIT, 'utf8');
  for (const line of ['DynamicUser=yes', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'ReadOnlyPaths=-/srv/jailer', 'CapabilityBoundingSet=']) {
    assert.match(text, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'), line);
  }
  assert.match(text, /--metrics-glob \/srv\/jailer\/firecracker\/\*\/root\/metrics\.fifo$/m);
});

test('systemd-analyze verify takes the unit without a warning', async (t) => {
  if (!analyzeOrSkip(t)) return;
  const { path, remove } = unitHere();
  try {
    const result = await run(['verify', '--man=no', path]);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    // The check can fail: a misspelt key is reported.
    writeFileSync(path, readFileSync(path, 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=stric'));
    const bad = await run(['verify', '--man=no', path]);
    assert.match(bad.stderr, /protect system value/i);
  } finally {
    remove();
  }
});

test("systemd-analyze security rates the unit's exposure low (under 2 of 10)", async (t) => {
  if (!analyzeOrSkip(t)) return;
  const { path, remove } = unitHere();
  try {
    const result = await run(['security', '--offline=yes', '--no-pager', path]);
    const exposure = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(result.stdout)?.[1];
    assert.ok(exposure !== undefined, result.stdout + result.stderr);
    assert.ok(Number(exposure) < 2, `exposure ${exposure}`);
  } finally {
    remove();
  }
});
