/**
 * A fleet on one host (issue 8): `vmm-metrics serve --metrics-dir` as a real child process,
 * following one named pipe per VM, each VM writing the whole Firecracker document (2 drives, 1
 * interface) once a second, spread evenly over the second.
 *
 * Measured:
 * - the server's CPU share over a window (utime + stime from /proc/PID/stat ÷ wall time;
 *   goal ≤ 0.25 of one core at 1,000 VMs), and its CPU time per line ÷ `JSON.parse` of the same
 *   line in this process (how far ingesting is from the cheapest possible read);
 * - the time of a scrape of all of them (`GET /metrics`, the whole body received as bytes; goal
 *   < 1 s), while the VMs go on writing,
 *   and its ratio to prom-client's `registry.metrics()` rendering as many gauge samples with the
 *   same names and labels (without HTTP).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gauge, Registry } from 'prom-client';
import { FirecrackerMetrics } from '../src/document/firecracker-metrics.js';
import { prometheusFamilies } from '../src/export/names.js';
import { Metrics } from '../src/metrics/writer.js';
import { median } from './ratio.js';

export const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

export interface FleetResult {
  readonly vms: number;
  readonly windowSeconds: number;
  readonly linesPerSecond: number;
  /** CPU seconds of the server per wall second. */
  readonly cpuShare: number;
  readonly cpuShareGoal: number;
  /** CPU time per line ÷ JSON.parse of one line. */
  readonly perLineRatio: number;
  readonly perLineUs: number;
  readonly jsonParseUs: number;
  readonly lineBytes: number;
  readonly scrapeSeconds: number;
  readonly scrapeGoalSeconds: number;
  /** The server's own time to render the exposition (median), out of `scrapeSeconds`. */
  readonly renderSeconds: number;
  readonly samples: number;
  readonly promClientSeconds: number;
  /** Scrape ÷ prom-client rendering as many samples. */
  readonly scrapeRatio: number;
}

export interface Vm {
  readonly document: FirecrackerMetrics;
  readonly metrics: Metrics<FirecrackerMetrics>;
  readonly work: () => void;
}

/** The CPU time (user + system) of a process so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of the file (utime, stime); the slice starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** A VM writing the whole document (2 drives, 1 interface) to `path`, a line per `work()` and `metrics.write()`. */
export function startVm(path: string, id: string): Vm {
  const document = new FirecrackerMetrics();
  const drives = [document.block.alloc('rootfs'), document.block.alloc('scratch')];
  const eth0 = document.net.alloc('eth0');
  const metrics = new Metrics(document);
  metrics.init(path, { flushIntervalMs: 0, id, onError: () => undefined });
  let round = 0;
  return {
    document,
    metrics,
    work: () => {
      round++;
      for (const drive of drives) {
        drive.read_count.add(round % 7);
        drive.read_bytes.add((round % 7) * 4096);
        drive.read_agg.recordUs(40 + (round % 50));
      }
      eth0.rx_packets_count.add(round % 5);
      eth0.rx_bytes_count.add((round % 5) * 1500);
      document.balloon.inflate_count.add(round % 3);
      document.vcpu.exit_io_in_agg.recordUs(3 + (round % 4));
    },
  };
}

export async function untilTrue(condition: () => Promise<boolean> | boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`fleet bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `JSON.parse` of `line`: seconds a parse, the median of 7 runs of 2,000. */
export function jsonParseSeconds(line: string): number {
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 2000; i++) JSON.parse(line);
    runs.push(Number(process.hrtime.bigint() - start) / 1e9 / 2000);
  }
  return median(runs);
}

/** prom-client rendering the same families with as many samples, labels and all. */
async function promClientSeconds(text: string): Promise<number> {
  const registry = new Registry();
  const gauges = new Map<string, Gauge>();
  let help = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ')) help = line.slice(line.indexOf(' ', 7) + 1);
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const name = line.slice(0, brace < 0 ? line.indexOf(' ') : brace);
    const labels: Record<string, string> = {};
    if (brace >= 0) {
      for (const match of line.slice(brace + 1, line.lastIndexOf('}')).matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[match[1] as string] = match[2] as string;
    }
    let gauge = gauges.get(name);
    if (gauge === undefined) {
      gauge = new Gauge({ name, help, labelNames: Object.keys(labels), registers: [registry] });
      gauges.set(name, gauge);
    }
    gauge.set(labels, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const start = process.hrtime.bigint();
    await registry.metrics();
    runs.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return median(runs);
}

/** Scrapes `url` `count` times from a child process; the last body, and the server's own render times. */
async function scrapeFromChild(url: string, count: number): Promise<{ times: number[]; body: string; renderSeconds: number[] }> {
  const script = `
    const times = [];
    let body = '';
    const renders = [];
    for (let i = 0; i < ${count}; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const start = process.hrtime.bigint();
      const bytes = await (await fetch(${JSON.stringify(`${url}/metrics`)})).arrayBuffer();
      times.push(Number(process.hrtime.bigint() - start) / 1e9);
      body = Buffer.from(bytes).toString('utf8');
      renders.push(Number(/^vmm_metrics_serve_previous_scrape_duration_seconds (\\S+)$/m.exec(body)?.[1]));
    }
    process.stdout.write(JSON.stringify({ times, renders }) + '\\n', () => process.stdout.write(body));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  await new Promise((resolve) => child.once('exit', resolve));
  const newline = output.indexOf('\n');
  const { times, renders } = JSON.parse(output.slice(0, newline)) as { times: number[]; renders: number[] };
  // Each body reports the render before it: the last render's time is not in any body.
  return { times, body: output.slice(newline + 1), renderSeconds: renders.slice(1) };
}

/** `serve` as a child process following `vms` named pipes made for it in a new folder (`vm-0001.fifo`, …). */
export interface ServedPipes {
  readonly dir: string;
  readonly paths: readonly string[];
  readonly serve: ChildProcess;
  /** What serve has printed on stderr so far. */
  readonly stderr: () => string;
}

export function serveNewPipes(prefix: string, vms: number): ServedPipes {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const paths = Array.from({ length: vms }, (_, i) => join(dir, `vm-${String(i + 1).padStart(4, '0')}.fifo`));
  for (let i = 0; i < paths.length; i += 200) execFileSync('mkfifo', paths.slice(i, i + 200));
  const serve = spawn(process.execPath, [CLI, 'serve', '--metrics-dir', dir, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  serve.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return { dir, paths, serve, stderr: () => stderr };
}

/** Waits until serve listens and follows every one of its pipes; returns its URL (`http://host:port`). */
export async function untilServing(served: ServedPipes, followingTimeoutMs = 30_000): Promise<string> {
  const vms = served.paths.length;
  await untilTrue(() => /serving (http:\S+)\/metrics/.test(served.stderr()), 'the server to listen', 20_000);
  const url = (/serving (http:\S+)\/metrics/.exec(served.stderr()) as RegExpExecArray)[1] as string;
  await untilTrue(async () => (await (await fetch(`${url}/healthz`)).text()).includes(`following ${String(vms)} sources`), `${String(vms)} sources`, followingTimeoutMs);
  return url;
}

export async function fleetFigures(vms = 1000, windowSeconds = 20): Promise<FleetResult> {
  const served = serveNewPipes('vmm-metrics-fleet-', vms);
  const { dir, paths, serve } = served;
  const fleet: Vm[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const url = await untilServing(served);
    paths.forEach((path, i) => fleet.push(startVm(path, `vm-${i + 1}`)));

    // Every VM once a second, spread evenly: each tick writes the lines that are due by now, so
    // a late timer catches up instead of lowering the rate.
    let lines = 0;
    const began = Date.now();
    timer = setInterval(() => {
      const due = Math.floor(((Date.now() - began) * vms) / 1000);
      for (; lines < due; lines++) {
        const vm = fleet[lines % vms] as Vm;
        vm.work();
        vm.metrics.write();
      }
    }, 5);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const cpu0 = cpuSeconds(serve.pid as number);
    const lines0 = lines;
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => setTimeout(resolve, windowSeconds * 1000));
    const cpu1 = cpuSeconds(serve.pid as number);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const windowLines = lines - lines0;

    // The scraper is a process of its own, as Prometheus is: this one is busy being 1,000 VMs.
    const { times, body, renderSeconds } = await scrapeFromChild(url, 5);
    clearInterval(timer);
    timer = undefined;
    const samples = body.split('\n').filter((l) => l.startsWith('firecracker_')).length;
    const expected = vms * prometheusFamilies(new FirecrackerMetrics().entries).length;
    if (samples < expected * 0.9) throw new Error(`fleet bench: a scrape had ${samples} VM samples, expected about ${expected} or more`);

    const sample = (fleet[0] as Vm).metrics.render().trimEnd();
    const jsonParse = jsonParseSeconds(sample);
    const perLine = (cpu1 - cpu0) / windowLines;
    const scrapeSeconds = median(times);
    const promClient = await promClientSeconds(body);
    return {
      vms,
      windowSeconds: wall,
      linesPerSecond: windowLines / wall,
      cpuShare: (cpu1 - cpu0) / wall,
      cpuShareGoal: 0.25,
      perLineRatio: perLine / jsonParse,
      perLineUs: perLine * 1e6,
      jsonParseUs: jsonParse * 1e6,
      lineBytes: Buffer.byteLength(sample),
      scrapeSeconds,
      scrapeGoalSeconds: 1,
      renderSeconds: median(renderSeconds),
      samples,
      promClientSeconds: promClient,
      scrapeRatio: scrapeSeconds / promClient,
    };
  } finally {
    if (timer !== undefined) clearInterval(timer);
    for (const vm of fleet) vm.metrics.close();
    serve.kill('SIGTERM');
    await new Promise((resolve) => serve.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}
