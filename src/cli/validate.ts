/**
 * `vmm-metrics validate PATH…`: checks every line; problems on stderr, a summary per path on stdout.
 *
 * `--firecracker VERSION` checks the lines strictly against that Firecracker release's;
 * `--firecracker auto` first reads each path to find the releases whose lines all of its lines
 * are (or, when none, the nearest: the most lines valid, then the fewest errors), then checks it
 * against them. A regular file is read twice for that; a pipe or standard input is held in
 * memory between the two readings, up to `AUTO_MAX_BUFFERED_BYTES`.
 */
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { readMetrics, type MetricsInput } from '../reader/read.js';
import { formatProblem } from '../reader/problems.js';
import type { MetricsReading } from '../reader/record.js';
import { releaseLineSets, formatReleases, type ReleaseLineSet } from '../reader/release-lines.js';
import { findFirecrackerRelease, knownFirecrackerVersions, releaseMetricsSchema, UnknownFirecrackerReleaseError } from '../reader/releases.js';
import type { MetricsSchema } from '../reader/schema.js';
import { MetricsSourceError, readPath } from '../reader/source.js';
import { readMetricsLine } from '../reader/validate.js';
import { MAX_LINE_BYTES_ARG_OPTIONS, maxLineBytesFromArgs, parseCommandArgs, somePaths } from './args.js';
import { UsageError } from './errors.js';
import { requiredFromArgs, SCHEMA_ARG_OPTIONS, schemaFromArgs } from './schema-option.js';
import { VALIDATE_USAGE } from './usage.js';
import { writeOut, type CommandIo } from './io.js';
import { plural } from '../reader/plural.js';

/** What `--firecracker auto` holds of a pipe or standard input between its two readings. */
export const AUTO_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/** What the lines of one path are checked against. */
type Check =
  | { readonly kind: 'schema'; readonly schema: MetricsSchema; readonly strict: boolean; readonly prefix: string }
  | { readonly kind: 'auto'; readonly sets: readonly ReleaseLineSet[] };

interface Totals {
  lines: number;
  invalid: number;
  errors: number;
  warnings: number;
}

/** Resolves to 0 (every line valid), 1 (some error), 2 (a path unreadable), or 130 (stopped by `signal`). */
export async function validateCommand(args: readonly string[], io: CommandIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    ...SCHEMA_ARG_OPTIONS,
    ...MAX_LINE_BYTES_ARG_OPTIONS,
    firecracker: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.stdout.write(VALIDATE_USAGE);
    return 0;
  }
  const maxLineBytes = maxLineBytesFromArgs(values);
  const check = await checkFromArgs(values);
  let status = 0;
  for (const path of somePaths(positionals)) {
    const one = await validateOne(path, check, { io, signal, maxLineBytes });
    if (one === 130) return one;
    status = Math.max(status, one);
  }
  return status;
}

async function checkFromArgs(values: {
  readonly firecracker?: string | undefined;
  readonly document?: string | undefined;
  readonly strict?: boolean | undefined;
  readonly rtc?: boolean | undefined;
  readonly require?: string[] | undefined;
}): Promise<Check> {
  const version = values.firecracker;
  if (version === undefined) return { kind: 'schema', schema: await schemaFromArgs(values), strict: values.strict === true, prefix: '' };
  if (values.document !== undefined) throw new UsageError('--firecracker and --document both say what lines are: give one');
  const require = requiredFromArgs(values);
  if (version === 'auto') {
    try {
      return { kind: 'auto', sets: releaseLineSets({ require }) };
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
  }
  const found = findFirecrackerRelease(version);
  if (found === undefined) {
    throw new UsageError(`--firecracker: ${new UnknownFirecrackerReleaseError(version, knownFirecrackerVersions()).message}, or auto`);
  }
  let schema: MetricsSchema;
  try {
    schema = releaseMetricsSchema(version, { require });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const plain = version.replace(/^v(?=\d)/, '');
  return { kind: 'schema', schema, strict: true, prefix: `Firecracker ${plain === 'main' ? 'main' : `v${plain}`}: ` };
}

interface Context {
  readonly io: CommandIo;
  readonly signal: AbortSignal;
  readonly maxLineBytes: number | undefined;
}

async function validateOne(path: string, check: Check, context: Context): Promise<number> {
  const { io, signal } = context;
  try {
    if (check.kind === 'schema') return await report(path, path === '-' ? io.stdin : path, check.schema, check.strict, check.prefix, context);
    const input = await replayable(path, context);
    const { fitting, nearest, lines } = await findReleases(input(), check.sets, context);
    if (signal.aborted) return await interrupted(io, lines);
    const prefix =
      lines === 0
        ? 'no lines to tell a release by: '
        : fitting.length > 0
          ? `fits ${formatReleases(fitting.flatMap((s) => s.versions), 'text')}: `
          : `fits no Firecracker release (nearest ${nearest.name}, checked against it): `;
    return await report(path, input(), (fitting.at(-1) ?? nearest).schema, true, prefix, context);
  } catch (error) {
    if (error instanceof MetricsSourceError) {
      await writeOut(io.stderr, `vmm-metrics validate: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/** Checks every line of `input` against `schema`, each problem on stderr, the summary on stdout. */
async function report(path: string, input: MetricsInput, schema: MetricsSchema, strict: boolean, prefix: string, context: Context): Promise<number> {
  const { io, signal, maxLineBytes } = context;
  const totals: Totals = { lines: 0, invalid: 0, errors: 0, warnings: 0 };
  for await (const reading of readMetrics(input, { schema, strict, signal, ...(maxLineBytes === undefined ? {} : { maxLineBytes }) })) {
    totals.lines++;
    if (!reading.valid) totals.invalid++;
    for (const problem of reading.problems) {
      if (problem.omitted !== undefined) {
        // The line's count of the problems it did not list: the totals count them all.
        totals.errors += problem.omitted.errors;
        totals.warnings += problem.omitted.warnings;
      } else if (problem.severity === 'error') totals.errors++;
      else totals.warnings++;
      await writeOut(io.stderr, `${formatProblem(problem, `${path}:${reading.lineNumber}`)}\n`, signal);
    }
  }
  if (signal.aborted) return interrupted(io, totals.lines);
  const warned = totals.warnings === 0 ? '' : `, ${plural(totals.warnings, 'warning')}`;
  if (totals.errors === 0) {
    await writeOut(io.stdout, `${path}: ${prefix}${plural(totals.lines, 'line')}, all valid${warned}\n`);
    return 0;
  }
  await writeOut(io.stdout, `${path}: ${prefix}${plural(totals.lines, 'line')}, ${totals.invalid} invalid (${plural(totals.errors, 'error')}${warned})\n`);
  return 1;
}

async function interrupted(io: CommandIo, lines: number): Promise<number> {
  await writeOut(io.stderr, `vmm-metrics validate: interrupted after ${plural(lines, 'line')}\n`);
  return 130;
}

/**
 * The sets whose lines every line of `input` is, oldest first, and the nearest set: the one with
 * the most valid lines, then the fewest errors, then the newest.
 */
async function findReleases(
  input: MetricsInput,
  sets: readonly ReleaseLineSet[],
  context: Context,
): Promise<{ fitting: ReleaseLineSet[]; nearest: ReleaseLineSet; lines: number }> {
  const invalid = new Array<number>(sets.length).fill(0);
  const errors = new Array<number>(sets.length).fill(0);
  let lines = 0;
  /** The reading `readLine` gave last, and whether the line is valid against each set. */
  let last: { readonly reading: MetricsReading; readonly valid: readonly boolean[] } | undefined;
  const readLine = (text: string, lineNumber: number): MetricsReading => {
    const readings = sets.map((set) => readMetricsLine(text, lineNumber, set.schema, { strict: true }));
    readings.forEach((reading, i) => {
      errors[i] = (errors[i] as number) + reading.problems.filter((p) => p.severity === 'error').length;
    });
    last = { reading: readings[0] as MetricsReading, valid: readings.map((r) => r.valid) };
    return last.reading;
  };
  const { signal, maxLineBytes } = context;
  for await (const reading of readMetrics(input, { readLine, signal, ...(maxLineBytes === undefined ? {} : { maxLineBytes }) })) {
    lines++;
    // Each reading comes right after `readLine` made it; any other (a line too long, not UTF-8,
    // or unterminated, which the reader reports itself) is no release's line.
    const seen = last?.reading === reading ? last.valid : undefined;
    last = undefined;
    sets.forEach((_, i) => {
      if (seen?.[i] === true) return;
      invalid[i] = (invalid[i] as number) + 1;
      if (seen === undefined) errors[i] = (errors[i] as number) + 1;
    });
  }
  let nearest = sets.length - 1;
  for (let i = sets.length - 1; i >= 0; i--) {
    const better = (invalid[i] as number) < (invalid[nearest] as number) || ((invalid[i] as number) === (invalid[nearest] as number) && (errors[i] as number) < (errors[nearest] as number));
    if (better) nearest = i;
  }
  const fitting = lines === 0 ? [] : sets.filter((_, i) => invalid[i] === 0);
  return { fitting, nearest: sets[nearest] as ReleaseLineSet, lines };
}

/**
 * A way to read `path` twice: a regular file by its path; a pipe or standard input (`-`) read
 * whole into memory first, up to `AUTO_MAX_BUFFERED_BYTES`.
 */
async function replayable(path: string, context: Context): Promise<() => MetricsInput> {
  if (path !== '-') {
    let regular: boolean;
    try {
      regular = (await stat(path)).isFile();
    } catch (cause) {
      throw new MetricsSourceError(path, { cause });
    }
    if (regular) return () => path;
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  const keep = (chunk: Uint8Array | string): void => {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    bytes += buffer.length;
    if (bytes > AUTO_MAX_BUFFERED_BYTES) {
      const cause = new Error(
        `--firecracker auto holds a pipe or standard input in memory to read it twice, and this one is over ${AUTO_MAX_BUFFERED_BYTES / 1024 / 1024} MiB: save it to a file, or name the release (--firecracker VERSION)`,
      );
      throw new MetricsSourceError(path, { cause });
    }
    chunks.push(Buffer.from(buffer));
  };
  if (path === '-') {
    for await (const chunk of context.io.stdin) {
      keep(chunk);
      if (context.signal.aborted) break;
    }
  } else {
    for await (const item of readPath(path, { signal: context.signal })) if (item.type === 'data') keep(item.bytes);
  }
  return () => Readable.from(chunks);
}
