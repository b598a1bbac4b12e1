/**
 * The balloon device apart from its queues: features, queues, configuration space, activation,
 * the host API and its errors (Firecracker's `test_virtio_features`, `test_virtio_read_config`,
 * `test_virtio_write_config`, `test_update_size`, `test_update_stats_interval`, …).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Balloon, BALLOON_QUEUE_SIZE } from '../../../../src/devices/virtio/balloon/device.js';
import {
  BalloonError,
  BalloonInterruptError,
  DeviceNotActiveError,
  HintingNotEnabledError,
  InvalidBalloonConfigError,
  StatisticsDisabledError,
  StatisticsStateChangeError,
  TooMuchMemoryRequestedError,
} from '../../../../src/devices/virtio/balloon/errors.js';
import { METRICS } from '../../../../src/devices/virtio/balloon/metrics.js';
import { DeviceActivationError } from '../../../../src/devices/virtio/device.js';
import { activate, activated, build, counts, DATA_BASE, expected, MEMORY_MIB, pfnBuffer, put, used } from './device-setup.js';

const VERSION_1 = 1n << 32n;

function configBytes(balloon: Balloon, offset = 0, length = 12): number[] {
  const data = new Uint8Array(length).fill(0xee);
  balloon.readConfig(offset, data);
  return [...data];
}

test('features and queues follow the configuration: inflate, deflate, then stats, hinting, reporting', () => {
  for (const deflate_on_oom of [false, true]) {
    for (const stats_polling_interval_s of [0, 1]) {
      for (const free_page_hinting of [false, true]) {
        for (const free_page_reporting of [false, true]) {
          const balloon = new Balloon({ amount_mib: 0, deflate_on_oom, stats_polling_interval_s, free_page_hinting, free_page_reporting });
          const features =
            VERSION_1 |
            (stats_polling_interval_s > 0 ? 1n << 1n : 0n) |
            (deflate_on_oom ? 1n << 2n : 0n) |
            (free_page_hinting ? 1n << 3n : 0n) |
            (free_page_reporting ? 1n << 5n : 0n);
          assert.equal(balloon.deviceType, 5);
          assert.equal(balloon.availableFeatures, features);
          const count = 2 + Number(stats_polling_interval_s > 0) + Number(free_page_hinting) + Number(free_page_reporting);
          assert.deepEqual(balloon.queueMaxSizes, new Array<number>(count).fill(256));
          // Only offered features are kept.
          balloon.ackFeatures((1n << 64n) - 1n);
          assert.equal(balloon.ackedFeatures, features);
        }
      }
    }
  }
  assert.equal(BALLOON_QUEUE_SIZE, 256);
});

test('the configuration is validated with clear errors', () => {
  const base = { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0 };
  const bad: [Record<string, unknown>, string][] = [
    [{ amount_mib: -1 }, 'Invalid balloon configuration: amount_mib must be a whole number of MiB, got -1'],
    [{ amount_mib: 1.5 }, 'Invalid balloon configuration: amount_mib must be a whole number of MiB, got 1.5'],
    [{ amount_mib: '64' }, 'Invalid balloon configuration: amount_mib must be a whole number of MiB, got "64"'],
    [{ stats_polling_interval_s: 65536 }, 'Invalid balloon configuration: stats_polling_interval_s must be an integer from 0 to 65535, got 65536'],
    [{ stats_polling_interval_s: Number.NaN }, 'Invalid balloon configuration: stats_polling_interval_s must be an integer from 0 to 65535, got NaN'],
    [{ deflate_on_oom: 1 }, 'Invalid balloon configuration: deflate_on_oom must be a boolean, got 1'],
    [{ free_page_hinting: 'yes' }, 'Invalid balloon configuration: free_page_hinting must be a boolean, got "yes"'],
  ];
  for (const [change, message] of bad) {
    assert.throws(() => new Balloon({ ...base, ...change }), (error: unknown) => {
      assert.ok(error instanceof InvalidBalloonConfigError);
      assert.equal(error.message, message);
      return true;
    });
  }
  // num_pages is a u32: Firecracker's `mib_to_pages` bound, u32::MAX / 256.
  assert.throws(() => new Balloon({ ...base, amount_mib: 16_777_216 }), {
    name: 'TooMuchMemoryRequestedError',
    message: 'Requested memory should be less than 16777215MiB',
  });
  assert.equal(new Balloon({ ...base, amount_mib: 16_777_215 }).numPages, 16_777_215 * 256);
});

test('config() reports the configuration as it is now', () => {
  const balloon = new Balloon({ amount_mib: 16, deflate_on_oom: true, stats_polling_interval_s: 0 });
  assert.deepEqual(balloon.config(), {
    amount_mib: 16,
    deflate_on_oom: true,
    stats_polling_interval_s: 0,
    free_page_hinting: false,
    free_page_reporting: false,
  });
});

test('the configuration space reads {num_pages, actual_pages, free_page_hint_cmd_id} little-endian; outside it reads 0', () => {
  const balloon = new Balloon({ amount_mib: 0x10, deflate_on_oom: true, stats_polling_interval_s: 0 });
  // 16 MiB is 0x1000 pages.
  assert.deepEqual(configBytes(balloon), [0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(configBytes(balloon, 1, 2), [0x10, 0]);
  assert.deepEqual(configBytes(balloon, 10, 4), [0, 0, 0, 0]);
  assert.deepEqual(configBytes(balloon, 13, 4), [0, 0, 0, 0]);
  assert.deepEqual(configBytes(balloon, Number.MAX_SAFE_INTEGER, 2), [0, 0]);
});

test('the driver writes actual_pages only; other, straddling and out-of-bounds writes are ignored', () => {
  const balloon = new Balloon({ amount_mib: 0x10, deflate_on_oom: true, stats_polling_interval_s: 0 });
  balloon.writeConfig(4, new Uint8Array([0x00, 0x50, 0, 0]));
  assert.equal(balloon.actualPages, 0x5000);
  balloon.writeConfig(5, new Uint8Array([0x60]));
  assert.equal(balloon.actualPages, 0x6000);
  const before = configBytes(balloon);
  for (const [offset, length] of [
    [0, 4], // num_pages is the host's
    [8, 4], // free_page_hint_cmd_id is the host's
    [2, 4], // straddles num_pages and actual_pages
    [6, 4], // straddles actual_pages and the command id
    [12, 1],
    [-1, 2],
    [Number.MAX_SAFE_INTEGER, 4],
    [1.5, 1],
  ] as const) {
    balloon.writeConfig(offset, new Uint8Array(length).fill(0xde));
    assert.deepEqual(configBytes(balloon), before, `write at ${offset}`);
  }
});

test('activation: a wrong queue count, an invalid ready queue or a second activation counts activate_fails and throws', () => {
  const h = build();
  assert.throws(
    () => {
      h.balloon.activate({ memory: h.memory, queues: h.queues.slice(0, 1), interrupt: h.interrupt });
    },
    { name: 'DeviceActivationError', message: 'The balloon has 2 queues, got 1' },
  );
  const broken = h.queues[1];
  assert.ok(broken !== undefined);
  const usedRing = broken.usedRing;
  broken.usedRing = BigInt(MEMORY_MIB * 1024 * 1024); // past the end of memory
  assert.throws(() => {
    activate(h);
  }, DeviceActivationError);
  assert.equal(h.balloon.activated, false);
  broken.usedRing = usedRing;
  activate(h);
  assert.equal(h.balloon.activated, true);
  assert.throws(() => {
    activate(h);
  }, { message: 'The balloon is already active' });
  assert.deepEqual(counts(h.metrics), expected({ activate_fails: 3 }));
});

test('an inactive device ignores notifications and refuses host requests that need the driver', () => {
  const h = build({ stats_polling_interval_s: 1, free_page_hinting: true });
  put(h, 0, [pfnBuffer(h.memory, DATA_BASE, [0x400])]);
  for (let i = 0; i < 5; i++) h.balloon.notifyQueue(i);
  assert.deepEqual(used(h, 0), []);
  assert.deepEqual(counts(h.metrics), expected({}));
  for (const request of [() => { h.balloon.updateSize(1); }, () => { h.balloon.startHinting(); }, () => { h.balloon.stopHinting(); }]) {
    assert.throws(request, (error: unknown) => {
      assert.ok(error instanceof DeviceNotActiveError);
      assert.equal(error.message, 'Device not activated yet.');
      return true;
    });
  }
  // Queries need no driver.
  assert.deepEqual(h.balloon.hintingStatus(), { host_cmd: 0, guest_cmd: null });
  assert.deepEqual(h.balloon.latestStats(), { target_pages: 0, actual_pages: 0, target_mib: 0, actual_mib: 0 });
  assert.deepEqual(h.interrupt.raised, []);
});

test('updateSize sets num_pages and raises a configuration interrupt; no more than the guest memory', () => {
  const h = activated();
  h.balloon.updateSize(16);
  assert.equal(h.balloon.numPages, 16 * 256);
  assert.deepEqual(configBytes(h.balloon, 0, 4), [0x00, 0x10, 0, 0]);
  assert.equal(h.balloon.config().amount_mib, 16);
  assert.deepEqual(h.interrupt.take(), ['config']);
  // As much as the guest has is allowed (Firecracker refuses only more).
  h.balloon.updateSize(MEMORY_MIB);
  assert.equal(h.balloon.numPages, MEMORY_MIB * 256);
  assert.throws(() => { h.balloon.updateSize(MEMORY_MIB + 1); }, (error: unknown) => {
    assert.ok(error instanceof TooMuchMemoryRequestedError);
    assert.equal(error.message, `Requested memory should be less than ${MEMORY_MIB}MiB`);
    assert.equal(error.limitMib, MEMORY_MIB);
    return true;
  });
  assert.throws(() => { h.balloon.updateSize(0.5); }, InvalidBalloonConfigError);
  assert.equal(h.balloon.numPages, MEMORY_MIB * 256);
  assert.deepEqual(h.interrupt.take(), ['config']);
  // A transport whose interrupt fails: Firecracker's InterruptError.
  h.interrupt.failWith = new Error('eventfd closed');
  assert.throws(() => { h.balloon.updateSize(1); }, (error: unknown) => {
    assert.ok(error instanceof BalloonInterruptError);
    assert.equal(error.message, 'Received error while sending an interrupt: eventfd closed');
    return true;
  });
  assert.deepEqual(counts(h.metrics), expected({}));
});

test('updateStatsPollingInterval: the same value is a no-op; statistics cannot be turned on or off', () => {
  const off = build();
  off.balloon.updateStatsPollingInterval(0);
  assert.throws(() => { off.balloon.updateStatsPollingInterval(1); }, (error: unknown) => {
    assert.ok(error instanceof StatisticsStateChangeError);
    assert.equal(error.message, 'Statistics cannot be enabled/disabled after activation.');
    return true;
  });
  const on = activated({ stats_polling_interval_s: 1 });
  on.balloon.updateStatsPollingInterval(1);
  assert.throws(() => { on.balloon.updateStatsPollingInterval(0); }, StatisticsStateChangeError);
  assert.throws(() => { on.balloon.updateStatsPollingInterval(70_000); }, InvalidBalloonConfigError);
  on.balloon.updateStatsPollingInterval(5);
  assert.equal(on.balloon.config().stats_polling_interval_s, 5);
  on.balloon.reset();
});

test('latestStats: refused when statistics are disabled; otherwise the size in pages and MiB', () => {
  const off = activated();
  assert.throws(() => off.balloon.latestStats(), (error: unknown) => {
    assert.ok(error instanceof StatisticsDisabledError);
    assert.equal(error.message, 'Received stats query when stats are disabled.');
    return true;
  });
  const on = activated({ stats_polling_interval_s: 1, amount_mib: 20 });
  on.balloon.writeConfig(4, new Uint8Array([0x00, 0x0a, 0, 0])); // 2560 pages, 10 MiB
  assert.deepEqual(on.balloon.latestStats(), { target_pages: 5120, actual_pages: 2560, target_mib: 20, actual_mib: 10 });
  on.balloon.reset();
});

test('hinting commands on a balloon without hinting are refused', () => {
  const h = activated();
  for (const request of [() => { h.balloon.startHinting(); }, () => h.balloon.hintingStatus(), () => { h.balloon.stopHinting(); }]) {
    assert.throws(request, (error: unknown) => {
      assert.ok(error instanceof HintingNotEnabledError);
      assert.equal(error.message, 'Attempting to use hinting when not enabled');
      return true;
    });
  }
});

test('reset returns the device to before activation; it then serves a new driver', () => {
  const h = activated({ amount_mib: 4 });
  h.balloon.writeConfig(4, new Uint8Array([1, 0, 0, 0]));
  h.balloon.ackFeatures(VERSION_1);
  h.balloon.reset();
  assert.equal(h.balloon.activated, false);
  assert.equal(h.balloon.actualPages, 0);
  assert.equal(h.balloon.ackedFeatures, 0n);
  assert.equal(h.balloon.numPages, 4 * 256, 'the target is the host’s and stays');
  activate(h);
  put(h, 1, [{ addr: DATA_BASE, len: 4 }]);
  h.balloon.notifyQueue(1);
  assert.equal(used(h, 1).length, 1);
});

test('errors have stable names and share BalloonError', () => {
  const errors = [
    new DeviceNotActiveError(),
    new HintingNotEnabledError(),
    new StatisticsDisabledError(),
    new StatisticsStateChangeError(),
    new TooMuchMemoryRequestedError(1),
    new BalloonInterruptError({ cause: 'x' }),
    new InvalidBalloonConfigError('x'),
  ];
  assert.deepEqual(
    errors.map((e) => e.name),
    [
      'DeviceNotActiveError',
      'HintingNotEnabledError',
      'StatisticsDisabledError',
      'StatisticsStateChangeError',
      'TooMuchMemoryRequestedError',
      'BalloonInterruptError',
      'InvalidBalloonConfigError',
    ],
  );
  for (const error of errors) assert.ok(error instanceof BalloonError);
});

test('without a metrics option the device counts into the global balloon group', () => {
  const balloon = new Balloon({ amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0 });
  const h = build();
  const before = METRICS.deflate_count.count();
  balloon.activate({ memory: h.memory, queues: h.queues, interrupt: h.interrupt });
  balloon.notifyQueue(1);
  assert.equal(METRICS.deflate_count.count() - before, 1);
  assert.equal(h.metrics.deflate_count.count(), 0);
});
