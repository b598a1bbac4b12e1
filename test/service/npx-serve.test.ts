/**
 * `npx vmm-metrics serve` as a user gets it: the package packed (`npm pack`, which builds dist/),
 * installed from the tarball into an empty project, the command run with npx from there over a
 * metrics file and a jailer-like glob, and its /metrics scraped. About 30 s, most of it the
 * build that `npm pack` runs.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { closeFd, mkfifo, openFifoWriter } from '../reader/helpers.js';
import { releaseLine } from '../support/release-line.js';
import { parseExposition } from '../export/serve/support.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'vmm-metrics-npx-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});

function npm(args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('npm', [...args], { cwd, timeout: 300_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`npm ${args.join(' ')} in ${cwd} failed: ${error.message}\n${stderr}`));
    });
  });
}

test('npm pack, install the tarball into an empty project, npx vmm-metrics serve, scrape it', { timeout: 300_000 }, async () => {
  const packs = join(work, 'packs');
  mkdirSync(packs);
  await npm(['pack', '--pack-destination', packs, '--silent'], ROOT);
  const [tarball] = readdirSync(packs).filter((name) => name.endsWith('.tgz'));
  assert.ok(tarball !== undefined, 'npm pack wrote no tarball');
  const project = join(work, 'project');
  mkdirSync(project);
  await npm(['init', '-y'], project);
  // The package has no dependencies: nothing is fetched.
  await npm(['install', '--offline', '--no-audit', '--no-fund', join(packs, tarball)], project);

  const t0 = 1_700_000_000_000;
  writeFileSync(join(project, 'vm-file.json'), [1, 2, 3].map((n, i) => `${releaseLine('1.4', { timestampMs: t0 + i * 1000, values: { 'balloon.inflate_count': n } })}\n`).join(''));
  const chroot = join(project, 'jail', 'firecracker', 'c0ffee', 'root');
  mkdirSync(chroot, { recursive: true });
  const fifo = join(chroot, 'metrics.fifo');
  mkfifo(fifo);

  const child = spawn('npx', ['vmm-metrics', 'serve', '--metrics-path', 'vm-file.json', '--metrics-glob', `${join(project, 'jail', 'firecracker')}/*/root/metrics.fifo`, '--port', '0', '--poll-ms', '50'], {
    cwd: project,
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`serve did not start: ${stderr}`)); }, 60_000);
      child.stderr.on('data', () => {
        const found = /serving (http:\/\/\S+)\/metrics/.exec(stderr)?.[1];
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
        }
      });
      child.once('exit', (code) => { reject(new Error(`serve exited (${String(code)}): ${stderr}`)); });
    });
    const fd = await openFifoWriter(fifo, 10_000);
    writeSync(fd, `${releaseLine('main', { timestampMs: t0, values: { 'balloon.inflate_count': 7 } })}\n`);
    let samples = new Map<string, string>();
    for (let i = 0; i < 100; i++) {
      samples = parseExposition(await (await fetch(`${url}/metrics`)).text());
      if (samples.has('firecracker_balloon_inflate_count_total{vm="c0ffee"}') && samples.get('firecracker_balloon_inflate_count_total{vm="vm-file"}') === '6') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    closeFd(fd);
    assert.equal(samples.get('firecracker_balloon_inflate_count_total{vm="vm-file"}'), '6');
    assert.equal(samples.get('firecracker_balloon_inflate_count_total{vm="c0ffee"}'), '7');
    assert.equal(samples.get(`vmm_metrics_serve_source_info{source="${fifo}",vm="c0ffee",release="main"}`), '1');
    assert.equal(samples.get('vmm_metrics_serve_sources'), '2');
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
    await new Promise((resolve) => { if (child.exitCode !== null) resolve(undefined); else child.once('exit', resolve); });
  }
});
