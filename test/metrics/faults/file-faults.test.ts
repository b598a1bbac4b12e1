/**
 * Faults of a metrics file: a full file system (ENOSPC, on a real 64 KiB tmpfs) and a file size
 * limit (EFBIG, under `ulimit -f` in a child), each followed by a rotation.
 *
 * What must hold afterwards, in every case: every increment is in exactly one valid line (the
 * sum of the counter's deltas over every line of every file the rotation produced is the number
 * of increments), the files only ever hold whole lines that are valid JSON ending in a newline,
 * each failed write threw a `MetricsWriteError` with the errno as its cause, and each one was
 * counted once as a missed line.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, afterEach, before, describe, test, type TestContext } from 'node:test';
import { FirecrackerMetrics, Metrics, MetricsWriteError } from '../../../src/index.js';
import type { EfbigSummary } from './support/efbig-child.js';
import { readWholeLines, sumOf, type Line } from './support/lines.js';
import { childScript, runChild } from './support/processes.js';

/**
 * A VM's writer into a file that is about to fill up: counts into the balloon's `inflate_count`
 * before every write and checks what each write leaves behind.
 */
class FillingWriter {
  readonly vm = new FirecrackerMetrics();
  readonly metrics = new Metrics(this.vm);
  /** Every increment made. */
  total = 0;
  /** Increments since the last line that got out: what the next line must carry. */
  unwritten = 0;
  failures = 0;
  /** The file's size before each failed write. */
  readonly sizesAtFailure: number[] = [];
  #step = 0;

  constructor(readonly path: string) {
    this.metrics.init(path, { flushIntervalMs: 0 });
  }

  /** Counts, writes a line and checks the file and the counters; whether the line got out. */
  countAndWrite(): boolean {
    const amount = ++this.#step;
    this.vm.balloon.inflate_count.add(amount);
    this.total += amount;
    this.unwritten += amount;
    const sizeBefore = statSync(this.path, { throwIfNoEntry: false })?.size ?? 0;
    let error: unknown;
    try {
      assert.equal(this.metrics.write(), true);
    } catch (thrown) {
      error = thrown;
    }
    readWholeLines(this.path);
    if (error === undefined) {
      this.unwritten = 0;
      assert.equal(this.vm.balloon.inflate_count.fetchDiff(), 0);
      return true;
    }
    this.failures++;
    this.sizesAtFailure.push(sizeBefore);
    assert.ok(error instanceof MetricsWriteError, `not a MetricsWriteError: ${inspect(error)}`);
    assert.equal(error.name, 'MetricsWriteError');
    assert.match(error.message, /^Failed to write metrics: ENOSPC/);
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOSPC');
    assert.equal(error.pendingBytes, 0, 'nothing of a line is kept for later in a regular file');
    assert.equal(statSync(this.path).size, sizeBefore, 'the torn line was taken back');
    assert.equal(this.vm.balloon.inflate_count.fetchDiff(), this.unwritten, 'the failed lines\' deltas wait for the next line');
    assert.equal(this.vm.logger.missed_metrics_count.count(), this.failures, 'each failed line is counted once');
    return false;
  }

  /** Writes until `failures` more lines have failed; returns how many got out meanwhile. */
  fillUp(failures: number): number {
    let written = 0;
    const until = this.failures + failures;
    for (let i = 0; this.failures < until; i++) {
      assert.ok(i < 200, '200 lines fitted in a 64 KiB file system');
      if (this.countAndWrite()) written++;
    }
    return written;
  }

  /** After the file system has room again: `count` lines, each of which must get out. */
  writeAfterRotation(count: number): void {
    for (let i = 0; i < count; i++) assert.equal(this.countAndWrite(), true, 'a line after the rotation got out');
  }

  /** Closes the writer and checks every line of `files`: exactly-once counts, missed lines counted. */
  finish(files: readonly string[]): Line[] {
    this.metrics.close();
    const lines = files.flatMap(readWholeLines);
    assert.equal(sumOf(lines, 'balloon', 'inflate_count'), this.total, 'every increment is in exactly one line');
    assert.equal(this.vm.balloon.inflate_count.fetchDiff(), 0);
    // A missed line is counted after its own line was taken, so a later line carries the count.
    assert.equal(sumOf(lines, 'logger', 'missed_metrics_count'), this.failures);
    assert.equal(this.vm.logger.missed_metrics_count.count(), this.failures);
    return lines;
  }
}

describe('ENOSPC: a full tmpfs', () => {
  // 64 KiB: about 13 lines of a Firecracker document (about 4.9 KB each), then a torn one.
  const TMPFS_SIZE = '64k';
  let mountPoint = '';
  let rotatedDir = '';
  let cannotMount: string | undefined;
  /** Writers of the current test, closed after it even if it failed, so that the tmpfs is not busy. */
  const writers: FillingWriter[] = [];

  function fillingWriter(path: string): FillingWriter {
    const writer = new FillingWriter(path);
    writers.push(writer);
    return writer;
  }

  before(() => {
    mountPoint = mkdtempSync(join(tmpdir(), 'vmm-metrics-tmpfs-'));
    rotatedDir = mkdtempSync(join(tmpdir(), 'vmm-metrics-rotated-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch (error) {
      // mount's first line says why ("must be superuser to use mount."); the rest points to dmesg.
      const [reason = ''] = ((error as { stderr?: Buffer }).stderr?.toString() ?? '').trim().split('\n');
      cannotMount = reason !== '' ? reason : (error as Error).message;
    }
  });

  after(() => {
    // Lazily: a descriptor left open by a failed test does not keep the tmpfs mounted at its path.
    if (cannotMount === undefined) execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
    rmSync(mountPoint, { recursive: true, force: true });
    rmSync(rotatedDir, { recursive: true, force: true });
  });

  afterEach(() => {
    for (const writer of writers.splice(0)) writer.metrics.close();
    for (const dir of [mountPoint, rotatedDir]) for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
  });

  function skipUnlessMounted(t: TestContext): boolean {
    if (cannotMount === undefined) return false;
    t.skip(`cannot mount a ${TMPFS_SIZE} tmpfs to fill up (this test needs root or CAP_SYS_ADMIN): ${cannotMount}`);
    return true;
  }

  test('the file fills up: each failed line is taken back, counted once, and its deltas carried over; copy-truncate frees it', (t) => {
    if (skipUnlessMounted(t)) return;
    const path = join(mountPoint, 'metrics.json');
    const writer = fillingWriter(path);
    assert.ok(writer.fillUp(3) >= 10, 'lines got out until the file system was full');
    // The file system had room for part of the first failed line: it was torn, then taken back.
    assert.ok((writer.sizesAtFailure[0] ?? Infinity) < 64 * 1024);
    // And it stays full: the same line fails again, nothing is written.
    assert.equal(writer.countAndWrite(), false);

    // Copy-truncate (logrotate's copytruncate): the writer keeps its descriptor and appends at the new end.
    const copy = join(rotatedDir, 'metrics.json.1');
    copyFileSync(path, copy);
    truncateSync(path, 0);
    writer.writeAfterRotation(3);
    // Appended at the new end: a write at the old offset would leave a hole of NULs, not a line.
    assert.equal(readWholeLines(path).length, 3);

    const lines = writer.finish([copy, path]);
    assert.equal(writer.failures, 4);
    assert.equal(lines.length, readWholeLines(copy).length + 3);
  });

  test('rename-and-create: the renamed file is moved off the tmpfs; the writer creates the path anew and the held-over deltas land there', (t) => {
    if (skipUnlessMounted(t)) return;
    const path = join(mountPoint, 'metrics.json');
    const writer = fillingWriter(path);
    writer.fillUp(3);
    const { ino } = statSync(path);

    const renamed = join(mountPoint, 'metrics.json.1');
    const moved = join(rotatedDir, 'metrics.json.1');
    renameSync(path, renamed);
    copyFileSync(renamed, moved);
    unlinkSync(renamed); // frees the space once the writer lets go of its descriptor
    writer.writeAfterRotation(3);
    assert.notEqual(statSync(path).ino, ino, 'a new file at the path');
    assert.equal(readWholeLines(path).length, 3);

    // The new file fills up in turn, and the writer handles it the same way.
    writer.fillUp(2);
    const moved2 = join(rotatedDir, 'metrics.json.2');
    copyFileSync(path, moved2);
    truncateSync(path, 0);
    writer.writeAfterRotation(1);

    writer.finish([moved, moved2, path]);
    assert.equal(writer.failures, 5);
  });
});

describe('EFBIG: a file size limit (ulimit -f)', () => {
  for (const mode of ['path', 'fd'] as const) {
  test(`lines past the limit fail with EFBIG and are taken back; the process lives on and writes into the rotated file (${mode === 'path' ? 'a path' : 'a descriptor without O_APPEND'})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-efbig-'));
    try {
      // 8 blocks of 1 KiB: seven lines of about 1 KiB fit, the eighth is cut part way through.
      const child = await runChild('bash', ['-c', 'ulimit -f 8 && exec "$@"', 'bash', process.execPath, childScript('efbig-child'), dir, mode]);
      assert.equal(child.timedOut, false, 'the child finished in time');
      assert.deepEqual([child.code, child.signal], [0, null], `the child survived the limit (SIGXFSZ is ignored); stderr: ${child.stderr}`);
      const summary = JSON.parse(child.stdout) as EfbigSummary;

      assert.equal(summary.failures.length, 3);
      for (const failure of summary.failures) {
        assert.equal(failure.name, 'MetricsWriteError');
        assert.equal(failure.causeCode, 'EFBIG');
        assert.match(failure.message, /^Failed to write metrics: EFBIG/);
        assert.equal(failure.sizeAfter, failure.sizeBefore, 'the torn line was taken back');
      }
      // The first failed line was cut part way (the limit fell inside it), then taken back.
      assert.ok((summary.failures[0]?.sizeBefore ?? Infinity) < 8 * 1024);
      assert.ok(summary.successes >= 7, `${summary.successes} lines got out`);
      assert.equal(summary.missed, 3, 'each failed line is counted once');
      assert.equal(summary.pending, 0);

      assert.equal(summary.files.length, 2);
      for (const file of summary.files) assert.ok(statSync(file).size <= 8 * 1024, `${file} is within the limit`);
      const lines = summary.files.flatMap(readWholeLines);
      assert.equal(lines.length, summary.successes);
      assert.equal(sumOf(lines, 'dev', 'ops'), summary.total, 'every increment is in exactly one line');
      assert.equal(sumOf(lines, 'dev', 'missed'), 3, 'the missed lines are written too');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  }
});
