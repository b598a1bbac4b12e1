/**
 * Totals rebuilt from delta lines: exact sums of u64 deltas past 2^53 and 2^64, stores as their
 * last value, device groups apart, aggregates and unknown entries left out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prometheusFamilies } from '../../../src/export/names.js';
import { totalsPlan, VmTotals } from '../../../src/export/serve/totals.js';
import { inc, latency, store, defineGroup } from '../../../src/metrics/group.js';
import { DeviceFamily } from '../../../src/metrics/device-family.js';
import { EntryDocument, groupEntry } from '../../../src/metrics/document.js';
import type { U64 } from '../../../src/metrics/u64.js';
import { MetricsSchema } from '../../../src/reader/schema.js';
import type { MetricsRecord } from '../../../src/reader/record.js';

const Pump = defineGroup('pump', { strokes: inc('Strokes.'), pressure: store('Pressure now.'), stroke_agg: latency('A stroke.') });
const Valve = defineGroup('valve', { opens: inc('Openings.') });

function plan(): { totals: VmTotals; strokes: number; pressure: number } {
  const document = new EntryDocument([groupEntry(Pump, Pump.create()), new DeviceFamily('valve', Valve)]);
  const schema = MetricsSchema.of(document.entries);
  const families = prometheusFamilies(document.entries);
  const index = (name: string): number => families.find((f) => f.name === name)?.valueIndex ?? -1;
  return { totals: new VmTotals(totalsPlan(schema, families)), strokes: index('firecracker_pump_strokes_total'), pressure: index('firecracker_pump_pressure') };
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
      const { totals, strokes, pressure } = plan();
      for (const [delta, value] of lines) totals.apply(line(delta, value, {}));
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

test('each device has its own totals; the aggregate and unknown entries are left out', () => {
  const { totals } = plan();
  totals.apply(line(1, 5, { a: 2, b: 3 }));
  totals.apply(line(1, 6, { a: 10 }));
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
  const { totals, strokes, pressure } = plan();
  // The values in declared order: strokes, pressure, then stroke_agg's min_us, max_us, sum_us.
  const [min, sum] = [pressure + 1, pressure + 3];
  const record = (group: Record<string, unknown>): MetricsRecord => ({ utc_timestamp_ms: 1_700_000_000_000, groups: { pump: group } as MetricsRecord['groups'] });
  totals.apply(record({ strokes: 2, pressure: 7, stroke_agg: { min_us: 1, max_us: 9, sum_us: 10, extra_us: 99 } }));
  totals.apply(record({ strokes: 3, extra: 1000, pressure: 8, stroke_agg: { min_us: 2, max_us: 5, sum_us: 7 } }));
  totals.apply(record({ strokes: 4, pressure: 9, stroke_agg: { min_us: 3, max_us: 4, sum_us: 7 } }));
  const pump = totals.groupsOf('pump')?.get('');
  assert.equal(pump?.get(strokes), 9);
  assert.equal(pump.get(pressure), 9);
  assert.equal(pump.get(sum), 24);
  assert.equal(pump.get(min), 3); // a store: the last line's
});
