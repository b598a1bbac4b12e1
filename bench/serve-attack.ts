/**
 * `npm run bench:attack`: issue 16 §1's figure, `vmm-metrics serve` against clients that do not
 * read. Not a test: it measures and prints, and never fails on a missed goal.
 *
 *   npm run bench:attack                            1,000 VMs, each attack for 60 s
 *   node build/bench/serve-attack.js --vms=100 --seconds=10
 *
 * `serve` runs as a child process following 1,000 named pipes, each fed the whole document (2
 * drives, 1 interface) once a second from this process, as in `fleet.bench.ts`. A well-behaved
 * scraper, a process of its own as Prometheus is, scrapes `/metrics` every second (the whole body
 * read) and asks `/healthz` every 250 ms, each with a 10 s timeout, throughout. Then, one after
 * the other, for `--seconds` each (the connections serve closes are opened again at once):
 *
 * - pipelined: 4 connections, each 2,000 `GET /metrics` in one write (68 KB), never read;
 * - non-reading: 200 connections, each one `GET /metrics`, never read;
 * - slowloris: 2,000 connections, each half a request, the rest never sent.
 *
 * Measured: serve's RSS (`/proc/PID/status` VmRSS, every 100 ms): idle (the median over 10 s
 * with the scraper alone, after 10 s to settle) and the peak under each attack, against the goal
 * 2 × (idle RSS + one exposition); serve's CPU share of one core (`/proc/PID/stat`); the
 * scraper's scrapes (all answered 200? the slowest) against 2 s; the slowest `/healthz` against
 * 1 s. A process serve's RSS passes 4 GiB in is stopped (`--max-rss-mib`), so that the bench of
 * a server without these bounds ends too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpuSeconds, serveNewPipes, startVm, untilServing, type Vm } from './fleet.bench.js';
import { median } from './ratio.js';

const GET_METRICS = 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n';

interface Attack {
  readonly name: string;
  readonly connections: number;
  readonly request: string;
  /**
   * Written every `trickleMs` on each connection. A socket that reads nothing does not see the
   * server's close: a write does. An empty line between requests is allowed (RFC 9112 §2.2), so
   * it asks for nothing more; slowloris sends a header line, as slowloris does.
   */
  readonly trickle: string;
  readonly trickleMs: number;
}

const ATTACKS: readonly Attack[] = [
  { name: 'pipelined: 4 × 2,000 GET /metrics in one write, never read', connections: 4, request: GET_METRICS.repeat(2000), trickle: '\r\n', trickleMs: 100 },
  { name: 'non-reading: 200 × GET /metrics, never read', connections: 200, request: GET_METRICS, trickle: '\r\n', trickleMs: 1000 },
  { name: 'slowloris: 2,000 × half a request, a header line a second', connections: 2000, request: 'GET /metrics HTTP/1.1\r\nHost: x\r\n', trickle: 'X-Slow: 1\r\n', trickleMs: 1000 },
];

/** One probe of the scraper: which path, its status (0: not answered within 10 s), its seconds and bytes. */
interface Probe {
  readonly path: '/metrics' | '/healthz';
  readonly at: number;
  readonly status: number;
  readonly seconds: number;
  readonly bytes: number;
}

function parseArgs(args: readonly string[]): { vms: number; seconds: number; maxRssMib: number } {
  const values = { vms: 1000, seconds: 60, 'max-rss-mib': 4096 };
  for (const arg of args) {
    const match = /^--(vms|seconds|max-rss-mib)=([1-9][0-9]*)$/.exec(arg);
    if (match === null) throw new Error(`serve-attack: unknown argument ${JSON.stringify(arg)} (--vms=N, --seconds=N, --max-rss-mib=N)`);
    values[match[1] as keyof typeof values] = Number(match[2]);
  }
  return { vms: values.vms, seconds: values.seconds, maxRssMib: values['max-rss-mib'] };
}

/** fleet.bench.ts's `cpuSeconds`, or NaN once the process is gone (killed for its RSS). */
function cpuSecondsOrNaN(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return Number.NaN;
  }
}

function rssBytes(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The well-behaved scraper, a process of its own: a JSON line per probe on its stdout. */
function startScraper(url: string): { child: ChildProcess; probes: Probe[] } {
  const script = `
    const probe = async (path) => {
      const start = performance.now();
      let status = 0, bytes = 0;
      try {
        const response = await fetch(${JSON.stringify(url)} + path, { signal: AbortSignal.timeout(10000) });
        bytes = (await response.arrayBuffer()).byteLength;
        status = response.status;
      } catch {}
      process.stdout.write(JSON.stringify({ path, at: Date.now(), status, seconds: (performance.now() - start) / 1000, bytes }) + '\\n');
    };
    const every = async (path, ms) => { for (;;) { const next = performance.now() + ms; await probe(path); await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now()))); } };
    every('/metrics', 1000);
    every('/healthz', 250);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const probes: Probe[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) probes.push(JSON.parse(line) as Probe);
  });
  return { child, probes };
}

/** Keeps `attack.connections` connections open, each having written `attack.request` and reading nothing. */
function runAttack(port: number, attack: Attack): { stop: () => void; opened: () => number } {
  const open = new Set<Socket>();
  let opened = 0;
  let stopped = false;
  const top = (): void => {
    while (!stopped && open.size < attack.connections) {
      const socket = connect(port, '127.0.0.1');
      opened++;
      open.add(socket);
      socket.on('error', () => undefined);
      socket.once('connect', () => {
        socket.pause();
        socket.write(attack.request);
      });
      socket.once('close', () => {
        open.delete(socket);
        setImmediate(top);
      });
    }
  };
  top();
  const watch = setInterval(() => {
    for (const socket of open) if (!socket.connecting && !socket.destroyed) socket.write(attack.trickle);
  }, attack.trickleMs);
  return {
    stop: () => {
      stopped = true;
      clearInterval(watch);
      for (const socket of open) socket.destroy();
    },
    opened: () => opened,
  };
}

interface PhaseResult {
  readonly name: string;
  readonly peakRss: number;
  /** serve's CPU seconds per wall second over the phase. */
  readonly cpuShare: number;
  /** Lines the VMs could not write, serve not reading their pipes. */
  readonly pipeFull: number;
  readonly scrapes: number;
  readonly failedScrapes: number;
  readonly slowestScrape: number;
  readonly healthz: number;
  readonly failedHealthz: number;
  readonly slowestHealthz: number;
  readonly connectionsOpened: number;
}

function summarize(name: string, probes: readonly Probe[], peakRss: number, cpuShare: number, pipeFull: number, connectionsOpened: number): PhaseResult {
  const scrapes = probes.filter((p) => p.path === '/metrics');
  const health = probes.filter((p) => p.path === '/healthz');
  return {
    name,
    peakRss,
    cpuShare,
    pipeFull,
    scrapes: scrapes.length,
    failedScrapes: scrapes.filter((p) => p.status !== 200).length,
    slowestScrape: Math.max(0, ...scrapes.map((p) => p.seconds)),
    healthz: health.length,
    failedHealthz: health.filter((p) => p.status !== 200).length,
    slowestHealthz: Math.max(0, ...health.map((p) => p.seconds)),
    connectionsOpened,
  };
}

async function main(): Promise<void> {
  const { vms, seconds, maxRssMib } = parseArgs(process.argv.slice(2));
  const served = serveNewPipes('vmm-metrics-attack-', vms);
  const { dir, paths, serve } = served;
  const fleet: Vm[] = [];
  /** Lines a VM could not write because its pipe was full, in the current phase. */
  const counts = { pipeFull: 0 };
  let writing: NodeJS.Timeout | undefined;
  let sampling: NodeJS.Timeout | undefined;
  let scraper: ChildProcess | undefined;
  try {
    const url = await untilServing(served, 60_000);
    const port = Number(new URL(url).port);
    const pid = serve.pid as number;
    paths.forEach((path, i) => fleet.push(startVm(path, `vm-${String(i + 1)}`)));
    // Every VM once a second, spread evenly (as fleet.bench.ts).
    let lines = 0;
    const began = Date.now();
    writing = setInterval(() => {
      const due = Math.floor(((Date.now() - began) * vms) / 1000);
      for (; lines < due; lines++) {
        const vm = fleet[lines % vms] as Vm;
        vm.work();
        try {
          vm.metrics.write();
        } catch {
          // The pipe is full: serve is not reading (the writer keeps the line's deltas for the next one).
          counts.pipeFull++;
        }
      }
    }, 5);
    let rss: { at: number; bytes: number }[] = [];
    const killed = { stopped: false };
    // Read through a call: the sampler sets it between awaits, which narrowing cannot see.
    const isKilled = (): boolean => killed.stopped;
    sampling = setInterval(() => {
      const bytes = rssBytes(pid);
      rss.push({ at: Date.now(), bytes });
      if (bytes > maxRssMib * 2 ** 20 && !killed.stopped) {
        killed.stopped = true;
        serve.kill('SIGKILL');
      }
    }, 100);
    const started = startScraper(url);
    scraper = started.child;
    const { probes } = started;
    process.stderr.write(`serve-attack: ${String(vms)} VMs writing; 10 s to settle, then idle for 10 s\n`);
    await sleep(10_000);
    const idleFrom = Date.now();
    rss = [];
    counts.pipeFull = 0;
    const idleCpu = cpuSecondsOrNaN(pid);
    await sleep(10_000);
    const idleShare = (cpuSecondsOrNaN(pid) - idleCpu) / ((Date.now() - idleFrom) / 1000);
    const idleRss = median(rss.map((r) => r.bytes));
    const idleScrapes = probes.filter((p) => p.at >= idleFrom && p.path === '/metrics' && p.status === 200);
    const exposition = median(idleScrapes.map((p) => p.bytes));
    const results = [summarize('idle (the scraper alone)', probes.filter((p) => p.at >= idleFrom), Math.max(...rss.map((r) => r.bytes)), idleShare, counts.pipeFull, 0)];
    for (const attack of ATTACKS) {
      if (isKilled()) break;
      process.stderr.write(`serve-attack: ${attack.name}, ${String(seconds)} s\n`);
      const from = Date.now();
      rss = [];
      counts.pipeFull = 0;
      const cpu = cpuSecondsOrNaN(pid);
      const running = runAttack(port, attack);
      for (let waited = 0; waited < seconds * 10 && !isKilled(); waited++) await sleep(100);
      running.stop();
      const share = (cpuSecondsOrNaN(pid) - cpu) / ((Date.now() - from) / 1000);
      const name = isKilled() ? `${attack.name} (serve killed after ${((Date.now() - from) / 1000).toFixed(1)} s: RSS past ${String(maxRssMib)} MiB)` : attack.name;
      results.push(summarize(name, probes.filter((p) => p.at >= from), Math.max(...rss.map((r) => r.bytes)), share, counts.pipeFull, running.opened()));
      // Let the server see the attack's connections closed before the next one.
      await sleep(2_000);
    }
    const goal = 2 * (idleRss + exposition);
    process.stdout.write(
      `serve against clients that do not read: ${String(vms)} VMs, ${String(seconds)} s per attack\n` +
        `idle RSS ${mib(idleRss)} (median), one exposition ${mib(exposition)}: RSS goal 2 × (idle + exposition) = ${mib(goal)}; scrape goal < 2 s; /healthz goal < 1 s\n\n` +
        '| phase | serve peak RSS | ÷ goal | serve CPU (share of a core) | scrapes answered 200 | slowest scrape | /healthz answered 200 | slowest /healthz | lines not written (pipe full) | attack connections opened |\n' +
        '|---|---|---|---|---|---|---|---|---|---|\n',
    );
    for (const r of results) {
      process.stdout.write(
        `| ${r.name} | ${mib(r.peakRss)} | ${(r.peakRss / goal).toFixed(2)} | ${r.cpuShare.toFixed(2)} | ${String(r.scrapes - r.failedScrapes)}/${String(r.scrapes)} | ${r.slowestScrape.toFixed(3)} s | ` +
          `${String(r.healthz - r.failedHealthz)}/${String(r.healthz)} | ${r.slowestHealthz.toFixed(3)} s | ${r.pipeFull.toLocaleString('en')} | ${r.connectionsOpened.toLocaleString('en')} |\n`,
      );
    }
  } finally {
    if (writing !== undefined) clearInterval(writing);
    if (sampling !== undefined) clearInterval(sampling);
    scraper?.kill('SIGKILL');
    for (const vm of fleet) vm.metrics.close();
    serve.kill('SIGTERM');
    await new Promise((resolve) => serve.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
