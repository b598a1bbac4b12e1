/**
 * A Firecracker release's metrics line, written from that release's schema (the generated
 * data), in its key order: not by this project's writer, so that a test of lines "as v1.7
 * writes them" does not assume the writer knows v1.7.
 *
 * ```ts
 * releaseLine('1.5', { timestampMs, values: { 'balloon.inflate_count': 3, 'block.read_count': 2 } });
 * releaseLine('1.10', { timestampMs, devices: { block: ['rootfs'] }, values: { 'block_rootfs.read_agg': { min_us: 1, max_us: 5, sum_us: 9 } } });
 * ```
 *
 * Every field the release declares is written, 0 unless `values` says otherwise; a device family
 * writes `<prefix>_<id>` for each id given (sorted, as Firecracker's `BTreeMap` iterates them),
 * then its aggregate (the sum of the devices, a latency's least min and greatest max).
 */
import { schemaOf, type ReleaseGroup } from '../../src/reader/releases.js';

export interface Latency {
  readonly min_us: number | bigint;
  readonly max_us: number | bigint;
  readonly sum_us: number | bigint;
}

export type LineValue = number | bigint | Latency;

export interface ReleaseLineOptions {
  readonly timestampMs: number;
  /** By `key.field` (`balloon.inflate_count`, `block_rootfs.read_count`, `block.read_count` up to v1.5). */
  readonly values?: Readonly<Record<string, LineValue>>;
  /** Device ids by family prefix (`block`, `net`, `pmem`, `vhost_user`), for releases that write families. */
  readonly devices?: Readonly<Record<string, readonly string[]>>;
  /** Write aarch64's `rtc`. */
  readonly rtc?: boolean;
  /** An `id` (only a release whose header has one writes it; given for another, it is written all the same). */
  readonly id?: string;
  /** Fields left out (`vcpu.exit_io_in_agg`): a line as a list other than the Rust's says. */
  readonly omit?: readonly string[];
  /** Fields added at the end of a group (`balloon.new_count`), or groups of their own (`newgroup.x`). */
  readonly extra?: Readonly<Record<string, LineValue>>;
}

const ZERO_LATENCY: Latency = { min_us: 0, max_us: 0, sum_us: 0 };

function text(value: LineValue): string {
  if (typeof value === 'object') return `{"min_us":${value.min_us},"max_us":${value.max_us},"sum_us":${value.sum_us}}`;
  return String(value);
}

/** The line (without its newline). */
export function releaseLine(version: string, options: ReleaseLineOptions): string {
  const schema = schemaOf(version);
  const values = options.values ?? {};
  const omit = new Set(options.omit ?? []);
  const extra = Object.entries(options.extra ?? {});
  const parts = [`"utc_timestamp_ms":${options.timestampMs}`];
  if (options.id !== undefined) parts.push(`"id":${JSON.stringify(options.id)}`);
  const groupText = (key: string, fieldsOf: string, group: ReleaseGroup, valueOf: (field: string, latency: boolean) => LineValue): string => {
    const members = group.fields
      .filter((f) => !omit.has(`${fieldsOf}.${f.name}`))
      .map((f) => `${JSON.stringify(f.name)}:${text(valueOf(f.name, f.kind === 'latency'))}`);
    for (const [path, value] of extra) if (path.startsWith(`${key}.`)) members.push(`${JSON.stringify(path.slice(key.length + 1))}:${text(value)}`);
    return `${JSON.stringify(key)}:{${members.join(',')}}`;
  };
  const given = (path: string, latency: boolean): LineValue => values[path] ?? (latency ? ZERO_LATENCY : 0);
  for (const entry of schema.entries) {
    if (entry.kind === 'group') {
      if (entry.arch === 'aarch64' && options.rtc !== true) continue;
      parts.push(groupText(entry.key, entry.key, entry.group, (field, latency) => given(`${entry.key}.${field}`, latency)));
      continue;
    }
    const ids = [...(options.devices?.[entry.prefix] ?? [])].sort();
    for (const id of ids) {
      const key = `${entry.prefix}_${id}`;
      parts.push(groupText(key, key, entry.group, (field, latency) => given(`${key}.${field}`, latency)));
    }
    if (entry.aggregate) {
      parts.push(
        groupText(entry.prefix, entry.prefix, entry.group, (field, latency) => {
          const each = ids.map((id) => given(`${entry.prefix}_${id}.${field}`, latency));
          if (!latency) return each.reduce<bigint>((sum, v) => sum + BigInt(v as number | bigint), 0n);
          const all = each as Latency[];
          const recorded = all.filter((l) => BigInt(l.max_us) > 0n);
          return {
            min_us: recorded.length === 0 ? 0 : recorded.map((l) => BigInt(l.min_us)).reduce((a, b) => (a < b ? a : b)),
            max_us: all.map((l) => BigInt(l.max_us)).reduce((a, b) => (a > b ? a : b), 0n),
            sum_us: all.map((l) => BigInt(l.sum_us)).reduce((a, b) => a + b, 0n),
          };
        }),
      );
    }
  }
  const known = new Set(schema.entries.flatMap((e) => (e.kind === 'group' ? [e.key] : [e.prefix, ...(options.devices?.[e.prefix] ?? []).map((id) => `${e.prefix}_${id}`)])));
  const newGroups = new Map<string, string[]>();
  for (const [path, value] of extra) {
    const dot = path.indexOf('.');
    const key = path.slice(0, dot);
    if (known.has(key)) continue;
    const list = newGroups.get(key) ?? [];
    list.push(`${JSON.stringify(path.slice(dot + 1))}:${text(value)}`);
    newGroups.set(key, list);
  }
  for (const [key, members] of newGroups) parts.push(`${JSON.stringify(key)}:{${members.join(',')}}`);
  return `{${parts.join(',')}}`;
}
