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
 * Hot-unplug: a removed device is written until a committed line has carried its last deltas,
 * then its group is released, so plugging and unplugging devices for as long as a VM runs holds
 * memory only for the devices present. Re-plugging an id before that gives back the same group
 * (nothing counted is lost); after it, a fresh one. The aggregate carries every delta either way.
 * Lines may not commit for a long time (no writer yet, a failing destination), so at most
 * `maxRemovedPending` removed devices wait for their line: past that, the oldest one's last
 * deltas are folded into a group that only the aggregate carries, and its group is released.
 */
import type { DocumentEntry, EntryGroup, EntryShape } from './document.js';
import type { GroupFields, GroupSchema, MetricGroup } from './group.js';
import { encodeMemberKey, type JsonPiece } from './json-bytes.js';
import { compareKeys } from './key-order.js';
import type { MetricsLine } from './line.js';
import type { U64 } from './u64.js';

interface Device<F extends GroupFields> {
  readonly id: string;
  readonly keyPiece: JsonPiece;
  readonly group: MetricGroup<F>;
  /** Unplugged: written while it has deltas, released after the line that carries the last. */
  removed: boolean;
}

export interface DeviceFamilyOptions {
  /**
   * Write the aggregate entry after the devices' ones.
   * @default true
   */
  readonly aggregate?: boolean;
  /**
   * Put each device's group in shared memory, so that worker threads can increment it: hand
   * `sharedBuffer(id)` to a worker, which attaches with `schema.createShared(key, buffer)`.
   * @default false
   */
  readonly sharedMemory?: boolean;
  /**
   * How many removed devices may wait for the line that carries their last deltas; past that the
   * oldest one's deltas go to the aggregate alone (see the module doc). A family without an
   * aggregate has nowhere else to write them and keeps every removed device until its line.
   * @default 1024
   */
  readonly maxRemovedPending?: number;
}

/** About 5 MB of block groups: far more devices than a VM unplugs between two flushes. */
const DEFAULT_MAX_REMOVED_PENDING = 1024;

export class DeviceFamily<F extends GroupFields> implements DocumentEntry {
  readonly aggregate: boolean;
  readonly shape: EntryShape;
  readonly #aggregateKey: JsonPiece;
  /** Sorted by `compareKeys`, as Firecracker's `BTreeMap<String, _>` iterates. */
  readonly #devices: Device<F>[] = [];
  /** The removed devices not yet released, oldest first. */
  readonly #removed = new Set<Device<F>>();
  /** The last deltas of removed devices folded away, written within the aggregate alone. */
  #retired: MetricGroup<F> | undefined;
  #shared: boolean;
  readonly #maxRemovedPending: number;
  readonly #releaseDrained = (): void => {
    this.#release((device) => device.removed && !this.schema.hasDelta(device.group));
    if (this.#retired !== undefined && !this.schema.hasDelta(this.#retired)) this.#retired = undefined;
  };

  constructor(
    readonly prefix: string,
    readonly schema: GroupSchema<F>,
    options: DeviceFamilyOptions = {},
  ) {
    this.aggregate = options.aggregate ?? true;
    this.#shared = options.sharedMemory ?? false;
    const max: unknown = options.maxRemovedPending ?? DEFAULT_MAX_REMOVED_PENDING;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 0) {
      throw new RangeError(`${prefix}: maxRemovedPending must be an integer of 0 or more, got ${String(max)}`);
    }
    this.#maxRemovedPending = max;
    this.#aggregateKey = encodeMemberKey(prefix);
    this.shape = { kind: 'devices', prefix, schema: schema as unknown as GroupSchema<GroupFields>, aggregate: this.aggregate };
  }

  /** An empty family of the same prefix, schema and options: another VM's. */
  createEmpty(): DeviceFamily<F> {
    return new DeviceFamily(this.prefix, this.schema, {
      aggregate: this.aggregate,
      sharedMemory: this.#shared,
      maxRemovedPending: this.#maxRemovedPending,
    });
  }

  /**
   * Puts the groups of the devices allocated from now on in shared memory (see the
   * `sharedMemory` option). Only before the first `alloc()`.
   */
  useSharedMemory(): void {
    if (this.#devices.length > 0) {
      throw new Error(`${this.prefix}: shared memory must be chosen before the first device is allocated`);
    }
    this.#shared = true;
  }

  /**
   * The group of device `id`, created on first use. The same id gives the same group while the
   * device is present, and after its removal until its group is released.
   */
  alloc(id: string): MetricGroup<F> {
    this.#checkId(id);
    const index = this.#search(id);
    const found = this.#devices[index];
    if (found?.id === id) {
      found.removed = false;
      this.#removed.delete(found);
      return found.group;
    }
    const key = `${this.prefix}_${id}`;
    const group = this.#shared ? this.schema.createShared(key) : this.schema.create(key);
    this.#devices.splice(index, 0, { id, keyPiece: encodeMemberKey(key), group, removed: false });
    return group;
  }

  /** The shared memory of device `id`'s group (see `useSharedMemory`). */
  sharedBuffer(id: string): SharedArrayBuffer {
    const device = this.#find(id);
    if (device === undefined) throw new RangeError(`${this.prefix}: no device ${JSON.stringify(id)}`);
    return this.schema.sharedBuffer(device.group);
  }

  /**
   * Hot-unplug. A device with deltas not yet written stays in the lines until a committed line
   * has carried them; one without is released at once. Returns false if no such device is present.
   */
  remove(id: string): boolean {
    const device = this.#find(id);
    if (device === undefined || device.removed) return false;
    device.removed = true;
    if (!this.schema.hasDelta(device.group)) {
      this.#release((d) => d === device);
      return true;
    }
    this.#removed.add(device);
    if (this.aggregate && this.#removed.size > this.#maxRemovedPending) this.#foldOldest();
    return true;
  }

  /** The ids of the present (not removed) devices, in entry order. */
  ids(): string[] {
    return this.#devices.filter((d) => !d.removed).map((d) => d.id);
  }

  /** The present devices' groups, in entry order (see `DocumentEntry.groups`). */
  groups(): EntryGroup[] {
    const held: EntryGroup[] = [];
    for (const d of this.#devices) if (!d.removed) held.push({ device: d.id, group: d.group });
    return held;
  }

  /** How many groups the family holds: present devices, and removed ones whose last line is not out. */
  get size(): number {
    return this.#devices.length;
  }

  /** Writes each device's entry, then the aggregate. Releases nothing until the line commits. */
  writeTo(line: MetricsLine): void {
    const rows: U64[][] | undefined = this.aggregate ? [] : undefined;
    let anyRemoved = false;
    for (const device of this.#devices) {
      let row: U64[] | undefined;
      if (rows) rows.push((row = []));
      line.group(device.keyPiece, this.schema, device.group, row);
      if (device.removed) anyRemoved = true;
    }
    if (rows) {
      if (this.#retired !== undefined) rows.push(line.takeRow(this.schema, this.#retired));
      line.row(this.#aggregateKey, this.schema, this.schema.aggregate(rows));
    }
    if (anyRemoved || this.#retired !== undefined) line.afterCommit(this.#releaseDrained);
  }

  /** Folds removed devices, oldest first, until few enough wait (skipping any a line is writing). */
  #foldOldest(): void {
    const folded = new Set<Device<F>>();
    for (const device of this.#removed) {
      if (this.#removed.size - folded.size <= this.#maxRemovedPending) break;
      this.#retired ??= this.schema.create(`${this.prefix}_removed`);
      if (this.schema.foldInto(device.group, this.#retired)) folded.add(device);
    }
    if (folded.size > 0) this.#release((d) => folded.has(d));
  }

  #release(which: (device: Device<F>) => boolean): void {
    const devices = this.#devices;
    let kept = 0;
    for (const device of devices) {
      if (!which(device)) devices[kept++] = device;
      else this.#removed.delete(device);
    }
    devices.length = kept;
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
