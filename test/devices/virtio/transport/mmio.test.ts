/**
 * The virtio-mmio transport against a fake device that records what it is asked: every register
 * of the version 2 block, the status handshake and feature negotiation, queue set-up and
 * activation, notifications, interrupts, configuration generation, DEVICE_NEEDS_RESET and reset,
 * wrong-width accesses — and, with fast-check, that no sequence of guest accesses makes `read` or
 * `write` throw, and that a reset always brings the device back to a well-behaved driver.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { GuestMemory, PAGE_SIZE } from '../../../../src/vstate/memory.js';
import {
  DeviceActivationError,
  VIRTIO_F_VERSION_1,
  type ActivationContext,
  type VirtioDevice,
} from '../../../../src/devices/virtio/device.js';
import { Queue } from '../../../../src/devices/virtio/queue.js';
import { MmioTransport } from '../../../../src/devices/virtio/transport/mmio.js';
import { DEVICE_STATUS, INTERRUPT_STATUS, MMIO_REGISTER } from '../../../../src/devices/virtio/transport/registers.js';
import {
  INTERRUPT,
  REG,
  STATUS,
  acknowledgeInterrupts,
  driveHandshake,
  layoutQueue,
  notifyQueue,
  propertyParameters,
  readConfig,
  readDeviceFeatures,
  readRegister,
  setUpQueue,
  writeAddress,
  writeConfig,
  writeDriverFeatures,
  writeRegister,
  type QueueLayout,
} from '../support/index.js';

const VERSION_1 = 1n << BigInt(VIRTIO_F_VERSION_1);
const OFFERED = VERSION_1 | (1n << 0n) | (1n << 2n) | (1n << 35n);
const LIVE = STATUS.acknowledge | STATUS.driver | STATUS.featuresOk | STATUS.driverOk;

type Call =
  | { method: 'ackFeatures'; features: bigint }
  | { method: 'readConfig' | 'writeConfig'; offset: number; bytes: number[] }
  | { method: 'activate'; context: ActivationContext }
  | { method: 'notifyQueue'; index: number }
  | { method: 'reset' };

type Method = 'ackFeatures' | 'readConfig' | 'writeConfig' | 'activate' | 'notifyQueue' | 'reset';

/** A device that records each call, keeps a 12-byte configuration, and can be told to misbehave. */
class FakeDevice implements VirtioDevice {
  readonly deviceType = 5;
  queueMaxSizes: number[] = [16, 8];
  availableFeatures = OFFERED;
  activated = false;
  readonly calls: Call[] = [];
  readonly config = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
  context: ActivationContext | undefined;
  /** Methods that throw a plain Error (a device bug) when called. */
  readonly throwing = new Set<Method>();
  failActivation = false;
  /** What notifyQueue does besides recording (raise interrupts, ask for a reset…). */
  onNotify: ((index: number, context: ActivationContext) => void) | undefined;
  #inside = false;

  #enter(method: Method): void {
    // The transport never re-enters the device (interrupts are delivered after the access).
    assert.equal(this.#inside, false, `${method} re-entered the device`);
    if (this.throwing.has(method)) throw new Error(`${method} failed`);
  }

  ackFeatures(features: bigint): void {
    this.calls.push({ method: 'ackFeatures', features });
    this.#enter('ackFeatures');
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.calls.push({ method: 'readConfig', offset, bytes: [...data] });
    // Fills first: a misbehaving device may fail half-way.
    data.forEach((_, i) => (data[i] = this.config[offset + i] ?? 0));
    this.#enter('readConfig');
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.calls.push({ method: 'writeConfig', offset, bytes: [...data] });
    this.#enter('writeConfig');
    if (offset >= 0 && offset + data.length <= this.config.length) this.config.set(data, offset);
  }

  activate(context: ActivationContext): void {
    this.calls.push({ method: 'activate', context });
    this.#enter('activate');
    assert.equal(this.activated, false, 'activated twice');
    if (this.failActivation) throw new DeviceActivationError('cannot start');
    this.context = context;
    this.activated = true;
  }

  notifyQueue(index: number): void {
    this.calls.push({ method: 'notifyQueue', index });
    this.#enter('notifyQueue');
    assert.ok(this.activated && this.context !== undefined, 'notified while inactive');
    this.#inside = true;
    try {
      this.onNotify?.(index, this.context);
    } finally {
      this.#inside = false;
    }
  }

  reset(): void {
    this.calls.push({ method: 'reset' });
    this.#enter('reset');
    this.activated = false;
    this.context = undefined;
  }

  methods(): string[] {
    return this.calls.map((call) => call.method);
  }
}

interface Rig {
  device: FakeDevice;
  memory: GuestMemory;
  transport: MmioTransport;
  /** One event per onInterrupt call, with InterruptStatus at that moment. */
  interrupts: number[];
  layouts: QueueLayout[];
}

function rig(configure: (device: FakeDevice) => void = () => undefined): Rig {
  const device = new FakeDevice();
  configure(device);
  const memory = new GuestMemory(16 * PAGE_SIZE);
  const interrupts: number[] = [];
  const transport: MmioTransport = new MmioTransport(device, memory, { onInterrupt: () => interrupts.push(transport.interruptStatus) });
  const layouts = [layoutQueue(memory, 0x1000, 16), layoutQueue(memory, 0x2000, 8)];
  return { device, memory, transport, interrupts, layouts };
}

/** A rig with the device live: the whole handshake done with both queues. */
function liveRig(configure?: (device: FakeDevice) => void): Rig {
  const r = rig(configure);
  const result = driveHandshake(r.transport, { features: OFFERED, queues: r.layouts });
  assert.equal(result.status, LIVE);
  return r;
}

function readBytes(transport: MmioTransport, offset: number, length: number): number[] {
  const data = new Uint8Array(length).fill(0xee);
  transport.read(offset, data);
  return [...data];
}

describe('MmioTransport', () => {
  test('the register offsets and bits are the specification\'s', () => {
    assert.deepEqual(MMIO_REGISTER, REG);
    assert.deepEqual(DEVICE_STATUS, STATUS);
    assert.deepEqual([INTERRUPT_STATUS.usedBuffer, INTERRUPT_STATUS.configChange], [INTERRUPT.vring, INTERRUPT.config]);
  });

  describe('registers', () => {
    test('identity: magic "virt", version 2, the device type, vendor 0', () => {
      const { transport } = rig();
      assert.equal(readRegister(transport, REG.magicValue), 0x7472_6976);
      assert.deepEqual(readBytes(transport, 0, 4), [0x76, 0x69, 0x72, 0x74]);
      assert.equal(readRegister(transport, REG.version), 2);
      assert.equal(readRegister(transport, REG.deviceId), 5);
      assert.equal(readRegister(transport, REG.vendorId), 0);
    });

    test('DeviceFeatures shows the word DeviceFeaturesSel selects; past the second, zeros', () => {
      const { transport } = rig();
      assert.equal(readRegister(transport, REG.deviceFeatures), 0b101, 'select 0 by default');
      writeRegister(transport, REG.deviceFeaturesSel, 1);
      assert.equal(readRegister(transport, REG.deviceFeatures), 0b1001);
      for (const select of [2, 3, 0xffff_ffff]) {
        writeRegister(transport, REG.deviceFeaturesSel, select);
        assert.equal(readRegister(transport, REG.deviceFeatures), 0);
      }
      assert.equal(readDeviceFeatures(transport), OFFERED);
    });

    test('read-only registers ignore writes', () => {
      const { transport, device } = rig();
      for (const offset of [REG.magicValue, REG.version, REG.deviceId, REG.vendorId, REG.deviceFeatures, REG.queueNumMax, REG.interruptStatus, REG.configGeneration]) {
        writeRegister(transport, offset, 0x1234_5678);
      }
      assert.equal(readRegister(transport, REG.magicValue), 0x7472_6976);
      assert.equal(readRegister(transport, REG.deviceId), 5);
      assert.equal(readRegister(transport, REG.queueNumMax), 16);
      assert.equal(readRegister(transport, REG.interruptStatus), 0);
      assert.equal(readRegister(transport, REG.configGeneration), 0);
      assert.deepEqual(device.calls, []);
    });

    test('write-only and unknown registers read as zeros', () => {
      const { transport } = liveRig();
      const writeOnly = [
        REG.deviceFeaturesSel, REG.driverFeatures, REG.driverFeaturesSel, REG.queueSel, REG.queueNum, REG.queueNotify, REG.interruptAck,
        REG.queueDescLow, REG.queueDescHigh, REG.queueDriverLow, REG.queueDriverHigh, REG.queueDeviceLow, REG.queueDeviceHigh,
      ];
      const unknown = [0x018, 0x02c, 0x03c, 0x040, 0x048, 0x0b0, 0x0b8, 0x0c0, 0x0f8, 0x0fe];
      for (const offset of [...writeOnly, ...unknown]) assert.deepEqual(readBytes(transport, offset, 4), [0, 0, 0, 0], `0x${offset.toString(16)}`);
    });

    test('an access of another width than 32 bits to a register is ignored, and a read returns zeros', () => {
      const { transport, device } = rig();
      for (const width of [0, 1, 2, 3, 5, 8]) {
        assert.deepEqual(readBytes(transport, REG.magicValue, width), new Array<number>(width).fill(0), `read of ${width}`);
        transport.write(REG.status, new Uint8Array(width).fill(1));
      }
      assert.equal(transport.status, 0);
      // Misaligned offsets are no register.
      assert.deepEqual(readBytes(transport, REG.magicValue + 1, 4), [0, 0, 0, 0]);
      transport.write(REG.status + 1, Uint8Array.of(1, 0, 0, 0));
      assert.equal(transport.status, 0);
      assert.deepEqual(device.calls, []);
    });

    test('offsets that are not byte offsets, or beyond the 4 KiB window, are ignored', () => {
      const { transport, device } = liveRig();
      device.calls.length = 0;
      for (const offset of [-4, -0x100, NaN, Infinity, 0.5, 256.5, 2 ** 53, 0x1000, 0x2000, 0xffe]) {
        assert.deepEqual(readBytes(transport, offset, 4), [0, 0, 0, 0], String(offset));
        transport.write(offset, Uint8Array.of(0, 0, 0, 0));
      }
      assert.deepEqual(device.calls, []);
      assert.equal(transport.status, LIVE);
    });

    test('a register write through a subarray reads the right bytes', () => {
      const { transport } = rig();
      const backing = Uint8Array.of(9, 9, 9, 1, 0, 0, 0, 9);
      transport.write(REG.status, backing.subarray(3, 7));
      assert.equal(transport.status, STATUS.acknowledge);
      const out = new Uint8Array(8);
      transport.read(REG.version, out.subarray(2, 6));
      assert.deepEqual([...out], [0, 0, 2, 0, 0, 0, 0, 0]);
    });
  });

  describe('configuration space', () => {
    test('is forwarded at any width, relative to 0x100', () => {
      const { transport, device } = liveRig();
      device.calls.length = 0;
      assert.deepEqual([...readConfig(transport, 0, 4)], [1, 2, 3, 4]);
      assert.deepEqual([...readConfig(transport, 5, 1)], [6]);
      assert.deepEqual([...readConfig(transport, 10, 8)], [11, 12, 0, 0, 0, 0, 0, 0]);
      writeConfig(transport, 4, Uint8Array.of(0xaa, 0xbb));
      assert.deepEqual([...device.config.subarray(4, 6)], [0xaa, 0xbb]);
      assert.deepEqual(
        device.calls.map((call) => ('offset' in call ? [call.method, call.offset] : [call.method])),
        [['readConfig', 0], ['readConfig', 5], ['readConfig', 10], ['writeConfig', 4]],
      );
      // The last bytes of the window are configuration too; past it, nothing.
      assert.deepEqual(readBytes(transport, 0xffc, 4), [0, 0, 0, 0]);
      assert.equal(device.calls.at(-1)?.method, 'readConfig');
      device.calls.length = 0;
      assert.deepEqual(readBytes(transport, 0xffd, 4), [0, 0, 0, 0]);
      assert.deepEqual(device.calls, []);
    });

    test('is readable at any time, writable only once the driver has claimed the device', () => {
      const { transport, device } = rig();
      assert.deepEqual([...readConfig(transport, 0, 2)], [1, 2]);
      writeConfig(transport, 0, Uint8Array.of(0xff));
      writeRegister(transport, REG.status, STATUS.acknowledge);
      writeConfig(transport, 0, Uint8Array.of(0xff));
      assert.equal(device.config[0], 1, 'ignored before DRIVER');
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver);
      writeConfig(transport, 0, Uint8Array.of(0xff));
      assert.equal(device.config[0], 0xff);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver | STATUS.failed);
      writeConfig(transport, 0, Uint8Array.of(0x01));
      assert.equal(device.config[0], 0xff, 'ignored after FAILED');
    });
  });

  describe('status handshake', () => {
    test('a well-behaved driver gets the device live, its features acknowledged once', () => {
      const { transport, device, memory } = rig();
      const result = driveHandshake(transport, { features: VERSION_1 | 1n });
      assert.deepEqual(result, { deviceFeatures: OFFERED, featuresAccepted: true, status: LIVE });
      assert.equal(transport.status, LIVE);
      assert.deepEqual(device.methods(), ['ackFeatures', 'activate']);
      assert.deepEqual(device.calls[0], { method: 'ackFeatures', features: VERSION_1 | 1n });
      assert.equal(device.context?.memory, memory);
    });

    test('each write adds exactly the next bit; skipping or clearing is ignored', () => {
      const { transport } = rig();
      const attempts: [number, number][] = [
        [STATUS.driver, 0],
        [STATUS.acknowledge | STATUS.driver, 0],
        [STATUS.driverOk, 0],
        [STATUS.acknowledge, STATUS.acknowledge],
        [STATUS.acknowledge, STATUS.acknowledge],
        [STATUS.acknowledge | STATUS.featuresOk, STATUS.acknowledge],
        [STATUS.driver, STATUS.acknowledge],
        [STATUS.acknowledge | STATUS.driver, STATUS.acknowledge | STATUS.driver],
        [STATUS.acknowledge | STATUS.driver | STATUS.driverOk, STATUS.acknowledge | STATUS.driver],
        [STATUS.acknowledge, STATUS.acknowledge | STATUS.driver],
        [STATUS.acknowledge | STATUS.driver | STATUS.deviceNeedsReset, STATUS.acknowledge | STATUS.driver],
        [0xff & ~STATUS.failed, STATUS.acknowledge | STATUS.driver],
      ];
      for (const [write, expected] of attempts) {
        writeRegister(transport, REG.status, write);
        assert.equal(readRegister(transport, REG.status), expected, `after writing 0x${write.toString(16)}`);
      }
    });

    test('FAILED may be added at any time; then only a reset is heard', () => {
      const { transport, device } = rig();
      writeRegister(transport, REG.status, STATUS.acknowledge);
      writeRegister(transport, REG.status, STATUS.failed);
      assert.equal(transport.status, STATUS.acknowledge | STATUS.failed);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver);
      assert.equal(transport.status, STATUS.acknowledge | STATUS.failed);
      writeRegister(transport, REG.status, 0);
      assert.equal(transport.status, 0);
      assert.deepEqual(device.methods(), ['reset']);
      assert.equal(driveHandshake(transport).status, LIVE);
    });

    test('FAILED on a live device stops notifications', () => {
      const { transport, device } = liveRig();
      writeRegister(transport, REG.status, LIVE | STATUS.failed);
      assert.equal(transport.status, LIVE | STATUS.failed);
      notifyQueue(transport, 0);
      assert.ok(!device.methods().includes('notifyQueue'));
    });
  });

  describe('feature negotiation', () => {
    const refusals: [string, (transport: MmioTransport) => void, boolean?][] = [
      ['a bit that is not offered', (t) => { writeDriverFeatures(t, VERSION_1 | (1n << 1n)); }],
      ['a high bit that is not offered', (t) => { writeDriverFeatures(t, VERSION_1 | (1n << 63n)); }],
      ['no VERSION_1', (t) => { writeDriverFeatures(t, 1n); }],
      ['nothing at all', () => undefined],
      [
        'a word past the 64 bits',
        (t) => {
          writeDriverFeatures(t, VERSION_1);
          writeRegister(t, REG.driverFeaturesSel, 2);
          writeRegister(t, REG.driverFeatures, 1);
        },
        true,
      ],
    ];
    for (const [name, accept, untilReset = false] of refusals) {
      test(`FEATURES_OK is refused for ${name}`, () => {
        const { transport, device } = rig();
        writeRegister(transport, REG.status, STATUS.acknowledge);
        writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver);
        accept(transport);
        writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
        assert.equal(readRegister(transport, REG.status), STATUS.acknowledge | STATUS.driver, 'the bit is not kept');
        assert.deepEqual(device.calls, []);
        if (untilReset) {
          // Nothing past the 64 bits is ever offered: refused until the driver resets the device.
          writeRegister(transport, REG.driverFeatures, 0);
          writeDriverFeatures(transport, VERSION_1);
          writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
          assert.equal(transport.status & STATUS.featuresOk, 0);
          assert.equal(driveHandshake(transport, { features: VERSION_1 }).status, LIVE);
          return;
        }
        // The driver may still fix its choice (or give up and reset).
        writeDriverFeatures(transport, VERSION_1);
        writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
        assert.equal(transport.status & STATUS.featuresOk, STATUS.featuresOk);
        assert.deepEqual(device.calls, [{ method: 'ackFeatures', features: VERSION_1 }]);
      });
    }

    test('driveHandshake sees the refusal and sets FAILED', () => {
      const { transport, device } = rig();
      const result = driveHandshake(transport, { features: VERSION_1 | (1n << 1n) });
      assert.equal(result.featuresAccepted, false);
      assert.equal(result.status, STATUS.acknowledge | STATUS.driver | STATUS.failed);
      assert.deepEqual(device.calls, []);
    });

    test('a zero word past the 64 bits is harmless', () => {
      const { transport } = rig();
      writeRegister(transport, REG.status, STATUS.acknowledge);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver);
      writeRegister(transport, REG.driverFeaturesSel, 7);
      writeRegister(transport, REG.driverFeatures, 0);
      writeDriverFeatures(transport, VERSION_1);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
      assert.equal(transport.status & STATUS.featuresOk, STATUS.featuresOk);
    });

    test('features written before DRIVER or after FEATURES_OK are ignored', () => {
      const { transport, device } = rig();
      writeDriverFeatures(transport, VERSION_1 | 1n);
      writeRegister(transport, REG.status, STATUS.acknowledge);
      writeDriverFeatures(transport, VERSION_1 | 1n);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
      assert.equal(transport.status & STATUS.featuresOk, 0, 'nothing was accepted while it could not be');
      writeDriverFeatures(transport, VERSION_1 | (1n << 2n));
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
      writeDriverFeatures(transport, VERSION_1 | 1n);
      writeRegister(transport, REG.status, LIVE);
      assert.deepEqual(device.calls[0], { method: 'ackFeatures', features: VERSION_1 | (1n << 2n) });
      assert.equal(device.calls.filter((call) => call.method === 'ackFeatures').length, 1);
    });

    test('a device that does not offer VERSION_1 cannot complete the handshake', () => {
      const { transport, device } = rig((d) => (d.availableFeatures = 1n));
      assert.equal(readDeviceFeatures(transport), 1n, 'the transport adds no bit of its own');
      assert.equal(driveHandshake(transport, { features: 1n }).featuresAccepted, false);
      assert.equal(driveHandshake(transport, { features: 1n | VERSION_1 }).featuresAccepted, false);
      assert.equal(device.activated, false);
    });
  });

  describe('queues', () => {
    test('QueueNumMax per queue, 0 for a queue that does not exist', () => {
      const { transport } = rig();
      for (const [select, max] of [[0, 16], [1, 8], [2, 0], [0xffff_ffff, 0]] as const) {
        writeRegister(transport, REG.queueSel, select);
        assert.equal(readRegister(transport, REG.queueNumMax), max);
        assert.equal(readRegister(transport, REG.queueReady), 0);
      }
    });

    test('activation hands the device one Queue per queue, as the driver configured it', () => {
      const { transport, device, layouts, memory } = liveRig();
      const queues = device.context?.queues;
      assert.ok(queues !== undefined);
      assert.equal(queues.length, 2);
      assert.deepEqual(transport.queues, queues);
      queues.forEach((queue, i) => {
        const layout = layouts[i];
        assert.ok(queue instanceof Queue && layout !== undefined);
        assert.deepEqual(
          [queue.maxSize, queue.size, queue.ready, queue.descTable, queue.availRing, queue.usedRing, queue.nextAvail, queue.nextUsed],
          [[16, 8][i], layout.size, true, layout.descTable, layout.availRing, layout.usedRing, 0, 0],
        );
        assert.equal(queue.isValid(memory), true);
      });
      writeRegister(transport, REG.queueSel, 1);
      assert.equal(readRegister(transport, REG.queueReady), 1);
    });

    test('a queue the driver leaves alone is handed over not ready', () => {
      const { transport, device, layouts } = rig();
      assert.equal(driveHandshake(transport, { queues: [layouts[0]] }).status, LIVE);
      assert.deepEqual(device.context?.queues.map((queue) => queue.ready), [true, false]);
    });

    test('64-bit addresses from their Low and High halves, a smaller size, QueueReady 0', () => {
      const { transport } = rig();
      driveHandshake(transport, { driverOk: false });
      writeRegister(transport, REG.queueSel, 1);
      writeAddress(transport, REG.queueDescLow, 0x1234_5678_9abc_def0n);
      writeAddress(transport, REG.queueDriverLow, 0xffff_ffff_0000_0002n);
      writeRegister(transport, REG.queueDeviceHigh, 7);
      writeRegister(transport, REG.queueDeviceLow, 0x40);
      writeRegister(transport, REG.queueNum, 4);
      writeRegister(transport, REG.queueReady, 1);
      writeRegister(transport, REG.queueReady, 0);
      const queue = transport.queues[1];
      assert.deepEqual(
        [queue?.descTable, queue?.availRing, queue?.usedRing, queue?.size, queue?.ready],
        [0x1234_5678_9abc_def0n, 0xffff_ffff_0000_0002n, (7n << 32n) | 0x40n, 4, false],
      );
    });

    test('queue registers are written only between FEATURES_OK and DRIVER_OK, and for a queue that exists', () => {
      const { transport, layouts } = rig();
      const before = (): unknown[] => transport.queues.map((q) => [q.size, q.ready, q.descTable, q.availRing, q.usedRing]);
      const untouched = before();
      const layout = layouts[0];
      assert.ok(layout !== undefined);
      setUpQueue(transport, 0, layout);
      writeRegister(transport, REG.status, STATUS.acknowledge);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver);
      setUpQueue(transport, 0, layout);
      assert.deepEqual(before(), untouched, 'before FEATURES_OK');
      writeDriverFeatures(transport, VERSION_1);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
      setUpQueue(transport, 5, layout);
      assert.deepEqual(before(), untouched, 'a queue that does not exist');
      writeRegister(transport, REG.status, LIVE);
      setUpQueue(transport, 0, layout);
      assert.deepEqual(before().slice(0, 1), untouched.slice(0, 1), 'after DRIVER_OK');
    });

    const invalid: [string, (layout: QueueLayout) => [number, bigint, bigint, bigint]][] = [
      ['a size that is not a power of 2', (l) => [3, l.descTable, l.availRing, l.usedRing]],
      ['a size above QueueNumMax', (l) => [32, l.descTable, l.availRing, l.usedRing]],
      ['a size of 0', (l) => [0, l.descTable, l.availRing, l.usedRing]],
      ['a misaligned descriptor table', (l) => [16, l.descTable + 8n, l.availRing, l.usedRing]],
      ['a misaligned used ring', (l) => [16, l.descTable, l.availRing, l.usedRing + 2n]],
      ['a ring past the end of memory', (l) => [16, l.descTable, l.availRing, BigInt(16 * PAGE_SIZE - 8)]],
      ['a table at 2^64 - 16', (l) => [16, (1n << 64n) - 16n, l.availRing, l.usedRing]],
    ];
    for (const [name, fields] of invalid) {
      test(`a ready queue with ${name} fails activation with DEVICE_NEEDS_RESET`, () => {
        const { transport, device, interrupts, layouts } = rig();
        const layout = layouts[0];
        assert.ok(layout !== undefined);
        driveHandshake(transport, { queues: [undefined, layouts[1]], driverOk: false });
        const [size, desc, avail, used] = fields(layout);
        writeRegister(transport, REG.queueSel, 0);
        writeRegister(transport, REG.queueNum, size);
        writeAddress(transport, REG.queueDescLow, desc);
        writeAddress(transport, REG.queueDriverLow, avail);
        writeAddress(transport, REG.queueDeviceLow, used);
        writeRegister(transport, REG.queueReady, 1);
        writeRegister(transport, REG.status, LIVE);
        assert.equal(transport.status, LIVE | STATUS.deviceNeedsReset);
        assert.deepEqual(device.methods(), ['ackFeatures'], 'activate is not called');
        assert.deepEqual(interrupts, [INTERRUPT.config]);
        assert.equal(transport.configGeneration, 0);
        notifyQueue(transport, 1);
        assert.ok(!device.methods().includes('notifyQueue'));
      });
    }
  });

  describe('activation failure', () => {
    test('activate throwing: DEVICE_NEEDS_RESET, a configuration interrupt, no notifications', () => {
      const { transport, device, interrupts, layouts } = rig((d) => (d.failActivation = true));
      const result = driveHandshake(transport, { queues: layouts });
      assert.equal(result.status, LIVE | STATUS.deviceNeedsReset);
      assert.deepEqual(interrupts, [INTERRUPT.config]);
      assert.equal(transport.interruptStatus, INTERRUPT.config);
      assert.equal(transport.configGeneration, 0, 'a reset request is not a configuration change');
      notifyQueue(transport, 0);
      assert.deepEqual(device.methods(), ['ackFeatures', 'activate']);
      // The driver resets and tries again; this time the device starts.
      device.failActivation = false;
      assert.equal(driveHandshake(transport, { queues: layouts }).status, LIVE);
      assert.deepEqual(device.methods(), ['ackFeatures', 'activate', 'reset', 'ackFeatures', 'activate']);
      assert.equal(device.activated, true);
    });
  });

  describe('notifications', () => {
    test('QueueNotify has processed the queue when write() returns', () => {
      const { transport, device } = liveRig();
      const order: string[] = [];
      device.onNotify = (index) => order.push(`device ${index}`);
      notifyQueue(transport, 1);
      order.push('write returned');
      notifyQueue(transport, 0);
      assert.deepEqual(order, ['device 1', 'write returned', 'device 0']);
    });

    test('a queue that does not exist, is not ready, or a device not live is not notified', () => {
      const { transport, device, layouts } = rig();
      notifyQueue(transport, 0);
      driveHandshake(transport, { queues: [layouts[0]], driverOk: false });
      writeRegister(transport, REG.status, LIVE);
      for (const index of [1, 2, 0xffff_ffff, 0x1_0000]) notifyQueue(transport, index);
      assert.ok(!device.methods().includes('notifyQueue'), 'a kick before FEATURES_OK is dropped');
      notifyQueue(transport, 0);
      assert.deepEqual(device.calls.at(-1), { method: 'notifyQueue', index: 0 });
    });

    test('a kick between FEATURES_OK and DRIVER_OK (as Linux\'s balloon driver does) is served once, on activation', () => {
      const { transport, device, layouts } = rig();
      driveHandshake(transport, { queues: [layouts[0]], driverOk: false });
      notifyQueue(transport, 0);
      notifyQueue(transport, 0);
      notifyQueue(transport, 7);
      assert.ok(!device.methods().includes('notifyQueue'), 'nothing before the device is live');
      writeRegister(transport, REG.status, LIVE);
      assert.deepEqual(device.calls.filter((call) => call.method === 'notifyQueue'), [{ method: 'notifyQueue', index: 0 }]);
    });
  });

  describe('interrupts', () => {
    test('a used-buffer interrupt raised while processing is delivered once the write returns', () => {
      const { transport, device, interrupts } = liveRig();
      const order: string[] = [];
      device.onNotify = (_index, context) => {
        context.interrupt.raise('vring');
        order.push(`raised, ${interrupts.length} delivered`);
        context.interrupt.raise('vring');
      };
      notifyQueue(transport, 0);
      assert.deepEqual(order, ['raised, 0 delivered']);
      assert.deepEqual(interrupts, [INTERRUPT.vring], 'once: the second raise gained no bit');
      assert.equal(readRegister(transport, REG.interruptStatus), INTERRUPT.vring);
      // Not acknowledged yet: a new used buffer does not interrupt again.
      notifyQueue(transport, 0);
      assert.equal(interrupts.length, 1);
      assert.equal(acknowledgeInterrupts(transport), INTERRUPT.vring);
      assert.equal(transport.interruptStatus, 0);
      notifyQueue(transport, 0);
      assert.equal(interrupts.length, 2);
    });

    test('a raise outside any access is delivered at once; ACK clears only the bits written', () => {
      const { transport, device, interrupts } = liveRig();
      const line = device.context?.interrupt;
      assert.ok(line !== undefined);
      line.raise('config');
      assert.deepEqual(interrupts, [INTERRUPT.config]);
      line.raise('vring');
      assert.deepEqual(interrupts, [INTERRUPT.config, INTERRUPT.config | INTERRUPT.vring]);
      writeRegister(transport, REG.interruptAck, INTERRUPT.vring | 0xffff_fff0);
      assert.equal(transport.interruptStatus, INTERRUPT.config);
      writeRegister(transport, REG.interruptAck, INTERRUPT.config);
      assert.equal(readRegister(transport, REG.interruptStatus), 0);
    });

    test('the driver\'s interrupt handler may notify again: the device is not re-entered', () => {
      const device = new FakeDevice();
      const memory = new GuestMemory(16 * PAGE_SIZE);
      let handled = 0;
      const transport: MmioTransport = new MmioTransport(device, memory, {
        onInterrupt: () => {
          handled++;
          acknowledgeInterrupts(transport);
          if (handled < 3) notifyQueue(transport, 0);
        },
      });
      const layout = layoutQueue(memory, 0x1000, 16);
      driveHandshake(transport, { queues: [layout] });
      device.onNotify = (_index, context) => {
        context.interrupt.raise('vring');
      };
      notifyQueue(transport, 0);
      assert.equal(handled, 3);
      assert.equal(device.calls.filter((call) => call.method === 'notifyQueue').length, 3);
    });

    test('an error thrown by onInterrupt does not leave write(); it is rethrown from a microtask', () => {
      const transportUrl = new URL('../../../../src/devices/virtio/transport/mmio.js', import.meta.url).href;
      const memoryUrl = new URL('../../../../src/vstate/memory.js', import.meta.url).href;
      const script = `
        const { MmioTransport } = await import(${JSON.stringify(transportUrl)});
        const { GuestMemory } = await import(${JSON.stringify(memoryUrl)});
        const device = { deviceType: 5, queueMaxSizes: [], availableFeatures: 1n << 32n, activated: false,
          ackFeatures() {}, readConfig() {}, writeConfig() {}, reset() {},
          activate(c) { c.interrupt.raise('config'); this.activated = true; },
          notifyQueue() {} };
        const t = new MmioTransport(device, new GuestMemory(4096), { onInterrupt() { throw new Error('host bug'); } });
        const w = (o, v) => t.write(o, new Uint8Array(new Uint32Array([v]).buffer));
        w(0x70, 1); w(0x70, 3); w(0x24, 1); w(0x20, 1); w(0x70, 11); w(0x70, 15);
        console.log('write returned');`;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      assert.match(child.stdout, /write returned/);
      assert.match(child.stderr, /Error: host bug/);
      assert.notEqual(child.status, 0);
    });
  });

  describe('configuration generation', () => {
    test('grows on each configuration change, and survives a reset', () => {
      const { transport, device, layouts } = liveRig();
      const line = device.context?.interrupt;
      assert.ok(line !== undefined);
      assert.equal(readRegister(transport, REG.configGeneration), 0);
      line.raise('config');
      line.raise('config');
      assert.equal(readRegister(transport, REG.configGeneration), 2, 'even when the bit was already set');
      line.raise('vring');
      assert.equal(transport.configGeneration, 2);
      driveHandshake(transport, { queues: layouts });
      assert.equal(readRegister(transport, REG.configGeneration), 2);
    });
  });

  describe('DEVICE_NEEDS_RESET', () => {
    test('asked for by the device: the bit, a configuration interrupt, no more notifications until a reset', () => {
      const { transport, device, interrupts, layouts } = liveRig();
      device.onNotify = (index, context) => {
        if (index === 1) context.interrupt.needsReset();
      };
      notifyQueue(transport, 1);
      assert.equal(readRegister(transport, REG.status), LIVE | STATUS.deviceNeedsReset);
      assert.deepEqual(interrupts, [INTERRUPT.config]);
      assert.equal(transport.configGeneration, 0);
      const served = (): number => device.calls.filter((call) => call.method === 'notifyQueue').length;
      notifyQueue(transport, 0);
      notifyQueue(transport, 1);
      assert.equal(served(), 1);
      // Only a reset is heard: no other status, no configuration write.
      writeRegister(transport, REG.status, LIVE);
      writeConfig(transport, 0, Uint8Array.of(0xff));
      assert.equal(device.config[0], 1);
      assert.equal(transport.status, LIVE | STATUS.deviceNeedsReset);
      // The reset brings it back to serving a well-behaved driver, with fresh queues.
      const oldQueues = device.context?.queues;
      const oldLine = device.context?.interrupt;
      assert.equal(driveHandshake(transport, { queues: layouts }).status, LIVE);
      assert.equal(transport.interruptStatus, 0);
      assert.notEqual(device.context?.queues, oldQueues);
      assert.ok(oldQueues?.every((queue, i) => queue !== device.context?.queues[i]));
      notifyQueue(transport, 0);
      assert.equal(served(), 2);
      // The line of the previous activation is disconnected.
      oldLine?.raise('vring');
      oldLine?.needsReset();
      assert.equal(transport.status, LIVE);
      assert.equal(transport.interruptStatus, 0);
    });

    const misbehaving: [Method, (r: Rig) => void][] = [
      ['notifyQueue', (r) => { notifyQueue(r.transport, 0); }],
      ['readConfig', (r) => { assert.deepEqual([...readConfig(r.transport, 0, 4)], [0, 0, 0, 0]); }],
      ['writeConfig', (r) => { writeConfig(r.transport, 0, Uint8Array.of(1)); }],
    ];
    for (const [method, access] of misbehaving) {
      test(`a device whose ${method} throws is treated as needing a reset`, () => {
        const r = liveRig();
        const line = r.device.context?.interrupt;
        r.device.throwing.add(method);
        access(r);
        assert.equal(r.transport.status, LIVE | STATUS.deviceNeedsReset);
        assert.deepEqual(r.interrupts, [INTERRUPT.config]);
        if (method === 'notifyQueue') {
          assert.equal(r.device.methods().at(-1), 'reset', 'a live device that threw is stopped');
          assert.ok(line !== undefined);
          line.raise('vring');
          assert.equal(r.transport.interruptStatus, INTERRUPT.config, 'its interrupt line is cut');
        }
        r.device.throwing.clear();
        assert.equal(driveHandshake(r.transport, { queues: r.layouts }).status, LIVE);
      });
    }

    test('a device whose ackFeatures throws: FEATURES_OK refused, DEVICE_NEEDS_RESET', () => {
      const { transport, interrupts } = rig((d) => d.throwing.add('ackFeatures'));
      const result = driveHandshake(transport);
      assert.equal(result.featuresAccepted, false);
      assert.equal(transport.status & (STATUS.featuresOk | STATUS.deviceNeedsReset), STATUS.deviceNeedsReset);
      assert.deepEqual(interrupts, [], 'no interrupt before DRIVER_OK');
    });

    test('a device whose activate throws a plain Error is treated like a failed activation', () => {
      const { transport, layouts } = rig((d) => d.throwing.add('activate'));
      assert.equal(driveHandshake(transport, { queues: layouts }).status, LIVE | STATUS.deviceNeedsReset);
    });
  });

  describe('reset (Status written 0)', () => {
    test('clears the selectors, interrupt status and driver features, and resets the device', () => {
      const { transport, device, layouts } = liveRig();
      device.context?.interrupt.raise('vring');
      writeRegister(transport, REG.queueSel, 1);
      writeRegister(transport, REG.deviceFeaturesSel, 1);
      writeRegister(transport, REG.status, 0);
      assert.equal(transport.status, 0);
      assert.equal(transport.interruptStatus, 0);
      assert.equal(device.calls.at(-1)?.method, 'reset');
      assert.equal(device.activated, false);
      assert.equal(readRegister(transport, REG.queueNumMax), 16, 'QueueSel is back to 0');
      assert.equal(readRegister(transport, REG.deviceFeatures), Number(OFFERED & 0xffff_ffffn), 'DeviceFeaturesSel is back to 0');
      assert.ok(transport.queues.every((queue) => !queue.ready && queue.descTable === 0n));
      // The features the driver wrote before are forgotten: FEATURES_OK needs them again.
      writeRegister(transport, REG.status, STATUS.acknowledge);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver);
      writeRegister(transport, REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
      assert.equal(transport.status & STATUS.featuresOk, 0);
      assert.equal(driveHandshake(transport, { queues: layouts }).status, LIVE);
    });

    test('writing 0 to a device already reset does not call the device', () => {
      const { transport, device } = rig();
      writeRegister(transport, REG.status, 0);
      writeRegister(transport, REG.status, 0);
      assert.deepEqual(device.calls, []);
    });

    test('a device whose reset throws reads FAILED; the next reset tries again', () => {
      const { transport, device, layouts } = liveRig();
      device.throwing.add('reset');
      writeRegister(transport, REG.status, 0);
      assert.equal(transport.status, STATUS.failed);
      device.throwing.clear();
      assert.equal(driveHandshake(transport, { queues: layouts }).status, LIVE);
    });

    test('a reset of the machine (reset()) is Status written 0: the device reset, the old interrupt line cut, a new handshake served', () => {
      const { transport, device, layouts, interrupts } = liveRig();
      const line = device.context?.interrupt;
      transport.reset();
      assert.equal(transport.status, 0);
      assert.equal(device.calls.at(-1)?.method, 'reset');
      assert.equal(device.activated, false);
      assert.ok(transport.queues.every((queue) => !queue.ready && queue.descTable === 0n));
      // A timer of the old activation raising now reaches nobody.
      const before = interrupts.length;
      line?.raise('vring');
      assert.equal(transport.interruptStatus, 0);
      assert.equal(interrupts.length, before);
      transport.reset();
      assert.equal(device.calls.filter((call) => call.method === 'reset').length, 1, 'a second reset finds nothing to reset');
      assert.equal(driveHandshake(transport, { queues: layouts }).status, LIVE);
    });

    test('a new handshake reads the device\'s queues again', () => {
      const { transport, device, layouts } = rig();
      device.queueMaxSizes = [16, 8, 4];
      writeRegister(transport, REG.status, STATUS.acknowledge);
      writeRegister(transport, REG.queueSel, 2);
      assert.equal(readRegister(transport, REG.queueNumMax), 4);
      device.queueMaxSizes = [16];
      assert.equal(driveHandshake(transport, { queues: layouts.slice(0, 1) }).status, LIVE);
      assert.equal(device.context?.queues.length, 1);
    });
  });

  describe('properties', () => {
    const registerOffsets = Object.values(REG).filter((offset) => offset !== REG.config);
    const offset = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...registerOffsets) },
      { weight: 2, arbitrary: fc.integer({ min: 0x100, max: 0x110 }) },
      { weight: 1, arbitrary: fc.integer({ min: -8, max: 0x1100 }) },
      { weight: 1, arbitrary: fc.constantFrom(-1, NaN, 0.5, 2 ** 53, 0xffc, 0xfff) },
    );
    const value = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(0, 1, 2, 3, 7, 11, 15, 0x40, 0x80, 0xff, 16, 8, 0x1000, 0x2000) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
    );
    const access = fc.record({
      write: fc.boolean(),
      offset,
      value,
      width: fc.oneof({ weight: 6, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 9 }) }),
    });
    const misbehaviour = fc.subarray(['ackFeatures', 'readConfig', 'writeConfig', 'activate', 'notifyQueue', 'reset'] as Method[]);
    const deviceActions = fc.array(fc.constantFrom('vring', 'config', 'needsReset', 'none'), { maxLength: 3 });

    test('no sequence of guest accesses throws, and a reset then serves a well-behaved driver', () => {
      fc.assert(
        fc.property(fc.array(access, { maxLength: 60 }), misbehaviour, deviceActions, fc.boolean(), fc.boolean(), (accesses, throwing, actions, failActivation, startLive) => {
          const r = rig((d) => {
            for (const method of throwing) d.throwing.add(method);
            d.failActivation = failActivation;
          });
          r.device.onNotify = (_index, context) => {
            for (const action of actions) {
              if (action === 'needsReset') context.interrupt.needsReset();
              else if (action !== 'none') context.interrupt.raise(action);
            }
          };
          // Half the runs start from a live device, so that notifications and interrupts are reached.
          if (startLive) driveHandshake(r.transport, { features: OFFERED, queues: r.layouts });
          const deliveredBefore = r.interrupts.length;
          let gained = 0;
          for (const a of accesses) {
            const before = r.transport.interruptStatus;
            const data = new Uint8Array(a.width);
            if (a.width >= 4) new DataView(data.buffer).setUint32(0, a.value, true);
            if (a.write) r.transport.write(a.offset, data);
            else r.transport.read(a.offset, data);
            if ((r.transport.interruptStatus & ~before) !== 0) gained++;
            assert.equal(r.transport.interruptStatus & ~(INTERRUPT.vring | INTERRUPT.config), 0);
            assert.equal(r.transport.status & 0x30, 0, 'no reserved status bit');
          }
          assert.ok(r.interrupts.length - deliveredBefore <= gained, 'an interrupt only for a gained bit');
          // A reset and a well-behaved driver: the device is served again.
          r.device.throwing.clear();
          r.device.failActivation = false;
          r.device.onNotify = (_index, context) => {
            context.interrupt.raise('vring');
          };
          const result = driveHandshake(r.transport, { features: OFFERED, queues: r.layouts });
          assert.equal(result.status, LIVE);
          assert.equal(r.device.activated, true);
          const notified = r.device.calls.length;
          const delivered = r.interrupts.length;
          notifyQueue(r.transport, 1);
          assert.deepEqual(r.device.calls.slice(notified), [{ method: 'notifyQueue', index: 1 }]);
          assert.equal(r.interrupts.length, delivered + 1);
          assert.equal(acknowledgeInterrupts(r.transport), INTERRUPT.vring);
        }),
        propertyParameters(500),
      );
    });
  });
});
