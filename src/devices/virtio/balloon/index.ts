/**
 * `vmm-metrics/balloon`: the virtio-balloon device (`Balloon`), its wire format (feature bits,
 * configuration offsets, hinting command ids, statistic tags), and its metrics group
 * (`BalloonDeviceMetrics`, and `METRICS`, the process-wide instance the device counts in unless
 * it is given a VM's own).
 */
export { BalloonDeviceMetrics, METRICS } from './metrics.js';
export {
  ACTUAL_PAGES_OFFSET,
  BALLOON_CONFIG_SPACE_SIZE,
  FREE_PAGE_HINT_CMD_ID_OFFSET,
  FREE_PAGE_HINT_DONE,
  FREE_PAGE_HINT_STOP,
  MAX_PAGES_IN_DESC,
  NUM_PAGES_OFFSET,
  SIZE_OF_STAT,
  STAT_TAG,
  STAT_TAGS,
  VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
  VIRTIO_BALLOON_F_FREE_PAGE_HINT,
  VIRTIO_BALLOON_F_MUST_TELL_HOST,
  VIRTIO_BALLOON_F_PAGE_REPORTING,
  VIRTIO_BALLOON_F_STATS_VQ,
} from './abi.js';
export type { BalloonStatName } from './abi.js';
export { Balloon, BALLOON_QUEUE_SIZE, MAX_DISCARD_BYTES_PER_TURN, MAX_PAGE_COMPACT_BUFFER, MIB_TO_4K_PAGES, RANGE_WORK_BYTES } from './device.js';
export type { BalloonConfig, BalloonConfigState, BalloonOptions } from './device.js';
export type { BalloonEventType, BalloonWaitOptions } from './events.js';
export {
  BalloonError,
  BalloonInterruptError,
  DeviceDisposedError,
  DeviceNotActiveError,
  HintingNotEnabledError,
  InvalidBalloonConfigError,
  StatisticsDisabledError,
  StatisticsStateChangeError,
  TooMuchMemoryRequestedError,
} from './errors.js';
export type { HintingStatus, StartHintingCmd } from './hinting.js';
export type { BalloonStats, ReceivedStats } from './stats.js';
