/**
 * Metrics of the VMM process as a whole.
 *
 * ```json
 * "vmm": {"panic_count":0}
 * ```
 *
 * Design notes: a panic ends the process, so `panic_count` is a store written as it is, set to 1
 * by the panic hook before the last metrics line is written; like the deadly-signal metrics it is
 * a store so that a flush racing with that last write reads the same value.
 */
import { defineGroup, store, type GroupOf } from '../../metrics/group.js';

export const VmmMetrics = defineGroup('vmm', {
  panic_count: store('Set to 1 when the VMM panicked (an unrecoverable internal error).'),
});

export type VmmMetrics = GroupOf<typeof VmmMetrics>;

/** The VMM metrics, set by the panic hook and flushed by the global document. */
export const METRICS: VmmMetrics = VmmMetrics.create();
