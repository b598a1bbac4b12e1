/**
 * The recording and alerting rules of contrib/prometheus/: `promtool check rules` takes them,
 * their unit tests pass (`promtool test rules`), every alert has a severity and says what to do,
 * and the unit tests cover every alert firing and not firing and every recording — so well that
 * breaking any one rule makes them fail, which is tried here rule by rule.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { PROMTOOL_BIN, promtoolOrSkip } from '../support/prometheus.js';
import { namedMetrics } from './promql.js';
import { RULES_DIR, RULE_FILES, RULE_TEST_FILES, allRules, readRuleFile, readRuleTestFile } from './rules.js';

async function promtool(args: readonly string[], cwd: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(PROMTOOL_BIN ?? 'promtool', args, { cwd, encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, output: `${stdout}${stderr}` });
    });
  });
}

const ALERTS = allRules().filter((rule) => rule.alert !== undefined);
const RECORDINGS = allRules().filter((rule) => rule.record !== undefined);
const TESTS = RULE_TEST_FILES.flatMap((file) => readRuleTestFile(file).tests);

describe('promtool', () => {
  test('check rules: every rule file is valid, and holds the rules read here', async (t) => {
    if (!promtoolOrSkip(t)) return;
    for (const file of RULE_FILES) {
      const { status, output } = await promtool(['check', 'rules', file], RULES_DIR);
      assert.equal(status, 0, output);
      const count = readRuleFile(file).groups.reduce((sum, group) => sum + group.rules.length, 0);
      assert.match(output, new RegExp(`SUCCESS: ${count} rules found`), output);
    }
  });

  test('test rules: the unit tests pass', async (t) => {
    if (!promtoolOrSkip(t)) return;
    for (const file of RULE_TEST_FILES) {
      const { status, output } = await promtool(['test', 'rules', file], RULES_DIR);
      assert.equal(status, 0, output);
      assert.match(output, /SUCCESS/);
    }
  });

  test('test rules fails for each rule broken: every alert never firing, every recording recording 0', async (t) => {
    if (!promtoolOrSkip(t)) return;
    const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-rules-'));
    try {
      cpSync(RULES_DIR, dir, { recursive: true });
      // Every rule of a file broken at once: promtool runs every case and names each one that
      // fails, so one run shows that each rule's own cases catch it.
      for (const [f, ruleFile] of RULE_FILES.entries()) {
        const rules = readRuleFile(ruleFile);
        const broken = { groups: rules.groups.map((group) => ({ ...group, rules: group.rules.map((rule) => ({ ...rule, expr: rule.alert === undefined ? 'vector(0)' : 'vector(1) < 0' })) })) };
        writeFileSync(join(dir, ruleFile), stringify(broken));
        const testFile = RULE_TEST_FILES[f] as string;
        const { status, output } = await promtool(['test', 'rules', testFile], dir);
        assert.notEqual(status, 0, `every rule of ${ruleFile} broken, yet ${testFile} passes`);
        for (const rule of rules.groups.flatMap((group) => group.rules)) {
          const name = rule.alert ?? rule.record ?? '';
          assert.ok(output.includes(rule.alert === undefined ? `expr: "${name}"` : `alertname: ${name},`), `${name} broken, and no case of ${testFile} fails for it:\n${output}`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the rules', () => {
  test('every alert has a severity, a summary and a description that says what to do', () => {
    assert.ok(ALERTS.length >= 10, `${ALERTS.length} alerts`);
    for (const alert of ALERTS) {
      assert.ok(['critical', 'warning'].includes(alert.labels?.severity ?? ''), `${alert.alert ?? ''}: severity ${alert.labels?.severity ?? 'none'}`);
      assert.ok((alert.annotations?.summary ?? '') !== '', `${alert.alert ?? ''}: no summary`);
      // What to do: an imperative or a way out ("Check …", "report it …", "remove …").
      assert.match(alert.annotations?.description ?? '', /\b(check|read|report|remove|look|lower|turn)\b/i, `${alert.alert ?? ''}: the description says what to do`);
    }
  });

  test('the alerts the issue asks for are there', () => {
    const names = new Set(ALERTS.map((alert) => alert.alert));
    for (const name of [
      'FirecrackerMetricsStale',
      'FirecrackerMissedMetricsLines',
      'FirecrackerBalloonStatsFailing',
      'FirecrackerBalloonFarFromTarget',
      'FirecrackerDeviceFailing',
      'FirecrackerSeccompFault',
      'FirecrackerFatalSignal',
      'VmmMetricsServeInvalidLines',
    ]) {
      assert.ok(names.has(name), name);
    }
  });

  test('each alert is tested firing, and not firing with its series there', () => {
    for (const alert of ALERTS) {
      const name = alert.alert ?? '';
      const named = namedMetrics(alert.expr);
      const cases = TESTS.flatMap((group) =>
        (group.alert_rule_test ?? [])
          .filter((c) => c.alertname === name)
          .map((c) => ({ fires: (c.exp_alerts ?? []).length > 0, inputs: group.input_series.map((s) => s.series.split('{')[0] ?? '') })),
      );
      assert.ok(cases.some((c) => c.fires), `${name} is never tested firing`);
      const quiet = cases.filter((c) => !c.fires);
      assert.ok(quiet.length > 0, `${name} is never tested not firing`);
      // Not firing must mean something: the alert's own series are among the inputs.
      for (const c of quiet) {
        const fed = c.inputs.some((input) => named.names.includes(input) || named.patterns.some((p) => new RegExp(`^(?:${p})$`).test(input)));
        assert.ok(fed, `${name}: a not-firing case without the series it reads`);
      }
    }
  });

  test('each recording is tested', () => {
    const tested = new Set(TESTS.flatMap((group) => (group.promql_expr_test ?? []).map((c) => c.expr.trim())));
    for (const recording of RECORDINGS) assert.ok(tested.has(recording.record ?? ''), `${recording.record ?? ''} is not tested`);
  });
});
