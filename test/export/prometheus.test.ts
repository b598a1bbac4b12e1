import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectDefaultMetrics, Registry, type OpenMetricsContentType } from 'prom-client';
import { exactMetrics, registerPrometheus } from '../../src/export/prometheus.js';
import { defineGroup, EntryDocument, FirecrackerMetrics, groupEntry, type DocumentEntry } from '../../src/index.js';
import { collectingWriter } from '../metrics/helpers.js';
import { Disk, fill, NIC_FIELDS, smallDocument } from './support.js';

const Nic = defineGroup('nic', NIC_FIELDS);

const SNAPSHOT = `# HELP my_disk_read_bytes_total Bytes read from the backing file.
# TYPE my_disk_read_bytes_total counter
my_disk_read_bytes_total{vm="a"} 4096

# HELP my_disk_queue_depth Requests waiting in the queue.
# TYPE my_disk_queue_depth gauge
my_disk_queue_depth{vm="a"} 3

# HELP my_disk_boot_time_seconds Time to boot.
# TYPE my_disk_boot_time_seconds gauge
my_disk_boot_time_seconds{vm="a"} 1.25

# HELP my_disk_read_agg_min_seconds Duration of a read request. (least duration; 0 until one is recorded)
# TYPE my_disk_read_agg_min_seconds gauge
my_disk_read_agg_min_seconds{vm="a"} 0.0005

# HELP my_disk_read_agg_max_seconds Duration of a read request. (greatest duration)
# TYPE my_disk_read_agg_max_seconds gauge
my_disk_read_agg_max_seconds{vm="a"} 0.0015

# HELP my_disk_read_agg_seconds_total Duration of a read request. (sum of the durations)
# TYPE my_disk_read_agg_seconds_total counter
my_disk_read_agg_seconds_total{vm="a"} 0.002

# HELP my_nic_rx_bytes_total Bytes received.
# TYPE my_nic_rx_bytes_total counter
my_nic_rx_bytes_total{vm="a",device="eth0"} 1500
my_nic_rx_bytes_total{vm="a",device="eth1"} 0

# HELP my_nic_freed_bytes_total Memory freed.
# TYPE my_nic_freed_bytes_total counter
my_nic_freed_bytes_total{vm="a",device="eth0"} 0
my_nic_freed_bytes_total{vm="a",device="eth1"} 7
`;


test('the exact exposition of a small document, in the Prometheus and the OpenMetrics format', async () => {
  const { disk, nics, document } = smallDocument(Nic);
  fill({ disk, nics, document });
  const registry = new Registry();
  const registration = registerPrometheus(registry, { document, prefix: 'my', labels: { vm: 'a' } });
  assert.equal(await registry.metrics(), SNAPSHOT);
  assert.equal(await exactMetrics(registry), SNAPSHOT);
  assert.equal(registration.names.length, 8);

  const open = new Registry<OpenMetricsContentType>();
  open.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  registerPrometheus(open, { document, prefix: 'my', labels: { vm: 'a' } });
  const text = await exactMetrics(open);
  assert.match(text, /^# HELP my_disk_read_bytes Bytes read from the backing file\.\n# TYPE my_disk_read_bytes counter\nmy_disk_read_bytes_total\{vm="a"\} 4096\n/);
  assert.match(text, /\nmy_nic_rx_bytes_total\{vm="a",device="eth0"\} 1500\n/);
  assert.ok(text.endsWith('# EOF\n'));

  registration.unregister();
  assert.equal(await registry.metrics(), '\n');
});

test("Firecracker's whole document: one family per value, a device label, no aggregate entries", async () => {
  const vm = new FirecrackerMetrics();
  vm.block.alloc('rootfs').read_bytes.add(512);
  vm.block.alloc('scratch').read_bytes.add(1024);
  vm.net.alloc('eth0');
  const registry = new Registry();
  const { names } = registerPrometheus(registry, { document: vm });
  const text = await registry.metrics();
  assert.match(text, /\nfirecracker_block_read_bytes_total\{device="rootfs"\} 512\nfirecracker_block_read_bytes_total\{device="scratch"\} 1024\n/);
  assert.match(text, /\nfirecracker_net_rx_bytes_total\{device="eth0"\} 0\n/);
  // The aggregate `block` entry adds no sample without a device label.
  assert.doesNotMatch(text, /^firecracker_block_read_bytes_total 1536$/m);
  for (const name of names) {
    assert.match(name, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
    assert.doesNotMatch(name, /_(us|ms)(_|$)/);
  }
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) assert.equal(name?.endsWith('_total'), type === 'counter', name);
  // A device unplugged (and written out) is no longer exposed.
  vm.block.remove('scratch');
  assert.doesNotMatch(await registry.metrics(), /scratch/);
});

test('counters are cumulative across JSON flushes, and scrapes leave the lines their deltas', async () => {
  const { disk, nics, document } = smallDocument(Nic);
  const registry = new Registry();
  registerPrometheus(registry, { document });
  const { metrics, out } = collectingWriter(document);
  const readBytes = async () => /^firecracker_disk_read_bytes_total (\d+)$/m.exec(await exactMetrics(registry))?.[1];
  const lineDelta = (i: number) => (JSON.parse(out.lines[i] ?? '{}') as { disk_us: { read_bytes: number } }).disk_us.read_bytes;

  disk.read_bytes.add(100);
  assert.equal(await readBytes(), '100');
  metrics.write();
  assert.equal(await readBytes(), '100');
  disk.read_bytes.add(20);
  assert.equal(await readBytes(), '120');
  await registry.metrics();
  registry.resetMetrics();
  metrics.write();
  disk.read_bytes.add(3);
  metrics.write();
  assert.equal(await readBytes(), '123');
  assert.deepEqual([0, 1, 2].map(lineDelta), [100, 20, 3]);
  assert.equal(disk.read_bytes.count(), 123);
  assert.equal(nics.size, 0);
});

test('past 2^53: the nearest double from registry.metrics(), the exact digits from exactMetrics()', async () => {
  const { disk, document } = smallDocument(Nic);
  const big = 2n ** 60n + 3n;
  disk.read_bytes.add(big);
  disk.read_agg.recordUs(big);
  disk.queue_depth.store(2n ** 64n - 1n);
  const registry = new Registry();
  registerPrometheus(registry, { document });
  const rounded = await registry.metrics();
  assert.match(rounded, /^firecracker_disk_read_bytes_total 1152921504606847000$/m);
  assert.match(rounded, /^firecracker_disk_queue_depth 18446744073709552000$/m);
  const exact = await exactMetrics(registry);
  assert.match(exact, /^firecracker_disk_read_bytes_total 1152921504606846979$/m);
  assert.match(exact, /^firecracker_disk_read_agg_seconds_total 1152921504606\.846979$/m);
  assert.match(exact, /^firecracker_disk_read_agg_max_seconds 1152921504606\.846979$/m);
  assert.match(exact, /^firecracker_disk_queue_depth 18446744073709551615$/m);
  assert.doesNotMatch(exact, /Inf/);
  // Everything else is the registry's own text.
  assert.equal(exact.replace(/ \d+(\.\d+)?$/gm, ''), rounded.replace(/ \d+(\.\d+)?$/gm, ''));
});

test("beside collectDefaultMetrics in the user's registry; a taken name registers nothing", async () => {
  const { document } = smallDocument(Nic);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerPrometheus(registry, { document, labels: { vm: 'a' } });
  const text = await exactMetrics(registry);
  assert.match(text, /^process_cpu_user_seconds_total \d/m);
  assert.match(text, /^nodejs_heap_size_total_bytes \d/m);
  assert.match(text, /^firecracker_disk_read_bytes_total\{vm="a"\} 0$/m);
  const before = registry.getMetricsAsArray().length;
  assert.throws(() => registerPrometheus(registry, { document }), { message: 'Prometheus: a metric named firecracker_disk_read_bytes_total is already registered' });
  assert.equal(registry.getMetricsAsArray().length, before);
});

test('bad labels and entries that cannot be read are refused', () => {
  const { document } = smallDocument(Nic);
  const registry = new Registry();
  assert.throws(() => registerPrometheus(registry, { document, labels: { device: 'x' } }), { message: 'Prometheus: "device" cannot be a label of these metrics' });
  assert.throws(() => registerPrometheus(registry, { document, labels: { 'a-b': 'x' } }), { name: 'TypeError' });
  const opaque: DocumentEntry = { shape: groupEntry(Disk, Disk.create()).shape, writeTo: () => undefined };
  assert.throws(() => registerPrometheus(registry, { document: new EntryDocument([opaque]) }), {
    message: 'Prometheus: the entry disk_us cannot be read at scrape time (it has no groups())',
  });
  assert.equal(registry.getMetricsAsArray().length, 0);
});
