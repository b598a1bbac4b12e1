/**
 * Metrics of the interrupts the VMM raises in the guest on behalf of its devices.
 *
 * ```json
 * "interrupts": {"triggers":5120,"config_updates":4}
 * ```
 *
 * Both fields are counters, written as their delta since the last flush.
 */
import { defineGroup, inc, type GroupOf } from '../../metrics/group.js';

export const InterruptMetrics = defineGroup('interrupts', {
  triggers: inc('Number of interrupts raised in the guest.'),
  config_updates: inc('Number of updates of an interrupt routing configuration (such as an MSI vector).'),
});

export type InterruptMetrics = GroupOf<typeof InterruptMetrics>;

/** The interrupt metrics, incremented by the interrupt code and flushed by the global document. */
export const METRICS: InterruptMetrics = InterruptMetrics.create();
