import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { registerOpenTelemetry } from '../../src/export/otel.js';
import { defineGroup, EntryDocument, FirecrackerMetrics, groupEntry, inc, type DocumentEntry } from '../../src/index.js';
import { collectingWriter } from '../metrics/helpers.js';
import { Disk, fill, NIC_FIELDS, smallDocument } from './support.js';

const Nic = defineGroup('nic', { ...NIC_FIELDS, drops: inc('Packets dropped.') });

/** A meter whose every collection lands in an in-memory exporter, with cumulative temporality. */
function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval is long enough never to fire during a test: each collection is a forceFlush().
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('vmm-metrics-test');
  /** One collection: every metric exported, by name. */
  const collect = async (): Promise<Map<string, MetricData>> => {
    exporter.reset();
    await reader.forceFlush();
    const byName = new Map<string, MetricData>();
    for (const resource of exporter.getMetrics()) {
      for (const scope of resource.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    }
    return byName;
  };
  return { meter, collect, shutdown: () => provider.shutdown() };
}

function points(metric: MetricData | undefined): { attributes: Record<string, unknown>; value: unknown }[] {
  assert.ok(metric !== undefined);
  return metric.dataPoints.map((p) => ({ attributes: { ...p.attributes }, value: p.value }));
}

test('names, kinds, units, descriptions and attributes of a small document', async (t) => {
  const small = smallDocument(Nic);
  const { document } = small;
  fill(small);
  const { meter, collect, shutdown } = sdk();
  t.after(shutdown);
  const registration = registerOpenTelemetry(meter, { document, prefix: 'my', attributes: { vm: 'a' } });
  const expected: [string, 'sum' | 'gauge', string, string][] = [
    ['my.disk.read_bytes', 'sum', 'By', 'Bytes read from the backing file.'],
    ['my.disk.queue_depth', 'gauge', '{count}', 'Requests waiting in the queue.'],
    ['my.disk.boot_time', 'gauge', 's', 'Time to boot.'],
    ['my.disk.read_agg.min', 'gauge', 's', 'Duration of a read request. (least duration; 0 until one is recorded)'],
    ['my.disk.read_agg.max', 'gauge', 's', 'Duration of a read request. (greatest duration)'],
    ['my.disk.read_agg.sum', 'sum', 's', 'Duration of a read request. (sum of the durations)'],
    ['my.nic.rx_bytes_count', 'sum', 'By', 'Bytes received.'],
    ['my.nic.freed', 'sum', 'By', 'Memory freed.'],
    ['my.nic.drops', 'sum', '{count}', 'Packets dropped.'],
  ];
  assert.deepEqual(registration.names, expected.map(([name]) => name));
  const metrics = await collect();
  assert.deepEqual([...metrics.keys()], registration.names);
  for (const [name, kind, unit, description] of expected) {
    const metric = metrics.get(name);
    assert.ok(metric !== undefined, name);
    assert.equal(metric.descriptor.unit, unit, name);
    assert.equal(metric.descriptor.description, description, name);
    if (kind === 'sum') {
      assert.equal(metric.dataPointType, DataPointType.SUM, name);
      assert.equal(metric.isMonotonic, true, name);
      assert.equal(metric.aggregationTemporality, AggregationTemporality.CUMULATIVE, name);
    } else {
      assert.equal(metric.dataPointType, DataPointType.GAUGE, name);
    }
  }
  assert.deepEqual(points(metrics.get('my.disk.read_bytes')), [{ attributes: { vm: 'a' }, value: 4096 }]);
  assert.deepEqual(points(metrics.get('my.disk.queue_depth')), [{ attributes: { vm: 'a' }, value: 3 }]);
  assert.deepEqual(points(metrics.get('my.disk.boot_time')), [{ attributes: { vm: 'a' }, value: 1.25 }]);
  // The latency aggregate, in seconds.
  assert.deepEqual(points(metrics.get('my.disk.read_agg.min')), [{ attributes: { vm: 'a' }, value: 0.0005 }]);
  assert.deepEqual(points(metrics.get('my.disk.read_agg.max')), [{ attributes: { vm: 'a' }, value: 0.0015 }]);
  assert.deepEqual(points(metrics.get('my.disk.read_agg.sum')), [{ attributes: { vm: 'a' }, value: 0.002 }]);
  // One point per device, with its `device` attribute beside the given ones.
  assert.deepEqual(points(metrics.get('my.nic.rx_bytes_count')), [
    { attributes: { vm: 'a', device: 'eth0' }, value: 1500 },
    { attributes: { vm: 'a', device: 'eth1' }, value: 0 },
  ]);
  assert.deepEqual(points(metrics.get('my.nic.freed')), [
    { attributes: { vm: 'a', device: 'eth0' }, value: 0 },
    { attributes: { vm: 'a', device: 'eth1' }, value: 7 },
  ]);
});

test("Firecracker's whole document: OpenTelemetry names, a device attribute, no aggregate entries", async (t) => {
  const vm = new FirecrackerMetrics();
  vm.balloon.inflate_count.inc();
  vm.block.alloc('rootfs').read_bytes.add(512);
  vm.block.alloc('scratch').read_bytes.add(1024);
  vm.latencies_us.pause_vm.store(2_000);
  const { meter, collect, shutdown } = sdk();
  t.after(shutdown);
  const { names } = registerOpenTelemetry(meter, { document: vm, attributes: { vm: 'vm-42' } });
  for (const name of names) {
    assert.match(name, /^firecracker\.[a-z0-9_]+\.[a-z0-9_]+(\.(min|max|sum))?$/, name);
    assert.doesNotMatch(name, /_(us|ms)(\.|$)/, name);
  }
  const metrics = await collect();
  assert.deepEqual(points(metrics.get('firecracker.balloon.inflate_count')), [{ attributes: { vm: 'vm-42' }, value: 1 }]);
  assert.deepEqual(points(metrics.get('firecracker.block.read_bytes')), [
    { attributes: { vm: 'vm-42', device: 'rootfs' }, value: 512 },
    { attributes: { vm: 'vm-42', device: 'scratch' }, value: 1024 },
  ]);
  assert.equal(metrics.get('firecracker.block.read_bytes')?.descriptor.unit, 'By');
  assert.deepEqual(points(metrics.get('firecracker.latencies.pause_vm')), [{ attributes: { vm: 'vm-42' }, value: 0.002 }]);
  assert.equal(metrics.get('firecracker.latencies.pause_vm')?.descriptor.unit, 's');
});

test('counters are cumulative across JSON flushes, and collections leave the lines their deltas', async (t) => {
  const { disk, document } = smallDocument(Nic);
  const { meter, collect, shutdown } = sdk();
  t.after(shutdown);
  registerOpenTelemetry(meter, { document });
  const { metrics, out } = collectingWriter(document);
  const readBytes = async () => {
    const metric = (await collect()).get('firecracker.disk.read_bytes');
    assert.equal(metric?.aggregationTemporality, AggregationTemporality.CUMULATIVE);
    return points(metric)[0]?.value;
  };
  const lineDelta = (i: number) => (JSON.parse(out.lines[i] ?? '{}') as { disk_us: { read_bytes: number } }).disk_us.read_bytes;

  disk.read_bytes.add(100);
  assert.equal(await readBytes(), 100);
  metrics.write();
  assert.equal(await readBytes(), 100);
  disk.read_bytes.add(20);
  assert.equal(await readBytes(), 120);
  await collect();
  metrics.write();
  disk.read_bytes.add(3);
  metrics.write();
  assert.equal(await readBytes(), 123);
  assert.deepEqual([0, 1, 2].map(lineDelta), [100, 20, 3]);
  assert.equal(disk.read_bytes.count(), 123);
});

test('past 2^53: the nearest double', async (t) => {
  const { disk, document } = smallDocument(Nic);
  const big = 2n ** 60n + 3n;
  disk.read_bytes.add(big);
  disk.read_agg.recordUs(big);
  disk.queue_depth.store(2n ** 64n - 1n);
  const { meter, collect, shutdown } = sdk();
  t.after(shutdown);
  registerOpenTelemetry(meter, { document });
  const metrics = await collect();
  assert.equal(points(metrics.get('firecracker.disk.read_bytes'))[0]?.value, Number(big));
  assert.equal(Number(big), 1152921504606846976);
  assert.equal(points(metrics.get('firecracker.disk.read_agg.sum'))[0]?.value, Number(big) / 1e6);
  assert.equal(points(metrics.get('firecracker.disk.queue_depth'))[0]?.value, Number(2n ** 64n - 1n));
});

test('unregister stops reporting; another document on the same meter goes on', async (t) => {
  const first = smallDocument(Nic);
  const second = smallDocument(Nic);
  first.disk.read_bytes.add(1);
  second.nics.alloc('eth0').drops.add(2);
  const { meter, collect, shutdown } = sdk();
  t.after(shutdown);
  const registration = registerOpenTelemetry(meter, { document: first.document, prefix: 'one' });
  registerOpenTelemetry(meter, { document: second.document, prefix: 'two' });
  assert.deepEqual(points((await collect()).get('one.disk.read_bytes')), [{ attributes: {}, value: 1 }]);
  registration.unregister();
  registration.unregister();
  first.disk.read_bytes.add(1);
  const after = await collect();
  // The document is read no more: the count moved to 2, and no point says so. (The SDK's cumulative
  // storage repeats the last point of an instrument that is no longer observed: the API has no way
  // to remove an instrument from a meter.)
  assert.deepEqual(points(after.get('one.disk.read_bytes')), [{ attributes: {}, value: 1 }]);
  assert.equal(first.disk.read_bytes.count(), 2);
  assert.deepEqual(points(after.get('two.nic.drops')), [{ attributes: { device: 'eth0' }, value: 2 }]);
});

test('bad attributes, prefixes and entries that cannot be read are refused', (t) => {
  const { document } = smallDocument(Nic);
  const { meter, shutdown } = sdk();
  t.after(shutdown);
  assert.throws(() => registerOpenTelemetry(meter, { document, attributes: { device: 'x' } }), { message: 'OpenTelemetry: "device" cannot be an attribute of these metrics' });
  assert.throws(() => registerOpenTelemetry(meter, { document, prefix: '1x' }), { message: `OpenTelemetry: prefix must be '' or an instrument name, got "1x"` });
  const opaque: DocumentEntry = { shape: groupEntry(Disk, Disk.create()).shape, writeTo: () => undefined };
  assert.throws(() => registerOpenTelemetry(meter, { document: new EntryDocument([opaque]) }), {
    message: 'OpenTelemetry: the entry disk_us cannot be read at collection time (it has no groups())',
  });
});
