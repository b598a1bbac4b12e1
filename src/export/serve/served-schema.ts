/**
 * What a fleet serves: the entries lines are folded into, each value's place and kind, and the
 * Prometheus family of each value, shared by every VM.
 *
 * By default the entries are every Firecracker release's at once (`everyReleaseShapes`), so a
 * field has one family whichever release wrote it. A group or field no release declares (a
 * release newer than this project) is added when a line first carries it, as a counter (or a
 * latency aggregate, for an object of `min_us`, `max_us` and `sum_us`) named by the same rule —
 * Firecracker's metrics are deltas unless declared as stores — while its name is one Prometheus
 * takes, no other family has it, and fewer than `MAX_UNKNOWN_FIELDS` are served.
 */
import type { EntryShape } from '../../metrics/document.js';
import { defineGroup, inc, latency } from '../../metrics/group.js';
import { MetricsSchema } from '../../reader/schema.js';
import { prometheusFamilies, type PrometheusFamily } from '../names.js';

/**
 * At most this many fields no schema declares are served, over the whole fleet: a newer
 * Firecracker adds a few a release (v1.14 added 8), and a writer of garbage must not grow the
 * exposition without bound.
 */
export const MAX_UNKNOWN_FIELDS = 1024;
/** Names refused (unusable, taken, over the limit) are remembered up to this many, not to try them on every line. */
const MAX_REFUSED = 4096;
/** A group key or field name served when no schema declares it: a wire name as Firecracker's are. */
const UNKNOWN_NAME = /^[a-z][a-z0-9_]{0,127}$/;

export interface ServedEntry {
  /** A group's key, or a family of devices' prefix. */
  readonly key: string;
  /** Whether its families carry a `device` label (a family of devices). */
  readonly perDevice: boolean;
  /** By field name: the place of its value; a latency field's `min_us`, then `max_us` and `sum_us` after it. */
  readonly byField: Map<string, number>;
  /** Per value: 1 if it adds its delta (a counter), 0 if it takes its value (a store). */
  counter: Uint8Array;
  /** How many values it has now (values no schema declares are added at the end). */
  size: number;
  /** How many of them a schema declares: those from here on are a newer writer's. */
  readonly declared: number;
}

/** Where a line's key folds: its entry, its device id (`''` for a single group), and each of its values' places. */
export interface FoldTarget {
  readonly entry: ServedEntry;
  readonly deviceId: string;
  /** For each value the line's schema gives the key, in order: its place in the entry. */
  readonly places: Int32Array;
}

const LATENCY_MEMBERS = ['min_us', 'max_us', 'sum_us'] as const;

export class ServedSchema {
  /** The families, in the order of the exposition: the declared ones, then the others as they were met. */
  readonly families: PrometheusFamily[];
  readonly entries = new Map<string, ServedEntry>();
  /** The schema the served entries make, for a line's keys that its own release does not know. */
  readonly schema: MetricsSchema;
  /** Fields no schema declares, served so far. */
  unknownServed = 0;
  readonly #prefix: string | undefined;
  readonly #names = new Set<string>();
  readonly #refused = new Set<string>();
  readonly #targets = new WeakMap<MetricsSchema, Map<number, Int32Array>>();

  constructor(shapes: readonly EntryShape[], prefix?: string) {
    this.#prefix = prefix;
    this.schema = MetricsSchema.of(shapes);
    this.families = prometheusFamilies(shapes, prefix === undefined ? {} : { prefix });
    for (const f of this.families) this.#names.add(f.name);
    for (const shape of shapes) {
      const values = shape.schema.values;
      const byField = new Map<string, number>();
      values.forEach((v, i) => {
        if (!byField.has(v.field)) byField.set(v.field, i);
      });
      const key = shape.kind === 'group' ? shape.key : shape.prefix;
      this.entries.set(key, {
        key,
        perDevice: shape.kind === 'devices',
        byField,
        counter: Uint8Array.from(values, (v) => (v.kind === 'inc' ? 1 : 0)),
        size: values.length,
        declared: values.length,
      });
    }
  }

  /**
   * How the key `key` of a line of `schema` folds (null: it does not, an aggregate or a key no
   * schema knows). Remembered per schema and entry, not per key: device ids come from outside.
   */
  target(schema: MetricsSchema, key: string): FoldTarget | null {
    const role = schema.roleOf(key);
    if (role === undefined || role.role === 'aggregate') return null;
    const entryKey = role.entry.kind === 'group' ? role.entry.key : role.entry.prefix;
    const entry = this.entries.get(entryKey);
    if (entry === undefined) return null;
    let bySchema = this.#targets.get(schema);
    if (bySchema === undefined) this.#targets.set(schema, (bySchema = new Map<number, Int32Array>()));
    let places = bySchema.get(role.entry.index);
    if (places === undefined) {
      places = Int32Array.from(role.schema.values, (v) => {
        const first = entry.byField.get(v.field);
        return first === undefined ? -1 : first + (v.member === undefined ? 0 : LATENCY_MEMBERS.indexOf(v.member));
      });
      bySchema.set(role.entry.index, places);
    }
    return { entry, deviceId: role.deviceId ?? '', places };
  }

  /**
   * The place of a field no schema declares: in the entry `key` (a group's key or a family's
   * prefix; an entry of its own when no schema knows the key), added on first sight with its
   * families (three for a latency object). Undefined when it cannot be served.
   */
  unknownPlace(key: string, field: string, isLatency: boolean): { readonly entry: ServedEntry; readonly place: number } | undefined {
    const existing = this.entries.get(key);
    const known = existing?.byField.get(field);
    if (existing !== undefined && known !== undefined) return { entry: existing, place: known };
    const id = `${key}\u0000${field}`;
    if (this.#refused.has(id)) return undefined;
    const perDevice = existing?.perDevice ?? false;
    const families = this.#unknownFamilies(key, perDevice, field, isLatency);
    if (families === undefined) {
      if (this.#refused.size >= MAX_REFUSED) this.#refused.clear();
      this.#refused.add(id);
      return undefined;
    }
    let entry = existing;
    if (entry === undefined) {
      entry = { key, perDevice, byField: new Map(), counter: new Uint8Array(0), size: 0, declared: 0 };
      this.entries.set(key, entry);
    }
    const place = entry.size;
    const counter = new Uint8Array(place + families.length);
    counter.set(entry.counter);
    families.forEach((f, i) => {
      counter[place + i] = f.value.kind === 'inc' ? 1 : 0;
      this.families.push({ ...f, valueIndex: place + i });
      this.#names.add(f.name);
    });
    entry.counter = counter;
    entry.size = counter.length;
    entry.byField.set(field, place);
    this.unknownServed++;
    return { entry, place };
  }

  #unknownFamilies(key: string, perDevice: boolean, field: string, isLatency: boolean): PrometheusFamily[] | undefined {
    if (!UNKNOWN_NAME.test(key) || !UNKNOWN_NAME.test(field) || this.unknownServed >= MAX_UNKNOWN_FIELDS) return undefined;
    const help = isLatency
      ? 'A latency aggregate no Firecracker release known to this server declares (a newer Firecracker?).'
      : 'A field no Firecracker release known to this server declares (a newer Firecracker?), served as a counter of its deltas.';
    let families: PrometheusFamily[];
    try {
      const group = defineGroup(key, { [field]: isLatency ? latency(help) : inc(help) });
      const shape: EntryShape = perDevice ? { kind: 'devices', prefix: key, schema: group, aggregate: false } : { kind: 'group', key, schema: group, optional: false };
      families = prometheusFamilies([shape], this.#prefix === undefined ? {} : { prefix: this.#prefix });
    } catch {
      return undefined;
    }
    return families.some((f) => this.#names.has(f.name)) ? undefined : families;
  }
}
