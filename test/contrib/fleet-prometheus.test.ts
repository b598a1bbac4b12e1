/**
 * The dashboard and the rules against a real fleet: a real Prometheus (Debian's 2.42) scraping a
 * real `vmm-metrics serve` (a process following a directory of four VMs' files and named pipes,
 * each VM with two drives and an interface; see ./fleet.ts) and a real `npm start -- --serve`
 * session (its balloon's size included), once a second.
 *
 * Every query of every panel runs through the HTTP API with the variables filled in as Grafana
 * fills them, and must return data: with every VM and device, and for each VM and each device that
 * has a family the query names. A query naming a metric nobody exposes fails. The recording rules
 * must record something, and in this healthy fleet no alert's expression may hold.
 *
 * One Prometheus, serve, session and fleet for the file: Prometheus scrapes first about 5 s after
 * it starts, and the queries need 4 s of samples for their rate()s.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RunningCli } from '../cli/helpers.js';
import { prometheusOrSkip, startPrometheusIfInstalled, type PrometheusServer, type QuerySample } from '../support/prometheus.js';
import { DASHBOARD, PANELS, labelValuesQuery, type DashboardTarget } from './dashboard.js';
import { FLEET, FLEET_DRIVES, FLEET_INTERFACES, FleetWriter } from './fleet.js';
import { substitute, type VariableValues } from '../../scripts/contrib/variables.js';
import { expandAlternation, matchesName, namedMetrics, type NamedMetrics } from './promql.js';
import { allRules } from './rules.js';
import { releaseLineSets } from '../../src/reader/release-lines.js';

const SESSION = fileURLToPath(new URL('../../src/cli/microvm/main.js', import.meta.url));
const SCRAPE_INTERVAL_S = 1;
/** The session's one VM (`vm-1`, its metrics lines' id). */
const SESSION_VM = 'vm-1';

const fleetDir = mkdtempSync(join(tmpdir(), 'vmm-metrics-fleet-'));
const sessionDir = mkdtempSync(join(tmpdir(), 'vmm-metrics-fleet-session-'));
let serve: RunningCli | undefined;
let session: ChildProcess | undefined;
let sessionStderr = '';
let writer: FleetWriter | undefined;
let prometheus: PrometheusServer | undefined;
let startedS = 0;

before(async () => {
  serve = new RunningCli(['serve', '--metrics-dir', fleetDir, '--port', '0', '--poll-ms', '100']);
  // Long enough to outlive the test, which stops it; its balloon story is scaled to the duration.
  session = spawn(process.execPath, [SESSION, '--serve', '--port', '0', '--duration-s', '40', '--memory-mib', '64'], { cwd: sessionDir, stdio: ['ignore', 'ignore', 'pipe'] });
  session.stderr?.setEncoding('utf8').on('data', (text: string) => (sessionStderr += text));
  await serve.waitForOutput(/serving http:\/\/\S+\/metrics/, 'stderr');
  const serveTarget = /serving http:\/\/(\S+)\/metrics/.exec(serve.stderr)?.[1] ?? '';
  const sessionTarget = await new Promise<string>((resolve, reject) => {
    const look = (): void => {
      const found = /^Serving the VMs' metrics at http:\/\/(\S+)\/metrics$/m.exec(sessionStderr)?.[1];
      if (found !== undefined) resolve(found);
    };
    session?.stderr?.on('data', look);
    session?.once('exit', (code) => {
      reject(new Error(`the session exited (${String(code)}) before serving: ${sessionStderr}`));
    });
    look();
  });
  prometheus = await startPrometheusIfInstalled({ targets: [serveTarget, sessionTarget], scrapeIntervalS: SCRAPE_INTERVAL_S });
  startedS = Date.now() / 1000;
  // The VMs' lines carry this host's clock, as serve's do, which checks them against it.
  writer = new FleetWriter(fleetDir, Date.now);
  writer.start(250);
});

after(async () => {
  await prometheus?.stop();
  await writer?.close();
  serve?.kill();
  if (session !== undefined && session.exitCode === null && session.signalCode === null) {
    session.kill('SIGINT');
    await once(session, 'exit');
  }
  rmSync(fleetDir, { recursive: true, force: true });
  rmSync(sessionDir, { recursive: true, force: true });
});

/** `GET /api/v1/<path>` of the test's Prometheus: its `data`. */
async function api(server: PrometheusServer, path: string): Promise<unknown> {
  const body = (await (await fetch(`${server.url}/api/v1/${path}`)).json()) as { status: string; data: unknown; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? body.status}`);
  return body.data;
}

/** The label's values over the series `selector` matches, as Grafana's `label_values(selector, label)` asks. */
async function labelValues(server: PrometheusServer, label: string, selector: string): Promise<string[]> {
  return (await api(server, `label/${label}/values?match[]=${encodeURIComponent(selector)}`)) as string[];
}

/** Waits until every VM, the fleet's and the session's, has a few scrapes of samples. */
async function fleetScraped(server: PrometheusServer): Promise<void> {
  const vms = FLEET.length + 1;
  await server.waitFor(
    `count(count_over_time(firecracker_logger_missed_metrics_count_total[${4 * SCRAPE_INTERVAL_S}s]) >= 3)`,
    (samples) => samples[0]?.value === vms,
    30_000,
  );
  await server.waitFor(`count(count_over_time(vmm_metrics_serve_lines_total[${4 * SCRAPE_INTERVAL_S}s]) >= 3)`, (samples) => samples[0]?.value === FLEET.length, 10_000);
}

function valuesFor(chosen: VariableValues['chosen']): VariableValues {
  const rangeS = Math.max(60, Math.ceil(Date.now() / 1000 - startedS));
  return { chosen, allValues: { vm: '.*', device: '.*' }, scrapeIntervalS: SCRAPE_INTERVAL_S, intervalS: SCRAPE_INTERVAL_S, rangeS };
}

type Target = DashboardTarget & { readonly panel: string; readonly named: NamedMetrics };

const TARGETS: readonly Target[] = PANELS.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, ...target, named: namedMetrics(target.expr) })));

/** Does the query name one of `names` (plainly or through a `__name__` pattern)? */
function names(target: Target, present: ReadonlySet<string>): boolean {
  return target.named.names.some((name) => present.has(name)) || target.named.patterns.some((pattern) => [...present].some((name) => matchesName(pattern, name)));
}

test('the variables: every VM of the fleet and the session, every drive and interface', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  await fleetScraped(server);
  const [vm, device] = DASHBOARD.templating.list;
  assert.ok(vm !== undefined && device !== undefined);
  const all = valuesFor({ vm: 'All', device: 'All' });
  const vmQuery = labelValuesQuery(vm);
  assert.deepEqual((await labelValues(server, vmQuery.label, substitute(vmQuery.selector, all))).sort(), [...FLEET.map((v) => v.name), SESSION_VM].sort());
  const deviceQuery = labelValuesQuery(device);
  assert.deepEqual((await labelValues(server, deviceQuery.label, substitute(deviceQuery.selector, all))).sort(), [...FLEET_DRIVES, ...FLEET_INTERFACES].sort());
  // Choosing one VM narrows the devices to its own; the session's VM has none.
  assert.deepEqual(await labelValues(server, deviceQuery.label, substitute(deviceQuery.selector, valuesFor({ vm: [SESSION_VM], device: 'All' }))), []);
});

test('every metric a panel names is exposed by some VM or serve', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  await fleetScraped(server);
  const exposed = new Set((await api(server, 'label/__name__/values')) as string[]);
  const missing: string[] = [];
  for (const target of TARGETS) {
    const where = `${target.panel} ${target.refId}`;
    for (const name of target.named.names) if (!exposed.has(name)) missing.push(`${where}: ${name}`);
    for (const pattern of target.named.patterns) {
      const expanded = expandAlternation(pattern);
      if (expanded !== undefined) {
        for (const name of expanded) if (!exposed.has(name)) missing.push(`${where}: ${name} (of ${pattern})`);
      } else if (![...exposed].some((name) => matchesName(pattern, name))) {
        missing.push(`${where}: nothing matches ${pattern}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

test("every panel's every query returns data, with every VM and device, for each VM and for each device", async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  await fleetScraped(server);
  const empty: string[] = [];
  const run = async (target: Target, chosen: VariableValues['chosen'], what: string): Promise<QuerySample[]> => {
    const samples = await server.query(substitute(target.expr, valuesFor(chosen)));
    if (samples.length === 0) empty.push(`${target.panel} ${target.refId} ${what}: ${target.expr}`);
    return samples;
  };

  // Every VM and device: data, and each legend's labels on each sample.
  let queries = 0;
  for (const target of TARGETS) {
    const samples = await run(target, { vm: 'All', device: 'All' }, 'with every VM');
    queries++;
    for (const [, label] of target.legendFormat.matchAll(/\{\{(vm|device|signal)\}\}/g)) {
      for (const sample of samples) assert.ok(sample.labels[label ?? ''] !== undefined, `${target.panel} ${target.refId}: a sample without ${label ?? ''} for its legend: ${JSON.stringify(sample.labels)}`);
    }
  }

  // Each VM: a query naming a family the VM has must draw that VM, and only it.
  const vms = [...FLEET.map((vm) => vm.name), SESSION_VM];
  for (const vm of vms) {
    const has: ReadonlySet<string> = new Set(await labelValues(server, '__name__', `{vm="${vm}"}`));
    for (const target of TARGETS.filter((candidate) => names(candidate, has))) {
      const samples = await run(target, { vm: [vm], device: 'All' }, `for ${vm}`);
      queries++;
      for (const sample of samples) if (sample.labels.vm !== undefined) assert.equal(sample.labels.vm, vm, `${target.panel} ${target.refId} for ${vm}`);
    }
  }

  // Each device: the same, for the queries that select devices.
  for (const device of [...FLEET_DRIVES, ...FLEET_INTERFACES]) {
    const has: ReadonlySet<string> = new Set(await labelValues(server, '__name__', `{device="${device}"}`));
    for (const target of TARGETS.filter((candidate) => candidate.expr.includes('$device') && names(candidate, has))) {
      const samples = await run(target, { vm: 'All', device: [device] }, `for ${device}`);
      queries++;
      assert.deepEqual([...new Set(samples.map((sample) => sample.labels.device))], [device], `${target.panel} ${target.refId} for ${device}`);
    }
  }
  assert.deepEqual(empty, []);
  // Every query ran with every VM, each fleet VM's device rows ran for it, each device's for it.
  assert.ok(queries > TARGETS.length + FLEET.length * 20, `${queries} queries`);
});

test('"Their releases": the fleet\'s VMs counted by the release their lines are, main\'s and v1.10\'s apart', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  await fleetScraped(server);
  const panel = TARGETS.find((target) => target.panel === 'Their releases');
  assert.ok(panel !== undefined, 'the dashboard has its releases panel');
  const labelOf = (release: string): string => releaseLineSets().find((set) => set.versions.includes(release))?.label ?? 'none';
  const expected = new Map<string, number>();
  for (const vm of FLEET) expected.set(labelOf(vm.release), (expected.get(labelOf(vm.release)) ?? 0) + 1);
  assert.ok(expected.size >= 2, 'the fleet mixes releases');
  const samples = await server.query(substitute(panel.expr, valuesFor({ vm: 'All', device: 'All' })));
  assert.deepEqual(new Map(samples.map((sample) => [sample.labels.release, sample.value])), expected);
});

test('on the same fleet: each recording rule records, no alert holds, and every metric a rule names is exposed', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  await fleetScraped(server);
  // The rules' rate()s look a minute back: wait for two samples in it.
  await server.waitFor('count_over_time(up[1m])', (samples) => samples.length === 2 && samples.every((s) => s.value >= 2));
  const exposed = new Set((await api(server, 'label/__name__/values')) as string[]);
  for (const rule of allRules()) {
    const name = rule.record ?? rule.alert ?? '';
    const named = namedMetrics(rule.expr);
    for (const metric of named.names) assert.ok(exposed.has(metric), `${name} names ${metric}, which nobody exposes`);
    for (const pattern of named.patterns) assert.ok([...exposed].some((metric) => matchesName(pattern, metric)), `${name}: nothing matches ${pattern}`);
    // The hosts' clock is the lines' clock; Prometheus's may differ from this process's (faketime
    // moves this one and not Go's), so a rule's now is the hosts' here.
    const samples = await server.query(rule.expr.replaceAll('time()', String(Date.now() / 1000)));
    if (rule.record !== undefined) assert.ok(samples.length > 0, `${name} records nothing`);
    else assert.deepEqual(samples, [], `${name} holds in a healthy fleet`);
  }
});
