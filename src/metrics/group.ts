/**
 * Metric groups, declared once.
 *
 * A group such as `BalloonDeviceMetrics` is written as one const object mapping each wire name to
 * its kind and one-line help text. From that single declaration this module derives the group's
 * TypeScript type, zero construction (in ordinary or shared memory), the JSON serializer in
 * declaration order, the aggregation of several devices' deltas, and the per-value metadata
 * (kind, unit, help) that exporters read. Nothing else lists a group's fields.
 */
import { AtomicIncMetric, AtomicStoreMetric, INC_WORDS, STORE_WORDS } from './atomic-metrics.js';
import { LocalIncMetric } from './inc-metric.js';
import { LatencyAggregateMetrics } from './latency.js';
import type { IncMetric, StoreMetric } from './metric.js';
import { PEEK, type DeltaSlot, type DeltaTaker, type ValueSlot } from './slots.js';
import { LocalStoreMetric } from './store-metric.js';
import { JsonBytes, JsonTemplate } from './json-bytes.js';
import { FlushLedger } from './ledger.js';
import { unitFromName, type MetricUnit } from './units.js';
import { u64Add, u64Max, type U64 } from './u64.js';

export type MetricKind = 'inc' | 'store' | 'latency';

export interface MetricSpec<K extends MetricKind = MetricKind> {
  readonly kind: K;
  /** One sentence: the metric's doc comment and its exporter help text. */
  readonly help: string;
  /** Overrides the unit implied by the name. */
  readonly unit?: MetricUnit;
}

export interface MetricSpecOptions {
  readonly unit?: MetricUnit;
}

/** A counter, written as its delta since the last flush. */
export function inc(help: string, options: MetricSpecOptions = {}): MetricSpec<'inc'> {
  return { kind: 'inc', help, ...options };
}

/** A value, written as it is. */
export function store(help: string, options: MetricSpecOptions = {}): MetricSpec<'store'> {
  return { kind: 'store', help, ...options };
}

/** `{min_us, max_us, sum_us}` of an operation's duration. */
export function latency(help: string): MetricSpec<'latency'> {
  return { kind: 'latency', help, unit: 'microseconds' };
}

export type GroupFields = Readonly<Record<string, MetricSpec>>;

type MetricFor<S extends MetricSpec> = S['kind'] extends 'inc'
  ? IncMetric
  : S['kind'] extends 'store'
    ? StoreMetric
    : LatencyAggregateMetrics;

/** The type of a group instance: one metric object per declared field, under its wire name. */
export type MetricGroup<F extends GroupFields> = { readonly [K in keyof F]: MetricFor<F[K]> };

/** The instance type of a group schema: `GroupOf<typeof BalloonDeviceMetrics>`. */
export type GroupOf<S> = S extends GroupSchema<infer F> ? MetricGroup<F> : never;

export type LatencyMember = (typeof LATENCY_MEMBERS)[number]['member'];

/** How per-device values combine into an aggregate entry. */
export type Aggregation = 'sum' | 'min' | 'max';

/** One declared field. */
export interface FieldInfo {
  readonly name: string;
  readonly kind: MetricKind;
  readonly help: string;
  readonly unit: MetricUnit;
}

/** One number in a group's JSON object: a scalar field, or one member of a latency field. */
export interface ValueInfo {
  /** The field's wire name. */
  readonly field: string;
  /** For a latency field, which of its three numbers this is. */
  readonly member: LatencyMember | undefined;
  /** `inc` values are deltas since the last flush; `store` values are written as they are. */
  readonly kind: 'inc' | 'store';
  readonly help: string;
  readonly unit: MetricUnit;
  readonly aggregation: Aggregation;
}

const FIELD_NAME = /^[a-z][a-z0-9_]*$/;
const GROUP_STATE = Symbol('group state');

interface GroupState {
  readonly schema: GroupSchema<GroupFields>;
  readonly slots: readonly (DeltaSlot | ValueSlot)[];
  readonly buffer: SharedArrayBuffer | undefined;
}

interface SlotFactory {
  inc(name: string): DeltaSlot;
  store(name: string): ValueSlot;
}

/** The three numbers of a latency field, in the order they are written. */
const LATENCY_MEMBERS = [
  { member: 'min_us', kind: 'store', aggregation: 'min', help: 'least duration; 0 until one is recorded' },
  { member: 'max_us', kind: 'store', aggregation: 'max', help: 'greatest duration' },
  { member: 'sum_us', kind: 'inc', aggregation: 'sum', help: 'sum of the durations' },
] as const;

export class GroupSchema<F extends GroupFields> {
  /** The fields in declaration order. */
  readonly fields: readonly FieldInfo[];
  /** Every number the group writes, in the order it writes them. */
  readonly values: readonly ValueInfo[];
  /** The size a `SharedArrayBuffer` must have to hold one instance. */
  readonly sharedByteLength: number;
  readonly #declaration: F;
  /** The group's JSON object with every value 0. */
  readonly #template: JsonTemplate;
  readonly #isDelta: readonly boolean[];
  /** Where a line's values are gathered before they are written; reused, lines are built one at a time. */
  readonly #row: U64[];

  constructor(
    /** The group's entry key in the document, and the prefix of its metrics' names. */
    readonly name: string,
    declaration: F,
  ) {
    this.#declaration = declaration;
    const fields: FieldInfo[] = [];
    const values: ValueInfo[] = [];
    const prefixes: string[] = [];
    let separator = '{';
    for (const [field, spec] of Object.entries(declaration)) {
      if (!FIELD_NAME.test(field)) {
        throw new TypeError(`Metric group ${name}: field name ${JSON.stringify(field)} is not a lowercase wire name`);
      }
      const unit = spec.unit ?? unitFromName(field);
      fields.push({ name: field, kind: spec.kind, help: spec.help, unit });
      if (spec.kind === 'latency') {
        let inner = '{';
        for (const m of LATENCY_MEMBERS) {
          values.push({ field, member: m.member, kind: m.kind, help: `${spec.help} (${m.help})`, unit, aggregation: m.aggregation });
          prefixes.push(inner === '{' ? `${separator}"${field}":{"${m.member}":` : `,"${m.member}":`);
          inner = ',';
        }
        separator = '},';
      } else {
        values.push({ field, member: undefined, kind: spec.kind, help: spec.help, unit, aggregation: spec.kind === 'inc' ? 'sum' : 'max' });
        prefixes.push(`${separator}"${field}":`);
        separator = ',';
      }
    }
    this.fields = fields;
    this.values = values;
    this.#template = new JsonTemplate(prefixes, separator === '{' ? '{}' : separator === '},' ? '}}' : '}');
    this.#isDelta = values.map((v) => v.kind === 'inc');
    this.#row = values.map(() => 0);
    this.sharedByteLength = 8 * values.reduce((words, v) => words + (v.kind === 'inc' ? INC_WORDS : STORE_WORDS), 0);
  }

  /** A zeroed instance in ordinary memory, for use on one thread. */
  create(name: string = this.name): MetricGroup<F> {
    return this.#build(name, undefined, {
      inc: (metricName) => new LocalIncMetric(metricName),
      store: (metricName) => new LocalStoreMetric(metricName),
    });
  }

  /**
   * An instance in shared memory. Without `buffer`, a new zeroed one; with the buffer of another
   * instance (from `sharedBuffer()`, sent to a worker), a view of the very same metrics.
   */
  createShared(name: string = this.name, buffer?: SharedArrayBuffer): MetricGroup<F> {
    const memory = buffer ?? new SharedArrayBuffer(this.sharedByteLength);
    if (!(memory instanceof SharedArrayBuffer) || memory.byteLength !== this.sharedByteLength) {
      throw new RangeError(
        `Metric group ${name}: expected a SharedArrayBuffer of ${this.sharedByteLength} bytes, got ${describeBuffer(memory)}`,
      );
    }
    const words = new BigUint64Array(memory);
    let offset = 0;
    const claim = (size: number): number => {
      const start = offset;
      offset += size;
      return start;
    };
    return this.#build(name, memory, {
      inc: (metricName) => new AtomicIncMetric(metricName, words, claim(INC_WORDS)),
      store: (metricName) => new AtomicStoreMetric(metricName, words, claim(STORE_WORDS)),
    });
  }

  /** The memory behind a shared instance, to hand to `createShared()` in another thread. */
  sharedBuffer(group: MetricGroup<F>): SharedArrayBuffer {
    const { buffer } = this.#stateOf(group);
    if (buffer === undefined) throw new TypeError(`Metric group ${this.name}: this instance is not in shared memory`);
    return buffer;
  }

  /**
   * The group's JSON object as the next line would write it (deltas of counters, values of
   * stores), without changing anything.
   */
  serialize(group: MetricGroup<F>): string {
    return this.format(this.#stateOf(group).slots.map((slot) => slot[PEEK]()));
  }

  /** Whether any counter of the group has a delta not yet committed (in flight or not). */
  hasDelta(group: MetricGroup<F>): boolean {
    const slots = this.#stateOf(group).slots;
    return slots.some((slot, i) => this.#isDelta[i] === true && slot[PEEK]() !== 0);
  }

  /**
   * Takes the group's values (counters through `taker`) and writes its JSON object to `out`;
   * with `row`, also pushes each value onto it, in `values` order.
   */
  writeGroup(out: JsonBytes, group: MetricGroup<F>, taker: DeltaTaker, row: U64[] | undefined): void {
    const values = this.#takeValues(group, taker);
    out.writeTemplate(this.#template, values);
    if (row) for (const value of values) row.push(value);
  }

  /** Takes the group's values (counters through `taker`) without writing them, in `values` order. */
  takeRow(group: MetricGroup<F>, taker: DeltaTaker): U64[] {
    return [...this.#takeValues(group, taker)];
  }

  /** The values in the reused row: valid until the next call. */
  #takeValues(group: MetricGroup<F>, taker: DeltaTaker): U64[] {
    const slots = this.#stateOf(group).slots;
    const isDelta = this.#isDelta;
    const values = this.#row;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as DeltaSlot & ValueSlot;
      values[i] = isDelta[i] === true ? taker.take(slot) : slot[PEEK]();
    }
    return values;
  }

  /** Writes the JSON object of one row of values, in `values` order. */
  writeRow(out: JsonBytes, values: readonly U64[]): void {
    out.writeTemplate(this.#template, values);
  }

  /** The JSON object of one row of values, in `values` order. */
  format(values: readonly U64[]): string {
    const out = new JsonBytes();
    this.writeRow(out, values);
    return out.toString();
  }

  /**
   * Combines rows of several devices: counters add up, a latency minimum is the least one that
   * is set, maxima and other stores take the greatest.
   */
  aggregate(rows: readonly (readonly U64[])[]): U64[] {
    return this.values.map((info, i) => {
      let total: U64 = 0;
      for (const row of rows) {
        const value = row[i] as U64;
        if (info.aggregation === 'sum') total = u64Add(total, value);
        else if (info.aggregation === 'max') total = u64Max(total, value);
        else if (value !== 0 && (total === 0 || value < total)) total = value;
      }
      return total;
    });
  }

  /**
   * Moves what `from` has not yet had written into `into`: its counters' deltas are added to
   * `into`'s (and count as flushed in `from`), its stores merge as the aggregate merges them (a
   * latency minimum the least set one, the rest the greatest). Returns false, moving nothing,
   * while a line is writing part of `from` (its deltas are in flight).
   */
  foldInto(from: MetricGroup<F>, into: MetricGroup<F>): boolean {
    const source = this.#stateOf(from).slots;
    const target = this.#stateOf(into).slots;
    const ledger = new FlushLedger(false);
    const amounts = source.map((slot, i) => (this.#isDelta[i] === true ? ledger.take(slot as DeltaSlot) : 0));
    if (source.some((slot, i) => this.#isDelta[i] === true && slot[PEEK]() !== amounts[i])) {
      ledger.rollback();
      return false;
    }
    source.forEach((slot, i) => {
      const to = target[i] as DeltaSlot & ValueSlot;
      const value = amounts[i] as U64;
      if (this.#isDelta[i] === true) {
        if (value !== 0) to.add(value);
        return;
      }
      const from = slot[PEEK]();
      const current = to[PEEK]();
      const merged = this.values[i]?.aggregation === 'min' ? (from !== 0 && (current === 0 || from < current) ? from : current) : u64Max(current, from);
      if (merged !== current) to.store(merged);
    });
    ledger.commit();
    return true;
  }

  /** Whether `group` was built by this schema. */
  owns(group: unknown): group is MetricGroup<F> {
    return typeof group === 'object' && group !== null && (group as { [GROUP_STATE]?: GroupState })[GROUP_STATE]?.schema === this;
  }

  #stateOf(group: MetricGroup<F>): GroupState {
    if (!this.owns(group)) throw new TypeError(`Metric group ${this.name}: not an instance of this group`);
    return (group as unknown as { [GROUP_STATE]: GroupState })[GROUP_STATE];
  }

  #build(name: string, buffer: SharedArrayBuffer | undefined, factory: SlotFactory): MetricGroup<F> {
    const group: Record<string, unknown> = {};
    const slots: (DeltaSlot | ValueSlot)[] = [];
    for (const [field, spec] of Object.entries(this.#declaration)) {
      const metricName = `${name}.${field}`;
      if (spec.kind === 'latency') {
        const members = LATENCY_MEMBERS.map(({ member, kind }) => factory[kind](`${metricName}.${member}`));
        slots.push(...members);
        const [min, max, sum] = members as [ValueSlot, ValueSlot, DeltaSlot];
        group[field] = new LatencyAggregateMetrics(metricName, min, max, sum);
      } else {
        const metric = spec.kind === 'inc' ? factory.inc(metricName) : factory.store(metricName);
        slots.push(metric);
        group[field] = metric;
      }
    }
    const state: GroupState = { schema: this, slots, buffer };
    Object.defineProperty(group, GROUP_STATE, { value: state });
    return Object.freeze(group) as MetricGroup<F>;
  }
}

/** The schema that built `group`; throws if `group` is not a group of this library. */
export function schemaOf<F extends GroupFields>(group: MetricGroup<F>): GroupSchema<F> {
  const state = (group as { [GROUP_STATE]?: GroupState } | null)?.[GROUP_STATE];
  if (state === undefined) throw new TypeError('not a metric group made by defineGroup()');
  return state.schema as unknown as GroupSchema<F>;
}

/** Declares a metric group: `name` is its document key, `fields` its wire names in order. */
export function defineGroup<const F extends GroupFields>(name: string, fields: F): GroupSchema<F> {
  return new GroupSchema(name, fields);
}

function describeBuffer(value: unknown): string {
  if (value instanceof SharedArrayBuffer) return `one of ${value.byteLength} bytes`;
  if (value instanceof ArrayBuffer) return 'an ArrayBuffer, which threads cannot share';
  return typeof value;
}
