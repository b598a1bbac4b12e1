import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsLine } from '../../../../src/index.js';
import { BalloonDeviceMetrics, flushMetrics, METRICS } from '../../../../src/devices/virtio/balloon/metrics.js';

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
  const line = new MetricsLine({ timestampMs: 0 });
  flushMetrics(line);
  line.commit();
  assert.equal(BalloonDeviceMetrics.serialize(local), BalloonDeviceMetrics.serialize(METRICS));
  assert.equal(BalloonDeviceMetrics.serialize(local), `{${FIELDS.map((f) => `"${f}":0`).join(',')}}`);
  local.inflate_count.inc();
  assert.equal(local.inflate_count.count(), 1);
});

test('flushMetrics writes the "balloon" entry', () => {
  METRICS.free_page_hint_freed.add(4096);
  const line = new MetricsLine({ timestampMs: 5 });
  flushMetrics(line);
  line.rollback();
  assert.match(line.text(), /^\{"utc_timestamp_ms":5,"balloon":\{"activate_fails":0,.*"free_page_hint_freed":4096,"free_page_hint_fails":0\}\}$/);
  assert.equal(METRICS.free_page_hint_freed.fetchDiff(), 4096);
});
