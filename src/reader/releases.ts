/**
 * Every Firecracker release's metrics document, from the generated data
 * (`firecracker-releases.generated.ts`, derived from Firecracker's sources by
 * `scripts/firecracker-schemas/generate.ts`): which top-level keys a line of that release
 * carries, in which order, each group's fields in order with their kind, unit and help text.
 *
 * ```ts
 * schemaOf('1.10').entries[1]; // {kind: 'group', key: 'balloon', group: {fields: [{name: 'activate_fails', kind: 'inc', …}, …]}, arch: undefined}
 * schemaOf('1.10.1') === schemaOf('1.10'); // a patch release shares its minor's schema unless its sources differ
 * releaseMetricsSchema('1.7'); // a MetricsSchema for the reader's validator
 * ```
 *
 * Versions are a minor (`1.10`, its newest patch), a patch release (`1.10.1`, `v1.10.1`) or
 * `main` (Firecracker's main branch at the commit the data was generated from). Objects are
 * built once and shared: equal schemas are the same object.
 */
import { defineGroup, inc, latency, store, type GroupFields, type GroupSchema, type MetricSpec } from '../metrics/group.js';
import type { EntryShape } from '../metrics/document.js';
import type { MetricUnit } from '../metrics/units.js';
import { FIRECRACKER_RELEASE_DATA } from './firecracker-releases.generated.js';
import type { FirecrackerReleaseData, ReleaseArch, ReleaseFieldKind, ValidatorFieldRow } from './release-data.js';
import { MetricsSchema, type OptionalHeaderKey, type SchemaOptions } from './schema.js';

export type { ReleaseArch, ReleaseFieldKind } from './release-data.js';

export interface ReleaseField {
  /** The wire name (`inflate_count`). */
  readonly name: string;
  readonly kind: ReleaseFieldKind;
  readonly unit: MetricUnit;
  /** Firecracker's doc comment for the field; empty where it has none. */
  readonly help: string;
}

export interface ReleaseGroup {
  /** The fields in declaration order, which is the order a line writes them. */
  readonly fields: readonly ReleaseField[];
}

export type ReleaseEntry =
  | { readonly kind: 'group'; readonly key: string; readonly group: ReleaseGroup; readonly arch: ReleaseArch | undefined }
  | {
      readonly kind: 'devices';
      /** Device entries are `<prefix>_<id>`, in id order; the aggregate (if any) is `<prefix>`. */
      readonly prefix: string;
      readonly group: ReleaseGroup;
      readonly aggregate: boolean;
      readonly arch: ReleaseArch | undefined;
    };

export interface ReleaseSchema {
  /** Top-level keys before the groups: `utc_timestamp_ms`, and `id`/`properties` where the release can write them. */
  readonly header: readonly { readonly key: string; readonly required: boolean }[];
  readonly entries: readonly ReleaseEntry[];
}

export interface ReleasePatch {
  readonly tag: string;
  readonly commit: string;
  readonly schema: ReleaseSchema;
  /** The metrics sources whose text differs from the minor's first release's. */
  readonly differs: readonly string[];
}

export interface FirecrackerRelease {
  /** `1.10`, or `main`. */
  readonly version: string;
  /** The tag the schema is the one of (the minor's newest patch), or `main`. */
  readonly tag: string;
  readonly commit: string;
  readonly schema: ReleaseSchema;
  /** Every patch release of the minor, oldest first; empty for main. */
  readonly patches: readonly ReleasePatch[];
}

/** Firecracker's own validator lists for a release (from its `tests/host_tools/fcmetrics.py`). */
export interface ReleaseValidatorLists {
  readonly header: readonly { readonly key: string; readonly required: boolean }[];
  readonly groups: readonly { readonly key: string; readonly fields: readonly ValidatorField[]; readonly arch: 'aarch64' | undefined }[];
  readonly families: readonly { readonly prefix: string; readonly fields: readonly ValidatorField[] }[];
}

/** A field the validator requires: a name, or an object field with its members (undefined when not listed). */
export type ValidatorField = string | { readonly name: string; readonly members: readonly string[] | undefined };

/** A version that names no release the data knows. */
export class UnknownFirecrackerReleaseError extends Error {
  override readonly name = 'UnknownFirecrackerReleaseError';
  constructor(
    readonly version: string,
    readonly known: readonly string[],
  ) {
    super(`unknown Firecracker release ${JSON.stringify(version)}: known are ${known.join(', ')} (and their patch releases, e.g. ${known[0] ?? '?'}.0)`);
  }
}

interface Built {
  readonly releases: readonly FirecrackerRelease[];
  readonly byVersion: ReadonlyMap<string, FirecrackerRelease>;
  readonly byPatch: ReadonlyMap<string, ReleasePatch>;
}

let built: Built | undefined;

function build(data: FirecrackerReleaseData): Built {
  const fields = data.fields.map(([name, kind, unit, help]): ReleaseField => ({ name, kind, unit, help }));
  const groups = data.groups.map((row): ReleaseGroup => ({ fields: row.map((i) => at(fields, i, 'field')) }));
  const schemas = data.schemas.map(
    (row): ReleaseSchema => ({
      header: row.header.map(([key, required]) => ({ key, required })),
      entries: row.entries.map(
        (e): ReleaseEntry =>
          e[0] === 'group'
            ? { kind: 'group', key: e[1], group: at(groups, e[2], 'group'), arch: e[3] ?? undefined }
            : { kind: 'devices', prefix: e[1], group: at(groups, e[2], 'group'), aggregate: e[3], arch: e[4] ?? undefined },
      ),
    }),
  );
  const byPatch = new Map<string, ReleasePatch>();
  const releases = data.releases.map((r): FirecrackerRelease => {
    const patches = r.patches.map((p): ReleasePatch => ({ tag: p.tag, commit: p.commit, schema: at(schemas, p.schema, 'schema'), differs: p.differs }));
    for (const p of patches) byPatch.set(p.tag.replace(/^v/, ''), p);
    return { version: r.version, tag: r.tag, commit: r.commit, schema: at(schemas, r.schema, 'schema'), patches };
  });
  return {
    releases,
    byVersion: new Map(releases.map((r) => [r.version, r])),
    byPatch,
  };
}

function at<T>(table: readonly T[], index: number, what: string): T {
  const row = table[index];
  if (row === undefined) throw new RangeError(`firecracker-releases.generated.ts: no ${what} ${index}`);
  return row;
}

function data(): Built {
  built ??= build(FIRECRACKER_RELEASE_DATA);
  return built;
}

/** The releases the data knows, oldest first, `main` last. */
export function firecrackerReleases(): readonly FirecrackerRelease[] {
  return data().releases;
}

/** The versions `schemaOf` takes without a patch number: `1.0` … and `main`. */
export function knownFirecrackerVersions(): string[] {
  return data().releases.map((r) => r.version);
}

/** The newest entry: Firecracker's main branch at the commit the data was read from. */
export function newestFirecrackerRelease(): FirecrackerRelease {
  const releases = data().releases;
  return releases[releases.length - 1] as FirecrackerRelease;
}

/** The release a version names (`1.10`, `1.10.1`, `v1.10.1`, `main`), or undefined. */
export function findFirecrackerRelease(version: string): { readonly release: FirecrackerRelease; readonly schema: ReleaseSchema } | undefined {
  const { byVersion, byPatch } = data();
  const plain = version.replace(/^v(?=\d)/, '');
  const release = byVersion.get(plain);
  if (release !== undefined) return { release, schema: release.schema };
  const patch = byPatch.get(plain);
  if (patch === undefined) return undefined;
  const minor = byVersion.get(plain.split('.').slice(0, 2).join('.'));
  return minor === undefined ? undefined : { release: minor, schema: patch.schema };
}

/** The schema of a release; throws `UnknownFirecrackerReleaseError` (listing the known ones) for any other version. */
export function schemaOf(version: string): ReleaseSchema {
  const found = findFirecrackerRelease(version);
  if (found === undefined) throw new UnknownFirecrackerReleaseError(version, knownFirecrackerVersions());
  return found.schema;
}

/** The versions whose schema is the very same as `version`'s (help texts included), itself among them. */
export function releasesSharingSchema(version: string): string[] {
  const schema = schemaOf(version);
  return data()
    .releases.filter((r) => r.schema === schema)
    .map((r) => r.version);
}

/**
 * Whether two releases write the same lines: the same header keys, entries, fields and kinds in
 * the same order, whatever their help texts and units say. A line cannot tell such releases apart.
 */
export function sameLines(a: string, b: string): boolean {
  return wireShape(schemaOf(a)) === wireShape(schemaOf(b));
}

const shapes = new WeakMap<ReleaseSchema, string>();

function wireShape(schema: ReleaseSchema): string {
  let shape = shapes.get(schema);
  if (shape === undefined) {
    const group = (g: ReleaseGroup): string => g.fields.map((f) => `${f.name}:${f.kind}`).join(',');
    shape = JSON.stringify([
      schema.header.map((h) => [h.key, h.required]),
      schema.entries.map((e) => (e.kind === 'group' ? [e.key, group(e.group), e.arch ?? null] : [`${e.prefix}_*`, group(e.group), e.aggregate, e.arch ?? null])),
    ]);
    shapes.set(schema, shape);
  }
  return shape;
}

const groupSchemas = new Map<string, GroupSchema<GroupFields>>();

/** A group as the core's `GroupSchema` under `name`, so that the reader's validator and exporters can use it. */
export function releaseGroupSchema(name: string, group: ReleaseGroup): GroupSchema<GroupFields> {
  const key = JSON.stringify([name, group.fields.map((f) => [f.name, f.kind, f.unit, f.help])]);
  let schema = groupSchemas.get(key);
  if (schema === undefined) {
    const fields: Record<string, MetricSpec> = {};
    for (const f of group.fields) {
      fields[f.name] = f.kind === 'latency' ? latency(f.help) : f.kind === 'store' ? store(f.help, { unit: f.unit }) : inc(f.help, { unit: f.unit });
    }
    schema = defineGroup(name, fields);
    groupSchemas.set(key, schema);
  }
  return schema;
}

/**
 * The reader's `MetricsSchema` of a release's lines. Entries written on one architecture only
 * (`rtc`) are optional, as in `firecrackerSchema()`; `{ require: ['rtc'] }` requires them. The
 * header keys are the release's: `id` and `properties` only where it writes them.
 */
export function releaseMetricsSchema(version: string, options?: Omit<SchemaOptions, 'header'>): MetricsSchema {
  const schema = schemaOf(version);
  const shapes = schema.entries.map(
    (e): EntryShape =>
      e.kind === 'group'
        ? { kind: 'group', key: e.key, schema: releaseGroupSchema(e.key, e.group), optional: e.arch !== undefined }
        : { kind: 'devices', prefix: e.prefix, schema: releaseGroupSchema(e.prefix, e.group), aggregate: e.aggregate },
  );
  const header = schema.header.flatMap((h): OptionalHeaderKey[] => (h.key === 'id' || h.key === 'properties' ? [h.key] : []));
  return MetricsSchema.of(shapes, { ...options, header });
}

/** Firecracker's own validator lists for a release (v1.7 on), parsed apart from the Rust: undefined where it had none. */
export function firecrackerValidatorLists(version: string): ReleaseValidatorLists | undefined {
  const found = findFirecrackerRelease(version);
  if (found === undefined) throw new UnknownFirecrackerReleaseError(version, knownFirecrackerVersions());
  const row = FIRECRACKER_RELEASE_DATA.releases.find((r) => r.version === found.release.version);
  if (row === undefined || row.validator === null) return undefined;
  const v = at(FIRECRACKER_RELEASE_DATA.validators, row.validator, 'validator');
  const fields = (index: number): ValidatorField[] =>
    at(FIRECRACKER_RELEASE_DATA.validatorFields, index, 'validator field list').map((f: ValidatorFieldRow) =>
      typeof f === 'string' ? f : { name: f[0], members: f[1] ?? undefined },
    );
  return {
    header: v.header.map(([key, required]) => ({ key, required })),
    groups: v.groups.map(([key, list, arch]) => ({ key, fields: fields(list), arch: arch ?? undefined })),
    families: v.families.map(([prefix, list]) => ({ prefix, fields: fields(list) })),
  };
}

/** Where the data came from: the generator, Firecracker's main commit, the newest release tag. */
export function firecrackerReleaseDataSource(): { readonly generator: string; readonly main: string; readonly newestTag: string } {
  return { generator: FIRECRACKER_RELEASE_DATA.generator, ...FIRECRACKER_RELEASE_DATA.firecracker };
}
