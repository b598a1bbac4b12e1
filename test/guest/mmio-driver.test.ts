/** The generic virtio-mmio driver against a fake register block (test/guest/support). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProbeError } from '../../src/guest/errors.js';
import { MmioDriver } from '../../src/guest/mmio-driver.js';
import { MMIO_REGISTER } from '../../src/devices/virtio/transport/registers.js';
import { GuestMemory } from '../../src/vstate/memory.js';
import { FakeMmioDevice, type FakeDeviceOptions } from './support/fake-mmio-device.js';

const VERSION_1 = 1n << 32n;

function device(options: Partial<FakeDeviceOptions> = {}): FakeMmioDevice {
  return new FakeMmioDevice({ memory: new GuestMemory(1024 * 1024), features: VERSION_1 | 0b100110n, queueMaxSizes: [256, 256], ...options });
}

describe('MmioDriver', () => {
  test('identify() checks magic, version and that a device is there', () => {
    assert.deepEqual(new MmioDriver(device()).identify(), { version: 2, deviceId: 5, vendorId: 0x1af4 });
    assert.throws(() => new MmioDriver(device({ magic: 0x1234 })).identify(), (e) => e instanceof ProbeError && /wrong magic value 0x1234/.test(e.message));
    assert.throws(() => new MmioDriver(device({ deviceId: 0 })).identify(), /DeviceID 0/);
  });

  test('the status handshake sets bits cumulatively and negotiates both feature words', () => {
    const fake = device();
    const driver = new MmioDriver(fake);
    driver.reset();
    driver.addStatus(1);
    driver.addStatus(2);
    // The driver supports bits 1, 2 and 40; the device offers 1, 2, 5 and 32.
    const accepted = driver.negotiate((1n << 1n) | (1n << 2n) | (1n << 40n));
    assert.equal(accepted, VERSION_1 | 0b110n);
    assert.equal(fake.driverFeatures, accepted);
    assert.equal(fake.status, 1 | 2 | 8);
    assert.deepEqual(fake.writes(), [
      [MMIO_REGISTER.status, 0],
      [MMIO_REGISTER.status, 1],
      [MMIO_REGISTER.status, 3],
      [MMIO_REGISTER.deviceFeaturesSel, 0],
      [MMIO_REGISTER.deviceFeaturesSel, 1],
      [MMIO_REGISTER.driverFeaturesSel, 0],
      [MMIO_REGISTER.driverFeatures, 0b110],
      [MMIO_REGISTER.driverFeaturesSel, 1],
      [MMIO_REGISTER.driverFeatures, 1],
      [MMIO_REGISTER.status, 11],
    ]);
    // FEATURES_OK is read back after it is written.
    const last = fake.log.at(-1);
    assert.deepEqual(last, { op: 'read', offset: MMIO_REGISTER.status, value: 11 });
  });

  test('a device that does not keep FEATURES_OK, or offers no VERSION_1, fails the probe', () => {
    const refusing = new MmioDriver(device({ refuseFeatures: true }));
    assert.throws(() => refusing.negotiate(0b110n), (e) => e instanceof ProbeError && /FEATURES_OK did not stick/.test(e.message));
    const legacy = new MmioDriver(device({ features: 0b110n }));
    assert.throws(() => legacy.negotiate(0b110n), /does not offer VIRTIO_F_VERSION_1/);
  });

  test('setUpQueue() writes size, the three addresses in 32-bit halves, then QueueReady', () => {
    const fake = device({ queueMaxSizes: [256, 1024] });
    const driver = new MmioDriver(fake);
    fake.log.length = 0;
    const queue = driver.setUpQueue(fake.memory, 1, 0x1_0000n, 16_384, 512);
    assert.equal(queue.size, 512, 'QueueNumMax 1024 capped at 512');
    const device1 = fake.queues[1];
    assert.ok(device1);
    assert.equal(device1.size, 512);
    assert.equal(device1.descTable, 0x1_0000n);
    assert.equal(device1.availRing, queue.layout.availRing);
    assert.equal(device1.usedRing, queue.layout.usedRing);
    assert.ok(device1.ready);
    assert.ok(device1.isValid(fake.memory));
    assert.deepEqual(fake.writes().map(([offset]) => offset), [
      MMIO_REGISTER.queueSel, MMIO_REGISTER.queueNum, MMIO_REGISTER.queueDescLow, MMIO_REGISTER.queueDescHigh, MMIO_REGISTER.queueDriverLow, MMIO_REGISTER.queueDriverHigh,
      MMIO_REGISTER.queueDeviceLow, MMIO_REGISTER.queueDeviceHigh, MMIO_REGISTER.queueReady,
    ]);
    assert.throws(() => driver.setUpQueue(fake.memory, 1, 0x2_0000n, 16_384, 256), /already live/);
    assert.throws(() => driver.setUpQueue(fake.memory, 2, 0x2_0000n, 16_384, 256), /QueueNumMax 0/);
    assert.throws(() => driver.setUpQueue(fake.memory, 0, 0x2_0000n, 100, 256), /needs \d+ bytes, 100 were reserved/);
  });

  test('QueueNumMax that is not a power of 2 is rounded down', () => {
    const fake = device({ queueMaxSizes: [256] });
    const queue = fake.queues[0];
    assert.ok(queue);
    Object.defineProperty(queue, 'maxSize', { value: 200 });
    assert.equal(new MmioDriver(fake).setUpQueue(fake.memory, 0, 0n, 8192, 1024).size, 128);
  });

  test('takeInterrupt() acknowledges exactly the bits it read; notify() names the queue', () => {
    const fake = device();
    const driver = new MmioDriver(fake);
    assert.equal(driver.takeInterrupt(), 0);
    assert.deepEqual(fake.writes(), [], 'nothing to acknowledge');
    fake.raise(3);
    assert.equal(driver.takeInterrupt(), 3);
    assert.equal(fake.interruptStatus, 0);
    assert.deepEqual(fake.writes(), [[MMIO_REGISTER.interruptAck, 3]]);
    driver.notify(1);
    assert.deepEqual(fake.writes().at(-1), [MMIO_REGISTER.queueNotify, 1]);
  });

  test('configuration reads retry while ConfigGeneration moves; writes go to 0x100 + offset', () => {
    const fake = device();
    const driver = new MmioDriver(fake);
    fake.configView.setUint32(0, 4096, true);
    fake.tearConfigReads = 2;
    fake.log.length = 0;
    assert.equal(driver.readConfigU32(0), 4096);
    const generationReads = fake.log.filter((a) => a.offset === MMIO_REGISTER.configGeneration).length;
    assert.ok(generationReads >= 4, `read ConfigGeneration ${generationReads} times`);
    driver.writeConfigU32(4, 77);
    assert.equal(fake.configView.getUint32(4, true), 77);
    // A device whose generation never settles does not hang the driver.
    fake.tearConfigReads = 1_000;
    assert.equal(driver.readConfigU32(0), 4096);
  });
});
