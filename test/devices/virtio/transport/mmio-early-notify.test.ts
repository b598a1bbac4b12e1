/**
 * Linux's virtio_balloon puts its statistics buffer on the queue and kicks it during probe,
 * before it sets DRIVER_OK (found by review: that kick was dropped, and Linux's statistics never
 * came through). The transport holds such a kick until the device is live, as Firecracker's
 * eventfd does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Balloon } from '../../../../src/devices/virtio/balloon/device.js';
import { BalloonDeviceMetrics } from '../../../../src/devices/virtio/balloon/metrics.js';
import { MmioTransport } from '../../../../src/devices/virtio/transport/mmio.js';
import { GuestMemory } from '../../../../src/vstate/memory.js';
import { driveHandshake, layoutQueue, notifyQueue, putChain, readRegister, REG, STATUS, usedEntries, writeRegister } from '../support/index.js';

const STATS = 2;

function stats(tag: number, value: number): Uint8Array {
  const bytes = new Uint8Array(10);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, tag, true);
  view.setBigUint64(2, BigInt(value), true);
  return bytes;
}

test('a statistics kick before DRIVER_OK is served once the device is live; one before FEATURES_OK is not', () => {
  const memory = new GuestMemory(16 * 1024 * 1024);
  const metrics = BalloonDeviceMetrics.create();
  const balloon = new Balloon({ amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 1 }, { metrics });
  const mmio = new MmioTransport(balloon, memory);
  const queues = [0, 1, 2].map((i) => layoutQueue(memory, 0x10_000 + i * 0x4000, 16));
  const statsQueue = queues[STATS];
  assert.ok(statsQueue !== undefined);
  const stage = driveHandshake(mmio, { queues, driverOk: false });
  assert.equal(stage.featuresAccepted, true);
  const buffer = 0x80_000;
  memory.write(buffer, stats(4, 12345)); // free_memory
  putChain(memory, statsQueue, [{ addr: buffer, len: 10 }]);
  notifyQueue(mmio, STATS);
  assert.equal(metrics.stats_updates_count.count(), 0, 'nothing is served before DRIVER_OK');
  writeRegister(mmio, REG.status, stage.status | STATUS.driverOk);
  assert.equal(readRegister(mmio, REG.status) & STATUS.driverOk, STATUS.driverOk);
  assert.equal(metrics.stats_updates_count.count(), 1, 'the early kick was served on activation');
  assert.equal(balloon.latestStats().free_memory, 12345);
  assert.deepEqual(usedEntries(memory, statsQueue), [], 'the device holds the buffer until its timer');
  balloon.reset();

  // A kick before FEATURES_OK is no kick: the queues are not set up yet.
  writeRegister(mmio, REG.status, 0);
  writeRegister(mmio, REG.status, STATUS.acknowledge);
  notifyQueue(mmio, STATS);
  const again = driveHandshake(mmio, { queues });
  assert.equal(again.featuresAccepted, true);
  assert.equal(metrics.stats_updates_count.count(), 1);
  balloon.reset();
});
