/**
 * Firecracker releases told apart by their lines (`releaseLineSets`), and each release's schema
 * knowing its header; the release API as `vmm-metrics/reader` exports it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as reader from '../../src/reader/index.js';
import { formatProblem, readMetricsLine } from '../../src/reader/index.js';
import { formatReleases, releaseLineSets } from '../../src/reader/release-lines.js';
import { knownFirecrackerVersions, releaseMetricsSchema, sameLines } from '../../src/reader/releases.js';
import { readMetricsLineExact } from '../../src/reader/validate.js';
import { releaseLine } from '../support/release-line.js';

const NOW = 1_700_000_000_000;
const clock = { now: () => NOW + 1000 };

describe('releaseLineSets: releases told apart by their lines', () => {
  test('every release is in one set; a set is consecutive releases, the newest standing for it', () => {
    const sets = releaseLineSets();
    assert.deepEqual(
      sets.flatMap((s) => s.versions),
      knownFirecrackerVersions(),
    );
    for (const set of sets) {
      assert.equal(set.newest.version, set.versions.at(-1));
      assert.equal(set.name, formatReleases(set.versions, 'text'));
      assert.doesNotMatch(set.label, /[^0-9a-z.,-]/, 'a label value is ASCII');
      assert.ok(!set.name.includes(','), `${set.name}: consecutive`);
    }
  });

  test('v1.0 and v1.1 write the same keys (one set) though they declare other kinds; v1.16 and main differ', () => {
    const setOf = (v: string): string | undefined => releaseLineSets().find((s) => s.versions.includes(v))?.name;
    assert.equal(setOf('1.0'), setOf('1.1'));
    assert.ok(!sameLines('1.0', '1.1'), 'the kinds differ');
    assert.notEqual(setOf('1.16'), setOf('main'));
    assert.equal(formatReleases(['1.10', '1.11', '1.12', '1.14', 'main'], 'text'), 'v1.10–v1.12, v1.14, main');
    assert.equal(formatReleases(['1.16', 'main'], 'label'), '1.16-main');
  });

  test("a release's schema knows its header: id only where the release writes it, on both paths", () => {
    const line = releaseLine('1.10', { timestampMs: NOW, id: 'vm-1' });
    for (const read of [readMetricsLine, readMetricsLineExact]) {
      const reading = read(line, 1, releaseMetricsSchema('1.10'), { ...clock, strict: true });
      assert.deepEqual(reading.problems.map((p) => formatProblem(p)), ['id: unknown entry, not in the schema (kept as it is)']);
    }
    const main = releaseLine('main', { timestampMs: NOW, id: 'vm-1' });
    assert.ok(readMetricsLine(main, 1, releaseMetricsSchema('main'), { ...clock, strict: true }).valid);
  });
});

test('vmm-metrics/reader exports the release API', () => {
  for (const name of ['schemaOf', 'releasesSharingSchema', 'sameLines', 'releaseMetricsSchema', 'knownFirecrackerVersions', 'findFirecrackerRelease', 'releaseLineSets', 'formatReleases', 'UnknownFirecrackerReleaseError'] as const) {
    assert.equal(typeof reader[name], 'function', name);
  }
  assert.equal(reader.releaseMetricsSchema('1.10.1').entries.length, reader.releaseMetricsSchema('1.10').entries.length);
});
