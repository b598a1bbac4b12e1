/**
 * The README's picture of the dashboard's balloon row, from a real session:
 * `npm run build:test && node build/scripts/contrib/dashboard-picture.js` (about 75 s; needs
 * Debian's prometheus). Writes docs/images/dashboard-balloon.png.
 *
 * A Prometheus of its own scrapes `npm start -- --serve` (a 60 s session of one 1 GiB guest)
 * every second; once the session is over, each query of each panel of the dashboard's balloon row
 * runs over the session (`query_range`, a point a second, the variables filled in as Grafana
 * fills them), and picture-chart.ts draws the results. Grafana is not in Debian and cannot be
 * fetched here, so it is not Grafana that draws them: the queries and the layout are the
 * dashboard's, the drawing is ECharts'.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPrometheus, type PrometheusServer } from '../../test/support/prometheus.js';
import { buildDashboard } from './dashboard.js';
import { rowPng, type ChartPanel, type ChartSeries } from './picture-chart.js';
import { substitute, type VariableValues } from './variables.js';

// Compiled to build/scripts/contrib/: the session is build/src/…, the repository three levels up.
const SESSION = fileURLToPath(new URL('../../src/cli/microvm/main.js', import.meta.url));
const OUTPUT = 'docs/images/dashboard-balloon.png';
const OUTPUT_FILE = fileURLToPath(new URL(`../../../${OUTPUT}`, import.meta.url));
const DURATION_S = 60;
const SCRAPE_INTERVAL_S = 1;
const ROW = 'Balloon';

interface Panel {
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly fieldConfig: { readonly defaults: { readonly unit: ChartPanel['unit'] } };
  readonly targets: readonly { readonly expr: string; readonly legendFormat: string }[];
}

/** The panels of the row titled `title`, in the dashboard's order, their `y` from the row's first line. */
function rowPanels(title: string): Panel[] {
  const panels = (buildDashboard() as { panels: Panel[] }).panels;
  const start = panels.findIndex((panel) => panel.type === 'row' && panel.title === title);
  if (start < 0) throw new Error(`the dashboard has no row ${title}`);
  const end = panels.findIndex((panel, i) => i > start && panel.type === 'row');
  const row = panels.slice(start + 1, end < 0 ? undefined : end);
  const top = Math.min(...row.map((panel) => panel.gridPos.y));
  return row.map((panel) => ({ ...panel, gridPos: { ...panel.gridPos, y: panel.gridPos.y - top } }));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => {
        resolve(port);
      });
    });
  });
}

interface RangeResult {
  readonly metric: Readonly<Record<string, string>>;
  readonly values: readonly [number, string][];
}

async function queryRange(server: PrometheusServer, query: string, startS: number, endS: number): Promise<RangeResult[]> {
  const url = `${server.url}/api/v1/query_range?query=${encodeURIComponent(query)}&start=${startS}&end=${endS}&step=${SCRAPE_INTERVAL_S}`;
  const body = (await (await fetch(url)).json()) as { status: string; error?: string; data: { result: RangeResult[] } };
  if (body.status !== 'success') throw new Error(`${query}: ${body.error ?? body.status}`);
  return body.data.result;
}

/** Grafana's legend: `{{label}}` replaced by the series' label. */
function legend(format: string, labels: Readonly<Record<string, string>>): string {
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => labels[name] ?? '');
}

async function main(): Promise<void> {
  const started = Date.now();
  const port = await freePort();
  // Prometheus first, so that it scrapes the session from its first second.
  const prometheus = await startPrometheus({ targets: [`127.0.0.1:${port}`], scrapeIntervalS: SCRAPE_INTERVAL_S });
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-picture-'));
  try {
    // Prometheus applies its targets on a 5 s tick: wait for its first (failed) scrape.
    await prometheus.waitFor('up', (samples) => samples.length === 1, 20_000);
    const [start] = await prometheus.query('time()');
    if (start === undefined) throw new Error('Prometheus has no time()');
    const session = spawn(process.execPath, [SESSION, '--serve', '--port', String(port), '--duration-s', String(DURATION_S)], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    const sessionStarted = Date.now();
    const [code] = (await once(session, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`the session exited with ${String(code)}`);
    const sessionS = (Date.now() - sessionStarted) / 1000;
    const [end] = await prometheus.query('time()');
    if (end === undefined) throw new Error('Prometheus has no time()');

    const values: VariableValues = {
      chosen: { vm: 'All', device: 'All' },
      allValues: { vm: '.*', device: '.*' },
      scrapeIntervalS: SCRAPE_INTERVAL_S,
      intervalS: SCRAPE_INTERVAL_S,
      rangeS: Math.ceil(end.value - start.value),
    };
    let points = 0;
    const panels: ChartPanel[] = [];
    for (const panel of rowPanels(ROW)) {
      const series: ChartSeries[] = [];
      for (const target of panel.targets) {
        for (const result of await queryRange(prometheus, substitute(target.expr, values), start.value, end.value)) {
          points += result.values.length;
          series.push({ name: legend(target.legendFormat, result.metric), points: result.values.map(([t, v]) => [t - start.value, Number(v)] as const) });
        }
      }
      if (series.length === 0) throw new Error(`${panel.title}: no data from the session`);
      panels.push({ title: panel.title, unit: panel.fieldConfig.defaults.unit, gridPos: panel.gridPos, series });
    }
    const drawing = Date.now();
    const png = rowPng({
      title: ROW,
      subtitle: `Firecracker fleet (vmm-metrics) dashboard, balloon row: a ${DURATION_S} s npm start -- --serve session (one 1 GiB guest) scraped every ${SCRAPE_INTERVAL_S} s, drawn by scripts/contrib/dashboard-picture.ts, not Grafana`,
      durationS: Math.ceil(end.value - start.value),
      panels,
    });
    writeFileSync(OUTPUT_FILE, png);
    process.stdout.write(
      `wrote ${OUTPUT} (${png.length} bytes): session ${sessionS.toFixed(1)} s, ${points} points in ${panels.length} panels, drawn in ${((Date.now() - drawing) / 1000).toFixed(2)} s, ${((Date.now() - started) / 1000).toFixed(1)} s in all\n`,
    );
  } finally {
    await prometheus.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
