/**
 * Documents: what a writer flushes, as an ordered list of entries.
 *
 * Each entry both writes itself into a line and describes its shape, so that readers and
 * validators derive the expected document from the same declarations that produce it.
 */
import type { DeviceFamily } from './device-family.js';
import type { GroupFields, GroupSchema, MetricGroup } from './group.js';
import { encodeMemberKey } from './json-bytes.js';
import type { MetricsLine } from './line.js';

export type MetricsSection = (line: MetricsLine) => void;

/** What an entry writes: one group, or one member per device then (optionally) their aggregate. */
export type EntryShape =
  | {
      readonly kind: 'group';
      readonly key: string;
      readonly schema: GroupSchema<GroupFields>;
      /** Written only where configured (Firecracker's `rtc`, aarch64 only). */
      readonly optional: boolean;
    }
  | {
      readonly kind: 'devices';
      /** Device members are `<prefix>_<id>`, sorted by id; the aggregate is `<prefix>`. */
      readonly prefix: string;
      readonly schema: GroupSchema<GroupFields>;
      readonly aggregate: boolean;
    };

export interface DocumentEntry {
  readonly shape: EntryShape;
  readonly flush: MetricsSection;
}

export interface MetricsDocument {
  appendTo(line: MetricsLine): void;
}

/** An entry for a single group instance written under the schema's name. */
export function groupEntry<F extends GroupFields>(
  schema: GroupSchema<F>,
  group: MetricGroup<F>,
  options: { readonly optional?: boolean } = {},
): DocumentEntry {
  const keyPiece = encodeMemberKey(schema.name);
  return {
    shape: { kind: 'group', key: schema.name, schema: schema, optional: options.optional ?? false },
    flush: (line) => {
      line.group(schema.name, schema, group, keyPiece);
    },
  };
}

/** An entry for a family of devices (see `DeviceFamily`). */
export function devicesEntry<F extends GroupFields>(family: DeviceFamily<F>): DocumentEntry {
  return {
    shape: { kind: 'devices', prefix: family.prefix, schema: family.schema, aggregate: family.aggregate },
    flush: (line) => {
      family.flush(line);
    },
  };
}

/** A document made of entries, written in the order given. */
export class EntryDocument implements MetricsDocument {
  constructor(readonly entries: readonly DocumentEntry[]) {}

  appendTo(line: MetricsLine): void {
    for (const entry of this.entries) entry.flush(line);
  }
}
