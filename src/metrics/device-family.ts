/**
 * Devices with several instances (block, net, pmem, vhost-user): one group per device, written
 * as `<prefix>_<id>` in id order, then the aggregate `<prefix>`.
 *
 * A device allocates its group once and increments it directly, with no lookup on the hot path.
 * The aggregate is computed from the very deltas the device entries of the same line carry, so
 * aggregate = Σ devices holds in every line, even while devices are being incremented. Unlike
 * Firecracker, whose aggregate leaves latency minima and maxima at 0, the aggregate's `min_us` is
 * the least device minimum that is set and its `max_us` the greatest maximum.
 */
import type { GroupFields, GroupSchema, MetricGroup } from './group.js';
import { encodeMemberKey, type JsonPiece } from './json-bytes.js';
import { compareKeys } from './key-order.js';
import type { MetricsLine } from './line.js';
import type { U64 } from './u64.js';

interface Device<F extends GroupFields> {
  readonly id: string;
  readonly key: string;
  readonly keyPiece: JsonPiece;
  readonly group: MetricGroup<F>;
  removed: boolean;
}

export interface DeviceFamilyOptions {
  /**
   * Write the aggregate entry after the devices' ones.
   * @default true
   */
  readonly aggregate?: boolean;
}

export class DeviceFamily<F extends GroupFields> {
  readonly aggregate: boolean;
  readonly #aggregateKey: JsonPiece;
  /** Sorted by `compareKeys`, as Firecracker's `BTreeMap<String, _>` iterates. */
  readonly #devices: Device<F>[] = [];

  constructor(
    readonly prefix: string,
    readonly schema: GroupSchema<F>,
    options: DeviceFamilyOptions = {},
  ) {
    this.aggregate = options.aggregate ?? true;
    this.#aggregateKey = encodeMemberKey(prefix);
  }

  /**
   * The group of device `id`, created on first use. The same id always gives the same group, so
   * a re-created (or re-plugged) device keeps its counters.
   */
  alloc(id: string): MetricGroup<F> {
    this.#checkId(id);
    const index = this.#search(id);
    const found = this.#devices[index];
    if (found?.id === id) {
      found.removed = false;
      return found.group;
    }
    const key = `${this.prefix}_${id}`;
    const device: Device<F> = { id, key, keyPiece: encodeMemberKey(key), group: this.schema.create(key), removed: false };
    this.#devices.splice(index, 0, device);
    return device.group;
  }

  /**
   * Hot-unplug: the device's entry stays until a line has carried its last deltas, then goes.
   * Returns false if no such device is present.
   */
  remove(id: string): boolean {
    this.#checkId(id);
    const device = this.#devices[this.#search(id)];
    if (device?.id !== id || device.removed) return false;
    device.removed = true;
    return true;
  }

  /** The ids of the present (not removed) devices, in entry order. */
  ids(): string[] {
    return this.#devices.filter((d) => !d.removed).map((d) => d.id);
  }

  /** Writes each device's entry, then the aggregate. */
  flush(line: MetricsLine): void {
    this.#dropFlushedRemovals();
    if (!this.aggregate) {
      for (const device of this.#devices) line.group(device.key, this.schema, device.group, device.keyPiece);
      return;
    }
    const rows: U64[][] = [];
    for (const device of this.#devices) rows.push(line.groupRow(device.key, this.schema, device.group, device.keyPiece));
    line.writePiece(this.#aggregateKey);
    this.schema.writeRow(line, this.schema.aggregate(rows));
  }

  #dropFlushedRemovals(): void {
    for (let i = this.#devices.length - 1; i >= 0; i--) {
      const device = this.#devices[i] as Device<F>;
      if (device.removed && !this.schema.hasDelta(device.group)) this.#devices.splice(i, 1);
    }
  }

  #checkId(id: unknown): void {
    if (typeof id !== 'string' || id.length === 0) {
      throw new TypeError(`${this.prefix}: a device id must be a non-empty string, got ${describeId(id)}`);
    }
  }

  /** Index of `id`, or where it would be inserted. */
  #search(id: string): number {
    let low = 0;
    let high = this.#devices.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareKeys((this.#devices[mid] as Device<F>).id, id) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

function describeId(id: unknown): string {
  return typeof id === 'string' ? 'an empty string' : typeof id;
}
