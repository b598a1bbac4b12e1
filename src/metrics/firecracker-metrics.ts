/**
 * The global metrics document: every group of the VMM in Firecracker's order, and `METRICS`,
 * the writer that flushes it.
 *
 * ```json
 * {"utc_timestamp_ms":1541591155180,"balloon":{"activate_fails":0,"inflate_count":3,…}}
 * ```
 *
 * Each group lives in the module of the component it measures; this module only lists their
 * document entries, in order.
 */
import { DOCUMENT_ENTRY as BALLOON } from '../devices/virtio/balloon/metrics.js';
import { EntryDocument } from './document.js';
import { Metrics } from './writer.js';

export class FirecrackerMetrics extends EntryDocument {
  constructor() {
    super([BALLOON]);
  }
}

/** The process-wide writer of the global document. */
export const METRICS = new Metrics(new FirecrackerMetrics());
