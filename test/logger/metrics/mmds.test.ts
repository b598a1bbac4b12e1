import * as group from '../../../src/logger/metrics/mmds.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.MmdsMetrics, 'mmds', [
  ['rx_accepted', 'inc'],
  ['rx_accepted_err', 'inc'],
  ['rx_accepted_unusual', 'inc'],
  ['rx_bad_eth', 'inc'],
  ['rx_invalid_token', 'inc'],
  ['rx_no_token', 'inc'],
  ['rx_count', 'inc'],
  ['tx_bytes', 'inc', 'bytes'],
  ['tx_count', 'inc'],
  ['tx_errors', 'inc'],
  ['tx_frames', 'inc'],
  ['connections_created', 'inc'],
  ['connections_destroyed', 'inc'],
]);
