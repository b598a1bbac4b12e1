/**
 * Fuzz support: a balloon with every feature and a 1 s statistics interval, behind the MMIO
 * transport, over a `RecordingMemory`, with its own metrics group — and the checks every fuzz
 * property shares (the device never throws, accesses stay in memory, notifications do bounded
 * work, metrics move only where the device served something).
 *
 * The statistics timer runs on a fake clock (`withMockTimers`), so a tick is a
 * synchronous call the property makes: whatever the timer callback does happens inside it, and
 * an exception it threw would surface there rather than as an uncaught asynchronous error.
 */
import assert from 'node:assert/strict';
import { FakeTimers } from '../../../../support/fake-timers.js';
import { Balloon, type BalloonConfig } from '../../../../../src/devices/virtio/balloon/device.js';
import { BalloonDeviceMetrics } from '../../../../../src/devices/virtio/balloon/metrics.js';
import type { ActivationContext } from '../../../../../src/devices/virtio/device.js';
import { MmioTransport } from '../../../../../src/devices/virtio/transport/mmio.js';
import { PAGE_SIZE } from '../../../../../src/vstate/memory.js';
import { REG, STATUS, type MmioBus } from '../../support/index.js';
import { describeAccess, RecordingMemory, type Access } from './recording-memory.js';

/** Every feature, statistics every second: queues inflate 0, deflate 1, stats 2, hinting 3, reporting 4. */
export const FUZZ_CONFIG: BalloonConfig = {
  amount_mib: 0,
  deflate_on_oom: true,
  stats_polling_interval_s: 1,
  free_page_hinting: true,
  free_page_reporting: true,
};

export const ROLES = ['inflate', 'deflate', 'stats', 'hinting', 'reporting'] as const;
export type Role = (typeof ROLES)[number];
export const QUEUE = { inflate: 0, deflate: 1, stats: 2, hinting: 3, reporting: 4 } as const;

/** A turn's budget no notification reaches: the whole notification is served before it returns. */
export const UNBOUNDED_TURN = 2 ** 52;

/** The statistics interval in milliseconds: one mock-timer tick of this length fires it once. */
export const STATS_TICK_MS = FUZZ_CONFIG.stats_polling_interval_s * 1000;

export type Counts = Record<keyof BalloonDeviceMetrics, number>;

export function counts(metrics: BalloonDeviceMetrics): Counts {
  return Object.fromEntries(BalloonDeviceMetrics.fields.map((field) => [field.name, metrics[field.name as keyof BalloonDeviceMetrics].count()])) as Counts;
}

export function delta(after: Counts, before: Counts): Counts {
  return Object.fromEntries(Object.entries(after).map(([name, value]) => [name, value - before[name as keyof Counts]])) as Counts;
}

export const ZERO: Counts = counts(BalloonDeviceMetrics.create());

/** A call into the device that threw: the transport would hide it, so the device is wrapped. */
export interface DeviceThrow {
  readonly method: string;
  readonly error: unknown;
}

/** The balloon, with every `VirtioDevice` method watched for exceptions (the transport swallows them). */
export class CheckedBalloon extends Balloon {
  readonly thrown: DeviceThrow[] = [];

  override ackFeatures(features: bigint): void {
    this.#guard('ackFeatures', () => {
      super.ackFeatures(features);
    });
  }

  override readConfig(offset: number, data: Uint8Array): void {
    this.#guard('readConfig', () => {
      super.readConfig(offset, data);
    });
  }

  override writeConfig(offset: number, data: Uint8Array): void {
    this.#guard('writeConfig', () => {
      super.writeConfig(offset, data);
    });
  }

  override activate(context: ActivationContext): void {
    this.#guard('activate', () => {
      super.activate(context);
    });
  }

  override notifyQueue(index: number): void {
    this.#guard('notifyQueue', () => {
      super.notifyQueue(index);
    });
  }

  override reset(): void {
    this.#guard('reset', () => {
      super.reset();
    });
  }

  #guard(method: string, body: () => void): void {
    try {
      body();
    } catch (error) {
      this.thrown.push({ method, error });
      throw error;
    }
  }
}

export interface Rig {
  readonly memory: RecordingMemory;
  readonly metrics: BalloonDeviceMetrics;
  readonly balloon: CheckedBalloon;
  readonly transport: MmioTransport;
  /** The register API the test's driver uses; every access through it is recorded. */
  readonly bus: MmioBus;
  /** The accesses of the last call through `bus` (or `deviceCall`). */
  lastAccesses: Access[];
  /** How many times `onInterrupt` was called. */
  interrupts: number;
  /** Runs a host call or a timer tick with its accesses recorded into `lastAccesses`. */
  deviceCall(body: () => void): void;
}

export function buildRig(memoryBytes: number): Rig {
  const memory = new RecordingMemory(memoryBytes);
  const metrics = BalloonDeviceMetrics.create();
  // One budget for all of a notification: these properties judge each action by what it did
  // before it returned (device-turns.test.ts checks the work done in turns against this).
  const balloon = new CheckedBalloon(FUZZ_CONFIG, { metrics, maxDiscardBytesPerTurn: UNBOUNDED_TURN });
  const rig: Rig = {
    memory,
    metrics,
    balloon,
    transport: undefined as unknown as MmioTransport,
    bus: {
      read: (offset, data) => {
        rig.deviceCall(() => {
          rig.transport.read(offset, data);
        });
      },
      write: (offset, data) => {
        rig.deviceCall(() => {
          rig.transport.write(offset, data);
        });
      },
    },
    lastAccesses: [],
    interrupts: 0,
    deviceCall: (body) => {
      rig.lastAccesses = memory.record(body);
    },
  };
  Object.assign(rig, {
    transport: new MmioTransport(balloon, memory, {
      onInterrupt: () => {
        rig.interrupts++;
      },
    }),
  });
  return rig;
}

/**
 * Runs `body` with setInterval/setTimeout on a fake clock (test/support/fake-timers.ts) (the balloon's statistics timer), then resets
 * the mock whatever happened, so that no interval of a run outlives it.
 */
export function withMockTimers(body: () => void): void {
  const timers = FakeTimers.install();
  clock = timers;
  try {
    body();
  } finally {
    clock = undefined;
    timers.restore();
  }
}

/** The fake clock of the run `withMockTimers` is in. */
let clock: FakeTimers | undefined;

/** Fires the statistics timer once (if armed), inside the device's recorded context. */
export function tickStats(rig: Rig, ms = STATS_TICK_MS): void {
  rig.deviceCall(() => {
    if (clock === undefined) throw new Error('tickStats outside withMockTimers');
    clock.tick(ms);
  });
}

/**
 * The most memory accesses one notification of a queue of `size` may make, derived from the
 * queue's own limits (the header of `queue.ts` and `device.ts`): at most `size` chains, plus
 * one re-pop per release of the 2,048-frame buffer and a last look at the empty ring (2 ring
 * reads each); a chain of at most `size` descriptors (4 reads each), each with a command or data
 * read and a discard (hinting, reporting); a used element (3 writes) per chain plus the stats
 * buffer held before; and for inflate one discard per frame number (256 a descriptor).
 */
export function accessBound(size: number): number {
  const pops = 2 * size + 2;
  return 2 * pops + size * (4 * size + 2 * size) + 3 * (size + 1) + 256 * size + size;
}

/** Whether a notification of `index` reaches the device: live, not failed, not needing reset, the queue ready. */
export function notificationServed(rig: Rig, index: number): boolean {
  const live = (rig.transport.status & (STATUS.driverOk | STATUS.failed | STATUS.deviceNeedsReset)) === STATUS.driverOk;
  return live && rig.transport.queues[index]?.ready === true;
}

/** Whether a bus write is a QueueNotify (a 4-byte write at 0x50), and the queue it names. */
export function notifiedQueue(offset: number, data: Uint8Array): number | undefined {
  if (offset !== REG.queueNotify || data.length !== 4) return undefined;
  return new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
}

/**
 * Checks one guest or host action against what the device may do for it:
 * - nothing threw out of the device (the transport would have hidden it);
 * - every access it made lies inside guest memory, except those the device reaches through a
 *   checked path and counts: a reported or hinted range it could not release (counted in
 *   `free_page_*_fails`, one each), a hinting command id it could not read (a malformed chain,
 *   `event_fails`), and — as Firecracker, which only logs "Error removing memory range" — whole
 *   pages of inflated frame numbers past the end;
 * - a notification does at most `accessBound(size)` accesses, anything else none (a tick at most
 *   one used element);
 * - counters move only on a served notification, by what was served: the queue's own count once,
 *   the `free_page_*` counters exactly by the discards the device attempted on that queue.
 */
export function checkAction(rig: Rig, action: string, served: { index: number; role: Role | undefined; size: number } | 'tick' | 'none', moved: Counts): void {
  const accesses = rig.lastAccesses;
  const where = (): string => `${action}: ${accesses.slice(0, 8).map(describeAccess).join(', ')}${accesses.length > 8 ? ` … (${accesses.length})` : ''}`;
  assert.deepEqual(rig.balloon.thrown, [], `the device threw during ${action}`);
  const role = typeof served === 'object' ? served.role : undefined;
  const outside = accesses.filter((access) => !access.inside);
  for (const access of outside) {
    const allowed =
      (access.kind === 'discard' && (role === 'reporting' || role === 'hinting')) ||
      (access.kind === 'discard' && role === 'inflate' && access.address % BigInt(PAGE_SIZE) === 0n && access.length % PAGE_SIZE === 0) ||
      (access.kind === 'read' && access.method === 'readU32' && role === 'hinting');
    assert.ok(allowed, `an access outside guest memory (${rig.memory.size} bytes): ${describeAccess(access)} in ${where()}`);
    assert.ok(access.threw, `an access outside guest memory did not throw: ${describeAccess(access)}`);
  }
  for (const access of accesses) {
    if (access.inside) assert.ok(!access.threw, `an access inside memory threw ${String(access.error)}: ${describeAccess(access)}`);
  }
  const discards = (ok: boolean): Access[] => accesses.filter((access) => access.kind === 'discard' && access.threw !== ok);
  const freed = discards(true).reduce((sum, access) => sum + access.length, 0);
  const expectFree = (queue: 'reporting' | 'hinting'): { count: number; freed: number; fails: number } =>
    role === queue ? { count: discards(true).length + discards(false).length, freed, fails: discards(false).length } : { count: 0, freed: 0, fails: 0 };
  const report = expectFree('reporting');
  const hint = expectFree('hinting');
  const notified = typeof served === 'object';
  if (notified) {
    assert.ok(accesses.length <= accessBound(served.size), `a notification of a queue of ${served.size} made ${accesses.length} accesses, more than ${accessBound(served.size)}: ${where()}`);
  } else if (served === 'tick') {
    assert.ok(accesses.length <= 3 && accesses.every((access) => access.kind === 'write'), `a statistics tick did more than return a buffer: ${where()}`);
  } else {
    assert.deepEqual(accesses.map(describeAccess), [], `${action} touched guest memory`);
  }
  const malformedReads = outside.filter((access) => access.kind === 'read').length;
  assert.deepEqual(
    {
      activate_fails: moved.activate_fails,
      inflate_count: moved.inflate_count,
      deflate_count: moved.deflate_count,
      stats_updates_count: moved.stats_updates_count,
      free_page_report_count: moved.free_page_report_count,
      free_page_report_freed: moved.free_page_report_freed,
      free_page_report_fails: moved.free_page_report_fails,
      free_page_hint_count: moved.free_page_hint_count,
      free_page_hint_freed: moved.free_page_hint_freed,
      free_page_hint_fails: moved.free_page_hint_fails,
    },
    {
      activate_fails: 0,
      inflate_count: role === 'inflate' ? 1 : 0,
      deflate_count: role === 'deflate' ? 1 : 0,
      stats_updates_count: role === 'stats' ? 1 : 0,
      free_page_report_count: report.count,
      free_page_report_freed: report.freed,
      free_page_report_fails: report.fails,
      free_page_hint_count: hint.count,
      free_page_hint_freed: hint.freed,
      free_page_hint_fails: hint.fails,
    },
    `counters after ${action}`,
  );
  if (notified && role !== undefined) {
    // At most one failure per chain popped (2 × size with the re-pops) and one for the ring.
    assert.ok(moved.event_fails >= malformedReads && moved.event_fails <= 2 * served.size + 1, `event_fails moved by ${moved.event_fails} after ${action}`);
    // At most one per 10-byte entry of the at most 256 parsed per buffer.
    assert.ok(moved.stats_update_fails <= (role === 'stats' ? served.size * 256 : 0), `stats_update_fails moved by ${moved.stats_update_fails} after ${action}`);
  } else {
    assert.equal(moved.event_fails, 0, `event_fails moved without a served notification: ${action}`);
    assert.equal(moved.stats_update_fails, 0, `stats_update_fails moved without a served notification: ${action}`);
  }
  // The transport's view and the device's agree.
  const status = rig.transport.status;
  if ((status & STATUS.driverOk) === 0) assert.equal(rig.balloon.activated, false, `the balloon is active with Status 0x${status.toString(16)} after ${action}`);
  if ((status & (STATUS.driverOk | STATUS.deviceNeedsReset)) === STATUS.driverOk) assert.equal(rig.balloon.activated, true, `the balloon is inactive with Status 0x${status.toString(16)} after ${action}`);
  if (rig.balloon.needsReset) assert.ok((status & STATUS.deviceNeedsReset) !== 0, `the device needs a reset but Status is 0x${status.toString(16)} after ${action}`);
}
