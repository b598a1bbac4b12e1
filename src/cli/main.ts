#!/usr/bin/env node
/**
 * The `vmm-metrics` executable. Ctrl-C (SIGINT) and SIGTERM stop a running command cleanly;
 * the process then exits with the command's status (0 for `tail`).
 */
import { runCli } from './run.js';

const stop = new AbortController();
const onSignal = (): void => {
  stop.abort();
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

try {
  process.exitCode = await runCli(process.argv.slice(2), process, stop.signal);
} catch (error) {
  process.stderr.write(`vmm-metrics: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 70;
} finally {
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
