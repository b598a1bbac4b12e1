/**
 * Command-line parsing shared by the commands (`node:util` parseArgs, strict).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MAX_LINE_BYTES_LIMIT } from '../reader/lines.js';
import { UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

interface CommandConfig<O extends Options> {
  args: string[];
  options: O;
  allowPositionals: true;
  strict: true;
}

export type ParsedCommandArgs<O extends Options> = ReturnType<typeof parseArgs<CommandConfig<O>>>;

/** Parses `args`; a parse failure becomes a `UsageError`. */
export function parseCommandArgs<const O extends Options>(args: readonly string[], options: O): ParsedCommandArgs<O> {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The PATH positionals of a command: one at least, standard input (`-`) once, no path twice (a
 * file read twice would be counted twice).
 */
export function somePaths(positionals: readonly string[]): readonly string[] {
  if (positionals.length === 0) throw new UsageError('missing PATH');
  if (positionals.filter((path) => path === '-').length > 1) throw new UsageError('standard input (-) can be read once');
  const duplicate = positionals.find((path, i) => positionals.indexOf(path) !== i);
  if (duplicate !== undefined) throw new UsageError(`${duplicate} is named twice`);
  return positionals;
}

/** For `parseArgs`: the line limit both commands take. */
export const MAX_LINE_BYTES_ARG_OPTIONS = { 'max-line-bytes': { type: 'string' } } as const;

/**
 * `--max-line-bytes N`: undefined when not given (the reader's default), else a whole number of
 * bytes from 1 to the longest string V8 can hold, or a UsageError that says so.
 */
export function maxLineBytesFromArgs(values: { readonly 'max-line-bytes'?: string | undefined }): number | undefined {
  const text = values['max-line-bytes'];
  if (text === undefined) return undefined;
  const value = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_LINE_BYTES_LIMIT) {
    throw new UsageError(`--max-line-bytes: expected a whole number of bytes from 1 to ${MAX_LINE_BYTES_LIMIT}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** `--poll-ms N`: undefined when not given, else milliseconds from 1 to 60000, or a UsageError. */
export function pollMsFromArgs(values: { readonly 'poll-ms'?: string | undefined }): number | undefined {
  const text = values['poll-ms'];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1 || value > 60_000) {
    throw new UsageError(`--poll-ms: expected milliseconds from 1 to 60000, got ${JSON.stringify(text)}`);
  }
  return value;
}
