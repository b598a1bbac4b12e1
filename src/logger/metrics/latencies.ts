/**
 * Performance metrics: how long snapshot and pause/resume operations took, in microseconds.
 *
 * Each operation is measured twice: at the API level (the whole request, as the user sees it) and,
 * with the `vmm_` prefix, at the VMM level (only the VMM's own work). Values are written as they
 * are, not as deltas:
 *
 * ```json
 * "latencies_us": {"full_create_snapshot":153022,"diff_create_snapshot":0,"load_snapshot":0,
 *                  "pause_vm":412,"resume_vm":0,"vmm_full_create_snapshot":149870,…,
 *                  "vmm_resume_vm":0}
 * ```
 *
 * Design notes:
 * - Each field holds the duration of the most recent operation of its kind; when several happen
 *   between two flushes, only the last one is seen (flush after each operation to see them all).
 * - The names carry no unit suffix, so each field declares its unit explicitly.
 * - `measureLatencyUs` and `startLatencyUs` in `../process-time.ts` store an elapsed time into
 *   one of these fields.
 */
import { defineGroup, store, type GroupOf, type MetricSpecOptions } from '../../metrics/group.js';

// Microseconds without a `_us` suffix: Firecracker stores get_time_us differences here (logger/metrics.rs).
const US: MetricSpecOptions = { unit: 'microseconds' };

export const PerformanceMetrics = defineGroup('latencies_us', {
  full_create_snapshot: store('Duration of the last full snapshot creation, as the API request took it.', US),
  diff_create_snapshot: store('Duration of the last diff snapshot creation, as the API request took it.', US),
  load_snapshot: store('Duration of the last snapshot load, as the API request took it.', US),
  pause_vm: store('Duration of the last pause of the VM, as the API request took it.', US),
  resume_vm: store('Duration of the last resume of the VM, as the API request took it.', US),
  vmm_full_create_snapshot: store('Duration of the VMM work of the last full snapshot creation.', US),
  vmm_diff_create_snapshot: store('Duration of the VMM work of the last diff snapshot creation.', US),
  vmm_load_snapshot: store('Duration of the VMM work of the last snapshot load.', US),
  vmm_pause_vm: store('Duration of the VMM work of the last pause of the VM.', US),
  vmm_resume_vm: store('Duration of the VMM work of the last resume of the VM.', US),
});

export type PerformanceMetrics = GroupOf<typeof PerformanceMetrics>;

/** The performance metrics, set by the API server and the VMM and flushed by the global document. */
export const METRICS: PerformanceMetrics = PerformanceMetrics.create();
