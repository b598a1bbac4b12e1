/**
 * The virtio-balloon's wire format (virtio 1.2, 5.5, and Linux's
 * `include/uapi/linux/virtio_balloon.h`): what the device and a driver must agree on, byte for
 * byte — feature bits, the configuration space, free page hinting's command ids, the frame
 * numbers of an inflate or deflate buffer, and the statistics entries.
 *
 * Its one home: the device (`device.ts`, `stats.ts`) and the simulated driver
 * (`src/guest/`) import it, and it imports nothing, so a driver reaches the wire format without
 * the device. Firecracker keeps these in `balloon/mod.rs` and `balloon/device.rs`; the names are
 * Firecracker's and Linux's. How the device bounds what a guest sends (queue sizes, buffers
 * parsed) is the device's own, in `device.ts` and `stats.ts`.
 */

// ---- Feature bits (5.5.3) ---------------------------------------------------------------------

/** The host must be told before a deflated page is used again (a driver always may tell it). */
export const VIRTIO_BALLOON_F_MUST_TELL_HOST = 0;
/** A statistics queue. */
export const VIRTIO_BALLOON_F_STATS_VQ = 1;
/** The guest gives pages back from the balloon when it runs out of memory. */
export const VIRTIO_BALLOON_F_DEFLATE_ON_OOM = 2;
/** Free page hinting: a queue, and `free_page_hint_cmd_id` in the configuration space. */
export const VIRTIO_BALLOON_F_FREE_PAGE_HINT = 3;
/** Free page reporting: a queue. */
export const VIRTIO_BALLOON_F_PAGE_REPORTING = 5;

// ---- The configuration space (5.5.4): u32 little-endian fields at these byte offsets -----------

/** `num_pages`: the host's target, in 4 KiB pages. */
export const NUM_PAGES_OFFSET = 0;
/** `actual`: the pages the driver says the balloon holds; the only field the driver writes. */
export const ACTUAL_PAGES_OFFSET = 4;
/** `free_page_hint_cmd_id`: the host's hinting command (a run's id, or STOP / DONE). */
export const FREE_PAGE_HINT_CMD_ID_OFFSET = 8;
/** The three fields (Firecracker's `BALLOON_CONFIG_SPACE_SIZE`; `poison_val` is never offered). */
export const BALLOON_CONFIG_SPACE_SIZE = 12;

// ---- Free page hinting's command ids ------------------------------------------------------------

/** Hinting stops; from the guest, "this run is over". */
export const FREE_PAGE_HINT_STOP = 0;
/** The host is done with the hinted pages: the guest may use them again. A run's id is any other (from 2). */
export const FREE_PAGE_HINT_DONE = 1;

// ---- Inflate and deflate buffers ------------------------------------------------------------------

/**
 * Frame numbers (u32 little-endian, in 4 KiB units) one inflate or deflate buffer carries at
 * most: Linux's `VIRTIO_BALLOON_ARRAY_PFNS_MAX`, which Firecracker's `MAX_PAGES_IN_DESC` holds
 * the device to.
 */
export const MAX_PAGES_IN_DESC = 256;

// ---- Statistics (5.5.6.3) ---------------------------------------------------------------------------

/**
 * The statistic each tag carries, indexed by tag: tags 0–15 as Linux defines them
 * (`VIRTIO_BALLOON_S_*`; 10–15 since Linux 6.12), named as Firecracker's `BalloonStats` fields,
 * which are also its API's wire names.
 */
export const STAT_TAGS = [
  'swap_in',
  'swap_out',
  'major_faults',
  'minor_faults',
  'free_memory',
  'total_memory',
  'available_memory',
  'disk_caches',
  'hugetlb_allocations',
  'hugetlb_failures',
  'oom_kill',
  'alloc_stall',
  'async_scan',
  'direct_scan',
  'async_reclaim',
  'direct_reclaim',
] as const;

export type BalloonStatName = (typeof STAT_TAGS)[number];

/** The tag of each statistic: `STAT_TAGS` read the other way round. */
export const STAT_TAG = Object.freeze(Object.fromEntries(STAT_TAGS.map((name, tag) => [name, tag]))) as {
  readonly [K in BalloonStatName]: number;
};

/** The size of one statistics entry `{tag: u16, val: u64}`, little-endian and packed (10, not 16). */
export const SIZE_OF_STAT = 10;
