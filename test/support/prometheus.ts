/**
 * A real Prometheus for the exporters' tests: promtool's linter, and a server that scrapes what a
 * test serves and answers PromQL about it.
 *
 * ```ts
 * let prometheus: PrometheusServer | undefined;
 * before(async () => { prometheus = await startPrometheusIfInstalled({ targets: [`127.0.0.1:${port}`] }); });
 * after(() => prometheus?.stop());
 * test('…', async (t) => {
 *   const server = prometheusOrSkip(t, prometheus);
 *   if (server === undefined) return;
 *   await server.waitFor('up', (samples) => samples[0]?.value === 1);
 * });
 * test('…', async (t) => {
 *   if (!promtoolOrSkip(t)) return;
 *   assert.deepEqual((await promtoolCheckMetrics(text)).problems, []);
 * });
 * ```
 *
 * Design notes:
 * - The binaries are Debian's package (`apt-get install prometheus`: 2.42, /usr/bin/prometheus
 *   and /usr/bin/promtool), which `.ci/run` installs. Where one is missing, its tests skip with a
 *   loud message, never pass; with VMM_METRICS_REQUIRE_PROMETHEUS=1 (which `.ci/run` sets) they
 *   fail instead, so that CI cannot go green without them.
 * - `promtool check metrics` (2.42) is client_golang's promlint over the Prometheus text format:
 *   it exits 0 when it has nothing to say; 3 after one `<metric> <problem>` line per problem on
 *   stderr (no help text, a counter without `_total`, `_total` on anything else, `_count`/`_sum`/
 *   `_bucket` outside histograms and summaries, `le`/`quantile` labels, a type or an abbreviated
 *   unit as a token of the name, a non-base unit, camelCase, a colon); 1 after `error while
 *   linting: …` when the text does not parse. 2.42 has no levels (nothing is a mere warning) and
 *   no way to leave a check out, so `promtoolCheckMetrics` parses the lines, and `ok` means no
 *   problem at all. A family with no sample is dropped by the parser before the linter runs, so
 *   a name is checked only where a sample carries it. It reads the text format only: an
 *   OpenMetrics exposition comes out as families without help.
 * - One server per test file, started in `before` and shared by its tests: Prometheus applies a
 *   new set of targets on a 5 s tick, so the first scrape comes about 5 s after start (5.3 s
 *   measured on 2.42), a cost a file pays once.
 * - Nothing is shared with a system Prometheus (the package's service listens on :9090): a config
 *   and a data directory of its own in a temporary folder, a free port on 127.0.0.1, no lifecycle
 *   or admin API. `stop()` ends the process and removes the folder; a test process that dies
 *   takes its server with it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

/** Where Debian's package puts the binaries, looked at after PATH (a test's PATH need not list them). */
const FALLBACK_DIRS = ['/usr/bin', '/usr/local/bin'];

/** Set by `.ci/run`: a missing binary fails the tests that need it instead of skipping them. */
export const REQUIRE_ENV = 'VMM_METRICS_REQUIRE_PROMETHEUS';

function locate(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== ''), ...FALLBACK_DIRS];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not here; the next directory.
    }
  }
  return undefined;
}

/** The path of `prometheus`, or undefined when it is not installed. */
export const PROMETHEUS_BIN = locate('prometheus');
/** The path of `promtool`, or undefined when it is not installed. */
export const PROMTOOL_BIN = locate('promtool');

const INSTALL_HINT = 'run as root: apt-get install prometheus; .ci/run installs it';
const warned = new Set<string>();

/** Skips `t` loudly (or fails it under VMM_METRICS_REQUIRE_PROMETHEUS=1) when `binary` is missing; true when it is there. */
function installedOrSkip(t: TestContext, binary: 'prometheus' | 'promtool', path: string | undefined): boolean {
  if (path !== undefined) return true;
  const missing = `${binary} not installed — ${INSTALL_HINT}`;
  if (process.env[REQUIRE_ENV] === '1') assert.fail(`${missing} (${REQUIRE_ENV}=1 makes this a failure)`);
  const message = `SKIPPED: ${missing}`;
  if (!warned.has(binary)) {
    warned.add(binary);
    process.stderr.write(`\n*** ${message} ***\n\n`);
  }
  t.skip(message);
  return false;
}

/** True when promtool is installed; otherwise skips `t` with a loud message and returns false. */
export function promtoolOrSkip(t: TestContext): boolean {
  return installedOrSkip(t, 'promtool', PROMTOOL_BIN);
}

/**
 * The file's server when Prometheus is installed; otherwise skips `t` with a loud message and
 * returns undefined. Fails when Prometheus is installed and the server is not there (its `before`
 * failed or did not run).
 */
export function prometheusOrSkip(t: TestContext, server: PrometheusServer | undefined): PrometheusServer | undefined {
  if (!installedOrSkip(t, 'prometheus', PROMETHEUS_BIN)) return undefined;
  assert.ok(server !== undefined, 'Prometheus is installed but the server of this file was not started');
  return server;
}

/** One problem `promtool check metrics` reported: `firecracker_x counter metrics should have "_total" suffix`. */
export interface PromtoolProblem {
  readonly metric: string;
  readonly text: string;
}

export interface PromtoolResult {
  /** The text parsed and promtool had nothing to say about it. */
  readonly ok: boolean;
  /** The lint problems, sorted as promtool sorts them (by metric, then text). */
  readonly problems: readonly PromtoolProblem[];
  /** Why the text did not parse (`text format parsing error in line 3: …`), when it did not. */
  readonly parseError: string | undefined;
  /** promtool's exit code and everything it printed, for messages. */
  readonly exitCode: number;
  readonly output: string;
}

/** Runs `promtool check metrics` with `exposition` on its stdin. Throws when promtool is missing or behaves unlike 2.42. */
export async function promtoolCheckMetrics(exposition: string): Promise<PromtoolResult> {
  if (PROMTOOL_BIN === undefined) throw new Error(`promtool is not installed — ${INSTALL_HINT}`);
  const { code, stdout, stderr } = await run(PROMTOOL_BIN, ['check', 'metrics'], exposition);
  const output = `${stdout}${stderr}`;
  const lines = stderr.split('\n').filter((line) => line !== '');
  if (code === 0 && lines.length === 0) return { ok: true, problems: [], parseError: undefined, exitCode: code, output };
  if (code === 3) {
    const problems = lines.map((line) => {
      const space = line.indexOf(' ');
      if (space <= 0) throw new Error(`promtool check metrics: unexpected line ${JSON.stringify(line)} in\n${output}`);
      return { metric: line.slice(0, space), text: line.slice(space + 1) };
    });
    return { ok: false, problems, parseError: undefined, exitCode: code, output };
  }
  const parse = /^error while linting: (.*)$/.exec(lines[0] ?? '');
  if (code === 1 && parse?.[1] !== undefined) return { ok: false, problems: [], parseError: parse[1], exitCode: code, output };
  throw new Error(`promtool check metrics exited ${code}, which 2.42 does not do, with:\n${output}`);
}

function run(file: string, args: readonly string[], stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === null) reject(new Error(`${file} ${args.join(' ')} ended by ${String(signal)}:\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
    // promtool stops reading at a parse error; the rest of the text is not its concern.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

export interface PrometheusOptions {
  /** `host:port` of each target, scraped at `/metrics` as job `vmm-metrics`. */
  readonly targets: readonly string[];
  /** @default 1 */
  readonly scrapeIntervalS?: number;
  /** Keys merged into the job's scrape config (`metrics_path`, `honor_labels`, `metric_relabel_configs`, …). */
  readonly extraScrapeConfig?: Readonly<Record<string, unknown>>;
}

/** One sample of a query's result: a vector's element, or a scalar (with no labels). */
export interface QuerySample {
  readonly labels: Readonly<Record<string, string>>;
  /** The value as a number: Prometheus stores doubles. */
  readonly value: number;
  /** The value as Prometheus wrote it (`"1152921504606847000"`: Go's shortest digits of the double; `"NaN"`). */
  readonly text: string;
  /** Unix seconds. */
  readonly timestamp: number;
}

/** A target as `/api/v1/targets` reports it. */
export interface ScrapeTarget {
  readonly scrapeUrl: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
  readonly lastScrape: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface PrometheusServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** An instant query at the present time; a vector's samples, or a scalar as one sample. Throws on a PromQL error. */
  query(promql: string): Promise<QuerySample[]>;
  /** Polls `promql` until `accept` takes its result; throws with the last result and the targets after `timeoutMs`. */
  waitFor(promql: string, accept: (samples: QuerySample[]) => boolean, timeoutMs?: number): Promise<QuerySample[]>;
  /** The active targets. */
  targets(): Promise<ScrapeTarget[]>;
  /** Ends the server (SIGTERM, then SIGKILL after 10 s) and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

/** `startPrometheus(options)` where Prometheus is installed, undefined elsewhere (its tests then skip). */
export async function startPrometheusIfInstalled(options: PrometheusOptions): Promise<PrometheusServer | undefined> {
  return PROMETHEUS_BIN === undefined && process.env[REQUIRE_ENV] !== '1' ? undefined : startPrometheus(options);
}

/** Starts a Prometheus of its own and resolves once it is ready (`/-/ready`). */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  if (PROMETHEUS_BIN === undefined) throw new Error(`prometheus is not installed — ${INSTALL_HINT}`);
  const interval = `${options.scrapeIntervalS ?? 1}s`;
  const folder = await mkdtemp(join(tmpdir(), 'vmm-metrics-prometheus-'));
  try {
    // JSON is YAML: no quoting rules of our own to get wrong.
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      scrape_configs: [{ job_name: 'vmm-metrics', static_configs: [{ targets: options.targets }], ...options.extraScrapeConfig }],
    };
    await writeFile(join(folder, 'prometheus.yml'), JSON.stringify(config, null, 2));
    // The free port is found before Prometheus takes it: another process may take it in between, so try again.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const started = await launch(PROMETHEUS_BIN, folder, port);
      if (started.ok) return server(started.child, `http://127.0.0.1:${port}`, folder, started.log);
      if (attempt === 3 || !/address already in use/.test(started.log())) throw new Error(`Prometheus did not start:\n${started.log()}`);
    }
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

type Launch = { ok: true; child: ChildProcess; log: () => string } | { ok: false; log: () => string };

/** Spawns Prometheus and waits for `/-/ready`, or for it to exit. */
async function launch(binary: string, folder: string, port: number): Promise<Launch> {
  const child = spawn(
    binary,
    [
      `--config.file=${join(folder, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(folder, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // The end of its log, for the message of a failure.
  let tail = '';
  const keep = (chunk: string): void => {
    tail = (tail + chunk).slice(-8192);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  const log = (): string => tail;
  // 'close', not 'exit': by then the log has all the process wrote.
  const state = { closed: false };
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => {
      state.closed = true;
      resolve();
    });
  });
  child.on('error', (error) => {
    keep(`\n${String(error)}`);
    state.closed = true;
  });
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  // A test process that ends without stop() must not leave a server behind.
  process.once('exit', kill);
  child.on('exit', () => process.removeListener('exit', kill));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !state.closed) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/-/ready`);
      if (response.ok) return { ok: true, child, log };
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  if (!state.closed) {
    child.kill('SIGKILL');
    await closed;
    keep('\n(not ready after 15 s)');
  }
  return { ok: false, log };
}

function server(child: ChildProcess, url: string, folder: string, log: () => string): PrometheusServer {
  const get = async (path: string): Promise<unknown> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data?: unknown; errorType?: string; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.errorType ?? ''}: ${body.error ?? ''}`);
    return body.data;
  };
  const query = async (promql: string): Promise<QuerySample[]> => {
    const data = (await get(`/api/v1/query?query=${encodeURIComponent(promql)}`)) as { resultType: string; result: unknown };
    const sample = (labels: Record<string, string>, [timestamp, text]: [number, string]): QuerySample => ({ labels, value: Number(text), text, timestamp });
    if (data.resultType === 'vector') return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => sample(r.metric, r.value));
    if (data.resultType === 'scalar') return [sample({}, data.result as [number, string])];
    throw new Error(`Prometheus: ${promql} gives a ${data.resultType}; query() reads vectors and scalars`);
  };
  const targets = async (): Promise<ScrapeTarget[]> => ((await get('/api/v1/targets?state=active')) as { activeTargets: ScrapeTarget[] }).activeTargets;
  let stopping: Promise<void> | undefined;
  return {
    url,
    query,
    targets,
    waitFor: async (promql, accept, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const samples = await query(promql);
        if (accept(samples)) return samples;
        if (Date.now() > deadline) {
          const seen = JSON.stringify(samples);
          const scrapes = JSON.stringify((await targets()).map((t) => ({ url: t.scrapeUrl, health: t.health, lastError: t.lastError })));
          throw new Error(`Prometheus: ${promql} not as expected after ${timeoutMs} ms; last result ${seen}; targets ${scrapes}\n${log()}`);
        }
        await sleep(200);
      }
    },
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exit = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exit;
          clearTimeout(timer);
        }
        await rm(folder, { recursive: true, force: true });
      })()),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
