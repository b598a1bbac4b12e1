/**
 * Command-line parsing shared by the commands (`node:util` parseArgs, strict).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
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

/** The one PATH positional of a command. */
export function onePath(positionals: readonly string[]): string {
  if (positionals.length === 0) throw new UsageError('missing PATH');
  if (positionals.length > 1) throw new UsageError(`expected one PATH, got ${positionals.length}: ${positionals.join(' ')}`);
  return positionals[0] as string;
}
