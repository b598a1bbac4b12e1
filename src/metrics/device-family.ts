/**
 * Devices with several instances (block, net, pmem, vhost-user): one group per device, written
 * as `<prefix>_<id>` in id order, then the aggregate `<prefix>`.
 *
 * A device allocates its group once and increments it directly, with no lookup on the hot path.
 * The aggregate is computed from the very deltas the device entries of the same line carry, so
 * aggregate = Σ devices holds in every line, even while devices are being incremented. Unlike
 * Firecracker, whose aggregate leaves latency minima and maxima at 0, the aggregate's `min_us` is
 * the least device minimum that is set and its `max_us` the greatest maximum.
 *
 * A removed (hot-unplugged) device is written until a committed line has carried its last
 * state, then left out while nothing new is counted on it. Its group is kept: the same id
 * always gives the same group, so a re-plugged device goes on counting where it stopped.
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
  /** Removed, and no committed line has carried its state since. */
  owesLine: boolean;
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
  #shared = false;

  constructor(
    readonly prefix: string,
    readonly schema: GroupSchema<F>,
    options: DeviceFamilyOptions = {},
  ) {
    this.aggregate = options.aggregate ?? true;
    this.#aggregateKey = encodeMemberKey(prefix);
  }

  /**
   * Puts the groups of the devices allocated from now on in shared memory, so that worker
   * threads can increment them: hand `sharedBuffer(id)` to a worker, which attaches with
   * `schema.createShared(\`${prefix}_${id}\`, buffer)`. Only before the first `alloc()`.
   */
  useSharedMemory(): void {
    if (this.#devices.length > 0) {
      throw new Error(`${this.prefix}: shared memory must be chosen before the first device is allocated`);
    }
    this.#shared = true;
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
      found.owesLine = false;
      return found.group;
    }
    const key = `${this.prefix}_${id}`;
    const group = this.#shared ? this.schema.createShared(key) : this.schema.create(key);
    this.#devices.splice(index, 0, { id, key, keyPiece: encodeMemberKey(key), group, removed: false, owesLine: false });
    return group;
  }

  /** The shared memory of device `id`'s group (see `useSharedMemory`). */
  sharedBuffer(id: string): SharedArrayBuffer {
    const device = this.#find(id);
    if (device === undefined) throw new RangeError(`${this.prefix}: no device ${JSON.stringify(id)}`);
    return this.schema.sharedBuffer(device.group);
  }

  /**
   * Hot-unplug: the device's entry stays until a committed line has carried its last state.
   * Returns false if no such device is present.
   */
  remove(id: string): boolean {
    const device = this.#find(id);
    if (device === undefined || device.removed) return false;
    device.removed = true;
    device.owesLine = true;
    return true;
  }

  /** The ids of the present (not removed) devices, in entry order. */
  ids(): string[] {
    return this.#devices.filter((d) => !d.removed).map((d) => d.id);
  }

  /** Writes each device's entry, then the aggregate. Changes nothing until the line commits. */
  flush(line: MetricsLine): void {
    const rows: U64[][] = [];
    for (const device of this.#devices) {
      if (device.removed && !device.owesLine && !this.schema.hasDelta(device.group)) continue;
      if (this.aggregate) rows.push(line.groupRow(device.key, this.schema, device.group, device.keyPiece));
      else line.group(device.key, this.schema, device.group, device.keyPiece);
      if (device.owesLine) {
        line.afterCommit(() => {
          device.owesLine = false;
        });
      }
    }
    if (this.aggregate) {
      line.writePiece(this.#aggregateKey);
      this.schema.writeRow(line, this.schema.aggregate(rows));
    }
  }

  #checkId(id: unknown): void {
    if (typeof id !== 'string' || id.length === 0) {
      throw new TypeError(`${this.prefix}: a device id must be a non-empty string, got ${describeId(id)}`);
    }
  }

  #find(id: string): Device<F> | undefined {
    this.#checkId(id);
    const device = this.#devices[this.#search(id)];
    return device?.id === id ? device : undefined;
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
