import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Metrics } from '../../src/index.js';
import { closeFd, makeDocument, mkfifo, openFifoWriter, sleep, tempDir, waitFor } from '../reader/helpers.js';
import { FIXTURE_DOCUMENT, RunningCli, runCli, runCliSlowReader } from './helpers.js';

let dir: string;
let removeDir: () => void;
const running: RunningCli[] = [];

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir('vmm-metrics-tail-'));
});

afterEach(() => {
  for (const cli of running.splice(0)) cli.kill();
  removeDir();
});

function tail(path: string, ...options: string[]): RunningCli {
  const cli = new RunningCli(['tail', '--document', FIXTURE_DOCUMENT, '--poll-ms', '10', ...options, path]);
  running.push(cli);
  return cli;
}

function fileLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

describe('vmm-metrics tail', () => {
  test('--json follows a file a Metrics writer appends to, printing exactly its records', async () => {
    const doc = makeDocument();
    const path = join(dir, 'metrics.json');
    const metrics = new Metrics(doc.document);
    metrics.init(path, { flushIntervalMs: 0, id: 'vm-1' });
    try {
      doc.api.requests.add(2n ** 64n - 1n);
      metrics.write();
      metrics.write();
      const cli = tail(path, '--json');
      // By default a file shows its last line, then what follows.
      assert.deepEqual(await cli.waitForLines(1), fileLines(path).slice(1));
      for (let i = 0; i < 3; i++) {
        doc.disks.alloc('b').read_bytes.add(2n ** 53n + BigInt(i));
        metrics.write();
        await sleep(5);
      }
      assert.deepEqual(await cli.waitForLines(4), fileLines(path).slice(1));
      assert.equal(await cli.interrupt(), 0);
      assert.equal(cli.stderr, '');
    } finally {
      metrics.close();
    }
  });

  test('--from-start shows every line; lines appended in pieces come out whole', async () => {
    const doc = makeDocument();
    const source = join(dir, 'source.json');
    const metrics = new Metrics(doc.document);
    metrics.init(source, { flushIntervalMs: 0 });
    for (let i = 1; i <= 3; i++) {
      doc.api.requests.add(i);
      metrics.write();
    }
    metrics.close();
    const lines = fileLines(source);
    const path = join(dir, 'metrics.json');
    writeFileSync(path, `${lines[0]}\n`);
    const cli = tail(path, '--json', '--from-start');
    await cli.waitForLines(1);
    const rest = `${lines[1]}\n${lines[2]}\n`;
    for (const [from, to] of [[0, 7], [7, 100], [100, rest.indexOf('\n') + 3], [rest.indexOf('\n') + 3, rest.length]] as const) {
      appendFileSync(path, rest.slice(from, to));
      await sleep(25);
    }
    assert.deepEqual(await cli.waitForLines(3), lines);
    assert.equal(await cli.interrupt(), 0);
  });

  test('follows a named pipe whose writer closes and reopens', async () => {
    const doc = makeDocument();
    const fifo = join(dir, 'metrics.fifo');
    mkfifo(fifo);
    const cli = tail(fifo, '--json');
    const written: string[] = [];
    for (let round = 1; round <= 2; round++) {
      // Wait until tail has the pipe open again, so a writer that closes at once loses nothing.
      const probe = await openFifoWriter(fifo);
      const metrics = new Metrics(doc.document);
      metrics.init(fifo, { flushIntervalMs: 0 });
      for (let i = 0; i < 2; i++) {
        doc.api.requests.add(round * 10 + i);
        written.push(metrics.render());
        metrics.write();
      }
      metrics.close();
      closeFd(probe);
      await cli.waitForOutput(round === 1 ? /writer closed it/ : /writer closed it[^]*writer closed it/, 'stderr');
    }
    const fd = await openFifoWriter(fifo);
    writeSync(fd, written[0]?.slice(0, 20) ?? '');
    await sleep(20);
    writeSync(fd, `${written[0]?.slice(20) ?? ''}\n`);
    closeFd(fd);
    // The writer stamps each line when it writes it; compare everything else exactly.
    const unstamped = (lines: readonly (string | undefined)[]): string[] => lines.map((l) => (l ?? '').replace(/^\{"utc_timestamp_ms":\d+/, '{"utc_timestamp_ms":0'));
    const output = await cli.waitForLines(5);
    assert.deepEqual(unstamped(output.slice(0, 4)), unstamped(written));
    assert.equal(output[4], written[0]);
    assert.equal(await cli.interrupt(), 0);
  });

  /** Lines of the fixture document, one per step, stamped `stepMs` apart from two minutes ago. */
  function stampedLines(steps: readonly ((doc: ReturnType<typeof makeDocument>) => void)[], stepMs = 1000): string[] {
    const doc = makeDocument();
    const metrics = new Metrics(doc.document);
    metrics.init(join(dir, 'scratch.json'), { flushIntervalMs: 0, id: 'vm-1' });
    const t0 = Date.now() - 120_000;
    const lines = steps.map((step, i) => {
      step(doc);
      const line = metrics.render().replace(/"utc_timestamp_ms":\d+/, `"utc_timestamp_ms":${t0 + i * stepMs}`);
      metrics.write();
      return line;
    });
    metrics.close();
    return lines;
  }

  test('the view shows per group the totals since line 1 and the deltas and rates of the last line that moved, humanised and aligned', async () => {
    const [first = '', second = ''] = stampedLines(
      [
        () => undefined,
        (doc) => {
          doc.api.requests.add(120);
          doc.api.level.store(5);
          doc.disks.alloc('a').read_bytes.add(2n ** 64n - 1n);
        },
      ],
      60_000,
    );
    const path = join(dir, 'metrics.json');
    writeFileSync(path, `${first}\n`);
    const cli = tail(path);
    await cli.waitForOutput(/no line moved anything since line 1\n {2}nothing moved\n/);
    appendFileSync(path, `${second}\n`);
    await cli.waitForOutput(/never\n\n[^]*never\n\n/);
    assert.equal(await cli.interrupt(), 0);
    const block = cli.stdout.split('\n\n')[1] ?? '';
    assert.match(block, /^\S+\/metrics\.json {2}\| {2}id "vm-1" {2}\| {2}2 lines from \S+Z over 60\.0 s$/m);
    assert.match(block, /^last line that moved something: line 2, 60\.000 s after the line before it$/m);
    const rows = block.split('\n');
    const row = (name: string): string => rows.find((r) => r.trimStart().startsWith(`${name} `)) ?? `(no row ${name})`;
    assert.match(row('requests'), /^ {4}requests +\+120 +2\.0\/s +120$/);
    assert.match(row('level'), /^ {4}level +\+5 +5$/, 'a store: its change and its value, no rate');
    assert.match(row('read_bytes'), /^ {4}read_bytes +\+16\.0 EiB +273\.1 PiB\/s +16\.0 EiB$/);
    const heading = rows.find((r) => r.includes('METRIC')) ?? '';
    // Numbers are right-aligned: each row's delta ends where the DELTA heading ends.
    const deltaEnd = heading.indexOf('DELTA') + 'DELTA'.length;
    for (const name of ['requests', 'read_bytes']) {
      const r = row(name);
      const plus = r.indexOf('+');
      assert.equal(r.indexOf('  ', plus) === -1 ? r.length : r.indexOf('  ', plus), deltaEnd, `${name} aligned in ${JSON.stringify(block)}`);
    }
    assert.ok(rows.includes('  api'));
    assert.ok(rows.includes('  disk_a'));
    assert.ok(rows.includes('  disk'));
  });

  test("after a session whose last line moved nothing: one view, once the file's lines are read, of its totals and the line before that moved; then each new line", async () => {
    const lines = stampedLines([
      (doc) => {
        doc.api.requests.add(3);
      },
      (doc) => {
        doc.disks.alloc('a').read_bytes.add(3 * 1024 * 1024);
      },
      () => undefined,
    ]);
    const path = join(dir, 'metrics.json');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const cli = tail(path);
    await cli.waitForOutput(/never\n\n$/);
    await sleep(100);
    assert.equal(cli.stdout.split('\n\n').length, 2, `one view for the three lines already there: ${cli.stdout}`);
    assert.match(cli.stdout, /^last line that moved something: line 2, 1\.000 s after the line before it \(line 3, the latest, moved nothing\)$/m);
    assert.match(cli.stdout, /^ {4}requests +3$/m, 'moved in line 1: its total');
    assert.match(cli.stdout, /^ {4}read_bytes +\+3\.0 MiB +3\.0 MiB\/s +3\.0 MiB$/m);
    assert.match(cli.stdout, /^ {2}2 moved in line 2; 3 values moved since line 1 in 3 entries, \d+ never$/m, 'disk_a and its aggregate, disk');
    const [more = ''] = stampedLines([(doc) => { doc.api.requests.add(4); }]);
    appendFileSync(path, `${more}\n`);
    await cli.waitForOutput(/never\n\n[^]*never\n\n$/);
    assert.match(cli.stdout.split('\n\n')[1] ?? '', /^ {4}requests +\+4 +- +7$/m, 'the total goes on: 3 + 4');
    assert.equal(await cli.interrupt(), 0);
    assert.equal(cli.stderr, '');
  });

  test('--from-start tells the story line by line, a run of quiet lines in one, then the view', async () => {
    const lines = stampedLines([
      (doc) => {
        doc.api.requests.add(2);
      },
      () => undefined,
      () => undefined,
      (doc) => {
        doc.disks.alloc('b').read_bytes.add(1536);
        doc.api.level.store(7);
      },
      () => undefined,
    ]);
    const path = join(dir, 'metrics.json');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const cli = tail(path, '--from-start');
    await cli.waitForOutput(/never\n\n$/);
    const story = cli.stdout.split('\n').slice(0, 4);
    assert.deepEqual(story, [
      'line 1  t+0.0 s  api: requests +2',
      'lines 2–3  nothing moved',
      'line 4  t+3.0 s  api: level +7; disk_b: read_bytes +1.5 KiB; disk: read_bytes +1.5 KiB',
      'line 5  nothing moved',
    ]);
    assert.match(cli.stdout, /^line 5 {2}nothing moved\n\n\S+\/metrics\.json {2}\| {2}id "vm-1" {2}\| {2}5 lines from /m, 'then the view, after an empty line');
    const [more = ''] = stampedLines([(doc) => { doc.api.requests.add(1); }]);
    appendFileSync(path, `${more}\n`);
    // A new writer's first line: its level store is 0 again.
    await cli.waitForOutput(/never\n\nline 6 {2}t\+[\d.]+ s {2}api: requests \+1, level -7\n$/);
    assert.equal(await cli.interrupt(), 0);
  });

  test('several paths: a view for each, named by its path; --json takes one; a path that cannot be read exits 2 before any starts', async () => {
    const [one = '', two = ''] = stampedLines([(doc) => { doc.api.requests.add(1); }, (doc) => { doc.api.requests.add(2); }]);
    const first = join(dir, 'vm-1.json');
    const second = join(dir, 'vm-2.json');
    writeFileSync(first, `${one}\n`);
    writeFileSync(second, `${two}\n`);
    const cli = tail(first, second);
    await cli.waitForOutput(/never\n\n[^]*never\n\n/);
    assert.match(cli.stdout, new RegExp(`^${first.replaceAll('.', '\\.')} {2}\\| [^]*^ {4}requests +\\+1 +- +1$`, 'm'));
    assert.match(cli.stdout, new RegExp(`^${second.replaceAll('.', '\\.')} {2}\\| [^]*^ {4}requests +\\+2 +- +2$`, 'm'));
    assert.equal(await cli.interrupt(), 0);
    const json = await runCli(['tail', '--json', first, second]);
    assert.equal(json.status, 2);
    assert.match(json.stderr, /--json takes one PATH: a record does not say which file it came from/);
    const missing = await runCli(['tail', first, join(dir, 'missing.json')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /Cannot read metrics from .*missing\.json: ENOENT/);
    assert.equal(missing.stdout, '');
    const twice = await runCli(['tail', first, first]);
    assert.equal(twice.status, 2);
    assert.match(twice.stderr, /is named twice/);
  });

  test('standard input has no past: each line is drawn, its totals since tail started', async () => {
    const lines = stampedLines([(doc) => { doc.api.requests.add(5); }, (doc) => { doc.api.requests.add(6); }]);
    const result = await runCli(['tail', '--document', FIXTURE_DOCUMENT, '-'], `${lines.join('\n')}\n`);
    assert.equal(result.status, 0, result.stderr);
    const blocks = result.stdout.split('\n\n').filter((block) => block !== '');
    assert.equal(blocks.length, 2);
    assert.match(blocks[1] ?? '', /^ {4}requests +\+6 +6\.0\/s +11$/m);
    assert.match(blocks[1] ?? '', /VALUE: a counter's total since tail started/);
  });

  test('starts over on truncation, and says so', async () => {
    const doc = makeDocument();
    const path = join(dir, 'metrics.json');
    const metrics = new Metrics(doc.document);
    metrics.init(path, { flushIntervalMs: 0 });
    doc.api.requests.add(1);
    metrics.write();
    metrics.close();
    const [line] = fileLines(path);
    const cli = tail(path, '--json');
    await cli.waitForLines(1);
    writeFileSync(path, `${line}\n`.replace('"requests":1', '"requests":9'));
    await cli.waitForLines(2);
    await waitFor(() => cli.stderr.includes('was truncated'), 'the truncation note');
    assert.match(cli.lines()[1] ?? '', /"requests":9/);
    assert.equal(await cli.interrupt(), 0);
  });

  test('a path that cannot be read exits 2', async () => {
    const result = await runCli(['tail', join(dir, 'missing.json')]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /vmm-metrics tail: Cannot read metrics from .*missing\.json: ENOENT/);
    const bad = await runCli(['tail', '--poll-ms', 'soon', join(dir, 'x')]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--poll-ms: expected milliseconds/);
  });

  test('--max-line-bytes: a longer line is reported as too long and skipped, the next one read', async () => {
    const doc = makeDocument();
    const metrics = new Metrics(doc.document);
    const line = metrics.render();
    const result = await runCli(['tail', '--json', '--document', FIXTURE_DOCUMENT, '--max-line-bytes', String(Buffer.byteLength(line) - 1), '-'], `${line}\n{}\n`);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.split('\n')[0], `-:1: line too long (over ${Buffer.byteLength(line) - 1} bytes), skipped`);
    assert.match(result.stderr, /\n-:2: utc_timestamp_ms: missing\n/);
    assert.equal(result.stdout, '');
  });

  // Issue 6: output was written without waiting for 'drain'; a reader slower than tail made it
  // pile up in memory. 20,000 lines of "{}" give 460,000 problems (23 each against
  // Firecracker's schema); before, a 32 MB heap ran out after a few hundred.
  test('a slow reader keeps memory bounded: every problem of --json arrives (32 MB heap)', async () => {
    const lines = 20_000;
    const path = join(dir, 'empty-objects.json');
    writeFileSync(path, '{}\n'.repeat(lines));
    const result = await runCliSlowReader(['tail', '--json', '-'], { heapMb: 32, pauseMs: 2, stdinPath: path });
    assert.equal(result.signal, null, `killed by ${String(result.signal)}; stderr: ${result.stderrEnds}`);
    assert.equal(result.status, 0, result.stderrEnds);
    assert.equal(result.stderrLines, lines * 23, result.stderrEnds);
    assert.equal(result.stdoutLines, 0, result.stdoutEnds);
    assert.match(result.stderrEnds, /^-:1: utc_timestamp_ms: missing\n/);
    assert.match(result.stderrEnds, /-:20000: memory_hotplug: missing group\n$/);
  });
});
