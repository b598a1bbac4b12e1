#!/usr/bin/env node
/**
 * `npm start`: a scripted balloon workload increments the balloon metrics while the global
 * writer appends a Firecracker-format line to a metrics file at a fixed interval, and each line
 * is printed as it lands in the file. The process start-up times go into `api_server` first.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { METRICS as BALLOON } from '../devices/virtio/balloon/metrics.js';
import { ProcessTimeReporter, processStartTimeUs } from '../logger/process-time.js';
import { METRICS } from '../document/global-metrics.js';

const USAGE = `Usage: npm start -- [--metrics-path PATH] [--interval-ms MS] [--duration-s S]

  --metrics-path PATH  file or named pipe the lines are appended to (default ./metrics.json)
  --interval-ms MS     time between two lines (default 1000)
  --duration-s S       how long the demo runs (default 10)`;

/** 4 KiB pages, the unit the virtio balloon moves memory in. */
const PAGE_BYTES = 4096;

interface DemoOptions {
  readonly metricsPath: string;
  readonly intervalMs: number;
  readonly durationS: number;
}

function parseOptions(argv: readonly string[]): DemoOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      'metrics-path': { type: 'string', default: './metrics.json' },
      'interval-ms': { type: 'string', default: '1000' },
      'duration-s': { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    metricsPath: values['metrics-path'],
    intervalMs: positive('--interval-ms', values['interval-ms']),
    durationS: positive('--duration-s', values['duration-s']),
  };
}

function positive(option: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${option}: expected a positive number, got ${JSON.stringify(text)}`);
  return value;
}

/** One tick of a guest that inflates and deflates its balloon and reports statistics. */
function guestActivity(tick: number): void {
  const inflatedPages = 1 + (tick % 7);
  BALLOON.inflate_count.add(inflatedPages);
  if (tick % 3 === 0) BALLOON.deflate_count.add(inflatedPages - 1);
  if (tick % 2 === 0) BALLOON.stats_updates_count.inc();
  if (tick % 5 === 0) {
    BALLOON.free_page_report_count.add(4);
    BALLOON.free_page_report_freed.add(4 * 512 * PAGE_BYTES);
  }
  if (tick % 11 === 10) BALLOON.stats_update_fails.inc();
}

function skipToEnd(fd: number): void {
  const buffer = Buffer.alloc(1 << 16);
  while (readSync(fd, buffer) > 0);
}

/** Prints what the writer appended to the file since the last call. */
function printNewLines(fd: number): void {
  const buffer = Buffer.alloc(1 << 16);
  for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) process.stdout.write(buffer.subarray(0, n));
}

function main(): void {
  let options: DemoOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  try {
    METRICS.init(options.metricsPath, { flushIntervalMs: 0, flushOnExit: false });
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
  // Start-up as Firecracker reports it: from process start to the first line, wall and CPU time.
  const startup = new ProcessTimeReporter({ startTimeUs: processStartTimeUs(), startTimeCpuUs: 0 });
  startup.reportStartTime();
  startup.reportCpuStartTime();
  // A pipe's lines belong to its reader; a file's new lines are read back and printed.
  const reader = statSync(options.metricsPath).isFIFO() ? undefined : openSync(options.metricsPath, 'r');
  if (reader !== undefined) skipToEnd(reader);
  const lines = Math.max(1, Math.round((options.durationS * 1000) / options.intervalMs));
  console.error(`vmm-metrics demo: ${lines} line${lines === 1 ? '' : 's'}, one every ${options.intervalMs} ms, into ${options.metricsPath}`);

  let tick = 0;
  const workload = setInterval(() => {
    guestActivity(tick++);
  }, Math.max(1, options.intervalMs / 10));
  let written = 0;
  const flusher = setInterval(() => {
    try {
      METRICS.write();
    } catch (error) {
      console.error((error as Error).message);
    }
    if (reader !== undefined) printNewLines(reader);
    if (++written < lines) return;
    clearInterval(workload);
    clearInterval(flusher);
    METRICS.close();
    if (reader !== undefined) closeSync(reader);
  }, options.intervalMs);
}

main();
