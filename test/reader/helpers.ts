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
  GroupSchema,
  defineGroup,
  groupEntry,
  inc,
  latency,
  store,
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
