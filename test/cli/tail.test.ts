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

  test('the view shows per group the counters that moved, their deltas and rates, aligned', async () => {
    const doc = makeDocument();
    const metrics = new Metrics(doc.document);
    metrics.init(join(dir, 'scratch.json'), { flushIntervalMs: 0 });
    const t0 = Date.now() - 120_000;
    const first = metrics.render().replace(/"utc_timestamp_ms":\d+/, `"utc_timestamp_ms":${t0}`);
    doc.api.requests.add(120);
    doc.api.level.store(5);
    doc.disks.alloc('a').read_bytes.add(2n ** 64n - 1n);
    const second = metrics.render().replace(/"utc_timestamp_ms":\d+/, `"utc_timestamp_ms":${t0 + 60_000}`);
    metrics.close();
    const path = join(dir, 'metrics.json');
    writeFileSync(path, `${first}\n`);
    const cli = tail(path, '--from-start');
    await cli.waitForOutput(/nothing moved/);
    appendFileSync(path, `${second}\n`);
    await cli.waitForOutput(/unchanged\n\n[^]*unchanged\n\n/);
    assert.equal(await cli.interrupt(), 0);
    const block = cli.stdout.split('\n\n')[1] ?? '';
    assert.match(block, /line 2 {2}\| {2}.* {2}\| {2}60\.000 s after the previous line/);
    const rows = block.split('\n');
    const row = (name: string): string => rows.find((r) => r.trimStart().startsWith(`${name} `)) ?? `(no row ${name})`;
    assert.match(row('requests'), /^ {4}requests +\+120 +2\.000$/);
    assert.match(row('level'), /^ {4}level +\+5 +5$/);
    assert.match(row('read_bytes'), /^ {4}read_bytes +\+18446744073709551615 +307445734561825856\.0|^ {4}read_bytes +\+18446744073709551615 +3\.074e\+17$/);
    const heading = rows.find((r) => r.includes('METRIC')) ?? '';
    // Numbers are right-aligned: each row's delta ends where the DELTA heading ends.
    const deltaEnd = heading.indexOf('DELTA') + 'DELTA'.length;
    for (const name of ['requests', 'read_bytes']) {
      const r = row(name);
      const plus = r.indexOf('+');
      assert.equal(r.indexOf(' ', plus) === -1 ? r.length : r.indexOf(' ', plus), deltaEnd, `${name} aligned in ${JSON.stringify(block)}`);
    }
    assert.ok(rows.includes('  api'));
    assert.ok(rows.includes('  disk_a'));
    assert.ok(rows.includes('  disk'));
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
