/**
 * The committed Grafana dashboard, read as Grafana reads it: its panels, their queries and its
 * variables, for the contrib tests.
 */
import { readFileSync } from 'node:fs';
import { DASHBOARD_FILE } from '../../scripts/contrib/dashboard.js';

export interface DashboardTarget {
  readonly expr: string;
  readonly legendFormat: string;
  readonly refId: string;
  readonly datasource: unknown;
}

export interface DashboardPanel {
  readonly type: string;
  readonly id: number;
  readonly title: string;
  readonly gridPos: { readonly h: number; readonly w: number; readonly x: number; readonly y: number };
  readonly datasource?: unknown;
  readonly fieldConfig?: { readonly defaults: { readonly unit?: string } };
  readonly targets?: readonly DashboardTarget[];
}

export interface DashboardVariable {
  readonly type: string;
  readonly name: string;
  readonly definition: string;
  readonly datasource: unknown;
  readonly includeAll: boolean;
  readonly multi: boolean;
  readonly allValue: string;
}

export interface Dashboard {
  readonly __inputs: readonly { readonly name: string; readonly type: string; readonly pluginId: string }[];
  readonly panels: readonly DashboardPanel[];
  readonly templating: { readonly list: readonly DashboardVariable[] };
}

/** The committed file's text, from the compiled test's place (build/test/contrib/). */
export const DASHBOARD_TEXT = readFileSync(new URL(`../../../${DASHBOARD_FILE}`, import.meta.url), 'utf8');

export const DASHBOARD = JSON.parse(DASHBOARD_TEXT) as Dashboard;

/** The panels that draw (every one but the rows). */
export const PANELS = DASHBOARD.panels.filter((panel) => panel.type !== 'row');

/** `label_values(<selector>, <label>)` of a variable's definition. */
export function labelValuesQuery(variable: DashboardVariable): { selector: string; label: string } {
  const found = /^label_values\((.+),\s*(\w+)\)$/.exec(variable.definition);
  if (found?.[1] === undefined || found[2] === undefined) throw new Error(`${variable.name}: not a label_values() query: ${variable.definition}`);
  return { selector: found[1], label: found[2] };
}
