/**
 * `vmm-metrics tail PATH...`: follows metrics files and named pipes and shows, for each, what a
 * person came to see (`tail-view.ts`): every counter's total since the file began, every store's
 * value, and the last line that moved something.
 *
 * Decisions that are not obvious:
 * - **A file is read from its first line**, always, so that its totals are the file's; the view
 *   is drawn once the lines already there are read (counted before reading starts), then for
 *   each new line. A pipe or standard input has no past: its totals count from when tail started.
 * - **`--from-start` tells the story, one line of text per metrics line** — its time since the
 *   first line and what moved, humanised; a run of lines that moved nothing in one line — then
 *   the view, and the story goes on as lines come. Not a paced replay: a file's own pace would
 *   take as long as the session did (an hour for an hour's file), and a screen redrawn for each
 *   line shows only the last. A line per line is read at one's own pace, scrolls back, and pipes
 *   into grep or less.
 * - **Several paths** are followed at once, each with its own view; on a terminal the screen
 *   holds every view, redrawn when one changes; otherwise each change is appended, named by its
 *   path. One path that fails is reported and the others go on (exit status 2 at the end).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { readMetrics, type MetricsInput, type ReaderEvent } from '../reader/read.js';
import { formatRecord, type MetricsReading } from '../reader/record.js';
import { formatProblem } from '../reader/problems.js';
import { MetricsSourceError, type SourceOptions } from '../reader/source.js';
import type { MetricsSchema } from '../reader/schema.js';
import { MAX_LINE_BYTES_ARG_OPTIONS, maxLineBytesFromArgs, parseCommandArgs, pollMsFromArgs, somePaths } from './args.js';
import { UsageError } from './errors.js';
import { writeOut, type CommandIo } from './io.js';
import { SCHEMA_ARG_OPTIONS, schemaFromArgs } from './schema-option.js';
import { TailView, type LineMoves } from './tail-view.js';
import { TAIL_USAGE } from './usage.js';

/** Clears a terminal and puts the cursor at its top left. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

type Mode = 'json' | 'view' | 'story';

/** One followed path: its view, and how many lines it had when tail started. */
interface Followed {
  readonly path: string;
  readonly input: MetricsInput;
  readonly start: NonNullable<SourceOptions['start']>;
  readonly view: TailView;
  /** Complete lines in the file when tail started: the view is drawn once they are read. */
  backlog: number;
  /** In a story, the lines since the last one that moved something: told in one line when the run ends. */
  quiet: { first: number; last: number } | undefined;
}

export async function tailCommand(args: readonly string[], io: CommandIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    ...SCHEMA_ARG_OPTIONS,
    ...MAX_LINE_BYTES_ARG_OPTIONS,
    json: { type: 'boolean' },
    'from-start': { type: 'boolean' },
    'poll-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.stdout.write(TAIL_USAGE);
    return 0;
  }
  somePaths(positionals);
  const mode: Mode = values.json === true ? 'json' : values['from-start'] === true ? 'story' : 'view';
  if (mode === 'json' && positionals.length > 1) throw new UsageError('--json takes one PATH: a record does not say which file it came from; run one tail per file');
  const pollIntervalMs = pollMsFromArgs(values);
  const maxLineBytes = maxLineBytesFromArgs(values);
  const schema = await schemaFromArgs(values);
  const redraw = mode === 'view' && io.stdout.isTTY === true;
  const several = positionals.length > 1;

  const followed: Followed[] = [];
  for (const path of positionals) followed.push(await follow(path, io, mode, schema, values['from-start'] === true));

  // Stop quietly when the reader of our output goes away (`tail ... | head`).
  const stop = new AbortController();
  const onAbort = (): void => {
    stop.abort();
  };
  signal.addEventListener('abort', onAbort);
  const onOutputError = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE') stop.abort();
  };
  io.stdout.on('error', onOutputError);

  // One writer at a time, in order: the followers run at once.
  let output = Promise.resolve();
  const emit = (text: string): Promise<void> => (output = output.then(() => writeOut(io.stdout, text, stop.signal)));
  const drawn = new Set<Followed>();
  const draw = (one: Followed): Promise<void> => {
    drawn.add(one);
    if (redraw) return emit(CLEAR_SCREEN + followed.filter((f) => drawn.has(f)).map((f) => f.view.render()).join('\n'));
    // In a story, an empty line sets the view apart from the lines told before it.
    return emit(`${mode === 'story' ? '\n' : ''}${one.view.render()}\n`);
  };
  const tellQuiet = (one: Followed): Promise<void> | undefined => {
    const quiet = one.quiet;
    if (quiet === undefined) return undefined;
    one.quiet = undefined;
    const lines = quiet.first === quiet.last ? `line ${quiet.first}` : `lines ${quiet.first}–${quiet.last}`;
    return emit(`${several ? `${one.path}: ` : ''}${lines}  nothing moved\n`);
  };

  const run = async (one: Followed): Promise<void> => {
    const onEvent = (event: ReaderEvent): void => {
      if (event.type !== 'writer-closed') {
        one.view.reset();
        one.backlog = 0;
      }
      const what =
        event.type === 'truncated'
          ? 'was truncated; reading it again from the start'
          : event.type === 'replaced'
            ? 'was replaced; reading the new file from its start'
            : "'s writer closed it; waiting for the next writer";
      io.stderr.write(`vmm-metrics tail: ${one.path}${event.type === 'writer-closed' ? '' : ' '}${what}\n`);
    };
    const readings = readMetrics(one.input, {
      schema,
      follow: true,
      start: one.start,
      signal: stop.signal,
      strict: values.strict === true,
      onEvent,
      ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
      ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
    });
    for await (const reading of readings) {
      // The readings of a chunk already read still arrive after an abort; nobody wants them.
      if (stop.signal.aborted) break;
      if (mode === 'json') {
        await json(reading, one.path, io, stop.signal);
        continue;
      }
      const moves = one.view.take(reading);
      const caughtUp = reading.lineNumber >= one.backlog;
      if (mode === 'story') await tell(one, reading, moves, caughtUp);
      if (caughtUp && (mode === 'view' || reading.lineNumber === one.backlog)) await draw(one);
    }
    if (mode === 'story') await tellQuiet(one);
  };

  const tell = async (one: Followed, reading: MetricsReading, moves: LineMoves | undefined, caughtUp: boolean): Promise<void> => {
    const told = moves === undefined ? undefined : one.view.storyLine(moves);
    if (told === undefined && reading.record !== undefined) {
      one.quiet = { first: one.quiet?.first ?? reading.lineNumber, last: reading.lineNumber };
      if (caughtUp) await tellQuiet(one);
      return;
    }
    await tellQuiet(one);
    const prefix = several ? `${one.path}: ` : '';
    if (told !== undefined) await emit(`${prefix}${told}\n`);
    else await emit(`${prefix}line ${reading.lineNumber}  broken line, skipped${reading.problems[0] === undefined ? '' : `: ${formatProblem(reading.problems[0])}`}\n`);
  };

  if (redraw) await emit(`${CLEAR_SCREEN}Waiting for metrics lines from ${positionals.join(', ')} (Ctrl-C to stop)\n`);
  let status = 0;
  try {
    await Promise.all(
      followed.map((one) =>
        run(one).catch(async (error: unknown) => {
          if (!(error instanceof MetricsSourceError)) throw error;
          status = 2;
          await output;
          await writeOut(io.stderr, `vmm-metrics tail: ${error.message}\n`);
        }),
      ),
    );
    await output;
  } finally {
    signal.removeEventListener('abort', onAbort);
    // A write that failed with EPIPE reports its 'error' on a later tick: take it here, not
    // as an uncaught exception once the handler is gone.
    if (io.stdout.destroyed === true) await new Promise((resolve) => setImmediate(resolve));
    io.stdout.off('error', onOutputError);
  }
  return status;
}

/** Where and how to read `path`: a file from its start (its backlog counted), a pipe or stdin as it comes. */
async function follow(path: string, io: CommandIo, mode: Mode, schema: MetricsSchema, fromStart: boolean): Promise<Followed> {
  if (path === '-') return { path, input: io.stdin, start: 'beginning', view: new TailView(schema, 'standard input', { fromStart: false }), backlog: 0, quiet: undefined };
  const stats = await stat(path).catch((cause: unknown) => {
    throw new MetricsSourceError(path, { cause });
  });
  if (!stats.isFile()) return { path, input: path, start: 'beginning', view: new TailView(schema, path, { fromStart: false }), backlog: 0, quiet: undefined };
  // --json keeps its own way: the last line, then what follows (every line with --from-start).
  const start = mode === 'json' && !fromStart ? 'last-line' : 'beginning';
  return { path, input: path, start, view: new TailView(schema, path), backlog: mode === 'json' ? 0 : await completeLines(path), quiet: undefined };
}

/** How many complete lines `path` holds now. */
async function completeLines(path: string): Promise<number> {
  let lines = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      const bytes = chunk as Buffer;
      for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) lines++;
    }
  } catch (cause) {
    throw new MetricsSourceError(path, { cause });
  }
  return lines;
}

async function json(reading: MetricsReading, path: string, io: CommandIo, signal: AbortSignal): Promise<void> {
  for (const problem of reading.problems) await writeOut(io.stderr, `${formatProblem(problem, `${path}:${reading.lineNumber}`)}\n`, signal);
  if (reading.record !== undefined) await writeOut(io.stdout, `${formatRecord(reading.record)}\n`, signal);
}
