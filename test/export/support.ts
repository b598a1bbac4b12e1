/**
 * The small document both exporters' tests expose: a disk group whose key carries a unit
 * (`disk_us`) with a counter, stores of both kinds of unit and a latency aggregate, and a family
 * of network interfaces (per-device, with a bytes field named without its unit). And `busy`, which
 * moves every value of any document, for the tests that hand a whole one to a real Prometheus.
 */
import {
  defineGroup,
  DeviceFamily,
  EntryDocument,
  groupEntry,
  inc,
  latency,
  store,
  type DocumentEntry,
  type GroupOf,
  type GroupSchema,
  type IncMetric,
  type LatencyAggregateMetrics,
  type MetricGroup,
  type StoreMetric,
} from '../../src/index.js';

export const Disk = defineGroup('disk_us', {
  read_bytes: inc('Bytes read from the backing file.'),
  queue_depth: store('Requests waiting in the queue.'),
  boot_time_us: store('Time to boot.'),
  read_agg: latency('Duration of a read request.'),
});

/** The interface fields every test document has; a test may declare more beside them. */
export const NIC_FIELDS = { rx_bytes_count: inc('Bytes received.'), freed: inc('Memory freed.', { unit: 'bytes' }) } as const;

type NicFields = typeof NIC_FIELDS;

export interface SmallDocument<F extends NicFields> {
  readonly disk: GroupOf<typeof Disk>;
  readonly nics: DeviceFamily<F>;
  readonly document: EntryDocument;
}

/** The disk group and a family of `nic` devices of `Nic`, as one document. */
export function smallDocument<F extends NicFields>(Nic: GroupSchema<F>): SmallDocument<F> {
  const disk = Disk.create();
  const nics = new DeviceFamily('nic', Nic);
  return { disk, nics, document: new EntryDocument([groupEntry(Disk, disk), nics]) };
}

/** The values both exporters' snapshots show: a read, stores, two latencies, two interfaces. */
export function fill<F extends NicFields>({ disk, nics }: SmallDocument<F>): void {
  disk.read_bytes.add(4096);
  disk.queue_depth.store(3);
  disk.boot_time_us.store(1_250_000);
  disk.read_agg.recordUs(500);
  disk.read_agg.recordUs(1500);
  const nic = (id: string): MetricGroup<NicFields> => nics.alloc(id);
  nic('eth1').freed.add(7);
  nic('eth0').rx_bytes_count.add(1500);
}

/** Every seventh value `busy` sets is this plus its index: past 2^53, where doubles are no longer exact. */
export const BIG = 2n ** 60n;

/**
 * Moves every value of every group `document` holds now, each by its own amount: counters are
 * added to, stores set, latency aggregates given two durations; every seventh amount is past 2^53.
 * Returns how many values it moved (a latency aggregate is one).
 */
export function busy(document: { readonly entries: readonly DocumentEntry[] }): number {
  let moved = 0;
  for (const entry of document.entries) {
    for (const { group } of entry.groups?.() ?? []) {
      for (const value of entry.shape.schema.values) {
        // An aggregate's three values are one field: moved once, through recordUs.
        if (value.member !== undefined && value.member !== 'min_us') continue;
        moved += 1;
        const amount = moved % 7 === 0 ? BIG + BigInt(moved) : BigInt(moved) * 1000n + 7n;
        const field = (group as unknown as Record<string, unknown>)[value.field];
        if (value.member !== undefined) {
          (field as LatencyAggregateMetrics).recordUs(amount / 2n);
          (field as LatencyAggregateMetrics).recordUs(amount);
        } else if (value.kind === 'inc') {
          (field as IncMetric).add(amount);
        } else {
          (field as StoreMetric).store(amount);
        }
      }
    }
  }
  return moved;
}
