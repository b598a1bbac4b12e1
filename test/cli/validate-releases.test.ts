/**
 * `vmm-metrics validate --firecracker VERSION|auto`: lines written from each release's schema
 * (test/support/release-line.ts, not this project's writer), checked against the release that
 * wrote them, another one, or the one `auto` finds.
 */
import assert from 'node:assert/strict';
import { writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { knownFirecrackerVersions, schemaOf } from '../../src/reader/releases.js';
import { releaseLineSets } from '../../src/reader/release-lines.js';
import { closeFd, mkfifo, openFifoWriter, tempDir } from '../reader/helpers.js';
import { releaseLine, type ReleaseLineOptions } from '../support/release-line.js';
import { runCli, RunningCli } from './helpers.js';

let dir: string;
let remove: () => void;
before(() => {
  ({ dir, remove } = tempDir('vmm-metrics-validate-releases-'));
});
after(() => {
  remove();
});

const T0 = Date.now() - 60_000;
const VCPU_AGG = ['exit_io_in_agg', 'exit_io_out_agg', 'exit_mmio_read_agg', 'exit_mmio_write_agg'].map((f) => `vcpu.${f}`);

function devicesOf(version: string): Record<string, string[]> {
  return Object.fromEntries(schemaOf(version).entries.flatMap((e) => (e.kind === 'devices' ? [[e.prefix, ['rootfs']]] : [])));
}

/** A file of `count` lines of `version`, as its schema writes them. */
function releaseFile(name: string, version: string, count = 3, options: Partial<ReleaseLineOptions> = {}): string {
  const lines = Array.from({ length: count }, (_, i) =>
    releaseLine(version, { timestampMs: T0 + i * 1000, devices: devicesOf(version), values: { 'balloon.inflate_count': i + 1 }, ...options }),
  );
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

describe('--firecracker VERSION', () => {
  test("each release's lines pass against it; a patch release is its minor", async () => {
    const path = releaseFile('v1-10.json', '1.10');
    const minor = await runCli(['validate', '--firecracker', '1.10', path]);
    assert.equal(minor.stderr, '');
    assert.equal(minor.stdout, `${path}: Firecracker v1.10: 3 lines, all valid\n`);
    assert.equal(minor.status, 0);
    const patch = await runCli(['validate', '--firecracker', 'v1.10.1', path]);
    assert.equal(patch.stdout, `${path}: Firecracker v1.10.1: 3 lines, all valid\n`);
    assert.equal(patch.status, 0);
  });

  test("v1.7's lines checked as 1.16 (and as main, the default) fail: the flag is not decoration", async () => {
    const path = releaseFile('v1-7.json', '1.7', 2);
    const as116 = await runCli(['validate', '--firecracker', '1.16', path]);
    assert.equal(as116.status, 1);
    assert.match(as116.stderr, new RegExp(`^${path}:1: balloon\\.free_page_report_count: missing field$`, 'm'));
    assert.match(as116.stdout, /: Firecracker v1\.16: 2 lines, 2 invalid \(\d+ errors\)\n$/);
    const byDefault = await runCli(['validate', path]);
    assert.equal(byDefault.status, 1);
    assert.match(byDefault.stderr, /balloon\.free_page_report_count: missing field/);
    const as17 = await runCli(['validate', '--firecracker', '1.7', path]);
    assert.equal(as17.status, 0, as17.stderr);
  });

  test('strict: an unknown field, a key out of order, a number where a latency object goes, an id v1.10 never writes', async () => {
    const line = releaseLine('1.10', { timestampMs: T0, devices: devicesOf('1.10') });
    const path = join(dir, 'bad-1-10.json');
    writeFileSync(
      path,
      [
        releaseLine('1.10', { timestampMs: T0, devices: devicesOf('1.10'), extra: { 'balloon.new_count': 1 } }),
        line.replace('"activate_fails":0,"inflate_count":0', '"inflate_count":0,"activate_fails":0'),
        line.replace(/"exit_io_in_agg":\{[^}]*\}/, '"exit_io_in_agg":0'),
        releaseLine('1.10', { timestampMs: T0, devices: devicesOf('1.10'), id: 'vm-1' }),
        '',
      ].join('\n'),
    );
    const result = await runCli(['validate', '--firecracker', '1.10', path]);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      [
        `${path}:1: balloon.new_count: unknown field, not in the schema (kept as it is)`,
        `${path}:2: balloon.inflate_count: field out of order: expected after "activate_fails"`,
        `${path}:3: vcpu.exit_io_in_agg: expected an object of min_us, max_us, sum_us, got 0`,
        `${path}:4: id: unknown entry, not in the schema (kept as it is)`,
        '',
      ].join('\n'),
    );
  });

  test('an unknown version, or with --document: usage errors listing the known releases', async () => {
    const unknown = await runCli(['validate', '--firecracker', '1.99', 'x.json']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /^vmm-metrics validate: --firecracker: unknown Firecracker release "1\.99": known are 1\.0, 1\.1, .*, main \(and their patch releases, e\.g\. 1\.0\.0\), or auto\n/);
    for (const version of knownFirecrackerVersions()) assert.ok(unknown.stderr.includes(`${version},`) || unknown.stderr.includes(`${version} (`), version);
    const both = await runCli(['validate', '--firecracker', '1.10', '--document', 'x.js', 'x.json']);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--firecracker and --document both say what lines are: give one/);
  });
});

describe('--firecracker auto', () => {
  test('names, per file, the releases whose lines they are (releases writing the same lines together), and checks against them', async () => {
    const sets = releaseLineSets();
    const files = sets.map((set) => releaseFile(`auto-${set.label}.json`, set.versions[0] as string));
    const result = await runCli(['validate', '--firecracker', 'auto', ...files]);
    assert.equal(result.stderr, '');
    assert.equal(result.status, 0);
    assert.equal(result.stdout, sets.map((set, i) => `${files[i] ?? ''}: fits ${set.name}: 3 lines, all valid\n`).join(''));
    assert.match(result.stdout, /: fits v1\.10–v1\.12: 3 lines/);
  });

  test('lines of no release: the nearest, and every problem against it (v1.7 as its fcmetrics.py lists it)', async () => {
    const path = releaseFile('fcmetrics-1-7.json', '1.7', 2, { omit: VCPU_AGG });
    const result = await runCli(['validate', '--firecracker', 'auto', path]);
    assert.equal(result.status, 1);
    assert.equal(result.stdout, `${path}: fits no Firecracker release (nearest v1.7–v1.9, checked against it): 2 lines, 2 invalid (8 errors)\n`);
    assert.match(result.stderr, new RegExp(`^${path}:2: vcpu\\.exit_mmio_write_agg: missing field$`, 'm'));
  });

  test('several files: one summary each, the worst exit status; a pipe and standard input', async () => {
    const good = releaseFile('good-1-4.json', '1.4');
    const bad = releaseFile('bad-1-4.json', '1.4', 1, { omit: ['balloon.deflate_count'] });
    const text = `${[0, 1].map((i) => releaseLine('main', { timestampMs: T0 + i, devices: devicesOf('main'), id: 'vm' })).join('\n')}\n`;
    const fifo = join(dir, 'auto.fifo');
    mkfifo(fifo);
    const cli = new RunningCli(['validate', '--firecracker', 'auto', good, bad, fifo, '-'], { stdin: true });
    cli.child.stdin?.end(text);
    const fd = await openFifoWriter(fifo);
    writeSync(fd, releaseLine('1.0', { timestampMs: T0 }) + '\n');
    closeFd(fd);
    const { code } = await cli.exited;
    assert.equal(code, 1);
    assert.deepEqual(cli.stdout.split('\n'), [
      `${good}: fits v1.4–v1.5: 3 lines, all valid`,
      `${bad}: fits no Firecracker release (nearest v1.4–v1.5, checked against it): 1 line, 1 invalid (1 error)`,
      `${fifo}: fits v1.0–v1.3: 1 line, all valid`,
      '-: fits main: 2 lines, all valid',
      '',
    ]);
  });
});
