import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { defineGroup, groupEntry, inc, latency, Metrics, store, type U64 } from '../../src/index.js';
import { collectingWriter } from './helpers.js';

const Disk = defineGroup('disk', {
  read_bytes: inc('Bytes read.'),
  read_count: inc('Reads.'),
  read_agg: latency('Duration of reads.'),
  queue_depth: store('Requests in the queue.'),
  boot_ms: store('Boot time.'),
  init_time_us: store('Init time.'),
  tx_bytes_count: inc('Bytes sent.'),
  freed: inc('Memory freed.', { unit: 'bytes' }),
});

test('a group serializes in declaration order, latency nested', () => {
  const disk = Disk.create();
  disk.read_bytes.add(4096);
  disk.read_count.inc();
  disk.read_agg.recordUs(12);
  disk.queue_depth.store(2n ** 64n - 1n);
  assert.equal(
    Disk.serialize(disk),
    '{"read_bytes":4096,"read_count":1,"read_agg":{"min_us":12,"max_us":12,"sum_us":12},' +
      '"queue_depth":18446744073709551615,"boot_ms":0,"init_time_us":0,"tx_bytes_count":0,"freed":0}',
  );
});

test('units and help come from the one declaration', () => {
  assert.deepEqual(
    Disk.fields.map((f) => [f.name, f.kind, f.unit]),
    [
      ['read_bytes', 'inc', 'bytes'],
      ['read_count', 'inc', 'count'],
      ['read_agg', 'latency', 'microseconds'],
      ['queue_depth', 'store', 'count'],
      ['boot_ms', 'store', 'milliseconds'],
      ['init_time_us', 'store', 'microseconds'],
      ['tx_bytes_count', 'inc', 'bytes'],
      ['freed', 'inc', 'bytes'],
    ],
  );
  assert.deepEqual(
    Disk.values.filter((v) => v.field === 'read_agg').map((v) => [v.member, v.kind, v.aggregation]),
    [
      ['min_us', 'store', 'min'],
      ['max_us', 'store', 'max'],
      ['sum_us', 'inc', 'sum'],
    ],
  );
  assert.equal(Disk.fields[0]?.help, 'Bytes read.');
});

test('a field name that is not a wire name is refused at declaration', () => {
  assert.throws(() => defineGroup('g', { readBytes: inc('x') }), /Metric group g: field name "readBytes" is not a lowercase wire name/);
  assert.throws(() => defineGroup('g', { 'a"b': inc('x') }), /is not a lowercase wire name/);
});

test('an empty group serializes as {}', () => {
  const Empty = defineGroup('empty', {});
  assert.equal(Empty.serialize(Empty.create()), '{}');
});

test('a shared instance and its view in the same buffer are the same metrics', () => {
  const disk = Disk.createShared();
  const buffer = Disk.sharedBuffer(disk);
  assert.equal(buffer.byteLength, Disk.sharedByteLength);
  const view = Disk.createShared('disk', buffer);
  view.read_count.add(5);
  view.read_agg.recordUs(3);
  view.queue_depth.store(9);
  assert.equal(disk.read_count.count(), 5);
  assert.equal(Disk.serialize(disk), Disk.serialize(view));
  collectingWriter([groupEntry(Disk, disk)]).metrics.write();
  assert.equal(view.read_count.fetchDiff(), 0, 'a flush in one thread commits for every view');
});

test('shared memory of the wrong size or kind is refused', () => {
  assert.throws(() => Disk.createShared('disk', new SharedArrayBuffer(8)), /Metric group disk: expected a SharedArrayBuffer of \d+ bytes, got one of 8 bytes/);
  assert.throws(
    () => Disk.createShared('disk', new ArrayBuffer(Disk.sharedByteLength) as unknown as SharedArrayBuffer),
    /got an ArrayBuffer, which threads cannot share/,
  );
  assert.throws(() => Disk.sharedBuffer(Disk.create()), /not in shared memory/);
});

test('a group from another schema is refused', () => {
  const Other = defineGroup('disk', { read_count: inc('x') });
  assert.throws(() => Disk.serialize(Other.create() as never), /Metric group disk: not an instance of this group/);
});

test('aggregation: counters add up, minimum is the least set one, maximum the greatest', () => {
  const a = Disk.create();
  const b = Disk.create();
  a.read_count.add(2);
  b.read_count.add(3n);
  b.read_bytes.add(2n ** 63n);
  a.read_bytes.add(2n ** 63n + 1n); // the sum wraps modulo 2^64, as AtomicU64 adds do
  a.read_agg.recordUs(50);
  b.read_agg.recordUs(0);
  b.read_agg.recordUs(70);
  b.queue_depth.store(4);
  a.queue_depth.store(1);
  const rows: U64[][] = [];
  new Metrics({
    appendTo: (line) => {
      rows.push(line.takeRow(Disk, a), line.takeRow(Disk, b));
    },
  }).render();
  assert.equal(
    Disk.format(Disk.aggregate(rows)),
    '{"read_bytes":1,"read_count":5,"read_agg":{"min_us":50,"max_us":70,"sum_us":120},' +
      '"queue_depth":4,"boot_ms":0,"init_time_us":0,"tx_bytes_count":0,"freed":0}',
  );
});

test('format renders any u64 row exactly (property)', () => {
  const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  fc.assert(
    fc.property(fc.array(u64, { minLength: Disk.values.length, maxLength: Disk.values.length }), (row) => {
      const json = Disk.format(row.map((v) => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v)));
      const digits = [...json.matchAll(/:(\d+)/g)].map((m) => BigInt(m[1] as string));
      assert.deepEqual(digits, row);
      JSON.parse(json);
    }),
  );
});
