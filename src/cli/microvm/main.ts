#!/usr/bin/env node
/**
 * `npm start`: a simulated microVM session. A guest of 1 GiB runs a program that allocates and
 * frees memory; the host sets the balloon's target and the guest's driver inflates; statistics
 * arrive every second; a free page hinting run and free page reporting reclaim more; then the
 * balloon deflates. Each VM's whole Firecracker document is flushed once a second to its metrics
 * file, and the terminal shows a live view. Ctrl-C stops it cleanly, with a last line. With
 * `--serve`, the process also serves every VM's metrics to Prometheus (`./serve.ts`).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MicroVm } from './vm.js';
import { FIRST_PHASE, HOST_ACTIONS, workingSet } from './scenario.js';
import { renderFrame } from './view.js';
import { DEFAULT_HOST, DEFAULT_PORT, serveMetrics, type MetricsServer } from './serve.js';

const USAGE = `Usage: npm start -- [--duration-s S] [--metrics-path PATH] [--vms N] [--metrics-dir DIR] [--memory-mib M]
                    [--serve [--port N] [--host H]]

  --duration-s S      how long the session runs (default 30)
  --metrics-path PATH file or named pipe of the VM's metrics lines (default ./metrics.json)
  --vms N             run N VMs in this process, each with its own document and metrics file,
                      metrics-1.json … metrics-N.json (default 1)
  --metrics-dir DIR   where those files go (default the current directory)
  --memory-mib M      guest memory of each VM (default 1024)
  --serve             also serve every VM's metrics to Prometheus: GET /metrics (labelled vm),
                      GET /healthz
  --port N            the port to serve on (default 9464; 0 picks a free one)
  --host H            the address to serve on (default 127.0.0.1: this machine only)`;

const STEP_MS = 100;
const FRAME_MS = 1000;

interface SessionOptions {
  readonly durationS: number;
  readonly paths: readonly string[];
  readonly memoryMib: number;
  /** Where to serve the metrics; undefined without `--serve`. */
  readonly serve: { readonly host: string; readonly port: number } | undefined;
}

function parseOptions(argv: readonly string[]): SessionOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      'duration-s': { type: 'string', default: '30' },
      'metrics-path': { type: 'string' },
      'metrics-dir': { type: 'string' },
      vms: { type: 'string', default: '1' },
      'memory-mib': { type: 'string', default: '1024' },
      serve: { type: 'boolean', default: false },
      port: { type: 'string' },
      host: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const vms = positiveInteger('--vms', values.vms);
  if (vms > 1 && values['metrics-path'] !== undefined) throw new RangeError('--metrics-path names one file: with --vms, use --metrics-dir');
  const dir = values['metrics-dir'];
  const paths =
    vms === 1 && dir === undefined
      ? [values['metrics-path'] ?? './metrics.json']
      : Array.from({ length: vms }, (_, i) => join(dir ?? '.', `metrics-${i + 1}.json`));
  const memoryMib = positiveInteger('--memory-mib', values['memory-mib']);
  if (memoryMib < 16) throw new RangeError(`--memory-mib: a guest needs at least 16 MiB, got ${memoryMib}`);
  if (!values.serve && (values.port !== undefined || values.host !== undefined)) throw new RangeError('--port and --host say where to serve: add --serve');
  const serve = values.serve ? { host: host(values.host ?? DEFAULT_HOST), port: port(values.port ?? String(DEFAULT_PORT)) } : undefined;
  return { durationS: positive('--duration-s', values['duration-s']), paths, memoryMib, serve };
}

function port(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535) throw new RangeError(`--port: expected a port from 0 to 65535, got ${JSON.stringify(text)}`);
  return value;
}

function host(text: string): string {
  if (text.trim() === '') throw new RangeError('--host: expected an address or a host name, got ""');
  return text;
}

function positive(option: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${option}: expected a positive number, got ${JSON.stringify(text)}`);
  return value;
}

function positiveInteger(option: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${option}: expected a positive integer, got ${JSON.stringify(text)}`);
  return value;
}

async function main(): Promise<void> {
  let options: SessionOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  const durationMs = options.durationS * 1000;
  let server: MetricsServer | undefined;
  if (options.serve !== undefined) {
    try {
      server = await serveMetrics(options.serve);
    } catch (error) {
      console.error((error as Error).message);
      process.exit(1);
    }
    // On stderr, so that it stays apart from the view when stdout is piped or redirected.
    process.stderr.write(`Serving the VMs' metrics at ${server.url}\n`);
  }
  let vms: MicroVm[];
  try {
    vms = options.paths.map(
      (path, i) =>
        new MicroVm({
          id: options.paths.length === 1 ? 'vm-1' : `vm-${i + 1}`,
          memoryMib: options.memoryMib,
          metricsPath: path,
          workingSet: (nowMs) => workingSet(nowMs / durationMs),
          seed: i + 1,
        }),
    );
  } catch (error) {
    console.error((error as Error).message);
    await server?.close();
    process.exit(1);
  }
  server?.expose(vms);
  const start = Date.now();
  for (const vm of vms) vm.boot();
  const interactive = process.stdout.isTTY;
  let phase = FIRST_PHASE;
  let nextAction = 0;
  let lastFrame = 0;
  const problems: string[] = [];

  const draw = (elapsedMs: number): void => {
    const frame = renderFrame(
      {
        elapsedS: elapsedMs / 1000,
        durationS: options.durationS,
        phase,
        vms: vms.map((vm) => vm.snapshot()),
        ...(server === undefined ? {} : { url: server.url }),
      },
      interactive ? (process.stdout.columns || 100) : 160,
    );
    process.stdout.write(interactive ? `\x1b[H\x1b[2J${frame.join('\n')}\n` : `${frame.join('\n')}\n\n`);
  };

  const step = (): void => {
    const elapsed = Date.now() - start;
    // One host action a step at most, so that the guests answer each before the next (a short
    // session, or a slow step with many VMs, may find several due at once).
    const action = HOST_ACTIONS[nextAction];
    if (action !== undefined && elapsed >= action.at * durationMs) {
      nextAction++;
      phase = action.phase;
      for (const vm of vms) {
        try {
          if (action.act === 'target') vm.setTarget(Math.floor((action.fraction ?? 0) * vm.memoryMib));
          else if (action.act === 'start-hinting') vm.balloon.startHinting({ acknowledge_on_stop: true });
          else if (action.act === 'stop-hinting') vm.balloon.stopHinting();
        } catch (error) {
          problems.push(`${vm.id}: ${(error as Error).message}`);
        }
      }
    }
    for (const vm of vms) vm.step(elapsed);
    if (elapsed - lastFrame >= FRAME_MS) {
      lastFrame = elapsed;
      for (const vm of vms) {
        const failure = vm.flush();
        if (failure !== undefined) problems.push(failure);
      }
      draw(elapsed);
    }
    if (elapsed >= durationMs) finish('the session is over');
  };

  const timer = setInterval(step, STEP_MS);
  let finished = false;
  const finish = (why: string): void => {
    if (finished) return;
    finished = true;
    clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const vm of vms) {
      const failure = vm.shutdown();
      if (failure !== undefined) problems.push(failure);
    }
    process.stdout.write(`\n${summary(vms, why, (Date.now() - start) / 1000, options.paths).join('\n')}\n`);
    for (const problem of problems.slice(0, 10)) process.stderr.write(`${problem}\n`);
    if (problems.length > 10) process.stderr.write(`… and ${problems.length - 10} more problems\n`);
    // The open socket is all that keeps the process alive now.
    void server?.close();
  };
  const onSignal = (): void => {
    finish('stopped by a signal');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function summary(vms: readonly MicroVm[], why: string, elapsedS: number, paths: readonly string[]): string[] {
  const mib = (bytes: number | bigint): string => `${(Number(bytes) / 1024 / 1024).toFixed(1)} MiB`;
  const lines = [`Summary (${why}, after ${elapsedS.toFixed(1)} s)`];
  vms.forEach((vm, i) => {
    const counts = vm.balloonCounts();
    const released = vm.balloon.releasedBytes();
    const total = released.inflate + released.reporting + released.hinting;
    lines.push(`${vm.id} (metrics in ${paths[i] ?? ''})`);
    lines.push(`  host memory held by the guest: peak ${mib(vm.peakResidentBytes)}, now ${mib(vm.memory.residentBytes())}`);
    lines.push(
      `  host memory reclaimed by the balloon: ${mib(total)} (inflate ${mib(released.inflate)}, ` +
        `free page reporting ${mib(released.reporting)}, free page hinting ${mib(released.hinting)})`,
    );
    lines.push(`  balloon counters: ${[...counts].map(([name, count]) => `${name} ${count.toString()}`).join(', ')}`);
  });
  return lines;
}

await main();
