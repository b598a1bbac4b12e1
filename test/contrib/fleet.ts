/**
 * A fleet of Firecracker VMs for the dashboard's test: each VM's metrics lines, written to a file
 * or a named pipe of a directory that `vmm-metrics serve` follows, a line per VM every tick.
 *
 * The lines come from `fleetLines`, one function per release. Most VMs run Firecracker's main,
 * whose lines this project's writer makes (`FirecrackerMetrics` and `Metrics`); one runs v1.10,
 * whose lines are written from that release's schema (test/support/release-line.ts) with the
 * values the same work gives main's fields — every field v1.10 has, nothing it lacks — so that
 * the dashboard is tried on a fleet of mixed releases.
 *
 * Each VM has two drives and an interface, and every tick moves its balloon, drives, interface,
 * vCPU exits and API counters (failures stay 0: a healthy fleet), its latency aggregates
 * included. Like Firecracker's, the lines carry no `id`: `serve` labels each VM by its file's name.
 */
import { constants, createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FirecrackerMetrics } from '../../src/document/firecracker-metrics.js';
import { Metrics } from '../../src/metrics/writer.js';
import { mkfifo } from '../reader/helpers.js';
import { releaseLine, type LineValue } from '../support/release-line.js';

export type FleetRelease = 'main' | '1.10';

export interface FleetVm {
  /** The `vm` label `serve` gives it: its file's name without the extension. */
  readonly name: string;
  readonly transport: 'file' | 'fifo';
  readonly release: FleetRelease;
}

export const FLEET: readonly FleetVm[] = [
  { name: 'fleet-vm-1', transport: 'file', release: 'main' },
  { name: 'fleet-vm-2', transport: 'fifo', release: 'main' },
  { name: 'fleet-vm-3', transport: 'file', release: '1.10' },
  { name: 'fleet-vm-4', transport: 'fifo', release: 'main' },
];

/** The drives and interface every VM of the fleet has. */
export const FLEET_DRIVES = ['rootfs', 'scratch'] as const;
export const FLEET_INTERFACES = ['eth0'] as const;

/**
 * The VM's lines, as its release writes them: each call is one more tick of work and returns
 * that tick's line, newline included, stamped by `now` (milliseconds since the epoch).
 */
export function fleetLines(vm: FleetVm, now: () => number): () => string {
  return LINES_OF[vm.release](FLEET.indexOf(vm), now);
}

/** How each release's lines are made, for the VM at `index` of the fleet. */
const LINES_OF: Readonly<Record<FleetRelease, (index: number, now: () => number) => () => string>> = {
  main: mainLines,
  '1.10': (index, now) => releaseLines('1.10', index, now),
};

/** A release's lines: main's line of the same work, each field the release has taken from it. */
function releaseLines(version: string, index: number, now: () => number): () => string {
  const main = mainLines(index, now);
  return () => {
    const line = JSON.parse(main()) as Record<string, unknown>;
    const values: Record<string, LineValue> = {};
    for (const [key, group] of Object.entries(line)) {
      if (typeof group !== 'object' || group === null) continue;
      for (const [field, value] of Object.entries(group)) values[`${key}.${field}`] = value as LineValue;
    }
    const devices = { block: [...FLEET_DRIVES], net: [...FLEET_INTERFACES] };
    return `${releaseLine(version, { timestampMs: line['utc_timestamp_ms'] as number, devices, values })}\n`;
  };
}

/** Firecracker main's lines, made by this project's writer. */
function mainLines(index: number, now: () => number): () => string {
  const document = new FirecrackerMetrics();
  const drives = FLEET_DRIVES.map((id) => document.block.alloc(id));
  const interfaces = FLEET_INTERFACES.map((id) => document.net.alloc(id));
  const metrics = new Metrics(document);
  let line = '';
  metrics.init(
    {
      write: (chunk: Buffer, done?: (error?: Error | null) => void) => {
        line += chunk.toString('utf8');
        done?.();
      },
    },
    { flushIntervalMs: 0, now },
  );
  let tick = 0;
  return () => {
    work(document, drives, interfaces, index, tick++);
    line = '';
    if (!metrics.write()) throw new Error('the fleet writer has no destination');
    return line;
  };
}

type Document = FirecrackerMetrics;
type Drive = ReturnType<Document['block']['alloc']>;
type Interface = ReturnType<Document['net']['alloc']>;

/** One tick of a busy, healthy VM; `index` makes the VMs differ. */
function work(document: Document, drives: readonly Drive[], interfaces: readonly Interface[], index: number, tick: number): void {
  const { balloon, vcpu } = document;
  if (tick === 0) {
    for (const request of [document.put_api_requests.boot_source_count, document.put_api_requests.machine_cfg_count, document.put_api_requests.actions_count]) request.inc();
    for (let i = 0; i < drives.length; i++) document.put_api_requests.drive_count.inc();
    document.put_api_requests.network_count.inc();
  }
  document.get_api_requests.instance_info_count.inc();
  balloon.inflate_count.add(1 + index);
  if (tick % 3 === 2) balloon.deflate_count.inc();
  balloon.stats_updates_count.inc();
  balloon.free_page_report_count.inc();
  balloon.free_page_report_freed.add(4096 * (64 + 16 * index));
  balloon.free_page_hint_count.inc();
  balloon.free_page_hint_freed.add(4096 * 32);
  drives.forEach((drive, d) => {
    const reads = 4 + index + d;
    drive.read_count.add(reads);
    drive.read_bytes.add(reads * 4096);
    for (let r = 0; r < reads; r++) drive.read_agg.recordUs(80 + 10 * r + index);
    drive.write_count.add(2);
    drive.write_bytes.add(2 * 65536);
    drive.write_agg.recordUs(150 + index);
    drive.write_agg.recordUs(210 + index);
    drive.flush_count.inc();
    drive.queue_event_count.inc();
  });
  for (const nic of interfaces) {
    const frames = 10 + index;
    nic.rx_packets_count.add(frames);
    nic.rx_count.add(frames);
    nic.rx_bytes_count.add(frames * 1400);
    nic.tx_packets_count.add(frames - 2);
    nic.tx_count.add(frames - 2);
    nic.tx_bytes_count.add((frames - 2) * 900);
    for (let f = 0; f < frames - 2; f++) nic.tap_write_agg.recordUs(12 + f);
  }
  const exits = { io_in: [vcpu.exit_io_in, vcpu.exit_io_in_agg], io_out: [vcpu.exit_io_out, vcpu.exit_io_out_agg], mmio_read: [vcpu.exit_mmio_read, vcpu.exit_mmio_read_agg], mmio_write: [vcpu.exit_mmio_write, vcpu.exit_mmio_write_agg] } as const;
  Object.values(exits).forEach(([count, aggregate], kind) => {
    const n = 20 + 5 * kind + index;
    count.add(n);
    for (let e = 0; e < n; e++) aggregate.recordUs(3 + kind);
  });
}

/** The fleet writing into `dir`: `*.json` files and `*.fifo` named pipes, as `serve --metrics-dir` finds them. */
export class FleetWriter {
  readonly #outputs: { readonly vm: FleetVm; readonly path: string; readonly stream: WriteStream; readonly next: () => string }[];
  #timer: NodeJS.Timeout | undefined;
  /** Lines written so far, by VM name. */
  readonly lines = new Map<string, number>();

  /** Makes each VM's path (a FIFO is created; a file gets its first line), without waiting for readers. */
  constructor(dir: string, now: () => number, fleet: readonly FleetVm[] = FLEET) {
    this.#outputs = fleet.map((vm) => {
      const path = join(dir, `${vm.name}.${vm.transport === 'fifo' ? 'fifo' : 'json'}`);
      if (vm.transport === 'fifo') mkfifo(path);
      // A FIFO's open waits, in libuv's pool, for serve to open it for reading; lines queue meanwhile.
      const stream = createWriteStream(path, { flags: 'a' });
      stream.on('error', () => undefined);
      return { vm, path, stream, next: fleetLines(vm, now) };
    });
    this.#tick();
  }

  /** The path each VM writes to, by name. */
  get paths(): ReadonlyMap<string, string> {
    return new Map(this.#outputs.map(({ vm, path }) => [vm.name, path]));
  }

  /** Writes a line per VM every `everyMs`. */
  start(everyMs: number): void {
    this.#timer ??= setInterval(() => {
      this.#tick();
    }, everyMs);
  }

  #tick(): void {
    for (const { vm, stream, next } of this.#outputs) {
      // A FIFO nobody reads yet: its lines wait in the stream, bounded by the test's length.
      stream.write(next());
      this.lines.set(vm.name, (this.lines.get(vm.name) ?? 0) + 1);
    }
  }

  /**
   * Stops writing and closes every path. A FIFO whose reader never came is opened for reading
   * here, so that the pending open of its writer returns and the process can exit.
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(
      this.#outputs.map(async ({ vm, path, stream }) => {
        const closed = new Promise<void>((resolve) => stream.once('close', resolve));
        if (vm.transport === 'fifo' && stream.pending) {
          const reader = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
          stream.destroy();
          await closed;
          await reader.close();
          return;
        }
        stream.end();
        await closed;
      }),
    );
  }
}
