/**
 * The virtio-balloon device's wire format, from the driver's side (virtio 1.2, 5.5, and Linux's
 * `include/uapi/linux/virtio_balloon.h`): feature bits, queue roles, the configuration space,
 * statistic tags and the free page hinting command ids.
 */

import { STAT_TAGS, type BalloonStatName } from '../devices/virtio/balloon/stats.js';

/** Balloon feature bits. */
export const BALLOON_FEATURE = {
  /** The host must be told before a deflated page is used again (this driver always does). */
  mustTellHost: 0,
  statsVq: 1,
  deflateOnOom: 2,
  freePageHint: 3,
  pagePoison: 4,
  pageReporting: 5,
} as const;

/** Byte offsets of the u32 little-endian fields of the configuration space. */
export const BALLOON_CONFIG = {
  numPages: 0,
  actualPages: 4,
  freePageHintCmdId: 8,
} as const;

/** Hinting command ids with a meaning of their own; a run uses any other id (from 2). */
export const HINT_CMD_ID = {
  /** Stop hinting; from the guest, "this run is over". */
  stop: 0,
  /** The host is done with the hinted pages: the guest may use them again. */
  done: 1,
} as const;

/** Page frame numbers per inflate or deflate buffer (Linux `VIRTIO_BALLOON_ARRAY_PFNS_MAX`). */
export const PFNS_PER_BUFFER = 256;

/** Pages the driver gives back per out-of-memory notification (Linux `VIRTIO_BALLOON_OOM_NR_PAGES`). */
export const OOM_DEFLATE_PAGES = 256;

/** Bytes of one statistic: a u16 tag and a u64 value, packed. */
export const STAT_SIZE = 10;

/**
 * The statistics a driver reports, by tag (Linux `VIRTIO_BALLOON_S_*`), named as Firecracker's
 * `BalloonStats` names them: the device's list of tags (`STAT_TAGS`) read the other way round.
 * Memory amounts are in bytes, the rest are event counts.
 */
export const STAT_TAG = Object.freeze(Object.fromEntries(STAT_TAGS.map((name, tag) => [name, tag]))) as {
  readonly [K in BalloonStatName]: number;
};

export type StatName = keyof typeof STAT_TAG;

/** One statistics report: every tag the driver knows, with its value. */
export type GuestStats = Record<StatName, number>;
