/**
 * What a host program waits for (issue 17 §5): the device's events — `activate`, `reset`,
 * `target`, `stats` — dispatched once the access that caused them is over, and the promises over
 * them, `whenActive()` and `whenAtTarget()`, which look at the state first and take an
 * AbortSignal. Against the harness's queues, then with the simulated guest as a host would drive
 * it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Balloon } from '../../../../src/devices/virtio/balloon/device.js';
import { DeviceDisposedError } from '../../../../src/devices/virtio/balloon/errors.js';
import { MmioTransport } from '../../../../src/devices/virtio/transport/mmio.js';
import { SimulatedBalloonDriver } from '../../../../src/guest/index.js';
import { GuestMemory } from '../../../../src/vstate/memory.js';
import { activate, build, DATA_BASE, put } from './device-setup.js';

const MIB = 1024 * 1024;
/** Statistics on, nothing else: the stats queue follows inflate and deflate. */
const STATS = 2;

/** Every event the balloon dispatches, in order, with whether the call that caused it had returned. */
function record(balloon: Balloon): { events: string[]; returned: { value: boolean } } {
  const events: string[] = [];
  const returned = { value: true };
  for (const type of ['activate', 'reset', 'target', 'stats']) {
    balloon.addEventListener(type, (event) => {
      events.push(`${event.type}${returned.value ? '' : ' (inside the call)'}`);
    });
  }
  return { events, returned };
}

/** `body()`, flagged as the call in progress: an event dispatched inside it says so. */
function during(returned: { value: boolean }, body: () => void): void {
  returned.value = false;
  try {
    body();
  } finally {
    returned.value = true;
  }
}

const microtasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('activate, target, stats and reset are dispatched after the call that caused them, in order', async () => {
  const h = build({ stats_polling_interval_s: 1 });
  const { events, returned } = record(h.balloon);
  during(returned, () => {
    activate(h);
  });
  during(returned, () => {
    h.balloon.updateSize(1);
  });
  // The driver inflates in two steps; only the one that reaches the target is an event.
  during(returned, () => {
    h.balloon.writeConfig(4, Uint8Array.of(128, 0, 0, 0));
  });
  during(returned, () => {
    h.balloon.writeConfig(4, Uint8Array.of(0, 1, 0, 0));
  });
  put(h, STATS, [{ addr: DATA_BASE, len: 10 }]);
  during(returned, () => {
    h.balloon.notifyQueue(STATS);
  });
  during(returned, () => {
    h.balloon.reset();
  });
  assert.deepEqual(events, [], 'nothing inside a call');
  await microtasks();
  assert.deepEqual(events, ['activate', 'target', 'stats', 'reset']);
  // A reset of a device that is not active is no event; nor is a write that changes nothing.
  h.balloon.reset();
  h.balloon.writeConfig(4, Uint8Array.of(0, 0, 0, 0));
  await microtasks();
  assert.deepEqual(events, ['activate', 'target', 'stats', 'reset']);
  h.balloon.dispose();
});

test('whenActive(): at once when active, else at the activation; the signal and dispose() end the wait', async () => {
  const h = build();
  const waiting = h.balloon.whenActive();
  let settled = false;
  void waiting.then(() => (settled = true));
  await microtasks();
  assert.equal(settled, false);
  activate(h);
  await waiting;
  await h.balloon.whenActive();

  const other = build();
  const controller = new AbortController();
  const aborted = other.balloon.whenActive({ signal: controller.signal });
  controller.abort(new Error('the host gave up'));
  await assert.rejects(aborted, { message: 'the host gave up' });
  await assert.rejects(other.balloon.whenActive({ signal: AbortSignal.abort(new Error('already')) }), { message: 'already' });
  const pending = other.balloon.whenActive();
  other.balloon.dispose();
  await assert.rejects(pending, (error: unknown) => error instanceof DeviceDisposedError && error.name === 'DeviceDisposedError' && error.message === 'The balloon was disposed of.');
  await assert.rejects(other.balloon.whenActive(), DeviceDisposedError);
  h.balloon.dispose();
});

test('whenAtTarget(): not at a step on the way, at the write that reaches the target; at once when there', async () => {
  const h = build();
  activate(h);
  await h.balloon.whenAtTarget();
  h.balloon.updateSize(2);
  let reached = false;
  const waiting = h.balloon.whenAtTarget().then(() => (reached = true));
  h.balloon.writeConfig(4, Uint8Array.of(0, 1, 0, 0));
  await microtasks();
  assert.equal(reached, false, 'half way');
  h.balloon.writeConfig(4, Uint8Array.of(0, 2, 0, 0));
  await waiting;
  assert.equal(h.balloon.actualPages, 512);
  // The host sets the target to what the balloon holds: there already.
  h.balloon.updateSize(1);
  h.balloon.writeConfig(4, Uint8Array.of(0, 1, 0, 0));
  await h.balloon.whenAtTarget({ signal: AbortSignal.timeout(1000) });
  h.balloon.dispose();
});

test("the simulated guest, driven as a host program would: wait for its driver, set a target, wait until the balloon holds it, wait for the guest's statistics", async () => {
  const memory = new GuestMemory(64 * MIB);
  using balloon = new Balloon({ amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 1 });
  const guest: { driver?: SimulatedBalloonDriver } = {};
  const transport = new MmioTransport(balloon, memory, { onInterrupt: () => guest.driver?.handleInterrupt() });
  const driver = (guest.driver = new SimulatedBalloonDriver({ mmio: transport, memory }));
  const up = balloon.whenActive({ signal: AbortSignal.timeout(5000) });
  setImmediate(() => {
    driver.probe();
  });
  await up;
  balloon.updateSize(16);
  await balloon.whenAtTarget({ signal: AbortSignal.timeout(5000) });
  assert.equal(driver.actualPages, 16 * 256);
  assert.equal(balloon.actualPages, 16 * 256);
  // The balloon's timer is unref'd (a device never keeps a process alive): the host's own work
  // would; here a timer of the test's.
  const hold = setTimeout(() => undefined, 5000);
  try {
    await once(balloon, 'stats', { signal: AbortSignal.timeout(5000) });
  } finally {
    clearTimeout(hold);
  }
  assert.equal(balloon.latestStats().total_memory, 64 * MIB);
});
