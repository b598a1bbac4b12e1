/**
 * Property-based tests of what each balloon queue serves, through the MMIO registers: a
 * well-behaved handshake, then a batch of chains on one queue — well-formed or malformed on
 * purpose (an index outside the table, a NEXT loop, INDIRECT, a buffer outside memory, straddling
 * its end or near 2^64), with frame numbers, statistics, hinting commands and free ranges inside
 * and outside memory — and one notification. The test knows what it injected, so the metrics are
 * compared exactly with what the device should have served: `event_fails` with the malformed
 * chains, `free_page_report_freed` with the sum of the well-formed in-memory ranges, and so on;
 * the used ring with the chains given back; the pages released with the frames and ranges given.
 *
 * Guest memory is split so that nothing the device releases is something it reads afterwards:
 * rings below 64 KiB, the buffers the device reads (frame lists, statistics, command ids) below
 * 512 KiB, and the frames and ranges it releases above.
 *
 * Reproduce a failure with `VMM_METRICS_SEED=<seed>` (and `VMM_METRICS_PATH=<path>`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PAGE_SIZE } from '../../../../src/vstate/memory.js';
import {
  DESC_F_INDIRECT,
  DESC_F_NEXT,
  DESC_F_WRITE,
  driveHandshake,
  layoutQueue,
  propertyParameters,
  pushAvail,
  readConfig,
  REG,
  setAvailIndex,
  STATUS,
  usedEntries,
  writeDescriptor,
  writeRegister,
  type QueueLayout,
  type UsedElement,
} from '../support/index.js';
import { descriptorLength, encodePfns, encodeStats, encodeU32, guestAddress, hintCommand, pageFrame, statEntry } from './fuzz-support/arbitraries.js';
import { buildRig, checkAction, counts, delta, notificationServed, ROLES, tickStats, withMockTimers, ZERO, type Counts, type Rig, type Role } from './fuzz-support/harness.js';

const MEMORY_SIZE = 1024 * 1024;
const BUFFER_AREA = 0x1_0000;
const TARGET_AREA = 0x8_0000;
const FIRST_TARGET_PFN = TARGET_AREA / PAGE_SIZE;
const MEMORY_PAGES = MEMORY_SIZE / PAGE_SIZE;

/** One descriptor as the test means it; `payload` is written at `addr` (always in the buffer area then). */
interface DescSpec {
  readonly addr: bigint;
  readonly len: number;
  readonly flags: number;
  readonly payload?: Uint8Array;
  /** For a hinting descriptor: a command id (length 4) or a range. */
  readonly cmd?: number;
}

type Defect = 'none' | 'head-out-of-table' | 'next-out-of-table' | 'loop' | 'indirect';

interface ChainSpec {
  readonly descriptors: readonly DescSpec[];
  readonly defect: Defect;
}

/**
 * Addresses of buffers the device reads when they are not in the buffer area: in the last 3 bytes
 * of memory (only a buffer shorter than 4 bytes fits there), straddling the end, past it, near 2^64.
 */
const outside = guestAddress(MEMORY_SIZE, MEMORY_SIZE - 3, MEMORY_SIZE).filter((addr) => addr > BigInt(MEMORY_SIZE - 4));
/** Where a range to release lies: in the target area, straddling the end, past it, near 2^64. */
const rangeAddress = guestAddress(MEMORY_SIZE, TARGET_AREA, MEMORY_SIZE);
const targetFrame = pageFrame(MEMORY_SIZE, FIRST_TARGET_PFN).map((pfn) => (pfn < FIRST_TARGET_PFN ? pfn + FIRST_TARGET_PFN : pfn));

/** The placement of a payload is decided later (a bump allocator); `addr` -1n means "in the buffer area". */
const IN_BUFFERS = -1n;

function descriptorFor(role: Role): fc.Arbitrary<DescSpec> {
  const flags = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(DESC_F_WRITE) });
  switch (role) {
    case 'inflate':
      return fc.oneof(
        { weight: 6, arbitrary: fc.record({ addr: fc.constant(IN_BUFFERS), flags, payload: fc.array(targetFrame, { minLength: 0, maxLength: 258 }).map(encodePfns), lenDelta: fc.constantFrom(0, 0, 0, 1, -1, 2) }).map(({ lenDelta, payload, ...d }) => ({ ...d, payload, len: Math.max(0, payload.length + lenDelta) })) },
        { weight: 1, arbitrary: fc.record({ addr: outside, len: descriptorLength, flags }) },
      );
    case 'stats':
      return fc.oneof(
        { weight: 6, arbitrary: fc.record({ addr: fc.constant(IN_BUFFERS), flags, payload: fc.array(statEntry, { minLength: 0, maxLength: 20 }).map(encodeStats), lenDelta: fc.constantFrom(0, 0, 0, 1, 9, -1) }).map(({ lenDelta, payload, ...d }) => ({ ...d, payload, len: Math.max(0, payload.length + lenDelta) })) },
        { weight: 1, arbitrary: fc.record({ addr: fc.constant(IN_BUFFERS), flags, payload: fc.constant(new Uint8Array(2570)), len: fc.constantFrom(2560, 2561, 2570) }) },
        { weight: 1, arbitrary: fc.record({ addr: outside, len: descriptorLength, flags }) },
      );
    case 'deflate':
      return fc.record({ addr: guestAddress(MEMORY_SIZE, TARGET_AREA, MEMORY_SIZE), len: descriptorLength, flags });
    case 'reporting':
      return fc.record({ addr: rangeAddress, len: descriptorLength, flags });
    case 'hinting':
      return fc.oneof(
        { weight: 2, arbitrary: fc.record({ addr: fc.constant(IN_BUFFERS), cmd: hintCommand, flags }).map((d) => ({ ...d, len: 4, payload: encodeU32(d.cmd) })) },
        { weight: 1, arbitrary: fc.record({ addr: outside, cmd: hintCommand, flags }).map((d) => ({ ...d, len: 4 })) },
        { weight: 4, arbitrary: fc.record({ addr: rangeAddress, len: descriptorLength.filter((len) => len !== 4), flags }) },
      );
  }
}

const defect: fc.Arbitrary<Defect> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('none' as const) },
  { weight: 1, arbitrary: fc.constantFrom('head-out-of-table' as const, 'next-out-of-table' as const, 'loop' as const, 'indirect' as const) },
);

interface Scenario {
  readonly role: Role;
  readonly size: number;
  readonly chains: readonly ChainSpec[];
  /** avail.idx moved this far past the queue size instead (a corrupted ring), if set. */
  readonly corruptAhead: number | null;
  readonly hinting: { readonly start: boolean; readonly acknowledge: boolean };
  readonly ticks: number;
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({ role: fc.constantFrom(...ROLES), size: fc.constantFrom(1, 2, 4, 8, 16, 32) })
  .chain(({ role, size }) =>
    fc.record({
      role: fc.constant(role),
      size: fc.constant(size),
      chains: fc.array(fc.record({ descriptors: fc.array(descriptorFor(role), { minLength: 1, maxLength: role === 'hinting' || role === 'reporting' ? 4 : 2 }), defect }), {
        minLength: 0,
        maxLength: size,
      }),
      corruptAhead: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: size + 1, max: 0xffff }) }),
      hinting: fc.record({ start: fc.boolean(), acknowledge: fc.boolean() }),
      ticks: fc.integer({ min: 0, max: 2 }),
    }),
  );

/** What the test wrote for one chain: its head as made available, and the descriptors the device will walk. */
interface Placed {
  readonly head: number;
  readonly spec: ChainSpec;
}

/**
 * Writes the chains into consecutive table slots (as many as fit in the queue) with their
 * defects, their payloads in the buffer area, and makes them available.
 */
function placeChains(rig: Rig, layout: QueueLayout, chains: readonly ChainSpec[]): Placed[] {
  let slot = 0;
  let buffer = BUFFER_AREA;
  const placed: Placed[] = [];
  for (const spec of chains) {
    const count = spec.descriptors.length;
    if (slot + count > layout.size) break;
    const first = slot;
    const descriptors = spec.descriptors.map((d) => {
      if (d.addr !== IN_BUFFERS) return d;
      const addr = BigInt(buffer);
      buffer += (d.payload?.length ?? 0) + 16;
      if (d.payload !== undefined) rig.memory.write(addr, d.payload);
      return { ...d, addr };
    });
    descriptors.forEach((d, i) => {
      const last = i === count - 1;
      let flags = d.flags | (last ? 0 : DESC_F_NEXT);
      let next = last ? 0 : first + i + 1;
      if (last && spec.defect === 'loop') {
        flags |= DESC_F_NEXT;
        next = first;
      }
      if (last && spec.defect === 'next-out-of-table') {
        flags |= DESC_F_NEXT;
        next = layout.size + (i % 3);
      }
      if (last && spec.defect === 'indirect') flags |= DESC_F_INDIRECT;
      writeDescriptor(rig.memory, layout, first + i, { addr: d.addr, len: d.len, flags, next });
    });
    const head = spec.defect === 'head-out-of-table' ? layout.size + (first % 7) : first;
    pushAvail(rig.memory, layout, head);
    placed.push({ head, spec: { ...spec, descriptors } });
    slot += count;
  }
  return placed;
}

const inside = (addr: bigint, len: number): boolean => addr + BigInt(len) <= BigInt(MEMORY_SIZE);

/** Whether the device's walk of the whole chain fails (hinting, reporting), and whether its head check does (inflate, stats). */
function structurallyMalformed(spec: ChainSpec, headOnly: boolean): boolean {
  if (spec.defect === 'head-out-of-table') return true;
  if (headOnly) {
    const head = spec.descriptors[0];
    assert.ok(head !== undefined);
    const indirectHead = spec.defect === 'indirect' && spec.descriptors.length === 1;
    return indirectHead || !inside(head.addr, head.len);
  }
  return spec.defect !== 'none';
}

interface Expectation {
  moved: Counts;
  used: UsedElement[];
  /** Page-aligned ranges [start, end) that must read zero afterwards. */
  zeroed: [bigint, bigint][];
  /** The host's hinting command afterwards. */
  hostCmd: number;
}

/** What the device should do with the chains, one notification, the queue not corrupted. */
function reference(role: Role, placed: readonly Placed[], hostCmd: number, acknowledge: boolean): Expectation {
  const moved: Counts = { ...ZERO };
  const used: UsedElement[] = [];
  const zeroed: [bigint, bigint][] = [];
  if (role === 'inflate') moved.inflate_count = 1;
  if (role === 'deflate') moved.deflate_count = 1;
  if (role === 'stats') moved.stats_updates_count = 1;
  let held: number | undefined;
  const inflated = new Set<number>();
  let guestCmd: number | undefined;
  let complete = false;
  for (const { head, spec } of placed) {
    const headDescriptor = spec.descriptors[0];
    assert.ok(headDescriptor !== undefined);
    switch (role) {
      case 'deflate':
        used.push({ id: head, len: 0 });
        break;
      case 'inflate': {
        // A buffer is checked only if it is read: one skipped unread (write-only, a length not
        // of whole frame numbers, over 256) moves no metric wherever it points, as in Firecracker.
        const read = (headDescriptor.flags & DESC_F_WRITE) === 0 && headDescriptor.len % 4 === 0 && headDescriptor.len / 4 <= 256;
        const indirectHead = spec.defect === 'indirect' && spec.descriptors.length === 1;
        if (spec.defect === 'head-out-of-table' || indirectHead || (read && !inside(headDescriptor.addr, headDescriptor.len))) moved.event_fails++;
        else if (read && headDescriptor.payload !== undefined) {
          const view = new DataView(headDescriptor.payload.buffer);
          for (let at = 0; at < headDescriptor.len; at += 4) inflated.add(view.getUint32(at, true));
        }
        used.push({ id: head, len: 0 });
        break;
      }
      case 'stats': {
        if (held !== undefined) used.push({ id: held, len: 0 });
        held = undefined;
        if (structurallyMalformed(spec, true)) {
          moved.event_fails++;
          used.push({ id: head, len: 0 });
          break;
        }
        if (headDescriptor.len <= 2560 && headDescriptor.payload !== undefined) {
          const view = new DataView(headDescriptor.payload.buffer);
          // Each unknown tag is counted and skipped; the entries after it are read.
          for (let at = 0; at + 10 <= headDescriptor.len; at += 10) {
            if (view.getUint16(at, true) > 15) moved.stats_update_fails++;
          }
        }
        held = head;
        break;
      }
      case 'reporting':
        if (structurallyMalformed(spec, false)) {
          moved.event_fails++;
        } else {
          for (const d of spec.descriptors) {
            moved.free_page_report_count++;
            if (inside(d.addr, d.len)) {
              moved.free_page_report_freed += d.len;
              zeroed.push([d.addr, d.addr + BigInt(d.len)]);
            } else {
              moved.free_page_report_fails++;
            }
          }
        }
        used.push({ id: head, len: 0 });
        break;
      case 'hinting':
        if (structurallyMalformed(spec, false)) {
          moved.event_fails++;
        } else {
          for (const d of spec.descriptors) {
            if (d.len === 4) {
              if (!inside(d.addr, 4)) {
                // The command id cannot be read: the chain is malformed from here on.
                moved.event_fails++;
                break;
              }
              guestCmd = d.cmd;
              complete = d.cmd === 0 || d.cmd === 1;
              continue;
            }
            if (hostCmd === 0 || hostCmd === 1 || guestCmd !== hostCmd) continue;
            moved.free_page_hint_count++;
            if (inside(d.addr, d.len)) {
              moved.free_page_hint_freed += d.len;
              zeroed.push([d.addr, d.addr + BigInt(d.len)]);
            } else {
              moved.free_page_hint_fails++;
            }
          }
        }
        used.push({ id: head, len: 0 });
        break;
    }
  }
  // Frames are compacted into runs of consecutive frames and each run released in one call, as
  // Firecracker does: a run that reaches past the end of memory fails whole (Firecracker logs
  // "Error removing memory range"), so a frame is sure to be released only if its run ends inside.
  for (const pfn of inflated) {
    if (pfn >= MEMORY_PAGES) continue;
    let end = pfn;
    while (end < MEMORY_PAGES && inflated.has(end)) end++;
    if (end === MEMORY_PAGES && inflated.has(MEMORY_PAGES)) continue;
    zeroed.push([BigInt(pfn * PAGE_SIZE), BigInt((pfn + 1) * PAGE_SIZE)]);
  }
  return { moved, used, zeroed, hostCmd: complete && acknowledge ? 1 : hostCmd };
}

function readU32Config(rig: Rig, offset: number): number {
  return new DataView(readConfig(rig.bus, offset, 4).buffer).getUint32(0, true);
}

test('each queue serves exactly what the guest gave: metrics, used ring and released memory match the chains injected', () => {
  fc.assert(
    fc.property(scenario, (s) => {
      withMockTimers(() => {
        const rig = buildRig(MEMORY_SIZE);
        const index = ROLES.indexOf(s.role);
        const layouts = ROLES.map((_role, i) => layoutQueue(rig.memory, 0x1000 + i * 0x2000, i === index ? s.size : 4));
        const handshake = driveHandshake(rig.bus, { queues: layouts });
        assert.equal(handshake.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk | STATUS.driverOk);
        const layout = layouts[index];
        assert.ok(layout !== undefined);
        if (s.hinting.start) rig.balloon.startHinting({ acknowledge_on_stop: s.hinting.acknowledge });
        const hostCmd = s.hinting.start ? 2 : 0;
        // The frames and ranges the guest may give, resident and nonzero beforehand.
        rig.memory.write(TARGET_AREA, new Uint8Array(MEMORY_SIZE - TARGET_AREA).fill(0xa5));
        const placed = placeChains(rig, layout, s.chains);
        if (s.corruptAhead !== null) setAvailIndex(rig.memory, layout, s.corruptAhead);
        const before = counts(rig.metrics);
        const served = notificationServed(rig, index);
        assert.ok(served, 'a live device with its queue ready serves the notification');
        rig.lastAccesses = [];
        writeRegister(rig.bus, REG.queueNotify, index);
        const moved = delta(counts(rig.metrics), before);
        checkAction(rig, `notify ${s.role}`, { index, role: s.role, size: s.size }, moved);

        if (s.corruptAhead !== null) {
          // A corrupted available ring: counted once, nothing served, the device asks for a reset.
          const expected: Counts = { ...ZERO, event_fails: 1 };
          if (s.role === 'inflate') expected.inflate_count = 1;
          if (s.role === 'deflate') expected.deflate_count = 1;
          if (s.role === 'stats') expected.stats_updates_count = 1;
          assert.deepEqual(moved, expected);
          assert.deepEqual(usedEntries(rig.memory, layout), []);
          assert.ok((rig.transport.status & STATUS.deviceNeedsReset) !== 0, 'DEVICE_NEEDS_RESET is set');
          assert.ok((rig.transport.interruptStatus & 2) !== 0, 'a configuration interrupt is raised');
          // Until the driver resets it, the device serves nothing and counts nothing.
          const after = counts(rig.metrics);
          for (let i = 0; i < ROLES.length; i++) {
            rig.lastAccesses = [];
            writeRegister(rig.bus, REG.queueNotify, i);
            checkAction(rig, `notify ${i} after the corruption`, 'none', delta(counts(rig.metrics), after));
          }
          for (let i = 0; i < s.ticks; i++) {
            tickStats(rig);
            checkAction(rig, 'tick after the corruption', 'none', delta(counts(rig.metrics), after));
          }
          return;
        }

        const expected = reference(s.role, placed, hostCmd, s.role === 'hinting' && s.hinting.start && s.hinting.acknowledge);
        assert.deepEqual(moved, expected.moved, 'the counters match the chains served');
        assert.deepEqual(usedEntries(rig.memory, layout), expected.used, 'the used ring returns the chains served');
        if (expected.used.length > 0) assert.ok((rig.transport.interruptStatus & 1) !== 0, 'a used-buffer interrupt');
        for (const [start, end] of expected.zeroed) {
          const bytes = rig.memory.read(start, Number(end - start));
          assert.ok(bytes.every((byte) => byte === 0), `0x${start.toString(16)}…0x${end.toString(16)} reads zero after it was given`);
        }
        assert.equal(readU32Config(rig, 8), expected.hostCmd, 'free_page_hint_cmd_id');
        // The statistics buffer held is handed back at each tick, once, and counts nothing.
        const last = placed.at(-1);
        const held = s.role === 'stats' && last !== undefined && !structurallyMalformed(last.spec, true) ? last : undefined;
        for (let i = 0; i < s.ticks; i++) {
          const tickBefore = counts(rig.metrics);
          tickStats(rig);
          checkAction(rig, 'tick', 'tick', delta(counts(rig.metrics), tickBefore));
          assert.deepEqual(usedEntries(rig.memory, layout), i === 0 && held !== undefined ? [{ id: held.head, len: 0 }] : [], 'the held statistics buffer comes back once');
        }
      });
    }),
    propertyParameters(Number(process.env['FUZZ_RUNS'] ?? 4000)),
  );
});
