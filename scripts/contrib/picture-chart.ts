/**
 * A row of the dashboard drawn without Grafana: each panel's series as a line chart (Apache
 * ECharts, rendered to SVG on the server, no browser), the panels laid out on Grafana's grid, in
 * Grafana's dark colours, and the whole turned into a PNG by resvg.
 *
 * Values are scaled to one unit per panel before they are drawn (MiB, MiB/s, ms, …), so that the
 * axis shows round numbers of that unit, as Grafana's does. ECharts lays text out by its width,
 * which on a server it can only guess; here it is told the width resvg will draw, from Debian's
 * DejaVu Sans (fonts-dejavu-core), so that legends and labels do not run into each other.
 */
import { Resvg } from '@resvg/resvg-js';
import * as echarts from 'echarts';
import type { Unit } from './dashboard.js';

export interface ChartSeries {
  /** The legend: the query's legend format with the series' labels filled in. */
  readonly name: string;
  /** [seconds since the start, value] */
  readonly points: readonly (readonly [number, number])[];
}

export interface ChartPanel {
  readonly title: string;
  readonly unit: Unit;
  /** The panel's place on Grafana's grid (24 columns), its row's first line being y = 0. */
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly series: readonly ChartSeries[];
}

export interface RowPicture {
  /** The row's title, drawn as Grafana draws a row. */
  readonly title: string;
  /** A line under the row's title: where the data came from. */
  readonly subtitle: string;
  /** The x axis runs from 0 to this. */
  readonly durationS: number;
  readonly panels: readonly ChartPanel[];
  /** @default 1600 */
  readonly width?: number;
}

const FONT = 'DejaVu Sans';
/** Debian's fonts-dejavu-core: the one font the picture uses, regular and bold. */
const FONT_FILES = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'];
const RESVG_FONTS = { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: FONT, sansSerifFamily: FONT };
const BACKGROUND = '#111217';
const PANEL = '#181b1f';
const TEXT = '#ccccdc';
const GRID_LINE = '#2c3235';
/** Grafana's classic palette, in its order. */
const PALETTE = ['#7eb26d', '#eab839', '#6ed0e0', '#ef843c', '#e24d42', '#1f78c1', '#ba43a9', '#705da0'];
const GAP = 8;
const HEADER = 56;
/** Pixels per unit of a panel's height on the grid (Grafana's is 30; a little more for the legend). */
const ROW_UNIT = 36;

/** The row as one SVG document. */
export function rowSvg(row: RowPicture): string {
  const width = row.width ?? 1600;
  const column = (width - GAP) / 24;
  const bottom = Math.max(...row.panels.map((p) => p.gridPos.y + p.gridPos.h));
  const height = HEADER + bottom * ROW_UNIT + GAP;
  const parts = row.panels.map((panel) => {
    const x = GAP + panel.gridPos.x * column;
    const y = HEADER + panel.gridPos.y * ROW_UNIT;
    const w = Math.round(panel.gridPos.w * column - GAP);
    const h = Math.round(panel.gridPos.h * ROW_UNIT - GAP);
    // A nested <svg> places the chart's own document at its spot.
    return panelSvg(panel, w, h, row.durationS).replace(/^<svg /, `<svg x="${x.toFixed(1)}" y="${y}" `);
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="${BACKGROUND}"/>`,
    `<text x="${GAP}" y="24" fill="${TEXT}" font-family="${FONT}" font-size="16" font-weight="bold">${escapeXml(row.title)}</text>`,
    `<text x="${GAP}" y="44" fill="#8e8e8e" font-family="${FONT}" font-size="12">${escapeXml(row.subtitle)}</text>`,
    ...parts,
    '</svg>',
  ].join('\n');
}

/** The row as a PNG, rendered from `rowSvg` by resvg in DejaVu Sans. */
export function rowPng(row: RowPicture): Buffer {
  return new Resvg(rowSvg(row), { font: RESVG_FONTS }).render().asPng();
}

/** Each character's advance at 100 px, by weight, measured by resvg as it is first needed. */
const advances = new Map<string, number>();

/** The width resvg draws `text` in DejaVu Sans at `size` px (kerning aside). */
export function textWidth(text: string, size: number, bold = false): number {
  let width = 0;
  for (const char of text) {
    const key = `${bold ? 'b' : 'n'}${char}`;
    let advance = advances.get(key);
    if (advance === undefined) {
      // Between two H's, so that a space or a narrow glyph has its whole advance.
      advance = inkWidth(`H${char}H`, bold) - inkWidth('HH', bold);
      advances.set(key, advance);
    }
    width += (advance * size) / 100;
  }
  return width;
}

function inkWidth(text: string, bold: boolean): number {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="200"><text x="0" y="150" font-family="${FONT}" font-weight="${bold ? 'bold' : 'normal'}" font-size="100" xml:space="preserve">${escapeXml(text)}</text></svg>`;
  const box = new Resvg(svg, { font: RESVG_FONTS }).getBBox();
  if (box === undefined) throw new Error(`resvg drew nothing of ${JSON.stringify(text)}: is fonts-dejavu-core installed (${FONT_FILES.join(', ')})?`);
  return box.width;
}

echarts.setPlatformAPI({
  measureText: (text, font) => {
    const size = Number(/(\d+(?:\.\d+)?)px/.exec(font ?? '')?.[1] ?? 12);
    return { width: textWidth(text, size, /\bbold\b|\b[6-9]00\b/.test(font ?? '')) };
  },
});

const LEGEND_FONT = 11;
const LEGEND_ICON = 14;
const LEGEND_GAP = 10;
const LEGEND_LINE = 18;

/** How many lines the legend takes in `width`, laid out as ECharts lays it out. */
function legendLines(names: readonly string[], width: number): number {
  let lines = 1;
  let x = 0;
  for (const name of names) {
    const item = LEGEND_ICON + 5 + textWidth(name, LEGEND_FONT);
    if (x > 0 && x + item > width) {
      lines++;
      x = 0;
    }
    x += item + LEGEND_GAP;
  }
  return lines;
}

function panelSvg(panel: ChartPanel, width: number, height: number, durationS: number): string {
  const scale = scaleFor(panel.unit, Math.max(0, ...panel.series.flatMap((s) => s.points.map(([, v]) => Math.abs(v)))));
  const legendWidth = width - 16;
  const legendHeight = legendLines(panel.series.map((series) => series.name), legendWidth) * LEGEND_LINE;
  const chart = echarts.init(null, undefined, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({
      animation: false,
      backgroundColor: PANEL,
      color: PALETTE,
      textStyle: { fontFamily: FONT, color: TEXT },
      title: { text: panel.title, left: 8, top: 6, textStyle: { fontFamily: FONT, fontSize: 13, fontWeight: 'bold', color: TEXT } },
      grid: { left: 72, right: 20, top: 36, bottom: 34 + legendHeight },
      legend: {
        bottom: 4,
        left: 8,
        width: legendWidth,
        icon: 'rect',
        itemWidth: LEGEND_ICON,
        itemHeight: 3,
        itemGap: LEGEND_GAP,
        textStyle: { fontFamily: FONT, fontSize: LEGEND_FONT, color: TEXT },
      },
      xAxis: {
        type: 'value',
        min: 0,
        max: durationS,
        axisLabel: { formatter: '{value} s', color: TEXT, fontFamily: FONT, fontSize: 11 },
        axisLine: { lineStyle: { color: GRID_LINE } },
        splitLine: { lineStyle: { color: GRID_LINE } },
      },
      yAxis: {
        type: 'value',
        ...(panel.unit === 'bytes' ? {} : { min: 0 }),
        // A fraction of a byte, of an event or of a count means nothing.
        ...(panel.unit === 'bytes' || panel.unit === 'short' ? { minInterval: 1 } : {}),
        axisLabel: { formatter: `{value} ${scale.label}`.trimEnd(), color: TEXT, fontFamily: FONT, fontSize: 11 },
        splitLine: { lineStyle: { color: GRID_LINE } },
      },
      series: panel.series.map((series) => ({
        type: 'line',
        name: series.name,
        showSymbol: false,
        lineStyle: { width: 1.5 },
        areaStyle: { opacity: 0.08 },
        data: series.points.map(([t, v]) => [t, v / scale.divisor]),
      })),
    });
    return chart.renderToSVGString();
  } finally {
    // ECharts keeps a timer of its own until the chart is disposed.
    chart.dispose();
  }
}

interface Scale {
  readonly divisor: number;
  readonly label: string;
}

/** The unit the panel's values are drawn in, from the largest of them. */
export function scaleFor(unit: Unit, largest: number): Scale {
  const binary = (suffix: string): Scale => {
    const steps = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let power = 0;
    while (power < steps.length - 1 && largest >= 1024 ** (power + 1)) power++;
    return { divisor: 1024 ** power, label: `${steps[power] ?? 'B'}${suffix}` };
  };
  switch (unit) {
    case 'bytes':
      return binary('');
    case 'binBps':
      return binary('/s');
    case 's':
      return largest >= 1 || largest === 0 ? { divisor: 1, label: 's' } : largest >= 1e-3 ? { divisor: 1e-3, label: 'ms' } : { divisor: 1e-6, label: 'µs' };
    case 'ops':
      return { divisor: 1, label: 'ops/s' };
    case 'short':
      return { divisor: 1, label: '' };
  }
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
