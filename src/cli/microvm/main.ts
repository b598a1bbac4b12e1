#!/usr/bin/env node
/**
 * `npm start`: a microVM session. By default a simulated guest of 1 GiB runs a program that
 * allocates and frees memory; the host sets the balloon's target and the guest's driver inflates;
 * statistics arrive every second; a free page hinting run and free page reporting reclaim more;
 * then the balloon deflates. With `--guest linux`, Debian's Linux boots in the v86 emulator and
 * its own driver does it (`./linux.ts`, loaded only then). Each VM's whole Firecracker document is
 * flushed once a second to its metrics file, and the terminal shows a live view. Ctrl-C stops it
 * cleanly, with a last line. With `--serve`, the process also serves every VM's metrics to
 * Prometheus (`./serve.ts`).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SimulatedVm } from './simulated-vm.js';
import { LINUX_SCENARIO, SIMULATED_SCENARIO, workingSet } from './scenario.js';
import { frameLegend, renderFrame, type ProcessMemory } from './view.js';
import { serveSession, type SessionAddress, type SessionServer } from './serve.js';
import { DEFAULT_SERVE_HOST, DEFAULT_SERVE_PORT } from '../../export/http/server.js';
import { LINUX_DEFAULT_MEMORY_MIB, LINUX_MEMORY_MIB, readLinuxGuest, type LinuxGuestFiles } from './guest-fixtures.js';
import { KVM_DEFAULT_MEMORY_MIB, KVM_MEMORY_MIB, readKvmGuest, type KvmGuestFiles } from './kvm-guest.js';
import { optionsNpmTook } from './npm-flags.js';
import { mibText, type SessionVm } from './session-vm.js';

const USAGE = `Usage: npm start -- [--guest simulated|linux|kvm] [--duration-s S] [--metrics-path PATH] [--vms N] [--metrics-dir DIR]
                    [--memory-mib M] [--serve [--port N] [--host H]]

  --guest G           who drives the balloon: simulated, a Linux-like driver in this process (the
                      default), or linux, Debian's Linux in the v86 emulator, built once by
                      npm run guest:fetch as root (it boots in 10–25 s; one VM), or kvm,
                      Debian's amd64 Linux in a KVM microVM (vmm-metrics/kvm: /dev/kvm and
                      koffi; one VM, 1024 MiB unless told, the view shows the process's RSS)
  --duration-s S      how long the session runs (default 30; with --guest linux 60, boot included)
  --metrics-path PATH file or named pipe of the VM's metrics lines (default ./metrics.json)
  --vms N             run N VMs in this process, each with its own document and metrics file,
                      metrics-1.json … metrics-N.json (default 1; the simulated guest only)
  --metrics-dir DIR   where those files go (default the current directory)
  --memory-mib M      guest memory of each VM (default 1024; with --guest linux 256, from 128 to 2048)
  --serve             also serve every VM's metrics to Prometheus: GET /metrics (labelled vm),
                      GET /healthz
  --port N            the port to serve on (default ${DEFAULT_SERVE_PORT}; 0 picks a free one)
  --host H            the address to serve on (default ${DEFAULT_SERVE_HOST}: this machine only)`;

const STEP_MS = 100;
const FRAME_MS = 1000;

const GUESTS = ['simulated', 'linux', 'kvm'] as const;
type Guest = (typeof GUESTS)[number];

interface SessionOptions {
  readonly guest: Guest;
  readonly durationS: number;
  readonly paths: readonly string[];
  readonly memoryMib: number;
  /** Where to serve the metrics; undefined without `--serve`. */
  readonly serve: SessionAddress | undefined;
}

const OPTIONS = {
  guest: { type: 'string', default: 'simulated' },
  'duration-s': { type: 'string' },
  'metrics-path': { type: 'string' },
  'metrics-dir': { type: 'string' },
  vms: { type: 'string', default: '1' },
  'memory-mib': { type: 'string' },
  serve: { type: 'boolean', default: false },
  port: { type: 'string' },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseOptions(argv: readonly string[]): SessionOptions {
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const guest = GUESTS.find((name) => name === values.guest);
  if (guest === undefined) throw new RangeError(`--guest: expected simulated, linux or kvm, got ${JSON.stringify(values.guest)}`);
  const vms = positiveInteger('--vms', values.vms);
  if (guest === 'kvm' && vms > 1) throw new RangeError('--vms: --guest kvm runs one VM; run one session per VM');
  if (guest === 'linux' && vms > 1) {
    // Measured: each emulator runs on this process's one thread, so two 256 MiB guests take 30 s to
    // boot where one takes 16 s, and each holds about 400 MiB.
    throw new RangeError('--vms: --guest linux runs one VM: v86 emulates its CPU on this process\'s one thread, so two guests boot in about 30 s instead of 16, and each holds about 400 MiB; run one session per VM');
  }
  if (vms > 1 && values['metrics-path'] !== undefined) throw new RangeError('--metrics-path names one file: with --vms, use --metrics-dir');
  const dir = values['metrics-dir'];
  const paths =
    vms === 1 && dir === undefined
      ? [values['metrics-path'] ?? './metrics.json']
      : Array.from({ length: vms }, (_, i) => join(dir ?? '.', `metrics-${i + 1}.json`));
  const memoryMib = positiveInteger('--memory-mib', values['memory-mib'] ?? String(guest === 'linux' ? LINUX_DEFAULT_MEMORY_MIB : guest === 'kvm' ? KVM_DEFAULT_MEMORY_MIB : 1024));
  if (guest === 'kvm' && (memoryMib < KVM_MEMORY_MIB.min || memoryMib > KVM_MEMORY_MIB.max)) {
    throw new RangeError(`--memory-mib: the KVM guest runs with ${KVM_MEMORY_MIB.min} to ${KVM_MEMORY_MIB.max} MiB, got ${memoryMib}`);
  }
  if (memoryMib < 16) throw new RangeError(`--memory-mib: a guest needs at least 16 MiB, got ${memoryMib}`);
  if (guest === 'linux' && (memoryMib < LINUX_MEMORY_MIB.min || memoryMib > LINUX_MEMORY_MIB.max)) {
    throw new RangeError(`--memory-mib: the Linux guest runs with ${LINUX_MEMORY_MIB.min} to ${LINUX_MEMORY_MIB.max} MiB, got ${memoryMib}`);
  }
  if (!values.serve && (values.port !== undefined || values.host !== undefined)) throw new RangeError('--port and --host say where to serve: add --serve');
  const serve = values.serve ? { host: host(values.host ?? DEFAULT_SERVE_HOST), port: port(values.port ?? String(DEFAULT_SERVE_PORT)) } : undefined;
  // A Linux guest spends 10–25 s booting before the host's story starts.
  const durationS = positive('--duration-s', values['duration-s'] ?? (guest === 'linux' ? '60' : '30'));
  return { guest, durationS, paths, memoryMib, serve };
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
  const argv = process.argv.slice(2);
  // Before anything runs: a session without the options meant is a session wasted.
  const eaten = optionsNpmTook(process.env, argv, OPTIONS);
  if (eaten !== undefined) {
    console.error(eaten);
    process.exit(2);
  }
  let options: SessionOptions;
  try {
    options = parseOptions(argv);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  const durationMs = options.durationS * 1000;
  // The guest first: without it, nothing else is worth starting.
  let linuxGuest: LinuxGuestFiles | undefined;
  let kvmGuest: KvmGuestFiles | undefined;
  if (options.guest === 'kvm') {
    try {
      kvmGuest = readKvmGuest();
    } catch (error) {
      console.error((error as Error).message);
      process.exit(1);
    }
  }
  if (options.guest === 'linux') {
    try {
      linuxGuest = readLinuxGuest();
    } catch (error) {
      console.error((error as Error).message);
      process.exit(1);
    }
  }
  let server: SessionServer | undefined;
  if (options.serve !== undefined) {
    try {
      server = await serveSession(options.serve);
    } catch (error) {
      console.error((error as Error).message);
      process.exit(1);
    }
    // On stderr, so that it stays apart from the view when stdout is piped or redirected.
    process.stderr.write(`Serving the VMs' metrics at ${server.url}\n`);
  }
  const problems: string[] = [];
  let vms: SessionVm[];
  try {
    vms =
      kvmGuest !== undefined
        ? [await kvmVm(kvmGuest, options, (problem) => problems.push(problem))]
        : linuxGuest === undefined
        ? await Promise.all(
            options.paths.map((path, i) =>
              SimulatedVm.create({
                id: options.paths.length === 1 ? 'vm-1' : `vm-${i + 1}`,
                memoryMib: options.memoryMib,
                metricsPath: path,
                workingSet: (nowMs) => workingSet(nowMs / durationMs),
                seed: i + 1,
              }),
            ),
          )
        : [await linuxVm(linuxGuest, options, (problem) => problems.push(problem))];
  } catch (error) {
    console.error((error as Error).message);
    await server?.close();
    process.exit(1);
  }
  server?.expose(vms);
  const scenario = options.guest === 'simulated' ? SIMULATED_SCENARIO : LINUX_SCENARIO;
  const interactive = process.stdout.isTTY;
  let phase = scenario.bootPhase;
  let nextAction = 0;
  let lastFrame = 0;
  /** When every guest's driver had the balloon, in ms since the start: the host's story starts then. */
  let scenarioStart: number | undefined;

  let legendSaid = false;
  const draw = (elapsedMs: number): void => {
    const snapshots = vms.map((vm) => vm.snapshot());
    // Redrawn, the words' meanings stay on screen; appended to a log, they are said once.
    const legend = interactive || !legendSaid;
    if (legend && frameLegend(snapshots).length > 0) legendSaid = true;
    const frame = renderFrame(
      {
        elapsedS: elapsedMs / 1000,
        durationS: options.durationS,
        phase,
        vms: snapshots,
        process: processMemory(),
        ...(server === undefined ? {} : { url: server.url }),
        legend,
      },
      interactive ? (process.stdout.columns || 100) : 160,
    );
    process.stdout.write(interactive ? `\x1b[H\x1b[2J${frame.join('\n')}\n` : `${frame.join('\n')}\n\n`);
  };

  const step = (): void => {
    const elapsed = Date.now() - start;
    if (scenarioStart === undefined && vms.every((vm) => vm.ready)) {
      scenarioStart = elapsed;
      phase = scenario.firstPhase;
    }
    // One host action a step at most, so that the guests answer each before the next (a short
    // session, or a slow step with many VMs, may find several due at once). Actions are
    // fractions of the time the session has left once the guests are up.
    const action = scenario.actions[nextAction];
    if (action !== undefined && scenarioStart !== undefined && elapsed - scenarioStart >= action.at * (durationMs - scenarioStart)) {
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
    if (elapsed >= durationMs) void finish('the session is over');
  };

  let timer: NodeJS.Timeout | undefined;
  // An object, not a variable: a signal may set it while a guest boots, out of the compiler's sight.
  const session = { finished: false };
  const finish = async (why: string): Promise<void> => {
    if (session.finished) return;
    session.finished = true;
    clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Before the VMs let go of their memory: the summary tells of the session, not of its end.
    const memoryAtEnd = processMemory();
    for (const vm of vms) {
      try {
        const failure = await vm.shutdown();
        if (failure !== undefined) problems.push(failure);
      } catch (error) {
        problems.push(`${vm.id}: ${(error as Error).message}`);
      }
    }
    process.stdout.write(`\n${summary(vms, why, (Date.now() - start) / 1000, options.paths, memoryAtEnd).join('\n')}\n`);
    for (const problem of problems.slice(0, 10)) process.stderr.write(`${problem}\n`);
    if (problems.length > 10) process.stderr.write(`… and ${problems.length - 10} more problems\n`);
    // The open socket is all that keeps the process alive now.
    await server?.close();
  };
  // A shell reads 128 + the signal's number as "ended by that signal" (130 for Ctrl-C): the
  // session ends so, after its last line and summary, rather than by the signal itself.
  const onSignal = (signal: NodeJS.Signals): void => {
    process.exitCode = 128 + (signal === 'SIGINT' ? 2 : 15);
    void finish(`stopped by ${signal}`);
  };
  const start = Date.now();
  // Before the guests start: a signal during a Linux guest's boot still stops its emulator.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  for (const vm of vms) await vm.boot();
  // The simulated guests are up at once: their story is timed from the start, with their program's.
  if (vms.every((vm) => vm.ready)) scenarioStart = 0;
  if (!session.finished) timer = setInterval(step, STEP_MS);
}

/** The Linux guest's VM: its module, and v86 with it, loaded only now. */
async function linuxVm(guest: LinuxGuestFiles, options: SessionOptions, problem: (text: string) => void): Promise<SessionVm> {
  const { LinuxVm } = await import('./linux.js');
  return LinuxVm.create({ id: 'vm-1', memoryMib: options.memoryMib, metricsPath: options.paths[0] ?? './metrics.json', guest, problem });
}

/** The KVM guest's VM: its module, and vmm-metrics/kvm (and koffi) with it, loaded only now. */
async function kvmVm(guest: KvmGuestFiles, options: SessionOptions, problem: (text: string) => void): Promise<SessionVm> {
  const { KvmSessionVm } = await import('./kvm.js');
  return KvmSessionVm.create({ id: 'vm-1', memoryMib: options.memoryMib, metricsPath: options.paths[0] ?? './metrics.json', guest, problem });
}

function summary(vms: readonly SessionVm[], why: string, elapsedS: number, paths: readonly string[], { rssBytes, peakRssBytes }: ProcessMemory): string[] {
  return [
    `Summary (${why}, after ${elapsedS.toFixed(1)} s)`,
    `host  this process's RSS ${mibText(rssBytes)} at the end, peak ${mibText(peakRssBytes)}, as the OS counts it`,
    ...vms.flatMap((vm, i) => vm.summary(paths[i] ?? '')),
  ];
}

/** This process's resident memory now and at its peak, as the kernel counts them (VmRSS and VmHWM on Linux). */
function processMemory(): ProcessMemory {
  return { rssBytes: process.memoryUsage.rss(), peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

await main();
