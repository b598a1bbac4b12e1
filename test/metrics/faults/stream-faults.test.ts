/**
 * Faults of stream destinations and the accounting of missed lines, whatever the destination:
 * after each scenario, every increment is in exactly one line that got out, and each flush
 * either got its line out or counted exactly one missed line.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, test } from 'node:test';
import {
  defineGroup,
  EntryDocument,
  groupEntry,
  inc,
  LocalIncMetric,
  Metrics,
  MetricsWriteError,
  type LineWritable,
  type MetricsError,
} from '../../../src/index.js';

const Dev = defineGroup('dev', { ops: inc('Operations.') });

function setup(): { metrics: Metrics<EntryDocument>; dev: ReturnType<typeof Dev.create>; missed: LocalIncMetric } {
  const dev = Dev.create();
  const missed = new LocalIncMetric('logger.missed_metrics_count');
  return { metrics: new Metrics(new EntryDocument([groupEntry(Dev, dev)]), { missedLinesMetric: missed }), dev, missed };
}

/** The `ops` deltas of complete lines; throws on a line that is not valid JSON. */
function opsOf(text: string): bigint[] {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the text ends with a complete line');
  return lines.map((line) => BigInt((JSON.parse(line) as { dev: { ops: number } }).dev.ops));
}

const sum = (values: readonly bigint[]): bigint => values.reduce((a, b) => a + b, 0n);

/** Reads what a non-blocking pipe holds now into `chunks`. */
function readAvailable(fd: number, chunks: Buffer[]): void {
  const buffer = Buffer.alloc(1 << 16);
  for (;;) {
    let n = 0;
    try {
      n = readSync(fd, buffer);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return;
      throw error;
    }
    if (n === 0) return;
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-faults-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('a Writable whose _write throws: MetricsWriteError with the cause, deltas back; the stream is never written again', () => {
  const { metrics, dev, missed } = setup();
  const boom = new Error('_write exploded');
  let calls = 0;
  metrics.init(
    new Writable({
      write() {
        calls++;
        throw boom;
      },
    }),
    { flushIntervalMs: 0 },
  );
  dev.ops.add(7);
  assert.throws(
    () => metrics.write(),
    (error: unknown) => error instanceof MetricsWriteError && error.cause === boom && error.message === 'Failed to write metrics: _write exploded',
  );
  assert.equal(dev.ops.fetchDiff(), 7, 'nothing is in flight: the deltas are back for the next line');
  // Node's stream now counts the thrown chunk as being written for good: a line handed to it
  // would never be called back. Each later flush is refused at once instead.
  for (let i = 0; i < 3; i++) {
    dev.ops.inc();
    assert.throws(() => metrics.write(), (error: unknown) => error instanceof MetricsWriteError && /threw on write and takes no more lines/.test(error.message));
  }
  assert.equal(calls, 1);
  assert.equal(dev.ops.fetchDiff(), 10);
  assert.equal(missed.count(), 4, 'each flush counted once');
  metrics.close();
});

test('a stream that calls back with an error, then throws: the line is settled once', async () => {
  const { metrics, dev, missed } = setup();
  const errors: MetricsError[] = [];
  const events = new Writable();
  const odd = Object.assign(events, {
    write(_chunk: Buffer, callback?: (error?: Error | null) => void): boolean {
      callback?.(new Error('refused'));
      throw new Error('and threw');
    },
  });
  metrics.init(odd, { flushIntervalMs: 0, onError: (error) => errors.push(error) });
  dev.ops.add(3);
  metrics.write();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(dev.ops.fetchDiff(), 3);
  assert.equal(missed.count(), 1);
  assert.deepEqual(errors.map((e) => e.message), ['Failed to write metrics: refused']);
  metrics.close();
});

test('a stalled stream that is destroyed: its queued line rolls back and the error is reported', async () => {
  const { metrics, dev, missed } = setup();
  const errors: MetricsError[] = [];
  const stalled = new Writable({
    write() {
      // Never calls back.
    },
  });
  metrics.init(stalled, { flushIntervalMs: 0, onError: (error) => errors.push(error) });
  dev.ops.add(5);
  assert.equal(metrics.write(), true);
  stalled.destroy(new Error('consumer gone'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(dev.ops.fetchDiff(), 5, 'back for the next line, not in flight for good');
  assert.equal(missed.count(), 1);
  assert.deepEqual(errors.map((e) => e.message), ['Failed to write metrics: consumer gone']);
  metrics.close();
});

test('a write() that returns a promise (a web stream writer): written when it resolves, rolled back when it rejects', async () => {
  const { metrics, dev, missed } = setup();
  const received: string[] = [];
  let reject = false;
  const stream = new WritableStream<Buffer>({
    write(chunk) {
      if (reject) throw new Error('disk gone');
      received.push(chunk.toString());
    },
  });
  const errors: MetricsError[] = [];
  metrics.init(stream.getWriter(), { flushIntervalMs: 0, onError: (error) => errors.push(error) });
  dev.ops.add(2);
  metrics.write();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(dev.ops.fetchDiff(), 0);
  assert.deepEqual(opsOf(received.join('')), [2n]);
  reject = true;
  dev.ops.add(4);
  metrics.write();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(dev.ops.fetchDiff(), 4, 'the rejected line\'s deltas are back');
  assert.equal(missed.count(), 1);
  assert.deepEqual(errors.map((e) => e.message), ['Failed to write metrics: disk gone']);
  metrics.close();
});

test('any object with a write method that throws: its deltas go to the next line it takes', () => {
  const { metrics, dev, missed } = setup();
  const taken: string[] = [];
  let failures = 2;
  const destination: LineWritable = {
    write(chunk) {
      if (failures-- > 0) throw new TypeError('not now');
      taken.push(chunk.toString());
    },
  };
  metrics.init(destination, { flushIntervalMs: 0 });
  let total = 0n;
  let flushes = 0;
  for (let i = 1; i <= 5; i++) {
    dev.ops.add(i);
    total += BigInt(i);
    flushes++;
    try {
      metrics.write();
    } catch (error) {
      assert.ok(error instanceof MetricsWriteError && error.cause instanceof TypeError);
    }
  }
  assert.deepEqual(opsOf(taken.join('')), [6n, 4n, 5n], 'the first line that got out carries the failed lines\' deltas');
  assert.equal(sum(opsOf(taken.join(''))), total);
  assert.equal(missed.count(), 2);
  assert.equal(taken.length + missed.count(), flushes);
  metrics.close();
});

test('an object whose write(chunk, callback) fails through its callback: each failed line is missed, reported, and its deltas go to the next', async () => {
  const { metrics, dev, missed } = setup();
  const taken: string[] = [];
  let working = false;
  const destination: LineWritable = {
    write(chunk: Buffer, callback?: (error?: Error | null) => void): boolean {
      // Takes the chunk, and says later whether it got anywhere, as a network client would.
      setImmediate(() => {
        if (!working) {
          callback?.(new Error('connection refused'));
          return;
        }
        taken.push(chunk.toString());
        callback?.(null);
      });
      return true;
    },
  };
  const errors: MetricsError[] = [];
  metrics.init(destination, { flushIntervalMs: 0, onError: (error) => errors.push(error) });
  for (let i = 0; i < 3; i++) {
    dev.ops.add(10);
    assert.equal(metrics.write(), true);
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(missed.count(), 3, 'one missed line per failed callback');
  assert.deepEqual(errors.map((e) => e.message), Array(3).fill('Failed to write metrics: connection refused'));
  assert.equal(dev.ops.fetchDiff(), 30, 'the failed lines\' deltas are still to be written');
  working = true;
  dev.ops.add(1);
  metrics.write();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(opsOf(taken.join('')), [31n], 'the line that got out carries every count');
  assert.equal(dev.ops.fetchDiff(), 0);
  assert.equal(missed.count(), 3);
  metrics.close();
});

test('an object whose write(chunk, callback) calls back synchronously: an error fails the line at once, success commits it', () => {
  const { metrics, dev, missed } = setup();
  const taken: string[] = [];
  let fail = true;
  const errors: MetricsError[] = [];
  metrics.init(
    {
      write(chunk: Buffer, callback?: (error?: Error | null) => void): void {
        if (fail) callback?.(new Error('quota exceeded'));
        else {
          taken.push(chunk.toString());
          callback?.();
        }
      },
    },
    { flushIntervalMs: 0, onError: (error) => errors.push(error) },
  );
  dev.ops.add(4);
  metrics.write();
  assert.equal(dev.ops.fetchDiff(), 4);
  assert.equal(missed.count(), 1);
  assert.deepEqual(errors.map((e) => e.message), ['Failed to write metrics: quota exceeded']);
  fail = false;
  dev.ops.add(2);
  metrics.write();
  assert.deepEqual(opsOf(taken.join('')), [6n]);
  assert.equal(dev.ops.fetchDiff(), 0);
  metrics.close();
});

test('an object whose write declares one parameter is judged by what write() does: a callback it calls later changes nothing', async () => {
  const { metrics, dev, missed } = setup();
  const taken: string[] = [];
  metrics.init(
    {
      write(...args: unknown[]): void {
        taken.push(String(args[0]));
        setImmediate(() => {
          (args[1] as ((error: Error) => void) | undefined)?.(new Error('ignored: write() declares no callback'));
        });
      },
    },
    { flushIntervalMs: 0 },
  );
  dev.ops.add(5);
  metrics.write();
  assert.equal(dev.ops.fetchDiff(), 0);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(dev.ops.fetchDiff(), 0);
  assert.deepEqual(opsOf(taken.join('')), [5n]);
  assert.equal(missed.count(), 0);
  metrics.close();
});

/** A Writable whose own write() throws while `refusing` is set, before the chunk reaches Node. */
class PickyWritable extends Writable {
  refusing = 0;
  override write(chunk: unknown, callback?: unknown): boolean {
    if (this.refusing > 0) {
      this.refusing--;
      throw new RangeError('not now');
    }
    return super.write(chunk, callback as (error?: Error | null) => void);
  }
}

test('a Writable whose write() threw but which Node can still write to is written again, with the failed lines\' deltas', async () => {
  const { metrics, dev, missed } = setup();
  const received: string[] = [];
  const stream = new PickyWritable({
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk.toString());
      callback();
    },
  });
  stream.refusing = 2;
  metrics.init(stream, { flushIntervalMs: 0 });
  for (const n of [3, 4]) {
    dev.ops.add(n);
    assert.throws(() => metrics.write(), (error: unknown) => error instanceof MetricsWriteError && error.message === 'Failed to write metrics: not now');
  }
  assert.equal(missed.count(), 2);
  dev.ops.add(5);
  assert.equal(metrics.write(), true);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(opsOf(received.join('')), [12n]);
  assert.equal(dev.ops.fetchDiff(), 0);
  metrics.close();
});

test('a Writable that is destroyed, errored or ended is refused, and the error says which', async () => {
  const cases: [string, () => Writable, RegExp][] = [
    ['destroyed', () => new Writable({ write: (_c, _e, cb) => { cb(); } }).destroy(), /the stream is closed: it was destroyed/],
    [
      'errored',
      () => {
        // Without autoDestroy an errored stream stays undestroyed: Node still never writes it again.
        const stream = new Writable({ autoDestroy: false, write: (_c, _e, cb) => { cb(new Error('EIO')); } });
        stream.on('error', () => undefined);
        stream.write('x');
        return stream;
      },
      /the stream is closed: it errored \(EIO\)/,
    ],
    ['ended', () => new Writable({ write: (_c, _e, cb) => { cb(); } }).end(), /the stream is closed: it was ended/],
  ];
  for (const [state, make, message] of cases) {
    const stream = make();
    await new Promise((resolve) => setImmediate(resolve));
    const { metrics, dev, missed } = setup();
    metrics.init(stream, { flushIntervalMs: 0, onError: () => undefined });
    dev.ops.add(2);
    assert.throws(() => metrics.write(), (error: unknown) => error instanceof MetricsWriteError && message.test(error.message), state);
    assert.equal(dev.ops.fetchDiff(), 2, state);
    assert.equal(missed.count(), 1, state);
    metrics.close();
  }
});

test('a stalled stream holds at most one line: 50,000 flushes write nothing more, keep their deltas and count as missed', () => {
  const { metrics, dev, missed } = setup();
  const received: Buffer[] = [];
  const consumer: { release?: () => void } = {};
  const stalled = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      // The consumer takes the first line and then stops calling back: it is stuck.
      consumer.release = callback;
    },
  });
  const errors: MetricsError[] = [];
  metrics.init(stalled, { flushIntervalMs: 0, onError: (error) => errors.push(error) });
  let total = 0n;
  let refused = 0;
  for (let i = 0; i < 50_000; i++) {
    dev.ops.inc();
    total++;
    try {
      metrics.write();
    } catch (error) {
      assert.ok(error instanceof MetricsWriteError);
      assert.match(error.message, /has not taken the previous line yet/);
      refused++;
    }
    assert.ok(stalled.writableLength <= 64, `the stream holds ${stalled.writableLength} bytes`);
  }
  assert.equal(refused, 49_999);
  assert.equal(missed.count(), 49_999);
  assert.equal(received.length, 1);
  assert.equal(dev.ops.fetchDiff(), 50_000, 'every delta is still to be written (one line in flight)');
  // The consumer recovers: the line in flight commits, and the next line carries the rest.
  consumer.release?.();
  dev.ops.inc();
  total++;
  metrics.write();
  consumer.release?.();
  assert.equal(dev.ops.fetchDiff(), 0);
  assert.deepEqual(opsOf(Buffer.concat(received).toString()), [1n, total - 1n]);
  assert.deepEqual(errors, []);
  metrics.close();
});

test('a real pipe to a process that does not read: the writer keeps one line in it and loses nothing', async () => {
  const { metrics, dev, missed } = setup();
  const out = join(dir, 'received.json');
  // The reader starts reading only when told to (SIGUSR1), then copies everything to a file.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const alive = setInterval(() => {}, 1000);
       process.on('SIGUSR1', () => {
         const file = require('fs').createWriteStream(${JSON.stringify(out)});
         file.on('finish', () => clearInterval(alive));
         process.stdin.pipe(file);
       });
       process.stdout.write('ready\\n');`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  await once(child.stdout, 'data');
  // Lines of 32 KiB fill the 64 KiB pipe after two.
  metrics.init(child.stdin, { flushIntervalMs: 0, id: 'x'.repeat(32 * 1024), onError: (error) => { throw error; } });
  let total = 0n;
  let flushes = 0;
  const flush = async (): Promise<void> => {
    dev.ops.inc();
    total++;
    flushes++;
    try {
      metrics.write();
    } catch (error) {
      assert.ok(error instanceof MetricsWriteError);
    }
    await new Promise((resolve) => setImmediate(resolve));
  };
  for (let i = 0; i < 2_000; i++) {
    await flush();
    assert.ok(child.stdin.writableLength <= 33 * 1024, `${child.stdin.writableLength} bytes queued in the stream`);
  }
  assert.ok(missed.count() > 1_900, `${missed.count()} missed lines while nobody reads`);
  child.kill('SIGUSR1');
  // Once the reader reads, lines go out again.
  for (let i = 0; i < 200; i++) await flush();
  while (child.stdin.writableLength > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await flush();
  metrics.close();
  child.stdin.end();
  await once(child, 'exit');
  const lines = opsOf(readFileSync(out, 'utf8'));
  assert.equal(sum(lines), total, 'every increment in exactly one line');
  assert.equal(lines.length + missed.count(), flushes, 'each flush got its line out or counted one missed line');
});

test('close() with part of a line in a full pipe finishes it before it lets go: the next writer\'s lines stay whole', async () => {
  const path = join(dir, 'metrics.fifo');
  execFileSync('mkfifo', [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const first = setup();
  first.metrics.init(path, { flushIntervalMs: 0, id: 'x'.repeat(10_000) });
  let total = 0n;
  let torn = false;
  for (let i = 0; i < 40 && !torn; i++) {
    first.dev.ops.inc();
    total++;
    try {
      first.metrics.write();
    } catch (error) {
      torn = error instanceof MetricsWriteError && error.pendingBytes > 0;
    }
  }
  assert.ok(torn, 'the pipe filled part way through a line');
  first.metrics.close();
  // The reader starts reading; meanwhile a new writer of the same groups takes the pipe.
  const chunks: Buffer[] = [];
  const read = (): void => {
    readAvailable(reader, chunks);
  };
  read();
  await new Promise((resolve) => setTimeout(resolve, 200));
  read();
  const second = new Metrics(first.metrics.document);
  second.init(path, { flushIntervalMs: 0 });
  first.dev.ops.inc();
  total++;
  second.write();
  read();
  second.close();
  closeSync(reader);
  const lines = opsOf(Buffer.concat(chunks).toString());
  assert.equal(sum(lines), total, 'every increment in exactly one whole line');
});

test('a full named pipe: a line whose rest follows later is not missed; the flushes it holds up are', () => {
  const { metrics, dev, missed } = setup();
  const path = join(dir, 'metrics.fifo');
  execFileSync('mkfifo', [path]);
  // Lines longer than PIPE_BUF (4096 bytes) may be written in part; a long id makes them so.
  metrics.init(path, { flushIntervalMs: 0, id: 'x'.repeat(10_000) });
  let total = 0n;
  let flushes = 0;
  let heldUp = 0;
  let partial = 0;
  for (let i = 0; i < 40; i++) {
    dev.ops.inc();
    total++;
    flushes++;
    try {
      metrics.write();
    } catch (error) {
      assert.ok(error instanceof MetricsWriteError);
      if (partial === 0) partial++;
      else heldUp++;
    }
  }
  assert.equal(partial, 1, 'the pipe filled part way through one line');
  assert.equal(missed.count(), heldUp, 'only the flushes held up by its rest are missed');
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const chunks: Buffer[] = [];
  const drain = (): void => {
    readAvailable(reader, chunks);
  };
  drain();
  dev.ops.inc();
  total++;
  flushes++;
  assert.equal(metrics.write(), true);
  drain();
  closeSync(reader);
  metrics.close();
  const lines = opsOf(Buffer.concat(chunks).toString());
  assert.equal(sum(lines), total);
  assert.equal(lines.length + missed.count(), flushes);
});
