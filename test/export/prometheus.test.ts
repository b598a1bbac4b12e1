import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectDefaultMetrics, Counter, Registry, type OpenMetricsContentType } from 'prom-client';
import { exactMetrics, registerPrometheus, type Registry as AnyRegistry } from '../../src/export/prometheus.js';
import { defineGroup, EntryDocument, FirecrackerMetrics, groupEntry, inc, store, type DocumentEntry } from '../../src/index.js';
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

test("beside collectDefaultMetrics in the user's registry; a name taken by a metric not ours registers nothing", async () => {
  const { document } = smallDocument(Nic);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerPrometheus(registry, { document, labels: { vm: 'a' } });
  const text = await exactMetrics(registry);
  assert.match(text, /^process_cpu_user_seconds_total \d/m);
  assert.match(text, /^nodejs_heap_size_total_bytes \d/m);
  assert.match(text, /^firecracker_disk_read_bytes_total\{vm="a"\} 0$/m);

  // The user's own metric takes the name of the last family: nothing before it registers either.
  const theirs = new Registry();
  new Counter({ name: 'firecracker_nic_freed_bytes_total', help: 'Theirs.', registers: [theirs] });
  assert.throws(() => registerPrometheus(theirs, { document, labels: { vm: 'a' } }), {
    message: 'Prometheus: a metric named firecracker_nic_freed_bytes_total is already registered, not by registerPrometheus',
  });
  assert.equal(theirs.getMetricsAsArray().length, 1);
});

/** Two VMs' documents, with devices of their own, registered in one registry (in either format). */
function twoVms(registry: AnyRegistry) {
  const a = new FirecrackerMetrics();
  const b = new FirecrackerMetrics();
  a.block.alloc('rootfs').read_bytes.add(512);
  b.block.alloc('rootfs').read_bytes.add(2n ** 60n + 3n);
  b.block.alloc('scratch').read_bytes.add(1024);
  a.balloon.inflate_count.add(2n ** 53n + 1n);
  b.balloon.inflate_count.add(7);
  const ra = registerPrometheus(registry, { document: a, labels: { vm: 'a' } });
  const rb = registerPrometheus(registry, { document: b, labels: { vm: 'b' } });
  return { a, b, ra, rb };
}

/** The lines of one family in a Prometheus-format text: HELP, TYPE, samples. */
function familyLines(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `) || line.startsWith(`# HELP ${name} `) || line.startsWith(`# TYPE ${name} `));
}

test('two VMs in one registry: each family once, one HELP and TYPE, the samples of both, exact past 2^53', async () => {
  const registry = new Registry();
  const { ra, rb } = twoVms(registry);
  assert.deepEqual(ra.names, rb.names);
  // One collector per family: the second registration added none.
  assert.equal(registry.getMetricsAsArray().length, ra.names.length);
  const text = await exactMetrics(registry);
  assert.deepEqual(familyLines(text, 'firecracker_block_read_bytes_total'), [
    '# HELP firecracker_block_read_bytes_total Bytes read from the backing file on behalf of the guest.',
    '# TYPE firecracker_block_read_bytes_total counter',
    'firecracker_block_read_bytes_total{vm="a",device="rootfs"} 512',
    'firecracker_block_read_bytes_total{vm="b",device="rootfs"} 1152921504606846979',
    'firecracker_block_read_bytes_total{vm="b",device="scratch"} 1024',
  ]);
  assert.deepEqual(familyLines(text, 'firecracker_balloon_inflate_count_total').slice(2), [
    'firecracker_balloon_inflate_count_total{vm="a"} 9007199254740993',
    'firecracker_balloon_inflate_count_total{vm="b"} 7',
  ]);
  const types = [...text.matchAll(/^# TYPE (\S+) /gm)].map(([, name]) => name);
  assert.equal(new Set(types).size, types.length, 'no family twice');
  assert.equal(types.length, ra.names.length);
  // Past 2^53 the registry's own text has the nearest doubles; only the digits differ.
  const rounded = await registry.metrics();
  assert.match(rounded, /^firecracker_block_read_bytes_total\{vm="b",device="rootfs"\} 1152921504606847000$/m);
  assert.equal(text.replace(/ \d+$/gm, ''), rounded.replace(/ \d+$/gm, ''));

  const open = new Registry<OpenMetricsContentType>();
  open.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  twoVms(open);
  const openText = await exactMetrics(open);
  assert.match(
    openText,
    /\n# HELP firecracker_block_read_bytes Bytes read from the backing file on behalf of the guest\.\n# TYPE firecracker_block_read_bytes counter\nfirecracker_block_read_bytes_total\{vm="a",device="rootfs"\} 512\nfirecracker_block_read_bytes_total\{vm="b",device="rootfs"\} 1152921504606846979\nfirecracker_block_read_bytes_total\{vm="b",device="scratch"\} 1024\n/,
  );
  // The render renamed the counter collectors (`_total` dropped); a second one finds them all the same.
  assert.equal(await exactMetrics(open), openText);
});

test('unregister() of one VM removes its samples only; the family goes with the last one', async () => {
  const registry = new Registry();
  const { ra, rb } = twoVms(registry);
  ra.unregister();
  ra.unregister();
  const text = await exactMetrics(registry);
  assert.doesNotMatch(text, /vm="a"/);
  assert.deepEqual(familyLines(text, 'firecracker_block_read_bytes_total').slice(1), [
    '# TYPE firecracker_block_read_bytes_total counter',
    'firecracker_block_read_bytes_total{vm="b",device="rootfs"} 1152921504606846979',
    'firecracker_block_read_bytes_total{vm="b",device="scratch"} 1024',
  ]);
  assert.equal(registry.getMetricsAsArray().length, rb.names.length);
  // The labels are free again.
  const again = registerPrometheus(registry, { document: new FirecrackerMetrics(), labels: { vm: 'a' } });
  assert.match(await exactMetrics(registry), /^firecracker_balloon_inflate_count_total\{vm="a"\} 0$/m);
  again.unregister();
  rb.unregister();
  assert.equal(registry.getMetricsAsArray().length, 0);
  assert.equal(await exactMetrics(registry), '\n');
});

test('refused, registering nothing: the same labels twice, a family of the same name declared differently', async () => {
  const { document } = smallDocument(Nic);
  const registry = new Registry();
  registerPrometheus(registry, { document, labels: { vm: 'a', zone: 'x' } });
  registerPrometheus(registry, { document: smallDocument(Nic).document });
  const before = await exactMetrics(registry);
  const refused = (options: Parameters<typeof registerPrometheus>[1], message: string): void => {
    assert.throws(() => registerPrometheus(registry, options), { message });
  };
  refused(
    { document: smallDocument(Nic).document, labels: { zone: 'x', vm: 'a' } },
    'Prometheus: firecracker_disk_read_bytes_total is already registered with the labels {vm="a",zone="x"}: give each document labels of its own',
  );
  refused(
    { document: smallDocument(Nic).document },
    'Prometheus: firecracker_disk_read_bytes_total is already registered with the labels {}: give each document labels of its own',
  );
  // The same names from groups declared otherwise: another help text, another type.
  const helped = defineGroup('disk_us', { read_bytes: inc('Bytes read, said otherwise.') });
  refused(
    { document: new EntryDocument([groupEntry(helped, helped.create())]), labels: { vm: 'b' } },
    'Prometheus: firecracker_disk_read_bytes_total is already registered as a counter ("Bytes read from the backing file."), not as a counter ("Bytes read, said otherwise.")',
  );
  // A gauge cannot take a counter's name: no gauge name ends in _total (the mapping refuses it).
  const typed = defineGroup('disk_us', { read_bytes_total: store('Bytes read from the backing file.') });
  refused(
    { document: new EntryDocument([groupEntry(typed, typed.create())]), labels: { vm: 'b' } },
    'Prometheus: the gauge firecracker_disk_read_bytes_total would end in _total, which Prometheus reserves for histograms, summaries and counters; rename the field',
  );
  // A family of the same name and declaration in a group of one's own joins, as a document's does.
  const mine = defineGroup('nic_extra', { rx: inc('Received.') });
  const late = new EntryDocument([groupEntry(mine, mine.create()), smallDocument(Nic).nics]);
  refused({ document: late }, 'Prometheus: firecracker_nic_rx_bytes_total is already registered with the labels {}: give each document labels of its own');
  assert.equal(registry.getSingleMetric('firecracker_nic_extra_rx_total'), undefined, 'a refusal registers none of its families');
  assert.equal(await exactMetrics(registry), before);
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
