/**
 * The shape a reader expects of a line, derived from a document's entries.
 *
 * The writer and the reader share one declaration: `EntryDocument.entries` says which groups a
 * line carries and in which order, and each group's `GroupSchema.values` says which numbers it
 * holds. Nothing here lists groups or fields by hand.
 */
import type { DocumentEntry, EntryShape } from '../metrics/document.js';
import type { GroupFields, GroupSchema, ValueInfo } from '../metrics/group.js';

/** One entry of the expected line, with its position among the document's entries. */
export type SchemaEntry =
  | {
      readonly kind: 'group';
      readonly index: number;
      readonly key: string;
      readonly schema: GroupSchema<GroupFields>;
      /** Whether a line must carry it (false for an optional entry that was not required). */
      readonly required: boolean;
    }
  | {
      readonly kind: 'devices';
      readonly index: number;
      readonly prefix: string;
      readonly schema: GroupSchema<GroupFields>;
      /** Whether the aggregate entry `<prefix>` follows the devices' ones (and must be there). */
      readonly aggregate: boolean;
    };

/**
 * The entry shape a schema entry reads: `MetricsSchema.of` backwards, for code that takes shapes
 * (the exporters' family names). An optional entry the schema requires is not optional here.
 */
export function entryShape(entry: SchemaEntry): EntryShape {
  return entry.kind === 'group'
    ? { kind: 'group', key: entry.key, schema: entry.schema, optional: !entry.required }
    : { kind: 'devices', prefix: entry.prefix, schema: entry.schema, aggregate: entry.aggregate };
}

/** What a top-level key of a line is, according to the schema. */
export interface KeyRole {
  readonly entry: SchemaEntry;
  /** `group`: a single group's entry; `device`: `<prefix>_<id>`; `aggregate`: `<prefix>`. */
  readonly role: 'group' | 'device' | 'aggregate';
  /** The device id, for a device entry. */
  readonly deviceId: string | undefined;
  readonly schema: GroupSchema<GroupFields>;
}

/** One field of a group's object: a number, or a latency object of three numbers. */
export interface FieldLayout {
  readonly name: string;
  /** Position among the group's fields. */
  readonly index: number;
  /** For a scalar field, its value; undefined for a latency field. */
  readonly value: ValueInfo | undefined;
  /** For a latency field, its members in order (`min_us`, `max_us`, `sum_us`). */
  readonly members: readonly ValueInfo[] | undefined;
}

export interface GroupLayout {
  readonly fields: readonly FieldLayout[];
  readonly byName: ReadonlyMap<string, FieldLayout>;
  /**
   * An object with every field in order (values 0), to copy for a record: copies share one
   * shape, which keeps building records of long groups fast.
   */
  readonly template: Readonly<Record<string, 0>>;
}

/** A key of a line's header besides `utc_timestamp_ms`, which every line carries. */
export type OptionalHeaderKey = 'id' | 'properties';

export interface SchemaOptions {
  /** Keys of optional entries (such as `rtc`) that lines must carry. */
  readonly require?: readonly string[];
  /**
   * The optional header keys lines may carry: Firecracker writes `id` and `properties` from its
   * main branch on, earlier releases neither (`releaseMetricsSchema` says which). A key left out
   * is an entry the schema does not know.
   * @default ['id', 'properties']
   */
  readonly header?: readonly OptionalHeaderKey[];
}

const layouts = new WeakMap<GroupSchema<GroupFields>, GroupLayout>();

/** How a group's JSON object is laid out: its fields in order, latency fields with their members. */
export function groupLayout(schema: GroupSchema<GroupFields>): GroupLayout {
  let layout = layouts.get(schema);
  if (layout !== undefined) return layout;
  const fields: FieldLayout[] = [];
  const byName = new Map<string, FieldLayout>();
  const members = new Map<string, ValueInfo[]>();
  for (const value of schema.values) {
    if (value.member === undefined) {
      const field: FieldLayout = { name: value.field, index: fields.length, value, members: undefined };
      fields.push(field);
      byName.set(field.name, field);
    } else {
      let list = members.get(value.field);
      if (list === undefined) {
        list = [];
        members.set(value.field, list);
        const field: FieldLayout = { name: value.field, index: fields.length, value: undefined, members: list };
        fields.push(field);
        byName.set(field.name, field);
      }
      list.push(value);
    }
  }
  // JSON.parse builds an object in fast mode, whatever the number of fields.
  const template = JSON.parse(`{${fields.map((f) => `${JSON.stringify(f.name)}:0`).join(',')}}`) as Record<string, 0>;
  layout = { fields, byName, template };
  layouts.set(schema, layout);
  return layout;
}

export class MetricsSchema {
  readonly entries: readonly SchemaEntry[];
  /** The optional header keys lines may carry. */
  readonly header: ReadonlySet<OptionalHeaderKey>;
  readonly #groups = new Map<string, SchemaEntry & { kind: 'group' }>();
  readonly #aggregates = new Map<string, SchemaEntry & { kind: 'devices' }>();
  /** Device families, longest prefix first, so `vhost_user_block_x` finds the most specific one. */
  readonly #families: (SchemaEntry & { kind: 'devices' })[];

  /**
   * The schema of the lines a document writes: `MetricsSchema.of(new FirecrackerMetrics().entries)`.
   * Throws if two entries claim the same key or `require` names no optional entry.
   */
  static of(entries: readonly (DocumentEntry | EntryShape)[], options: SchemaOptions = {}): MetricsSchema {
    return new MetricsSchema(entries.map((e) => ('shape' in e ? e.shape : e)), options);
  }

  constructor(shapes: readonly EntryShape[], options: SchemaOptions = {}) {
    const required = new Set(options.require ?? []);
    const entries: SchemaEntry[] = [];
    const seen = new Set<string>();
    const claim = (key: string): void => {
      if (seen.has(key)) throw new TypeError(`Metrics schema: two entries write the key ${JSON.stringify(key)}`);
      seen.add(key);
    };
    shapes.forEach((shape, index) => {
      if (shape.kind === 'group') {
        claim(shape.key);
        const entry = { kind: 'group', index, key: shape.key, schema: shape.schema, required: !shape.optional || required.has(shape.key) } as const;
        required.delete(shape.key);
        entries.push(entry);
        this.#groups.set(entry.key, entry);
      } else {
        const entry = { kind: 'devices', index, prefix: shape.prefix, schema: shape.schema, aggregate: shape.aggregate } as const;
        if (entry.aggregate) {
          claim(entry.prefix);
          this.#aggregates.set(entry.prefix, entry);
        }
        entries.push(entry);
      }
    });
    if (required.size > 0) {
      const names = [...required].map((k) => JSON.stringify(k)).join(', ');
      throw new TypeError(`Metrics schema: no optional entry named ${names}`);
    }
    this.entries = entries;
    this.header = new Set(options.header ?? ['id', 'properties']);
    this.#families = entries
      .filter((e): e is SchemaEntry & { kind: 'devices' } => e.kind === 'devices')
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The role of a top-level key, or undefined for a key the schema does not know. */
  roleOf(key: string): KeyRole | undefined {
    const group = this.#groups.get(key);
    if (group !== undefined) return { entry: group, role: 'group', deviceId: undefined, schema: group.schema };
    const aggregate = this.#aggregates.get(key);
    if (aggregate !== undefined) return { entry: aggregate, role: 'aggregate', deviceId: undefined, schema: aggregate.schema };
    for (const family of this.#families) {
      if (key.length > family.prefix.length + 1 && key.startsWith(family.prefix) && key.charCodeAt(family.prefix.length) === 0x5f) {
        return { entry: family, role: 'device', deviceId: key.slice(family.prefix.length + 1), schema: family.schema };
      }
    }
    return undefined;
  }
}
