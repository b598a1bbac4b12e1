/**
 * Child of the EFBIG test, run under `ulimit -f` (a file size limit): writes metrics lines into
 * `<dir>/metrics.json` until the limit makes three of them fail, rotates the file itself
 * (rename, then the writer creates the path anew) and writes three more lines. Prints a JSON
 * `EfbigSummary` on stdout and exits 0. With `fd`, the writer is given a descriptor of the file
 * opened without `O_APPEND`, and the rotation is a copy and truncate.
 *
 * Node ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of killing the process.
 */
import { copyFileSync, ftruncateSync, openSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EntryDocument, Metrics, MetricsWriteError, defineGroup, groupEntry, inc } from '../../../../src/index.js';

export interface EfbigFailure {
  readonly name: string;
  readonly message: string;
  readonly causeCode: string | undefined;
  /** The file's size before and after the failed write: equal when the torn line was taken back. */
  readonly sizeBefore: number;
  readonly sizeAfter: number;
}

export interface EfbigSummary {
  /** Every increment made, in total. */
  readonly total: number;
  readonly successes: number;
  readonly failures: readonly EfbigFailure[];
  /** The writer's missed-lines counter at the end (`count()`, all lines). */
  readonly missed: number;
  /** What is left unwritten at the end: 0 once the last line is out. */
  readonly pending: number;
  /** The file as it was renamed away, then the file the writer created at the path. */
  readonly files: readonly string[];
}

const [dir, mode] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: efbig-child DIR [fd]');
const path = join(dir, 'metrics.json');
const rotated = join(dir, 'metrics.json.1');

const Dev = defineGroup('dev', {
  ops: inc('Operations.'),
  missed: inc('Lines of this writer that did not get out.'),
});
const dev = Dev.create();
const metrics = new Metrics(new EntryDocument([groupEntry(Dev, dev)]), { missedLinesMetric: dev.missed });
// A long id makes each line about 1 KiB, so an 8 KiB limit cuts one part way through.
const fd = mode === 'fd' ? openSync(path, 'w') : undefined;
metrics.init(fd ?? path, { flushIntervalMs: 0, id: 'vm-'.padEnd(1000, 'x') });

let total = 0;
let successes = 0;
const failures: EfbigFailure[] = [];

function countAndWrite(amount: number): boolean {
  dev.ops.add(amount);
  total += amount;
  const sizeBefore = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  try {
    metrics.write();
    successes++;
    return true;
  } catch (error) {
    if (!(error instanceof MetricsWriteError)) throw error;
    const cause = error.cause as NodeJS.ErrnoException | undefined;
    failures.push({ name: error.name, message: error.message, causeCode: cause?.code, sizeBefore, sizeAfter: statSync(path).size });
    return false;
  }
}

let step = 0;
while (failures.length < 3) {
  if (++step > 100) throw new Error('100 lines were written and none failed: is the file size limit set?');
  countAndWrite(step);
}
if (fd === undefined) {
  renameSync(path, rotated);
} else {
  copyFileSync(path, rotated);
  ftruncateSync(fd, 0);
}
for (let i = 0; i < 3; i++) {
  if (!countAndWrite(++step)) throw new Error(`a write after the rotation failed: ${JSON.stringify(failures.at(-1))}`);
}
metrics.close();

const summary: EfbigSummary = { total, successes, failures, missed: dev.missed.count(), pending: dev.ops.fetchDiff(), files: [rotated, path] };
process.stdout.write(`${JSON.stringify(summary)}\n`);
