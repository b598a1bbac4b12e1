/**
 * One VM's cumulative values, rebuilt from its delta lines.
 *
 * A metrics line carries each counter as its delta since the previous flush and each store as its
 * value, so the total of a counter is the sum over every line read, and a store is its last
 * value. A writer that restarts (a new VMM process) starts its deltas from zero again: adding
 * them continues the total, so a counter served from here never goes down while the serving
 * process lives.
 *
 * Design notes: totals are doubles while they are safe integers (adding a delta is one addition
 * into a `Float64Array`) and a `bigint` once one would pass 2^53 − 1, so no digit is lost; the
 * aggregate entries (`block`, `net`) are not kept, since the per-device families sum to them.
 *
 * What one writer may make a VM hold is bounded: a device id longer than `maxDeviceIdLength` or a
 * device past `maxDevices` is refused (its values left out of the totals, the refusal counted),
 * and a device the VM's lines have not carried for `forgetAfterLines` lines is forgotten (it was
 * unplugged), so a writer that plugs and unplugs fresh ids holds only the devices it has now.
 */
import type { U64 } from '../../metrics/u64.js';
import type { MetricsRecord } from '../../reader/record.js';
import { groupLayout, type MetricsSchema } from '../../reader/schema.js';
import type { PrometheusFamily } from '../names.js';
import { labelSet } from '../exposition.js';

/** The values of one group (or one device's group) of a VM, in the schema's `values` order. */
export class GroupTotals {
  readonly #numbers: Float64Array;
  /** Values past 2^53 − 1, by index; only once one appears. */
  #big: (bigint | undefined)[] | undefined;
  /** `deviceLabel` as UTF-8, for the exposition's buffer. */
  readonly deviceLabelBytes: Buffer;

  constructor(
    size: number,
    /** `,device="x"` for a device's group, `''` otherwise: written into every sample. */
    readonly deviceLabel: string,
  ) {
    this.#numbers = new Float64Array(size);
    this.deviceLabelBytes = Buffer.from(deviceLabel);
  }

  add(index: number, delta: U64): void {
    const big = this.#big?.[index];
    if (big !== undefined) {
      (this.#big as bigint[])[index] = big + BigInt(delta);
      return;
    }
    if (typeof delta === 'number') {
      const sum = (this.#numbers[index] as number) + delta;
      if (sum <= Number.MAX_SAFE_INTEGER) {
        this.#numbers[index] = sum;
        return;
      }
    }
    this.#promote(index, BigInt(this.#numbers[index] as number) + BigInt(delta));
  }

  set(index: number, value: U64): void {
    if (typeof value === 'number') {
      this.#numbers[index] = value;
      if (this.#big !== undefined) this.#big[index] = undefined;
    } else {
      this.#promote(index, value);
    }
  }

  /** The exact value at `index`. */
  get(index: number): U64 {
    return this.#big?.[index] ?? (this.#numbers[index] as number);
  }

  #promote(index: number, value: bigint): void {
    this.#big ??= [];
    this.#big[index] = value;
    this.#numbers[index] = 0;
  }
}

/** The totals of one entry of the schema: a group, or the devices of a family by id. */
interface EntryTotals {
  readonly groups: Map<string, GroupTotals>;
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

/** How the values of each entry key of a line are read and folded. */
export interface TotalsPlan {
  readonly schema: MetricsSchema;
  /** By entry key (a group's key, a family's prefix): its values' kinds and places, in `values` order. */
  readonly entries: ReadonlyMap<string, readonly ValueReader[]>;
  /** By entry key: each field of its group object, in order: 0 for a number, else its members' count. */
  readonly fieldMembers: ReadonlyMap<string, readonly number[]>;
}

interface ValueReader {
  readonly field: string;
  readonly member: string | undefined;
  readonly counter: boolean;
}

/** The plan for a schema and the families exported from it. */
export function totalsPlan(schema: MetricsSchema, families: readonly PrometheusFamily[]): TotalsPlan {
  const entries = new Map<string, ValueReader[]>();
  const fieldMembers = new Map<string, number[]>();
  for (const entry of schema.entries) {
    const key = entry.kind === 'group' ? entry.key : entry.prefix;
    fieldMembers.set(key, groupLayout(entry.schema).fields.map((f) => f.members?.length ?? 0));
    entries.set(
      key,
      entry.schema.values.map((value) => ({ field: value.field, member: value.member, counter: value.kind === 'inc' })),
    );
  }
  for (const family of families) {
    if (!entries.has(family.entry)) throw new TypeError(`serve: the family ${family.name} reads the entry ${family.entry}, which the schema does not have`);
  }
  return { schema, entries, fieldMembers };
}

/**
 * Whether a valid group's values are exactly the declared fields (latency fields with exactly
 * their members): then they are in declared order, which the reader checked. A field or member
 * the schema does not know (kept in the record, as a warning) makes it false.
 */
function declaredShape(fields: readonly unknown[], members: readonly number[]): boolean {
  if (fields.length !== members.length) return false;
  for (let i = 0; i < fields.length; i++) {
    const count = members[i] as number;
    if (count !== 0 && Object.keys(fields[i] as object).length !== count) return false;
  }
  return true;
}

function fold(totals: GroupTotals, reader: ValueReader, index: number, value: U64): void {
  if (reader.counter) totals.add(index, value);
  else totals.set(index, value);
}

interface FoldTarget {
  readonly totals: GroupTotals;
  /** For a device: where it is kept, and the line that last carried it. */
  readonly device: { readonly entry: EntryTotals; readonly id: string; readonly key: string; lastLine: number } | undefined;
  readonly readers: readonly ValueReader[];
  readonly members: readonly number[];
}

/** Every entry's totals for one VM. */
export class VmTotals {
  readonly #entries = new Map<string, EntryTotals>();
  /** By a line's key (`balloon`, `block_rootfs`): the totals its values fold into. */
  readonly #targets = new Map<string, FoldTarget | null>();
  /** The devices held now, whatever their family. */
  readonly #devices = new Set<FoldTarget>();
  /** Lines folded in. */
  #lines = 0;
  /** Device entries refused, by why, since the start. */
  readonly refused: Record<DeviceRefusal, number> = { id_too_long: 0, too_many: 0 };
  /** Devices forgotten since the start (not carried for `forgetAfterLines` lines). */
  forgotten = 0;

  constructor(
    readonly plan: TotalsPlan,
    readonly limits: DeviceLimits = DEFAULT_DEVICE_LIMITS,
  ) {}

  /** Devices held now. */
  get devices(): number {
    return this.#devices.size;
  }

  /** Folds a valid line in: counters add their delta, stores take their value. */
  apply(record: MetricsRecord): void {
    const line = ++this.#lines;
    for (const key of Object.keys(record.groups)) {
      const target = this.#targets.get(key) ?? this.#target(key);
      if (target === null) continue;
      if (target.device !== undefined) target.device.lastLine = line;
      const { totals, readers, members } = target;
      const group = record.groups[key] as Readonly<Record<string, unknown>>;
      const fields = Object.values(group);
      if (declaredShape(fields, members)) {
        // A valid line with exactly the declared fields has them in declared order (the reader
        // checked it): walking the values in order skips a keyed lookup per value.
        let i = 0;
        for (const field of fields) {
          if (typeof field === 'object') {
            for (const member of Object.values(field as object) as U64[]) fold(totals, readers[i++] as ValueReader, i - 1, member);
          } else {
            fold(totals, readers[i++] as ValueReader, i - 1, field as U64);
          }
        }
        continue;
      }
      // Fields the schema does not know are in the record too (kept, as a warning): by name.
      for (let i = 0; i < readers.length; i++) {
        const reader = readers[i] as ValueReader;
        const field = group[reader.field];
        fold(totals, reader, i, (reader.member === undefined ? field : (field as Readonly<Record<string, unknown>>)[reader.member]) as U64);
      }
    }
    this.#forget(line);
  }

  /** Drops the devices the last `forgetAfterLines` lines did not carry. */
  #forget(line: number): void {
    for (const target of this.#devices) {
      const device = target.device as NonNullable<FoldTarget['device']>;
      if (line - device.lastLine < this.limits.forgetAfterLines) continue;
      this.#devices.delete(target);
      this.#targets.delete(device.key);
      device.entry.groups.delete(device.id);
      this.forgotten++;
    }
  }

  /** Where a line's key goes (null: nowhere, an aggregate or an entry the schema does not know). */
  #target(key: string): FoldTarget | null {
    const { schema, entries, fieldMembers } = this.plan;
    const role = schema.roleOf(key);
    // Not remembered: a writer could send a new unknown key on every line.
    if (role === undefined) return null;
    let target: FoldTarget | null = null;
    if (role.role !== 'aggregate') {
      const entryKey = role.entry.kind === 'group' ? role.entry.key : role.entry.prefix;
      const readers = entries.get(entryKey);
      if (readers !== undefined) {
        const deviceId = role.deviceId;
        if (deviceId !== undefined) {
          // Refusals are not remembered either: a writer could send a new id on every line.
          const refusal = this.#refusal(deviceId);
          if (refusal !== undefined) {
            this.refused[refusal]++;
            return null;
          }
        }
        const entry = this.#entry(entryKey);
        target = {
          totals: this.#groupTotals(entry, deviceId, readers.length),
          readers,
          members: fieldMembers.get(entryKey) ?? [],
          device: deviceId === undefined ? undefined : { entry, id: deviceId, key, lastLine: this.#lines },
        };
        if (deviceId !== undefined) this.#devices.add(target);
      }
    }
    this.#targets.set(key, target);
    return target;
  }

  #refusal(deviceId: string): DeviceRefusal | undefined {
    if (deviceId.length > this.limits.maxDeviceIdLength) return 'id_too_long';
    if (this.#devices.size >= this.limits.maxDevices) return 'too_many';
    return undefined;
  }

  /** The groups of an entry, by device id (`''` for a single group), in the order they first appeared. */
  groupsOf(entryKey: string): ReadonlyMap<string, GroupTotals> | undefined {
    return this.#entries.get(entryKey)?.groups;
  }

  #entry(entryKey: string): EntryTotals {
    let entry = this.#entries.get(entryKey);
    if (entry === undefined) this.#entries.set(entryKey, (entry = { groups: new Map() }));
    return entry;
  }

  #groupTotals(entry: EntryTotals, deviceId: string | undefined, size: number): GroupTotals {
    const id = deviceId ?? '';
    let totals = entry.groups.get(id);
    if (totals === undefined) {
      const label = deviceId === undefined ? '' : `,${labelSet([['device', deviceId]]).slice(1, -1)}`;
      entry.groups.set(id, (totals = new GroupTotals(size, label)));
    }
    return totals;
  }
}
