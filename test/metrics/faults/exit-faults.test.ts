/**
 * Faults around the end of a process and around a line being built: SIGTERM with and without a
 * graceful shutdown of the application's own, two writers (two VMs) in one process,
 * `process.exit()` called from inside a section of the document, and a section that calls its
 * own writer's `write()` or `render()`.
 *
 * What must hold afterwards, in every case: the files only hold whole lines that are valid JSON
 * ending in a newline, every increment made before the end is in exactly one of them (unless the
 * end made the last line impossible, and then the file is still valid), and a line that did not
 * get out is counted as missed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  EntryDocument,
  FirecrackerMetrics,
  LocalIncMetric,
  Metrics,
  MetricsWriteError,
  MetricsWriteInProgressError,
  defineGroup,
  groupEntry,
  inc,
  store,
  type DocumentEntry,
  type MetricsLine,
} from '../../../src/index.js';
import { deltasOf, parseWholeLines, readWholeLines, sumOf } from './support/lines.js';
import { runNodeChild, type ChildResult } from './support/processes.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-exit-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a scenario of `support/exit-child`, sending SIGTERM once it prints "ready". */
async function runScenario(scenario: string, ...args: string[]): Promise<ChildResult & { printed: unknown[] }> {
  const result = await runNodeChild('exit-child', [scenario, dir, ...args], {
    onLine: (line, child) => {
      if (line === 'ready') child.kill('SIGTERM');
    },
  });
  assert.equal(result.timedOut, false, `the child of ${scenario} ended in time; stderr: ${result.stderr}`);
  const printed = result.stdout
    .split('\n')
    .filter((line) => line !== '' && line !== 'ready')
    .map((line) => JSON.parse(line) as unknown);
  return { ...result, printed };
}

/** What the graceful shutdown of the child prints: per writer, its counter's total and its file's lines. */
interface Shutdown<T> {
  readonly atSignal: T;
  readonly atExit: T;
  readonly handlerCalls: number;
}
interface Progress {
  readonly total: number;
  readonly lines: number;
}

describe('SIGTERM with flushOnExit', () => {
  test('the application shuts down gracefully: a line at the signal, then a last line at exit with everything counted meanwhile', async () => {
    const child = await runScenario('own-handler');
    assert.deepEqual([child.code, child.signal], [0, null], child.stderr);
    const [shutdown] = child.printed as [Shutdown<Progress>];
    assert.equal(shutdown.handlerCalls, 1, 'the signal was not raised again over the application\'s handler');
    assert.deepEqual(shutdown.atSignal, { total: 5, lines: 1 }, 'the signal line was written before the application\'s handler ran');

    const lines = readWholeLines(join(dir, 'metrics.json'));
    assert.equal(lines.length, 2, 'the signal line and the exit line');
    const countedAfterSignal = shutdown.atExit.total - 5;
    assert.ok(countedAfterSignal >= 2, `the shutdown counted ${countedAfterSignal} times`);
    assert.deepEqual(deltasOf(lines, 'dev', 'ops'), [5, countedAfterSignal]);
    assert.equal(sumOf(lines, 'dev', 'ops'), shutdown.atExit.total);
  });

  test('a `once` handler registered before init() is the application\'s too: the process lives on to exit', async () => {
    const child = await runScenario('once-handler-before-init');
    assert.deepEqual([child.code, child.signal], [0, null], child.stderr);
    const [shutdown] = child.printed as [Shutdown<Progress>];
    assert.equal(shutdown.handlerCalls, 1);
    const lines = readWholeLines(join(dir, 'metrics.json'));
    assert.deepEqual(deltasOf(lines, 'dev', 'ops'), [5, shutdown.atExit.total - 5]);
  });

  test('no handler of the application\'s own: the last line, then the process dies of SIGTERM', async () => {
    const child = await runScenario('no-handler');
    assert.deepEqual([child.code, child.signal], [null, 'SIGTERM'], child.stderr);
    const lines = readWholeLines(join(dir, 'metrics.json'));
    assert.deepEqual(deltasOf(lines, 'dev', 'ops'), [5], 'one line, carrying the counts: no second line at exit');
  });
});

describe('two writers with flushOnExit in one process (two VMs)', () => {
  test('SIGTERM: each VM\'s file gets its last line, and the signal is raised again once, so the process dies of it', async () => {
    const child = await runScenario('two-vms');
    assert.deepEqual([child.code, child.signal], [null, 'SIGTERM'], `each writer saw the other's listener and left the signal to it; stderr: ${child.stderr}`);
    for (const i of [0, 1]) {
      const lines = readWholeLines(join(dir, `vm${i}.json`));
      assert.deepEqual(deltasOf(lines, 'balloon', 'inflate_count'), [10 + i, 20 + i], `vm${i}: the line before the signal, then the signal line`);
      assert.deepEqual(
        lines.map((line) => line.id),
        [`vm-${i}`, `vm-${i}`],
      );
    }
  });

  test('SIGTERM with a graceful shutdown: each file gets a line at the signal and a last line at exit', async () => {
    const child = await runScenario('two-vms-own-handler');
    assert.deepEqual([child.code, child.signal], [0, null], child.stderr);
    const [shutdown] = child.printed as [Shutdown<Progress[]>];
    assert.equal(shutdown.handlerCalls, 1, 'the signal was not raised again over the application\'s handler');
    for (const i of [0, 1]) {
      assert.deepEqual(shutdown.atSignal[i], { total: 30 + 2 * i, lines: 2 }, `vm${i}: the signal line was written before the handler ran`);
      const total = shutdown.atExit[i]?.total ?? NaN;
      const lines = readWholeLines(join(dir, `vm${i}.json`));
      assert.deepEqual(deltasOf(lines, 'balloon', 'inflate_count'), [10 + i, 20 + i, total - 30 - 2 * i]);
      assert.equal(sumOf(lines, 'balloon', 'inflate_count'), total);
    }
  });
});

describe('process.exit() from inside a section', () => {
  interface Exited {
    readonly build: number;
    readonly total: number;
  }

  test('the line being built is given up and the exit hook writes a whole new one with every increment', async () => {
    const child = await runScenario('exit-in-section', '4');
    assert.deepEqual([child.code, child.signal], [3, null], child.stderr);
    assert.deepEqual(child.printed, [{ build: 4, total: 5 }]);
    const lines = readWholeLines(join(dir, 'metrics.json'));
    assert.deepEqual(
      lines.map((line) => line.build),
      [1, 2, 3, 5],
      'no line of build 4, which exited; the exit line is build 5',
    );
    // Build 4 had taken its increment when the section exited, and counted one more: both are in the exit line.
    assert.deepEqual(deltasOf(lines, 'dev', 'ops'), [1, 1, 1, 2]);
    assert.equal(sumOf(lines, 'dev', 'ops'), (child.printed[0] as Exited).total);
  });

  test('the exit hook run from inside a section while the process goes on: the given-up line takes nothing more', async () => {
    const child = await runNodeChild('exit-child', ['exit-event-in-section', dir]);
    assert.deepEqual([child.code, child.signal], [0, null], child.stderr);
    const result = JSON.parse(child.stdout) as { outer: string; total: number; pending: number; missed: number };
    assert.equal(result.outer, 'Failed to write metrics: the line was given up while it was built');
    assert.equal(result.pending, 0, 'nothing is stuck in flight');
    assert.equal(result.missed, 1, 'the given-up line counts as missed');
    const lines = readWholeLines(join(dir, 'metrics.json'));
    assert.deepEqual(lines.map((line) => line.build), [1, 3, 4], 'the exit hook\'s line is build 3');
    assert.equal(sumOf(lines, 'later', 'ops'), result.total, 'every increment in exactly one line');
  });

  for (const nth of [1, 3]) {
    test(`a section that exits on every build from ${nth === 1 ? 'the first' : `build ${nth}`} on: the exit line is never written, the file holds only the earlier lines`, async () => {
      const child = await runScenario('exit-in-every-section', String(nth));
      assert.deepEqual([child.code, child.signal], [3, null], child.stderr);
      // The exit hook did build a new line (build nth + 1), which counted and exited again.
      assert.deepEqual(child.printed, [
        { build: nth, total: nth + 1 },
        { build: nth + 1, total: nth + 2 },
      ]);
      const text = readFileSync(join(dir, 'metrics.json'), 'utf8');
      const lines = parseWholeLines(text, 'metrics.json');
      assert.deepEqual(
        lines.map((line) => line.build),
        Array.from({ length: nth - 1 }, (_, i) => i + 1),
      );
      // What builds nth and nth + 1 took and counted could not be written by anyone: it is lost,
      // and the file is still valid.
      assert.equal(sumOf(lines, 'dev', 'ops'), nth - 1);
    });
  }
});

describe('a section that calls its own writer', () => {
  const Dev = defineGroup('dev', { ops: inc('Operations.'), level: store('Level.') });
  const IN_PROGRESS = 'Metrics write() was called while a line is being built';

  /**
   * A writer to `<dir>/metrics.json` of the group `dev`, then a section that runs `section` with
   * the writer, then `after`.
   */
  function withSection(section: (line: MetricsLine, metrics: Metrics<EntryDocument>) => void, after: readonly DocumentEntry[] = []) {
    const dev = Dev.create();
    const missed = new LocalIncMetric('missed');
    const failed = new LocalIncMetric('failed');
    const calling: DocumentEntry = {
      shape: { kind: 'group', key: 'inner', schema: Dev, optional: false },
      writeTo: (line) => {
        section(line, metrics);
      },
    };
    const metrics: Metrics<EntryDocument> = new Metrics(new EntryDocument([groupEntry(Dev, dev), calling, ...after]), {
      missedLinesMetric: missed,
      failedLinesMetric: failed,
    });
    const path = join(dir, 'metrics.json');
    metrics.init(path, { flushIntervalMs: 0 });
    return { dev, missed, failed, metrics, path };
  }

  test('write() from a section that catches the error: MetricsWriteInProgressError, and the outer line is written whole', () => {
    const caught: unknown[] = [];
    const { dev, missed, failed, metrics, path } = withSection((line, metrics) => {
      try {
        metrics.write();
      } catch (error) {
        caught.push(error);
      }
      line.entry('inner', 'true');
    });
    dev.ops.add(3);
    assert.equal(metrics.write(), true);
    assert.equal(caught.length, 1);
    const [error] = caught;
    assert.ok(error instanceof MetricsWriteInProgressError);
    assert.equal(error.name, 'MetricsWriteInProgressError');
    assert.equal(error.message, IN_PROGRESS);

    dev.ops.add(4);
    assert.equal(metrics.write(), true, 'the writer is not left building');
    metrics.close();
    const text = readFileSync(path, 'utf8');
    assert.match(
      text,
      /^\{"utc_timestamp_ms":\d+,"dev":\{"ops":3,"level":0\},"inner":true\}\n\{"utc_timestamp_ms":\d+,"dev":\{"ops":4,"level":0\},"inner":true\}\n$/,
    );
    assert.equal(sumOf(parseWholeLines(text, path), 'dev', 'ops'), 7);
    assert.deepEqual([missed.count(), failed.count(), caught.length], [0, 0, 2]);
  });

  test('write() from a section that lets the error escape: the outer write fails with it as cause, and every delta goes to the next line', () => {
    let escape = true;
    const { dev, missed, failed, metrics, path } = withSection((line, metrics) => {
      if (escape) metrics.write();
      line.entry('inner', 'true');
    });
    dev.ops.add(3);
    assert.throws(
      () => metrics.write(),
      (error: Error) =>
        error instanceof MetricsWriteError &&
        error.name === 'MetricsWriteError' &&
        error.cause instanceof MetricsWriteInProgressError &&
        // The outer message wraps the inner one, whose text starts "Failed to write metrics:" too.
        error.message.endsWith(IN_PROGRESS),
    );
    assert.equal(readFileSync(path, 'utf8'), '', 'nothing of the outer line, nothing of an inner one');
    assert.equal(dev.ops.fetchDiff(), 3);
    assert.deepEqual([missed.count(), failed.count()], [1, 1], 'the line counts as missed and as failed, once');

    escape = false;
    dev.ops.add(4);
    assert.equal(metrics.write(), true);
    metrics.close();
    const lines = readWholeLines(path);
    assert.deepEqual(deltasOf(lines, 'dev', 'ops'), [7]);
    assert.equal(dev.ops.fetchDiff(), 0);
  });

  test('close() from a section is refused like write(): the line being built still goes to the file it was meant for', () => {
    const refused: unknown[] = [];
    const { dev, metrics, path } = withSection((_line, metrics) => {
      try {
        metrics.close();
      } catch (error) {
        refused.push(error);
      }
    });
    dev.ops.add(2);
    assert.equal(metrics.write(), true);
    assert.equal(refused.length, 1);
    assert.ok(refused[0] instanceof MetricsWriteInProgressError);
    metrics.close();
    assert.deepEqual(deltasOf(readWholeLines(path), 'dev', 'ops'), [2]);
  });

  test('render() from a section returns a valid line of the values at that moment, and leaves the outer line as it was', () => {
    // A whole Firecracker document after the section: both lines outgrow their first buffers.
    const vm = new FirecrackerMetrics();
    const rendered: string[] = [];
    const { dev, metrics, path } = withSection((line, metrics) => {
      if (!line.peek) {
        // After the outer line took `dev`: the rendered line shows the new level, the outer one not.
        dev.level.store(123_456_789);
        rendered.push(metrics.render());
      }
      line.entry('inner', String(line.peek));
    }, vm.entries);
    assert.equal(metrics.write(), true, 'a first line, whose memory the writer keeps for the next ones');
    dev.level.store(0);
    dev.ops.add(3);
    vm.balloon.inflate_count.add(9);
    vm.vcpu.exit_io_in.add(2 ** 40);
    const before = metrics.render();
    assert.equal(metrics.write(), true);
    metrics.close();

    assert.equal(rendered.length, 2);
    const [, outer] = readWholeLines(path);
    const [inner] = parseWholeLines(`${rendered[1] ?? ''}\n`, 'render() in a section');
    const [expected] = parseWholeLines(`${before}\n`, 'render() before the write');
    assert.ok(outer && inner && expected);
    assert.ok(before.length > 4096, `a line of ${before.length} bytes`);
    const withoutTime = ({ utc_timestamp_ms: _time, inner: _inner, ...rest }: Readonly<Record<string, unknown>>) => rest;
    assert.deepEqual(withoutTime(outer), withoutTime(expected), 'the outer line is what render() showed before the write');
    assert.deepEqual(Object.keys(inner), Object.keys(outer), 'the rendered line is a whole line of the same document');
    assert.deepEqual([outer.inner, inner.inner], [false, true]);
    assert.deepEqual([outer.dev, inner.dev], [{ ops: 3, level: 0 }, { ops: 3, level: 123_456_789 }]);
    assert.deepEqual(deltasOf([outer], 'balloon', 'inflate_count'), [9]);
    assert.equal(dev.ops.fetchDiff(), 0);
  });
});
