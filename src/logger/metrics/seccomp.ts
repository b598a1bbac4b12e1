/**
 * Metrics of seccomp filtering: whether a thread made a system call its filter forbids.
 *
 * ```json
 * "seccomp": {"num_faults":0}
 * ```
 *
 * Design notes: a forbidden call kills the process, so the field is a store written as it is, set
 * to 1 by the fault handler just before the process writes a last metrics line and exits. A store
 * rather than a counter because that last write may race with a flush on another thread, and a
 * store reads the same from both.
 */
import { defineGroup, store, type GroupOf } from '../../metrics/group.js';

export const SeccompMetrics = defineGroup('seccomp', {
  num_faults: store('Set to 1 when a thread made a system call forbidden by its seccomp filter.'),
});

export type SeccompMetrics = GroupOf<typeof SeccompMetrics>;

/** The seccomp metrics, set by the fault handler and flushed by the global document. */
export const METRICS: SeccompMetrics = SeccompMetrics.create();
