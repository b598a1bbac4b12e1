import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  EntryDocument,
  MetricsAlreadyInitializedError,
  MetricsDestinationError,
  MetricsWriteError,
  Metrics,
  defineGroup,
  groupEntry,
  DEFAULT_FLUSH_INTERVAL_MS,
  inc,
  LocalIncMetric,
  store,
  type MetricsError,
} from '../../src/index.js';

const Group = defineGroup('dev', {
  ops: inc('Operations.'),
  level: store('Level.'),
});

function setup(): { metrics: Metrics<EntryDocument>; dev: ReturnType<typeof Group.create> } {
  const dev = Group.create();
  return { metrics: new Metrics(new EntryDocument([groupEntry(Group, dev)])), dev };
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n');
}

function opsOf(line: string): bigint {
  return BigInt(/"ops":(\d+)/.exec(line)?.[1] ?? 'missing');
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('init', () => {
  test('a second init throws, even to another destination', () => {
    const { metrics } = setup();
    metrics.init(join(dir, 'a.json'), { flushIntervalMs: 0 });
    assert.throws(
      () => {
        metrics.init(join(dir, 'b.json'));
      },
      (error: MetricsError) =>
        error instanceof MetricsAlreadyInitializedError &&
        error.name === 'MetricsAlreadyInitializedError' &&
        error.message === 'Reinitialization of metrics not allowed.',
    );
    metrics.close();
    assert.equal(existsSync(join(dir, 'b.json')), false);
  });

  test('a path in a missing directory fails at init, naming the path', () => {
    const { metrics } = setup();
    const path = join(dir, 'missing', 'metrics.json');
    assert.throws(
      () => {
        metrics.init(path);
      },
      (error: Error) =>
        error instanceof MetricsDestinationError && error.message.startsWith(`Failed to open metrics destination ${path}: ENOENT`),
    );
    assert.equal(metrics.initialized, false);
    assert.equal(metrics.write(), false);
  });

  test('bad options and destinations are refused with what was wrong', () => {
    const { metrics } = setup();
    assert.throws(() => {
      metrics.init(join(dir, 'm.json'), { flushIntervalMs: -1 });
    }, /flushIntervalMs: expected a duration of 0 or more milliseconds, got -1/);
    assert.throws(() => {
      metrics.init(join(dir, 'm.json'), { properties: { zone: 3 as unknown as string } });
    }, /properties\.zone: expected a string, got number/);
    assert.throws(() => {
      metrics.init(9999);
    }, /Failed to open metrics destination file descriptor 9999: EBADF/);
    assert.throws(() => {
      metrics.init({} as never);
    }, /Metrics destination must be a path, a file descriptor or a Writable stream/);
    assert.equal(metrics.initialized, false);
  });
});

describe('write', () => {
  test('before init: false, nothing written, nothing committed', () => {
    const { metrics, dev } = setup();
    dev.ops.add(3);
    assert.equal(metrics.write(), false);
    assert.equal(dev.ops.fetchDiff(), 3);
  });

  test('appends one compact line per write to a file it creates, timestamp first', () => {
    const { metrics, dev } = setup();
    const path = join(dir, 'metrics.json');
    metrics.init(path, { flushIntervalMs: 0 });
    dev.ops.add(5);
    dev.level.store(7);
    const before = Date.now();
    assert.equal(metrics.write(), true);
    dev.ops.inc();
    assert.equal(metrics.write(), true);
    metrics.close();
    const [first, second, rest] = lines(path);
    assert.match(first ?? '', /^\{"utc_timestamp_ms":\d+,"dev":\{"ops":5,"level":7\}\}$/);
    assert.match(second ?? '', /^\{"utc_timestamp_ms":\d+,"dev":\{"ops":1,"level":7\}\}$/);
    assert.equal(rest, '');
    const timestamp = (JSON.parse(first ?? '') as { utc_timestamp_ms: number }).utc_timestamp_ms;
    assert.ok(timestamp >= before && timestamp <= Date.now());
  });

  test('appends to an existing file', () => {
    const { metrics } = setup();
    const path = join(dir, 'metrics.json');
    writeFileSync(path, 'earlier\n');
    metrics.init(path, { flushIntervalMs: 0 });
    metrics.write();
    metrics.close();
    assert.equal(lines(path)[0], 'earlier');
    assert.equal(lines(path).length, 3);
  });

  test('id and properties follow the timestamp, properties sorted by key', () => {
    const { metrics } = setup();
    const path = join(dir, 'metrics.json');
    metrics.init(path, { flushIntervalMs: 0, id: 'vm-1', properties: { zone: 'b', arch: 'x86_64', 'é': '1', Z: '2' } });
    metrics.write();
    metrics.close();
    assert.match(
      lines(path)[0] ?? '',
      /^\{"utc_timestamp_ms":\d+,"id":"vm-1","properties":\{"Z":"2","arch":"x86_64","zone":"b","é":"1"\},"dev":/,
    );
  });

  test('any id and properties strings survive the round trip (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })), (id, properties) => {
        const { metrics } = setup();
        const out = new PassThrough();
        metrics.init(out, { flushIntervalMs: 0, id, properties });
        metrics.write();
        const parsed = JSON.parse(String(out.read())) as { id: string; properties: Record<string, string> };
        // Lone surrogates are written as \u escapes and come back as the same code units.
        assert.equal(parsed.id, id);
        assert.deepEqual(parsed.properties, { ...properties });
        metrics.close();
      }),
      { numRuns: 200 },
    );
  });

  test('a file descriptor destination', () => {
    const { metrics, dev } = setup();
    const path = join(dir, 'fd.json');
    const fd = openSync(path, 'w');
    metrics.init(fd, { flushIntervalMs: 0 });
    dev.ops.add(2);
    metrics.write();
    metrics.close();
    closeSync(fd); // the writer leaves a descriptor it did not open to its owner
    assert.equal(opsOf(lines(path)[0] ?? ''), 2n);
  });

  test('lines are stamped by the clock given as now, and a clock that gives no timestamp fails the line, not the file', () => {
    const { metrics, dev } = setup();
    const path = join(dir, 'clock.json');
    let clock: number = Date.UTC(2031, 0, 1);
    const missed: number[] = [];
    metrics.init(path, { flushIntervalMs: 0, now: () => clock });
    dev.ops.add(1);
    metrics.write();
    assert.match(metrics.render(), new RegExp(`^\\{"utc_timestamp_ms":${clock},`));
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      clock = bad;
      dev.ops.add(1);
      assert.throws(() => metrics.write(), (error: unknown) => error instanceof MetricsWriteError && /now: expected a whole number of milliseconds since the epoch, got /.test(error.message));
      missed.push(dev.ops.fetchDiff());
    }
    clock = 0;
    metrics.write();
    metrics.close();
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as { utc_timestamp_ms: number; dev: { ops: number } });
    assert.deepEqual(lines.map((line) => [line.utc_timestamp_ms, line.dev.ops]), [[Date.UTC(2031, 0, 1), 1], [0, 4]]);
    assert.deepEqual(missed, [1, 2, 3, 4], 'each failed line left its deltas pending');
  });

  test('render() shows the next line and changes nothing', () => {
    const { metrics, dev } = setup();
    dev.ops.add(4);
    assert.match(metrics.render(), /"dev":\{"ops":4,"level":0\}\}$/);
    assert.match(metrics.render(), /"ops":4/);
    assert.equal(dev.ops.fetchDiff(), 4);
  });

  test('after close, write returns false and commits nothing', () => {
    const { metrics, dev } = setup();
    metrics.init(join(dir, 'm.json'), { flushIntervalMs: 0 });
    metrics.close();
    dev.ops.inc();
    assert.equal(metrics.write(), false);
    assert.equal(dev.ops.fetchDiff(), 1);
  });
});

describe('streams', () => {
  test('a stream that fails keeps the deltas for the next line and reports the error', async () => {
    const { metrics, dev } = setup();
    const written: string[] = [];
    let fail = true;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (fail) {
          callback(new Error('disk on fire'));
          return;
        }
        written.push(chunk.toString());
        callback();
      },
    });
    const errors: MetricsError[] = [];
    metrics.init(sink, { flushIntervalMs: 0, onError: (error) => errors.push(error) });
    dev.ops.add(10);
    assert.equal(metrics.write(), true, 'the stream took the line');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors[0]?.message, 'Failed to write metrics: disk on fire');
    assert.equal(dev.ops.fetchDiff(), 10);
    // A failed Writable is destroyed; later writes fail at once and keep their deltas too.
    assert.throws(() => metrics.write(), (error: Error) => error instanceof MetricsWriteError && /stream is closed/.test(error.message));
    assert.equal(dev.ops.fetchDiff(), 10);
    fail = false;
    assert.equal(written.length, 0);
  });

  test('a healthy stream gets each line; deltas commit when it reports the write done', async () => {
    const { metrics, dev } = setup();
    const out = new PassThrough();
    metrics.init(out, { flushIntervalMs: 0 });
    dev.ops.add(3);
    metrics.write();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(dev.ops.fetchDiff(), 0);
    dev.ops.add(1);
    metrics.write();
    const text = String(out.read());
    assert.deepEqual(text.trimEnd().split('\n').map(opsOf), [3n, 1n]);
    metrics.close();
  });
});

test('missedLinesMetric counts each line that could not be written, sync or async', async () => {
  const dev = Group.create();
  const missed = new LocalIncMetric('logger.missed_metrics_count');
  const metrics = new Metrics(new EntryDocument([groupEntry(Group, dev)]), { missedLinesMetric: missed });
  const sink = new Writable({
    write(_chunk: Buffer, _encoding, callback) {
      callback(new Error('no space'));
    },
  });
  metrics.init(sink, { flushIntervalMs: 0, onError: () => undefined });
  metrics.write();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(missed.count(), 1);
  assert.throws(() => metrics.write(), MetricsWriteError);
  assert.equal(missed.count(), 2);
});

test('a section that throws: MetricsWriteError, nothing written, every delta back for the next line', () => {
  const dev = Group.create();
  const failed = new LocalIncMetric('logger.metrics_fails');
  const missed = new LocalIncMetric('logger.missed_metrics_count');
  let fail = true;
  const document = new EntryDocument([
    groupEntry(Group, dev),
    {
      shape: { kind: 'group', key: 'x', schema: Group, optional: false },
      writeTo: (line) => {
        if (fail) throw new Error('section failed');
        line.entry('x', '{}');
      },
    },
  ]);
  const metrics = new Metrics(document, { failedLinesMetric: failed, missedLinesMetric: missed });
  const path = join(dir, 'm.json');
  metrics.init(path, { flushIntervalMs: 0 });
  dev.ops.add(5);
  assert.throws(
    () => metrics.write(),
    (error: Error) => error instanceof MetricsWriteError && error.message === 'Failed to write metrics: section failed',
  );
  assert.equal(readFileSync(path, 'utf8'), '');
  assert.equal(dev.ops.fetchDiff(), 5);
  assert.deepEqual([failed.count(), missed.count()], [1, 1]);
  fail = false;
  metrics.write();
  metrics.close();
  assert.equal(opsOf(lines(path)[0] ?? ''), 5n);
  assert.equal(dev.ops.fetchDiff(), 0);
});

test('the default flush period is Firecracker\'s 60 s; longer than a timer can wait is refused', () => {
  assert.equal(DEFAULT_FLUSH_INTERVAL_MS, 60_000);
  const { metrics } = setup();
  assert.throws(() => {
    metrics.init(join(dir, 'm.json'), { flushIntervalMs: 2 ** 31 });
  }, /flushIntervalMs: expected at most 2147483647 ms, got 2147483648/);
  assert.throws(() => {
    metrics.init(join(dir, 'm.json'), { flushIntervalMs: '1000' as unknown as number });
  }, /flushIntervalMs: expected a number of milliseconds, got string/);
  assert.throws(() => {
    metrics.init(join(dir, 'm.json'), { onError: 'log it' as unknown as () => void });
  }, /onError: expected a function, got string/);
  assert.throws(() => {
    metrics.init(join(dir, 'm.json'), { properties: 'ab' as unknown as Record<string, string> });
  }, /properties: expected an object of strings, got string/);
  assert.throws(() => {
    metrics.init(join(dir, 'm.json'), { flushOnExit: 1 as unknown as boolean });
  }, /flushOnExit: expected a boolean, got number/);
  assert.equal(metrics.initialized, false);
});

describe('named pipes', () => {
  function fifo(): string {
    const path = join(dir, 'metrics.fifo');
    execFileSync('mkfifo', [path]);
    return path;
  }

  function drain(fd: number): string {
    const chunks: Buffer[] = [];
    const buffer = Buffer.alloc(1 << 16);
    for (;;) {
      try {
        const n = readSync(fd, buffer);
        if (n === 0) break;
        chunks.push(Buffer.from(buffer.subarray(0, n)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw error;
      }
    }
    return Buffer.concat(chunks).toString();
  }

  test('init works before any reader exists, and a reader gets whole lines', () => {
    const { metrics, dev } = setup();
    const path = fifo();
    metrics.init(path, { flushIntervalMs: 0 });
    dev.ops.add(1);
    metrics.write();
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    dev.ops.add(2);
    metrics.write();
    const text = drain(reader);
    closeSync(reader);
    metrics.close();
    assert.deepEqual(text.trimEnd().split('\n').map(opsOf), [1n, 2n]);
  });

  test('a full pipe never yields a torn line and loses no delta', () => {
    const { metrics, dev } = setup();
    const path = fifo();
    // Lines longer than PIPE_BUF (4096 bytes) may be written in part; a long id makes them so.
    metrics.init(path, { flushIntervalMs: 0, id: 'x'.repeat(10_000) });
    let total = 0n;
    let partial: MetricsWriteError | undefined;
    for (let i = 1; i < 100 && partial === undefined; i++) {
      dev.ops.add(i);
      total += BigInt(i);
      try {
        metrics.write();
      } catch (error) {
        assert.ok(error instanceof MetricsWriteError);
        if (error.pendingBytes > 0) partial = error;
      }
    }
    assert.ok(partial, 'the pipe filled up part way through a line');
    assert.match(partial.message, /^Failed to write metrics: EAGAIN.* \(\d+ bytes of the line are kept for the next write\)$/);
    // Retrying while the pipe is still full keeps the rest, again and again.
    const kept = partial.pendingBytes;
    for (let retry = 0; retry < 3; retry++) {
      dev.ops.inc();
      total += 1n;
      assert.throws(
        () => metrics.write(),
        (error: Error) => error instanceof MetricsWriteError && error.pendingBytes === kept,
      );
    }
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    let text = drain(reader);
    dev.ops.add(1000);
    total += 1000n;
    assert.equal(metrics.write(), true, 'the rest of the torn line goes first, then a new line');
    text += drain(reader);
    closeSync(reader);
    metrics.close();
    const received = text.split('\n');
    assert.equal(received.pop(), '', 'the stream ends with a complete line');
    for (const line of received) JSON.parse(line);
    assert.equal(received.map(opsOf).reduce((a, b) => a + b, 0n), total);
    assert.equal(dev.ops.fetchDiff(), 0);
  });
});

describe('process integration', () => {
  const indexUrl = new URL('../../src/index.js', import.meta.url).href;

  function runChild(script: string): { status: number | null; stderr: string; ms: number } {
    const start = Date.now();
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    return { status: result.status, stderr: result.stderr, ms: Date.now() - start };
  }

  test('the periodic flush writes on its own and never keeps the process alive', async () => {
    const { metrics, dev } = setup();
    const path = join(dir, 'metrics.json');
    metrics.init(path, { flushIntervalMs: 20 });
    dev.ops.add(6);
    await new Promise((resolve) => setTimeout(resolve, 150));
    metrics.close();
    assert.ok(lines(path).length > 2);
    assert.equal(dev.ops.fetchDiff(), 0);

    const child = runChild(
      `import { METRICS } from ${JSON.stringify(indexUrl)}; METRICS.init(${JSON.stringify(join(dir, 'child.json'))});`,
    );
    assert.equal(child.status, 0, child.stderr);
    assert.ok(child.ms < 10_000, `the child took ${child.ms} ms: a 60 s timer held it`);
  });

  test('flushOnExit writes a last line when the process exits', () => {
    const path = join(dir, 'exit.json');
    const script = `
      import { METRICS } from ${JSON.stringify(indexUrl)};
      import { METRICS as balloon } from ${JSON.stringify(new URL('../../src/devices/virtio/balloon/metrics.js', import.meta.url).href)};
      METRICS.init(${JSON.stringify(path)}, { flushOnExit: true });
      balloon.deflate_count.add(12);
    `;
    const child = runChild(script);
    assert.equal(child.status, 0, child.stderr);
    const [line] = lines(path);
    assert.match(line ?? '', /"deflate_count":12/);
  });

  test('flushOnExit also writes the last line on SIGTERM, and the process still dies of it', async () => {
    const path = join(dir, 'term.json');
    const script = `
      import { METRICS } from ${JSON.stringify(indexUrl)};
      import { METRICS as balloon } from ${JSON.stringify(new URL('../../src/devices/virtio/balloon/metrics.js', import.meta.url).href)};
      METRICS.init(${JSON.stringify(path)}, { flushOnExit: true });
      balloon.deflate_count.add(12);
      setInterval(() => undefined, 1000);
      process.stdout.write('ready\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.once('data', () => child.kill('SIGTERM'));
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    assert.deepEqual([code, signal], [null, 'SIGTERM']);
    const written = lines(path);
    assert.equal(written.length, 2, 'one line and its newline: the exit handler did not write again');
    assert.match(written[0] ?? '', /"deflate_count":12/);
  });

  test('errors of the periodic flush go to onError', async () => {
    const { metrics, dev } = setup();
    const errors: MetricsError[] = [];
    const out = new PassThrough();
    metrics.init(out, { flushIntervalMs: 10, onError: (error) => errors.push(error) });
    out.destroy();
    dev.ops.inc();
    await new Promise((resolve) => setTimeout(resolve, 60));
    metrics.close();
    assert.ok(errors.length > 0);
    assert.ok(errors.every((error) => error.message.startsWith('Failed to write metrics: ')));
    assert.equal(dev.ops.fetchDiff(), 1);
  });
});

