/**
 * The small document both exporters' tests expose: a disk group whose key carries a unit
 * (`disk_us`) with a counter, stores of both kinds of unit and a latency aggregate, and a family
 * of network interfaces (per-device, with a bytes field named without its unit).
 */
import { defineGroup, DeviceFamily, EntryDocument, groupEntry, inc, latency, store, type GroupOf, type GroupSchema, type MetricGroup } from '../../src/index.js';

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
