import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import {
  defineGroup,
  DeviceFamily,
  EntryDocument,
  inc,
  latency,
  Metrics,
  store,
  type GroupFields,
  type GroupOf,
} from '../../src/index.js';
import { byUtf8, parseLine, type JsonObject } from '../devices/support/ordered-json.js';

const U64_MAX = (1n << 64n) - 1n;
const wrap = (value: bigint): bigint => value & U64_MAX;

const Disk = defineGroup('disk', {
  ops: inc('Operations.'),
  bytes_moved: inc('Bytes moved.'),
  depth: store('Queue depth.'),
  op_agg: latency('Duration of operations.'),
});
type Disk = GroupOf<typeof Disk>;
type Counter = 'ops' | 'bytes_moved';

/** One device's values in a line, flattened: ops, bytes_moved, depth, min_us, max_us, sum_us. */
function valuesOf(entry: JsonObject): bigint[] {
  assert.deepEqual(entry.keys(), ['ops', 'bytes_moved', 'depth', 'op_agg']);
  const agg = entry.object('op_agg');
  assert.deepEqual(agg.keys(), ['min_us', 'max_us', 'sum_us']);
  return [
    entry.integer('ops'),
    entry.integer('bytes_moved'),
    entry.integer('depth'),
    agg.integer('min_us'),
    agg.integer('max_us'),
    agg.integer('sum_us'),
  ];
}

/** The aggregate of device rows as the spec defines it, computed here from the line alone. */
function aggregateOf(rows: readonly bigint[][]): bigint[] {
  let [ops, bytes, depth, min, max, sum] = [0n, 0n, 0n, 0n, 0n, 0n];
  for (const [o = 0n, b = 0n, d = 0n, mn = 0n, mx = 0n, s = 0n] of rows) {
    ops = wrap(ops + o);
    bytes = wrap(bytes + b);
    sum = wrap(sum + s);
    if (d > depth) depth = d;
    if (mx > max) max = mx;
    if (mn !== 0n && (min === 0n || mn < min)) min = mn;
  }
  return [ops, bytes, depth, min, max, sum];
}

/** Checks a line's device entries and aggregate; returns the device rows by id. */
function checkLine(line: JsonObject, prefix: string): Map<string, bigint[]> {
  const keys = line.keys();
  assert.equal(keys[0], 'utc_timestamp_ms');
  assert.equal(keys.at(-1), prefix, 'the aggregate comes last');
  const deviceKeys = keys.slice(1, -1);
  const rows = new Map<string, bigint[]>();
  for (const key of deviceKeys) {
    assert.ok(key.startsWith(`${prefix}_`), key);
    rows.set(key.slice(prefix.length + 1), valuesOf(line.object(key)));
  }
  assert.deepEqual([...rows.keys()], byUtf8(rows.keys()), 'devices in UTF-8 byte order of their ids');
  assert.deepEqual(valuesOf(line.object(prefix)), aggregateOf([...rows.values()]), 'aggregate = Σ devices');
  return rows;
}

const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-family-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let files = 0;

/** A writer of `family` alone on a new temporary file; `flush()` writes and returns the line. */
function fileWriter<F extends GroupFields>(family: DeviceFamily<F>): { flush(): JsonObject; close(): void } {
  const path = join(dir, `run-${files++}.json`);
  const metrics = new Metrics(new EntryDocument([family]));
  metrics.init(path, { flushIntervalMs: 0 });
  let read = 0;
  return {
    flush(): JsonObject {
      assert.equal(metrics.write(), true);
      const text = readFileSync(path, 'utf8');
      const raw = text.slice(read, -1);
      read = text.length;
      assert.ok(!raw.includes('\n'), 'one line per write');
      return parseLine(raw);
    },
    close(): void {
      metrics.close();
    },
  };
}

/** Device ids, odd ones included: quotes, backslashes, control characters, non-ASCII, astral. */
const idArb = fc.oneof(
  fc.constantFrom('"', '\\', '\n', '\u0000', '\u007f', 'é', 'e\u0301', '😀', '</script>', ' ', 'a"b\\c', '__proto__', '0', '10', '9'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 4 }),
);

const amountArb = fc.oneof(fc.nat(1000).map(BigInt), fc.bigInt(0n, U64_MAX));
const latencyArb = fc.oneof(fc.nat(5000).map(BigInt), fc.bigInt(0n, 1n << 62n));

type Command =
  | { readonly op: 'inc'; readonly dev: number; readonly field: Counter }
  | { readonly op: 'add'; readonly dev: number; readonly field: Counter; readonly amount: bigint }
  | { readonly op: 'store'; readonly dev: number; readonly value: bigint }
  | { readonly op: 'latency'; readonly dev: number; readonly us: bigint }
  | { readonly op: 'alloc'; readonly dev: number }
  | { readonly op: 'remove'; readonly dev: number }
  | { readonly op: 'flush' };

function commandArb(devices: number): fc.Arbitrary<Command> {
  const dev = fc.nat(devices - 1);
  const field = fc.constantFrom<Counter>('ops', 'bytes_moved');
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('inc' as const), dev, field }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('add' as const), dev, field, amount: amountArb }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('store' as const), dev, value: amountArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('latency' as const), dev, us: latencyArb }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('alloc' as const), dev }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), dev }) },
    { weight: 2, arbitrary: fc.constant({ op: 'flush' as const }) },
  );
}

const workloadArb = fc
  .uniqueArray(idArb, { minLength: 1, maxLength: 5 })
  .chain((ids) => fc.tuple(fc.constant(ids), fc.array(commandArb(ids.length), { maxLength: 60 })));

/** What the test expects of one device the family holds: its group and the values its next line carries. */
interface ModelDevice {
  readonly group: Disk;
  ops: bigint;
  bytes: bigint;
  depth: bigint;
  min: bigint;
  max: bigint;
  sum: bigint;
  removed: boolean;
}

const hasDelta = (d: ModelDevice): boolean => d.ops !== 0n || d.bytes !== 0n || d.sum !== 0n;

test('property: every line holds the devices held, sorted; aggregate = Σ devices; removed ones are released once written', () => {
  fc.assert(
    fc.property(workloadArb, ([ids, commands]) => {
      const family = new DeviceFamily('disk', Disk);
      const writer = fileWriter(family);
      // The devices the family holds: present ones, and removed ones whose last deltas are not out.
      const model = new Map<string, ModelDevice>();
      const everHeld = new Set<Disk>();
      try {
        const alloc = (id: string): ModelDevice => {
          const group = family.alloc(id);
          const known = model.get(id);
          if (known !== undefined) {
            assert.equal(group, known.group, 'the same id gives the same group until it is released');
            known.removed = false;
            return known;
          }
          assert.ok(!everHeld.has(group), 'a released id gets a fresh group');
          everHeld.add(group);
          const device: ModelDevice = { group, ops: 0n, bytes: 0n, depth: 0n, min: 0n, max: 0n, sum: 0n, removed: false };
          model.set(id, device);
          return device;
        };
        for (const command of commands) {
          if (command.op === 'flush') {
            const rows = checkLine(writer.flush(), 'disk');
            const expected = new Map(byUtf8([...model.keys()]).map((id) => {
              const d = model.get(id) as ModelDevice;
              return [id, [d.ops, d.bytes, d.depth, d.min, d.max, d.sum]];
            }));
            assert.deepEqual(rows, expected);
            for (const [id, device] of model) {
              device.ops = 0n;
              device.bytes = 0n;
              device.sum = 0n;
              if (device.removed) model.delete(id);
            }
            assert.equal(family.size, model.size, 'removed devices are released after the line that carried them');
            continue;
          }
          const id = ids[command.dev] ?? '';
          if (command.op === 'alloc') {
            alloc(id);
          } else if (command.op === 'remove') {
            const known = model.get(id);
            assert.equal(family.remove(id), known !== undefined && !known.removed);
            if (known && !known.removed) {
              known.removed = true;
              if (!hasDelta(known)) model.delete(id);
            }
          } else {
            // Device code that still holds a removed device's group counts into it until it is released.
            const device = model.get(id) ?? alloc(id);
            const group = device.group;
            if (command.op === 'inc') {
              group[command.field].inc();
              if (command.field === 'ops') device.ops = wrap(device.ops + 1n);
              else device.bytes = wrap(device.bytes + 1n);
            } else if (command.op === 'add') {
              group[command.field].add(command.amount);
              if (command.field === 'ops') device.ops = wrap(device.ops + command.amount);
              else device.bytes = wrap(device.bytes + command.amount);
            } else if (command.op === 'store') {
              group.depth.store(command.value);
              device.depth = command.value;
            } else {
              group.op_agg.recordUs(command.us);
              device.sum = wrap(device.sum + command.us);
              if (command.us !== 0n && (device.min === 0n || command.us < device.min)) device.min = command.us;
              if (command.us > device.max) device.max = command.us;
            }
          }
          assert.deepEqual(
            family.ids(),
            byUtf8([...model].filter(([, d]) => !d.removed).map(([id]) => id)),
            'ids() lists the present devices in entry order',
          );
          assert.equal(family.size, model.size);
        }
        checkLine(writer.flush(), 'disk');
      } finally {
        writer.close();
      }
    }),
    { numRuns: 150 },
  );
});

test('property: a device key is escaped correctly whatever its id', () => {
  fc.assert(
    fc.property(idArb, fc.nat(1000), (id, count) => {
      const family = new DeviceFamily('disk', Disk);
      family.alloc(id).ops.add(count);
      const metrics = new Metrics(new EntryDocument([family]));
      const parsed = JSON.parse(metrics.render()) as Record<string, unknown>;
      const entry = Object.getOwnPropertyDescriptor(parsed, `disk_${id}`)?.value as { ops: number } | undefined;
      assert.ok(entry !== undefined, `no key for id ${JSON.stringify(id)}`);
      assert.equal(entry.ops, count);
      assert.deepEqual(Object.keys(parsed), ['utc_timestamp_ms', `disk_${id}`, 'disk']);
    }),
    { numRuns: 300 },
  );
});

test('property: an id must be a non-empty string, and the error says so', () => {
  const family = new DeviceFamily('disk', Disk);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.anything().filter((v) => typeof v !== 'string'),
        fc.constant(''),
      ),
      (bad) => {
        assert.throws(() => family.alloc(bad as string), (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, /^disk: a device id must be a non-empty string, got /);
          assert.ok(error.message.endsWith(bad === '' ? 'an empty string' : typeof bad), error.message);
          return true;
        });
      },
    ),
  );
  assert.deepEqual(family.ids(), [], 'a rejected id allocates nothing');
});

test('property: alloc(id) returns the same group for the same id, whatever happens in between', () => {
  fc.assert(
    fc.property(fc.uniqueArray(idArb, { minLength: 1, maxLength: 6 }), fc.array(fc.tuple(fc.nat(5), fc.boolean())), (ids, steps) => {
      const family = new DeviceFamily('disk', Disk);
      const metrics = new Metrics(new EntryDocument([family]));
      const first = new Map(ids.map((id) => [id, family.alloc(id)]));
      for (const [index, render] of steps) {
        const id = ids[index % ids.length] ?? '';
        const group = family.alloc(id);
        assert.equal(group, first.get(id));
        group.ops.inc();
        if (render) metrics.render();
      }
      assert.deepEqual(family.ids(), byUtf8(ids));
      for (const id of ids) assert.ok(Disk.owns(family.alloc(id)));
    }),
  );
});

test('property: a removed device carries its last deltas in the next line, then disappears', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(idArb, { minLength: 2, maxLength: 5 }),
      fc.nat(4),
      fc.bigInt(1n, U64_MAX),
      fc.nat(3),
      (ids, pick, amount, latencyUs) => {
        const family = new DeviceFamily('disk', Disk);
        const writer = fileWriter(family);
        try {
          for (const id of ids) family.alloc(id).ops.inc();
          const gone = ids[pick % ids.length] ?? '';
          writer.flush();
          const group = family.alloc(gone);
          group.bytes_moved.add(amount);
          group.op_agg.recordUs(latencyUs + 1);
          assert.equal(family.remove(gone), true);
          assert.equal(family.remove(gone), false, 'removing twice changes nothing');
          const last = checkLine(writer.flush(), 'disk');
          assert.deepEqual(last.get(gone), [0n, amount, 0n, BigInt(latencyUs + 1), BigInt(latencyUs + 1), BigInt(latencyUs + 1)]);
          assert.equal(last.size, ids.length);
          const next = checkLine(writer.flush(), 'disk');
          assert.equal(next.has(gone), false);
          assert.deepEqual([...next.keys()], byUtf8(ids.filter((id) => id !== gone)));
          assert.equal(family.remove(gone), false);
        } finally {
          writer.close();
        }
      },
    ),
  );
});

test('property: aggregate latency min is the least set device minimum, max the greatest maximum', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(idArb, { minLength: 1, maxLength: 5 }).chain((ids) =>
        fc.tuple(fc.constant(ids), fc.array(fc.array(fc.nat(100_000), { maxLength: 4 }), { minLength: ids.length, maxLength: ids.length })),
      ),
      ([ids, samples]) => {
        const family = new DeviceFamily('disk', Disk);
        ids.forEach((id, i) => {
          for (const us of samples[i] ?? []) family.alloc(id).op_agg.recordUs(us);
          family.alloc(id);
        });
        const metrics = new Metrics(new EntryDocument([family]));
        const line = parseLine(metrics.render());
        const aggregate = line.object('disk').object('op_agg');
        const minima = samples.map((s) => s.filter((us) => us !== 0)).filter((s) => s.length > 0).map((s) => Math.min(...s));
        const maxima = samples.map((s) => Math.max(0, ...s));
        assert.equal(aggregate.integer('min_us'), BigInt(minima.length === 0 ? 0 : Math.min(...minima)));
        assert.equal(aggregate.integer('max_us'), BigInt(Math.max(0, ...maxima)));
        assert.equal(aggregate.integer('sum_us'), BigInt(samples.flat().reduce((a, b) => a + b, 0)));
      },
    ),
  );
});

test('a family without aggregate writes only the devices', () => {
  const family = new DeviceFamily('disk', Disk, { aggregate: false });
  family.alloc('b').ops.inc();
  family.alloc('a');
  const line = parseLine(new Metrics(new EntryDocument([family])).render());
  assert.deepEqual(line.keys(), ['utc_timestamp_ms', 'disk_a', 'disk_b']);
  const empty = new DeviceFamily('disk', Disk);
  assert.deepEqual(parseLine(new Metrics(new EntryDocument([empty])).render()).keys(), ['utc_timestamp_ms', 'disk']);
});

test('a removed device with no delta to write is released at once; one with deltas after its last line', () => {
  const family = new DeviceFamily('disk', Disk);
  const writer = fileWriter(family);
  try {
    family.alloc('a').depth.store(412);
    writer.flush();
    family.remove('a');
    assert.equal(family.size, 0, 'a store is written in every line: nothing is owed');
    assert.equal(checkLine(writer.flush(), 'disk').has('a'), false);
    family.alloc('b').ops.add(3);
    family.remove('b');
    assert.equal(family.size, 1);
    assert.equal(checkLine(writer.flush(), 'disk').get('b')?.[0], 3n);
    assert.equal(family.size, 0);
  } finally {
    writer.close();
  }
});

test('render() leaves removed devices as they are', () => {
  const family = new DeviceFamily('disk', Disk);
  const metrics = new Metrics(new EntryDocument([family]));
  const a = family.alloc('a');
  a.ops.inc();
  family.remove('a');
  for (let i = 0; i < 3; i++) assert.deepEqual(parseLine(metrics.render()).keys(), ['utc_timestamp_ms', 'disk_a', 'disk']);
  assert.equal(a.ops.fetchDiff(), 1);
});

test('re-plugged before its last line, a device gets its group back; after, a fresh one', () => {
  const family = new DeviceFamily('disk', Disk);
  const writer = fileWriter(family);
  try {
    const a = family.alloc('rootfs');
    a.ops.add(5);
    family.remove('rootfs');
    assert.equal(family.alloc('rootfs'), a, 'nothing is lost: the same group goes on');
    family.remove('rootfs');
    const last = checkLine(writer.flush(), 'disk');
    assert.equal(last.get('rootfs')?.[0], 5n);
    assert.equal(checkLine(writer.flush(), 'disk').has('rootfs'), false, 'released after the line that carried it');
    const again = family.alloc('rootfs');
    assert.notEqual(again, a, 'released: a fresh group');
    assert.equal(again.ops.count(), 0);
    again.ops.inc();
    assert.equal(checkLine(writer.flush(), 'disk').get('rootfs')?.[0], 1n);
    assert.deepEqual(family.ids(), ['rootfs']);
  } finally {
    writer.close();
  }
});

test('a family in shared memory: a view from the buffer counts into the same line', () => {
  const family = new DeviceFamily('disk', Disk);
  family.useSharedMemory();
  const a = family.alloc('a');
  const view = Disk.createShared('disk_a', family.sharedBuffer('a'));
  view.ops.add(3);
  a.ops.inc();
  assert.equal(parseLine(new Metrics(new EntryDocument([family])).render()).object('disk_a').integer('ops'), 4n);
  assert.throws(() => {
    family.useSharedMemory();
  }, /disk: shared memory must be chosen before the first device is allocated/);
  assert.throws(() => family.sharedBuffer('b'), /disk: no device "b"/);
  const local = new DeviceFamily('disk', Disk);
  local.alloc('x');
  assert.throws(() => local.sharedBuffer('x'), /not in shared memory/);
});
