/**
 * What issue 15 asks to show: a real Prometheus (Debian's) scraping `vmm-metrics serve
 * --metrics-glob` over a jailer-like tree, one FIFO per VM written by a process of its own, VMs
 * of six Firecracker releases (two older than v1.6, whose block and net are single groups). Every
 * VM's `firecracker_balloon_inflate_count_total`, as Prometheus stored it, is the sum of its
 * lines' deltas; no line is counted invalid; the fleet's releases are one query.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RunningCli } from '../../cli/helpers.js';
import { tempDir } from '../../reader/helpers.js';
import { prometheusOrSkip, startPrometheusIfInstalled, type PrometheusServer } from '../../support/prometheus.js';
import { startJailedVm, type JailedVm } from './jailer.js';

const { dir, remove } = tempDir('vmm-metrics-serve-prometheus-releases-');
const root = join(dir, 'srv', 'jailer', 'firecracker');
/** Each VM's id, release and the first delta of its rising inflate counts. */
const FLEET: readonly (readonly [string, string, number])[] = [
  ['a01', '1.0', 1],
  ['a04', '1.4', 2],
  ['a07', '1.7', 3],
  ['a10', '1.10', 4],
  ['a13', '1.13', 5],
  ['a99', 'main', 6],
];
const ROUNDS = 30;
const vms: JailedVm[] = [];
let serve: RunningCli | undefined;
let prometheus: PrometheusServer | undefined;

before(async () => {
  mkdirSync(root, { recursive: true });
  serve = new RunningCli(['serve', '--metrics-glob', `${root}/*/root/metrics.fifo`, '--port', '0', '--poll-ms', '50']);
  await serve.waitForOutput(/serving http:\/\/\S+\/metrics/, 'stderr');
  const url = /serving (http:\/\/\S+)\/metrics/.exec(serve.stderr)?.[1] ?? '';
  for (const [id, version, seed] of FLEET) vms.push(startJailedVm(root, id, version, ROUNDS, seed));
  prometheus = await startPrometheusIfInstalled({ targets: [url.replace('http://', '')], scrapeIntervalS: 1 });
});

after(async () => {
  await prometheus?.stop();
  for (const vm of vms) vm.child.kill('SIGKILL');
  serve?.kill();
  remove();
});

test("Prometheus: six releases' VMs under a jailer glob, each total its lines' deltas, no line invalid", async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  await Promise.all(vms.map((vm) => vm.written));
  const expected = new Map(vms.map((vm) => [vm.id, vm.inflateTotal]));
  const totals = await server.waitFor(
    'firecracker_balloon_inflate_count_total',
    (samples) => samples.length === vms.length && samples.every((s) => s.value === expected.get(s.labels.vm ?? '')),
    30_000,
  );
  assert.deepEqual(new Map(totals.map((s) => [s.labels.vm, s.value])), expected);
  const lines = await server.query('vmm_metrics_serve_lines_total');
  assert.equal(lines.length, vms.length);
  for (const sample of lines) assert.equal(sample.value, ROUNDS, sample.labels.source);
  const invalid = await server.query('vmm_metrics_serve_invalid_lines_total');
  assert.equal(invalid.length, vms.length);
  for (const sample of invalid) assert.equal(sample.value, 0, sample.labels.source);
  const unknown = await server.query('sum(vmm_metrics_serve_unknown_fields_total)');
  assert.equal(unknown[0]?.value, 0);
  const releases = await server.query('count by (release) (vmm_metrics_serve_source_info)');
  assert.deepEqual(new Map(releases.map((s) => [s.labels.release, s.value])), new Map([['1.0-1.3', 1], ['1.4-1.5', 1], ['1.7-1.9', 1], ['1.10-1.12', 1], ['1.13', 1], ['main', 1]]));
  // Up to v1.5 a block group is the VM's all: no device label; after, per drive.
  const blocks = await server.query('firecracker_block_read_count_total');
  assert.deepEqual(blocks.map((s) => `${s.labels.vm ?? ''}/${s.labels.device ?? '-'}`).sort(), ['a01/-', 'a04/-', 'a07/rootfs', 'a10/rootfs', 'a13/rootfs', 'a99/rootfs']);
});
