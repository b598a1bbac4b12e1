/**
 * Test support: writing real metrics lines to a temporary file, and checking the modules that
 * declare one group (balloon-style) or a family of devices against an expected field list written
 * out by hand in each test.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  DeviceFamily,
  EntryDocument,
  FirecrackerMetrics,
  groupEntry,
  LatencyAggregateMetrics,
  Metrics,
  type DocumentEntry,
  type FirecrackerGroups,
  type GroupFields,
  type GroupSchema,
  type IncMetric,
  type MetricGroup,
  type MetricKind,
  type MetricUnit,
  type StoreMetric,
} from '../../../src/index.js';
import { parseLine, type JsonObject } from './ordered-json.js';

/**
 * Initializes a writer of `entries` on a new temporary file, runs each step followed by one
 * `write()`, and returns the lines the file then holds, parsed strictly, with their raw text.
 */
export function writeLines(
  entries: readonly DocumentEntry[],
  steps: readonly (() => void)[],
): { raw: string[]; lines: JsonObject[] } {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-test-'));
  try {
    const path = join(dir, 'metrics.json');
    const metrics = new Metrics(new EntryDocument(entries));
    metrics.init(path, { flushIntervalMs: 0 });
    try {
      for (const step of steps) {
        step();
        assert.equal(metrics.write(), true);
      }
    } finally {
      metrics.close();
    }
    const text = readFileSync(path, 'utf8');
    assert.ok(text.endsWith('\n'), 'every line ends with a newline');
    const raw = text.slice(0, -1).split('\n');
    assert.equal(raw.length, steps.length);
    return { raw, lines: raw.map(parseLine) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A field as a test expects it: name, kind and, when not a plain count, unit. */
export type ExpectedField = readonly [name: string, kind: MetricKind, unit?: MetricUnit];

type AnyMetric = IncMetric | StoreMetric | LatencyAggregateMetrics;

/** Gives every field of `group` a value: counters and latencies get `amount`, stores `amount` too. */
export function touchEveryField(group: MetricGroup<GroupFields>, amount: number | bigint): void {
  for (const metric of Object.values(group as Readonly<Record<string, AnyMetric>>)) {
    if (metric instanceof LatencyAggregateMetrics) metric.recordUs(amount);
    else if ('add' in metric) metric.add(amount);
    else metric.store(amount);
  }
}

export function assertFields(schema: GroupSchema<GroupFields>, expected: readonly ExpectedField[]): void {
  assert.deepEqual(
    schema.fields.map((f) => [f.name, f.kind, f.unit]),
    expected.map(([name, kind, unit]) => [name, kind, unit ?? (kind === 'latency' ? 'microseconds' : 'count')]),
  );
  for (const field of schema.fields) {
    assert.match(field.help, /^[A-Z][^\n]*\.$/, `${schema.name}.${field.name}: one sentence of help`);
  }
}

/** The JSON a group with every field set to `value` serializes to, built from `expected` alone. */
export function expectedObject(expected: readonly ExpectedField[], value: (kind: MetricKind) => string): string {
  const members = expected.map(([name, kind]) =>
    kind === 'latency' ? `"${name}":{"min_us":${value(kind)},"max_us":${value(kind)},"sum_us":${value(kind)}}` : `"${name}":${value(kind)}`,
  );
  return `{${members.join(',')}}`;
}

interface SingleGroupModule {
  readonly METRICS: MetricGroup<GroupFields>;
}

/** The entry `key` of a fresh Firecracker document (with rtc), as a reader derives the schema. */
function documentEntry(key: string): DocumentEntry {
  const entry = new FirecrackerMetrics({ rtc: true }).entries.find((e) => (e.shape.kind === 'group' ? e.shape.key : e.shape.prefix) === key);
  assert.ok(entry !== undefined, `FirecrackerMetrics has an entry ${key}`);
  return entry;
}

/** Registers the tests every single-instance group module must pass. */
export function testSingleGroupModule(
  module: SingleGroupModule,
  schema: GroupSchema<GroupFields>,
  key: string,
  expected: readonly ExpectedField[],
  options: { readonly optional?: boolean } = {},
): void {
  test(`${key}: the schema declares exactly the wire fields, in order, with kinds, units and help`, () => {
    assert.equal(schema.name, key);
    assertFields(schema, expected);
    assert.ok(schema.owns(module.METRICS), 'METRICS is an instance of the schema');
  });

  test(`${key}: Firecracker's document has it as one ${options.optional === true ? 'optional' : 'mandatory'} group`, () => {
    const shape = documentEntry(key).shape;
    assert.ok(shape.kind === 'group', 'a group entry');
    assert.equal(shape.key, key);
    assert.equal(shape.schema, schema);
    assert.equal(shape.optional, options.optional ?? false);
    assert.equal(FirecrackerMetrics.moduleGroups()[key as keyof FirecrackerGroups], module.METRICS, 'the global document writes METRICS');
  });

  test(`${key}: lines written to a file carry counter deltas and store values`, () => {
    const big = 2n ** 60n + 7n;
    const { raw, lines } = writeLines(
      [groupEntry(schema, module.METRICS)],
      [
        () => {
          touchEveryField(module.METRICS, 3);
        },
        () => {
          touchEveryField(module.METRICS, big);
        },
        () => undefined,
      ],
    );
    for (const line of lines) assert.deepEqual(line.keys(), ['utc_timestamp_ms', key]);
    const objectOf = (text: string): string => text.slice(text.indexOf(`"${key}":`) + key.length + 3, -1);
    assert.equal(objectOf(raw[0] ?? ''), expectedObject(expected, () => '3'));
    // Latency: the minimum stays 3, the maximum is big, the sum is big (its delta); stores keep big.
    const second: JsonObject | undefined = lines[1]?.object(key);
    const third: JsonObject | undefined = lines[2]?.object(key);
    assert.ok(second !== undefined && third !== undefined);
    for (const [name, kind] of expected) {
      if (kind === 'latency') {
        const agg: JsonObject = second.object(name);
        assert.deepEqual([agg.integer('min_us'), agg.integer('max_us'), agg.integer('sum_us')], [3n, big, big]);
        const later: JsonObject = third.object(name);
        assert.deepEqual([later.integer('min_us'), later.integer('max_us'), later.integer('sum_us')], [3n, big, 0n]);
      } else {
        assert.equal(second.integer(name), big, name);
        assert.equal(third.integer(name), kind === 'store' ? big : 0n, name);
      }
    }
  });

  test(`${key}: a document of its own writes a fresh group of it`, () => {
    const document = new FirecrackerMetrics({ rtc: true });
    const own = document[key as keyof FirecrackerGroups] as unknown as MetricGroup<GroupFields>;
    assert.ok(schema.owns(own));
    assert.notEqual(own, module.METRICS);
    touchEveryField(module.METRICS, 9);
    const text = new Metrics(document).render();
    assert.deepEqual(parseLine(text).object(key).keys(), expected.map(([name]) => name));
    assert.ok(text.includes(`"${key}":${expectedObject(expected, () => '0')}`), 'the global group is not in it');
  });
}

interface DeviceFamilyModule {
  readonly METRICS: DeviceFamily<GroupFields>;
  readonly alloc: (id: string) => MetricGroup<GroupFields>;
  readonly remove: (id: string) => boolean;
}

/** Registers the tests every per-device module (block, net, pmem, vhost-user) must pass. */
export function testDeviceFamilyModule(
  module: DeviceFamilyModule,
  schema: GroupSchema<GroupFields>,
  prefix: string,
  expected: readonly ExpectedField[],
  options: { readonly aggregate: boolean },
): void {
  test(`${prefix}: the schema declares exactly the wire fields, in order, with kinds, units and help`, () => {
    assertFields(schema, expected);
  });

  test(`${prefix}: METRICS is the family, and Firecracker's document has one like it`, () => {
    assert.ok(module.METRICS instanceof DeviceFamily);
    assert.equal(module.METRICS.prefix, prefix);
    assert.equal(module.METRICS.schema, schema);
    assert.equal(module.METRICS.aggregate, options.aggregate);
    assert.deepEqual(module.METRICS.shape, { kind: 'devices', prefix, schema, aggregate: options.aggregate });
    assert.deepEqual(documentEntry(prefix).shape, module.METRICS.shape);
    assert.notEqual(documentEntry(prefix), module.METRICS, 'a document of its own has a family of its own');
  });

  test(`${prefix}: alloc(id) gives one group per id, the family's own`, () => {
    const first = module.alloc('same-id');
    assert.ok(schema.owns(first));
    assert.equal(module.alloc('same-id'), first);
    assert.equal(module.METRICS.alloc('same-id'), first);
    assert.notEqual(module.alloc('other-id'), first);
    assert.throws(() => module.alloc(''), { name: 'TypeError', message: /non-empty string/ });
    assert.throws(() => module.alloc(7 as unknown as string), { name: 'TypeError', message: /non-empty string, got number/ });
    assert.equal(module.remove('same-id'), true);
    assert.equal(module.remove('same-id'), false);
    assert.equal(module.remove('never-allocated'), false);
    assert.equal(module.remove('other-id'), true);
    assert.equal(module.METRICS.size, 0, 'devices that counted nothing are released at once');
  });

  test(`${prefix}: lines written to a file hold each device, sorted, ${options.aggregate ? 'then the aggregate' : 'and no aggregate'}`, () => {
    const entry = (id: string): string => `${prefix}_${id}`;
    const tail = options.aggregate ? [prefix] : [];
    const { raw, lines } = writeLines(
      [module.METRICS],
      [
        () => {
          touchEveryField(module.alloc('zz'), 2);
          touchEveryField(module.alloc('aa'), 5);
        },
        () => {
          touchEveryField(module.alloc('zz'), 1);
          assert.equal(module.remove('zz'), true);
        },
        () => undefined,
      ],
    );
    const [l0, l1, l2] = lines;
    assert.ok(l0 !== undefined && l1 !== undefined && l2 !== undefined);
    assert.deepEqual(l0.keys(), ['utc_timestamp_ms', entry('aa'), entry('zz'), ...tail]);
    assert.deepEqual(l1.keys(), ['utc_timestamp_ms', entry('aa'), entry('zz'), ...tail]);
    assert.deepEqual(l2.keys(), ['utc_timestamp_ms', entry('aa'), ...tail]);
    const first = raw[0] ?? '';
    assert.ok(first.includes(`"${entry('aa')}":${expectedObject(expected, () => '5')}`), first);
    assert.ok(first.includes(`"${entry('zz')}":${expectedObject(expected, () => '2')}`), first);
    if (options.aggregate) {
      const aggregate = l0.object(prefix);
      for (const [name, kind] of expected) {
        if (kind === 'latency') {
          const agg = aggregate.object(name);
          assert.deepEqual([agg.integer('min_us'), agg.integer('max_us'), agg.integer('sum_us')], [2n, 5n, 7n]);
        } else {
          assert.equal(aggregate.integer(name), kind === 'inc' ? 7n : 5n, name);
        }
      }
    }
    // The removed device's last deltas went out in the second line.
    const last = l1.object(entry('zz'));
    for (const [name, kind] of expected) {
      if (kind === 'inc') assert.equal(last.integer(name), 1n, name);
    }
  });
}
