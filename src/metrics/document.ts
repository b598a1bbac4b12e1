/**
 * Documents: what a writer flushes, as an ordered list of entries.
 *
 * Each entry both writes itself into a line and describes its shape, so that readers and
 * validators derive the expected document from the same declarations that produce it.
 */
import type { GroupFields, GroupSchema, MetricGroup } from './group.js';
import { encodeMemberKey } from './json-bytes.js';
import type { MetricsLine } from './line.js';
import type { IncMetric } from './metric.js';

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

/** A group an entry holds, as exporters read it at scrape time. */
export interface EntryGroup {
  /** The device's id in a family of devices; undefined for a single group. */
  readonly device: string | undefined;
  readonly group: MetricGroup<GroupFields>;
}

/** One part of a document: a group (`groupEntry`) or a family of devices (`DeviceFamily`). */
export interface DocumentEntry {
  readonly shape: EntryShape;
  /** Appends the entry's members to the line being built. */
  writeTo(line: MetricsLine): void;
  /**
   * The groups the entry holds now (for a family, its present devices in id order), for exporters
   * that read counts at scrape time. Reading them changes nothing; an entry without this method
   * cannot be exported.
   */
  groups?(): readonly EntryGroup[];
}

/** Counters a writer moves when its lines fail, as Firecracker's `logger` group does. */
export interface WriterMetrics {
  /** A flush whose line did not reach the destination (`logger.missed_metrics_count`). */
  readonly missedLines?: IncMetric;
  /** A flush whose line could not be built (`logger.metrics_fails`). */
  readonly failedLines?: IncMetric;
}

export interface MetricsDocument {
  /** Appends the document's members, after the line's header. */
  appendTo(line: MetricsLine): void;
  /** Where a writer of this document counts its failures, unless told otherwise. */
  readonly writerMetrics?: WriterMetrics;
}

/** An entry for a single group instance, written under the schema's name. */
export function groupEntry<F extends GroupFields>(
  schema: GroupSchema<F>,
  group: MetricGroup<F>,
  options: { readonly optional?: boolean } = {},
): DocumentEntry {
  const key = encodeMemberKey(schema.name);
  const held: readonly EntryGroup[] = [{ device: undefined, group }];
  return {
    shape: { kind: 'group', key: schema.name, schema, optional: options.optional ?? false },
    writeTo: (line) => {
      line.group(key, schema, group);
    },
    groups: () => held,
  };
}

/** A document made of entries, written in the order given. */
export class EntryDocument implements MetricsDocument {
  constructor(readonly entries: readonly DocumentEntry[]) {}

  appendTo(line: MetricsLine): void {
    for (const entry of this.entries) entry.writeTo(line);
  }
}
