import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupEntry } from '../../../../src/index.js';
import { BalloonDeviceMetrics, METRICS } from '../../../../src/devices/virtio/balloon/metrics.js';
import { collectingWriter } from '../../../metrics/helpers.js';

const FIELDS = [
  'activate_fails',
  'inflate_count',
  'stats_updates_count',
  'stats_update_fails',
  'deflate_count',
  'event_fails',
  'free_page_report_count',
  'free_page_report_freed',
  'free_page_report_fails',
  'free_page_hint_count',
  'free_page_hint_freed',
  'free_page_hint_fails',
];

test('BalloonDeviceMetrics declares the 12 counters in order, each with help', () => {
  assert.deepEqual(
    BalloonDeviceMetrics.fields.map((f) => f.name),
    FIELDS,
  );
  for (const field of BalloonDeviceMetrics.fields) {
    assert.equal(field.kind, 'inc');
    assert.match(field.help, /^[A-Z].{10,}\.$/, field.name);
  }
  assert.deepEqual(
    BalloonDeviceMetrics.fields.filter((f) => f.unit === 'bytes').map((f) => f.name),
    ['free_page_report_freed', 'free_page_hint_freed'],
  );
});

// Firecracker's test_balloon_dev_metrics, here without relying on a print to reset anything.
test('a fresh group serializes like the global one after a flush', () => {
  const local = BalloonDeviceMetrics.create();
  METRICS.inflate_count.inc();
  collectingWriter([groupEntry(BalloonDeviceMetrics, METRICS)]).metrics.write();
  assert.equal(BalloonDeviceMetrics.serialize(local), BalloonDeviceMetrics.serialize(METRICS));
  assert.equal(BalloonDeviceMetrics.serialize(local), `{${FIELDS.map((f) => `"${f}":0`).join(',')}}`);
  local.inflate_count.inc();
  assert.equal(local.inflate_count.count(), 1);
});

test('a line that fails keeps the "balloon" deltas for the next', () => {
  METRICS.free_page_hint_freed.add(4096);
  const { metrics, out } = collectingWriter([groupEntry(BalloonDeviceMetrics, METRICS)]);
  out.failing = true;
  assert.throws(() => metrics.write(), { name: 'MetricsWriteError' });
  assert.equal(METRICS.free_page_hint_freed.fetchDiff(), 4096);
  out.failing = false;
  metrics.write();
  assert.match(out.lines[0] ?? '', /^\{"utc_timestamp_ms":\d+,"balloon":\{"activate_fails":0,.*"free_page_hint_freed":4096,"free_page_hint_fails":0\}\}$/);
  assert.equal(METRICS.free_page_hint_freed.fetchDiff(), 0);
});
