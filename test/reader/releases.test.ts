/**
 * The generated release data, held against what it can be checked with offline: Firecracker's
 * own validator lists (parsed from each release's fcmetrics.py, apart from the Rust), this
 * project's own document, and the reader's validator.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { unitFromName } from '../../src/metrics/units.js';
import { firecrackerSchema, formatProblem, readMetricsLine, type SchemaEntry } from '../../src/reader/index.js';
import {
  findFirecrackerRelease,
  firecrackerReleaseDataSource,
  firecrackerReleases,
  firecrackerValidatorLists,
  knownFirecrackerVersions,
  newestFirecrackerRelease,
  releaseMetricsSchema,
  releasesSharingSchema,
  sameLines,
  schemaOf,
  UnknownFirecrackerReleaseError,
  type ReleaseGroup,
  type ReleaseSchema,
  type ReleaseValidatorLists,
  type ValidatorField,
} from '../../src/reader/releases.js';

const LATENCY_MEMBERS = ['min_us', 'max_us', 'sum_us'];

const nameOf = (f: ValidatorField): string => (typeof f === 'string' ? f : f.name);

/** How a release's schema and its validator lists disagree on groups and fields (empty when they agree); order differences apart. */
function disagreements(schema: ReleaseSchema, lists: ReleaseValidatorLists): { errors: string[]; order: string[] } {
  const errors: string[] = [];
  const order: string[] = [];
  // The keys every line carries: groups, and the aggregates of device families.
  const always = new Map<string, ReleaseGroup>();
  const aarch64 = new Map<string, ReleaseGroup>();
  for (const e of schema.entries) {
    if (e.kind === 'group') (e.arch === 'aarch64' ? aarch64 : always).set(e.key, e.group);
    else if (e.aggregate) always.set(e.prefix, e.group);
  }
  const compareFields = (where: string, group: ReleaseGroup, fields: readonly ValidatorField[]): void => {
    const listed = fields.map(nameOf);
    const declared = group.fields.map((f) => f.name);
    const missing = declared.filter((n) => !listed.includes(n));
    const extra = listed.filter((n) => !declared.includes(n));
    if (missing.length > 0) errors.push(`${where}: the validator does not list ${missing.join(', ')}`);
    if (extra.length > 0) errors.push(`${where}: the Rust does not declare ${extra.join(', ')}`);
    for (const f of fields) {
      const field = group.fields.find((d) => d.name === nameOf(f));
      if (field === undefined) continue;
      if ((typeof f !== 'string') !== (field.kind === 'latency')) {
        errors.push(`${where}.${field.name}: the validator expects ${typeof f === 'string' ? 'a number' : 'an object'}, the Rust declares ${field.kind}`);
      }
      if (typeof f !== 'string' && f.members !== undefined) {
        if (f.members.join() !== LATENCY_MEMBERS.join()) errors.push(`${where}.${field.name}: the validator's members are ${f.members.join(', ')}`);
      }
    }
    if (missing.length === 0 && extra.length === 0 && listed.join() !== declared.join()) order.push(`${where}: listed ${listed.join(',')}; declared ${declared.join(',')}`);
  };
  const compareGroups = (where: string, declared: ReadonlyMap<string, ReleaseGroup>, listed: ReleaseValidatorLists['groups']): void => {
    const keys = listed.map((g) => g.key);
    for (const key of declared.keys()) if (!keys.includes(key)) errors.push(`${where}: the validator does not list group ${key}`);
    for (const g of listed) {
      const group = declared.get(g.key);
      if (group === undefined) errors.push(`${where}: the Rust writes no group ${g.key}`);
      else compareFields(g.key, group, g.fields);
    }
  };
  compareGroups('every architecture', always, lists.groups.filter((g) => g.arch === undefined));
  compareGroups('aarch64', aarch64, lists.groups.filter((g) => g.arch === 'aarch64'));
  for (const family of lists.families) {
    const entry = schema.entries.find((e) => e.kind === 'devices' && e.prefix === family.prefix);
    if (entry === undefined) errors.push(`the Rust has no device family ${family.prefix}`);
    else compareFields(`${family.prefix}_<id>`, entry.group, family.fields);
  }
  for (const h of lists.header) {
    const declared = schema.header.find((d) => d.key === h.key);
    if (declared === undefined) errors.push(`the Rust writes no header key ${h.key}`);
    else if (declared.required !== h.required) errors.push(`header key ${h.key}: required ${String(h.required)} in the validator, ${String(declared.required)} in the Rust`);
  }
  return { errors, order };
}

/**
 * Where a release's own validator lists are known to fall short of its Rust, each pinned exactly:
 * a line follows the Rust (serde writes every field), and the lists of that release did not
 * reject extra fields, so the gap went unnoticed there.
 * - 1.7: `856411c95 feat(metrics): add vm exit latency metrics` added vcpu's four `*_agg` fields
 *   to `VcpuMetrics` for v1.7.0; its fcmetrics.py lists them from v1.8.0 on.
 */
const KNOWN_VALIDATOR_GAPS: Readonly<Record<string, readonly string[]>> = {
  '1.7': ['vcpu: the validator does not list exit_io_in_agg, exit_io_out_agg, exit_mmio_read_agg, exit_mmio_write_agg'],
};

describe("the generated schemas agree with Firecracker's validator lists (fcmetrics.py)", () => {
  const checked = firecrackerReleases().filter((r) => firecrackerValidatorLists(r.version) !== undefined);

  test('every release from v1.7 on has its lists, none before', () => {
    const versions = firecrackerReleases().map((r) => r.version);
    const first = versions.indexOf('1.7');
    assert.ok(first > 0, 'the data knows 1.7');
    assert.deepEqual(
      checked.map((r) => r.version),
      versions.slice(first),
    );
  });

  for (const release of checked) {
    test(`${release.version} (${release.tag}): the same groups and fields`, (t) => {
      const lists = firecrackerValidatorLists(release.version) as ReleaseValidatorLists;
      const { errors, order } = disagreements(release.schema, lists);
      // The validator's lists are kept by hand and do not always follow the structs' order, which
      // is what a line follows: worth seeing, not a disagreement.
      if (order.length > 0) t.diagnostic(`the validator lists fields in another order than the Rust in ${order.map((o) => o.split(':')[0]).join(', ')}`);
      const unchecked = release.schema.entries.flatMap((e) => (e.kind === 'devices' && !lists.families.some((f) => f.prefix === e.prefix) ? [`${e.prefix}_<id>`] : []));
      if (unchecked.length > 0) t.diagnostic(`the validator does not check ${unchecked.join(', ')} entries`);
      assert.deepEqual(errors, KNOWN_VALIDATOR_GAPS[release.version] ?? []);
    });
  }
});

describe("this project's own document is the newest entry", () => {
  test('firecrackerSchema() has the entries of Firecracker main, in order, with the same fields and kinds', () => {
    const newest = newestFirecrackerRelease();
    const ours = firecrackerSchema().entries;
    const theirs = releaseMetricsSchema(newest.version).entries;
    const describeEntry = (e: SchemaEntry): string => {
      const fields = e.schema.fields.map((f) => `${f.name}:${f.kind}`).join(',');
      return e.kind === 'group' ? `${e.key}${e.required ? '' : '?'} {${fields}}` : `${e.prefix}_<id>${e.aggregate ? ' +aggregate' : ''} {${fields}}`;
    };
    assert.deepEqual(ours.map(describeEntry), theirs.map(describeEntry), `differs from Firecracker main at ${newest.commit}`);
  });

  test("units agree, or the project's field states one of its own where Firecracker's name and doc state none", () => {
    const theirs = releaseMetricsSchema(newestFirecrackerRelease().version).entries;
    const problems: string[] = [];
    for (const ours of firecrackerSchema().entries) {
      const key = ours.kind === 'group' ? ours.key : ours.prefix;
      const match = theirs.find((e) => (e.kind === 'group' ? e.key : e.prefix) === key);
      for (const field of ours.schema.fields) {
        const other = match?.schema.fields.find((f) => f.name === field.name);
        if (other === undefined || other.unit === field.unit) continue;
        const oursDeclared = field.unit !== unitFromName(field.name);
        const theirsFromNameOnly = other.unit === unitFromName(field.name);
        if (!(oursDeclared && theirsFromNameOnly)) problems.push(`${key}.${field.name}: ${field.unit} here, ${other.unit} from Firecracker`);
      }
    }
    assert.deepEqual(problems, []);
  });
});

describe('releases and their schemas', () => {
  test('the minors from 1.0 to the newest tag, each once, oldest first, then main', () => {
    const versions = knownFirecrackerVersions();
    const { newestTag } = firecrackerReleaseDataSource();
    const newestMinor = Number(/^v1\.(\d+)\./.exec(newestTag)?.[1]);
    assert.deepEqual(versions, [...Array.from({ length: newestMinor + 1 }, (_, i) => `1.${i}`), 'main']);
    assert.equal(newestFirecrackerRelease().version, 'main');
    assert.equal(newestFirecrackerRelease().commit, firecrackerReleaseDataSource().main);
    for (const r of firecrackerReleases()) {
      if (r.version === 'main') continue;
      assert.equal(r.tag, r.patches[r.patches.length - 1]?.tag, `${r.version} is its newest patch`);
      assert.equal(r.patches[0]?.tag, `v${r.version}.0`);
      assert.deepEqual(r.patches[0].differs, []);
    }
  });

  test('a patch release shares its minor schema unless its sources differ; v and patch spellings are the same release', () => {
    for (const r of firecrackerReleases()) {
      for (const p of r.patches) {
        const schema = schemaOf(p.tag.slice(1));
        assert.equal(schemaOf(p.tag), schema);
        if (p.differs.length === 0) assert.equal(schema, r.patches[0]?.schema, `${p.tag} has the schema of ${r.patches[0]?.tag ?? '?'}`);
        assert.equal(findFirecrackerRelease(p.tag)?.release, r);
      }
      assert.equal(schemaOf(r.version), r.schema);
    }
    assert.ok(releasesSharingSchema('1.10').includes('1.10'));
    assert.ok(sameLines('1.10', '1.10'));
    assert.ok(!sameLines('1.7', 'main'));
  });

  test('an unknown version is an error that lists the known ones', () => {
    for (const version of ['1.99', '0.25', '1.10.99', 'latest', '']) {
      assert.throws(
        () => schemaOf(version),
        (error: unknown) => error instanceof UnknownFirecrackerReleaseError && error.message.includes('1.0, 1.1,') && error.message.includes('main'),
      );
    }
  });

  test('every release writes rtc on aarch64 only, and utc_timestamp_ms first', () => {
    for (const r of firecrackerReleases()) {
      const rtc = r.schema.entries.filter((e) => e.kind === 'group' && e.key === 'rtc');
      assert.equal(rtc.length, 1, r.version);
      assert.equal(rtc[0]?.arch, 'aarch64', r.version);
      assert.deepEqual(r.schema.header[0], { key: 'utc_timestamp_ms', required: true }, r.version);
      assert.ok(r.schema.entries.every((e) => e.group.fields.every((f) => f.help !== '')), `${r.version}: every field has a help text`);
    }
  });
});

/** A line every group and field of a release would write, all zero, with one device per family. */
function zeroLine(schema: ReleaseSchema, rtc: boolean): string {
  const group = (g: ReleaseGroup): string =>
    `{${g.fields.map((f) => `"${f.name}":${f.kind === 'latency' ? '{"min_us":0,"max_us":0,"sum_us":0}' : '0'}`).join(',')}}`;
  const parts = ['"utc_timestamp_ms":1700000000000'];
  for (const e of schema.entries) {
    if (e.kind === 'group') {
      if (e.arch === undefined || (e.arch === 'aarch64' && rtc)) parts.push(`"${e.key}":${group(e.group)}`);
    } else {
      parts.push(`"${e.prefix}_dev0":${group(e.group)}`);
      if (e.aggregate) parts.push(`"${e.prefix}":${group(e.group)}`);
    }
  }
  return `{${parts.join(',')}}`;
}

describe("a release's schema in the reader's validator", () => {
  test("each release's lines are valid against its own schema", () => {
    for (const r of firecrackerReleases()) {
      for (const rtc of [false, true]) {
        const reading = readMetricsLine(zeroLine(r.schema, rtc), 1, releaseMetricsSchema(r.version, rtc ? { require: ['rtc'] } : {}), { strict: true });
        assert.deepEqual(reading.problems.map((p) => formatProblem(p)), [], `${r.version}${rtc ? ' on aarch64' : ''}`);
      }
    }
  });

  test("v1.7's lines checked as main fail, and main's as v1.7: the release matters", () => {
    const v17 = zeroLine(schemaOf('1.7'), false);
    const asMain = readMetricsLine(v17, 1, releaseMetricsSchema('main'), { strict: true });
    assert.ok(asMain.problems.some((p) => p.severity === 'error' && formatProblem(p).includes('balloon.free_page_report_count')), 'a v1.7 balloon lacks the free page fields');
    const mainLine = zeroLine(schemaOf('main'), false);
    const as17 = readMetricsLine(mainLine, 1, releaseMetricsSchema('1.7'), { strict: true });
    assert.ok(as17.problems.some((p) => p.severity === 'error'));
  });
});
