/**
 * The drawing of the README's picture (scripts/contrib/picture-chart.ts), from series made here:
 * the SVG holds every panel's title and legend, in units scaled to the values, and resvg turns it
 * into a PNG of the row's size. The picture itself comes from a real session
 * (scripts/contrib/dashboard-picture.ts), too long a run for `npm test`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { rowPng, rowSvg, scaleFor, textWidth, type ChartPanel } from '../../scripts/contrib/picture-chart.js';

const ramp = (slope: number): (readonly [number, number])[] => Array.from({ length: 31 }, (_, t) => [t, slope * t] as const);

const PANELS: ChartPanel[] = [
  {
    title: 'Balloon size and target',
    unit: 'bytes',
    gridPos: { x: 0, y: 0, w: 12, h: 8 },
    series: [
      { name: 'vm-1 actual', points: ramp(8 * 2 ** 20) },
      { name: 'vm-1 target', points: ramp(9 * 2 ** 20) },
    ],
  },
  {
    title: 'Balloon failures per second',
    unit: 'ops',
    gridPos: { x: 12, y: 0, w: 12, h: 8 },
    series: ['activate_fails', 'event_fails', 'free_page_report_fails', 'free_page_hint_fails', 'a_longer_counter_name_fails'].map((name) => ({ name: `vm-1 ${name}`, points: ramp(0) })),
  },
];

describe('the picture of a row', () => {
  test("the SVG has the row's and each panel's title, each legend, and axes in the values' unit", () => {
    const svg = rowSvg({ title: 'Balloon', subtitle: 'drawn here', durationS: 30, panels: PANELS, width: 1200 });
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="1200" height="\d+"/);
    for (const text of ['Balloon', 'drawn here', 'Balloon size and target', 'Balloon failures per second', 'vm-1 actual', 'vm-1 free_page_hint_fails', '30 s']) assert.ok(svg.includes(`>${text}<`), text);
    // 9 MiB/s for 30 s: up to 270 MiB, drawn in MiB.
    assert.match(svg, />\d+ MiB</);
    assert.match(svg, />0 ops\/s</);
  });

  test('a PNG of the row, as wide as asked', () => {
    const png = rowPng({ title: 'Balloon', subtitle: 'drawn here', durationS: 30, panels: PANELS, width: 1200 });
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.readUInt32BE(16), 1200);
  });

  test('text widths are DejaVu Sans advances (m is wider than i; twice the text, twice the width)', () => {
    assert.ok(textWidth('m', 100) > 3 * textWidth('i', 100));
    assert.ok(Math.abs(textWidth('vm-1 vm-1', 11) - 2 * textWidth('vm-1', 11) - textWidth(' ', 11)) < 1e-9);
    assert.ok(textWidth('bold', 12, true) > textWidth('bold', 12));
  });

  test('units: IEC bytes, per second, seconds down to µs', () => {
    assert.deepEqual(scaleFor('bytes', 300 * 2 ** 20), { divisor: 2 ** 20, label: 'MiB' });
    assert.deepEqual(scaleFor('binBps', 1000), { divisor: 1, label: 'B/s' });
    assert.deepEqual(scaleFor('s', 0.0004), { divisor: 1e-6, label: 'µs' });
    assert.deepEqual(scaleFor('s', 0.02), { divisor: 1e-3, label: 'ms' });
  });
});

test("the README shows the committed picture and says who drew it", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const [, path] = /!\[[^\]]*\]\((docs\/images\/[^)]+\.png)\)/.exec(readme) ?? [];
  assert.equal(path, 'docs/images/dashboard-balloon.png');
  const png = readFileSync(new URL(`../../../${path}`, import.meta.url));
  assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
  assert.match(readme, /drawn by\s+`scripts\/contrib\/dashboard-picture\.ts`[^*]*not by Grafana/);
});
