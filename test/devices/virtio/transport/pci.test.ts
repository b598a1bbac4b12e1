/**
 * The virtio-pci transport (modern) with the real balloon behind it, driven through its one BAR
 * by a driver written from the specification (`support/pci-driver.ts`): the configuration header
 * and its capabilities, the common configuration at natural widths, the handshake and refused
 * features, activation and reset, queue set-up, interrupts through the ISR and the INTx level,
 * DEVICE_NEEDS_RESET on a corrupted ring, a balloon inflated and its statistics read exact past
 * 2^53 over guest memory that an emulator owns (`FlatGuestMemory`) — and, with fast-check, that
 * no sequence of guest accesses makes the transport throw, and a reset brings a driver back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Balloon, type BalloonConfig } from '../../../../src/devices/virtio/balloon/device.js';
import { BalloonDeviceMetrics } from '../../../../src/devices/virtio/balloon/metrics.js';
import type { ActivationContext, VirtioDevice } from '../../../../src/devices/virtio/device.js';
import { PciTransport } from '../../../../src/devices/virtio/transport/pci.js';
import { FlatGuestMemory } from '../../../../src/vstate/flat-memory.js';
import { GuestMemory, type GuestMemoryAccess } from '../../../../src/vstate/memory.js';
import { layoutQueue, propertyParameters, putChain, usedEntries, type QueueLayout } from '../support/index.js';
import { ISR, PciDriver, readCapabilities, STATUS, type PciBar } from '../support/pci-driver.js';

const MIB = 1024 * 1024;
const VERSION_1 = 1n << 32n;
const LIVE = STATUS.acknowledge | STATUS.driver | STATUS.featuresOk | STATUS.driverOk;
const QUEUE_BASE = 0x1_0000;
const DATA_BASE = 0x10_0000;

interface Rig {
  readonly balloon: Balloon;
  readonly metrics: BalloonDeviceMetrics;
  readonly memory: GuestMemoryAccess;
  readonly transport: PciTransport;
  readonly driver: PciDriver;
  /** Every level the transport drove the INTx line to, in order. */
  readonly levels: boolean[];
  readonly layouts: QueueLayout[];
}

function rig(config: Partial<BalloonConfig> = {}, memory: GuestMemoryAccess = new GuestMemory(64 * MIB)): Rig {
  const metrics = BalloonDeviceMetrics.create();
  const balloon = new Balloon({ amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 0, ...config }, { metrics });
  const levels: boolean[] = [];
  const transport = new PciTransport(balloon, memory, { onInterruptLevel: (asserted) => levels.push(asserted) });
  const driver = new PciDriver(transport, readCapabilities(transport.configSpace(0x9000)));
  const layouts = balloon.queueMaxSizes.map((_, i) => layoutQueue(memory, QUEUE_BASE + i * 0x2000, 16));
  return { balloon, metrics, memory, transport, driver, levels, layouts };
}

function live(config: Partial<BalloonConfig> = {}, memory?: GuestMemoryAccess): Rig {
  const r = rig(config, memory);
  assert.equal(r.driver.handshake({ queues: r.layouts }), true);
  assert.equal(r.driver.read('deviceStatus'), LIVE);
  return r;
}

function layoutOf(r: Rig, index: number): QueueLayout {
  const found = r.layouts[index];
  if (found === undefined) throw new RangeError(`no queue ${index}`);
  return found;
}

test('the configuration header: a modern virtio function, INTA, BAR 0 an I/O BAR, four capabilities in it', () => {
  const { transport } = rig();
  const space = transport.configSpace(0x9000);
  const view = new DataView(space.buffer);
  assert.equal(space.length, 256);
  assert.equal(view.getUint16(0x00, true), 0x1af4, 'vendor');
  assert.equal(view.getUint16(0x02, true), 0x1045, 'device: 0x1040 + balloon');
  assert.equal(transport.pciDeviceId, 0x1045);
  assert.equal(view.getUint16(0x06, true) & 0x10, 0x10, 'status: capability list');
  assert.equal(space[0x08], 1, 'revision 1: not transitional');
  assert.ok(view.getUint16(0x2e, true) >= 0x40, 'subsystem id ≥ 0x40 (4.1.2.1)');
  assert.equal(view.getUint16(0x2c, true), 0x1af4, 'subsystem vendor');
  assert.equal(view.getUint32(0x10, true), 0x9001, 'BAR 0: I/O at 0x9000');
  assert.equal(space[0x0e], 0, 'header type 0');
  assert.equal(space[0x3d], 1, 'interrupt pin INTA');
  assert.equal(space[0x3c], 0, 'interrupt line: the BIOS writes it');
  const caps = readCapabilities(space);
  assert.deepEqual(caps.list, [[0x09, 1], [0x09, 2], [0x09, 3], [0x09, 4]]);
  for (const region of [caps.common, caps.notify, caps.isr, caps.device]) {
    assert.equal(region.bar, 0);
    assert.ok(region.offset + region.length <= 0x100, 'inside the 256-byte BAR');
  }
  assert.ok(caps.common.length >= 0x38, "at least sizeof(virtio_pci_common_cfg), which Linux requires");
  assert.ok(caps.notify.length >= 2);
  assert.equal(caps.notify.multiplier, 0, 'one notification register for every queue');
  assert.ok(caps.isr.length >= 1);
  assert.ok(caps.device.length >= 12, "the balloon's configuration");
  assert.throws(() => transport.configSpace(0x9010), RangeError);
});

test('a device type past 0x3f has no PCI device id', () => {
  const device: VirtioDevice = {
    deviceType: 0x40,
    queueMaxSizes: [16],
    availableFeatures: VERSION_1,
    activated: false,
    ackFeatures: () => undefined,
    readConfig: () => undefined,
    writeConfig: () => undefined,
    activate: () => undefined,
    notifyQueue: () => undefined,
    reset: () => undefined,
  };
  assert.throws(() => new PciTransport(device, new GuestMemory(MIB)), /0x1041–0x107f/);
  assert.equal(new PciTransport({ ...device, deviceType: 0x3f }, new GuestMemory(MIB)).pciDeviceId, 0x107f);
});

test('the handshake: features offered, FEATURES_OK kept, DRIVER_OK activates, status 0 resets', () => {
  const r = rig({ stats_polling_interval_s: 1, free_page_reporting: true });
  assert.equal(r.driver.read('numQueues'), 4);
  const offered = r.driver.deviceFeatures();
  assert.equal(offered, r.balloon.availableFeatures);
  assert.equal(r.driver.handshake({ queues: r.layouts }), true);
  assert.equal(r.balloon.activated, true);
  assert.equal(r.balloon.ackedFeatures, offered);
  assert.equal(r.driver.read('deviceStatus'), LIVE);
  r.driver.write('deviceStatus', 0);
  assert.equal(r.driver.read('deviceStatus'), 0, 'a reset reads back 0 at once (Linux polls for it)');
  assert.equal(r.balloon.activated, false);
  assert.equal(r.driver.read('queueEnable'), 0, 'the queues are new');
});

test('FEATURES_OK is refused for a bit not offered, a word past 64 bits, or without VERSION_1', () => {
  const r = rig();
  const offered = r.driver.deviceFeatures();
  assert.equal(r.driver.handshake({ features: offered | (1n << 40n) }), false);
  assert.equal(r.driver.read('deviceStatus') & STATUS.featuresOk, 0);
  assert.equal(r.balloon.activated, false);
  assert.equal(r.driver.handshake({ features: offered & ~VERSION_1 }), false);
  // A nonzero third word: refused until the next reset.
  r.driver.write('deviceStatus', 0);
  r.driver.write('deviceStatus', STATUS.acknowledge);
  r.driver.write('deviceStatus', STATUS.acknowledge | STATUS.driver);
  r.driver.writeDriverFeatures(offered);
  r.driver.write('driverFeatureSelect', 2);
  r.driver.write('driverFeature', 1);
  r.driver.write('deviceStatus', STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
  assert.equal(r.driver.read('deviceStatus') & STATUS.featuresOk, 0);
  // After a reset the same driver is accepted.
  assert.equal(r.driver.handshake({ queues: r.layouts }), true);
  assert.equal(r.balloon.activated, true);
  r.balloon.reset();
});

test('status moves one bit at a time; FAILED sticks until a reset', () => {
  const r = rig();
  r.driver.write('deviceStatus', STATUS.acknowledge | STATUS.driver);
  assert.equal(r.driver.read('deviceStatus'), 0, 'DRIVER before ACKNOWLEDGE is ignored');
  r.driver.write('deviceStatus', STATUS.acknowledge);
  r.driver.write('deviceStatus', STATUS.acknowledge | STATUS.driver | STATUS.driverOk);
  assert.equal(r.driver.read('deviceStatus'), STATUS.acknowledge, 'DRIVER_OK before FEATURES_OK is ignored');
  r.driver.write('deviceStatus', STATUS.failed);
  assert.equal(r.driver.read('deviceStatus'), STATUS.acknowledge | STATUS.failed);
  r.driver.write('deviceStatus', 0);
  assert.equal(r.driver.read('deviceStatus'), 0);
});

test('the common configuration: queue fields, read-only fields, MSI-X vectors, wrong widths', () => {
  const r = rig({ stats_polling_interval_s: 1 });
  const { driver } = r;
  assert.equal(driver.read('configMsixVector'), 0xffff, 'no MSI-X: NO_VECTOR');
  driver.write('queueSelect', 1);
  assert.equal(driver.read('queueSelect'), 1);
  assert.equal(driver.read('queueSize'), 256, "the largest size until the driver writes one (Firecracker's 256)");
  assert.equal(driver.read('queueMsixVector'), 0xffff);
  assert.equal(driver.read('queueNotifyOff'), 0);
  driver.write('queueSelect', 3);
  assert.equal(driver.read('queueSize'), 0, 'no such queue');
  assert.equal(driver.read('queueEnable'), 0);
  // Queue fields are the driver's only between FEATURES_OK and DRIVER_OK.
  driver.write('queueSelect', 0);
  driver.write('queueSize', 16);
  assert.equal(driver.read('queueSize'), 256, 'ignored before FEATURES_OK');
  assert.equal(driver.handshake({ driverOk: false }), true);
  const layout = layoutOf(r, 0);
  driver.setUpQueue(0, layout);
  assert.equal(driver.read('queueSize'), 16);
  assert.equal(driver.read('queueEnable'), 1);
  assert.equal(BigInt(driver.read('queueDescLow')) | (BigInt(driver.read('queueDescHigh')) << 32n), layout.descTable);
  assert.equal(BigInt(driver.read('queueDriverLow')), layout.availRing);
  assert.equal(BigInt(driver.read('queueDeviceLow')), layout.usedRing);
  driver.writeAddress('queueDescLow', 0x1_2345_6000n);
  assert.equal(driver.read('queueDescHigh'), 1, 'the high half is kept');
  driver.writeAddress('queueDescLow', layout.descTable);
  driver.write('queueEnable', 0);
  assert.equal(driver.read('queueEnable'), 1, 'writing 0 is the driver’s mistake, ignored');
  driver.write('numQueues', 9);
  assert.equal(driver.read('numQueues'), 3, 'read-only');
  // A field read or written at another width: zeros, nothing written.
  assert.equal(driver.readAt(r.driver.caps.common.offset + 0x14, 4), 0);
  assert.equal(driver.readAt(r.driver.caps.common.offset + 0x04, 2), 0);
  driver.writeAt(r.driver.caps.common.offset + 0x14, 2, 0);
  assert.equal(driver.read('deviceStatus'), STATUS.acknowledge | STATUS.driver | STATUS.featuresOk, 'a 16-bit write of status does not reset');
  assert.equal(driver.readAt(0xfc, 4), 0, 'past every structure');
  driver.write('deviceStatus', 0);
});

test('interrupts: the ISR gains a bit, the line is asserted; reading the ISR clears it and deasserts', () => {
  const r = live();
  assert.deepEqual(r.levels, []);
  const generation = r.driver.read('configGeneration');
  r.balloon.updateSize(1);
  assert.deepEqual(r.levels, [true]);
  assert.equal(r.transport.interruptAsserted, true);
  assert.equal(r.driver.read('configGeneration'), (generation + 1) & 0xff);
  assert.equal(r.driver.readConfig(0, 4), 256, 'num_pages');
  r.balloon.updateSize(2);
  assert.deepEqual(r.levels, [true, true], 'asserted again: a shared line may have been lowered');
  assert.equal(r.driver.readIsr(), ISR.config);
  assert.deepEqual(r.levels, [true, true, false]);
  assert.equal(r.driver.readIsr(), 0);
  assert.deepEqual(r.levels, [true, true, false], 'not lowered twice');
  r.balloon.updateSize(3);
  r.driver.write('deviceStatus', 0);
  assert.deepEqual(r.levels.slice(-2), [true, false], 'a reset deasserts');
  assert.equal(r.transport.isr, 0);
});

test('interrupts reach the line at once, in the middle of the access that raised them, once per raise (MMIO waits for the access to end)', () => {
  let activation: ActivationContext | undefined;
  const device: VirtioDevice = {
    deviceType: 5,
    queueMaxSizes: [16],
    availableFeatures: VERSION_1,
    activated: false,
    ackFeatures: () => undefined,
    readConfig: () => undefined,
    writeConfig: () => undefined,
    activate: (context) => {
      activation = context;
    },
    notifyQueue: () => {
      activation?.interrupt.raise('vring');
      activation?.interrupt.raise('config');
    },
    reset: () => undefined,
  };
  const memory = new GuestMemory(MIB);
  let inAccess = false;
  /** For each assertion of the line: whether a guest access was still under way. */
  const assertedInAccess: boolean[] = [];
  const transport = new PciTransport(device, memory, {
    onInterruptLevel: (asserted) => {
      if (asserted) assertedInAccess.push(inAccess);
    },
  });
  const access = (run: () => void): void => {
    inAccess = true;
    try {
      run();
    } finally {
      inAccess = false;
    }
  };
  const bar: PciBar = {
    readBar: (offset, data) => {
      access(() => {
        transport.readBar(offset, data);
      });
    },
    writeBar: (offset, data) => {
      access(() => {
        transport.writeBar(offset, data);
      });
    },
  };
  const driver = new PciDriver(bar, readCapabilities(transport.configSpace(0x9000)));
  assert.equal(driver.handshake({ queues: [layoutQueue(memory, 0x1000, 16)] }), true);
  driver.notify(0);
  assert.deepEqual(assertedInAccess, [true, true], 'both raises asserted the line inside the notification write');
  assert.equal(driver.readIsr(), ISR.queue | ISR.config);
  activation?.interrupt.raise('vring');
  assert.deepEqual(assertedInAccess, [true, true, false], 'a raise outside any access: at once too');
});

test('a balloon inflated through the PCI function: the queue served, actual_pages written by the driver', () => {
  const r = live();
  r.balloon.updateSize(1);
  r.driver.readIsr();
  const pfns = new Uint8Array(4 * 256);
  const view = new DataView(pfns.buffer);
  for (let i = 0; i < 256; i++) view.setUint32(4 * i, 0x400 + i, true);
  r.memory.write(DATA_BASE, pfns);
  r.memory.write(0x400 * 4096, new Uint8Array(4096).fill(7));
  const head = putChain(r.memory, layoutOf(r, 0), [{ addr: DATA_BASE, len: pfns.length }]);
  r.driver.notify(0);
  assert.deepEqual(usedEntries(r.memory, layoutOf(r, 0)), [{ id: head, len: 0 }]);
  assert.equal(r.driver.readIsr(), ISR.queue);
  assert.equal(r.metrics.inflate_count.count(), 1);
  assert.deepEqual([...r.memory.read(0x400 * 4096, 4)], [0, 0, 0, 0], 'discarded');
  r.driver.writeConfig(4, 4, 256);
  assert.equal(r.balloon.actualPages, 256);
  r.driver.writeConfig(0, 4, 99);
  assert.equal(r.driver.readConfig(0, 4), 256, 'num_pages is the device’s');
});

test('notifications before DRIVER_OK are held until activation (Linux kicks the statistics queue in probe)', () => {
  const r = rig({ stats_polling_interval_s: 1 });
  assert.equal(r.driver.handshake({ queues: r.layouts, driverOk: false }), true);
  const stats = new Uint8Array(10);
  new DataView(stats.buffer).setUint16(0, 4, true);
  new DataView(stats.buffer).setBigUint64(2, 77n, true);
  r.memory.write(DATA_BASE, stats);
  putChain(r.memory, layoutOf(r, 2), [{ addr: DATA_BASE, len: 10 }]);
  r.driver.notify(2);
  assert.equal(r.metrics.stats_updates_count.count(), 0);
  r.driver.write('deviceStatus', LIVE);
  assert.equal(r.metrics.stats_updates_count.count(), 1);
  assert.equal(r.balloon.latestStats().free_memory, 77);
  r.driver.write('deviceStatus', 0);
});

test('guest statistics are exact past 2^53 (bigints, as the library’s U64), over memory an emulator owns', () => {
  const ram = new Uint8Array(16 * MIB);
  const written: [number, number][] = [];
  const memory = new FlatGuestMemory({ bytes: () => ram, written: (start, end) => written.push([start, end]) });
  const r = live({ stats_polling_interval_s: 1 }, memory);
  const entries: [number, bigint][] = [
    [4, 2n ** 53n + 1n],
    [5, 2n ** 64n - 1n],
    [6, 2n ** 53n - 1n],
    [2, 0n],
  ];
  const bytes = new Uint8Array(10 * entries.length);
  const view = new DataView(bytes.buffer);
  entries.forEach(([tag, value], i) => {
    view.setUint16(10 * i, tag, true);
    view.setBigUint64(10 * i + 2, value, true);
  });
  memory.write(DATA_BASE, bytes);
  putChain(memory, layoutOf(r, 2), [{ addr: DATA_BASE, len: bytes.length }]);
  written.length = 0;
  r.driver.notify(2);
  const stats = r.balloon.latestStats();
  assert.equal(stats.free_memory, 2n ** 53n + 1n, 'one past 2^53: a double would say 2^53');
  assert.equal(stats.total_memory, 2n ** 64n - 1n);
  assert.equal(stats.available_memory, Number.MAX_SAFE_INTEGER, 'below 2^53 a number');
  assert.equal(stats.major_faults, 0);
  assert.equal(typeof stats.available_memory, 'number');
  assert.deepEqual(written, [], 'the buffer is held: nothing written to the guest yet');
  r.driver.write('deviceStatus', 0);
});

test('a corrupted available ring: DEVICE_NEEDS_RESET, a configuration interrupt, notifications ignored until status 0', () => {
  const r = live();
  const inflate = layoutOf(r, 0);
  r.memory.writeU16(inflate.availRing + 2n, 100);
  r.driver.notify(0);
  assert.equal(r.driver.read('deviceStatus'), LIVE | STATUS.deviceNeedsReset);
  assert.equal(r.driver.readIsr(), ISR.config);
  assert.equal(r.metrics.event_fails.count(), 1);
  r.driver.notify(0);
  assert.equal(r.metrics.inflate_count.count(), 1, 'not processed again');
  for (const layout of r.layouts) Object.assign(layout, layoutQueue(r.memory, layout.descTable, layout.size));
  assert.equal(r.driver.handshake({ queues: r.layouts }), true);
  assert.equal(r.driver.read('deviceStatus'), LIVE);
  r.driver.notify(0);
  assert.equal(r.metrics.inflate_count.count(), 2);
  r.driver.write('deviceStatus', 0);
});

test('a ring outside guest memory at DRIVER_OK: not activated, DEVICE_NEEDS_RESET', () => {
  const r = rig();
  assert.equal(r.driver.handshake({ driverOk: false }), true);
  r.driver.setUpQueue(0, { ...layoutOf(r, 0), usedRing: 64n * BigInt(MIB) - 8n });
  r.driver.write('deviceStatus', LIVE);
  assert.equal(r.balloon.activated, false);
  assert.equal(r.driver.read('deviceStatus'), LIVE | STATUS.deviceNeedsReset);
  assert.equal(r.driver.readIsr(), ISR.config);
});

test('no sequence of guest accesses makes the transport throw; a reset then brings a driver back', () => {
  const access = fc.record({
    write: fc.boolean(),
    offset: fc.oneof(fc.integer({ min: 0, max: 0x110 }), fc.constantFrom(0x14, 0x16, 0x18, 0x1c, 0x40, 0x44, 0x84), fc.integer({ min: -4, max: 2 ** 40 })),
    width: fc.constantFrom(0, 1, 2, 4, 8),
    value: fc.nat({ max: 0xffff_ffff }),
  });
  fc.assert(
    fc.property(fc.array(access, { maxLength: 120 }), fc.boolean(), (accesses, start) => {
      const r = start ? live({ stats_polling_interval_s: 1, free_page_hinting: true }) : rig({ stats_polling_interval_s: 1 });
      for (const { write, offset, width, value } of accesses) {
        const data = new Uint8Array(width);
        for (let i = 0; i < width; i++) data[i] = (value >>> (8 * (i % 4))) & 0xff;
        if (write) r.transport.writeBar(offset, data);
        else r.transport.readBar(offset, data);
      }
      for (const layout of r.layouts) Object.assign(layout, layoutQueue(r.memory, layout.descTable, layout.size));
      assert.equal(r.driver.handshake({ queues: r.layouts }), true);
      assert.equal(r.driver.read('deviceStatus'), LIVE);
      assert.equal(r.balloon.activated, true);
      r.driver.write('deviceStatus', 0);
      assert.equal(r.balloon.activated, false);
    }),
    propertyParameters(200),
  );
});
