/**
 * `vmm-metrics --version` and `-V`: package.json's version, found by the package's own name, so
 * that an installed copy (node_modules/vmm-metrics/dist/…, run through node_modules/.bin) finds
 * its own package.json as the repository's build does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../reader/helpers.js';
import { runCli } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

test('--version and -V print package.json\'s version, exit 0; the help names them', async () => {
  assert.match(version, /^\d+\.\d+\.\d+/);
  for (const flag of ['--version', '-V']) {
    const result = await runCli([flag]);
    assert.deepEqual(result, { status: 0, stdout: `vmm-metrics ${version}\n`, stderr: '' }, flag);
  }
  assert.match((await runCli(['--help'])).stdout, /^ {2}-V, --version {5}print the version$/m);
});

test('installed as a package (node_modules/vmm-metrics, its bin linked in node_modules/.bin), it finds its own version', (t) => {
  const { dir, remove } = tempDir('vmm-metrics-installed-');
  t.after(remove);
  // The tarball's layout: package.json beside dist/, whose tree is the compiled src/.
  const installed = join(dir, 'node_modules', 'vmm-metrics');
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  cpSync(join(ROOT, 'build', 'src'), join(installed, 'dist'), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
  cpSync(join(ROOT, 'package.json'), join(installed, 'package.json'));
  const bin = join(dir, 'node_modules', '.bin', 'vmm-metrics');
  symlinkSync(join('..', 'vmm-metrics', pkg.bin['vmm-metrics'] ?? ''), bin);
  const result = spawnSync(process.execPath, [bin, '-V'], { cwd: dir, encoding: 'utf8' });
  assert.equal(result.stderr, '');
  assert.equal(result.stdout, `vmm-metrics ${pkg.version}\n`);
  assert.equal(result.status, 0);
});
