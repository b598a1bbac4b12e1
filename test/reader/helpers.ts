/**
 * Shared by the reader and CLI tests: a small document of our own (a group with an inc, a store
 * and a latency field; a device family with an aggregate; an optional group; a family without
 * aggregate), temp directories, bounded waits and the open file descriptors of this process.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeviceFamily,
  EntryDocument,
  FirecrackerMetrics,
  GroupSchema,
  LatencyAggregateMetrics,
  Metrics,
  defineGroup,
  groupEntry,
  inc,
  latency,
  store,
  type DocumentEntry,
} from '../../src/index.js';
import { MetricsSchema } from '../../src/reader/index.js';

export const Api = defineGroup('api', {
  requests: inc('Requests.'),
  level: store('Current level.'),
  wait_agg: latency('Wait time.'),
  failures: inc('Failures.'),
});

export const Disk = defineGroup('disk', {
  read_count: inc('Reads.'),
  read_bytes: inc('Bytes read.'),
  queue_depth: store('Queue depth.'),
  io_agg: latency('I/O time.'),
});

export const Extra = defineGroup('extra', { ticks: inc('Ticks.') });

export const Vhost = defineGroup('vhost', { activate_fails: inc('Activation failures.') });

export const Last = defineGroup('last', { events: inc('Events.') });

type FieldsOf<S> = S extends GroupSchema<infer F> ? F : never;

export interface TestDocument {
  readonly document: EntryDocument;
  readonly schema: MetricsSchema;
  readonly api: ReturnType<typeof Api.create>;
  readonly disks: DeviceFamily<FieldsOf<typeof Disk>>;
  readonly extra: ReturnType<typeof Extra.create>;
  readonly vhost: DeviceFamily<FieldsOf<typeof Vhost>>;
  readonly last: ReturnType<typeof Last.create>;
}

/**
 * A fresh document: `api`, `disk_<id>`… then `disk`, optional `extra`, `vhost_<id>`… (no
 * aggregate), `last`. With `extra: false` the optional entry is left out of what is written.
 */
export function makeDocument(options: { readonly diskIds?: readonly string[]; readonly vhostIds?: readonly string[]; readonly extra?: boolean } = {}): TestDocument {
  const api = Api.create();
  const disks = new DeviceFamily('disk', Disk);
  for (const id of options.diskIds ?? ['a', 'b']) disks.alloc(id);
  const extra = Extra.create();
  const vhost = new DeviceFamily('vhost', Vhost, { aggregate: false });
  for (const id of options.vhostIds ?? []) vhost.alloc(id);
  const last = Last.create();
  const entries = [
    groupEntry(Api, api),
    disks,
    ...(options.extra === false ? [] : [groupEntry(Extra, extra, { optional: true })]),
    vhost,
    groupEntry(Last, last),
  ];
  const document = new EntryDocument(entries);
  // The schema always knows the optional entry, whether or not this document writes it.
  const schema = MetricsSchema.of([
    groupEntry(Api, api),
    disks,
    groupEntry(Extra, extra, { optional: true }),
    vhost,
    groupEntry(Last, last),
  ]);
  return { document, schema, api, disks, extra, vhost, last };
}

/** A temp directory, removed by the returned function. */
export function tempDir(prefix = 'vmm-metrics-reader-'): { readonly dir: string; readonly remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 5 ms; rejects after `timeoutMs` with `what`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Opens a named pipe for writing without blocking the event loop: retries while no reader has
 * it open (ENXIO), for at most `timeoutMs`.
 */
export async function openFifoWriter(path: string, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) throw error;
      await sleep(5);
    }
  }
}

export function closeFd(fd: number): void {
  closeSync(fd);
}

/** The file descriptors this process has open (Linux), to check that nothing leaks. */
export function openFds(): string[] {
  return readdirSync('/proc/self/fd');
}

const U64_MAX = 2n ** 64n - 1n;

/** Sets every metric of a group to 2^64 − 1, the value with the most digits (20). */
function maximize(group: object): void {
  for (const metric of Object.values(group) as unknown[]) {
    if (metric instanceof LatencyAggregateMetrics) {
      metric.min_us.store(U64_MAX);
      metric.max_us.store(U64_MAX);
      metric.sum_us.add(U64_MAX);
    } else if (typeof metric === 'object' && metric !== null && 'add' in metric && typeof metric.add === 'function') {
      (metric as { add(value: bigint): void }).add(U64_MAX);
    } else if (typeof metric === 'object' && metric !== null && 'store' in metric && typeof metric.store === 'function') {
      (metric as { store(value: bigint): void }).store(U64_MAX);
    }
  }
}

/**
 * The longest line the writer produces for Firecracker's document (with `rtc`) holding
 * `devicesPerFamily` block, net, pmem and vhost-user devices each: every value 2^64 − 1 and
 * every device id 64 characters, the longest id Firecracker accepts for an instance
 * (`MAX_INSTANCE_ID_LEN` in its src/utils/src/validators.rs). Local groups and families with
 * Firecracker's shapes, so no global state is touched.
 */
export function largestFirecrackerLine(devicesPerFamily: number): string {
  const entries = new FirecrackerMetrics({ rtc: true }).entries.map((entry): DocumentEntry => {
    const shape = entry.shape;
    if (shape.kind === 'group') {
      const group = shape.schema.create();
      maximize(group);
      return groupEntry(shape.schema, group, { optional: shape.optional });
    }
    const family = new DeviceFamily(shape.prefix, shape.schema, { aggregate: shape.aggregate });
    for (let i = 0; i < devicesPerFamily; i++) maximize(family.alloc(String(i).padStart(64, '0')));
    return family;
  });
  return new Metrics(new EntryDocument(entries)).render();
}
