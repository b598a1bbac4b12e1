/**
 * The Prometheus rules of contrib/prometheus/, parsed, for the contrib tests.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** contrib/prometheus/, from the compiled test's place (build/test/contrib/). */
export const RULES_DIR = fileURLToPath(new URL('../../../contrib/prometheus/', import.meta.url));
export const RULE_FILES = ['vmm-metrics.rules.yml', 'vmm-metrics.alerts.yml'] as const;
export const RULE_TEST_FILES = ['tests/recording.test.yml', 'tests/alerts.test.yml'] as const;

export interface Rule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface RuleFile {
  readonly groups: readonly { readonly name: string; readonly rules: readonly Rule[] }[];
}

export interface RuleTestFile {
  readonly rule_files: readonly string[];
  readonly tests: readonly {
    readonly name?: string;
    readonly input_series: readonly { readonly series: string; readonly values: string }[];
    readonly alert_rule_test?: readonly { readonly eval_time: string; readonly alertname: string; readonly exp_alerts?: readonly unknown[] | null }[];
    readonly promql_expr_test?: readonly { readonly expr: string; readonly eval_time: string; readonly exp_samples?: readonly unknown[] }[];
  }[];
}

function readYaml(file: string): unknown {
  return parse(readFileSync(`${RULES_DIR}${file}`, 'utf8'));
}

export function readRuleFile(file: string): RuleFile {
  return readYaml(file) as RuleFile;
}

export function readRuleTestFile(file: string): RuleTestFile {
  return readYaml(file) as RuleTestFile;
}

/** Every rule of the rule files. */
export function allRules(): Rule[] {
  return RULE_FILES.flatMap((file) => readRuleFile(file).groups.flatMap((group) => group.rules));
}
