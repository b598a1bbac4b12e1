/**
 * The shape of `firecracker-releases.generated.ts`: Firecracker's metrics documents, release by
 * release, as `scripts/firecracker-schemas/generate.ts` derives them from Firecracker's sources.
 *
 * The data is tables of rows that refer to each other by index, so that what many releases
 * share is stored once: a field (name, kind, unit, help) once however many groups list it, a
 * group once however many schemas hold it, a schema once however many releases write it. Read
 * it through `releases.ts`, which turns indices back into groups and fields.
 */
import type { MetricUnit } from '../metrics/units.js';

/** `inc`: a delta since the last flush (`SharedIncMetric`); `store`: a value (`SharedStoreMetric`); `latency`: `{min_us, max_us, sum_us}`. */
export type ReleaseFieldKind = 'inc' | 'store' | 'latency';

/** The architecture an entry is written on, when only one (`rtc`: aarch64). */
export type ReleaseArch = 'aarch64' | 'x86_64';

/** One field: its wire name, kind, unit and help text (from its Rust doc comment; empty when it has none). */
export type ReleaseFieldRow = readonly [name: string, kind: ReleaseFieldKind, unit: MetricUnit, help: string];

/** A group: its fields in declaration order, as indices into `fields`. */
export type ReleaseGroupRow = readonly number[];

/**
 * A top-level entry of a line, in order: a group written under `key`, or a family of devices
 * written as `<prefix>_<id>` in id order, then (when `aggregate`) their aggregate `<prefix>`.
 * `group` indexes `groups`; `arch` is null for an entry written on every architecture.
 */
export type ReleaseEntryRow =
  | readonly [kind: 'group', key: string, group: number, arch: ReleaseArch | null]
  | readonly [kind: 'devices', prefix: string, group: number, aggregate: boolean, arch: ReleaseArch | null];

export interface ReleaseSchemaRow {
  /** Top-level keys before the groups (`utc_timestamp_ms`; `id` and `properties` when configured), in order. */
  readonly header: readonly (readonly [key: string, required: boolean])[];
  readonly entries: readonly ReleaseEntryRow[];
}

export interface ReleasePatchRow {
  readonly tag: string;
  readonly commit: string;
  /** Index into `schemas`. */
  readonly schema: number;
  /** The metrics sources whose text differs from the minor's first release's (empty for that one). */
  readonly differs: readonly string[];
}

export interface ReleaseRow {
  /** `1.10`, or `main`. */
  readonly version: string;
  /** The tag the release's schema is read from (the minor's newest patch), or `main`. */
  readonly tag: string;
  readonly commit: string;
  /** Index into `schemas`: the schema of `tag`. */
  readonly schema: number;
  /** Every patch release of the minor, oldest first (empty for `main`). */
  readonly patches: readonly ReleasePatchRow[];
  /** Index into `validators`: the lists of `tag`'s `tests/host_tools/fcmetrics.py`, null before v1.7. */
  readonly validator: number | null;
}

/** A field Firecracker's validator requires: a name, or an object field with its members (null when it does not list them). */
export type ValidatorFieldRow = string | readonly [name: string, members: readonly string[] | null];

/**
 * Firecracker's own validator lists (`validate_fc_metrics` in `tests/host_tools/fcmetrics.py`),
 * parsed independently of the Rust: the check on the derivation.
 */
export interface ValidatorRow {
  readonly header: readonly (readonly [key: string, required: boolean])[];
  /** Groups it requires: key, index into `validatorFields`, and `aarch64` for those it adds only there. */
  readonly groups: readonly (readonly [key: string, fields: number, arch: 'aarch64' | null])[];
  /** Device families whose `<prefix>_<id>` entries it checks. */
  readonly families: readonly (readonly [prefix: string, fields: number])[];
}

export interface FirecrackerReleaseData {
  /** The script that wrote the data. */
  readonly generator: string;
  /** The commit of Firecracker's main branch that was read, and the newest release tag. */
  readonly firecracker: { readonly main: string; readonly newestTag: string };
  readonly fields: readonly ReleaseFieldRow[];
  readonly groups: readonly ReleaseGroupRow[];
  readonly schemas: readonly ReleaseSchemaRow[];
  /** Minor releases oldest first, then `main`. */
  readonly releases: readonly ReleaseRow[];
  readonly validatorFields: readonly (readonly ValidatorFieldRow[])[];
  readonly validators: readonly ValidatorRow[];
}
