/**
 * `vmm-metrics tail PATH`: follows a metrics file or named pipe and shows each new line.
 */
import { stat } from 'node:fs/promises';
import { readMetrics, type MetricsInput, type ReaderEvent } from '../reader/read.js';
import { formatRecord } from '../reader/record.js';
import { formatProblem } from '../reader/problems.js';
import { MetricsSourceError, type SourceOptions } from '../reader/source.js';
import { MAX_LINE_BYTES_ARG_OPTIONS, maxLineBytesFromArgs, onePath, parseCommandArgs, pollMsFromArgs } from './args.js';
import { writeOut, type CommandIo } from './io.js';
import { SCHEMA_ARG_OPTIONS, schemaFromArgs } from './schema-option.js';
import { TailView } from './tail-view.js';
import { TAIL_USAGE } from './usage.js';

/** Clears a terminal and puts the cursor at its top left. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

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
  const path = onePath(positionals);
  const pollIntervalMs = pollMsFromArgs(values);
  const maxLineBytes = maxLineBytesFromArgs(values);
  const schema = await schemaFromArgs(values);
  const json = values.json === true;
  const redraw = !json && io.stdout.isTTY === true;

  let input: MetricsInput = path;
  let start: SourceOptions['start'] = 'beginning';
  if (path === '-') {
    input = io.stdin;
  } else {
    const stats = await stat(path).catch((cause: unknown) => {
      throw new MetricsSourceError(path, { cause });
    });
    if (stats.isFile() && values['from-start'] !== true) start = 'last-line';
  }

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

  const view = new TailView(schema);
  const onEvent = (event: ReaderEvent): void => {
    if (event.type !== 'writer-closed') view.reset();
    const what =
      event.type === 'truncated'
        ? 'was truncated; reading it again from the start'
        : event.type === 'replaced'
          ? 'was replaced; reading the new file from its start'
          : "'s writer closed it; waiting for the next writer";
    io.stderr.write(`vmm-metrics tail: ${path}${event.type === 'writer-closed' ? '' : ' '}${what}\n`);
  };
  if (redraw) io.stdout.write(`${CLEAR_SCREEN}Waiting for metrics lines from ${path} (Ctrl-C to stop)\n`);
  try {
    const readings = readMetrics(input, {
      schema,
      follow: true,
      start,
      signal: stop.signal,
      strict: values.strict === true,
      onEvent,
      ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
      ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
    });
    for await (const reading of readings) {
      // The readings of a chunk already read still arrive after an abort; nobody wants them.
      if (stop.signal.aborted) break;
      if (json) {
        for (const problem of reading.problems) {
          await writeOut(io.stderr, `${formatProblem(problem, `${path}:${reading.lineNumber}`)}\n`, stop.signal);
        }
        if (reading.record !== undefined) await writeOut(io.stdout, `${formatRecord(reading.record)}\n`, stop.signal);
      } else {
        const block = view.render(reading, path);
        await writeOut(io.stdout, redraw ? CLEAR_SCREEN + block : `${block}\n`, stop.signal);
      }
    }
  } catch (error) {
    if (error instanceof MetricsSourceError) {
      await writeOut(io.stderr, `vmm-metrics tail: ${error.message}\n`);
      return 2;
    }
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    // A write that failed with EPIPE reports its 'error' on a later tick: take it here, not
    // as an uncaught exception once the handler is gone.
    if (io.stdout.destroyed === true) await new Promise((resolve) => setImmediate(resolve));
    io.stdout.off('error', onOutputError);
  }
  return 0;
}
