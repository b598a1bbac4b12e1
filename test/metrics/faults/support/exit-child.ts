/**
 * Child of the exit tests: `exit-child SCENARIO DIR [N]`. Each scenario writes metrics into files
 * of DIR with `flushOnExit: true`; those waiting for a signal print "ready" once initialized.
 *
 * - `own-handler`: one writer; the application handles SIGTERM itself, counts for 200 ms more
 *   (a graceful shutdown), prints `{"atSignal","atExit","handlerCalls"}` (the counter's total
 *   and the file's number of lines when its handler starts and before it exits) and exits 0.
 * - `no-handler`: one writer, no handler of its own: SIGTERM ends the process.
 * - `two-vms`: two Firecracker documents (two VMs) to `vm0.json` and `vm1.json`, no handler of
 *   its own: SIGTERM ends the process. `two-vms-own-handler`: the same with a graceful shutdown.
 * - `exit-in-section`: on its Nth build, a section of the document counts once more, prints
 *   `{"build","total"}` and calls `process.exit(3)`. `exit-in-every-section`: the same on every
 *   build from the Nth on, so that the exit line's build exits again.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EntryDocument, FirecrackerMetrics, LocalIncMetric, Metrics, defineGroup, groupEntry, inc, type DocumentEntry } from '../../../../src/index.js';

const [scenario, dir, n] = process.argv.slice(2);
if (scenario === undefined || dir === undefined) throw new Error('usage: exit-child SCENARIO DIR [N]');

const Dev = defineGroup('dev', { ops: inc('Operations.') });

/** How many lines `path` holds. */
function lineCount(path: string): number {
  return readFileSync(path, 'utf8').split('\n').length - 1;
}

/** Keeps the process alive until a signal: the timer is referenced and does nothing. */
function keepAlive(): NodeJS.Timeout {
  return setInterval(() => undefined, 1000);
}

/** Tells the test that every writer and handler is in place: it may send the signal now. */
function ready(): void {
  process.stdout.write('ready\n');
}

/**
 * A graceful shutdown on SIGTERM: `count()` every 10 ms for 200 ms, then print `report()` and
 * exit 0. The writers were initialized first, so their signal listener runs before this one.
 */
function shutDownGracefully(alive: NodeJS.Timeout, count: () => void, report: () => object, once = false): void {
  let handlerCalls = 0;
  process[once ? 'once' : 'on']('SIGTERM', () => {
    if (++handlerCalls > 1) return;
    const atSignal = report();
    count(); // right away: after the signal line was taken
    const work = setInterval(count, 10);
    setTimeout(() => {
      clearInterval(work);
      clearInterval(alive);
      process.stdout.write(`${JSON.stringify({ atSignal, handlerCalls, atExit: report() })}\n`);
      process.exit(0);
    }, 200);
  });
}

switch (scenario) {
  case 'once-handler-before-init': {
    // The application's handler is a `once` listener, registered before the writer's: Node
    // removes such a listener before it runs, whichever order the two run in.
    const path = join(dir, 'metrics.json');
    const dev = Dev.create();
    const alive = keepAlive();
    shutDownGracefully(
      alive,
      () => {
        dev.ops.inc();
      },
      () => ({ total: dev.ops.count(), lines: lineCount(path) }),
      true,
    );
    new Metrics(new EntryDocument([groupEntry(Dev, dev)])).init(path, { flushIntervalMs: 0, flushOnExit: true });
    dev.ops.add(5);
    ready();
    break;
  }
  case 'own-handler':
  case 'no-handler': {
    const path = join(dir, 'metrics.json');
    const dev = Dev.create();
    new Metrics(new EntryDocument([groupEntry(Dev, dev)])).init(path, { flushIntervalMs: 0, flushOnExit: true });
    dev.ops.add(5);
    const alive = keepAlive();
    if (scenario === 'own-handler') {
      shutDownGracefully(
        alive,
        () => {
          dev.ops.inc();
        },
        () => ({ total: dev.ops.count(), lines: lineCount(path) }),
      );
    }
    ready();
    break;
  }
  case 'two-vms':
  case 'two-vms-own-handler': {
    const vms = [0, 1].map((i) => {
      const vm = new FirecrackerMetrics();
      const path = join(dir, `vm${i}.json`);
      const metrics = new Metrics(vm);
      metrics.init(path, { flushIntervalMs: 0, flushOnExit: true, id: `vm-${i}` });
      // One line before the signal, so that the signal line carries only what came after it.
      vm.balloon.inflate_count.add(10 + i);
      metrics.write();
      vm.balloon.inflate_count.add(20 + i);
      return { vm, path };
    });
    const alive = keepAlive();
    if (scenario === 'two-vms-own-handler') {
      shutDownGracefully(
        alive,
        () => {
          for (const { vm } of vms) vm.balloon.inflate_count.inc();
        },
        () => vms.map(({ vm, path }) => ({ total: vm.balloon.inflate_count.count(), lines: lineCount(path) })),
      );
    }
    ready();
    break;
  }
  case 'exit-in-section':
  case 'exit-in-every-section': {
    const nth = Number(n);
    if (!Number.isInteger(nth) || nth < 1) throw new Error(`N: expected a build number, got ${String(n)}`);
    const dev = Dev.create();
    let builds = 0;
    const exiting: DocumentEntry = {
      shape: { kind: 'group', key: 'build', schema: Dev, optional: false },
      writeTo: (line) => {
        builds++;
        if (scenario === 'exit-in-section' ? builds === nth : builds >= nth) {
          dev.ops.inc(); // after this line took the group's delta
          process.stdout.write(`${JSON.stringify({ build: builds, total: dev.ops.count() })}\n`);
          process.exit(3);
        }
        line.entry('build', String(builds));
      },
    };
    const metrics = new Metrics(new EntryDocument([groupEntry(Dev, dev), exiting]));
    metrics.init(join(dir, 'metrics.json'), { flushIntervalMs: 0, flushOnExit: true });
    for (let i = 0; i <= nth; i++) {
      dev.ops.inc();
      metrics.write();
    }
    throw new Error(`build ${nth} did not exit`);
  }
  case 'exit-event-in-section': {
    // The exit hook runs from inside a section (here 'exit' is emitted there; a signal handled
    // by the application could do the same) and the process goes on: the line being built is
    // given up, and what the sections after it count must not be taken by it.
    const Later = defineGroup('later', { ops: inc('Operations counted after the exit hook ran.') });
    const dev = Dev.create();
    const later = Later.create();
    let builds = 0;
    const emitting: DocumentEntry = {
      shape: { kind: 'group', key: 'build', schema: Dev, optional: false },
      writeTo: (line) => {
        builds++;
        if (builds === 2) {
          process.emit('exit', 0);
          later.ops.add(7);
        }
        line.entry('build', String(builds));
      },
    };
    const missed = new LocalIncMetric('missed');
    const metrics = new Metrics(new EntryDocument([groupEntry(Dev, dev), emitting, groupEntry(Later, later)]), { missedLinesMetric: missed });
    // After the module has run: an 'exit' emitted while an ES module is still being evaluated
    // makes Node report an unsettled top-level await (exit code 13).
    setImmediate(() => {
      metrics.init(join(dir, 'metrics.json'), { flushIntervalMs: 0, flushOnExit: true });
      later.ops.add(100);
      metrics.write();
      let outer = '';
      try {
        metrics.write();
      } catch (error) {
        outer = (error as Error).message;
      }
      metrics.write();
      metrics.close();
      process.stdout.write(`${JSON.stringify({ outer, total: later.ops.count(), pending: later.ops.fetchDiff(), missed: missed.count() })}\n`);
    });
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
