/** The driver side of a split queue against the device side (`Queue` of src/devices/virtio/queue.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, type Queue } from '../../src/devices/virtio/queue.js';
import { deviceQueue } from '../devices/virtio/support/index.js';
import { DeviceProtocolError, QueueFullError } from '../../src/guest/errors.js';
import { queueLayout, VirtqueueDriver } from '../../src/guest/virtqueue-driver.js';
import { GuestMemory } from '../../src/vstate/memory.js';

function pair(size = 8): { memory: GuestMemory; driver: VirtqueueDriver<string>; device: Queue } {
  const memory = new GuestMemory(1024 * 1024);
  const layout = queueLayout(0x1000n, size);
  const driver = new VirtqueueDriver<string>(memory, layout);
  return { memory, driver, device: deviceQueue(layout) };
}

describe('queueLayout', () => {
  test('places the three parts aligned as the specification asks, and the device accepts them', () => {
    const layout = queueLayout(0x2000n, 256);
    assert.equal(layout.descTable, 0x2000n);
    assert.equal(layout.availRing, 0x2000n + 4096n);
    assert.equal(layout.usedRing % 64n, 0n);
    assert.ok(layout.usedRing >= layout.availRing + 6n + 512n);
    assert.equal(layout.bytes, Number(layout.usedRing - 0x2000n) + 6 + 8 * 256);
    assert.throws(() => queueLayout(0n, 3), RangeError);
    assert.throws(() => queueLayout(8n, 4), RangeError);
    const { memory, device } = pair(16);
    assert.ok(device.isValid(memory));
  });
});

describe('VirtqueueDriver', () => {
  test('a device-readable buffer arrives as one descriptor and comes back with its token', () => {
    const { memory, driver, device } = pair();
    const head = driver.add([{ addr: 0x8000n, len: 1024 }], 'inflate');
    assert.equal(driver.numFree, 7);
    assert.equal(device.pending(memory), 1);
    const chain = device.pop(memory);
    assert.ok(chain);
    assert.equal(chain.head, head);
    const [descriptor, ...rest] = chain.descriptors(memory);
    assert.deepEqual(rest, []);
    assert.deepEqual([descriptor?.addr, descriptor?.len, descriptor?.writeOnly], [0x8000n, 1024, false]);
    assert.equal(driver.popUsed(), undefined, 'nothing used yet');
    device.addUsed(memory, chain.head, 0);
    assert.ok(driver.hasUsed());
    assert.deepEqual(driver.popUsed(), { token: 'inflate', head, len: 0 });
    assert.equal(driver.numFree, 8);
    assert.equal(driver.inFlight, 0);
  });

  test('a chain of device-writable buffers: NEXT links, WRITE flags, the last without NEXT', () => {
    const { memory, driver, device } = pair();
    driver.add([{ addr: 0x10_0000 - 0x3000, len: 4096, writable: true }, { addr: 0x20_000, len: 8192, writable: true }, { addr: 0x40_000, len: 4, writable: true }], 'report');
    assert.equal(driver.numFree, 5);
    const chain = device.pop(memory);
    assert.ok(chain);
    const descriptors = chain.descriptors(memory);
    assert.deepEqual(descriptors.map((d) => [d.addr, d.len, d.flags]), [
      [0x10_0000n - 0x3000n, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE],
      [0x20_000n, 8192, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE],
      [0x40_000n, 4, VIRTQ_DESC_F_WRITE],
    ]);
    device.addUsed(memory, chain.head, 12);
    assert.equal(driver.popUsed()?.len, 12);
    assert.equal(driver.numFree, 8);
  });

  test('a full queue refuses a chain; chains used out of order free the right descriptors', () => {
    const { memory, driver, device } = pair(4);
    driver.add([{ addr: 0x8000, len: 4 }, { addr: 0x9000, len: 4 }], 'a');
    driver.add([{ addr: 0xa000, len: 4 }], 'b');
    assert.throws(() => driver.add([{ addr: 0, len: 4 }, { addr: 0, len: 4 }], 'c'), QueueFullError);
    driver.add([{ addr: 0xb000, len: 4 }], 'c');
    assert.equal(driver.numFree, 0);
    assert.throws(() => driver.add([{ addr: 0, len: 4 }], 'd'), QueueFullError);
    const a = device.pop(memory);
    const b = device.pop(memory);
    const c = device.pop(memory);
    assert.ok(a && b && c);
    device.addUsed(memory, b.head, 0);
    device.addUsed(memory, a.head, 0);
    assert.deepEqual([driver.popUsed()?.token, driver.popUsed()?.token], ['b', 'a']);
    assert.equal(driver.numFree, 3);
    // The freed descriptors make a valid chain again.
    driver.add([{ addr: 0xc000, len: 1 }, { addr: 0xd000, len: 2 }, { addr: 0xe000, len: 3 }], 'e');
    const e = device.pop(memory);
    assert.ok(e);
    assert.deepEqual(e.descriptors(memory).map((d) => d.len), [1, 2, 3]);
    device.addUsed(memory, c.head, 0);
    device.addUsed(memory, e.head, 0);
    assert.deepEqual([driver.popUsed()?.token, driver.popUsed()?.token, driver.popUsed()], ['c', 'e', undefined]);
    assert.equal(driver.numFree, 4);
  });

  test('ring indices wrap past 2^16 on both sides', () => {
    const { memory, driver, device } = pair(2);
    for (let i = 0; i < 70_000; i++) {
      driver.add([{ addr: 0x8000, len: 4 }], 'x');
      const chain = device.pop(memory);
      assert.ok(chain);
      device.addUsed(memory, chain.head, 0);
      assert.equal(driver.popUsed()?.token, 'x');
    }
    assert.equal(memory.readU16(driver.layout.availRing + 2n), 70_000 & 0xffff);
    assert.equal(driver.numFree, 2);
  });

  test('taking over a queue zeroes both rings', () => {
    const memory = new GuestMemory(64 * 1024);
    const layout = queueLayout(0x1000n, 8);
    memory.write(layout.usedRing, new Uint8Array(64).fill(0xff));
    memory.write(layout.availRing, new Uint8Array(22).fill(0xff));
    const driver = new VirtqueueDriver<string>(memory, layout);
    assert.equal(memory.readU16(layout.availRing + 2n), 0);
    assert.equal(driver.popUsed(), undefined);
    assert.ok(driver.needsNotification());
    memory.writeU16(layout.usedRing, 1); // VIRTQ_USED_F_NO_NOTIFY
    assert.ok(!driver.needsNotification());
  });

  test('a used ring naming a descriptor not in flight, or running ahead, is a DeviceProtocolError', () => {
    const { memory, driver } = pair(4);
    driver.add([{ addr: 0x8000, len: 4 }], 'a');
    // Entry 0: descriptor 3, never made available.
    memory.writeU32(driver.layout.usedRing + 4n, 3);
    memory.writeU16(driver.layout.usedRing + 2n, 1);
    assert.throws(() => driver.popUsed(), DeviceProtocolError);
    memory.writeU16(driver.layout.usedRing + 2n, 9);
    assert.throws(() => driver.popUsed(), /9 entries ahead/);
  });
});
