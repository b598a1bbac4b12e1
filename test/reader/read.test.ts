import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, renameSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { Metrics } from '../../src/index.js';
import {
  DEFAULT_MAX_LINE_BYTES,
  formatProblem,
  formatRecord,
  metricValue,
  MetricsSourceError,
  parseMetricsText,
  readMetrics,
  type MetricsReading,
  type ReadMetricsOptions,
  type ReaderEvent,
} from '../../src/reader/index.js';
import {
  closeFd,
  largestFirecrackerLine,
  makeDocument,
  mkfifo,
  openFds,
  openFifoWriter,
  sleep,
  tempDir,
  waitFor,
  type TestDocument,
} from './helpers.js';

const U64_MAX = (1n << 64n) - 1n;

let dir: string;
let removeDir: () => void;
let fdsBefore: number;

beforeEach(() => {
  ({ dir, remove: removeDir } = tempDir());
  fdsBefore = openFds().length;
});

afterEach(() => {
  removeDir();
});

/** Byte chunks of `bytes`, cut at the given points. */
function cut(bytes: Buffer, points: readonly number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of [...at, bytes.length]) {
    chunks.push(bytes.subarray(start, p));
    start = p;
  }
  return chunks.filter((c) => c.length > 0);
}

/** Writes lines with the library's writer to `path`, one per step, and returns them. */
function writeLines(doc: TestDocument, path: string, steps: readonly { requests: bigint; level: bigint; bytes: bigint }[], id?: string): string[] {
  const metrics = new Metrics(doc.document);
  metrics.init(path, { flushIntervalMs: 0, ...(id === undefined ? {} : { id }) });
  try {
    for (const step of steps) {
      doc.api.requests.add(step.requests);
      doc.api.level.store(step.level);
      doc.disks.alloc('b').read_bytes.add(step.bytes);
      metrics.write();
    }
  } finally {
    metrics.close();
  }
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

/** Reads until `count` readings arrived (or `timeoutMs`), then stops the reader. */
async function take(
  path: string,
  count: number,
  options: ReadMetricsOptions,
  during?: (readings: readonly MetricsReading[]) => Promise<void>,
  timeoutMs = 5000,
): Promise<MetricsReading[]> {
  const stop = new AbortController();
  const timer = setTimeout(() => {
    stop.abort();
  }, timeoutMs);
  const readings: MetricsReading[] = [];
  const running = during?.(readings);
  try {
    for await (const reading of readMetrics(path, { pollIntervalMs: 5, ...options, signal: stop.signal })) {
      readings.push(reading);
      if (readings.length === count) break;
    }
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  await running;
  assert.equal(readings.length, count, `got ${readings.length} of ${count} readings: ${JSON.stringify(readings.map(summary))}`);
  return readings;
}

function summary(reading: MetricsReading): string {
  return `${reading.lineNumber}: ${reading.problems.map((p) => formatProblem(p)).join('; ') || 'ok'}`;
}

/** Any string: astral characters (split across chunks as UTF-8), controls, lone surrogates. */
const anyString = fc.string({
  unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))),
  maxLength: 8,
});

const steps = fc.array(
  fc.record({
    requests: fc.bigInt({ min: 0n, max: U64_MAX }),
    level: fc.bigInt({ min: 0n, max: U64_MAX }),
    bytes: fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: U64_MAX })),
  }),
  { minLength: 1, maxLength: 5 },
);

describe('readMetrics', () => {
  test('returns exactly the records written, whatever the chunking (stream)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(steps, fc.array(fc.nat(), { maxLength: 40 }), anyString, fc.uniqueArray(anyString, { maxLength: 3 }), async (written, points, id, diskIds) => {
        const doc = makeDocument({ diskIds: [...diskIds.filter((d) => d !== '' && d !== 'b'), 'b'] });
        const path = join(dir, `stream-${run++}.json`);
        const lines = writeLines(doc, path, written, id);
        const readings: MetricsReading[] = [];
        for await (const reading of readMetrics(Readable.from(cut(readFileSync(path), points)), { schema: doc.schema })) {
          readings.push(reading);
        }
        assert.deepEqual(readings.map(summary), lines.map((_, i) => `${i + 1}: ok`));
        readings.forEach((reading, i) => {
          const record = reading.record;
          assert.ok(record);
          assert.equal(formatRecord(record), lines[i]);
          assert.equal(record.id, id);
          const step = written[i];
          assert.ok(step);
          assert.equal(BigInt(metricValue(record, 'api', 'requests') ?? -1), step.requests);
          assert.equal(BigInt(metricValue(record, 'api', 'level') ?? -1), step.level);
          assert.equal(BigInt(metricValue(record, 'disk_b', 'read_bytes') ?? -1), step.bytes);
          assert.equal(BigInt(metricValue(record, 'disk', 'read_bytes') ?? -1), step.bytes);
        });
        assert.deepEqual(parseMetricsText(readFileSync(path), { schema: doc.schema }), readings);
        assert.deepEqual(parseMetricsText(readFileSync(path, 'utf8'), { schema: doc.schema }), readings);
      }),
      { numRuns: 60 },
    );
  });

  test('returns exactly the records written, whatever the pieces written to a named pipe', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(steps, fc.array(fc.nat(), { maxLength: 12 }), async (written, points) => {
        const doc = makeDocument();
        const file = join(dir, `lines-${run}.json`);
        const fifo = join(dir, `pipe-${run++}`);
        mkfifo(fifo);
        const lines = writeLines(doc, file, written);
        const readings = await take(fifo, lines.length, { schema: doc.schema, follow: true }, async () => {
          const fd = await openFifoWriter(fifo);
          try {
            for (const piece of cut(readFileSync(file), points)) {
              writeSync(fd, piece);
              await sleep(Math.random() < 0.3 ? 2 : 0);
            }
          } finally {
            closeFd(fd);
          }
        });
        assert.deepEqual(readings.map((r) => (r.record === undefined ? summary(r) : formatRecord(r.record))), lines);
      }),
      { numRuns: 15 },
    );
  });

  test('follows a growing file appended in pieces, partial lines included', async () => {
    const doc = makeDocument();
    const lines = writeLines(doc, join(dir, 'source.json'), [
      { requests: 1n, level: 2n, bytes: 3n },
      { requests: U64_MAX, level: 0n, bytes: 2n ** 53n },
      { requests: 7n, level: 8n, bytes: 9n },
    ]);
    const path = join(dir, 'metrics.json');
    writeFileSync(path, '');
    const text = lines.map((l) => `${l}\n`).join('');
    const readings = await take(path, 3, { schema: doc.schema, follow: true }, async () => {
      for (const piece of cut(Buffer.from(text), [5, 40, 41, 200, text.indexOf('\n') + 1, 700])) {
        await sleep(15);
        appendFileSync(path, piece);
      }
    });
    assert.deepEqual(readings.map((r) => r.record && formatRecord(r.record)), lines);
    assert.deepEqual(readings.map((r) => r.lineNumber), [1, 2, 3]);
  });

  test('follows lines a Metrics writer appends', async () => {
    const doc = makeDocument();
    const path = join(dir, 'metrics.json');
    const metrics = new Metrics(doc.document);
    metrics.init(path, { flushIntervalMs: 0 });
    try {
      const readings = await take(path, 3, { schema: doc.schema, follow: true }, async () => {
        for (let i = 1; i <= 3; i++) {
          await sleep(10);
          doc.api.requests.add(i);
          metrics.write();
        }
      });
      assert.deepEqual(readings.map((r) => r.record && metricValue(r.record, 'api', 'requests')), [1, 2, 3]);
    } finally {
      metrics.close();
    }
  });

  test('starts over when the file is truncated or replaced', async () => {
    const doc = makeDocument();
    const lines = writeLines(doc, join(dir, 'source.json'), [
      { requests: 1n, level: 0n, bytes: 0n },
      { requests: 2n, level: 0n, bytes: 0n },
      { requests: 3n, level: 0n, bytes: 0n },
      { requests: 4n, level: 0n, bytes: 0n },
    ]);
    const [l1, l2, l3, l4] = lines as [string, string, string, string];
    const path = join(dir, 'metrics.json');
    writeFileSync(path, `${l1}\n${l2}\n`);
    const events: ReaderEvent['type'][] = [];
    const readings = await take(path, 5, { schema: doc.schema, follow: true, onEvent: (e) => events.push(e.type) }, async (readings) => {
      await waitFor(() => readings.length === 2, 'the first lines');
      truncateSync(path, 0);
      await waitFor(() => events.includes('truncated'), 'the truncation to be noticed');
      appendFileSync(path, `${l3}\n`);
      await sleep(30);
      // Rotation: a line still goes to the old file, then a new file takes the path.
      const next = join(dir, 'next.json');
      writeFileSync(next, `${l4}\n`);
      appendFileSync(path, `${l2}\n`);
      renameSync(next, path);
    });
    assert.deepEqual(
      readings.map((r) => [r.lineNumber, r.record && formatRecord(r.record)]),
      [
        [1, l1],
        [2, l2],
        [1, l3],
        [2, l2],
        [1, l4],
      ],
    );
    assert.deepEqual(events, ['truncated', 'replaced']);
  });

  test('a named pipe: a writer that closes and reopens is followed; a torn line is reported', async () => {
    const doc = makeDocument();
    const lines = writeLines(doc, join(dir, 'source.json'), [
      { requests: 1n, level: 0n, bytes: 0n },
      { requests: 2n, level: 0n, bytes: 0n },
      { requests: 3n, level: 0n, bytes: 0n },
    ]);
    const [l1, l2, l3] = lines as [string, string, string];
    const fifo = join(dir, 'metrics.fifo');
    mkfifo(fifo);
    const events: ReaderEvent['type'][] = [];
    const readings = await take(fifo, 4, { schema: doc.schema, follow: true, onEvent: (e) => events.push(e.type) }, async () => {
      let fd = await openFifoWriter(fifo);
      writeSync(fd, `${l1}\n${l2.slice(0, 30)}`);
      closeFd(fd);
      await waitFor(() => events.length === 1, 'the writer to be seen closing');
      // A restarted writer: the library's own, which opens the pipe read-write (and so never
      // waits for a reader). Once the reader is back (`probe` could open), it writes a line.
      const probe = await openFifoWriter(fifo);
      const metrics = new Metrics(doc.document);
      metrics.init(fifo, { flushIntervalMs: 0 });
      doc.api.requests.add(2);
      metrics.write();
      metrics.close();
      closeFd(probe);
      await waitFor(() => events.length === 2, 'the second writer to be seen closing');
      fd = await openFifoWriter(fifo);
      writeSync(fd, `${l3}\n`);
      closeFd(fd);
    });
    const [first, torn, restarted, last] = readings as [MetricsReading, MetricsReading, MetricsReading, MetricsReading];
    assert.equal(first.record && formatRecord(first.record), l1);
    assert.equal(torn.lineNumber, 2);
    assert.equal(torn.valid, false);
    assert.match(torn.problems.map((p) => formatProblem(p)).join('\n'), /writer closed the pipe in the middle of this line/);
    assert.equal(restarted.record && metricValue(restarted.record, 'api', 'requests'), 2);
    assert.equal(last.record && formatRecord(last.record), l3);
    assert.deepEqual(readings.map((r) => r.lineNumber), [1, 2, 3, 4]);
  });

  test('without follow, a pipe is read until its writer closes it', async () => {
    const doc = makeDocument();
    const [l1] = writeLines(doc, join(dir, 'source.json'), [{ requests: 1n, level: 0n, bytes: 0n }]) as [string];
    const fifo = join(dir, 'metrics.fifo');
    mkfifo(fifo);
    const writing = (async () => {
      const fd = await openFifoWriter(fifo);
      writeSync(fd, `${l1}\n${l1}\n`);
      closeFd(fd);
    })();
    const readings: MetricsReading[] = [];
    for await (const reading of readMetrics(fifo, { schema: doc.schema })) readings.push(reading);
    await writing;
    assert.deepEqual(readings.map(summary), ['1: ok', '2: ok']);
  });

  test('abort ends a reader waiting on a pipe or a file, and no descriptor stays open', async () => {
    const doc = makeDocument();
    const fifo = join(dir, 'idle.fifo');
    mkfifo(fifo);
    const file = join(dir, 'idle.json');
    writeFileSync(file, '');
    for (const path of [fifo, file]) {
      const stop = new AbortController();
      const reading = (async () => {
        let count = 0;
        for await (const _ of readMetrics(path, { schema: doc.schema, follow: true, pollIntervalMs: 5, signal: stop.signal })) count++;
        return count;
      })();
      await sleep(30);
      stop.abort();
      assert.equal(await reading, 0);
    }
    await sleep(10);
    assert.equal(openFds().length, fdsBefore);
  });

  test('breaking out of the loop closes the file', async () => {
    const doc = makeDocument();
    const path = join(dir, 'metrics.json');
    const lines = writeLines(doc, path, [
      { requests: 1n, level: 0n, bytes: 0n },
      { requests: 2n, level: 0n, bytes: 0n },
    ]);
    for await (const reading of readMetrics(path, { schema: doc.schema, follow: true })) {
      assert.equal(reading.record && formatRecord(reading.record), lines[0]);
      break;
    }
    assert.equal(openFds().length, fdsBefore);
  });

  test('starting at the last line or at the end of a file, with the right line numbers', async () => {
    const doc = makeDocument();
    const path = join(dir, 'metrics.json');
    const lines = writeLines(doc, path, [
      { requests: 1n, level: 0n, bytes: 0n },
      { requests: 2n, level: 0n, bytes: 0n },
      { requests: 3n, level: 0n, bytes: 0n },
    ]);
    const partial = (lines[0] ?? '').slice(0, 50);
    appendFileSync(path, partial);
    const last = await take(path, 1, { schema: doc.schema, follow: true, start: 'last-line' });
    assert.deepEqual([last[0]?.lineNumber, last[0]?.record && formatRecord(last[0].record)], [3, lines[2]]);
    const atEnd = await take(path, 1, { schema: doc.schema, follow: true, start: 'end' }, async () => {
      await sleep(20);
      appendFileSync(path, `${(lines[0] ?? '').slice(50)}\n`);
    });
    assert.deepEqual([atEnd[0]?.lineNumber, atEnd[0]?.record && formatRecord(atEnd[0].record)], [4, lines[0]]);
  });

  test('a file read to its end reports an incomplete last line; broken lines are skipped', async () => {
    const doc = makeDocument();
    const path = join(dir, 'metrics.json');
    const lines = writeLines(doc, path, [
      { requests: 1n, level: 0n, bytes: 0n },
      { requests: 2n, level: 0n, bytes: 0n },
    ]);
    writeFileSync(path, `${lines[0]}\nnot json\n${'x'.repeat(5000)}\n\xff\n`, 'latin1');
    appendFileSync(path, (lines[1] ?? '').slice(0, -1));
    const readings: MetricsReading[] = [];
    for await (const reading of readMetrics(path, { schema: doc.schema, maxLineBytes: 2000 })) readings.push(reading);
    assert.deepEqual(
      readings.map((r) => [r.lineNumber, r.record !== undefined, r.problems[0]?.message.slice(0, 24)]),
      [
        [1, true, undefined],
        [2, false, 'invalid JSON: expected a'],
        [3, false, 'line too long (over 2000'],
        [4, false, 'not valid UTF-8, skipped'],
        [5, false, 'no newline at the end of'],
      ],
    );
  });

  test('an unreadable path fails with MetricsSourceError', async () => {
    await assert.rejects(async () => {
      for await (const _ of readMetrics(join(dir, 'missing.json'), { schema: makeDocument().schema })) {
        // nothing
      }
    }, (error: unknown) => error instanceof MetricsSourceError && error.code === 'ENOENT');
    await assert.rejects(async () => {
      for await (const _ of readMetrics(dir, { schema: makeDocument().schema })) {
        // nothing
      }
    }, MetricsSourceError);
  });

  // Issue 6: the writer and the reader agree on the largest line. The README's arithmetic:
  // 10,000 devices of each kind at maximum values is about 27.8 MB, over the old 16 MiB limit.
  test('the longest line of 10,000 devices of each kind, every value at its maximum, is read whole by default', async () => {
    const line = largestFirecrackerLine(10_000);
    const bytes = Buffer.byteLength(line);
    const path = join(dir, 'largest.json');
    writeFileSync(path, `${line}\n`);
    const readings: MetricsReading[] = [];
    for await (const reading of readMetrics(path)) readings.push(reading);
    assert.equal(readings.length, 1);
    const [reading] = readings;
    assert.deepEqual(reading?.problems.map((p) => formatProblem(p)), []);
    assert.equal(Object.keys(reading.record?.groups ?? {}).filter((key) => /_0{60}/.test(key)).length, 4 * 10_000);
    assert.equal(metricValue(reading.record as NonNullable<MetricsReading['record']>, `net_${'0'.repeat(60)}9999`, 'tx_bytes_count'), U64_MAX);
    assert.ok(bytes > 27_000_000 && bytes <= DEFAULT_MAX_LINE_BYTES, `${bytes} bytes`);
  });

  test('maxLineBytes must be a whole number of bytes a string can hold', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 40]) {
      await assert.rejects(async () => {
        for await (const _ of readMetrics(Readable.from(['{}\n']), { maxLineBytes: bad })) {
          // nothing
        }
      }, new RegExp(`^RangeError: maxLineBytes: expected an integer from 1 to \\d+, got ${String(bad)}$`));
    }
  });
});
