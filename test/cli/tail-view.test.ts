import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TailView } from '../../src/cli/tail-view.js';
import { FirecrackerMetrics, Metrics } from '../../src/index.js';
import { firecrackerSchema, parseMetricsText } from '../../src/reader/index.js';

test('the view of a line where 150,000 counters moved is drawn, not a stack overflow', () => {
  const document = new FirecrackerMetrics();
  for (let i = 0; i < 15_000; i++) {
    const drive = document.block.alloc(`d${i}`);
    for (const metric of [drive.read_bytes, drive.write_bytes, drive.read_count, drive.write_count, drive.flush_count]) metric.add(i + 1);
    for (const metric of [drive.queue_event_count, drive.cfg_fails, drive.event_fails, drive.update_count, drive.no_avail_buffer]) metric.inc();
  }
  const [reading] = parseMetricsText(`${new Metrics(document).render()}\n`, { schema: firecrackerSchema() });
  assert.ok(reading?.record !== undefined, 'the line reads back');
  const text = new TailView(firecrackerSchema()).render(reading, 'metrics.json');
  assert.ok(text.includes('block_d14999'));
  assert.ok(text.split('\n').length > 150_000);
});
