/**
 * Metrics of the vCPUs: the VM exits they handled, and their failures.
 *
 * All vCPUs share one group. The counters are written as their delta since the last flush; each
 * `_agg` field is a latency aggregate in microseconds of the handling of one kind of exit:
 *
 * ```json
 * "vcpu": {"exit_io_in":120,"exit_io_out":3311,"exit_mmio_read":48,"exit_mmio_write":902,
 *          "failures":0,"kvmclock_ctrl_fails":0,
 *          "exit_io_in_agg":{"min_us":1,"max_us":14,"sum_us":260},…}
 * ```
 *
 * Design notes: the average handling time of an exit kind is its `_agg.sum_us` divided by its
 * count; that is why only the least, greatest and summed durations are kept. Exits other than
 * port and MMIO accesses are not counted here; the ones that are errors count in `failures`.
 */
import { defineGroup, inc, latency, type GroupOf } from '../../metrics/group.js';

export const VcpuMetrics = defineGroup('vcpu', {
  exit_io_in: inc('Number of VM exits for a guest read from an I/O port.'),
  exit_io_out: inc('Number of VM exits for a guest write to an I/O port.'),
  exit_mmio_read: inc('Number of VM exits for a guest read from memory-mapped I/O.'),
  exit_mmio_write: inc('Number of VM exits for a guest write to memory-mapped I/O.'),
  failures: inc('Number of errors while running a vCPU, including unexpected VM exits.'),
  kvmclock_ctrl_fails: inc('Number of failures to tell KVM that a paused guest must not see its clock jump (KVM_KVMCLOCK_CTRL).'),
  exit_io_in_agg: latency('Time spent handling VM exits for I/O port reads.'),
  exit_io_out_agg: latency('Time spent handling VM exits for I/O port writes.'),
  exit_mmio_read_agg: latency('Time spent handling VM exits for MMIO reads.'),
  exit_mmio_write_agg: latency('Time spent handling VM exits for MMIO writes.'),
});

export type VcpuMetrics = GroupOf<typeof VcpuMetrics>;

/** The vCPU metrics, updated by the vCPU threads and flushed by the global document. */
export const METRICS: VcpuMetrics = VcpuMetrics.create();
