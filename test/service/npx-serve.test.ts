/**
 * The package as a user gets it, from `npm pack` (which builds dist/):
 * - the README's library example pasted as it stands — its shell block, `metrics-demo.js` and
 *   `node metrics-demo.js && npx vmm-metrics validate metrics.json` — with only its `/tmp` moved
 *   to a folder of the test's;
 * - `npx vmm-metrics serve` from a project the tarball was installed into, over a metrics file
 *   and a jailer-like glob, its /metrics scraped.
 * About 40 s, most of it the builds that `npm pack` runs.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fencesOf, ROOT } from '../docs/fences.js';
import { closeFd, mkfifo, openFifoWriter } from '../reader/helpers.js';
import { releaseLine } from '../support/release-line.js';
import { parseExposition } from '../export/serve/support.js';

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

/** npm never reaches the network here: the package has no dependencies, and audits are off. */
const OFFLINE_NPM = { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

function sh(script: string, cwd: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-e', '-c', script], { cwd, env: OFFLINE_NPM, timeout: 300_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

test("the README's library example, pasted: one line written and checked by npx vmm-metrics validate", { timeout: 300_000 }, async () => {
  const fences = fencesOf('README.md');
  const library = fences.findIndex((fence) => fence.lang === 'js' && fence.text.includes("from 'vmm-metrics'"));
  const setup = fences[library - 1];
  const demo = fences[library];
  assert.ok(setup?.lang === 'sh' && demo !== undefined, "the README's library section: a sh block, then the js example");
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const run = /`(node metrics-demo\.js && npx vmm-metrics validate metrics\.json)`/.exec(readme)?.[1];
  assert.ok(run !== undefined, 'the README says how to run the example');
  const tmp = join(work, 'tmp');
  mkdirSync(tmp);
  const inTmp = (text: string): string => text.replaceAll('/tmp/', `${tmp}/`).replaceAll('/tmp ', `${tmp} `);

  const setupRun = await sh(inTmp(setup.text), ROOT);
  assert.equal(setupRun.status, 0, `README.md:${setup.line}:\n${setupRun.stderr}`);
  const project = join(tmp, 'try');
  writeFileSync(join(project, 'metrics-demo.js'), demo.text);
  const demoRun = await sh(run, project);
  assert.equal(demoRun.status, 0, `${run}:\n${demoRun.stdout}${demoRun.stderr}`);
  assert.equal(demoRun.stdout, 'metrics.json: 1 line, all valid\n');
  const [line = ''] = readFileSync(join(project, 'metrics.json'), 'utf8').split('\n');
  const record = JSON.parse(line) as { id?: string; balloon?: { inflate_count?: number } };
  assert.equal(record.id, 'vm-42');
  assert.equal(record.balloon?.inflate_count, 1);
});

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
