/**
 * The machine around the balloon, with Linux in v86 (one boot for the file, the steps in order):
 * what a host program waits for — the guest's driver up, the balloon at its target, the guest's
 * statistics, a console line printed before the program asked (issue 17 §5) — and, last, a guest
 * that crashes its emulator does not crash the process (issue 16 §3). A reset of the
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

const manifest = guestFixtures();

if (manifest === undefined) {
  test('the machine around the balloon: what a host waits for, a panic of v86', (t) => {
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
    const events: string[] = [];

    before(async () => {
      const vm = new FirecrackerMetrics();
      const balloon = (made.balloon = new Balloon(
        { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 1, free_page_reporting: true },
        { metrics: vm.balloon },
      ));
      const emulator = (made.emulator = await loadV86({ ...images, memory_size: 256 * MIB, virtio_balloon: false }));
      const pci = attachVirtioPci(emulator, balloon, { metrics: vm.vmm });
      const serial = (made.serial = new SerialConsole(emulator));
      for (const type of ['activate', 'reset']) {
        balloon.addEventListener(type, () => {
          events.push(type);
        });
      }
      await emulator.run();
      guest = { emulator, serial, vm, balloon, pci };
    });

    after(async () => {
      made.serial?.close();
      made.balloon?.dispose();
      await made.emulator?.destroy();
    });

    test("whenActive(): the guest's driver brought the device up; the console's earlier lines are still there to wait for", async () => {
      const g = ready();
      await g.balloon.whenActive({ signal: AbortSignal.timeout(150_000) });
      assert.equal(g.balloon.activated, true);
      assert.deepEqual(events, ['activate']);
      // /init printed this before it loaded the modules, long before the driver's DRIVER_OK.
      // It comes only once: waiting from now on would time out.
      const init = await g.serial.waitForLine(/^VMM-GUEST-INIT /, { timeoutMs: 1000 });
      assert.match(init, /^VMM-GUEST-INIT kernel=\S+ uptime_s=[\d.]+$/);
    });

    test("whenAtTarget(): Linux inflated to the target set; a 'stats' event brings the guest's figures", async () => {
      const g = ready();
      g.balloon.updateSize(32);
      await g.balloon.whenAtTarget({ signal: AbortSignal.timeout(60_000) });
      assert.equal(g.balloon.actualPages, 32 * 256);
      await once(g.balloon, 'stats', { signal: AbortSignal.timeout(10_000) });
      const stats = g.balloon.latestStats();
      assert.equal(stats.actual_mib, 32);
      assert.ok(Number(stats.total_memory) > 0 && Number(stats.free_memory) > 0, JSON.stringify(stats, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
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
        await sleep(0);
        assert.deepEqual(events.slice(-1), ['reset']);
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
