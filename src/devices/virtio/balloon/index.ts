/**
 * `vmm-metrics/balloon`: the virtio-balloon device (`Balloon`) and its metrics group
 * (`BalloonDeviceMetrics`, and `METRICS`, the process-wide instance the device counts in unless
 * it is given a VM's own).
 */
export { BalloonDeviceMetrics, METRICS } from './metrics.js';
export {
  Balloon,
  BALLOON_CONFIG_SPACE_SIZE,
  BALLOON_QUEUE_SIZE,
  FREE_PAGE_HINT_DONE,
  FREE_PAGE_HINT_STOP,
  MAX_PAGE_COMPACT_BUFFER,
  MAX_PAGES_IN_DESC,
  MIB_TO_4K_PAGES,
  VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
  VIRTIO_BALLOON_F_FREE_PAGE_HINT,
  VIRTIO_BALLOON_F_PAGE_REPORTING,
  VIRTIO_BALLOON_F_STATS_VQ,
} from './device.js';
export type { BalloonConfig, BalloonConfigState, BalloonOptions, HintingStatus, StartHintingCmd } from './device.js';
export {
  BalloonError,
  BalloonInterruptError,
  DeviceNotActiveError,
  HintingNotEnabledError,
  InvalidBalloonConfigError,
  StatisticsDisabledError,
  StatisticsStateChangeError,
  TooMuchMemoryRequestedError,
} from './errors.js';
export { STAT_TAGS } from './stats.js';
export type { BalloonStatName, BalloonStats, GuestStats } from './stats.js';
