/**
 * The guest's memory statistics (virtio 1.2, 5.5.6.3) as the device reads them: the stats buffer
 * is an array of `{tag, val}` entries, their tags and layout in `abi.ts`.
 *
 * Values are exact u64, as the library's metrics are (`U64`): a number up to 2^53 − 1, a bigint
 * above — a guest may report any 64-bit value, and Firecracker's API returns it as it came.
 */
import { normalizeU64, type U64 } from '../../../metrics/u64.js';
import { SIZE_OF_STAT, STAT_TAGS, type BalloonStatName } from './abi.js';

/**
 * At most this many entries are parsed from one buffer (Firecracker's `MAX_STATS_TAGS`): Linux
 * sends 16, newer kernels may add some, and the bound keeps a guest from making the device walk
 * an arbitrarily long buffer.
 */
export const MAX_STATS_TAGS = 256;

/** The longest stats buffer that is parsed, in bytes; a longer one is held but not read. */
export const MAX_STATS_DESC_LEN = MAX_STATS_TAGS * SIZE_OF_STAT;

/** The statistics the device has received from the guest so far; a tag it never sent is absent. */
export type ReceivedStats = { -readonly [K in BalloonStatName]?: U64 };

/** What `Balloon.latestStats()` returns: the balloon's size, then the guest's statistics. */
export interface BalloonStats extends ReceivedStats {
  /** The target size of the balloon, in 4 KiB pages. */
  target_pages: number;
  /** The number of 4 KiB pages the device is currently holding. */
  actual_pages: number;
  /** The target size of the balloon, in MiB. */
  target_mib: number;
  /** The size the balloon currently holds, in MiB. */
  actual_mib: number;
}

/**
 * Reads the whole entries of `bytes` into `stats`, skipping the tags it does not know (a newer
 * kernel's) as current Firecracker does; returns how many it skipped, each a
 * `stats_update_fails`.
 */
export function updateWithStats(stats: ReceivedStats, bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let unknown = 0;
  for (let at = 0; at + SIZE_OF_STAT <= bytes.length; at += SIZE_OF_STAT) {
    const name = STAT_TAGS[view.getUint16(at, true)];
    if (name === undefined) unknown++;
    else stats[name] = normalizeU64(view.getBigUint64(at + 2, true));
  }
  return unknown;
}
