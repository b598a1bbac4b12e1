/**
 * The Grafana dashboard of `contrib/grafana/firecracker-fleet.json`, built from one list of rows
 * and panels. `node build/scripts/contrib/write-dashboard.js` (after `npm run build:test`) writes
 * the file; `test/contrib/dashboard.test.ts` fails while the committed file differs from it.
 *
 * Design notes:
 * - Importable as it is: the data source is an import input (`__inputs`, `${DS_PROMETHEUS}`), the
 *   variables `vm` and `device` come from the series (`label_values`), and every "All" is `.*`.
 * - A fleet mixes Firecracker releases, so a panel asks for one family per query: a VM whose
 *   release lacks the family is simply absent from that query, while the others still draw. A
 *   selector over several names (`{__name__=~"…_fails_total"}`) inside `rate()` cannot be used
 *   instead: Prometheus 2.x refuses the result ("vector cannot contain metrics with the same
 *   labelset") once the names are dropped. The failure panels therefore list one query per
 *   counter, and the counters are taken from the project's own families (`prometheusFamilies`),
 *   never typed here.
 * - `vmm-metrics serve`'s own families are labelled `source`; they are joined to the `vm` label
 *   through `vmm_metrics_serve_source_info`.
 * - Counters are shown as rates over `$__rate_interval`; latencies as the average of an aggregate
 *   (`rate(…_agg_seconds_total) / rate(…_count_total)`), which every release since v1.7 writes.
 */
import { FirecrackerMetrics } from '../../src/document/firecracker-metrics.js';
import { prometheusFamilies } from '../../src/export/names.js';

/** The import input every panel and variable reads from. */
export const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' } as const;

/** Grafana's unit ids used here: events/s, bytes/s (IEC), bytes (IEC), seconds, plain counts. */
export type Unit = 'ops' | 'binBps' | 'bytes' | 's' | 'short';

export interface PanelQuery {
  readonly expr: string;
  readonly legend: string;
}

export interface PanelSpec {
  readonly type: 'timeseries' | 'stat' | 'bargauge';
  readonly title: string;
  readonly description: string;
  readonly unit: Unit;
  readonly queries: readonly PanelQuery[];
  /** Grid columns out of 24. @default 8 */
  readonly width?: number;
  /** Values below 0 cannot happen (rates, sizes). @default true for `ops`, `binBps`, `s` */
  readonly nonNegative?: boolean;
}

export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

const VM = 'vm=~"$vm"';
const DEVICE = 'vm=~"$vm", device=~"$device"';
const RATE = '$__rate_interval';

/** `sum by (<by>) (rate(<name>{<selector>}[$__rate_interval]))` */
function rate(name: string, by: string, selector: string): string {
  return `sum by (${by}) (rate(${name}{${selector}}[${RATE}]))`;
}

/** The average duration of an aggregate: its seconds per second over its events per second. */
function average(aggregate: string, events: string, by: string, selector: string): string {
  return `${rate(aggregate, by, selector)} / ${rate(events, by, selector)}`;
}

/** A `serve` family labelled `source`, given the `vm` of its source. */
function perVm(expr: string): string {
  return `${expr} * on (job, instance, source) group_left (vm) vmm_metrics_serve_source_info{${VM}}`;
}

const FAMILIES = prometheusFamilies(new FirecrackerMetrics().entries).map((family) => family.name);

/** Each family `^<prefix>(.+)<suffix>$` of the project's document, with what `(.+)` matched. */
function familiesLike(prefix: string, suffix: string, except: readonly string[] = []): { name: string; token: string }[] {
  return FAMILIES.filter((name) => name.startsWith(prefix) && name.endsWith(suffix) && !except.includes(name)).map((name) => ({
    name,
    token: name.slice(prefix.length, name.length - suffix.length),
  }));
}

function failures(group: 'block' | 'net', device: boolean, except: readonly string[] = []): PanelQuery[] {
  const by = device ? 'vm, device' : 'vm';
  return familiesLike(`firecracker_${group}_`, '_total', except)
    .filter(({ token }) => token.endsWith('_fails'))
    .map(({ name, token }) => ({ expr: rate(name, by, device ? DEVICE : VM), legend: `${device ? '{{vm}} {{device}}' : '{{vm}}'} ${token}` }));
}

/** The signals whose handler ends the VMM (Firecracker's `signal_handler.rs`); SIGPIPE is only counted. */
export const FATAL_SIGNALS = ['sigbus', 'sigsegv', 'sigxfsz', 'sigxcpu', 'sighup', 'sigill'] as const;
const FATAL_SIGNAL_NAMES = `firecracker_signals_(${FATAL_SIGNALS.join('|')})`;

const fleet: RowSpec = {
  title: 'Fleet',
  panels: [
    {
      type: 'stat',
      title: 'VMs served',
      description: 'Metrics files and named pipes vmm-metrics serve follows (vmm_metrics_serve_source_info), for the VMs selected.',
      unit: 'short',
      width: 4,
      queries: [{ expr: `count(vmm_metrics_serve_source_info{${VM}})`, legend: 'VMs' }],
    },
    {
      type: 'bargauge',
      title: 'Their releases',
      description: "VMs by the Firecracker release their lines fit, as vmm-metrics serve says in vmm_metrics_serve_source_info's release label.",
      unit: 'short',
      width: 6,
      queries: [{ expr: `count by (release) (vmm_metrics_serve_source_info{${VM}})`, legend: '{{release}}' }],
    },
    {
      type: 'timeseries',
      title: 'Metrics lines per second',
      description: 'Valid lines vmm-metrics serve read from each VM and folded into its totals. Firecracker writes one a minute unless told otherwise (flush_metrics).',
      unit: 'ops',
      width: 7,
      queries: [{ expr: `sum by (vm) (${perVm(`rate(vmm_metrics_serve_lines_total[${RATE}])`)})`, legend: '{{vm}}' }],
    },
    {
      type: 'timeseries',
      title: 'Seconds since the last line',
      description: "Age of each VM's last valid line (its utc_timestamp_ms): past a few flush periods, its metrics stopped arriving.",
      unit: 's',
      width: 7,
      queries: [{ expr: `max by (vm) (${perVm('(time() - vmm_metrics_serve_last_line_timestamp_seconds)')})`, legend: '{{vm}}' }],
    },
    {
      type: 'timeseries',
      title: 'Invalid lines and read errors per second',
      description: 'Lines vmm-metrics serve skipped (torn, malformed, too long: their counts are lost), and failures to open or read a path (retried). Its stderr says why.',
      unit: 'ops',
      width: 12,
      queries: [
        { expr: `sum by (vm) (${perVm(`rate(vmm_metrics_serve_invalid_lines_total[${RATE}])`)})`, legend: '{{vm}} invalid lines' },
        { expr: `sum by (vm) (${perVm(`rate(vmm_metrics_serve_errors_total[${RATE}])`)})`, legend: '{{vm}} read errors' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Missed metrics lines per second',
      description: 'Flushes whose line the VMM could not write (logger.missed_metrics_count: a full pipe, a reader gone) or build (logger.metrics_fails).',
      unit: 'ops',
      width: 12,
      queries: [
        { expr: rate('firecracker_logger_missed_metrics_count_total', 'vm', VM), legend: '{{vm}} missed' },
        { expr: rate('firecracker_logger_metrics_fails_total', 'vm', VM), legend: '{{vm}} failed' },
      ],
    },
  ],
};

const balloon: RowSpec = {
  title: 'Balloon',
  panels: [
    {
      type: 'timeseries',
      title: 'Inflations and deflations per second',
      description: "Inflate- and deflate-queue notifications the balloon device processed, however many pages each carried.",
      unit: 'ops',
      queries: [
        { expr: rate('firecracker_balloon_inflate_count_total', 'vm', VM), legend: '{{vm}} inflate' },
        { expr: rate('firecracker_balloon_deflate_count_total', 'vm', VM), legend: '{{vm}} deflate' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Bytes given back per second',
      description: 'Guest memory the guest gave back by free page reporting and by free page hinting (the ranges it named; the host memory that frees can be less). Firecracker v1.14 and later.',
      unit: 'binBps',
      queries: [
        { expr: rate('firecracker_balloon_free_page_report_freed_bytes_total', 'vm', VM), legend: '{{vm}} reporting' },
        { expr: rate('firecracker_balloon_free_page_hint_freed_bytes_total', 'vm', VM), legend: '{{vm}} hinting' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Statistics updates and failures per second',
      description: 'Statistics the guest driver sent, and those the device could not read (an unknown tag).',
      unit: 'ops',
      queries: [
        { expr: rate('firecracker_balloon_stats_updates_count_total', 'vm', VM), legend: '{{vm}} updates' },
        { expr: rate('firecracker_balloon_stats_update_fails_total', 'vm', VM), legend: '{{vm}} failures' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Balloon size and target',
      description: "The size the host asked for and the size the guest's driver says the balloon holds. Firecracker gives these through its API, not its metrics: only a VMM that exposes them (npm start -- --serve) draws here.",
      unit: 'bytes',
      queries: [
        { expr: `sum by (vm) (firecracker_balloon_actual_bytes{${VM}})`, legend: '{{vm}} actual' },
        { expr: `sum by (vm) (firecracker_balloon_target_bytes{${VM}})`, legend: '{{vm}} target' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Distance to target',
      description: 'Target minus actual size: positive while the balloon inflates, negative while it deflates, 0 once the guest has done what was asked.',
      unit: 'bytes',
      nonNegative: false,
      queries: [{ expr: `sum by (vm) (firecracker_balloon_target_bytes{${VM}} - firecracker_balloon_actual_bytes{${VM}})`, legend: '{{vm}}' }],
    },
    {
      type: 'timeseries',
      title: 'Balloon failures per second',
      description: "Failures of the balloon device: activation, event handling, free page reporting and hinting (statistics failures are beside the updates).",
      unit: 'ops',
      queries: familiesLike('firecracker_balloon_', '_total', ['firecracker_balloon_stats_update_fails_total'])
        .filter(({ token }) => token.endsWith('_fails'))
        .map(({ name, token }) => ({ expr: rate(name, 'vm', VM), legend: `{{vm}} ${token}` })),
    },
  ],
};

const block: RowSpec = {
  title: 'Block devices',
  panels: [
    {
      type: 'timeseries',
      title: 'Block bytes per second',
      description: 'Bytes read from and written to each drive.',
      unit: 'binBps',
      width: 6,
      queries: [
        { expr: rate('firecracker_block_read_bytes_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} read' },
        { expr: rate('firecracker_block_write_bytes_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} write' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Block requests per second',
      description: 'Read, write and flush requests each drive completed.',
      unit: 'ops',
      width: 6,
      queries: [
        { expr: rate('firecracker_block_read_count_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} read' },
        { expr: rate('firecracker_block_write_count_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} write' },
        { expr: rate('firecracker_block_flush_count_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} flush' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Block average latency',
      description: 'Time the VMM spent on a read or a write (read_agg and write_agg, Firecracker v1.7 and later) over the requests completed.',
      unit: 's',
      width: 6,
      queries: [
        { expr: average('firecracker_block_read_agg_seconds_total', 'firecracker_block_read_count_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} read' },
        { expr: average('firecracker_block_write_agg_seconds_total', 'firecracker_block_write_count_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} write' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Block failures per second',
      description: "Each drive's failure counters.",
      unit: 'ops',
      width: 6,
      queries: failures('block', true),
    },
  ],
};

const net: RowSpec = {
  title: 'Network devices',
  panels: [
    {
      type: 'timeseries',
      title: 'Network bytes per second',
      description: 'Bytes each interface received and sent.',
      unit: 'binBps',
      width: 6,
      queries: [
        { expr: rate('firecracker_net_rx_bytes_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} rx' },
        { expr: rate('firecracker_net_tx_bytes_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} tx' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Network frames per second',
      description: 'Frames each interface received and sent.',
      unit: 'ops',
      width: 6,
      queries: [
        { expr: rate('firecracker_net_rx_packets_count_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} rx' },
        { expr: rate('firecracker_net_tx_packets_count_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}} tx' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Network average TAP write time',
      description: 'Time the VMM spent writing a frame to the TAP device (tap_write_agg, Firecracker v1.7 and later) over the frames sent.',
      unit: 's',
      width: 6,
      queries: [{ expr: average('firecracker_net_tap_write_agg_seconds_total', 'firecracker_net_tx_packets_count_total', 'vm, device', DEVICE), legend: '{{vm}} {{device}}' }],
    },
    {
      type: 'timeseries',
      title: 'Network failures per second',
      description: "Each interface's failure counters.",
      unit: 'ops',
      width: 6,
      queries: failures('net', true),
    },
  ],
};

const VCPU_EXITS = ['io_in', 'io_out', 'mmio_read', 'mmio_write'] as const;

const vcpu: RowSpec = {
  title: 'vCPU exits',
  panels: [
    {
      type: 'timeseries',
      title: 'vCPU exits per second',
      description: 'KVM exits the vCPUs handled, by kind (port I/O exits are x86 only).',
      unit: 'ops',
      queries: VCPU_EXITS.map((exit) => ({ expr: rate(`firecracker_vcpu_exit_${exit}_total`, 'vm', VM), legend: `{{vm}} ${exit}` })),
    },
    {
      type: 'timeseries',
      title: 'vCPU average exit handling time',
      description: 'Time spent handling an exit, by kind (the exit aggregates, Firecracker v1.7 and later).',
      unit: 's',
      queries: VCPU_EXITS.map((exit) => ({
        expr: average(`firecracker_vcpu_exit_${exit}_agg_seconds_total`, `firecracker_vcpu_exit_${exit}_total`, 'vm', VM),
        legend: `{{vm}} ${exit}`,
      })),
    },
    {
      type: 'timeseries',
      title: 'vCPU failures per second',
      description: 'Errors of the vCPU run loop.',
      unit: 'ops',
      queries: [{ expr: rate('firecracker_vcpu_failures_total', 'vm', VM), legend: '{{vm}}' }],
    },
  ],
};

const api: RowSpec = {
  title: 'API request failures',
  panels: [
    {
      type: 'timeseries',
      title: 'API request failures per second',
      description: 'Requests to the VMM\'s API that failed, by method and resource.',
      unit: 'ops',
      width: 24,
      queries: ['put', 'patch'].flatMap((method) =>
        familiesLike(`firecracker_${method}_api_requests_`, '_fails_total').map(({ name, token }) => ({
          expr: rate(name, 'vm', VM),
          legend: `{{vm}} ${method.toUpperCase()} ${token}`,
        })),
      ),
    },
  ],
};

const faults: RowSpec = {
  title: 'Seccomp faults and fatal signals',
  panels: [
    {
      type: 'stat',
      title: 'VMs whose VMM died',
      description: 'VMs whose VMM a seccomp fault, a fatal signal or a panic stopped, while vmm-metrics serve still serves their last line.',
      unit: 'short',
      width: 6,
      queries: [
        {
          // An aggregation may take several names at once; a function of them (max_over_time) may not.
          expr: `count(max by (vm) ({__name__=~"firecracker_seccomp_num_faults|firecracker_vmm_panics|${FATAL_SIGNAL_NAMES}", ${VM}}) > 0) or vector(0)`,
          legend: 'VMs',
        },
      ],
    },
    {
      type: 'timeseries',
      title: 'Seccomp faults and panics',
      description: 'A syscall the seccomp filter does not allow ends the VMM (seccomp.num_faults, set to 1 as it exits); so does a panic (vmm.panic_count).',
      unit: 'short',
      width: 9,
      queries: [
        { expr: `max by (vm) (firecracker_seccomp_num_faults{${VM}})`, legend: '{{vm}} seccomp fault' },
        { expr: `max by (vm) (firecracker_vmm_panics{${VM}})`, legend: '{{vm}} panic' },
      ],
    },
    {
      type: 'timeseries',
      title: 'Fatal signals',
      description: "Signals whose handler ends the VMM, each set to 1 as it exits: SIGBUS, SIGSEGV, SIGXFSZ, SIGXCPU, SIGHUP, SIGILL.",
      unit: 'short',
      width: 9,
      queries: [
        {
          expr: `max by (vm, signal) (label_replace({__name__=~"${FATAL_SIGNAL_NAMES}", ${VM}}, "signal", "$1", "__name__", "firecracker_signals_(.+)"))`,
          legend: '{{vm}} {{signal}}',
        },
      ],
    },
  ],
};

/** The rows, top-down, as an operator reads them. */
export const ROWS: readonly RowSpec[] = [fleet, balloon, block, net, vcpu, api, faults];

const PANEL_HEIGHT = 8;
const GRID_WIDTH = 24;

/** The dashboard as Grafana's JSON model (schema 39, Grafana 10 and later). */
export function buildDashboard(): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({ type: 'row', id: id++, title: row.title, collapsed: false, gridPos: { h: 1, w: GRID_WIDTH, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    for (const panel of row.panels) {
      const w = panel.width ?? 8;
      if (x + w > GRID_WIDTH) {
        x = 0;
        y += PANEL_HEIGHT;
      }
      panels.push(panelJson(panel, id++, { h: PANEL_HEIGHT, w, x, y }));
      x += w;
    }
    y += PANEL_HEIGHT;
  }
  return {
    __inputs: [
      {
        name: 'DS_PROMETHEUS',
        label: 'Prometheus',
        description: 'The Prometheus that scrapes vmm-metrics serve',
        type: 'datasource',
        pluginId: 'prometheus',
        pluginName: 'Prometheus',
      },
    ],
    __elements: {},
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
      { type: 'panel', id: 'bargauge', name: 'Bar gauge', version: '' },
      { type: 'panel', id: 'stat', name: 'Stat', version: '' },
      { type: 'panel', id: 'timeseries', name: 'Time series', version: '' },
    ],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    description:
      "Firecracker VMs' metrics as vmm-metrics serve gives them: the fleet, the balloon, block and network devices, vCPU exits, API failures, seccomp faults and fatal signals. Generated by scripts/contrib/dashboard.ts in the vmm-metrics repository.",
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [],
    panels,
    refresh: '30s',
    schemaVersion: 39,
    tags: ['firecracker', 'vmm-metrics'],
    templating: {
      list: [
        variable('vm', 'VM', 'label_values(firecracker_logger_missed_metrics_count_total, vm)'),
        variable('device', 'Device', 'label_values({__name__=~"firecracker_(block_read|net_rx)_bytes_total", vm=~"$vm"}, device)'),
      ],
    },
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    timezone: '',
    title: 'Firecracker fleet (vmm-metrics)',
    uid: 'vmm-metrics-fleet',
    version: 1,
    weekStart: '',
  };
}

/** A multi-value variable from the series, "All" being `.*` (so that it also matches a series without the label). */
function variable(name: string, label: string, query: string): Record<string, unknown> {
  return {
    type: 'query',
    name,
    label,
    datasource: DATASOURCE,
    definition: query,
    query: { query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.*',
    current: {},
    options: [],
    regex: '',
    sort: 1,
    hide: 0,
    skipUrlSync: false,
  };
}

function panelJson(panel: PanelSpec, id: number, gridPos: { h: number; w: number; x: number; y: number }): Record<string, unknown> {
  const nonNegative = panel.nonNegative ?? ['ops', 'binBps', 's'].includes(panel.unit);
  const instant = panel.type !== 'timeseries';
  return {
    type: panel.type,
    id,
    title: panel.title,
    description: panel.description,
    gridPos,
    datasource: DATASOURCE,
    fieldConfig: {
      defaults: {
        unit: panel.unit,
        ...(nonNegative ? { min: 0 } : {}),
        ...(panel.type === 'timeseries'
          ? { custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false } }
          : { color: { mode: 'thresholds' }, thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }] } }),
      },
      overrides: [],
    },
    options: optionsOf(panel.type),
    targets: panel.queries.map((query, index) => ({
      datasource: DATASOURCE,
      expr: query.expr,
      legendFormat: query.legend,
      refId: String.fromCharCode(65 + index),
      range: !instant,
      instant,
    })),
  };
}

function optionsOf(type: PanelSpec['type']): Record<string, unknown> {
  const reduceOptions = { calcs: ['lastNotNull'], fields: '', values: false };
  switch (type) {
    case 'timeseries':
      return { legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] }, tooltip: { mode: 'multi', sort: 'desc' } };
    case 'stat':
      return { reduceOptions, colorMode: 'value', graphMode: 'area', justifyMode: 'auto', orientation: 'auto', textMode: 'auto' };
    case 'bargauge':
      return { reduceOptions, displayMode: 'basic', orientation: 'horizontal', showUnfilled: true, minVizHeight: 10, minVizWidth: 0 };
  }
}

/** The file's text: the dashboard as indented JSON. */
export function dashboardText(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

/** Where the dashboard is committed, from the repository's root. */
export const DASHBOARD_FILE = 'contrib/grafana/firecracker-fleet.json';
