/**
 * Every group and field any Firecracker release writes, one declaration per entry: what a reader
 * of a fleet running many releases at once folds every line into, so that a field keeps its
 * kind, unit, help and name whichever release wrote it.
 *
 * ```ts
 * everyReleaseShapes().find((s) => s.kind === 'devices' && s.prefix === 'net')?.schema.fields.map((f) => f.name);
 * // […, 'mac_address_updates' (up to v1.16), …, 'rx_partial_writes' (up to v1.13), …]
 * ```
 *
 * Derived from the generated release data and this project's own document (the groups declared
 * in code, which are Firecracker main's): a field the document declares keeps its declaration
 * (help and unit included); a field only older releases write takes the newest of them that
 * does. Fields are in the document's order, each field only older releases write placed after
 * the field it follows in the newest release that writes it. An entry is a family of devices if
 * any release writes it so (`block` and `net` were single groups up to v1.5).
 *
 * One field changed kind over the releases: `seccomp.num_faults`, `vmm.panic_count` and
 * `signals.*` (but `sigpipe`) were counters in v1.0 and are stores since v1.1. Each field takes
 * the newest release's kind: a v1.0 line cannot be told from a v1.1–v1.3 one (they write the
 * same keys: `releaseLineSets`), so the release that wrote a line cannot decide it.
 */
import type { EntryShape } from '../metrics/document.js';
import { defineGroup, inc, latency, store, type FieldInfo, type GroupFields, type GroupSchema, type MetricSpec } from '../metrics/group.js';
import { firecrackerSchema } from './default-schema.js';
import { firecrackerReleases, type FirecrackerRelease, type ReleaseEntry } from './releases.js';
import { MetricsSchema } from './schema.js';

interface UnionEntry {
  readonly key: string;
  devices: boolean;
  aggregate: boolean;
  optional: boolean;
  /** Field names in order, and each one's declaration. */
  readonly order: string[];
  readonly fields: Map<string, FieldInfo>;
}

let shapes: readonly EntryShape[] | undefined;
let schema: MetricsSchema | undefined;

/** The entries of every release's lines, in one: see the module doc. */
export function everyReleaseShapes(): readonly EntryShape[] {
  shapes ??= buildShapes(firecrackerSchema().entries.map((e) => (e.kind === 'group' ? { kind: 'group', key: e.key, schema: e.schema, optional: !e.required } : { kind: 'devices', prefix: e.prefix, schema: e.schema, aggregate: e.aggregate })), firecrackerReleases());
  return shapes;
}

/** `everyReleaseShapes()` as the reader's schema (`id` and `properties` allowed). */
export function everyReleaseSchema(): MetricsSchema {
  schema ??= MetricsSchema.of(everyReleaseShapes());
  return schema;
}

/**
 * The union of `declared` (a document's entries) and every release's: exported for tests, which
 * give it releases of their own.
 */
export function buildShapes(declared: readonly EntryShape[], releases: readonly FirecrackerRelease[]): EntryShape[] {
  const entries = new Map<string, UnionEntry>();
  for (const shape of declared) {
    const key = shape.kind === 'group' ? shape.key : shape.prefix;
    entries.set(key, {
      key,
      devices: shape.kind === 'devices',
      aggregate: shape.kind === 'devices' && shape.aggregate,
      optional: shape.kind === 'group' && shape.optional,
      order: shape.schema.fields.map((f) => f.name),
      fields: new Map(shape.schema.fields.map((f) => [f.name, f])),
    });
  }
  const newestFirst = [...releases].reverse();
  let previousKey: string | undefined;
  for (const release of newestFirst) {
    previousKey = undefined;
    for (const entry of release.schema.entries) {
      const key = entryKey(entry);
      let union = entries.get(key);
      if (union === undefined) {
        union = { key, devices: false, aggregate: false, optional: entry.kind === 'group' && entry.arch !== undefined, order: [], fields: new Map() };
        insertAfter(entries, previousKey, union);
      }
      if (entry.kind === 'devices') {
        union.devices = true;
        union.aggregate ||= entry.aggregate;
      }
      let previousField: string | undefined;
      for (const field of entry.group.fields) {
        if (!union.fields.has(field.name)) {
          union.fields.set(field.name, { name: field.name, kind: field.kind, help: field.help, unit: field.unit });
          union.order.splice(previousField === undefined ? 0 : union.order.indexOf(previousField) + 1, 0, field.name);
        }
        previousField = field.name;
      }
      previousKey = key;
    }
  }
  return [...entries.values()].map((e): EntryShape => {
    const group = groupSchema(e);
    return e.devices ? { kind: 'devices', prefix: e.key, schema: group, aggregate: e.aggregate } : { kind: 'group', key: e.key, schema: group, optional: e.optional };
  });
}

function entryKey(entry: ReleaseEntry): string {
  return entry.kind === 'group' ? entry.key : entry.prefix;
}

/** Adds `entry` to the map right after `after` (first when undefined): a Map keeps insertion order, so it is rebuilt. */
function insertAfter(entries: Map<string, UnionEntry>, after: string | undefined, entry: UnionEntry): void {
  const list = [...entries.values()];
  list.splice(after === undefined ? 0 : list.findIndex((e) => e.key === after) + 1, 0, entry);
  entries.clear();
  for (const e of list) entries.set(e.key, e);
}

function groupSchema(entry: UnionEntry): GroupSchema<GroupFields> {
  const fields: Record<string, MetricSpec> = {};
  for (const name of entry.order) {
    const f = entry.fields.get(name) as FieldInfo;
    fields[name] = f.kind === 'latency' ? latency(f.help) : f.kind === 'store' ? store(f.help, { unit: f.unit }) : inc(f.help, { unit: f.unit });
  }
  return defineGroup(entry.key, fields);
}
