/**
 * `vmm-metrics serve`: follows metrics files and named pipes (Firecracker's or this library's)
 * and serves their totals to Prometheus until Ctrl-C or SIGTERM.
 */
import { MetricsFleet } from '../export/serve/fleet.js';
import { DEFAULT_SERVE_HOST, DEFAULT_SERVE_PORT } from '../export/http/server.js';
import { parseGlob } from '../export/serve/glob.js';
import { serveFleet } from '../export/serve/server.js';
import { MAX_LINE_BYTES_ARG_OPTIONS, maxLineBytesFromArgs, parseCommandArgs, pollMsFromArgs } from './args.js';
import { UsageError } from './errors.js';
import { writeOut, type CommandIo } from './io.js';
import { documentSchemaFromArgs, requiredFromArgs, SCHEMA_ARG_OPTIONS } from './schema-option.js';
import { SERVE_USAGE } from './usage.js';
import { plural } from '../reader/plural.js';

/** Resolves to 0 once stopped by `signal`, or 2 when the address cannot be had. */
export async function serveCommand(args: readonly string[], io: CommandIo, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    ...SCHEMA_ARG_OPTIONS,
    ...MAX_LINE_BYTES_ARG_OPTIONS,
    'metrics-path': { type: 'string', multiple: true },
    'metrics-dir': { type: 'string', multiple: true },
    'metrics-glob': { type: 'string', multiple: true },
    port: { type: 'string' },
    host: { type: 'string' },
    prefix: { type: 'string' },
    'poll-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.stdout.write(SERVE_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}: name sources with --metrics-path, --metrics-dir or --metrics-glob`);
  const paths = values['metrics-path'] ?? [];
  const dirs = values['metrics-dir'] ?? [];
  const globs = values['metrics-glob'] ?? [];
  if (paths.length + dirs.length + globs.length === 0) throw new UsageError('nothing to serve: give --metrics-path PATH, --metrics-dir DIR or --metrics-glob PATTERN (each repeatable)');
  for (const pattern of globs) {
    try {
      parseGlob(pattern);
    } catch (error) {
      throw new UsageError(`--metrics-glob ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const port = portFromArgs(values.port);
  const host = values.host ?? DEFAULT_SERVE_HOST;
  const pollIntervalMs = pollMsFromArgs(values);
  const maxLineBytes = maxLineBytesFromArgs(values);
  // Lines of every Firecracker release, unless a document of one's own says what lines are.
  const schema = await documentSchemaFromArgs(values);
  let fleet: MetricsFleet;
  try {
    fleet = new MetricsFleet({
      ...(schema === undefined ? { require: requiredFromArgs(values) } : { schema }),
      strict: values.strict === true,
      log: (message) => {
        void writeOut(io.stderr, `vmm-metrics serve: ${message}\n`);
      },
      ...(values.prefix === undefined ? {} : { prefix: values.prefix }),
      ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
      ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  for (const path of paths) fleet.follow(path);
  for (const dir of dirs) fleet.followDirectory(dir);
  for (const pattern of globs) fleet.followGlob(pattern);
  try {
    const server = await serveFleet(fleet, { host, port }).catch(async (error: unknown) => {
      await writeOut(io.stderr, `vmm-metrics serve: cannot listen on ${host}:${String(port)}: ${error instanceof Error ? error.message : String(error)}\n`);
      return undefined;
    });
    if (server === undefined) return 2;
    const what = [paths.length > 0 ? plural(paths.length, 'path') : '', dirs.length > 0 ? plural(dirs.length, 'directory', 'directories') : '', globs.length > 0 ? plural(globs.length, 'glob') : ''].filter((w) => w !== '');
    await writeOut(io.stderr, `vmm-metrics serve: serving ${server.url}/metrics for ${what.join(' and ')} (Ctrl-C to stop)\n`);
    if (!signal.aborted) {
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          resolve();
        });
      });
    }
    await server.close();
    return 0;
  } finally {
    await fleet.close();
  }
}

function portFromArgs(text: string | undefined): number {
  if (text === undefined) return DEFAULT_SERVE_PORT;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65_535) throw new UsageError(`--port: expected a port from 0 to 65535, got ${JSON.stringify(text)}`);
  return value;
}
