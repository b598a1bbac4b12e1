/**
 * `vmm-metrics/v86` on a real v86 emulator, without a guest: v86 is loaded (no BIOS, nothing
 * runs) and the tests play the BIOS and the driver through v86's own buses — the PCI
 * configuration mechanism at ports 0xcf8/0xcfc, the function's I/O ports, v86's RAM — so every
 * v86 internal the module relies on is exercised in well under a second. The version pin and the
 * refusals (internals missing, a running emulator, a taken slot or port range) are pinned too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { V86 } from 'v86';
import { Balloon } from '../../src/devices/virtio/balloon/device.js';
import { BalloonDeviceMetrics } from '../../src/devices/virtio/balloon/metrics.js';
import { once } from 'node:events';
import { VmmMetrics } from '../../src/logger/metrics/vmm.js';
import {
  attachVirtioPci,
  installedV86Version,
  loadV86,
  v86Cpu,
  V86_VERSION,
  V86InternalsError,
  V86PanicError,
  V86PanicEvent,
  type V86Cpu,
  type V86VirtioPci,
} from '../../src/v86/index.js';
import { layoutQueue, putChain, usedEntries } from '../devices/virtio/support/index.js';
import { ISR, PciDriver, readCapabilities, STATUS, type PciBar } from '../devices/virtio/support/pci-driver.js';

const MIB = 1024 * 1024;
const PKG = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  devDependencies: Record<string, string>;
};

/** v86's port dispatch, which a guest's `in` and `out` instructions go through. */
interface PortBus {
  port_read8(port: number): number;
  port_read16(port: number): number;
  port_read32(port: number): number;
  port_write8(port: number, value: number): void;
  port_write16(port: number, value: number): void;
  port_write32(port: number, value: number): void;
}

function ports(cpu: V86Cpu): PortBus {
  return cpu.io as unknown as PortBus;
}

/** A configuration-space dword through v86's configuration mechanism #1, as a BIOS reads it. */
function configRead(cpu: V86Cpu, pciId: number, register: number): number {
  ports(cpu).port_write32(0xcf8, (0x8000_0000 | (pciId << 8) | register) | 0);
  return ports(cpu).port_read32(0xcfc) >>> 0;
}

function configWrite(cpu: V86Cpu, pciId: number, register: number, value: number): void {
  ports(cpu).port_write32(0xcf8, (0x8000_0000 | (pciId << 8) | register) | 0);
  ports(cpu).port_write32(0xcfc, value | 0);
}

/** The function's BAR as the guest reaches it: `in`/`out` of each width at its ports. */
function ioBar(cpu: V86Cpu, base: () => number): PciBar {
  const bus = ports(cpu);
  return {
    readBar(offset, data) {
      const port = base() + offset;
      const value = data.length === 1 ? bus.port_read8(port) : data.length === 2 ? bus.port_read16(port) : bus.port_read32(port);
      for (let i = 0; i < data.length; i++) data[i] = (value >>> (8 * i)) & 0xff;
    },
    writeBar(offset, data) {
      const port = base() + offset;
      let value = 0;
      for (let i = data.length - 1; i >= 0; i--) value = value * 256 + (data[i] ?? 0);
      if (data.length === 1) bus.port_write8(port, value);
      else if (data.length === 2) bus.port_write16(port, value);
      else bus.port_write32(port, value | 0);
    },
  };
}

/** The whole header of the function, as the configuration mechanism returns it. */
function header(cpu: V86Cpu, pciId: number): Uint8Array {
  const bytes = new Uint8Array(256);
  const view = new DataView(bytes.buffer);
  for (let register = 0; register < 256; register += 4) view.setUint32(register, configRead(cpu, pciId, register), true);
  return bytes;
}

test('v86 is pinned exactly: the devDependency, the optional peer dependency and V86_VERSION agree with what is installed', () => {
  assert.equal(PKG.devDependencies['v86'], V86_VERSION);
  assert.equal(PKG.peerDependencies['v86'], V86_VERSION);
  assert.equal(PKG.peerDependenciesMeta['v86']?.optional, true);
  assert.equal(installedV86Version()?.split('+')[0], V86_VERSION);
});

test('an emulator without the internals is refused, naming the pinned and the installed version', () => {
  const installed = installedV86Version() ?? 'unknown';
  const expected = (what: string): RegExp =>
    new RegExp(`^vmm-metrics/v86 relies on internals of v86 ${V86_VERSION.replaceAll('.', '\\.')} \\(installed: ${installed.replaceAll('.', '\\.').replace('+', '\\+')}\\): ${what}\\. Install v86@${V86_VERSION.replaceAll('.', '\\.')}, the version pinned as this package's peer dependency\\.$`);
  const check = (emulator: unknown, what: string): void => {
    assert.throws(
      () => v86Cpu(emulator),
      (error: unknown) => error instanceof V86InternalsError && error.name === 'V86InternalsError' && expected(what).test(error.message),
    );
  };
  check({}, "the emulator has no `v86` object yet: it is created once v86's WebAssembly module has loaded \\(wait for 'emulator-loaded', as loadV86\\(\\) does\\)");
  check({ v86: { cpu: { devices: {} } } }, "`cpu\\.devices\\.pci` is missing: was the emulator initialised \\(after 'emulator-loaded'\\)\\?");
  const pci = { register_device: () => 0, raise_irq: () => undefined, lower_irq: () => undefined, devices: [], device_spaces: [] };
  check({ v86: { cpu: { devices: { pci: { ...pci, lower_irq: undefined } } } } }, '`cpu\\.devices\\.pci\\.lower_irq` is not a function');
  check({ v86: { cpu: { devices: { pci }, io: { register_read: () => undefined } } } }, '`cpu\\.io\\.register_write` is not a function');
  const io = { register_read: () => undefined, register_write: () => undefined, ports: new Array<unknown>(0x10000) };
  check({ v86: { cpu: { devices: { pci }, io: { ...io, ports: [] } } } }, '`cpu\\.io\\.ports` is not the table of 65,536 ports');
  check({ v86: { cpu: { devices: { pci }, io } } }, '`cpu\\.jit_dirty_cache` is not a function');
  check({ v86: { cpu: { devices: { pci }, io, jit_dirty_cache: () => undefined, mem8: new Uint8Array(0) } } }, '`cpu\\.mem8` is not the guest RAM');
  const cpu = { devices: { pci }, io, jit_dirty_cache: () => undefined, mem8: new Uint8Array(4096) };
  check({ v86: { cpu } }, '`cpu\\.reboot_internal` is not a function');
  const loop = { do_tick: () => undefined, next_tick: () => undefined, stop: () => undefined };
  check({ v86: { cpu: { ...cpu, reboot_internal: () => undefined }, ...loop, next_tick: undefined } }, '`emulator\\.v86\\.next_tick` is not a function');
  check({ v86: { cpu: { ...cpu, reboot_internal: () => undefined }, ...loop } }, '`emulator\\.v86\\.running` is not a boolean');
});

describe('a balloon on the PCI bus of a real v86, driven through v86’s ports', () => {
  let emulator: V86 | undefined;
  let cpu: V86Cpu;
  let balloon: Balloon;
  let metrics: BalloonDeviceMetrics;
  let pci: V86VirtioPci;
  const vmm = VmmMetrics.create();

  before(async () => {
    emulator = await loadV86({ memory_size: 64 * MIB, virtio_balloon: true });
    cpu = v86Cpu(emulator);
    metrics = BalloonDeviceMetrics.create();
    balloon = new Balloon({ amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 0 }, { metrics });
    pci = attachVirtioPci(emulator, balloon, { metrics: vmm });
  });

  after(async () => {
    balloon.reset();
    await emulator?.destroy();
  });

  test("v86's own balloon is there only with virtio_balloon: true, at slot 11; ours is at slot 14 beside it", async () => {
    assert.notEqual(cpu.devices.virtio_balloon, undefined);
    assert.equal(configRead(cpu, 11 << 3, 0), 0x1045_1af4, "v86's balloon: 0x1af4:0x1045 too");
    assert.equal(pci.pciId, 14 << 3);
    const plain = await loadV86({ memory_size: 64 * MIB });
    try {
      assert.equal(v86Cpu(plain).devices.virtio_balloon, undefined, 'off by default');
      assert.equal(configRead(v86Cpu(plain), 11 << 3, 0), 0xffff_ffff, 'no function at slot 11');
    } finally {
      await plain.destroy();
    }
  });

  test('the header the BIOS reads: ids, an I/O BAR of 256 bytes at 0x9000, INTA, the four capabilities', () => {
    const space = header(cpu, pci.pciId);
    const view = new DataView(space.buffer);
    assert.equal(view.getUint16(0, true), 0x1af4);
    assert.equal(view.getUint16(2, true), 0x1045);
    assert.equal(view.getUint32(0x10, true), 0x9001);
    assert.equal(space[0x3d], 1);
    assert.deepEqual(readCapabilities(space).list, [[9, 1], [9, 2], [9, 3], [9, 4]]);
    configWrite(cpu, pci.pciId, 0x10, -1);
    assert.equal(configRead(cpu, pci.pciId, 0x10), 0xffff_ff01, 'sizing: 256 bytes of I/O');
  });

  test('the BIOS moves the BAR: the handlers follow, the old ports are freed', () => {
    configWrite(cpu, pci.pciId, 0x10, 0xc101);
    configWrite(cpu, pci.pciId, 0x3c, 0x010b);
    assert.equal(pci.ioPort, 0xc100);
    assert.equal(pci.interruptLine, 11);
    assert.equal(ports(cpu).port_read16(0xc100 + 0x12), 2, 'num_queues at the new place');
    assert.equal(ports(cpu).port_read16(0x9000 + 0x12), 0xffff, 'nothing left at 0x9000');
  });

  test('a driver inflates through the ports; the queues live in v86’s RAM; the pages read zero through v86', () => {
    const driver = new PciDriver(ioBar(cpu, () => pci.ioPort), readCapabilities(header(cpu, pci.pciId)));
    const memory = pci.memory;
    assert.equal(memory.size, 64 * MIB);
    const layouts = balloon.queueMaxSizes.map((_, i) => layoutQueue(memory, 0x10_0000 + i * 0x2000, 16));
    assert.equal(driver.handshake({ queues: layouts }), true);
    assert.equal(driver.read('deviceStatus'), STATUS.acknowledge | STATUS.driver | STATUS.featuresOk | STATUS.driverOk);
    assert.equal(balloon.activated, true);
    balloon.updateSize(1);
    assert.equal(driver.readIsr(), ISR.config);
    assert.equal(driver.readConfig(0, 4), 256);
    // The guest's page 0x800 holds something; v86's public API sees the same bytes.
    emulator?.write_memory(new Uint8Array(4096).fill(0x5a), 0x800 * 4096);
    const pfns = new Uint8Array(8);
    new DataView(pfns.buffer).setUint32(0, 0x800, true);
    new DataView(pfns.buffer).setUint32(4, 0x801, true);
    memory.write(0x20_0000, pfns);
    const inflate = layouts[0];
    assert.ok(inflate);
    const head = putChain(memory, inflate, [{ addr: 0x20_0000, len: 8 }]);
    driver.notify(0);
    assert.deepEqual(usedEntries(memory, inflate), [{ id: head, len: 0 }]);
    assert.equal(driver.readIsr(), ISR.queue);
    assert.equal(metrics.inflate_count.count(), 1);
    assert.ok(emulator?.read_memory(0x800 * 4096, 4096).every((byte) => byte === 0), 'zeroed in v86’s RAM');
    assert.equal(balloon.releasedBytes().inflate, 2 * 4096);
    driver.writeConfig(4, 4, 2);
    assert.equal(balloon.actualPages, 2);
    driver.write('deviceStatus', 0);
    assert.equal(balloon.activated, false);
  });

  test('refused: a taken slot, a taken or misplaced I/O range, an emulator that has run', () => {
    const other = new Balloon({ amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0 });
    const target = emulator as V86;
    assert.throws(() => attachVirtioPci(target, other, { slot: 1 }), /^RangeError: attachVirtioPci: PCI slot 1 is taken by 82371SB PIIX3 ISA$/);
    assert.throws(() => attachVirtioPci(target, other, { slot: 11 }), /PCI slot 11 is taken by virtio-balloon/);
    assert.throws(() => attachVirtioPci(target, other, { slot: 32 }), /the slot must be 1–31, got 32/);
    assert.throws(() => attachVirtioPci(target, other, { slot: 15, ioBase: 0xc100 }), /I\/O port 0xc100 is taken/);
    assert.throws(() => attachVirtioPci(target, other, { slot: 15, ioBase: 0x800 }), /from 0x1000 to 0xff00, got 0x800/);
    assert.throws(() => attachVirtioPci(target, other, { slot: 15, ioBase: 0x9010 }), /a multiple of 256/);
    const running = Object.create(target, { is_running: { value: () => true } }) as V86;
    const ran = Object.create(target, { get_instruction_counter: { value: () => 1 } }) as V86;
    for (const late of [running, ran]) {
      assert.throws(
        () => attachVirtioPci(late, other, { slot: 15 }),
        (error: unknown) => error instanceof V86InternalsError && /has run, and its BIOS has enumerated the PCI bus already: attach before the first run\(\)$/.test(error.message),
      );
    }
    assert.equal(target.get_instruction_counter(), 0, 'the emulator under test never ran');
    // Nothing was registered by the refusals.
    assert.equal(configRead(cpu, 15 << 3, 0), 0xffff_ffff);
  });

  // Last: the function serves nothing after it.
  test('v86 panicking when the function raises its line (a guest without interrupt tables) is caught there: panic_count set, an error event, the device reset, nothing thrown', async () => {
    const driver = new PciDriver(ioBar(cpu, () => pci.ioPort), readCapabilities(header(cpu, pci.pciId)));
    const layouts = balloon.queueMaxSizes.map((_, i) => layoutQueue(pci.memory, 0x10_0000 + i * 0x2000, 16));
    assert.equal(driver.handshake({ queues: layouts }), true);
    assert.equal(balloon.activated, true);
    // What v86 0.5.462 throws where its Rust code panics ("Unimplemented: #GP handler").
    const { RuntimeError } = (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }).WebAssembly;
    const unreachable = new RuntimeError('unreachable');
    const bus = cpu.devices.pci as { raise_irq: (pciId: number) => void };
    const raise = bus.raise_irq;
    bus.raise_irq = () => {
      throw unreachable;
    };
    try {
      const reported = once(pci, 'error');
      balloon.updateSize(1);
      const [event] = (await reported) as [V86PanicEvent];
      assert.ok(event instanceof V86PanicEvent);
      assert.ok(event.error instanceof V86PanicError);
      assert.equal(event.error, pci.panic);
      assert.equal(event.error.cause, unreachable);
      assert.equal(event.error.message, 'The v86 emulator panicked and was stopped: RuntimeError: unreachable');
      assert.equal(vmm.panic_count.fetch(), 1);
      assert.equal(balloon.activated, false, 'the device was reset: its timers stopped');
      assert.equal(pci.transport.status, 0);
      // The function serves nothing any more: its registers read zeros, its notifications do nothing.
      assert.equal(ports(cpu).port_read16(pci.ioPort + 0x12), 0);
      driver.write('deviceStatus', 1);
      assert.equal(pci.transport.status, 0);
    } finally {
      bus.raise_irq = raise;
    }
  });
});
