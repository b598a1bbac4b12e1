import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { registerOpenTelemetry } from '../../src/export/otel.js';
import { defineGroup, DeviceFamily, EntryDocument, FirecrackerMetrics, groupEntry, inc, type DocumentEntry } from '../../src/index.js';
import { collectingWriter } from '../metrics/helpers.js';
import { Disk, fill, NIC_FIELDS, smallDocument } from './support.js';

const Nic = defineGroup('nic', { ...NIC_FIELDS, drops: inc('Packets dropped.') });

/** A meter whose every collection lands in an in-memory exporter, with cumulative temporality. */
function sdk(views: ViewOptions[] = []) {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval is long enough never to fire during a test: each collection is a forceFlush().
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader], views });
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

describe('the SDK\'s cardinality limit', () => {
  // Block drives alone: the whole Firecracker document would give the SDK 25 instruments a drive
  // to aggregate, and seconds of work that show nothing more of the limit.
  const Drive = defineGroup('block', { read_bytes: inc('Bytes read.') });
  function drives(count: number): EntryDocument {
    const family = new DeviceFamily('block', Drive);
    for (let i = 1; i <= count; i++) family.alloc(`drive-${i}`).read_bytes.add(i);
    return new EntryDocument([family]);
  }
  const DRIVES = 10_000;
  const TOTAL = (DRIVES * (DRIVES + 1)) / 2;

  function total(metric: MetricData | undefined): number {
    return points(metric).reduce((sum, p) => sum + (p.value as number), 0);
  }

  test('with the default limit, 10,000 drives lose their points to one overflow point: the registration warns once, naming the instrument', async (t) => {
    const { meter, collect, shutdown } = sdk();
    t.after(shutdown);
    const warnings: string[] = [];
    registerOpenTelemetry(meter, { document: drives(DRIVES), onWarning: (message) => warnings.push(message) });
    const exported = points((await collect()).get('firecracker.block.read_bytes'));
    await collect();
    // What the SDK does past its limit, which is why the warning exists.
    assert.equal(exported.length, 2000);
    assert.equal(exported.filter((p) => p.attributes['otel.metric.overflow'] === true).length, 1);
    assert.equal(warnings.length, 1, 'once, however many collections and instruments');
    assert.match(warnings[0] ?? '', /^OpenTelemetry: firecracker\.block\.read_bytes has 10000 attribute sets on this meter, and a cardinality limit of 2000 keeps 1999: /);
    assert.match(warnings[0] ?? '', /aggregationCardinalityLimit: N/);
  });

  test('with the limit raised by a View and told to the registration, 10,000 drives are exported exactly and nothing is said', async (t) => {
    const limit = DRIVES + 1;
    const { meter, collect, shutdown } = sdk([{ instrumentName: 'firecracker.*', aggregationCardinalityLimit: limit }]);
    t.after(shutdown);
    const warnings: string[] = [];
    registerOpenTelemetry(meter, { document: drives(DRIVES), cardinalityLimit: limit, onWarning: (message) => warnings.push(message) });
    const metrics = await collect();
    const exported = points(metrics.get('firecracker.block.read_bytes'));
    assert.equal(exported.length, DRIVES, 'one point per drive (the block aggregate is not exported)');
    assert.equal(exported.filter((p) => 'otel.metric.overflow' in p.attributes).length, 0);
    assert.equal(new Set(exported.map((p) => p.attributes.device)).size, DRIVES);
    assert.equal(total(metrics.get('firecracker.block.read_bytes')), TOTAL);
    assert.deepEqual(warnings, []);
  });

  test('1,000 VMs of 2 drives on one meter reach the default limit together: one warning for the meter; the same VM registered again counts once', async (t) => {
    const { meter, collect, shutdown } = sdk();
    t.after(shutdown);
    const warnings: string[] = [];
    const onWarning = (message: string): void => {
      warnings.push(message);
    };
    for (let vm = 1; vm < 1000; vm++) registerOpenTelemetry(meter, { document: drives(2), attributes: { vm: `vm-${vm}` }, onWarning });
    await collect();
    assert.equal(warnings.length, 0, '999 VMs: 1,998 sets, under the 1,999 kept');
    registerOpenTelemetry(meter, { document: drives(2), attributes: { vm: 'vm-999' }, onWarning }).unregister();
    registerOpenTelemetry(meter, { document: drives(2), attributes: { vm: 'vm-1' }, onWarning });
    await collect();
    assert.equal(warnings.length, 0, 'registered again under the same attributes: the same sets');
    registerOpenTelemetry(meter, { document: drives(2), attributes: { vm: 'vm-1000' }, onWarning });
    await collect();
    await collect();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', / has 2000 attribute sets on this meter, and a cardinality limit of 2000 keeps 1999/);
  });

  test('a cardinality limit that is not a whole number of at least 1 is refused', (t) => {
    const { meter, shutdown } = sdk();
    t.after(shutdown);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => registerOpenTelemetry(meter, { document: drives(1), cardinalityLimit: bad }), { message: `OpenTelemetry: cardinalityLimit must be a whole number of at least 1, got ${String(bad)}` });
    }
  });
});
