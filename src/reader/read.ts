/**
 * The reader: metrics lines from a path or a byte stream, as validated records.
 *
 * ```ts
 * import { readMetrics } from 'vmm-metrics/reader';
 *
 * const stop = new AbortController();
 * for await (const { lineNumber, record, problems } of readMetrics('metrics.fifo', { follow: true, signal: stop.signal })) {
 *   for (const p of problems) console.warn(`line ${lineNumber}: ${formatProblem(p)}`);
 *   if (record) console.log(record.utc_timestamp_ms, record.groups.balloon);
 * }
 * ```
 */
import { isUtf8 } from 'node:buffer';
import { firecrackerSchema } from './default-schema.js';
import { LineSplitter, type RawLine } from './lines.js';
import { hasErrors, type Problem } from './problems.js';
import type { MetricsReading } from './record.js';
import type { MetricsSchema } from './schema.js';
import { readPath, type SourceItem, type SourceOptions } from './source.js';
import { readMetricsLine, type ValidateOptions } from './validate.js';

/** Something the reader noticed about its source (not about a line). */
export interface ReaderEvent {
  /**
   * `truncated`: the file shrank, reading starts over at its beginning; `replaced`: another file
   * now has the path, reading goes on in it from its beginning; `writer-closed`: the pipe's
   * writer closed it (when following, the reader waits for the next one).
   */
  readonly type: 'truncated' | 'replaced' | 'writer-closed';
}

export interface ReadMetricsOptions extends ValidateOptions, SourceOptions {
  /**
   * What lines must look like.
   * @default the global Firecracker document's schema (`firecrackerSchema()`)
   */
  readonly schema?: MetricsSchema;
  /**
   * Lines longer than this many bytes are reported as broken ("line too long") and skipped;
   * at most this much of a line is held in memory. From 1 to `MAX_LINE_BYTES_LIMIT`.
   * @default `DEFAULT_MAX_LINE_BYTES` (32 MiB: the writer's line for 10,000 devices of each kind, every value at its maximum, is 27.8 MB)
   */
  readonly maxLineBytes?: number;
  /** Called when a file is truncated or replaced, or a pipe's writer closes. */
  readonly onEvent?: (event: ReaderEvent) => void;
  /**
   * Reads each complete line (valid UTF-8, within `maxLineBytes`, without its newline) instead
   * of `readMetricsLine` against `schema`: for a reader with rules of its own, such as
   * `AnyReleaseReader`'s. Lines too long, not UTF-8 or not ended are reported as always.
   */
  readonly readLine?: (text: string, lineNumber: number) => MetricsReading;
}

/**
 * A path (regular file or named pipe), or any async iterable of byte chunks (a `Readable`
 * such as `process.stdin`, or `Readable.from(chunks)`). String chunks are taken as UTF-8 text.
 */
export type MetricsInput = string | AsyncIterable<Uint8Array | string>;

/**
 * Reads metrics lines and yields one reading per line: its number, its record (undefined for a
 * broken line) and its problems. Bytes are buffered until a line's newline arrives, whatever the
 * chunking. With `signal`, aborting ends the iteration (no error); so does `break`. Either way
 * every file handle is closed. Fails with `MetricsSourceError` when the path cannot be read, and
 * with a `RangeError` when `maxLineBytes` is not an integer from 1 to `MAX_LINE_BYTES_LIMIT`.
 */
export async function* readMetrics(
  input: MetricsInput,
  options: ReadMetricsOptions = {},
): AsyncGenerator<MetricsReading, void, undefined> {
  const schema = options.schema ?? firecrackerSchema();
  const splitter = new LineSplitter(options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes });
  const items = typeof input === 'string' ? readPath(input, options) : readIterable(input, options.signal);
  const signal = options.signal;
  for await (const item of items) {
    switch (item.type) {
      case 'origin':
        splitter.reset(item.firstLineNumber);
        break;
      case 'data':
        for (const line of splitter.push(item.bytes)) yield readRawLine(line, schema, options);
        break;
      case 'restart':
        splitter.reset(1);
        options.onEvent?.({ type: item.reason });
        break;
      case 'writer-closed': {
        const rest = splitter.end();
        if (rest !== undefined) yield unterminated(rest, schema, options, 'the writer closed the pipe in the middle of this line');
        options.onEvent?.({ type: 'writer-closed' });
        break;
      }
    }
  }
  if (signal?.aborted === true) return;
  const rest = splitter.end();
  if (rest !== undefined) yield unterminated(rest, schema, options, 'no newline at the end of the input: the line is incomplete');
}

/**
 * The fast path: every line of a whole text (or UTF-8 bytes), synchronously. A last line
 * without its newline is reported as incomplete. Meant for files already in memory and for
 * throughput measurements (lines per second).
 */
export function parseMetricsText(
  input: string | Uint8Array,
  options: ValidateOptions & { readonly schema?: MetricsSchema } = {},
): MetricsReading[] {
  const schema = options.schema ?? firecrackerSchema();
  const readings: MetricsReading[] = [];
  if (typeof input === 'string') {
    let start = 0;
    let lineNumber = 0;
    for (;;) {
      const end = input.indexOf('\n', start);
      if (end === -1) break;
      readings.push(readMetricsLine(input.slice(start, end), ++lineNumber, schema, options));
      start = end + 1;
    }
    if (start < input.length) {
      const last = readMetricsLine(input.slice(start), ++lineNumber, schema, options);
      readings.push(withProblem(last, 'no newline at the end of the input: the line is incomplete'));
    }
    return readings;
  }
  const splitter = new LineSplitter();
  for (const line of splitter.push(input)) readings.push(readRawLine(line, schema, options));
  const rest = splitter.end();
  if (rest !== undefined) readings.push(unterminated(rest, schema, options, 'no newline at the end of the input: the line is incomplete'));
  return readings;
}

function readRawLine(line: RawLine, schema: MetricsSchema, options: ReadMetricsOptions): MetricsReading {
  if (line.overlong) return broken(line.lineNumber, `line too long (over ${line.bytes.length} bytes), skipped`);
  if (!isUtf8(line.bytes)) return broken(line.lineNumber, 'not valid UTF-8, skipped');
  const text = line.bytes.toString('utf8');
  return options.readLine === undefined ? readMetricsLine(text, line.lineNumber, schema, options) : options.readLine(text, line.lineNumber);
}

function unterminated(line: RawLine, schema: MetricsSchema, options: ReadMetricsOptions, message: string): MetricsReading {
  return withProblem(readRawLine(line, schema, options), message);
}

function withProblem(reading: MetricsReading, message: string): MetricsReading {
  const problems: Problem[] = [{ severity: 'error', path: [], message }, ...reading.problems];
  return { ...reading, problems, valid: !hasErrors(problems) };
}

function broken(lineNumber: number, message: string): MetricsReading {
  return { lineNumber, record: undefined, problems: [{ severity: 'error', path: [], message }], valid: false };
}

/** Chunks of an async iterable; on abort, stops waiting and closes the iterator. */
async function* readIterable(
  input: AsyncIterable<Uint8Array | string>,
  signal: AbortSignal | undefined,
): AsyncGenerator<SourceItem, void, undefined> {
  if (signal?.aborted === true) return;
  const iterator = input[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => {
      resolve('aborted');
    };
    signal?.addEventListener('abort', onAbort);
  });
  let finished = false;
  try {
    yield { type: 'origin', firstLineNumber: 1 };
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === 'aborted') return;
      if (next.done === true) {
        finished = true;
        return;
      }
      const chunk = next.value;
      yield { type: 'data', bytes: typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) };
    }
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    // Not awaited when aborted: a pending next() may never settle.
    if (!finished) void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}
