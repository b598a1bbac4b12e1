/**
 * The Grafana dashboard's structure: the file is what its script builds, it imports as it is
 * (one Prometheus input, used everywhere), its rows come in the order, every panel has a
 * unit that fits its queries and legends by VM and device, and the query helpers of the
 * Prometheus test do what they say. What the queries return is test/contrib/fleet-prometheus.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DATASOURCE, dashboardText } from '../../scripts/contrib/dashboard.js';
import { DASHBOARD, DASHBOARD_TEXT, PANELS, labelValuesQuery } from './dashboard.js';
import { substitute, type VariableValues } from '../../scripts/contrib/variables.js';
import { expandAlternation, namedMetrics } from './promql.js';

const ALL: VariableValues = { chosen: { vm: 'All', device: 'All' }, allValues: { vm: '.*', device: '.*' }, scrapeIntervalS: 15, intervalS: 15, rangeS: 3600 };

describe('the dashboard file', () => {
  test('is what scripts/contrib/dashboard.ts builds (npm run build:test && node build/scripts/contrib/write-dashboard.js)', () => {
    assert.equal(DASHBOARD_TEXT, dashboardText());
  });

  test('asks for one Prometheus data source at import, and every panel, query and variable uses it', () => {
    assert.deepEqual(
      DASHBOARD.__inputs.map(({ name, type, pluginId }) => ({ name, type, pluginId })),
      [{ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }],
    );
    for (const panel of PANELS) {
      assert.deepEqual(panel.datasource, DATASOURCE, panel.title);
      for (const target of panel.targets ?? []) assert.deepEqual(target.datasource, DATASOURCE, `${panel.title} ${target.refId}`);
    }
    for (const variable of DASHBOARD.templating.list) assert.deepEqual(variable.datasource, DATASOURCE, variable.name);
    // No other input or data source is referred to anywhere.
    assert.deepEqual([...new Set(DASHBOARD_TEXT.match(/\$\{[^}]*\}/g))], ['${DS_PROMETHEUS}']);
  });

  test('has the variables vm and device from the series, multi-valued, "All" matching every value', () => {
    assert.deepEqual(
      DASHBOARD.templating.list.map((v) => [v.name, v.type, v.includeAll, v.multi, v.allValue, labelValuesQuery(v).label]),
      [
        ['vm', 'query', true, true, '.*', 'vm'],
        ['device', 'query', true, true, '.*', 'device'],
      ],
    );
  });

  test("has the issue's rows, top-down", () => {
    const rows = DASHBOARD.panels.filter((panel) => panel.type === 'row');
    assert.deepEqual(
      rows.map((row) => row.title),
      ['Fleet', 'Balloon', 'Block devices', 'Network devices', 'vCPU exits', 'API request failures', 'Seccomp faults and fatal signals'],
    );
    // Rows are full width, in order, each followed by its panels.
    const ys = DASHBOARD.panels.map((panel) => panel.gridPos.y);
    assert.deepEqual(ys, [...ys].sort((a, b) => a - b));
    for (const row of rows) assert.deepEqual([row.gridPos.x, row.gridPos.w, row.gridPos.h], [0, 24, 1]);
  });

  test('its panels fit the grid without overlapping, with ids and refIds unique', () => {
    const cells = new Map<string, string>();
    for (const panel of DASHBOARD.panels) {
      const { x, y, w, h } = panel.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `${panel.title}: columns ${x}..${x + w}`);
      for (let row = y; row < y + h; row++) {
        for (let column = x; column < x + w; column++) {
          const taken = cells.get(`${row},${column}`);
          assert.equal(taken, undefined, `${panel.title} overlaps ${taken ?? ''}`);
          cells.set(`${row},${column}`, panel.title);
        }
      }
      const refIds = (panel.targets ?? []).map((target) => target.refId);
      assert.equal(new Set(refIds).size, refIds.length, panel.title);
    }
    const ids = DASHBOARD.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('every panel has a unit, and the unit is what its queries compute', () => {
    for (const panel of PANELS) {
      const unit = panel.fieldConfig?.defaults.unit;
      assert.ok(unit !== undefined && unit !== '', `${panel.title} has no unit`);
      const computed = new Set((panel.targets ?? []).map((target) => unitOf(target.expr)));
      assert.deepEqual([...computed], [unit], `${panel.title}: unit ${unit}, queries computing ${[...computed].join(', ')}`);
    }
  });

  test('every query draws a legend by vm, and by device where it selects devices', () => {
    for (const panel of PANELS) {
      assert.ok((panel.targets ?? []).length > 0, `${panel.title} has no query`);
      for (const target of panel.targets ?? []) {
        const where = `${panel.title} ${target.refId}`;
        assert.notEqual(target.legendFormat, '', where);
        if (panel.type === 'timeseries') assert.match(target.legendFormat, /\{\{vm\}\}/, where);
        if (target.expr.includes('$device')) assert.match(target.legendFormat, /\{\{device\}\}/, where);
        // A legend's labels are the ones the query keeps: those of its outer "by (…)".
        const kept = /^\w+ by \(([^)]*)\)/.exec(target.expr)?.[1]?.split(/,\s*/) ?? [];
        for (const [, label] of target.legendFormat.matchAll(/\{\{(\w+)\}\}/g)) assert.ok(kept.includes(label ?? ''), `${where}: {{${label ?? ''}}} is not kept by ${target.expr}`);
        // Every variable it uses is one the dashboard sets.
        assert.doesNotThrow(() => substitute(target.expr, ALL), where);
      }
    }
  });
});

/** The unit a query computes: rates of bytes, other rates, seconds, byte sizes, or counts. */
function unitOf(expr: string): string {
  const { names } = namedMetrics(expr);
  if (expr.includes('time() -') || (expr.includes(' / ') && names.some((name) => name.endsWith('_agg_seconds_total')))) return 's';
  if (expr.includes('rate(')) return names.every((name) => name.endsWith('_bytes_total')) ? 'binBps' : 'ops';
  if (names.length > 0 && names.every((name) => name.endsWith('_bytes'))) return 'bytes';
  return 'short';
}

describe('the PromQL helpers of the contrib tests', () => {
  test('namedMetrics: selectors named, not functions, labels, strings, keywords or durations', () => {
    assert.deepEqual(
      namedMetrics('sum by (vm) (rate(a_total{vm=~"$vm"}[$__rate_interval]) * on (job, source) group_left (vm) b_info{vm=~"x"}) / c offset 5m > bool 0'),
      { names: ['a_total', 'b_info', 'c'], patterns: [] },
    );
    assert.deepEqual(namedMetrics('max by (vm, signal) (label_replace({__name__=~"s_(a|b)", vm=~"$vm"}, "signal", "$1", "__name__", "s_(.+)")) or vector(0)'), {
      names: [],
      patterns: ['s_(a|b)'],
    });
  });

  test('expandAlternation: literals, alternatives and groups; undefined past them', () => {
    assert.deepEqual(expandAlternation('x|s_(a|b)_t'), ['x', 's_a_t', 's_b_t']);
    assert.deepEqual(expandAlternation('a_(b|c(d|e))'), ['a_b', 'a_cd', 'a_ce']);
    assert.equal(expandAlternation('a_.+_fails_total'), undefined);
  });

  test("substitute: Grafana's multi-value formatting, All, and the built-in intervals", () => {
    const values: VariableValues = { ...ALL, chosen: { vm: ['vm-1', 'a.b'], device: 'All' }, scrapeIntervalS: 1, intervalS: 2, rangeS: 30 };
    assert.equal(
      substitute('rate(x{vm=~"$vm", device=~"${device}"}[$__rate_interval]) $__interval $__range', values),
      'rate(x{vm=~"(vm-1|a\\\\.b)", device=~".*"}[4s]) 2s 30s',
    );
    assert.equal(substitute('x[$__rate_interval]', { ...values, intervalS: 15 }), 'x[16s]');
    assert.throws(() => substitute('x{a="$nobody"}', values), /no value for the variable \$nobody/);
    // label_replace's capture group is no variable: Grafana leaves it, and so does substitute.
    assert.equal(substitute('label_replace(x, "s", "$1", "__name__", "(.+)")', values), 'label_replace(x, "s", "$1", "__name__", "(.+)")');
  });
});
