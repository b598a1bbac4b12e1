import * as vhostUser from '../../../../src/devices/virtio/vhost_user/metrics.js';
import { testDeviceFamilyModule } from '../../support/metrics-file.js';

testDeviceFamilyModule(
  vhostUser,
  vhostUser.VhostUserDeviceMetrics,
  'vhost_user',
  [
    ['activate_fails', 'inc'],
    ['cfg_fails', 'inc'],
    ['init_time_us', 'store', 'microseconds'],
    ['activate_time_us', 'store', 'microseconds'],
    ['config_change_time_us', 'store', 'microseconds'],
  ],
  { aggregate: false },
);
