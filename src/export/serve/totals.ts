/**
 * One VM's cumulative values, rebuilt from its delta lines.
 *
 * A metrics line carries each counter as its delta since the previous flush and each store as its
 * value, so the total of a counter is the sum over every line read, and a store is its last
 * value. A writer that restarts (a new VMM process) starts its deltas from zero again: adding
 * them continues the total, so a counter served from here never goes down while the serving
 * process lives.
 *
 * A value is served once a line carried it: a field a VM's release does not write has no
 * sample for that VM. Whether a value is a counter or a store is the served schema's (one kind
 * per field, whichever release wrote the line).
 *
 * Design notes: totals are doubles while they are safe integers (adding a delta is one addition
 * into a `Float64Array`) and a `bigint` once one would pass 2^53 − 1, so no digit is lost; the
 * aggregate entries (`block`, `net` since v1.6) are not kept, since the per-device families sum
 * to them; a line exactly as its schema writes it is folded by position, its keys' places looked
 * up once per schema.
 *
 * What one writer may make a VM hold is bounded: a device id longer than `maxDeviceIdLength` or a
 * device past `maxDevices` is refused (its values left out of the totals, the refusal counted),
 * and a device the VM's lines have not carried for `forgetAfterLines` lines is forgotten (it was
 * unplugged), so a writer that plugs and unplugs fresh ids holds only the devices it has now.
 */
import type { U64 } from '../../metrics/u64.js';
import type { ExactJson } from '../../reader/exact-json.js';
import type { MetricsRecord } from '../../reader/record.js';
import type { MetricsSchema } from '../../reader/schema.js';
import { labelSet } from '../exposition.js';
import type { FoldTarget, ServedEntry, ServedSchema } from './served-schema.js';

/** The values of one group (or one device's group) of a VM, by their place in the served entry. */
export class GroupTotals {
  #numbers: Float64Array;
  /** 1 for each value a line carried. */
  #present: Uint8Array;
  /** Values past 2^53 − 1, by place; only once one appears. */
  #big: (bigint | undefined)[] | undefined;
  /** `deviceLabel` as UTF-8, for the exposition's buffer. */
  readonly deviceLabelBytes: Buffer;

  constructor(
    size: number,
    /** `,device="x"` for a device's group, `''` otherwise: written into every sample. */
    readonly deviceLabel: string,
  ) {
    this.#numbers = new Float64Array(size);
    this.#present = new Uint8Array(size);
    this.deviceLabelBytes = Buffer.from(deviceLabel);
  }

  /** Makes room for `size` values (an entry that grew a field no schema declares). */
  ensure(size: number): void {
    if (size <= this.#numbers.length) return;
    const numbers = new Float64Array(size);
    numbers.set(this.#numbers);
    const present = new Uint8Array(size);
    present.set(this.#present);
    this.#numbers = numbers;
    this.#present = present;
  }

  /** Marks the value at `place` as carried by the VM's lines: it is served from now on. */
  mark(place: number): void {
    this.#present[place] = 1;
  }

  /** Whether the VM's lines carried the value at `place`. */
  has(place: number): boolean {
    return this.#present[place] === 1;
  }

  add(place: number, delta: U64): void {
    const big = this.#big?.[place];
    if (big !== undefined) {
      (this.#big as bigint[])[place] = big + BigInt(delta);
      return;
    }
    if (typeof delta === 'number') {
      const sum = (this.#numbers[place] as number) + delta;
      if (sum <= Number.MAX_SAFE_INTEGER) {
        this.#numbers[place] = sum;
        return;
      }
    }
    this.#promote(place, BigInt(this.#numbers[place] as number) + BigInt(delta));
  }

  set(place: number, value: U64): void {
    if (typeof value === 'number') {
      this.#numbers[place] = value;
      if (this.#big !== undefined) this.#big[place] = undefined;
    } else {
      this.#promote(place, value);
    }
  }

  /** The exact value at `place`. */
  get(place: number): U64 {
    return this.#big?.[place] ?? (this.#numbers[place] as number);
  }

  #promote(place: number, value: bigint): void {
    this.#big ??= [];
    this.#big[place] = value;
    this.#numbers[place] = 0;
  }
}

/** What one VM may hold of devices. */
export interface DeviceLimits {
  /** A longer device id is refused (the `vm` label's cap: `MAX_VM_ID_LENGTH`). */
  readonly maxDeviceIdLength: number;
  /** Devices a VM may have at once, across its families; one more is refused. */
  readonly maxDevices: number;
  /** A device its VM's last this many lines did not carry is forgotten. */
  readonly forgetAfterLines: number;
}

/** A device id longer than this is refused, as a `vm` id longer than 256 is not used. */
export const MAX_DEVICE_ID_LENGTH = 256;
/** Devices one VM may have at once: far more than a microVM attaches, and a bound on a writer that invents ids. */
export const MAX_DEVICES = 256;
/**
 * Lines without a device before it is forgotten: Firecracker writes every attached device on
 * every flush (60 s apart on its own), so a device absent from 10 lines in a row was unplugged.
 */
export const FORGET_DEVICE_AFTER_LINES = 10;

export const DEFAULT_DEVICE_LIMITS: DeviceLimits = {
  maxDeviceIdLength: MAX_DEVICE_ID_LENGTH,
  maxDevices: MAX_DEVICES,
  forgetAfterLines: FORGET_DEVICE_AFTER_LINES,
};

/** Why a device's values were left out of the totals, as `vmm_metrics_serve_devices_refused_total` labels it. */
export type DeviceRefusal = 'id_too_long' | 'too_many';
export const DEVICE_REFUSALS: readonly DeviceRefusal[] = ['id_too_long', 'too_many'];

/** A device a VM holds now: where its totals are kept, and the line that last carried it. */
interface HeldDevice {
  readonly entryKey: string;
  readonly id: string;
  lastLine: number;
  /** The line keys whose cached targets fold into it (dropped with it). */
  readonly keys: Set<string>;
}

/** Where a key of a line folds, in one VM: the target and the group's totals. */
interface VmTarget {
  readonly target: FoldTarget;
  readonly totals: GroupTotals;
  /** The device it folds into; undefined for a single group. */
  readonly device: HeldDevice | undefined;
  /** Per value of the line's group, in order: 1 to add (a counter), 0 to set (a store). */
  readonly counters: Uint8Array;
  /** How many fields the line's group has, and for each how many members (0 for a number). */
  readonly members: readonly number[];
}

/** What folding a line by name met that no schema declares. */
export interface UnknownMet {
  /** Values met (a latency object counts once). */
  count: number;
  /** The first few, as `key.field`, for a message. */
  readonly names: string[];
  /** How many of them could not be served (unusable names, the limit). */
  notServed: number;
}

const MAX_NAMES = 5;

/** A device a VM may not hold (see `DeviceLimits`). */
const REFUSED = Symbol('refused');

/** Every entry's totals for one VM. */
export class VmTotals {
  /** By entry key, by device id (`''` for a single group): in the order they first appeared. */
  readonly #entries = new Map<string, Map<string, GroupTotals>>();
  /** The schema the targets below are for: a source's lines are usually one release's. */
  #targetsOf: MetricsSchema | undefined;
  /** By a line's key (`balloon`, `block_rootfs`): where its values fold. */
  readonly #targets = new Map<string, VmTarget | null>();
  /** The devices held now, whatever their family, by their totals. */
  readonly #devices = new Map<GroupTotals, HeldDevice>();
  /** Lines folded in. */
  #lines = 0;
  /** Device entries refused, by why, since the start (one a line and key). */
  readonly refused: Record<DeviceRefusal, number> = { id_too_long: 0, too_many: 0 };
  /** Devices forgotten since the start (not carried for `forgetAfterLines` lines). */
  forgotten = 0;

  constructor(
    readonly served: ServedSchema,
    readonly limits: DeviceLimits = DEFAULT_DEVICE_LIMITS,
  ) {}

  /** Devices held now. */
  get devices(): number {
    return this.#devices.size;
  }

  /**
   * Folds a valid line that is exactly `schema`'s (every declared field, in order, nothing else)
   * by position. A group with other fields (a line with warnings) is folded by name, and what
   * no schema declares is left out and counted.
   */
  applyExact(record: MetricsRecord, schema: MetricsSchema, unknown?: UnknownMet): void {
    if (this.#targetsOf !== schema) {
      this.#targetsOf = schema;
      this.#targets.clear();
    }
    const line = ++this.#lines;
    const groups = record.groups;
    for (const key of Object.keys(groups)) {
      let target = this.#targets.get(key);
      if (target === undefined) {
        const made = this.#vmTarget(schema, key);
        // A refused device is not remembered: it is counted on every line that carries it.
        if (made === REFUSED) continue;
        target = made;
        // Not remembered when unknown: a writer could send a new unknown key on every line.
        if (target !== null || schema.roleOf(key) !== undefined) this.#targets.set(key, target);
        if (target?.device !== undefined) target.device.keys.add(key);
      }
      const group = groups[key] as Readonly<Record<string, ExactJson>>;
      if (target === null) {
        if (unknown !== undefined && schema.roleOf(key) === undefined) this.#foldByName(key, group, undefined, undefined, unknown, false);
        continue;
      }
      if (target.device !== undefined) target.device.lastLine = line;
      const fields = Object.values(group);
      if (!sameShape(fields, target.members)) {
        this.#foldByName(key, group, target.target.entry, target.totals, unknown, false);
        continue;
      }
      const { totals, counters } = target;
      const places = target.target.places;
      let i = 0;
      for (const field of fields) {
        if (typeof field === 'object') {
          for (const member of Object.values(field as object) as U64[]) {
            fold(totals, places[i] as number, counters[i] as number, member);
            i++;
          }
        } else {
          fold(totals, places[i] as number, counters[i] as number, field as U64);
          i++;
        }
      }
    }
    this.#forget(line);
  }

  /**
   * Folds a valid line by name, its keys read as `nearest`'s (`block` a single group up to
   * v1.5, an aggregate after), else as the served schema's. Fields no schema declares are
   * served (`serveUnknown`) or left out; either way counted in `unknown`.
   */
  applyByName(record: MetricsRecord, nearest: MetricsSchema, serveUnknown: boolean, unknown: UnknownMet): void {
    const line = ++this.#lines;
    const groups = record.groups;
    for (const key of Object.keys(groups)) {
      const group = groups[key] as Readonly<Record<string, ExactJson>>;
      const target = this.served.target(nearest, key) ?? (nearest.roleOf(key) === undefined ? this.served.target(this.served.schema, key) : null);
      if (target !== null) {
        const totals = this.#heldTotals(target.entry, target.deviceId);
        if (totals !== REFUSED) this.#foldByName(key, group, target.entry, totals, unknown, serveUnknown);
      } else if (nearest.roleOf(key) === undefined && this.served.schema.roleOf(key) === undefined) {
        this.#foldByName(key, group, undefined, undefined, unknown, serveUnknown);
      }
    }
    this.#forget(line);
  }

  /** The groups of an entry, by device id (`''` for a single group), in the order they first appeared. */
  groupsOf(entryKey: string): ReadonlyMap<string, GroupTotals> | undefined {
    return this.#entries.get(entryKey);
  }

  /** Where `key` folds: null for nowhere (remembered), `REFUSED` for a device refused now (not remembered). */
  #vmTarget(schema: MetricsSchema, key: string): VmTarget | null | typeof REFUSED {
    const target = this.served.target(schema, key);
    if (target === null) return null;
    const totals = this.#heldTotals(target.entry, target.deviceId);
    if (totals === REFUSED) return REFUSED;
    const role = schema.roleOf(key);
    const values = role?.schema.values ?? [];
    const members: number[] = [];
    for (const value of values) {
      if (value.member === undefined) members.push(0);
      else if (value.member === 'min_us') members.push(3);
    }
    const counters = Uint8Array.from(target.places, (place) => (place < 0 ? 0 : (target.entry.counter[place] as number)));
    for (const place of target.places) if (place >= 0) totals.mark(place);
    return { target, totals, counters, members, device: this.#devices.get(totals) };
  }

  /**
   * A group's totals, a device's marked as carried by this line; `REFUSED` (and counted) for a
   * device this VM may not hold: an id too long, or one device too many.
   */
  #heldTotals(entry: ServedEntry, deviceId: string): GroupTotals | typeof REFUSED {
    if (deviceId === '') return this.#groupTotals(entry, deviceId);
    const existing = this.#entries.get(entry.key)?.get(deviceId);
    if (existing !== undefined) {
      (this.#devices.get(existing) as HeldDevice).lastLine = this.#lines;
      return existing;
    }
    const refusal: DeviceRefusal | undefined =
      deviceId.length > this.limits.maxDeviceIdLength ? 'id_too_long' : this.#devices.size >= this.limits.maxDevices ? 'too_many' : undefined;
    if (refusal !== undefined) {
      this.refused[refusal]++;
      return REFUSED;
    }
    const totals = this.#groupTotals(entry, deviceId);
    this.#devices.set(totals, { entryKey: entry.key, id: deviceId, lastLine: this.#lines, keys: new Set() });
    return totals;
  }

  /** Drops the devices the last `forgetAfterLines` lines did not carry, with the targets cached for them. */
  #forget(line: number): void {
    for (const [totals, device] of this.#devices) {
      if (line - device.lastLine < this.limits.forgetAfterLines) continue;
      this.#devices.delete(totals);
      for (const key of device.keys) if (this.#targets.get(key)?.totals === totals) this.#targets.delete(key);
      this.#entries.get(device.entryKey)?.delete(device.id);
      this.forgotten++;
    }
  }

  /** Folds a group's fields by name into `entry` (undefined: a key no schema knows, its own entry if it can be served). */
  #foldByName(
    key: string,
    group: Readonly<Record<string, ExactJson>>,
    entry: ServedEntry | undefined,
    totals: GroupTotals | undefined,
    unknown: UnknownMet | undefined,
    serveUnknown: boolean,
  ): void {
    for (const field of Object.keys(group)) {
      const value = group[field];
      const isLatency = typeof value === 'object' && value !== null;
      let place = entry?.byField.get(field);
      if (place === undefined || place >= (entry as ServedEntry).declared) {
        if (unknown !== undefined) {
          unknown.count++;
          if (unknown.names.length < MAX_NAMES) unknown.names.push(`${key}.${field}`);
        }
        if (place === undefined && serveUnknown) {
          const made = this.served.unknownPlace(entry?.key ?? key, field, isLatency);
          if (made !== undefined) {
            entry = made.entry;
            totals ??= this.#groupTotals(made.entry, '');
            place = made.place;
          }
        }
        if (place === undefined || !serveUnknown) {
          if (unknown !== undefined) unknown.notServed++;
          continue;
        }
      }
      const served = entry as ServedEntry;
      const into = totals as GroupTotals;
      into.ensure(served.size);
      if (isLatency) {
        const members = value as Readonly<Record<string, ExactJson>>;
        LATENCY_MEMBERS.forEach((member, i) => {
          const v = members[member];
          if (typeof v === 'number' || typeof v === 'bigint') {
            into.mark(place + i);
            fold(into, place + i, served.counter[place + i] as number, v);
          }
        });
      } else if (typeof value === 'number' || typeof value === 'bigint') {
        into.mark(place);
        fold(into, place, served.counter[place] as number, value);
      }
    }
  }

  #groupTotals(entry: ServedEntry, deviceId: string): GroupTotals {
    let groups = this.#entries.get(entry.key);
    if (groups === undefined) this.#entries.set(entry.key, (groups = new Map<string, GroupTotals>()));
    let totals = groups.get(deviceId);
    if (totals === undefined) {
      const label = entry.perDevice && deviceId !== '' ? `,${labelSet([['device', deviceId]]).slice(1, -1)}` : '';
      groups.set(deviceId, (totals = new GroupTotals(entry.size, label)));
    }
    return totals;
  }
}

const LATENCY_MEMBERS = ['min_us', 'max_us', 'sum_us'] as const;

function fold(totals: GroupTotals, place: number, counter: number, value: U64): void {
  if (place < 0) return;
  if (counter === 1) totals.add(place, value);
  else totals.set(place, value);
}

/**
 * Whether a valid group's values are exactly the schema's fields (latency fields with exactly
 * their members): then they are in the schema's order, which the reader checked.
 */
function sameShape(fields: readonly unknown[], members: readonly number[]): boolean {
  if (fields.length !== members.length) return false;
  for (let i = 0; i < fields.length; i++) {
    const count = members[i] as number;
    const field = fields[i];
    if (count === 0 ? typeof field === 'object' && field !== null : Object.keys(field as object).length !== count) return false;
  }
  return true;
}
