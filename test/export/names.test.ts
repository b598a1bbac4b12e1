import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { prometheusFamilies, prometheusRenamings, PROMETHEUS_NAME } from '../../src/export/names.js';
import { defineGroup, FirecrackerMetrics, groupEntry, inc, latency, store } from '../../src/index.js';

const EXPORTERS_DOC = readFileSync(new URL('../../../docs/exporters.md', import.meta.url), 'utf8');
/** promtool's abbreviated units: none may be a token of a name. */
const ABBREVIATED = new Set(['s', 'ms', 'us', 'ns', 'sec', 'b', 'kb', 'mb', 'gb', 'tb', 'pb', 'm', 'h', 'd']);

test("every family of Firecracker's whole document is a valid, unit-clean name; counters end in _total", () => {
  const families = prometheusFamilies(new FirecrackerMetrics({ rtc: true }).entries);
  assert.ok(families.length > 200);
  assert.equal(new Set(families.map((f) => f.name)).size, families.length);
  for (const family of families) {
    assert.match(family.name, PROMETHEUS_NAME);
    assert.ok(family.name.startsWith('firecracker_'), family.name);
    for (const token of family.name.split('_')) assert.ok(!ABBREVIATED.has(token), `${family.name} holds the unit token ${token}`);
    assert.equal(family.name.endsWith('_total'), family.type === 'counter', family.name);
    assert.ok(family.help.length > 0, family.name);
  }
  const names = new Set(families.map((f) => f.name));
  for (const expected of [
    'firecracker_api_server_process_startup_time_seconds',
    'firecracker_latencies_pause_vm_seconds',
    'firecracker_balloon_inflate_count_total',
    'firecracker_balloon_free_page_report_freed_bytes_total',
    'firecracker_block_read_bytes_total',
    'firecracker_block_read_agg_seconds_total',
    'firecracker_block_read_agg_min_seconds',
    'firecracker_block_read_agg_max_seconds',
    'firecracker_net_rx_bytes_total',
    'firecracker_seccomp_num_faults',
  ]) {
    assert.ok(names.has(expected), expected);
  }
  // The aggregate entries are not exported: only the device families, labelled.
  assert.deepEqual(
    [...new Set(families.filter((f) => f.perDevice).map((f) => f.entry))],
    ['block', 'net', 'pmem', 'vhost_user'],
  );
});

test('types, scales and help come from the declaration', () => {
  const Disk = defineGroup('disk_ms', {
    read_bytes: inc('Bytes read.'),
    freed: inc('Memory freed.', { unit: 'bytes' }),
    depth: store('Requests waiting.'),
    wait_ms: store('Time waited.'),
    read_agg: latency('A read.'),
  });
  const families = prometheusFamilies([groupEntry(Disk, Disk.create())], { prefix: 'my' });
  assert.deepEqual(
    families.map((f) => [f.name, f.type, f.scale, f.help]),
    [
      ['my_disk_read_bytes_total', 'counter', 0, 'Bytes read.'],
      ['my_disk_freed_bytes_total', 'counter', 0, 'Memory freed.'],
      ['my_disk_depth', 'gauge', 0, 'Requests waiting.'],
      ['my_disk_wait_seconds', 'gauge', 3, 'Time waited.'],
      ['my_disk_read_agg_min_seconds', 'gauge', 6, 'A read. (least duration; 0 until one is recorded)'],
      ['my_disk_read_agg_max_seconds', 'gauge', 6, 'A read. (greatest duration)'],
      ['my_disk_read_agg_seconds_total', 'counter', 6, 'A read. (sum of the durations)'],
    ],
  );
  assert.deepEqual(prometheusFamilies([groupEntry(Disk, Disk.create())], { prefix: '' })[0]?.name, 'disk_read_bytes_total');
});

test('names that cannot be exposed fail when derived, naming the field', () => {
  const Bad = defineGroup('my-group', { hits: inc('Hits.') });
  assert.throws(() => prometheusFamilies([groupEntry(Bad, Bad.create())]), {
    name: 'TypeError',
    message: 'Prometheus: my-group.hits gives "firecracker_my-group_hits_total", which is not a metric name',
  });
  const A = defineGroup('x', { a_bytes_count: inc('A.'), a_bytes: inc('B.') });
  assert.throws(() => prometheusFamilies([groupEntry(A, A.create())]), {
    message: 'Prometheus: x.a_bytes and x.a_bytes_count both give firecracker_x_a_bytes_total',
  });
  assert.throws(() => prometheusFamilies([], { prefix: '9x' }), { message: `Prometheus: prefix must be '' or a metric name, got "9x"` });
});

test('docs/exporters.md lists every renaming', () => {
  const renamings = prometheusRenamings();
  assert.ok(renamings.some((r) => r.from === 'latencies_us.pause_vm' && r.to[0] === 'firecracker_latencies_pause_vm_seconds'));
  for (const { from, to } of renamings) {
    const line = `- \`${from}\` → ${to.map((name) => `\`${name}\``).join(', ')}`;
    assert.ok(EXPORTERS_DOC.includes(`${line}\n`), `docs/exporters.md lacks: ${line}`);
  }
  const listed = EXPORTERS_DOC.split('\n').filter((l) => /^- `[a-z_<>]+\.[a-z_]+` → `/.test(l));
  assert.equal(listed.length, renamings.length);
});

test('a store named <x>_count is the gauge <x>s; a gauge that would end in another reserved suffix is refused', () => {
  const Counts = defineGroup('pool', {
    panic_count: store('Panics.'),
    entry_count: store('Entries.'),
    box_count: store('Boxes.'),
    queue_count: inc('Queues seen.'),
  });
  const names = prometheusFamilies([groupEntry(Counts, Counts.create())]).map((f) => f.name);
  assert.deepEqual(names, ['firecracker_pool_panics', 'firecracker_pool_entries', 'firecracker_pool_boxes', 'firecracker_pool_queue_count_total']);
  assert.ok(prometheusFamilies(new FirecrackerMetrics().entries).some((f) => f.name === 'firecracker_vmm_panics' && f.type === 'gauge'));
  for (const suffix of ['sum', 'bucket', 'total']) {
    const Bad = defineGroup('pool', { [`wait_${suffix}`]: store('Reserved.') });
    assert.throws(() => prometheusFamilies([groupEntry(Bad, Bad.create())]), {
      message: `Prometheus: the gauge firecracker_pool_wait_${suffix} would end in _${suffix}, which Prometheus reserves for histograms, summaries and counters; rename the field`,
    });
  }
});
