/**
 * Lines of every Firecracker release, written from each release's schema (not by this project's
 * writer), read without being told the release: which releases a line fits, how a line that fits
 * none is read, and what is refused.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { AnyReleaseReader, type AnyReleaseReading } from '../../src/reader/any-release.js';
import { formatProblem, metricValue } from '../../src/reader/index.js';
import { firecrackerReleases, knownFirecrackerVersions, schemaOf } from '../../src/reader/releases.js';
import { readMetricsLineExact } from '../../src/reader/validate.js';
import { releaseLine, type ReleaseLineOptions } from '../support/release-line.js';

const NOW = 1_700_000_000_000;
const clock = { now: () => NOW + 1000 };

function devicesOf(version: string): Record<string, string[]> {
  const families = schemaOf(version).entries.flatMap((e) => (e.kind === 'devices' ? [e.prefix] : []));
  return Object.fromEntries(families.map((prefix) => [prefix, ['rootfs', 'scratch']]));
}

function read(reader: AnyReleaseReader, line: string): AnyReleaseReading {
  return reader.read(line, 1);
}

function problems(reading: AnyReleaseReading): string[] {
  return reading.problems.map((p) => formatProblem(p));
}

describe('AnyReleaseReader', () => {
  const versions = knownFirecrackerVersions();

  test("each release's lines fit its set, on the fast path, with the values written (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...versions),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.nat(1_000_000),
        fc.boolean(),
        (version, inflations, reads, rtc) => {
          const devices = devicesOf(version);
          const perDevice = Object.keys(devices).includes('block');
          const values: ReleaseLineOptions['values'] = { 'balloon.inflate_count': inflations, [perDevice ? 'block_rootfs.read_count' : 'block.read_count']: reads };
          const line = releaseLine(version, { timestampMs: NOW, devices, values, rtc });
          const reader = new AnyReleaseReader(clock);
          const reading = read(reader, line);
          assert.deepEqual(problems(reading), []);
          assert.ok(reading.fits?.versions.includes(version), `${version}: fits ${reading.fits?.name ?? 'none'}`);
          assert.equal(reading.nearest, reading.fits);
          assert.deepEqual(reading.unknown, []);
          const record = reading.record;
          assert.ok(record !== undefined);
          assert.equal(BigInt(metricValue(record, 'balloon', 'inflate_count') ?? -1), inflations);
          assert.equal(metricValue(record, perDevice ? 'block_rootfs' : 'block', 'read_count'), reads);
          // The exact path, against the set's schema, reads the same record.
          const fits = reading.fits;
          assert.ok(fits !== undefined);
          const exact = readMetricsLineExact(line, 1, fits.schema, { ...clock, strict: true });
          assert.deepEqual(exact.record, record);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('a line the fast path leaves to the exact path (whitespace) still fits its release', () => {
    const line = releaseLine('1.11', { timestampMs: NOW, devices: devicesOf('1.11') }).replace(',"balloon":', ', "balloon" :');
    const reading = read(new AnyReleaseReader(clock), line);
    assert.deepEqual(problems(reading), []);
    assert.equal(reading.fits?.name, 'v1.10–v1.12');
  });

  test('v1.7 lines as its fcmetrics.py lists them (no vcpu *_agg, which its Rust writes) fit no release, read as v1.7–v1.9', () => {
    const omit = ['exit_io_in_agg', 'exit_io_out_agg', 'exit_mmio_read_agg', 'exit_mmio_write_agg'].map((f) => `vcpu.${f}`);
    const line = releaseLine('1.7', { timestampMs: NOW, devices: devicesOf('1.7'), omit, values: { 'balloon.inflate_count': 4 } });
    const reader = new AnyReleaseReader(clock);
    const reading = read(reader, line);
    assert.deepEqual(problems(reading), []);
    assert.equal(reading.fits, undefined);
    assert.equal(reading.nearest.name, 'v1.7–v1.9');
    assert.equal(metricValue(reading.record ?? { utc_timestamp_ms: 0, groups: {} }, 'balloon', 'inflate_count'), 4);
    // And as the Rust writes them, they fit.
    assert.equal(read(reader, releaseLine('1.7', { timestampMs: NOW, devices: devicesOf('1.7') })).fits?.name, 'v1.7–v1.9');
    // Strict: refused, saying what is missing against the nearest release.
    const strict = read(new AnyReleaseReader({ ...clock, strict: true }), line);
    assert.equal(strict.valid, false);
    assert.equal(problems(strict)[0], 'not a line of any Firecracker release (nearest: v1.7–v1.9)');
    assert.ok(problems(strict).includes('vcpu.exit_io_in_agg: missing field'), problems(strict).join('\n'));
  });

  test('a newer release: fields and groups no release knows are read (a u64, a latency object) and listed', () => {
    const line = releaseLine('main', {
      timestampMs: NOW,
      devices: devicesOf('main'),
      extra: { 'balloon.new_count': 3, 'block_rootfs.flush_agg': { min_us: 1, max_us: 2, sum_us: 3 }, 'future.widgets': 7 },
    });
    const reading = read(new AnyReleaseReader(clock), line);
    assert.deepEqual(problems(reading), [
      'balloon.new_count: warning: unknown field, not in the schema (kept as it is)',
      'block_rootfs.flush_agg: warning: unknown field, not in the schema (kept as it is)',
      'future: warning: unknown entry, not in the schema (kept as it is)',
    ]);
    assert.ok(reading.valid);
    assert.equal(reading.fits, undefined);
    assert.equal(reading.nearest.name, 'main');
    assert.deepEqual(reading.unknown, [
      ['balloon', 'new_count'],
      ['block_rootfs', 'flush_agg'],
      ['future', 'widgets'],
    ]);
  });

  test('refused: not JSON, a value of the wrong type, known or not; fields missing or out of order are not', () => {
    const reader = new AnyReleaseReader(clock);
    const good = releaseLine('1.13', { timestampMs: NOW, devices: devicesOf('1.13') });
    const refused: [string, string][] = [
      [good.slice(0, -5), 'invalid JSON'],
      [good.replace('"inflate_count":0', '"inflate_count":"0"'), 'balloon.inflate_count: expected an integer, got the string "0"'],
      [good.replace('"inflate_count":0', '"inflate_count":-1'), 'balloon.inflate_count: expected a non-negative integer, got -1'],
      [good.replace('"inflate_count":0', '"inflate_count":18446744073709551616'), 'balloon.inflate_count: out of range'],
      [releaseLine('1.13', { timestampMs: NOW, extra: { 'balloon.new': 1.5 } }), 'balloon.new: expected an integer from 0 to 2^64-1 or an object of min_us, max_us and sum_us'],
      [`${good.slice(0, -1)},"future":[1]}`, 'future: expected an object of metrics'],
      [`${good.slice(0, -1)},"future":{"x":{"min_us":1}}}`, 'future.x: expected an integer from 0 to 2^64-1 or an object'],
    ];
    for (const [line, message] of refused) {
      const reading = read(reader, line);
      assert.equal(reading.valid, false, line);
      assert.ok(problems(reading).some((p) => p.startsWith(message)), `${message}\n${problems(reading).join('\n')}`);
    }
    // Taken: a group missing, fields missing and in another order.
    const partial = good.replace(/"logger":\{[^}]*\},/, '').replace('"activate_fails":0,"inflate_count":0', '"inflate_count":0,"activate_fails":0');
    const reading = read(reader, partial);
    assert.deepEqual(problems(reading), []);
    assert.ok(reading.valid);
    assert.equal(reading.fits, undefined);
    assert.equal(reading.nearest.name, 'v1.13');
  });

  test('a source that changes release: each line fits its own', () => {
    const reader = new AnyReleaseReader(clock);
    const order = ['1.5', '1.5', 'main', '1.0', '1.16', '1.16'];
    const fits = order.map((v) => read(reader, releaseLine(v, { timestampMs: NOW, devices: devicesOf(v) })).fits?.versions.includes(v));
    assert.deepEqual(fits, order.map(() => true));
  });

  test('every release the data knows is read by some set', () => {
    for (const release of firecrackerReleases()) {
      const reading = read(new AnyReleaseReader(clock), releaseLine(release.version, { timestampMs: NOW, devices: devicesOf(release.version), rtc: true }));
      assert.ok(reading.fits?.versions.includes(release.version), release.version);
    }
  });
});
