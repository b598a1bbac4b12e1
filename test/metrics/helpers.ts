import { EntryDocument, Metrics, type DocumentEntry, type IncMetric, type MetricsDocument } from '../../src/index.js';

/** A destination that keeps every line it is given, and fails while `failing` is set. */
export class LineCollector {
  readonly lines: string[] = [];
  failing = false;

  write(chunk: Buffer): void {
    if (this.failing) throw new Error('the collector refuses lines');
    this.lines.push(chunk.toString('utf8').replace(/\n$/, ''));
  }
}

/** A writer of `document` (or of `entries`) into a new collector, with no timer. */
export function collectingWriter(document: MetricsDocument | readonly DocumentEntry[]): { metrics: Metrics<MetricsDocument>; out: LineCollector } {
  const out = new LineCollector();
  const metrics = new Metrics(Array.isArray(document) ? new EntryDocument(document) : (document as MetricsDocument));
  metrics.init(out, { flushIntervalMs: 0 });
  return { metrics, out };
}

/** Takes one metric into a line of its own, written or failed; returns the delta the line carried. */
export function flushInto(metric: IncMetric, settle: 'commit' | 'rollback' = 'commit'): bigint {
  let amount = 0n;
  const { metrics, out } = collectingWriter({
    appendTo: (line) => {
      amount = BigInt(line.takeDelta(metric));
    },
  });
  out.failing = settle === 'rollback';
  try {
    metrics.write();
  } catch (error) {
    if (settle === 'commit') throw error;
  }
  metrics.close();
  return amount;
}
