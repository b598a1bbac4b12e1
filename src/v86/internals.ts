/**
 * The v86 internals `vmm-metrics/v86` relies on, as v86 0.5.462 has them, and the one place that
 * checks they are there. None of them is v86's public API (its `V86` class and `v86.d.ts`), so
 * the v86 version is pinned exactly (an optional peer dependency) and an emulator without them is
 * refused with a `V86InternalsError` naming that version and the one installed.
 *
 * What is used, and why (v86's `src/`):
 * - `emulator.v86.cpu`: the `CPU` behind the `V86` object, set once the WebAssembly module loaded.
 * - `cpu.devices.pci.register_device(device)` (`pci.js`): adds a function to the PCI bus from
 *   `{ pci_id, pci_space, pci_bars, name }`; an I/O BAR's port entries are taken from `io.ports`
 *   at that moment and moved with the BAR when the BIOS assigns it (a memory BAR cannot move).
 *   `pci.devices[pci_id]` tells a taken slot; `pci.device_spaces[pci_id]` is the live
 *   configuration header (an `Int32Array`), where the BIOS wrote BAR 0 and the interrupt line.
 * - `cpu.devices.pci.raise_irq(pci_id)` / `lower_irq(pci_id)`: INTx through the PIIX3's PIRQ
 *   routing (the interrupt pin at 0x3d and the slot pick the PIRQ register the BIOS set).
 * - `cpu.io.register_read(port, device, r8, r16, r32)` / `register_write(port, device, w8, w16,
 *   w32)` (`io.js`): per-port handlers for each access width; a read handler gets the port, a
 *   write handler the value. `cpu.io.ports` tells a free port (`device` undefined).
 * - `cpu.mem8`: guest RAM from physical address 0 (a view of the WebAssembly memory, fetched
 *   again when that memory grows), and `cpu.jit_dirty_cache(start, end)`: drops code the JIT
 *   translated from `start … end − 1`, after the device wrote there (`cpu.write_blob` does the
 *   same).
 * - `cpu.devices.virtio_balloon`: v86's own balloon, created only with `virtio_balloon: true`.
 * - `cpu.reboot_internal()` (`cpu.js`): every reboot goes through it — `V86.restart()`, the
 *   guest's reset through port 0xcf9 or the keyboard controller — looked up on the CPU each
 *   time, so a function on the bus that replaces it hears of each reboot first.
 * - `emulator.v86.do_tick()`, `.next_tick(t)`, `.stop()` (`main.js`): one slice of the emulator's
 *   run, scheduling the next (`setImmediate`/`setTimeout` in Node); `stop()` sets a flag the next
 *   slice acts on ('emulator-stopped'). A slice that throws (v86 panicked: a Rust panic is a
 *   WebAssembly `unreachable`) schedules no next one; replaced, the slice's error is caught.
 */
import { createRequire } from 'node:module';
import { V86InternalsError } from './errors.js';

/** The v86 release whose internals this module was written against and tested with. */
export const V86_VERSION = '0.5.462';

/** One I/O port's handlers (`io.js`'s port entry). */
export interface V86PortEntry {
  readonly device: unknown;
}

export interface V86Io {
  readonly ports: readonly V86PortEntry[];
  register_read(port: number, device: object, r8?: (port: number) => number, r16?: (port: number) => number, r32?: (port: number) => number): void;
  register_write(port: number, device: object, w8?: (value: number) => void, w16?: (value: number) => void, w32?: (value: number) => void): void;
}

/** What `register_device` takes. */
export interface V86PciFunction {
  readonly name: string;
  /** bus << 8 | device << 3 | function. */
  readonly pci_id: number;
  /** The configuration header, bytes (at least 64; v86 keeps 256). */
  readonly pci_space: readonly number[];
  /** One entry per BAR: its size in bytes. */
  readonly pci_bars: readonly ({ size: number } | undefined)[];
}

export interface V86Pci {
  register_device(device: V86PciFunction): unknown;
  raise_irq(pciId: number): void;
  lower_irq(pciId: number): void;
  readonly devices: readonly ({ readonly name?: unknown } | undefined)[];
  readonly device_spaces: readonly (Int32Array | undefined)[];
}

/** v86's own balloon (`virtio_balloon.js`), present with `virtio_balloon: true`. */
export interface V86OwnBalloon {
  /** Raises the target by `pages` 4 KiB pages and tells the guest. */
  Inflate(pages: number): void;
  /** Lowers the target by `pages`. */
  Deflate(pages: number): void;
  /** The target, in pages. */
  readonly num_pages: number;
  /** What the guest says the balloon holds, in pages (counted from the queues, not read from `actual`). */
  readonly actual: number;
}

export interface V86Cpu {
  readonly io: V86Io;
  readonly devices: { readonly pci: V86Pci; readonly virtio_balloon?: V86OwnBalloon };
  readonly mem8: Uint8Array;
  jit_dirty_cache(start: number, end: number): void;
  reboot_internal(): void;
}

/** The emulator's run loop (`emulator.v86`, v86's `main.js`). */
export interface V86Main {
  readonly cpu: V86Cpu;
  /** Between `run()` and the slice that saw `stop()`. */
  readonly running: boolean;
  do_tick(): void;
  next_tick(t: number): void;
  stop(): void;
}

/** The installed v86's version, from its package.json, or undefined if it cannot be read. */
export function installedV86Version(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url)('v86/package.json') as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The CPU of a loaded v86 emulator, with every internal this module uses checked; throws
 * `V86InternalsError` naming the missing one, the pinned version and the installed one.
 */
export function v86Cpu(emulator: unknown): V86Cpu {
  const v86 = property(emulator, 'v86');
  if (v86 === undefined) {
    fail("the emulator has no `v86` object yet: it is created once v86's WebAssembly module has loaded (wait for 'emulator-loaded', as loadV86() does)");
  }
  const cpu = property(v86, 'cpu');
  const devices = property(cpu, 'devices');
  const pci = property(devices, 'pci');
  if (pci === undefined && devices !== undefined) fail("`cpu.devices.pci` is missing: was the emulator initialised (after 'emulator-loaded')?");
  for (const name of ['register_device', 'raise_irq', 'lower_irq'] as const) requireFunction(pci, name, `cpu.devices.pci.${name}`);
  for (const name of ['devices', 'device_spaces'] as const) {
    if (!Array.isArray(property(pci, name))) fail(`\`cpu.devices.pci.${name}\` is not an array`);
  }
  const io = property(cpu, 'io');
  for (const name of ['register_read', 'register_write'] as const) requireFunction(io, name, `cpu.io.${name}`);
  const ports = property(io, 'ports');
  if (!Array.isArray(ports) || ports.length !== 0x10000) fail('`cpu.io.ports` is not the table of 65,536 ports');
  requireFunction(cpu, 'jit_dirty_cache', 'cpu.jit_dirty_cache');
  const mem8 = property(cpu, 'mem8');
  const length = property(mem8, 'length');
  if (typeof length !== 'number' || length === 0 || !(property(mem8, 'buffer') instanceof ArrayBuffer || property(mem8, 'buffer') instanceof SharedArrayBuffer)) {
    fail('`cpu.mem8` is not the guest RAM');
  }
  requireFunction(cpu, 'reboot_internal', 'cpu.reboot_internal');
  for (const name of ['do_tick', 'next_tick', 'stop'] as const) requireFunction(v86, name, `emulator.v86.${name}`);
  if (typeof property(v86, 'running') !== 'boolean') fail('`emulator.v86.running` is not a boolean');
  return cpu as V86Cpu;
}

/** The run loop of a loaded v86 emulator, checked as `v86Cpu` checks the CPU. */
export function v86Main(emulator: unknown): V86Main {
  v86Cpu(emulator);
  return property(emulator, 'v86') as V86Main;
}

function property(value: unknown, name: string): unknown {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined;
  return (value as Record<string, unknown>)[name];
}

function requireFunction(owner: unknown, name: string, path: string): void {
  if (typeof property(owner, name) !== 'function') fail(`\`${path}\` is not a function`);
}

function fail(what: string): never {
  const found = installedV86Version();
  throw new V86InternalsError(
    `vmm-metrics/v86 relies on internals of v86 ${V86_VERSION} (installed: ${found ?? 'unknown'}): ${what}. Install v86@${V86_VERSION}, the version pinned as this package's peer dependency.`,
  );
}
