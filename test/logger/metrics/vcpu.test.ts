import * as group from '../../../src/logger/metrics/vcpu.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.VcpuMetrics, 'vcpu', [
  ['exit_io_in', 'inc'],
  ['exit_io_out', 'inc'],
  ['exit_mmio_read', 'inc'],
  ['exit_mmio_write', 'inc'],
  ['failures', 'inc'],
  ['kvmclock_ctrl_fails', 'inc'],
  ['exit_io_in_agg', 'latency'],
  ['exit_io_out_agg', 'latency'],
  ['exit_mmio_read_agg', 'latency'],
  ['exit_mmio_write_agg', 'latency'],
]);
