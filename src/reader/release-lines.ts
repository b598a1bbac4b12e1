/**
 * The Firecracker releases told apart by their lines: releases whose lines look the same (the
 * same header keys, entries in the same order, the same fields in the same order, each a number
 * or a latency object) are one set, since no line can say which of them wrote it.
 *
 * ```ts
 * releaseLineSets().map((s) => s.name); // ['v1.0–v1.3', 'v1.4–v1.5', 'v1.6', …, 'v1.16', 'main']
 * releaseLineSets().find((s) => s.versions.includes('1.11'))?.label; // '1.10-1.12'
 * ```
 *
 * This is coarser than `sameLines`, which also compares kinds: v1.0 declares `seccomp`,
 * `vmm.panic_count` and most of `signals` as counters where v1.1 declares stores, yet the two
 * write the very same keys; a counter and a store are both a number on the wire.
 */
import {
  firecrackerReleases,
  knownFirecrackerVersions,
  releaseMetricsSchema,
  type FirecrackerRelease,
  type ReleaseGroup,
  type ReleaseSchema,
} from './releases.js';
import type { MetricsSchema, SchemaOptions } from './schema.js';

export interface ReleaseLineSet {
  /** The releases that write these lines, oldest first: `['1.10', '1.11', '1.12']`. */
  readonly versions: readonly string[];
  /** For people: `v1.10–v1.12`, `v1.13`, `main`, `v1.16–main`. */
  readonly name: string;
  /** For a label value, ASCII only: `1.10-1.12`, `1.13`, `main`. */
  readonly label: string;
  /** The newest of them, whose schema stands for the set's. */
  readonly newest: FirecrackerRelease;
  /** The strict schema of these lines (the newest's `releaseMetricsSchema`). */
  readonly schema: MetricsSchema;
}

const cache = new Map<string, readonly ReleaseLineSet[]>();

/**
 * The sets of releases whose lines look the same, oldest first (`main`'s last). With
 * `require` (`['rtc']` for aarch64), each set's schema requires those entries.
 */
export function releaseLineSets(options: Omit<SchemaOptions, 'header'> = {}): readonly ReleaseLineSet[] {
  const key = JSON.stringify(options.require ?? []);
  let sets = cache.get(key);
  if (sets === undefined) {
    const byShape = new Map<string, FirecrackerRelease[]>();
    for (const release of firecrackerReleases()) {
      const shape = lineShape(release.schema);
      const list = byShape.get(shape);
      if (list === undefined) byShape.set(shape, [release]);
      else list.push(release);
    }
    sets = [...byShape.values()].map((releases): ReleaseLineSet => {
      const versions = releases.map((r) => r.version);
      const newest = releases[releases.length - 1] as FirecrackerRelease;
      return {
        versions,
        name: formatReleases(versions, 'text'),
        label: formatReleases(versions, 'label'),
        newest,
        schema: releaseMetricsSchema(newest.version, options),
      };
    });
    cache.set(key, sets);
  }
  return sets;
}

/**
 * Versions as runs of consecutive releases: `v1.10–v1.12, v1.14` for people (`text`), or
 * `1.10-1.12,1.14` for a label value. `main` is written as it is.
 */
export function formatReleases(versions: readonly string[], style: 'text' | 'label'): string {
  const order = knownFirecrackerVersions();
  const indices = [...new Set(versions.map((v) => order.indexOf(v)))].filter((i) => i >= 0).sort((a, b) => a - b);
  const name = (i: number): string => {
    const version = order[i] as string;
    return style === 'text' && version !== 'main' ? `v${version}` : version;
  };
  const runs: string[] = [];
  for (let start = 0; start < indices.length; ) {
    let end = start;
    while (end + 1 < indices.length && (indices[end + 1] as number) === (indices[end] as number) + 1) end++;
    const first = indices[start] as number;
    const last = indices[end] as number;
    runs.push(first === last ? name(first) : `${name(first)}${style === 'text' ? '–' : '-'}${name(last)}`);
    start = end + 1;
  }
  return runs.join(style === 'text' ? ', ' : ',');
}

/** What a line of the schema looks like: everything but kinds (beyond number or object), help and units. */
function lineShape(schema: ReleaseSchema): string {
  const fields = (g: ReleaseGroup): string => g.fields.map((f) => (f.kind === 'latency' ? `${f.name}{}` : f.name)).join(',');
  return JSON.stringify([
    schema.header.map((h) => [h.key, h.required]),
    schema.entries.map((e) => (e.kind === 'group' ? [e.key, fields(e.group), e.arch ?? null] : [`${e.prefix}_*`, fields(e.group), e.aggregate, e.arch ?? null])),
  ]);
}
