/**
 * `vmm-metrics validate PATH...`: checks every line of each; problems on stderr, a summary a path
 * on stdout.
 */
import { readMetrics, type MetricsInput } from '../reader/read.js';
import { formatProblem } from '../reader/problems.js';
import { MetricsSourceError } from '../reader/source.js';
import type { MetricsSchema } from '../reader/schema.js';
import { MAX_LINE_BYTES_ARG_OPTIONS, maxLineBytesFromArgs, parseCommandArgs, somePaths } from './args.js';
import { SCHEMA_ARG_OPTIONS, schemaFromArgs } from './schema-option.js';
import { VALIDATE_USAGE } from './usage.js';
import { writeOut, type CommandIo } from './io.js';
import { plural } from '../reader/plural.js';

/** What one path's check came to: the exit status it alone would have. */
type Outcome = 0 | 1 | 2 | 130;

interface Check {
  readonly schema: MetricsSchema;
  readonly strict: boolean;
  readonly maxLineBytes: number | undefined;
}

/**
 * Resolves to 0 (every line of every path valid), 1 (some error), 2 (some path unreadable), or
 * 130 (stopped by `signal`). An unreadable path does not stop the others from being checked.
 */
export async function validateCommand(args: readonly string[], io: CommandIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    ...SCHEMA_ARG_OPTIONS,
    ...MAX_LINE_BYTES_ARG_OPTIONS,
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.stdout.write(VALIDATE_USAGE);
    return 0;
  }
  const paths = somePaths(positionals);
  const check: Check = { maxLineBytes: maxLineBytesFromArgs(values), schema: await schemaFromArgs(values), strict: values.strict === true };
  let status: Outcome = 0;
  for (const path of paths) {
    const outcome = await validatePath(path, check, io, signal);
    if (outcome === 130) return 130;
    status = Math.max(status, outcome) as Outcome;
  }
  return status;
}

async function validatePath(path: string, { schema, strict, maxLineBytes }: Check, io: CommandIo, signal: AbortSignal): Promise<Outcome> {
  const input: MetricsInput = path === '-' ? io.stdin : path;
  let lines = 0;
  let invalid = 0;
  let errors = 0;
  let warnings = 0;
  try {
    for await (const reading of readMetrics(input, { schema, strict, signal, ...(maxLineBytes === undefined ? {} : { maxLineBytes }) })) {
      lines++;
      if (!reading.valid) invalid++;
      for (const problem of reading.problems) {
        if (problem.omitted !== undefined) {
          // The line's count of the problems it did not list: the totals count them all.
          errors += problem.omitted.errors;
          warnings += problem.omitted.warnings;
        } else if (problem.severity === 'error') errors++;
        else warnings++;
        await writeOut(io.stderr, `${formatProblem(problem, `${path}:${reading.lineNumber}`)}\n`, signal);
      }
    }
  } catch (error) {
    if (error instanceof MetricsSourceError) {
      await writeOut(io.stderr, `vmm-metrics validate: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (signal.aborted) {
    await writeOut(io.stderr, `vmm-metrics validate: ${path}: interrupted after ${plural(lines, 'line')}\n`);
    return 130;
  }
  const warned = warnings === 0 ? '' : `, ${plural(warnings, 'warning')}`;
  if (errors === 0) {
    await writeOut(io.stdout, `${path}: ${plural(lines, 'line')}, all valid${warned}\n`);
    return 0;
  }
  await writeOut(io.stdout, `${path}: ${plural(lines, 'line')}, ${invalid} invalid (${plural(errors, 'error')}${warned})\n`);
  return 1;
}
