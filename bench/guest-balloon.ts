/**
 * The two balloons of `npm run bench:guest`, each in a v86 guest of its own, driven by Linux's
 * own virtio_balloon: our `Balloon` on v86's PCI bus through `attachVirtioPci` (v86's balloon
 * off), and v86's own balloon (`virtio_balloon: true`, `cpu.devices.virtio_balloon`). Never both
 * in one guest: v86 keeps one interrupt level per IRQ line, not per function.
 *
 * What is timed, the same way on both sides: from the moment the host sets the target (our
 * `updateSize(32)`, v86's `Inflate(8192)`, both raising the configuration interrupt at once) to
 * the moment the device has taken the 8,192th page — the guest port access after which our
 * device has discarded 8,192 frames (`releasedBytes().inflate`), or v86's `actual` (which v86
 * counts from its inflate queue) has reached 8,192. Not the guest's later write of `actual`,
 * which v86 ignores and ours would only reach after one more interrupt round trip.
 *
 * The two do not do the same work per page: v86's balloon only counts the frames it is given,
 * ours zeroes them (what "reclaimed" means on v86) and tells v86's JIT. Hence the discard and
 * `jit_dirty_cache` times, measured apart. v86 derives the guest's clocks from the host's, so the
 * guest's own elapsed time is the wall time; its instruction counter says what the guest did.
 *
 * The probe wraps each of the device's I/O port handlers (every guest access to it, the
 * notifications included, and the host time spent inside) and v86's `pci.raise_irq` (the
 * interrupts the device asserts): the same wrapper on both sides, so both pay its cost.
 */
import type { V86 } from 'v86';
import { Balloon, MIB_TO_4K_PAGES } from '../src/devices/virtio/balloon/device.js';
import { attachVirtioPci, loadV86, SerialConsole, v86Cpu, type V86Cpu, type V86OwnBalloon } from '../src/v86/index.js';
import { PAGE_SIZE } from '../src/vstate/memory.js';
import { parseGuestLine, v86Images, type GuestManifest, type GuestMemoryLine } from '../test/support/guest-fixtures.js';

export type BalloonKind = 'ours' | 'v86';

/** Seconds from `emulator.run()` to the guest's first lines, and the guest's own uptime then. */
export interface BootFigures {
  /** To the first `VMM-GUEST-INIT` line: /init started. */
  readonly initSeconds: number;
  /** To the first `VMM-GUEST` report: the modules loaded and the balloon bound. */
  readonly reportSeconds: number;
  /** The kernel's own uptime (/proc/uptime) in the `VMM-GUEST-INIT` line. */
  readonly guestUptimeAtInitSeconds: number;
}

/** One timed inflation. */
export interface InflationRound {
  /** Target set → the device has taken every page. */
  readonly wallMs: number;
  /**
   * This process's CPU time (user + system, every thread) over the same window: unlike the wall
   * time, it does not grow while a busy machine runs something else.
   */
  readonly cpuMs: number;
  /** Target set → the first pages reached the device (the guest woke, allocated 256 pages and kicked). */
  readonly firstPagesMs: number;
  /** Guest instructions v86 executed in the window (its instruction counter). */
  readonly instructions: number;
  /** Guest accesses to the device's I/O ports in the window. */
  readonly portAccesses: number;
  /** Of those, the accesses after which the device held more pages: the inflate notifications. */
  readonly kicks: number;
  /** Host time spent inside the device's port handlers in the window. */
  readonly deviceMs: number;
  /** Of `deviceMs`, the time in guest-memory discards (ours: zeroing and v86's `jit_dirty_cache`; v86's balloon discards nothing). */
  readonly discardMs: number;
  /** The discards (one per run of consecutive frames). */
  readonly discards: number;
  /** Of `deviceMs`, the time in `cpu.jit_dirty_cache` called from JavaScript: ours after each discard and ring write (v86's balloon writes its rings from WebAssembly). */
  readonly jitDirtyMs: number;
  /** Interrupts the device asserted in the window. */
  readonly interrupts: number;
}

/** Guest-side counters of the device, kept by the probe. */
interface Probe {
  accesses: number;
  hostMs: number;
  discardMs: number;
  discards: number;
  jitDirtyMs: number;
  interrupts: number;
  /** Called after each guest access to the device, inside the emulator's run loop. */
  afterAccess: (() => void) | undefined;
}

/** One balloon in its guest. */
export interface BalloonGuest {
  readonly kind: BalloonKind;
  readonly emulator: V86;
  readonly serial: SerialConsole;
  readonly boot: BootFigures;
  /** Pages the device has taken through its inflate queue since the guest booted (never falls). */
  pagesTaken(): number;
  /** What the balloon holds now as its device sees it (ours: the driver's `actual_pages`; v86: its `actual`). */
  heldPages(): number;
  /** Sets the balloon's target, in 4 KiB pages. */
  setTarget(pages: number): void;
  readonly probe: Probe;
  destroy(): Promise<void>;
}

export const GUEST_MIB = 128;
const MIB = 1024 * 1024;
/** How long a boot may take before the bench gives up (the README: 9.5–23 s to the first report). */
const BOOT_TIMEOUT_MS = 180_000;
/** How long an inflation or deflation of 32 MiB may take (it takes well under a second). */
const STEP_TIMEOUT_MS = 60_000;

const HANDLERS = ['read8', 'read16', 'read32', 'write8', 'write16', 'write32'] as const;

/** A port's entry in v86's `io.ports`: a read handler takes the port, a write handler the value; v86 calls both with the owner as `this`. */
type PortHandler = (this: unknown, argument: number) => unknown;
type PortEntry = { readonly device: unknown } & Record<(typeof HANDLERS)[number], PortHandler>;

/** v86's own balloon, with the parts of its `VirtIO` the probe needs. */
interface V86Balloon extends V86OwnBalloon {
  actual: number;
  readonly virtio: { readonly pci_id: number };
}

/** Wraps every port handler whose owner is `owner`, and the raising of `pciId`'s interrupt. */
function attachProbe(cpu: V86Cpu, owner: unknown, pciId: number): Probe {
  if (owner === undefined) throw new Error('bench:guest: the device owns no I/O port of the emulator (has the BIOS assigned its BAR?)');
  const probe: Probe = { accesses: 0, hostMs: 0, discardMs: 0, discards: 0, jitDirtyMs: 0, interrupts: 0, afterAccess: undefined };
  const ports = cpu.io.ports as unknown as PortEntry[];
  let wrapped = 0;
  for (const entry of ports) {
    if (entry.device !== owner) continue;
    wrapped++;
    for (const name of HANDLERS) {
      const original = entry[name];
      entry[name] = function (this: unknown, argument: number): unknown {
        const start = performance.now();
        const result = original.call(this, argument);
        probe.hostMs += performance.now() - start;
        probe.accesses++;
        probe.afterAccess?.();
        return result;
      };
    }
  }
  if (wrapped === 0) throw new Error('bench:guest: the device owns no I/O port of the emulator (has the BIOS assigned its BAR?)');
  const pci = cpu.devices.pci as { raise_irq: (id: number) => void };
  const raise = pci.raise_irq.bind(pci);
  pci.raise_irq = (id: number) => {
    if (id === pciId) probe.interrupts++;
    raise(id);
  };
  const jit = cpu as { jit_dirty_cache: (start: number, end: number) => void };
  const dirty = jit.jit_dirty_cache.bind(cpu);
  jit.jit_dirty_cache = (start, end) => {
    const at = performance.now();
    dirty(start, end);
    probe.jitDirtyMs += performance.now() - at;
  };
  return probe;
}

/** Lines of the boot, timed from `run()`. */
async function bootToReport(emulator: V86, serial: SerialConsole, kind: BalloonKind): Promise<BootFigures> {
  let init: { at: number; uptime: number } | undefined;
  const stop = serial.onLine((line) => {
    const parsed = parseGuestLine(line);
    if (parsed?.kind === 'init' && init === undefined) init = { at: performance.now(), uptime: parsed.uptimeS };
  });
  const report = serial.waitForLine((line) => parseGuestLine(line)?.kind === 'memory', { timeoutMs: BOOT_TIMEOUT_MS });
  const started = performance.now();
  await emulator.run();
  await report;
  const reported = performance.now();
  stop();
  if (init === undefined) throw new Error(`bench:guest (${kind}): the guest reported before its VMM-GUEST-INIT line`);
  const virtio = serial.lines.map((line) => parseGuestLine(line)).find((parsed) => parsed?.kind === 'virtio');
  if (!virtio?.devices.some((device) => device.deviceId === 5 && device.driver === 'virtio_balloon')) {
    throw new Error(`bench:guest (${kind}): Linux's virtio_balloon did not bind the balloon; the guest's lines:\n${serial.lines.slice(-12).join('\n')}`);
  }
  return {
    initSeconds: (init.at - started) / 1000,
    reportSeconds: (reported - started) / 1000,
    guestUptimeAtInitSeconds: init.uptime,
  };
}

/**
 * Boots the fixtures' guest with one balloon and waits for its first report. The emulator is
 * left running; the caller stops it between rounds.
 */
export async function bootBalloonGuest(manifest: GuestManifest, kind: BalloonKind): Promise<BalloonGuest> {
  const emulator = await loadV86({ ...v86Images(manifest), memory_size: GUEST_MIB * MIB, virtio_balloon: kind === 'v86' });
  try {
    // Ours offers what v86's offers (statistics, free page hinting, no deflate-on-OOM, no
    // reporting), so that Linux runs the same code on both: v86 never hands the statistics
    // buffer back, and an hour's polling keeps ours from doing so within a run.
    const ours =
      kind === 'ours'
        ? new Balloon({ amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 3600, free_page_hinting: true, free_page_reporting: false })
        : undefined;
    const pci = ours === undefined ? undefined : attachVirtioPci(emulator, ours);
    const serial = new SerialConsole(emulator);
    const boot = await bootToReport(emulator, serial, kind);
    const cpu = v86Cpu(emulator);

    if (ours !== undefined && pci !== undefined) {
      const probe = attachProbe(cpu, cpu.io.ports[pci.ioPort]?.device, pci.pciId);
      // The balloon discards through the transport's memory: timed apart, as the part of the
      // device's time that v86's balloon does not spend (it zeroes nothing).
      const memory = pci.memory;
      const discard = memory.discardRange.bind(memory);
      memory.discardRange = (address, length) => {
        const start = performance.now();
        const pages = discard(address, length);
        probe.discardMs += performance.now() - start;
        probe.discards++;
        return pages;
      };
      return {
        kind,
        emulator,
        serial,
        boot,
        probe,
        pagesTaken: () => ours.releasedBytes().inflate / PAGE_SIZE,
        heldPages: () => ours.actualPages,
        setTarget: (pages) => {
          ours.updateSize(pages / MIB_TO_4K_PAGES);
        },
        destroy: async () => {
          serial.close();
          ours.reset();
          await emulator.destroy();
        },
      };
    }

    const balloon = cpu.devices.virtio_balloon as V86Balloon | undefined;
    if (balloon === undefined) throw new Error('bench:guest: v86 was created with virtio_balloon: true but has no cpu.devices.virtio_balloon');
    // v86 counts `actual` from its inflate and deflate queues (+n, −n per buffer); an accessor
    // keeps the pages taken as a running total, as ours counts its discards.
    let actual = balloon.actual;
    let taken = 0;
    Object.defineProperty(balloon, 'actual', {
      configurable: true,
      enumerable: true,
      get: () => actual,
      set: (value: number) => {
        if (value > actual) taken += value - actual;
        actual = value;
      },
    });
    const probe = attachProbe(cpu, balloon.virtio, balloon.virtio.pci_id);
    return {
      kind,
      emulator,
      serial,
      boot,
      probe,
      pagesTaken: () => taken,
      heldPages: () => actual,
      setTarget: (pages) => {
        const change = pages - balloon.num_pages;
        if (change > 0) balloon.Inflate(change);
        else if (change < 0) balloon.Deflate(-change);
      },
      destroy: async () => {
        serial.close();
        await emulator.destroy();
      },
    };
  } catch (error) {
    await emulator.destroy();
    throw error;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The guest's next `VMM-GUEST` report that `accept` takes. */
async function nextReport(guest: BalloonGuest, accept: (report: GuestMemoryLine) => boolean, timeoutMs = 15_000): Promise<GuestMemoryLine> {
  const line = await guest.serial.waitForLine(
    (l) => {
      const parsed = parseGuestLine(l);
      return parsed?.kind === 'memory' && accept(parsed);
    },
    { from: guest.serial.lineCount, timeoutMs },
  );
  const parsed = parseGuestLine(line);
  if (parsed?.kind !== 'memory') throw new Error(`bench:guest: not a report: ${line}`);
  return parsed;
}

/** Polls until `condition` holds; fails after `timeoutMs`, naming `what`. */
async function until(guest: BalloonGuest, what: string, condition: () => boolean, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`bench:guest (${guest.kind}): timed out after ${timeoutMs} ms waiting for ${what}; the guest's last lines:\n${guest.serial.lines.slice(-8).join('\n')}`);
    }
    await sleep(5);
  }
}

/**
 * Lets the guest settle: two reports (after a resume the first comes at once, with whatever the
 * kernel caught up on), then 200 ms, so that the next report — /init prints one a second, a fork
 * and three /proc reads — falls after an inflation that takes less than ~0.8 s.
 */
async function settle(guest: BalloonGuest): Promise<void> {
  await nextReport(guest, () => true);
  await nextReport(guest, () => true);
  globalThis.gc?.();
  await sleep(200);
}

/** Times one inflation by `pages` from an empty balloon. */
async function timeInflation(guest: BalloonGuest, pages: number): Promise<InflationRound> {
  const { probe, emulator } = guest;
  const base = guest.pagesTaken();
  const accessesBefore = probe.accesses;
  const hostMsBefore = probe.hostMs;
  const discardMsBefore = probe.discardMs;
  const discardsBefore = probe.discards;
  const jitDirtyMsBefore = probe.jitDirtyMs;
  const interruptsBefore = probe.interrupts;
  let seen = base;
  let kicks = 0;
  let firstPagesMs = Number.NaN;
  let timer: NodeJS.Timeout | undefined;
  // Settled from inside the emulator's run loop, at the access that completes the inflation: no
  // polling timer runs during the window.
  const done = new Promise<InflationRound>((resolve, reject) => {
    timer = setTimeout(() => {
      probe.afterAccess = undefined;
      reject(new Error(`bench:guest (${guest.kind}): the device took ${guest.pagesTaken() - base} of ${pages} pages in ${STEP_TIMEOUT_MS} ms; the guest's last lines:\n${guest.serial.lines.slice(-8).join('\n')}`));
    }, STEP_TIMEOUT_MS);
    const instructionsBefore = emulator.get_instruction_counter();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    probe.afterAccess = () => {
      const taken = guest.pagesTaken();
      if (taken === seen) return;
      const now = performance.now();
      if (kicks === 0) firstPagesMs = now - started;
      kicks++;
      seen = taken;
      if (taken - base < pages) return;
      probe.afterAccess = undefined;
      const cpu = process.cpuUsage(cpuBefore);
      resolve({
        wallMs: now - started,
        cpuMs: (cpu.user + cpu.system) / 1000,
        firstPagesMs,
        // The counter is a u32 and wraps (v86 runs a few hundred million instructions a second).
        instructions: (emulator.get_instruction_counter() - instructionsBefore) >>> 0,
        portAccesses: probe.accesses - accessesBefore,
        kicks,
        deviceMs: probe.hostMs - hostMsBefore,
        discardMs: probe.discardMs - discardMsBefore,
        discards: probe.discards - discardsBefore,
        jitDirtyMs: probe.jitDirtyMs - jitDirtyMsBefore,
        interrupts: probe.interrupts - interruptsBefore,
      });
    };
    guest.setTarget(pages);
  });
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One round on a stopped guest: resume, settle, time an inflation by `pages`, check that the guest
 * agrees (its /proc/vmstat in the next report), deflate back to 0 (untimed), check again, stop.
 */
export async function inflationRound(guest: BalloonGuest, pages: number): Promise<InflationRound> {
  await guest.emulator.run();
  await settle(guest);
  const round = await timeInflation(guest, pages);
  await until(guest, `the balloon to hold ${pages} pages`, () => guest.heldPages() === pages);
  await nextReport(guest, (r) => r.balloonInflate - r.balloonDeflate === pages);
  guest.setTarget(0);
  await until(guest, 'the balloon to hold 0 pages', () => guest.heldPages() === 0);
  await nextReport(guest, (r) => r.balloonInflate === r.balloonDeflate);
  await guest.emulator.stop();
  return round;
}
