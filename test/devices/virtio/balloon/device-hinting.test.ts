/**
 * Free page hinting (Firecracker's hinting tests): the host starts a run under a command id, the
 * guest sends that id (a 4-byte buffer) and then page ranges, which are released only while the
 * guest's id is the host's; the guest's STOP is answered with DONE when the run asked for it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FREE_PAGE_HINT_DONE, FREE_PAGE_HINT_STOP } from '../../../../src/devices/virtio/balloon/abi.js';
import { PAGE_SIZE } from '../../../../src/vstate/memory.js';
import { activate, activated, counts, DATA_BASE, expected, filledWith, MEMORY_MIB, MIB, put, touchPages, used, type Harness } from './device-setup.js';
import type { BufferSpec } from '../support/index.js';

/** No stats queue: hinting follows deflate. */
const HINTING = 2;
const FIRST_PFN = (4 * MIB) / PAGE_SIZE;
/** The range the guest hints in these tests: 4 pages from FIRST_PFN. */
const RANGE_ADDR = FIRST_PFN * PAGE_SIZE;
const RANGE: BufferSpec = { addr: RANGE_ADDR, len: 4 * PAGE_SIZE, writeOnly: true };

let cmdSlot = 0;
/** A 4-byte command id buffer, as Linux's `send_cmd_id_start`/`send_cmd_id_stop` write it. */
function cmd(h: Harness, id: number): BufferSpec {
  const addr = DATA_BASE + 8 * (cmdSlot++ % 512);
  h.memory.writeU32(addr, id);
  return { addr, len: 4 };
}

function hinting(config: { acknowledge_on_stop?: boolean } = {}): Harness {
  const h = activated({ free_page_hinting: true });
  touchPages(h.memory, FIRST_PFN, 4);
  h.balloon.startHinting(config);
  return h;
}

/** Sends `buffers` as one chain and notifies; returns the bytes the device released. */
function send(h: Harness, buffers: readonly BufferSpec[]): number {
  const head = put(h, HINTING, buffers);
  const resident = h.memory.residentBytes();
  h.balloon.notifyQueue(HINTING);
  assert.deepEqual(used(h, HINTING), [{ id: head, len: 0 }], 'every chain goes back');
  return resident - h.memory.residentBytes();
}

function configCmdId(h: Harness): number {
  const data = new Uint8Array(4);
  h.balloon.readConfig(8, data);
  return new DataView(data.buffer).getUint32(0, true);
}

test('startHinting sets a new command id from 2, in the configuration space, with a configuration interrupt', () => {
  const h = activated({ free_page_hinting: true });
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: FREE_PAGE_HINT_STOP, guest_cmd: null });
  assert.equal(configCmdId(h), 0);
  h.balloon.startHinting();
  assert.equal(configCmdId(h), 2);
  assert.deepEqual(h.interrupt.take(), ['config']);
  h.balloon.startHinting();
  h.balloon.stopHinting();
  h.balloon.startHinting();
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: 4, guest_cmd: null });
  h.balloon.stopHinting();
  assert.equal(configCmdId(h), FREE_PAGE_HINT_DONE);
  assert.deepEqual(h.interrupt.take(), ['config', 'config', 'config', 'config']);
  assert.deepEqual(counts(h.metrics), expected({}));
});

test('hinting, no command set: ranges before the guest sent any command id are ignored', () => {
  const h = activated({ free_page_hinting: true });
  touchPages(h.memory, FIRST_PFN, 4);
  // No run started: the host's command is STOP.
  assert.equal(send(h, [RANGE]), 0);
  // A run started, but the guest has not sent its id yet.
  h.balloon.startHinting();
  assert.equal(send(h, [RANGE]), 0);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, 4 * PAGE_SIZE, 0xa5));
  assert.deepEqual(counts(h.metrics), expected({}));
});

test('hinting, the normal path: the id, the ranges, STOP answered with DONE', () => {
  const h = hinting();
  h.interrupt.take();
  // The id alone, then the ranges in later chains (as Linux sends them).
  assert.equal(send(h, [cmd(h, 2)]), 0);
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: 2, guest_cmd: 2 });
  assert.equal(send(h, [RANGE]), 4 * PAGE_SIZE);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, 4 * PAGE_SIZE, 0));
  assert.deepEqual(h.interrupt.take(), ['vring', 'vring']);
  // STOP: the device acknowledges with DONE.
  send(h, [cmd(h, FREE_PAGE_HINT_STOP)]);
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: FREE_PAGE_HINT_DONE, guest_cmd: FREE_PAGE_HINT_STOP });
  assert.equal(configCmdId(h), FREE_PAGE_HINT_DONE);
  assert.deepEqual(h.interrupt.take(), ['vring', 'config']);
  assert.deepEqual(counts(h.metrics), expected({ free_page_hint_count: 1, free_page_hint_freed: 4 * PAGE_SIZE }));
});

test('hinting: the id and several ranges in one chain', () => {
  const h = hinting();
  const released = send(h, [cmd(h, 2), { ...RANGE, len: 2 * PAGE_SIZE }, { addr: RANGE_ADDR + 2 * PAGE_SIZE, len: 2 * PAGE_SIZE }]);
  assert.equal(released, 4 * PAGE_SIZE);
  assert.deepEqual(counts(h.metrics), expected({ free_page_hint_count: 2, free_page_hint_freed: 4 * PAGE_SIZE }));
});

test('hinting, an invalid command: ranges under an id that is not the host’s are ignored; DONE from the guest is a STOP', () => {
  const h = hinting();
  assert.equal(send(h, [cmd(h, 7), RANGE]), 0);
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: 2, guest_cmd: 7 });
  h.interrupt.take();
  send(h, [cmd(h, FREE_PAGE_HINT_DONE)]);
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: FREE_PAGE_HINT_DONE, guest_cmd: FREE_PAGE_HINT_DONE });
  assert.deepEqual(h.interrupt.take(), ['vring', 'config']);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, 4 * PAGE_SIZE, 0xa5));
  assert.deepEqual(counts(h.metrics), expected({}));
});

test('hinting, stale in-flight requests: after a new run starts, ranges of the old run are ignored', () => {
  const h = hinting();
  send(h, [cmd(h, 2)]);
  h.balloon.startHinting(); // run 3
  assert.equal(send(h, [RANGE]), 0, 'the guest is still on run 2');
  assert.equal(send(h, [cmd(h, 3), RANGE]), 4 * PAGE_SIZE);
  assert.deepEqual(counts(h.metrics), expected({ free_page_hint_count: 1, free_page_hint_freed: 4 * PAGE_SIZE }));
});

test('hinting, stale after stop: once the host said DONE, ranges in flight are dropped', () => {
  const h = hinting();
  send(h, [cmd(h, 2)]);
  h.balloon.stopHinting();
  assert.equal(send(h, [RANGE]), 0);
  assert.equal(send(h, [cmd(h, 2), RANGE]), 0, 'even under the old id');
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, 4 * PAGE_SIZE, 0xa5));
  assert.deepEqual(counts(h.metrics), expected({}));
});

test('hinting, no ack on stop: the guest’s STOP leaves the host’s command as it is', () => {
  const h = hinting({ acknowledge_on_stop: false });
  send(h, [cmd(h, 2), RANGE]);
  h.interrupt.take();
  send(h, [cmd(h, FREE_PAGE_HINT_STOP)]);
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: 2, guest_cmd: FREE_PAGE_HINT_STOP });
  assert.equal(configCmdId(h), 2);
  assert.deepEqual(h.interrupt.take(), ['vring'], 'no configuration interrupt');
  // The host ends the run itself.
  h.balloon.stopHinting();
  assert.equal(configCmdId(h), FREE_PAGE_HINT_DONE);
  assert.deepEqual(counts(h.metrics), expected({ free_page_hint_count: 1, free_page_hint_freed: 4 * PAGE_SIZE }));
});

test('hinting, misaligned ranges: whole pages released, partial edges zeroed; a range outside memory counts free_page_hint_fails', () => {
  const h = hinting();
  const start = FIRST_PFN * PAGE_SIZE + 0x800;
  const len = 2 * PAGE_SIZE + 0x10; // the end of page 0, page 1, the start of page 2
  const released = send(h, [cmd(h, 2), { addr: start, len }, { addr: MEMORY_MIB * MIB - PAGE_SIZE, len: 2 * PAGE_SIZE }]);
  assert.equal(released, PAGE_SIZE);
  assert.ok(filledWith(h.memory, start, len, 0));
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, 0x800, 0xa5));
  assert.ok(filledWith(h.memory, start + len, PAGE_SIZE - 0x810, 0xa5));
  assert.deepEqual(counts(h.metrics), expected({ free_page_hint_count: 2, free_page_hint_freed: len, free_page_hint_fails: 1 }));
});

test('hinting: a command id outside guest memory makes the chain malformed (event_fails), returned with length 0', () => {
  const h = hinting();
  assert.equal(send(h, [{ addr: MEMORY_MIB * MIB - 2, len: 4 }, RANGE]), 0);
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: 2, guest_cmd: null });
  assert.deepEqual(counts(h.metrics), expected({ event_fails: 1 }));
});

test('hinting with statistics and reporting: hinting is queue 3, reporting queue 4', () => {
  const h = activated({ free_page_hinting: true, free_page_reporting: true, stats_polling_interval_s: 1 });
  assert.equal(h.balloon.queueMaxSizes.length, 5);
  touchPages(h.memory, FIRST_PFN, 8);
  h.balloon.startHinting();
  put(h, 3, [cmd(h, 2), RANGE]);
  h.balloon.notifyQueue(3);
  put(h, 4, [{ addr: RANGE_ADDR + 4 * PAGE_SIZE, len: 4 * PAGE_SIZE }]);
  h.balloon.notifyQueue(4);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, 8 * PAGE_SIZE, 0));
  assert.deepEqual(
    counts(h.metrics),
    expected({ free_page_hint_count: 1, free_page_hint_freed: 4 * PAGE_SIZE, free_page_report_count: 1, free_page_report_freed: 4 * PAGE_SIZE }),
  );
  h.balloon.reset();
});

test('reset forgets the guest’s command id; the host’s run stays', () => {
  const h = hinting();
  send(h, [cmd(h, 2)]);
  h.balloon.reset();
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: 2, guest_cmd: null });
});

test('reset keeps the host’s run (device.ts, differences from Firecracker): the configuration still reads its id, a new driver hints under it, the next run’s id follows', () => {
  const h = hinting({ acknowledge_on_stop: false });
  send(h, [cmd(h, 2)]);
  h.balloon.reset();
  assert.equal(configCmdId(h), 2);
  activate(h);
  assert.equal(send(h, [cmd(h, 2), RANGE]), 4 * PAGE_SIZE);
  send(h, [cmd(h, FREE_PAGE_HINT_STOP)]);
  assert.equal(configCmdId(h), 2, 'the run’s acknowledge_on_stop: false stays too');
  h.balloon.startHinting();
  assert.equal(configCmdId(h), 3);
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: 3, guest_cmd: FREE_PAGE_HINT_STOP });
});
