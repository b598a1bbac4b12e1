/**
 * Linux's own virtio_mmio and virtio_balloon drive this project's Balloon in a microVM on KVM
 * (issue 19 §3): Debian's amd64 kernel boots to /init, finds the device through ACPI, inflates
 * it, and the VMM process's RSS — read from /proc/<pid>/status — falls by what the guest gave.
 *
 * These need KVM that runs the guest natively (support.ts: linuxKvmOrSkip) and the amd64
 * fixtures; each skips loudly without them (and fails under VMM_METRICS_REQUIRE_KVM_LINUX=1 or
 * VMM_METRICS_REQUIRE_GUEST=1, which `.ci/run` sets where they are to be had).
 *
 * The one timing assertion of this suite, boot to /init in under 2 s, is the issue's own
 * requirement; everything else waits for what the guest says.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { kvmGuestDir, readKvmGuestManifest, type KvmGuestManifest } from '../../scripts/guest-fixtures/amd64-manifest.js';
import { FirecrackerMetrics } from '../../src/document/firecracker-metrics.js';
import { processRssBytes } from '../../src/kvm/rss.js';
import { Metrics } from '../../src/metrics/writer.js';
import { REQUIRE_ENV } from '../support/guest-fixtures.js';
import { LinuxGuest, until } from './linux-guest.js';
import { linuxKvmOrSkip } from './support.js';

const MIB = 1 << 20;
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const NO_DEFLATE_ON_OOM = { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 1 } as const;

async function ready(t: TestContext): Promise<KvmGuestManifest | undefined> {
  if (!(await linuxKvmOrSkip(t))) return undefined;
  const manifest = readKvmGuestManifest(kvmGuestDir());
  if (manifest !== undefined) return manifest;
  const message = `amd64 guest fixtures missing in ${kvmGuestDir()} — run as root: npm run guest:fetch`;
  if (process.env[REQUIRE_ENV] === '1') assert.fail(message);
  t.skip(message);
  return undefined;
}

describe("Linux's virtio_balloon on KVM", () => {
  test('boots to /init in under 2 s; virtio_mmio and virtio_balloon bind the device found through ACPI', async (t) => {
    const manifest = await ready(t);
    if (manifest === undefined) return;
    const document = new FirecrackerMetrics();
    const guest = await LinuxGuest.create({ manifest, memoryMib: 256, balloon: NO_DEFLATE_ON_OOM, metrics: document.balloon });
    try {
      const started = performance.now();
      const init = guest.waitForGuest('init');
      guest.start();
      await init;
      const bootMs = performance.now() - started;
      t.diagnostic(`boot to /init: ${bootMs.toFixed(0)} ms`);
      assert.ok(bootMs < 2000, `boot to /init took ${bootMs.toFixed(0)} ms`);
      const modules = await guest.waitForGuest('modules');
      assert.ok(modules.allLoaded, [...modules.results].join(' '));
      const virtio = await guest.waitForGuest('virtio');
      assert.deepEqual(virtio.devices.map((device) => [device.deviceId, device.driver]), [[5, 'virtio_balloon']]);
      assert.equal(guest.balloon.activated, true);
    } finally {
      await guest.stop();
    }
  });

  test('a 64 MiB target makes MemTotal fall by exactly 65,536 kB', async (t) => {
    const manifest = await ready(t);
    if (manifest === undefined) return;
    const document = new FirecrackerMetrics();
    const guest = await LinuxGuest.create({ manifest, memoryMib: 256, balloon: NO_DEFLATE_ON_OOM, metrics: document.balloon });
    try {
      const first = guest.waitForGuest('memory');
      guest.start();
      const before = (await first).memTotalKb;
      guest.balloon.updateSize(64);
      const after = await guest.waitForGuest('memory', (line) => line.memTotalKb !== before);
      assert.equal(before - after.memTotalKb, 65_536);
      assert.equal(guest.balloon.actualPages, 64 * 256);
    } finally {
      await guest.stop();
    }
  });

  test('after the guest touched its memory, inflating by 512 MiB makes the RSS fall by at least 500 MiB; the metrics lines validate and inflate_count is the driver\'s notifications', async (t) => {
    const manifest = await ready(t);
    if (manifest === undefined) return;
    const dir = mkdtempSync(join(tmpdir(), 'vmm-kvm-'));
    const path = join(dir, 'metrics.json');
    const document = new FirecrackerMetrics();
    const writer = new Metrics(document);
    writer.init(path, { id: 'kvm-test', flushIntervalMs: 0, flushOnExit: false });
    const guest = await LinuxGuest.create({ manifest, memoryMib: 1024, balloon: NO_DEFLATE_ON_OOM, metrics: document.balloon, cmdline: 'vmm_memhog_mib=800' });
    try {
      const touched = guest.waitForLine((line) => line.startsWith('VMM-GUEST-MEMHOG-DONE'), 'memhog', 60_000);
      guest.start();
      await touched;
      await guest.waitForGuest('memory');
      writer.write();
      const before = processRssBytes();
      guest.balloon.updateSize(512);
      await until(() => guest.balloon.actualPages === 512 * 256, 'actual_pages reaching 512 MiB');
      const after = processRssBytes();
      writer.write();
      t.diagnostic(`RSS ${(before / MIB).toFixed(1)} MiB → ${(after / MIB).toFixed(1)} MiB`);
      assert.ok(before - after >= 500 * MIB, `RSS ${(before / MIB).toFixed(1)} MiB → ${(after / MIB).toFixed(1)} MiB`);
      assert.ok(guest.inflateNotifications > 0);
      assert.equal(document.balloon.inflate_count.count(), guest.inflateNotifications);
      writer.close();
      const validate = spawnSync(process.execPath, [CLI, 'validate', path], { encoding: 'utf8' });
      assert.equal(validate.status, 0, validate.stdout + validate.stderr);
    } finally {
      await guest.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('free page reporting gives the host back what the guest freed', async (t) => {
    const manifest = await ready(t);
    if (manifest === undefined) return;
    const document = new FirecrackerMetrics();
    const guest = await LinuxGuest.create({
      manifest,
      memoryMib: 1024,
      balloon: { ...NO_DEFLATE_ON_OOM, free_page_reporting: true },
      metrics: document.balloon,
      cmdline: 'vmm_memhog_mib=800',
    });
    try {
      const touched = guest.waitForLine((line) => line.startsWith('VMM-GUEST-MEMHOG '), 'memhog touching its memory', 60_000);
      guest.start();
      await touched;
      // memhog holds its memory here: the RSS at its peak, give or take a page of printf.
      const peak = processRssBytes();
      // Linux reports free pages 2 s after they gathered (PAGE_REPORTING_DELAY).
      await until(() => peak - processRssBytes() >= 500 * MIB, 'the RSS falling by 500 MiB', 30_000);
      assert.ok(document.balloon.free_page_report_count.count() > 0);
      assert.ok(guest.balloon.releasedBytes().reporting >= 500 * MIB);
    } finally {
      await guest.stop();
    }
  });
});
