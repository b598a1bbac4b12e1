/**
 * A VM dropped without `reset()` keeps nothing alive (issue 16 §4): the balloon's statistics timer
 * held the `Balloon`, and through it the guest memory and everything wired to it, so 50 VMs of
 * 32 MiB dropped by their host stayed reachable (1.8 GiB RSS). The timer now holds the device
 * weakly; `dispose()` (and `using`) ends a device, or the session's VM, for good.
 *
 * The collection is checked in a child process with the collector exposed (`--expose-gc`).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DeviceActivationError } from '../../../../src/devices/virtio/device.js';
import { DeviceDisposedError } from '../../../../src/devices/virtio/balloon/errors.js';
import { FakeTimers } from '../../../support/fake-timers.js';
import { activate, activated, DATA_BASE, put, used } from './device-setup.js';

/** Statistics on, no hinting or reporting: the stats queue follows inflate and deflate. */
const STATS = 2;

const MiB = 1024 * 1024;

function dropped(mode: 'library' | 'session'): { collected: number; disposed: number; arrayBuffers: number; rss: number } {
  const child = fileURLToPath(new URL('./fixtures/dropped-vms-child.js', import.meta.url));
  const output = execFileSync(process.execPath, ['--expose-gc', child, mode, '50'], { encoding: 'utf8' });
  return JSON.parse(output) as { collected: number; disposed: number; arrayBuffers: number; rss: number };
}

test('50 VMs of 32 MiB, statistics on, dropped by their host without reset() or dispose(): all collected, their memory with them', () => {
  const result = dropped('library');
  console.log(`# 50 dropped VMs: ${result.collected} collected; then ${(result.arrayBuffers / MiB).toFixed(1)} MiB of array buffers, RSS ${(result.rss / MiB).toFixed(0)} MiB`);
  assert.equal(result.collected, 50);
  // Each held 8 MiB of touched guest pages: none of them is left.
  assert.ok(result.arrayBuffers < 32 * MiB, `${(result.arrayBuffers / MiB).toFixed(1)} MiB of array buffers left`);
});

test("the session's VMs, half ended by `using` (their dispose), half dropped: all collected, their mappings unmapped", () => {
  const result = dropped('session');
  assert.equal(result.disposed, 25);
  assert.equal(result.collected, 50);
  assert.ok(result.arrayBuffers < 32 * MiB, `${(result.arrayBuffers / MiB).toFixed(1)} MiB of array buffers left`);
  // Their guest memory is mapped, outside the heap: the 25 dropped VMs' 200 MiB of touched pages
  // are unmapped once their view is collected (with no unmapping, RSS stays above 260 MiB).
  assert.ok(result.rss < 200 * MiB, `RSS ${(result.rss / MiB).toFixed(0)} MiB after collection`);
});

test('dispose() ends the device for good: its statistics timer stopped, a later activation refused (not counted); [Symbol.dispose] is dispose', (t) => {
  const timers = FakeTimers.install(t);
  const h = activated({ stats_polling_interval_s: 1 });
  // The guest's statistics buffer, held by the device until its next tick.
  put(h, STATS, [{ addr: DATA_BASE, len: 10 }]);
  h.balloon.notifyQueue(STATS);
  assert.deepEqual(used(h, STATS), []);
  h.interrupt.take();
  h.balloon[Symbol.dispose]();
  assert.equal(h.balloon.activated, false);
  timers.tick(5000);
  assert.deepEqual(used(h, STATS), [], 'no tick handed the buffer back');
  assert.deepEqual(h.interrupt.take(), []);
  assert.throws(() => {
    activate(h);
  }, (error: unknown) => error instanceof DeviceActivationError && error.message === new DeviceDisposedError().message);
  assert.equal(h.metrics.activate_fails.count(), 0, 'the host ended it: not a failed activation');
  h.balloon.dispose();
  assert.equal(h.balloon.activated, false);
});
