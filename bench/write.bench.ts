/**
 * `Metrics.write()` to a regular file, the whole path a flush takes (build, the sink's rotation
 * check, `write(2)`, commit), against what a hand-written writer would do: `JSON.stringify` of a
 * plain object and `writeSync` of the text to a file opened for appending. The reset truncates
 * both files before each measurement, so they stay small.
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { do_not_optimize } from 'mitata';
import { BalloonDeviceMetrics } from '../src/devices/virtio/balloon/metrics.js';
import { EntryDocument, groupEntry } from '../src/metrics/document.js';
import { Metrics } from '../src/metrics/writer.js';
import type { Figure } from './ratio.js';

interface PlainBalloonLine {
  utc_timestamp_ms: number;
  balloon: { inflate_count: number; deflate_count: number; free_page_report_freed: number };
}

export function writeFigures(): Figure[] {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-bench-'));
  process.once('exit', () => {
    rmSync(dir, { recursive: true, force: true });
  });
  const metricsPath = join(dir, 'metrics.json');
  const baselinePath = join(dir, 'baseline.json');
  const group = BalloonDeviceMetrics.create();
  const metrics = new Metrics(new EntryDocument([groupEntry(BalloonDeviceMetrics, group)]));
  metrics.init(metricsPath, { flushIntervalMs: 0 });
  const plain = JSON.parse(metrics.render()) as PlainBalloonLine;
  const values = plain.balloon;
  const fd = openSync(baselinePath, 'a');
  process.once('exit', () => {
    closeSync(fd);
    metrics.close();
  });
  return [
    {
      name: 'write() balloon line to a file ÷ JSON.stringify + writeSync',
      goal: null,
      opsPerCall: 1,
      subject: () => {
        group.inflate_count.inc();
        group.deflate_count.inc();
        group.free_page_report_freed.add(4096);
        do_not_optimize(metrics.write());
      },
      baseline: () => {
        values.inflate_count++;
        values.deflate_count++;
        values.free_page_report_freed += 4096;
        plain.utc_timestamp_ms = Date.now();
        do_not_optimize(writeSync(fd, `${JSON.stringify(plain)}\n`));
        values.inflate_count = 0;
        values.deflate_count = 0;
        values.free_page_report_freed = 0;
      },
      reset: () => {
        truncateSync(metricsPath, 0);
        ftruncateSync(fd, 0);
      },
    },
  ];
}
