/** Serve's own families: the table, docs/serve.md's table of them, and the exposition agree. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MetricsFleet } from '../../../src/export/serve/fleet.js';
import { SERVE_SELF_METRICS } from '../../../src/export/serve/self-metrics.js';

const SERVE_DOC = readFileSync(new URL('../../../../docs/serve.md', import.meta.url), 'utf8');

test("docs/serve.md's table lists each vmm_metrics_serve_* family of the table, in its order", () => {
  const rows = SERVE_DOC.split('\n').filter((line) => line.startsWith('| `vmm_metrics_serve_'));
  const documented = rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`(vmm_metrics_serve_\w+)/g)].map((m) => m[1]));
  assert.deepEqual(documented, SERVE_SELF_METRICS.map((family) => family.name));
});

test("an empty fleet's exposition is the table's families, each with its HELP and TYPE", async () => {
  const fleet = new MetricsFleet();
  try {
    const text = fleet.render();
    const headers = [...text.matchAll(/^# HELP (\S+) (.*)\n# TYPE \1 (counter|gauge)$/gm)].map(([, name, help, kind]) => ({ name, help, kind }));
    assert.deepEqual(headers, SERVE_SELF_METRICS.map(({ name, help, kind }) => ({ name, help, kind })));
    assert.match(text, /^vmm_metrics_serve_sources 0$/m);
    assert.match(text, /^vmm_metrics_serve_scrapes_total 1$/m);
  } finally {
    await fleet.close();
  }
});
