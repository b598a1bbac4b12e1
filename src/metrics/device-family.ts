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
 */
import type { DocumentEntry, EntryShape } from './document.js';
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
}

export class DeviceFamily<F extends GroupFields> implements DocumentEntry {
  readonly aggregate: boolean;
  readonly shape: EntryShape;
  readonly #aggregateKey: JsonPiece;
  /** Sorted by `compareKeys`, as Firecracker's `BTreeMap<String, _>` iterates. */
  readonly #devices: Device<F>[] = [];
  #shared: boolean;
  readonly #releaseDrained = (): void => {
    this.#release((device) => device.removed && !this.schema.hasDelta(device.group));
  };

  constructor(
    readonly prefix: string,
    readonly schema: GroupSchema<F>,
    options: DeviceFamilyOptions = {},
  ) {
    this.aggregate = options.aggregate ?? true;
    this.#shared = options.sharedMemory ?? false;
    this.#aggregateKey = encodeMemberKey(prefix);
    this.shape = { kind: 'devices', prefix, schema: schema as unknown as GroupSchema<GroupFields>, aggregate: this.aggregate };
  }

  /** An empty family of the same prefix, schema and options: another VM's. */
  createEmpty(): DeviceFamily<F> {
    return new DeviceFamily(this.prefix, this.schema, { aggregate: this.aggregate, sharedMemory: this.#shared });
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
    if (!this.schema.hasDelta(device.group)) this.#release((d) => d === device);
    return true;
  }

  /** The ids of the present (not removed) devices, in entry order. */
  ids(): string[] {
    return this.#devices.filter((d) => !d.removed).map((d) => d.id);
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
    if (anyRemoved) line.afterCommit(this.#releaseDrained);
    if (rows) line.row(this.#aggregateKey, this.schema, this.schema.aggregate(rows));
  }

  #release(which: (device: Device<F>) => boolean): void {
    const devices = this.#devices;
    let kept = 0;
    for (const device of devices) if (!which(device)) devices[kept++] = device;
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
