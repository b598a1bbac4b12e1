/**
 * `vmm-metrics tail`'s view (TailView) and its units (quantity.ts), through real lines: a
 * Firecracker document's balloon, rendered by the writer, read back by the reader.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatChange, formatQuantity, formatRate } from '../../src/cli/quantity.js';
import { TailView } from '../../src/cli/tail-view.js';
import { FirecrackerMetrics, Metrics } from '../../src/index.js';
import { firecrackerSchema, parseMetricsText, type MetricsReading } from '../../src/reader/index.js';

const MIB = 1024 * 1024;
const T0 = Date.UTC(2025, 0, 1);

/** The lines a Firecracker document writes, one per step (each step moves its counters, then a flush), stamped a second apart. */
function session(steps: readonly ((document: FirecrackerMetrics) => void)[]): MetricsReading[] {
  const document = new FirecrackerMetrics();
  const writer = new Metrics(document);
  writer.init(process.platform === 'win32' ? 'NUL' : '/dev/null', { id: 'vm-1', flushIntervalMs: 0 });
  const lines = steps.map((step, i) => {
    step(document);
    const line = writer.render().replace(/"utc_timestamp_ms":\d+/, `"utc_timestamp_ms":${T0 + i * 1000}`);
    // render() reads; write() commits the deltas, so the next line holds only what moved since.
    writer.write();
    return line;
  });
  writer.close();
  return parseMetricsText(`${lines.join('\n')}\n`, { schema: firecrackerSchema() });
}

function viewOf(readings: readonly MetricsReading[]): TailView {
  const view = new TailView(firecrackerSchema(), 'metrics.json');
  for (const reading of readings) view.take(reading);
  return view;
}

test("after a session whose last line moved nothing: each counter's total since line 1, and the line before that moved, its bytes in MiB and MiB/s", () => {
  const readings = session([
    (d) => {
      d.balloon.inflate_count.add(256);
      d.balloon.free_page_report_count.add(497);
      d.balloon.free_page_report_freed.add(994 * MIB);
    },
    (d) => {
      d.balloon.stats_updates_count.inc();
      d.balloon.free_page_hint_freed.add(58_810_959);
    },
    () => undefined,
  ]);
  assert.deepEqual(viewOf(readings).render().split('\n'), [
    'metrics.json  |  id "vm-1"  |  3 lines from 2025-01-01T00:00:00.000Z over 2.0 s',
    'last line that moved something: line 2, 1.000 s after the line before it (line 3, the latest, moved nothing)',
    '  METRIC                        DELTA     PER SEC      VALUE',
    '  balloon',
    '    inflate_count                                        256',
    '    stats_updates_count            +1       1.0/s          1',
    '    free_page_report_count                               497',
    '    free_page_report_freed                         994.0 MiB',
    '    free_page_hint_freed    +56.1 MiB  56.1 MiB/s   56.1 MiB',
    "  VALUE: a counter's total since line 1, a store's last value. DELTA, PER SEC: line 2's.",
    '  2 moved in line 2; 5 values moved since line 1 in 1 entry, 233 never',
    '',
  ]);
});

test("a store's VALUE is its last value and its DELTA its change; a counter's VALUE adds up its lines exactly, past 2^64", () => {
  const readings = session([
    (d) => {
      d.balloon.deflate_count.add(2n ** 64n - 1n);
      d.uart.missed_write_count.add(3);
      d.vcpu.exit_mmio_read_agg.recordUs(1500);
    },
    (d) => {
      d.balloon.deflate_count.add(2n ** 64n - 1n);
      d.vcpu.exit_mmio_read_agg.recordUs(2500);
    },
  ]);
  const text = viewOf(readings).render();
  // A latency's min_us and max_us are stores, written as they are; its sum_us a counter.
  assert.match(text, /^ {4}exit_mmio_read_agg\.min_us +1\.5 ms$/m, 'the least is still 1.5 ms: no change in line 2, its value');
  assert.match(text, /^ {4}exit_mmio_read_agg\.max_us +\+1\.0 ms +2\.5 ms$/m, 'the greatest rose by 1 ms: its change, no rate, its value');
  assert.match(text, /^ {4}exit_mmio_read_agg\.sum_us +\+2\.5 ms +2\.5 ms\/s +4\.0 ms$/m);
  assert.match(text, /^ {4}deflate_count +\+18,446,744,073,709,551,615 +1\.845e\+19\/s +36,893,488,147,419,103,230$/m);
  assert.match(text, /^ {4}missed_write_count +3$/m, 'moved in line 1, not in line 2: its total, no delta');
});

test('a line that moved nothing on its own: the view says so; a reset forgets everything', () => {
  const view = viewOf(session([() => undefined, () => undefined]));
  const lines = view.render().split('\n');
  assert.equal(lines[1], 'no line moved anything since line 1');
  assert.equal(lines[2], '  nothing moved');
  view.reset();
  assert.equal(view.render(), 'metrics.json\n  no line read yet\n');
  const pipe = new TailView(firecrackerSchema(), 'standard input', { fromStart: false });
  for (const reading of session([() => undefined])) pipe.take(reading);
  assert.match(pipe.render(), /^no line moved anything since tail started$/m);
});

test('a story line tells what one line moved, humanised, and names six values at most', () => {
  const readings = session([
    (d) => {
      d.balloon.inflate_count.add(1);
      d.balloon.free_page_report_freed.add(2 * MIB);
    },
    () => undefined,
    (d) => {
      for (const metric of [d.balloon.inflate_count, d.balloon.deflate_count, d.balloon.stats_updates_count, d.balloon.event_fails, d.balloon.free_page_report_count, d.balloon.free_page_hint_count, d.balloon.free_page_hint_fails]) metric.inc();
      d.uart.missed_write_count.inc();
    },
  ]);
  const view = new TailView(firecrackerSchema(), 'metrics.json');
  const told = readings.map((reading) => {
    const moves = view.take(reading);
    return moves === undefined ? undefined : view.storyLine(moves);
  });
  assert.deepEqual(told, [
    'line 1  t+0.0 s  balloon: inflate_count +1, free_page_report_freed +2.0 MiB',
    undefined,
    'line 3  t+2.0 s  balloon: inflate_count +1, stats_updates_count +1, deflate_count +1, event_fails +1, free_page_report_count +1, free_page_hint_count +1; and 2 more',
  ]);
});

test('a broken line is named under the view, and counted apart from the lines', () => {
  const view = viewOf(
    session([
      (d) => {
        d.balloon.inflate_count.inc();
      },
    ]),
  );
  const [broken] = parseMetricsText('{"oops":\n', { schema: firecrackerSchema() });
  assert.ok(broken !== undefined && broken.record === undefined);
  view.take(broken);
  const text = view.render();
  assert.match(text, /^metrics\.json {2}\| {2}id "vm-1" {2}\| {2}1 line \(and 1 broken\) from /);
  assert.match(text, /^ {2}line 1: broken line, skipped$/m);
  assert.match(text, /^ {4}inflate_count +\+1 +- +1$/m, 'the first line read has no rate');
});

test('the view of a line where 150,000 counters moved is drawn, not a stack overflow', () => {
  const document = new FirecrackerMetrics();
  for (let i = 0; i < 15_000; i++) {
    const drive = document.block.alloc(`d${i}`);
    for (const metric of [drive.read_bytes, drive.write_bytes, drive.read_count, drive.write_count, drive.flush_count]) metric.add(i + 1);
    for (const metric of [drive.queue_event_count, drive.cfg_fails, drive.event_fails, drive.update_count, drive.no_avail_buffer]) metric.inc();
  }
  const [reading] = parseMetricsText(`${new Metrics(document).render()}\n`, { schema: firecrackerSchema() });
  assert.ok(reading?.record !== undefined, 'the line reads back');
  const view = new TailView(firecrackerSchema(), 'metrics.json');
  view.take(reading);
  const text = view.render();
  assert.ok(text.includes('block_d14999'));
  assert.ok(text.split('\n').length > 150_000);
});

/** A formatted quantity's number, in bytes / base units. */
function parsed(text: string): number {
  const match = /^([\d,.]+) (B|KiB|MiB|GiB|TiB|PiB|EiB)$/.exec(text);
  assert.ok(match, text);
  const steps = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  return Number((match[1] ?? '').replaceAll(',', '')) * 1024 ** steps.indexOf(match[2] ?? '');
}

test('bytes read back within half a step of their last digit; below 1 KiB exactly; counts exactly, grouped by thousands', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (value) => {
      const text = formatQuantity(value, 'bytes');
      const bytes = Number(value);
      if (bytes < 1024) assert.equal(text, `${value.toString()} B`);
      else {
        const unit = 1024 ** Math.min(6, Math.floor(Math.log(bytes) / Math.log(1024)));
        assert.ok(Math.abs(parsed(text) - bytes) <= 0.05 * unit * 1.000001, `${value.toString()} → ${text}`);
      }
      assert.equal(formatQuantity(value, 'count').replaceAll(',', ''), value.toString());
      assert.match(formatQuantity(value, 'count'), /^\d{1,3}(?:,\d{3})*$/);
      assert.equal(formatChange(-value, 'count'), value === 0n ? '+0' : `-${formatQuantity(value, 'count')}`);
    }),
  );
  assert.equal(formatRate(58_810_959.5, 'bytes'), '56.1 MiB/s');
  assert.equal(formatRate(0.25, 'count'), '0.250/s');
  assert.equal(formatRate(12_345.67, 'count'), '12,345.7/s');
  assert.equal(formatQuantity(999, 'microseconds'), '999 µs');
  assert.equal(formatQuantity(1500, 'microseconds'), '1.5 ms');
  assert.equal(formatQuantity(2_500_000, 'microseconds'), '2.5 s');
  assert.equal(formatQuantity(1500, 'milliseconds'), '1.5 s');
  assert.equal(formatRate(Number.POSITIVE_INFINITY, 'bytes'), '-');
});
