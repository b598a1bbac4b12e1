/**
 * The `vmm-metrics` command line: dispatches to the commands and maps failures to exit statuses
 * (1: invalid lines, 2: usage errors and unreadable paths).
 */
import { MetricsSourceError } from '../reader/source.js';
import { UsageError } from './errors.js';
import type { CommandIo } from './io.js';
import { MAIN_USAGE, SERVE_USAGE, TAIL_USAGE, VALIDATE_USAGE } from './usage.js';

const COMMAND_USAGE: Readonly<Record<string, string>> = { validate: VALIDATE_USAGE, tail: TAIL_USAGE, serve: SERVE_USAGE };

/** Runs the command line `args` (without `node` and the script); resolves to the exit status. */
export async function runCli(args: readonly string[], io: CommandIo, signal: AbortSignal): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case undefined:
        io.stderr.write(MAIN_USAGE);
        return 2;
      case '-h':
      case '--help':
        io.stdout.write(MAIN_USAGE);
        return 0;
      case '-V':
      case '--version':
        io.stdout.write(`vmm-metrics ${(await import('./version.js')).packageVersion()}\n`);
        return 0;
      case 'help': {
        const topic = rest[0];
        if (topic === undefined) {
          io.stdout.write(MAIN_USAGE);
          return 0;
        }
        const usage = Object.hasOwn(COMMAND_USAGE, topic) ? COMMAND_USAGE[topic] : undefined;
        if (usage === undefined) throw new UsageError(`no command named ${JSON.stringify(topic)}`);
        io.stdout.write(usage);
        return 0;
      }
      // Loaded on demand: help and usage errors need not load the metrics document.
      case 'validate':
        return await (await import('./validate.js')).validateCommand(rest, io, signal);
      case 'tail':
        return await (await import('./tail.js')).tailCommand(rest, io, signal);
      case 'serve':
        return await (await import('./serve.js')).serveCommand(rest, io, signal);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      const name = command !== undefined && Object.hasOwn(COMMAND_USAGE, command) ? ` ${command}` : '';
      io.stderr.write(`vmm-metrics${name}: ${error.message}\nTry 'vmm-metrics${name} --help'.\n`);
      return 2;
    }
    if (error instanceof MetricsSourceError) {
      io.stderr.write(`vmm-metrics${command === undefined ? '' : ` ${command}`}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
