import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { FirecrackerMetrics, Metrics } from '../../src/index.js';
import { closeFd, makeDocument, mkfifo, openFifoWriter, tempDir, type TestDocument } from '../reader/helpers.js';
import { FIXTURE_DOCUMENT, RunningCli, runCli, runCliSlowReader, type CliResult } from './helpers.js';
import { formatExactJson, parseJsonNode, toExactJson, type ExactJson } from '../../src/reader/index.js';

let dir: string;
let removeDir: () => void;

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir('vmm-metrics-validate-'));
});

afterEach(() => {
  removeDir();
});

/** Lines written by the library's writer for the fixture's groups, two disks, then more. */
function writtenLines(doc: TestDocument, count: number): string[] {
  const path = join(dir, `written-${count}.json`);
  const metrics = new Metrics(doc.document);
  metrics.init(path, { flushIntervalMs: 0, id: 'vm "one"', properties: { b: '2', a: '1' } });
  for (let i = 0; i < count; i++) {
    doc.api.requests.add(i + 1);
    doc.api.level.store(2n ** 64n - 1n - BigInt(i));
    doc.api.wait_agg.recordUs(100 + i);
    doc.disks.alloc('a').read_bytes.add(2n ** 63n);
    doc.disks.alloc('b').read_count.inc();
    metrics.write();
  }
  metrics.close();
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

function validate(path: string, ...options: string[]): Promise<CliResult> {
  return runCli(['validate', '--document', FIXTURE_DOCUMENT, ...options, path]);
}

/** The line with two top-level members swapped (exact numbers kept). */
function swap(line: string, a: string, b: string): string {
  const top = toExactJson(parseJsonNode(line)) as Record<string, ExactJson>;
  const keys = Object.keys(top);
  const i = keys.indexOf(a);
  const j = keys.indexOf(b);
  keys[i] = b;
  keys[j] = a;
  return formatExactJson(Object.fromEntries(keys.map((k) => [k, top[k] as ExactJson])));
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('vmm-metrics validate', () => {
  test('lines written by the library pass (exit 0)', async () => {
    const lines = writtenLines(makeDocument(), 3);
    const path = file('ok.json', `${lines.join('\n')}\n`);
    const result = await validate(path);
    assert.equal(result.stderr, '');
    assert.equal(result.status, 0);
    assert.equal(result.stdout, `${path}: 3 lines, all valid\n`);
  });

  test('several paths: each checked in turn with its own summary; an unreadable one does not stop the others', async () => {
    const lines = writtenLines(makeDocument(), 2);
    const good = file('good.json', `${lines.join('\n')}\n`);
    const bad = file('bad.json', `${lines[0] ?? ''}\nnope\n`);
    const missing = join(dir, 'missing.json');

    const other = file('other.json', `${lines[1] ?? ''}\n`);
    const valid = await runCli(['validate', '--document', FIXTURE_DOCUMENT, good, other]);
    assert.equal(valid.status, 0, valid.stderr);
    assert.equal(valid.stdout, `${good}: 2 lines, all valid\n${other}: 1 line, all valid\n`);

    const some = await runCli(['validate', '--document', FIXTURE_DOCUMENT, good, bad]);
    assert.equal(some.status, 1);
    assert.equal(some.stdout, `${good}: 2 lines, all valid\n${bad}: 2 lines, 1 invalid (1 error)\n`);
    assert.match(some.stderr, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: invalid JSON: `));

    const all = await runCli(['validate', '--document', FIXTURE_DOCUMENT, missing, bad, good]);
    assert.equal(all.status, 2, 'an unreadable path outranks an invalid line');
    assert.equal(all.stdout, `${bad}: 2 lines, 1 invalid (1 error)\n${good}: 2 lines, all valid\n`);
    assert.match(all.stderr, /^vmm-metrics validate: Cannot read metrics from .*missing\.json: ENOENT/);
  });

  test('each damaged line fails with its line number and field path (exit 1)', async () => {
    const [line = ''] = writtenLines(makeDocument(), 1);
    const damaged: [string, string][] = [
      [line, ''],
      [line.replace('"read_bytes":9223372036854775808,', ''), 'disk_a.read_bytes: missing field'],
      [line.replace('"requests":1', '"requests":-1'), 'api.requests: expected a non-negative integer, got -1'],
      [line.replace('"requests":1', '"requests":1.25'), 'api.requests: expected an integer, got 1.25'],
      [line.replace('"level":18446744073709551615', '"level":18446744073709551616'), 'api.level: out of range: 18446744073709551616 is more than 2^64-1 (18446744073709551615)'],
      [line.replace('"requests":1', '"requests":"1"'), 'api.requests: expected an integer, got the string "1"'],
      [line.replace(/,"last":\{[^}]*\}/, ''), 'last: missing group'],
      [swap(line, 'api', 'disk_a'), 'disk_a: entry out of order: expected after "api"'],
      [line.replace(/"utc_timestamp_ms":\d+/, '"utc_timestamp_ms":-5'), 'utc_timestamp_ms: implausible time -5: not a positive time'],
      [line.slice(0, 60), 'invalid JSON: '],
      [line, ''],
    ];
    const truncatedLast = line.slice(0, -10);
    const path = file('bad.json', `${damaged.map(([l]) => l).join('\n')}\n${truncatedLast}`);
    const result = await validate(path);
    assert.equal(result.status, 1, result.stderr);
    const messages = result.stderr.split('\n').slice(0, -1);
    damaged.forEach(([, expected], i) => {
      const prefix = `${path}:${i + 1}: `;
      const forLine = messages.filter((m) => m.startsWith(prefix));
      if (expected === '') assert.deepEqual(forLine, [], `line ${i + 1} is valid`);
      else assert.ok(forLine.some((m) => m.startsWith(prefix + expected)), `line ${i + 1}: expected ${expected}, got ${JSON.stringify(forLine)}`);
    });
    const last = messages.filter((m) => m.startsWith(`${path}:${damaged.length + 1}: `));
    assert.ok(last.some((m) => m.includes('no newline at the end of the input')), JSON.stringify(last));
    assert.ok(last.some((m) => m.includes('invalid JSON')), JSON.stringify(last));
    assert.match(result.stdout, new RegExp(`: 12 lines, 10 invalid \\(`));
  });

  test('unknown groups and fields are warnings (exit 0), errors with --strict (exit 1)', async () => {
    const [line = ''] = writtenLines(makeDocument(), 1);
    const newer = line.replace('"failures":0}', '"failures":0,"new_counter":7}').replace(/\}$/, ',"hotplug":{"plugs":1}}');
    const path = file('newer.json', `${newer}\n`);
    const result = await validate(path);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.stderr.split('\n').slice(0, -1), [
      `${path}:1: api.new_counter: warning: unknown field, not in the schema (kept as it is)`,
      `${path}:1: hotplug: warning: unknown entry, not in the schema (kept as it is)`,
    ]);
    assert.equal(result.stdout, `${path}: 1 line, all valid, 2 warnings\n`);
    const strict = await validate(path, '--strict');
    assert.equal(strict.status, 1);
    assert.match(strict.stderr, /:1: api\.new_counter: unknown field/);
  });

  test('an optional entry is accepted when absent, unless required', async () => {
    const [line = ''] = writtenLines(makeDocument(), 1);
    const path = file('no-extra.json', `${line.replace(/,"extra":\{[^}]*\}/, '')}\n`);
    const [absent, required] = await Promise.all([validate(path), validate(path, '--require', 'extra')]);
    assert.equal(absent.status, 0);
    assert.equal(required.status, 1);
    assert.equal(required.stderr, `${path}:1: extra: missing group\n`);
  });

  test('without --document, the global Firecracker document is the schema; --rtc requires rtc', async () => {
    const plain = file('fc.json', `${new Metrics(new FirecrackerMetrics()).render()}\n`);
    const withRtc = file('fc-rtc.json', `${new Metrics(new FirecrackerMetrics({ rtc: true })).render()}\n`);
    const results = await Promise.all([
      runCli(['validate', plain]),
      runCli(['validate', withRtc]),
      runCli(['validate', '--rtc', withRtc]),
      runCli(['validate', '--rtc', plain]),
    ]);
    assert.deepEqual(results.map((r) => r.status), [0, 0, 0, 1]);
    const missing = results[3];
    assert.ok(missing);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, `${plain}:1: rtc: missing group\n`);
  });

  test('reads a named pipe until its writer closes it, and standard input', async () => {
    const lines = writtenLines(makeDocument(), 2);
    const fifo = join(dir, 'metrics.fifo');
    mkfifo(fifo);
    const cli = new RunningCli(['validate', '--document', FIXTURE_DOCUMENT, fifo]);
    try {
      const fd = await openFifoWriter(fifo);
      writeSync(fd, `${lines.join('\n')}\n`);
      closeFd(fd);
      assert.deepEqual(await cli.exited, { code: 0, signal: null });
      assert.equal(cli.stdout, `${fifo}: 2 lines, all valid\n`);
    } finally {
      cli.kill();
    }

    const fromStdin = await runCli(['validate', '--document', FIXTURE_DOCUMENT, '-'], `${lines.join('\n')}\nnope\n`);
    assert.equal(fromStdin.status, 1);
    assert.match(fromStdin.stderr, /^-:3: invalid JSON: /);
  });

  test('usage errors and unreadable paths exit 2 with a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [['validate'], /vmm-metrics validate: missing PATH\nTry 'vmm-metrics validate --help'/],
      [['validate', 'a', 'b', 'a'], /vmm-metrics validate: a is named twice/],
      [['validate', '-', '-'], /standard input \(-\) can be read once/],
      [['validate', '--bogus', 'x'], /Unknown option '--bogus'/],
      [['validate', join(dir, 'missing.json')], /Cannot read metrics from .*missing\.json: ENOENT/],
      [['validate', '--document', join(dir, 'nope.js'), 'x'], /--document .*nope\.js: cannot load the module/],
      [['validate', '--require', 'nope', 'x'], /no optional entry named "nope"/],
      [['validate', '--max-line-bytes', '0', 'x'], /--max-line-bytes: expected a whole number of bytes from 1 to 536870888, got "0"/],
      [['validate', '--max-line-bytes', '1e3', 'x'], /--max-line-bytes: expected a whole number of bytes .*, got "1e3"/],
      [['validate', '--max-line-bytes', '536870889', 'x'], /--max-line-bytes: expected a whole number of bytes .*, got "536870889"/],
      [['tail', '--max-line-bytes', 'lots', 'x'], /vmm-metrics tail: --max-line-bytes: expected a whole number of bytes .*, got "lots"/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [[], /Usage: vmm-metrics <command>/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    for (const [i, [args, message]] of cases.entries()) {
      const result = results[i] as CliResult;
      assert.equal(result.status, 2, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
    }
  });

  test('--help prints the usage (exit 0)', async () => {
    const cases = [
      [['--help'], 'Usage: vmm-metrics <command>'],
      [['validate', '--help'], 'Usage: vmm-metrics validate [options] PATH'],
      [['help', 'tail'], 'Usage: vmm-metrics tail [options] PATH'],
    ] as const;
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    for (const [i, [, heading]] of cases.entries()) {
      const result = results[i] as CliResult;
      assert.equal(result.status, 0);
      assert.ok(result.stdout.startsWith(heading), result.stdout);
    }
  });

  test("every help's options and commands line up: one column of descriptions a table; serve's usage needs one of its two options", async () => {
    for (const args of [['--help'], ['validate', '--help'], ['tail', '--help'], ['serve', '--help']]) {
      const help = (await runCli(args)).stdout;
      for (const table of help.split(/\n(?=\S)/).filter((block) => /^(?:Options|Commands):\n/.test(block))) {
        // A row: two spaces, the option, two spaces or more, its description; a further line of
        // the description: spaces only before it. Both start in one column.
        const rows = table.split('\n').slice(1).filter((line) => line !== '');
        const columns = new Set(rows.map((line) => (/^ {2}\S.*? {2,}(?=\S)/.exec(line) ?? /^ +/.exec(line) ?? [''])[0].length));
        assert.equal(columns.size, 1, `${args.join(' ')}:\n${table}`);
      }
    }
    const serve = (await runCli(['serve', '--help'])).stdout;
    assert.match(serve, /^Usage: vmm-metrics serve \[options\] \(--metrics-path PATH \| --metrics-dir DIR \| --metrics-glob PATTERN\)\.\.\.\n/);
  });

  test('a line with more than 100 problems lists 100 and counts the rest; the totals count them all', async () => {
    const [line = ''] = writtenLines(makeDocument(), 1);
    const keys = Array.from({ length: 300 }, (_, i) => `"p${String(300 - i).padStart(3, '0')}":"x"`).join(',');
    const path = file('hostile.json', `${line.replace(/"properties":\{[^}]*\}/, `"properties":{${keys}}`)}\n`);
    const result = await validate(path);
    assert.equal(result.status, 1);
    const messages = result.stderr.split('\n').slice(0, -1);
    assert.equal(messages.length, 101);
    assert.equal(messages[100], `${path}:1: … and 199 more problems on this line (199 errors), not listed: only the first 100 are`);
    assert.equal(result.stdout, `${path}: 1 line, 1 invalid (299 errors)\n`);
  });

  test('--max-line-bytes: a longer line is reported as too long and skipped; the others pass', async () => {
    const [line = ''] = writtenLines(makeDocument(), 1);
    const bytes = Buffer.byteLength(line);
    const path = file('two.json', `${line}\nnope\n`);
    const [tight, exact] = await Promise.all([validate(path, '--max-line-bytes', '100'), validate(path, '--max-line-bytes', String(bytes))]);
    assert.equal(tight.status, 1);
    const [tooLong, notJson] = tight.stderr.split('\n');
    assert.equal(tooLong, `${path}:1: line too long (over 100 bytes), skipped`);
    assert.match(notJson ?? '', /:2: invalid JSON: /);
    assert.equal(exact.status, 1);
    assert.match(exact.stderr, /^[^\n]*:2: invalid JSON: [^\n]*\n$/);
  });

  // Issue 6: problems were written without waiting for 'drain', so a reader slower than the
  // validator made every message pile up in memory. 20,000 lines of "{}" give 460,000 problems
  // (23 each against Firecracker's schema); before, a 32 MB heap ran out after a few hundred.
  test('a slow reader of stderr keeps memory bounded: every problem arrives (32 MB heap)', async () => {
    const lines = 20_000;
    const path = file('empty-objects.json', '{}\n'.repeat(lines));
    const result = await runCliSlowReader(['validate', path], { heapMb: 32, pauseMs: 2 });
    assert.equal(result.signal, null, `killed by ${String(result.signal)}; stderr: ${result.stderrEnds}`);
    assert.equal(result.status, 1, result.stderrEnds);
    assert.equal(result.stderrLines, lines * 23, result.stderrEnds);
    assert.match(result.stderrEnds, new RegExp(`^${path}:1: utc_timestamp_ms: missing\n`));
    assert.equal(result.stdoutEnds.split('\n…\n')[1], `${path}: 20000 lines, 20000 invalid (460000 errors)\n`);
  });
});
