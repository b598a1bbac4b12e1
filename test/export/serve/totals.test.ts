/**
 * Totals rebuilt from delta lines: exact sums of u64 deltas past 2^53 and 2^64, stores as their
 * last value, device groups apart, aggregates and unknown entries left out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ServedSchema } from '../../../src/export/serve/served-schema.js';
import { VmTotals, type DeviceLimits, type UnknownMet } from '../../../src/export/serve/totals.js';
import { entryShape } from '../../../src/reader/schema.js';
import { inc, latency, store, defineGroup } from '../../../src/metrics/group.js';
import { DeviceFamily } from '../../../src/metrics/device-family.js';
import { EntryDocument, groupEntry } from '../../../src/metrics/document.js';
import type { U64 } from '../../../src/metrics/u64.js';
import { MetricsSchema } from '../../../src/reader/schema.js';
import type { MetricsRecord } from '../../../src/reader/record.js';

const Pump = defineGroup('pump', { strokes: inc('Strokes.'), pressure: store('Pressure now.'), stroke_agg: latency('A stroke.') });
const Valve = defineGroup('valve', { opens: inc('Openings.') });

function plan(limits?: DeviceLimits): { totals: VmTotals; schema: MetricsSchema; served: ServedSchema; strokes: number; pressure: number; apply: (record: MetricsRecord) => UnknownMet } {
  const document = new EntryDocument([groupEntry(Pump, Pump.create()), new DeviceFamily('valve', Valve)]);
  const schema = MetricsSchema.of(document.entries);
  const served = new ServedSchema(schema.entries.map(entryShape));
  const index = (name: string): number => served.families.find((f) => f.name === name)?.valueIndex ?? -1;
  const totals = new VmTotals(served, limits);
  const apply = (record: MetricsRecord): UnknownMet => {
    const unknown: UnknownMet = { count: 0, names: [], notServed: 0 };
    totals.applyExact(record, schema, unknown);
    return unknown;
  };
  return { totals, schema, served, strokes: index('firecracker_pump_strokes_total'), pressure: index('firecracker_pump_pressure'), apply };
}

const u64 = fc.oneof(fc.nat(1000), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(2 ** 53 - 1, 2 ** 53 - 2)).map((v): U64 => (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v));

function line(strokes: U64, pressure: U64, valves: Readonly<Record<string, U64>>): MetricsRecord {
  const groups: Record<string, unknown> = { pump: { strokes, pressure, stroke_agg: { min_us: 1, max_us: 9, sum_us: 10 } } };
  for (const [id, opens] of Object.entries(valves)) groups[`valve_${id}`] = { opens };
  groups.valve = { opens: 999 }; // the aggregate: not kept
  groups.unknown_thing = { x: 1 };
  return { utc_timestamp_ms: 1_700_000_000_000, groups: groups as MetricsRecord['groups'] };
}

test('a counter is the exact sum of its deltas, a store its last value (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(u64, u64), { minLength: 1, maxLength: 40 }), (lines) => {
      const { totals, strokes, pressure, apply } = plan();
      for (const [delta, value] of lines) apply(line(delta, value, {}));
      const pump = totals.groupsOf('pump')?.get('');
      assert.ok(pump !== undefined);
      const sum = lines.reduce((acc, [delta]) => acc + BigInt(delta), 0n);
      assert.equal(BigInt(pump.get(strokes)), sum);
      // A safe integer stays a number; a bigint only past 2^53 − 1.
      assert.equal(typeof pump.get(strokes), sum <= BigInt(Number.MAX_SAFE_INTEGER) ? 'number' : 'bigint');
      const last = (lines.at(-1) as [U64, U64])[1];
      assert.equal(pump.get(pressure), last);
    }),
    { numRuns: 300 },
  );
});

test('each device has its own totals; the aggregate and unknown entries are left out (and counted)', () => {
  const { totals, apply } = plan();
  assert.deepEqual(apply(line(1, 5, { a: 2, b: 3 })), { count: 1, names: ['unknown_thing.x'], notServed: 1 });
  apply(line(1, 6, { a: 10 }));
  const valves = totals.groupsOf('valve');
  assert.ok(valves !== undefined);
  assert.deepEqual([...valves.keys()], ['a', 'b']);
  assert.equal(valves.get('a')?.get(0), 12);
  assert.equal(valves.get('b')?.get(0), 3);
  assert.equal(valves.get('a')?.deviceLabel, ',device="a"');
  assert.equal(valves.get(''), undefined);
  assert.equal(totals.groupsOf('unknown_thing'), undefined);
});

test('fields and members the schema does not know (kept in a valid record) are read by name, not by place', () => {
  const { totals, strokes, pressure, apply } = plan();
  // The values in declared order: strokes, pressure, then stroke_agg's min_us, max_us, sum_us.
  const [min, sum] = [pressure + 1, pressure + 3];
  const record = (group: Record<string, unknown>): MetricsRecord => ({ utc_timestamp_ms: 1_700_000_000_000, groups: { pump: group } as MetricsRecord['groups'] });
  apply(record({ strokes: 2, pressure: 7, stroke_agg: { min_us: 1, max_us: 9, sum_us: 10, extra_us: 99 } }));
  assert.equal(apply(record({ strokes: 3, extra: 1000, pressure: 8, stroke_agg: { min_us: 2, max_us: 5, sum_us: 7 } })).count, 1);
  apply(record({ strokes: 4, pressure: 9, stroke_agg: { min_us: 3, max_us: 4, sum_us: 7 } }));
  const pump = totals.groupsOf('pump')?.get('');
  assert.equal(pump?.get(strokes), 9);
  assert.equal(pump.get(pressure), 9);
  assert.equal(pump.get(sum), 24);
  assert.equal(pump.get(min), 3); // a store: the last line's
});

test('a field no schema declares, folded by name, is served as a counter of its own (a latency object as an aggregate), bounded', () => {
  const { totals, schema, served } = plan();
  const before = served.families.length;
  const unknown: UnknownMet = { count: 0, names: [], notServed: 0 };
  const record = (groups: Record<string, unknown>): MetricsRecord => ({ utc_timestamp_ms: 1_700_000_000_000, groups: groups as MetricsRecord['groups'] });
  totals.applyByName(record({ pump: { strokes: 1, new_count: 4 }, gauge: { hits: 2, wait_agg: { min_us: 1, max_us: 3, sum_us: 4 } }, 'Bad-Key': { x: 1 } }), schema, true, unknown);
  totals.applyByName(record({ pump: { new_count: 5 }, valve_v1: { opens: 1, shuts: 2 } }), schema, true, unknown);
  assert.deepEqual(
    served.families.slice(before).map((f) => `${f.name} ${f.type}`),
    [
      'firecracker_pump_new_count_total counter',
      'firecracker_gauge_hits_total counter',
      'firecracker_gauge_wait_agg_min_seconds gauge',
      'firecracker_gauge_wait_agg_max_seconds gauge',
      'firecracker_gauge_wait_agg_seconds_total counter',
      'firecracker_valve_shuts_total counter',
    ],
  );
  assert.equal(unknown.count, 6);
  assert.equal(unknown.notServed, 1, 'Bad-Key.x: no family name');
  const place = (name: string): number => served.families.find((f) => f.name === name)?.valueIndex ?? -1;
  const pump = totals.groupsOf('pump')?.get('');
  assert.equal(pump?.get(place('firecracker_pump_new_count_total')), 9);
  // strokes was in the first line only; pressure in none: not served for this VM.
  assert.ok(pump.has(place('firecracker_pump_strokes_total')));
  assert.ok(!pump.has(place('firecracker_pump_pressure')));
  assert.equal(totals.groupsOf('gauge')?.get('')?.get(place('firecracker_gauge_wait_agg_seconds_total')), 4);
  assert.equal(totals.groupsOf('valve')?.get('v1')?.get(place('firecracker_valve_shuts_total')), 2);
});

test('at most MAX_UNKNOWN_FIELDS fields no schema declares are served, whatever a writer sends', () => {
  const { totals, schema, served } = plan();
  const unknown: UnknownMet = { count: 0, names: [], notServed: 0 };
  for (let i = 0; i < 1100; i++) {
    totals.applyByName({ utc_timestamp_ms: 1_700_000_000_000, groups: { [`junk_${i}`]: { a: 1 } } }, schema, true, unknown);
  }
  assert.equal(served.unknownServed, 1024);
  assert.equal(unknown.count, 1100);
  assert.equal(unknown.notServed, 76);
  assert.equal(served.entries.size, 2 + 1024);
});

test('device limits hold whichever way a line is folded: refused every line (not remembered), forgotten with their cached targets', () => {
  const { totals, schema, served, apply } = plan({ maxDeviceIdLength: 4, maxDevices: 2, forgetAfterLines: 3 });
  const opens = served.families.find((f) => f.name === 'firecracker_valve_opens_total')?.valueIndex ?? -1;
  const valves = (): string[] => [...(totals.groupsOf('valve')?.keys() ?? [])];
  // By position (a line exactly the schema's): v1 and v2 held, a third and a long id refused.
  apply(line(1, 1, { v1: 1, v2: 1, v3: 1, toolong: 1 }));
  apply(line(1, 1, { v1: 1, v2: 1, v3: 1, toolong: 1 }));
  assert.deepEqual(valves(), ['v1', 'v2']);
  assert.deepEqual(totals.refused, { id_too_long: 2, too_many: 2 });
  assert.equal(totals.devices, 2);
  // By name (a field no schema declares in the group): the same bounds.
  const unknown: UnknownMet = { count: 0, names: [], notServed: 0 };
  const byName = (ids: readonly string[]): void => {
    const groups = Object.fromEntries(ids.map((id) => [`valve_${id}`, { opens: 1, shuts: 1 }]));
    totals.applyByName({ utc_timestamp_ms: 1, groups }, schema, true, unknown);
  };
  byName(['v1', 'v4', 'longer']);
  assert.deepEqual(totals.refused, { id_too_long: 3, too_many: 3 });
  assert.equal(totals.groupsOf('valve')?.get('v1')?.get(opens), 3);
  // v2 was carried by the first two lines only: the third line after them without it forgets it, and v4 then fits.
  apply(line(1, 1, { v1: 1 }));
  assert.deepEqual(valves(), ['v1', 'v2']);
  apply(line(1, 1, { v1: 1 }));
  assert.deepEqual(valves(), ['v1']);
  assert.equal(totals.forgotten, 1);
  byName(['v4']);
  apply(line(1, 1, { v1: 1, v4: 1 }));
  assert.deepEqual(valves(), ['v1', 'v4']);
  // v2 back, with the target its key had cached dropped: a fresh device from zero, not refused (v4 forgotten first).
  for (let i = 0; i < 3; i++) apply(line(1, 1, { v1: 1 }));
  assert.deepEqual(valves(), ['v1']);
  apply(line(1, 1, { v1: 1, v2: 5 }));
  assert.equal(totals.groupsOf('valve')?.get('v2')?.get(opens), 5);
  assert.equal(totals.groupsOf('valve')?.get('v1')?.get(opens), 10);
  assert.equal(totals.forgotten, 2);
});
