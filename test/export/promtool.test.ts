/**
 * The expositions of vmm-metrics/prometheus against `promtool check metrics`, Prometheus's own
 * linter (Debian's 2.42; see test/support/prometheus.ts for what it checks and how it reports).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { exactMetrics, registerPrometheus } from '../../src/export/prometheus.js';
import { defineGroup, FirecrackerMetrics } from '../../src/index.js';
import { promtoolCheckMetrics, promtoolOrSkip, type PromtoolProblem } from '../support/prometheus.js';
import { join } from 'node:path';
import { MetricsFleet } from '../../src/export/serve/fleet.js';
import { Metrics } from '../../src/metrics/writer.js';
import { tempDir, waitFor } from '../reader/helpers.js';
import { busy, fill, NIC_FIELDS, smallDocument } from './support.js';
import { busyDocument } from './serve/support.js';

/**
 * What promtool says of this library's names: nothing. (`vmm.panic_count`, a store, is the gauge
 * `firecracker_vmm_panics`: promlint keeps a `_count` suffix for histograms and summaries.)
 */
const OWN_PROBLEMS: readonly PromtoolProblem[] = [];

/** What promtool says of prom-client 15's default metrics: gauges named `…_total`, not ours to fix. */
const DEFAULT_METRICS_PROBLEMS: readonly PromtoolProblem[] = ['handles', 'requests', 'resources'].map((what) => ({
  metric: `nodejs_active_${what}_total`,
  text: 'non-counter metrics should not have "_total" suffix',
}));

const byMetric = (a: PromtoolProblem, b: PromtoolProblem): number => (a.metric === b.metric ? (a.text < b.text ? -1 : 1) : a.metric < b.metric ? -1 : 1);

/** The `# TYPE` lines of an exposition, by family name. */
const typed = (text: string): Set<string> => new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? ''));

test("Firecracker's whole document, busy, beside collectDefaultMetrics: promtool finds nothing but the known", async (t) => {
  if (!promtoolOrSkip(t)) return;
  const vm = new FirecrackerMetrics();
  vm.block.alloc('rootfs');
  vm.block.alloc('scratch');
  vm.net.alloc('eth0');
  assert.ok(busy(vm) > 200);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { names } = registerPrometheus(registry, { document: vm, labels: { vm: 'vm-42' } });
  const text = await exactMetrics(registry);
  // Not vacuous: every family is in the text, with samples of both devices and exact digits past 2^53.
  for (const name of names) assert.ok(typed(text).has(name), name);
  assert.match(text, /^firecracker_block_read_bytes_total\{vm="vm-42",device="scratch"\} \d+$/m);
  assert.match(text, /^firecracker_net_rx_bytes_total\{vm="vm-42",device="eth0"\} \d+$/m);
  assert.match(text, /^process_cpu_user_seconds_total \d/m);
  assert.match(text, / 115292150460684\d{4}$/m);

  const result = await promtoolCheckMetrics(text);
  assert.equal(result.parseError, undefined, result.output);
  assert.deepEqual(result.problems, [...OWN_PROBLEMS, ...DEFAULT_METRICS_PROBLEMS].sort(byMetric), result.output);
});

test('every family Firecracker declares, every device family allocated, rtc on: no problem', async (t) => {
  if (!promtoolOrSkip(t)) return;
  const vm = new FirecrackerMetrics({ rtc: true });
  // promtool lints only the families that have a sample: a family of devices needs a device.
  for (const family of [vm.block, vm.net, vm.pmem, vm.vhost_user]) family.alloc('dev0');
  busy(vm);
  const registry = new Registry();
  const { names } = registerPrometheus(registry, { document: vm });
  const text = await exactMetrics(registry);
  assert.ok(names.includes('firecracker_rtc_error_count_total') && names.includes('firecracker_vhost_user_init_time_seconds'));
  for (const name of names) assert.ok(typed(text).has(name), name);
  const result = await promtoolCheckMetrics(text);
  assert.equal(result.parseError, undefined, result.output);
  assert.deepEqual(result.problems, OWN_PROBLEMS, result.output);
});

test('the small document of the exporters’ tests: no problem at all', async (t) => {
  if (!promtoolOrSkip(t)) return;
  const small = smallDocument(defineGroup('nic', NIC_FIELDS));
  fill(small);
  const registry = new Registry();
  registerPrometheus(registry, { document: small.document, labels: { vm: 'a' } });
  const text = await exactMetrics(registry);
  assert.equal(typed(text).size, 8);
  const result = await promtoolCheckMetrics(text);
  assert.deepEqual(result, { ok: true, problems: [], parseError: undefined, exitCode: 0, output: '' });
});

test('promtool flags a bad name, a bad type and a text that does not parse, precisely', async (t) => {
  if (!promtoolOrSkip(t)) return;
  // The group's unit token kept and `_total` left off: what names.ts exists to avoid.
  const bad = [
    '# HELP firecracker_latencies_us_pause_vm_seconds Time to pause the VM.',
    '# TYPE firecracker_latencies_us_pause_vm_seconds counter',
    'firecracker_latencies_us_pause_vm_seconds 0.002',
    '',
  ].join('\n');
  const result = await promtoolCheckMetrics(bad);
  assert.equal(result.ok, false);
  assert.equal(result.exitCode, 3);
  assert.deepEqual(result.problems, [
    { metric: 'firecracker_latencies_us_pause_vm_seconds', text: 'counter metrics should have "_total" suffix' },
    { metric: 'firecracker_latencies_us_pause_vm_seconds', text: 'metric names should not contain abbreviated units' },
  ]);

  // The same pipeline as the tests above, one family renamed: the check is not vacuous.
  const small = smallDocument(defineGroup('nic', NIC_FIELDS));
  const registry = new Registry();
  registerPrometheus(registry, { document: small.document });
  const renamed = (await exactMetrics(registry)).replaceAll('firecracker_disk_read_bytes_total', 'firecracker_disk_read_kb');
  assert.deepEqual((await promtoolCheckMetrics(renamed)).problems, [
    { metric: 'firecracker_disk_read_kb', text: 'counter metrics should have "_total" suffix' },
    { metric: 'firecracker_disk_read_kb', text: 'metric names should not contain abbreviated units' },
  ]);
  const retyped = (await exactMetrics(registry)).replace('# TYPE firecracker_disk_queue_depth gauge', '# TYPE firecracker_disk_queue_depth counter');
  assert.deepEqual((await promtoolCheckMetrics(retyped)).problems, [{ metric: 'firecracker_disk_queue_depth', text: 'counter metrics should have "_total" suffix' }]);
  const nohelp = (await exactMetrics(registry)).replace(/^# HELP firecracker_disk_read_agg_max_seconds .*\n/m, '');
  assert.deepEqual((await promtoolCheckMetrics(nohelp)).problems, [{ metric: 'firecracker_disk_read_agg_max_seconds', text: 'no help text' }]);
  // A family with no sample (the interfaces: none allocated) is dropped by the parser before the
  // linter sees it: a name is checked only where a sample carries it.
  const unseen = (await exactMetrics(registry)).replaceAll('firecracker_nic_freed_bytes_total', 'firecracker_nic_freed_kb');
  assert.deepEqual((await promtoolCheckMetrics(unseen)).problems, []);

  const broken = await promtoolCheckMetrics('# TYPE x_total counter\nx_total 1\nx_total{le="1" 2\n');
  assert.equal(broken.ok, false);
  assert.equal(broken.exitCode, 1);
  assert.deepEqual(broken.problems, []);
  assert.match(broken.parseError ?? '', /^text format parsing error in line 3: /);
});

test('vmm-metrics serve’s exposition (VM families with awkward vm labels, and its own families): no problem', async (t) => {
  if (!promtoolOrSkip(t)) return;
  const { dir, remove } = tempDir('vmm-metrics-serve-promtool-');
  const fleet = new MetricsFleet({ pollIntervalMs: 20 });
  try {
    const ids = ['vm "one"\n\\', 'vm-two'];
    for (const [i, id] of ids.entries()) {
      const path = join(dir, `vm-${i}.json`);
      const { document, work } = busyDocument();
      const metrics = new Metrics(document);
      metrics.init(path, { flushIntervalMs: 0, id });
      work(0);
      metrics.write();
      metrics.close();
      fleet.follow(path);
    }
    fleet.follow(join(dir, 'missing.json'));
    await waitFor(() => [...fleet.sources.values()].reduce((n, s) => n + s.lines, 0) === 2, 'both lines');
    const text = fleet.render();
    assert.match(text, /^firecracker_block_read_bytes_total\{vm="vm \\"one\\"\\n\\\\",device="rootfs"\} \d+$/m);
    assert.match(text, /^vmm_metrics_serve_errors_total\{source="[^"]+missing\.json"\} \d+$/m);
    const result = await promtoolCheckMetrics(text);
    assert.deepEqual(result, { ok: true, problems: [], parseError: undefined, exitCode: 0, output: '' });
  } finally {
    await fleet.close();
    remove();
  }
});
