/**
 * The machine around the balloon, with Linux in v86 (one boot for the file, the steps in order):
 * a guest that crashes its emulator does not crash the process (issue 16 §3). A reset of the
 * machine is the last step of balloon-linux.test.ts: v86 boots a bzImage from the RAM it loaded it
 * into, which the first boot overwrote, so a guest reset in v86 does not come back, and each of
 * the two needs a guest of its own.
 *
 * The guest and its balloon are those of balloon-linux.test.ts (256 MiB; statistics every second,
 * free page reporting); the VM's document takes `vmm.panic_count`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { V86 } from 'v86';
import { Balloon } from '../../src/devices/virtio/balloon/device.js';
import { FirecrackerMetrics } from '../../src/document/firecracker-metrics.js';
import { attachVirtioPci, loadV86, SerialConsole, V86PanicError, V86PanicEvent, type V86VirtioPci } from '../../src/v86/index.js';
import { guestFixtures, guestOrSkip, v86Images } from '../support/guest-fixtures.js';

const MIB = 1024 * 1024;

interface Guest {
  readonly emulator: V86;
  readonly serial: SerialConsole;
  readonly vm: FirecrackerMetrics;
  readonly balloon: Balloon;
  readonly pci: V86VirtioPci;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 10 ms until it holds; fails after `timeoutMs`, naming `what` and the guest's last lines. */
async function until(guest: Guest, what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}; the guest's last lines:\n${guest.serial.lines.slice(-8).join('\n')}`);
    await sleep(10);
  }
}

const manifest = guestFixtures();

if (manifest === undefined) {
  test('the machine around the balloon: a panic of v86', (t) => {
    guestOrSkip(t);
  });
} else {
  const images = v86Images(manifest);
  // A boot on a machine whose two cores are shared: generous.
  describe('the machine around the balloon: Linux in v86, one boot for the file', { timeout: 240_000 }, () => {
    let guest: Guest | undefined;
    const ready = (): Guest => {
      assert.ok(guest, 'the guest did not boot');
      return guest;
    };
    const made: { emulator?: V86; serial?: SerialConsole; balloon?: Balloon } = {};

    before(async () => {
      const vm = new FirecrackerMetrics();
      const balloon = (made.balloon = new Balloon(
        { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 1, free_page_reporting: true },
        { metrics: vm.balloon },
      ));
      const emulator = (made.emulator = await loadV86({ ...images, memory_size: 256 * MIB, virtio_balloon: false }));
      const pci = attachVirtioPci(emulator, balloon, { metrics: vm.vmm });
      const serial = (made.serial = new SerialConsole(emulator));
      await emulator.run();
      guest = { emulator, serial, vm, balloon, pci };
      await until(guest, "the driver's DRIVER_OK", () => balloon.activated, 150_000);
    });

    after(async () => {
      made.serial?.close();
      made.balloon?.reset();
      await made.emulator?.destroy();
    });

    // Last: the emulator is gone after it.
    test('a guest whose memory is zeroed through the balloon (its page and interrupt tables with it) crashes its emulator, not the process: stopped, counted, reported', async () => {
      const g = ready();
      let ticks = 0;
      const timer = setInterval(() => {
        ticks++;
      }, 10);
      try {
        const reported = once(g.pci, 'error', { signal: AbortSignal.timeout(30_000) });
        // What the device does for a free page report naming the whole RAM: v86 panics at the
        // guest's next page walk or interrupt ("Unimplemented: #GP handler").
        g.pci.memory.discardRange(0, g.pci.memory.size);
        const [event] = (await reported) as [V86PanicEvent];
        assert.ok(event instanceof V86PanicEvent);
        assert.ok(event.error instanceof V86PanicError);
        assert.equal(event.error, g.pci.panic);
        assert.equal((event.error.cause as Error).name, 'RuntimeError');
        assert.match(event.error.message, /^The v86 emulator panicked and was stopped: RuntimeError: unreachable$/);
        assert.equal(g.vm.vmm.panic_count.fetch(), 1);
        await g.emulator.stop();
        assert.equal(g.emulator.is_running(), false);
        assert.equal(g.balloon.activated, false, 'the device was reset: its statistics timer stopped');
        // The rest of the process goes on.
        const seen = ticks;
        await sleep(200);
        assert.ok(ticks > seen, 'a timer of the process kept ticking');
      } finally {
        clearInterval(timer);
      }
    });
  });
}
