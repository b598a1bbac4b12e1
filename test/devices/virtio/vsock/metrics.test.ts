import * as vsock from '../../../../src/devices/virtio/vsock/metrics.js';
import { testSingleGroupModule } from '../../support/metrics-file.js';

testSingleGroupModule(vsock, vsock.VsockDeviceMetrics, 'vsock', [
  ['activate_fails', 'inc'],
  ['cfg_fails', 'inc'],
  ['rx_queue_event_fails', 'inc'],
  ['tx_queue_event_fails', 'inc'],
  ['ev_queue_event_fails', 'inc'],
  ['muxer_event_fails', 'inc'],
  ['conn_event_fails', 'inc'],
  ['rx_queue_event_count', 'inc'],
  ['tx_queue_event_count', 'inc'],
  ['rx_bytes_count', 'inc', 'bytes'],
  ['tx_bytes_count', 'inc', 'bytes'],
  ['rx_packets_count', 'inc'],
  ['tx_packets_count', 'inc'],
  ['conns_added', 'inc'],
  ['conns_killed', 'inc'],
  ['conns_removed', 'inc'],
  ['killq_resync', 'inc'],
  ['tx_flush_fails', 'inc'],
  ['tx_write_fails', 'inc'],
  ['rx_read_fails', 'inc'],
]);
