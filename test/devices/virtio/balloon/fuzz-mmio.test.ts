/**
 * Property-based fuzzing of the balloon through the MMIO registers alone: an untrusted guest
 * that sets up its queues anywhere (overlapping, misaligned, past the end of memory, near 2^64),
 * writes arbitrary descriptors, ring entries and indices (avail.idx jumps past the queue size),
 * frame numbers, statistics tags and hinting commands, writes registers and configuration space
 * of any width and offset, and lets the statistics timer fire, interleaved with the host's calls.
 *
 * Checked after every action (`checkAction`): nothing throws out of the transport or the device,
 * no access leaves guest memory except through the checked paths the device counts, each
 * notification does work bounded by its queue's size, and the counters move only where the device
 * served something. After every run: a reset and a well-behaved driver get the device back.
 *
 * Reproduce a failure with the seed fast-check prints: `VMM_METRICS_SEED=<seed>` (and
 * `VMM_METRICS_PATH=<path>` for the shrunk case).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DeviceNotActiveError, TooMuchMemoryRequestedError } from '../../../../src/devices/virtio/balloon/errors.js';
import { GuestMemoryError, PAGE_SIZE } from '../../../../src/vstate/memory.js';
import {
  alignUp,
  driveHandshake,
  layoutQueue,
  propertyParameters,
  putChain,
  readRegister,
  REG,
  STATUS,
  usedEntries,
  writeDescriptor,
  writeRegister,
  type QueueLayout,
} from '../support/index.js';
import {
  accessWidth,
  descriptorFlags,
  descriptorLength,
  encodePfns,
  encodeStats,
  encodeU32,
  guestAddress,
  hintCommand,
  pageFrame,
  registerOffset,
  registerValue,
  statEntry,
  valueBytes,
} from './fuzz-support/arbitraries.js';
import {
  buildRig,
  checkAction,
  counts,
  delta,
  notificationServed,
  notifiedQueue,
  QUEUE,
  ROLES,
  STATS_TICK_MS,
  tickStats,
  withMockTimers,
  type Rig,
} from './fuzz-support/harness.js';

const MEMORY_SIZE = 256 * 1024;
const QUEUE_COUNT = ROLES.length;
/** Where queue i lies when the guest puts it where a driver would: one every 8 KiB from 4 KiB. */
const standardBase = (i: number): bigint => BigInt(0x1000 + i * 0x2000);

interface Placement {
  readonly size: number;
  /** Each area's address, or undefined for the standard layout of that queue. */
  readonly desc: bigint | undefined;
  readonly avail: bigint | undefined;
  readonly used: bigint | undefined;
}

interface Buffer {
  readonly addr: bigint;
  readonly len: number;
  readonly writeOnly: boolean;
  /** Bytes written at `addr` first (frame numbers, statistics, a command id), when it is in memory. */
  readonly payload: Uint8Array | undefined;
}

type Action =
  | { readonly t: 'handshake'; readonly queues: readonly (Placement | null)[]; readonly features: bigint | null; readonly driverOk: boolean }
  | { readonly t: 'reg'; readonly offset: number; readonly width: number; readonly value: number }
  | { readonly t: 'read'; readonly offset: number; readonly width: number }
  | { readonly t: 'config'; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly t: 'desc'; readonly q: number; readonly index: number; readonly addr: bigint; readonly len: number; readonly flags: number; readonly next: number }
  | { readonly t: 'ring'; readonly q: number; readonly slot: number; readonly head: number }
  | { readonly t: 'avail'; readonly q: number; readonly ahead: number }
  | { readonly t: 'chain'; readonly q: number; readonly buffers: readonly Buffer[] }
  | { readonly t: 'notify'; readonly value: number }
  | { readonly t: 'tick'; readonly ms: number }
  | { readonly t: 'host'; readonly op: 'start' | 'start-no-ack' | 'stop' | 'size' | 'stats' | 'interval'; readonly n: number }
  | { readonly t: 'poke'; readonly addr: number; readonly bytes: Uint8Array }
  | { readonly t: 'ack' };

const anyAddress = guestAddress(MEMORY_SIZE);
/** An area address: the standard one, somewhere inside another queue's standard area (overlap), or anywhere. */
const areaAddress: fc.Arbitrary<bigint | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: QUEUE_COUNT - 1 }), fc.integer({ min: 0, max: 0x1000 })).map(([j, offset]) => standardBase(j) + BigInt(offset & ~1)) },
  { weight: 1, arbitrary: anyAddress },
);
/** Rings that overlap on purpose: the available ring a few bytes around the used ring, so the device's used-ring writes land in it. */
const overlappingPlacement: fc.Arbitrary<Placement> = fc
  .record({ size: fc.constantFrom(1, 2, 4, 8), delta: fc.integer({ min: -8, max: 40 }) })
  .map(({ size, delta }) => {
    const used = BigInt(0x3000);
    return { size, desc: BigInt(0x2000), avail: used + BigInt(2 * delta), used };
  });
const placement: fc.Arbitrary<Placement> = fc.oneof({ weight: 6, arbitrary: fc.record({
  size: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(1, 2, 4, 8, 16, 32) }, { weight: 1, arbitrary: fc.constantFrom(256, 0, 3, 512, 0xffff_ffff) }),
  desc: areaAddress,
  avail: areaAddress,
  used: areaAddress,
}) }, { weight: 1, arbitrary: overlappingPlacement });
const queueIndex = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: QUEUE_COUNT - 1 }) }, { weight: 1, arbitrary: fc.constantFrom(5, 6, 0xffff, 0xffff_ffff) });
const payload: fc.Arbitrary<Uint8Array | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.array(pageFrame(MEMORY_SIZE), { minLength: 1, maxLength: 300 }).map(encodePfns),
  fc.array(statEntry, { minLength: 1, maxLength: 20 }).map(encodeStats),
  hintCommand.map(encodeU32),
);
const buffer: fc.Arbitrary<Buffer> = fc
  .record({ addr: anyAddress, len: descriptorLength, writeOnly: fc.boolean(), payload, payloadLength: fc.boolean() })
  .map(({ payloadLength, ...b }) => ({ ...b, len: payloadLength && b.payload !== undefined ? b.payload.length : b.len }));

/** A driver that sets every queue up where a driver would, in sizes of its choice, and goes live. */
const goodHandshake = fc.record({
  t: fc.constant('handshake' as const),
  queues: fc.array(
    fc.constantFrom(1, 2, 4, 8, 16, 32).map((size): Placement => ({ size, desc: undefined, avail: undefined, used: undefined })),
    { minLength: QUEUE_COUNT, maxLength: QUEUE_COUNT },
  ),
  features: fc.constant(null),
  driverOk: fc.constant(true),
});

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: goodHandshake },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('handshake' as const),
      queues: fc.array(fc.option(placement, { freq: 5 }), { minLength: 0, maxLength: QUEUE_COUNT + 1 }),
      features: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
      driverOk: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('reg' as const), offset: registerOffset, width: accessWidth, value: registerValue }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('read' as const), offset: registerOffset, width: accessWidth }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('config' as const),
      offset: fc.oneof(fc.integer({ min: 0x100, max: 0x110 }), fc.integer({ min: 0xff0, max: 0x1008 })),
      bytes: fc.uint8Array({ minLength: 0, maxLength: 9 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('desc' as const),
      q: fc.integer({ min: 0, max: QUEUE_COUNT - 1 }),
      index: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 31 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
      addr: anyAddress,
      len: descriptorLength,
      flags: descriptorFlags,
      next: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 31 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('ring' as const),
      q: fc.integer({ min: 0, max: QUEUE_COUNT - 1 }),
      slot: fc.integer({ min: 0, max: 255 }),
      head: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 31 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('avail' as const),
      q: fc.integer({ min: 0, max: QUEUE_COUNT - 1 }),
      // Within a queue's size mostly; past it (a corrupted ring) sometimes; any u16.
      ahead: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 32 }) }, { weight: 2, arbitrary: fc.integer({ min: 33, max: 600 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
    }),
  },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('chain' as const), q: fc.integer({ min: 0, max: QUEUE_COUNT - 1 }), buffers: fc.array(buffer, { minLength: 1, maxLength: 4 }) }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('notify' as const), value: queueIndex }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.oneof(fc.constant(STATS_TICK_MS), fc.integer({ min: 0, max: 3 * STATS_TICK_MS })) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('host' as const),
      op: fc.constantFrom('start' as const, 'start-no-ack' as const, 'stop' as const, 'size' as const, 'stats' as const, 'interval' as const),
      n: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('poke' as const), addr: fc.integer({ min: 0, max: MEMORY_SIZE - 16 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'ack' as const }) },
);

/** The driver's view of its queues, from its last handshake. */
interface Driver {
  layouts: (QueueLayout | undefined)[];
}

/** A queue placed as the guest chose; its areas zeroed where they lie in memory. */
function placeQueue(rig: Rig, i: number, p: Placement): QueueLayout {
  const size = p.size >= 1 && p.size <= 0x1_0000 ? p.size : 1;
  const desc = p.desc ?? standardBase(i);
  const avail = p.avail ?? desc + BigInt(16 * size);
  const used = p.used ?? alignUp(avail + BigInt(6 + 2 * size), 4n);
  for (const [at, len] of [
    [desc, 16 * size],
    [avail, 6 + 2 * size],
    [used, 6 + 8 * size],
  ] as const) {
    guestWrite(() => {
      rig.memory.write(at, new Uint8Array(len));
    });
  }
  return { size: p.size, descTable: desc, availRing: avail, usedRing: used, end: used + BigInt(6 + 8 * size), nextDescriptor: 0, lastUsed: 0 };
}

/** The test's own guest-side write; one outside memory is the guest's loss, not an error. */
function guestWrite(body: () => void): void {
  try {
    body();
  } catch (error) {
    if (!(error instanceof GuestMemoryError || error instanceof RangeError)) throw error;
  }
}

/** What the runs reached, by event: reported at the end as a diagnostic. */
const coverage: Record<string, number> = {};
function tally(name: string, by: number): void {
  coverage[name] = (coverage[name] ?? 0) + by;
}

/**
 * Queues notified between FEATURES_OK and DRIVER_OK, per rig: the transport holds such a kick
 * (Linux's balloon driver kicks its statistics queue that early) and serves it on activation.
 */
const heldKicks = new WeakMap<Rig, Set<number>>();

/** A register access through the bus, checked; QueueNotify is judged as a notification. */
function busAccess(rig: Rig, label: string, access: () => void, notified?: number): void {
  const before = counts(rig.metrics);
  const held = heldKicks.get(rig) ?? new Set<number>();
  heldKicks.set(rig, held);
  const status = rig.transport.status;
  const early = (status & (STATUS.featuresOk | STATUS.driverOk | STATUS.failed | STATUS.deviceNeedsReset)) === STATUS.featuresOk;
  if (notified !== undefined && early && notified < rig.transport.queues.length) held.add(notified);
  // Read through a call: the access below changes what it reads.
  const isActive = (): boolean => rig.balloon.activated;
  const wasActive = isActive();
  const served = notified !== undefined && notificationServed(rig, notified) ? { index: notified, role: ROLES[notified], size: rig.transport.queues[notified]?.size ?? 0 } : 'none';
  rig.lastAccesses = [];
  access();
  if (rig.transport.status === 0) held.clear();
  if (!wasActive && isActive() && held.size > 0) {
    // The activation served the held kicks, several queues at once: nothing may escape or
    // leave memory; the per-queue counts are checked on every other notification.
    held.clear();
    assert.deepEqual(rig.balloon.thrown, [], `the device threw serving held kicks at ${label}`);
    for (const access of rig.lastAccesses) if (access.inside) assert.ok(!access.threw, `an access inside memory threw at ${label}`);
    tally('held kicks served on activation', 1);
    return;
  }
  if (typeof served === 'object' && served.role !== undefined) {
    // What the runs reached, reported as a diagnostic so a generator that stops reaching the
    // device shows.
    const moved = delta(counts(rig.metrics), before);
    tally(`served ${served.role}`, 1);
    tally('chains returned', rig.lastAccesses.filter((x) => x.method === 'writeU16').length);
    tally('accesses outside memory', rig.lastAccesses.filter((x) => !x.inside).length);
    if (rig.balloon.needsReset) tally('corrupted rings', 1);
    for (const [name, value] of Object.entries(moved)) if (value > 0) tally(name, value);
    coverage['most accesses in one notification'] = Math.max(coverage['most accesses in one notification'] ?? 0, rig.lastAccesses.length);
  }
  checkAction(rig, label, served, delta(counts(rig.metrics), before));
}

function perform(rig: Rig, driver: Driver, a: Action): void {
  const label = JSON.stringify(a, (_key, value: unknown) => (typeof value === 'bigint' ? `0x${value.toString(16)}` : value instanceof Uint8Array ? `[${value.length} bytes]` : value));
  const layout = 'q' in a ? driver.layouts[a.q] : undefined;
  switch (a.t) {
    case 'handshake': {
      const layouts = a.queues.map((p, i) => (p === null ? undefined : placeQueue(rig, i, p)));
      const before = counts(rig.metrics);
      // Each register access of the handshake is checked on its own.
      const bus = {
        read: (offset: number, data: Uint8Array) => {
          busAccess(rig, `${label} read 0x${offset.toString(16)}`, () => {
            rig.bus.read(offset, data);
          });
        },
        write: (offset: number, data: Uint8Array) => {
          busAccess(rig, `${label} write 0x${offset.toString(16)}`, () => {
            rig.bus.write(offset, data);
          });
        },
      };
      driveHandshake(bus, { queues: layouts, ...(a.features === null ? {} : { features: a.features }), driverOk: a.driverOk });
      driver.layouts = layouts;
      assert.deepEqual(delta(counts(rig.metrics), before), delta(before, before), 'a handshake moved a counter');
      return;
    }
    case 'reg': {
      const data = valueBytes(a.value, a.width);
      busAccess(rig, label, () => {
        rig.bus.write(a.offset, data);
      }, notifiedQueue(a.offset, data));
      if (a.offset === REG.status && a.width === 4 && a.value === 0) driver.layouts = [];
      return;
    }
    case 'read':
      busAccess(rig, label, () => {
        rig.bus.read(a.offset, new Uint8Array(a.width));
      });
      return;
    case 'config':
      busAccess(rig, label, () => {
        rig.bus.write(a.offset, a.bytes);
      });
      return;
    case 'notify': {
      const data = valueBytes(a.value, 4);
      busAccess(rig, label, () => {
        rig.bus.write(REG.queueNotify, data);
      }, a.value);
      return;
    }
    case 'ack':
      busAccess(rig, label, () => {
        const bits = readRegister(rig.bus, REG.interruptStatus);
        writeRegister(rig.bus, REG.interruptAck, bits);
      });
      return;
    case 'tick': {
      const before = counts(rig.metrics);
      tickStats(rig, a.ms);
      checkAction(rig, label, 'tick', delta(counts(rig.metrics), before));
      return;
    }
    case 'host': {
      const before = counts(rig.metrics);
      rig.deviceCall(() => {
        try {
          switch (a.op) {
            case 'start':
            case 'start-no-ack':
              rig.balloon.startHinting({ acknowledge_on_stop: a.op === 'start' });
              break;
            case 'stop':
              rig.balloon.stopHinting();
              break;
            case 'size':
              rig.balloon.updateSize(a.n);
              break;
            case 'stats':
              assert.equal(typeof rig.balloon.latestStats().target_pages, 'number');
              break;
            case 'interval':
              rig.balloon.updateStatsPollingInterval(a.n + 1);
              break;
          }
        } catch (error) {
          // The host's own errors, documented; anything else is a bug.
          if (!(error instanceof DeviceNotActiveError || error instanceof TooMuchMemoryRequestedError)) throw error;
        }
      });
      // A host call hands back at most the held statistics buffer (a change of interval does).
      checkAction(rig, label, 'tick', delta(counts(rig.metrics), before));
      return;
    }
    case 'poke':
      rig.memory.write(a.addr, a.bytes);
      return;
    case 'desc':
      if (layout === undefined) return;
      guestWrite(() => {
        writeDescriptor(rig.memory, layout, a.index < 0x100 ? a.index % layout.size : a.index, { addr: a.addr, len: a.len, flags: a.flags, next: a.next });
      });
      return;
    case 'ring':
      if (layout === undefined) return;
      guestWrite(() => {
        rig.memory.writeU16(layout.availRing + 4n + BigInt(2 * (a.slot % layout.size)), a.head);
      });
      return;
    case 'avail':
      if (layout === undefined) return;
      guestWrite(() => {
        rig.memory.writeU16(layout.availRing + 2n, (rig.memory.readU16(layout.availRing + 2n) + a.ahead) & 0xffff);
      });
      return;
    case 'chain':
      if (layout === undefined) return;
      for (const b of a.buffers) {
        const bytes = b.payload;
        if (bytes !== undefined) {
          guestWrite(() => {
            rig.memory.write(b.addr, bytes);
          });
        }
      }
      guestWrite(() => {
        putChain(rig.memory, layout, a.buffers.slice(0, Math.max(1, Math.min(layout.size, 0x1_0000))).map(({ addr, len, writeOnly }) => ({ addr, len, writeOnly })));
      });
      return;
  }
}

/** Where the well-behaved driver of the recovery puts its queues, its frame list and the frames. */
const RECOVERY_PFN_LIST = 0xc000;
const RECOVERY_FIRST_PFN = 16;
const RECOVERY_PAGES = MEMORY_SIZE / PAGE_SIZE - RECOVERY_FIRST_PFN;

/**
 * Status 0, then a driver that does everything right: a handshake with every queue, N frames
 * touched and inflated. The chain comes back, the frames read zero and are no longer resident,
 * inflate_count moves by one and nothing else.
 */
function recover(rig: Rig, pfns: readonly number[]): void {
  busAccess(rig, 'reset', () => {
    writeRegister(rig.bus, REG.status, 0);
  });
  assert.equal(rig.transport.status, 0, 'Status reads 0 after a reset');
  assert.equal(rig.balloon.activated, false, 'the device is inactive after a reset');
  assert.equal(rig.balloon.needsReset, false, 'the device no longer needs a reset');
  const layouts = ROLES.map((_role, i) => layoutQueue(rig.memory, standardBase(i), 16));
  const before = counts(rig.metrics);
  const handshake = driveHandshake(rig.bus, { queues: layouts });
  assert.ok(handshake.featuresAccepted, 'the device accepts every feature it offers');
  assert.equal(handshake.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk | STATUS.driverOk, 'the device is live after the handshake');
  assert.equal(rig.balloon.activated, true);
  for (const pfn of pfns) rig.memory.write(pfn * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(0x5a));
  rig.memory.write(RECOVERY_PFN_LIST, encodePfns(pfns));
  const inflate = layouts[QUEUE.inflate];
  assert.ok(inflate !== undefined);
  const head = putChain(rig.memory, inflate, [{ addr: RECOVERY_PFN_LIST, len: 4 * pfns.length }]);
  const resident = rig.memory.residentBytes();
  const interrupts = rig.interrupts;
  busAccess(rig, 'recovery inflate', () => {
    writeRegister(rig.bus, REG.queueNotify, QUEUE.inflate);
  }, QUEUE.inflate);
  assert.deepEqual(usedEntries(rig.memory, inflate), [{ id: head, len: 0 }], 'the inflate chain is returned');
  for (const pfn of pfns) assert.ok(rig.memory.read(pfn * PAGE_SIZE, PAGE_SIZE).every((byte) => byte === 0), `frame ${pfn} reads zero`);
  assert.equal(resident - rig.memory.residentBytes(), pfns.length * PAGE_SIZE, 'the inflated frames are no longer resident');
  assert.ok((rig.transport.interruptStatus & 1) !== 0 && rig.interrupts === interrupts + 1, 'one used-buffer interrupt');
  const moved = delta(counts(rig.metrics), before);
  assert.deepEqual(moved, { ...delta(before, before), inflate_count: 1 }, 'the recovery moved inflate_count alone');
}

test('an arbitrary guest on the MMIO registers: nothing escapes, memory stays in bounds, work is bounded, counters follow service; a reset recovers', (t) => {
  fc.assert(
    fc.property(
      fc.array(action, { minLength: 1, maxLength: 80, size: 'max' }),
      fc.uniqueArray(fc.integer({ min: RECOVERY_FIRST_PFN, max: RECOVERY_FIRST_PFN + RECOVERY_PAGES - 1 }), { minLength: 1, maxLength: RECOVERY_PAGES }),
      (actions, pfns) => {
        withMockTimers(() => {
          const rig = buildRig(MEMORY_SIZE);
          const driver: Driver = { layouts: [] };
          for (const a of actions) perform(rig, driver, a);
          recover(rig, pfns);
          busAccess(rig, 'final reset', () => {
            writeRegister(rig.bus, REG.status, 0);
          });
        });
      },
    ),
    propertyParameters(Number(process.env['FUZZ_RUNS'] ?? 1500)),
  );
  t.diagnostic(`coverage: ${JSON.stringify(coverage)}`);
});
