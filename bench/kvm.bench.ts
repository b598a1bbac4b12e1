/**
 * `npm run bench:kvm`: the same Linux guest (the amd64 fixtures of `npm run guest:fetch`: Debian's
 * kernel, the initramfs with virtio_mmio, virtio_balloon and memhog) with 1 GiB of memory, in
 * this project's microVM (`vmm-metrics/kvm`) and in QEMU (`qemu-system-x86`, `-enable-kvm`, the
 * microvm machine with ACPI and `virtio-balloon-device`, driven over QMP), one after the other.
 * Not a test and not part of `npm run bench`; it fails only when it cannot measure.
 *
 * Each guest boots with `vmm_memhog_mib=800`: /init touches 800 MiB and frees it, so the VMM
 * process holds that memory. Then the host sets a balloon of 512 MiB, and:
 * - time: from setting the target to the guest's last inflate notification — ours: the last
 *   write of 0 to QueueNotify at the MMIO window, once actual_pages reached the target; QEMU's:
 *   the BALLOON_CHANGE event that says the guest reached it (the driver's actual_pages update
 *   that follows its last notification; QEMU tells nothing closer);
 * - RSS given back: the VMM process's VmRSS (/proc/<pid>/status) before the target minus after.
 * Ratios ours ÷ QEMU's: time (goal ≤ 1.0), RSS given back (goal ≥ 1.0).
 *
 * Before both, a figure of ours alone that needs no guest: the device path on KVM memory, the
 * tests' driver (test/kvm/balloon-driver.ts) handing 512 MiB of touched pages over in 512
 * notifications through the registers — the time and the RSS given back, with no guest in it.
 *
 *   npm run bench:kvm                          a table on stdout, progress on stderr
 *   npm run -s bench:kvm -- --json             the figures as JSON on stdout
 *   npm run bench:kvm -- --device-only        the device path alone (no guest, no QEMU)
 *   npm run bench:kvm -- --qemu-cpu=MODEL      QEMU's -cpu (default host; a KVM that refuses
 *                                              an MSR QEMU sets for host may take
 *                                              host,-arch-capabilities)
 */
import { readFileSync } from 'node:fs';
import { FirecrackerMetrics } from '../src/document/firecracker-metrics.js';
import { processRssBytes } from '../src/kvm/rss.js';
import { kvmGuestDir, readKvmGuestManifest, type KvmGuestManifest } from '../scripts/guest-fixtures/amd64-manifest.js';
import { LinuxGuest, until } from '../test/kvm/linux-guest.js';
import { BalloonVm } from '../src/kvm/balloon-vm.js';
import { TestBalloonDriver } from '../test/kvm/balloon-driver.js';
import { tinyElf, X64 } from '../test/kvm/support.js';
import { QemuGuest } from './kvm-qemu.js';

const MIB = 1 << 20;
const MEMORY_MIB = 1024;
const TARGET_MIB = 512;
const MEMHOG_MIB = 800;
const BOOT_TIMEOUT_MS = 120_000;
const INFLATE_TIMEOUT_MS = 120_000;

interface Result {
  readonly vmm: 'ours' | 'qemu';
  readonly bootMs: number;
  readonly inflateMs: number;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
}

const progress = (text: string): void => {
  process.stderr.write(`bench:kvm: ${text}\n`);
};

function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`/proc/${pid}/status has no VmRSS`);
  return Number(match[1]) * 1024;
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 500));
}

/** The device path alone: 512 MiB of touched pages inflated by the tests' driver, no guest running. */
async function devicePath(): Promise<{ inflateMs: number; notifications: number; rssGivenBackBytes: number }> {
  const vm = await BalloonVm.create({
    kernel: tinyElf(X64.halt),
    cmdline: '',
    memoryBytes: MEMORY_MIB * MIB,
    balloon: { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0 },
  });
  try {
    const from = 256 * MIB;
    const bytes = vm.vm.memory.bytes;
    for (let at = from; at < MEMORY_MIB * MIB; at += 4096) bytes[at] = 1;
    const driver = new TestBalloonDriver(vm.transport, vm.vm.memory, { queueArea: MIB, queues: 2, features: 1n << 32n });
    vm.balloon.updateSize(TARGET_MIB);
    // Scattered, as Linux's allocator hands pages out.
    const pages = TARGET_MIB * 256;
    const pfns = Array.from({ length: pages }, (_, i) => from / 4096 + ((i * 7919) % pages));
    const before = processRssBytes();
    const started = performance.now();
    const notifications = await driver.inflate(pfns);
    const inflateMs = performance.now() - started;
    return { inflateMs, notifications, rssGivenBackBytes: before - processRssBytes() };
  } finally {
    await vm.stop();
  }
}

async function ours(manifest: KvmGuestManifest): Promise<Result> {
  const document = new FirecrackerMetrics();
  const guest = await LinuxGuest.create({
    manifest,
    memoryMib: MEMORY_MIB,
    balloon: { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0 },
    metrics: document.balloon,
    cmdline: `vmm_memhog_mib=${MEMHOG_MIB}`,
  });
  try {
    const started = performance.now();
    const touched = guest.waitForLine((line) => line.startsWith('VMM-GUEST-MEMHOG-DONE'), 'memhog', BOOT_TIMEOUT_MS);
    guest.start();
    await touched;
    await guest.waitForGuest('memory', () => true, BOOT_TIMEOUT_MS);
    const bootMs = performance.now() - started;
    await settle();
    const rssBeforeBytes = processRssBytes();
    const set = performance.now();
    guest.balloon.updateSize(TARGET_MIB);
    await until(() => guest.balloon.actualPages === TARGET_MIB * 256, 'our balloon reaching 512 MiB', INFLATE_TIMEOUT_MS);
    const inflateMs = (guest.lastInflateNotificationAt ?? Number.NaN) - set;
    await settle();
    return { vmm: 'ours', bootMs, inflateMs, rssBeforeBytes, rssAfterBytes: processRssBytes() };
  } finally {
    await guest.stop();
  }
}

async function qemu(manifest: KvmGuestManifest, cpu: string): Promise<Result> {
  const started = performance.now();
  const guest = await QemuGuest.start({
    kernel: manifest.kernel.image.path,
    initrd: manifest.initramfs.path,
    cmdline: `${manifest.kernel.cmdline} vmm_memhog_mib=${MEMHOG_MIB}`,
    memoryMib: MEMORY_MIB,
    cpu,
  });
  try {
    const seen = (prefix: string): boolean => guest.lines.some((line) => line.startsWith(prefix));
    await until(() => seen('VMM-GUEST-MEMHOG-DONE') && guest.lines.some((line) => line.startsWith('VMM-GUEST seq=')), 'QEMU\'s guest touching its memory and reporting', BOOT_TIMEOUT_MS);
    const bootMs = performance.now() - started;
    await settle();
    const rssBeforeBytes = rssOf(guest.pid);
    const set = performance.now();
    await guest.command('balloon', { value: (MEMORY_MIB - TARGET_MIB) * MIB });
    const reached = (): { at: number } | undefined => guest.balloonChanges.find((change) => change.at >= set && change.actualBytes === (MEMORY_MIB - TARGET_MIB) * MIB);
    await until(() => reached() !== undefined, "QEMU's balloon reaching 512 MiB", INFLATE_TIMEOUT_MS);
    const inflateMs = (reached()?.at ?? Number.NaN) - set;
    await settle();
    return { vmm: 'qemu', bootMs, inflateMs, rssBeforeBytes, rssAfterBytes: rssOf(guest.pid) };
  } finally {
    await guest.stop();
  }
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const cpu = process.argv.find((arg) => arg.startsWith('--qemu-cpu='))?.slice('--qemu-cpu='.length) ?? 'host';
  const manifest = readKvmGuestManifest(kvmGuestDir());
  if (manifest === undefined) throw new Error(`no amd64 guest in ${kvmGuestDir()}: run npm run guest:fetch (as root)`);
  // Each side is measured even when the other could not be: the message says which failed.
  const attempt = async (name: string, run: () => Promise<Result>): Promise<Result | undefined> => {
    try {
      return await run();
    } catch (error) {
      process.stderr.write(`bench:kvm: ${name}: cannot measure: ${error instanceof Error ? error.message.split('\n').slice(0, 8).join('\n') : String(error)}\n`);
      process.exitCode = 1;
      return undefined;
    }
  };
  progress('ours, the device path alone (no guest): 512 MiB inflated by the tests\' driver');
  const device = await devicePath();
  process.stdout.write(
    json ? '' : `device path (ours, no guest): 512 MiB in ${device.notifications} notifications, ${device.inflateMs.toFixed(1)} ms, RSS given back ${(device.rssGivenBackBytes / MIB).toFixed(1)} MiB\n`,
  );
  if (process.argv.includes('--device-only')) {
    if (json) process.stdout.write(`${JSON.stringify({ device }, null, 2)}\n`);
    return;
  }
  progress(`ours: booting Linux ${manifest.kernel.release} with ${MEMORY_MIB} MiB, memhog ${MEMHOG_MIB} MiB`);
  const a = await attempt('ours', () => ours(manifest));
  progress('qemu: the same guest');
  const b = await attempt('qemu', () => qemu(manifest, cpu));
  if (a === undefined || b === undefined) return;
  const returned = (r: Result): number => r.rssBeforeBytes - r.rssAfterBytes;
  const figures = {
    device,
    results: [a, b],
    timeRatio: a.inflateMs / b.inflateMs,
    rssReturnedRatio: returned(a) / returned(b),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    return;
  }
  const row = (r: Result): string =>
    `${r.vmm.padEnd(5)} boot+memhog ${(r.bootMs / 1000).toFixed(2)} s   512 MiB inflate ${r.inflateMs.toFixed(1)} ms   RSS ${(r.rssBeforeBytes / MIB).toFixed(1)} → ${(r.rssAfterBytes / MIB).toFixed(1)} MiB (given back ${(returned(r) / MIB).toFixed(1)} MiB)`;
  process.stdout.write(
    `${row(a)}\n${row(b)}\nours ÷ QEMU's: time ${figures.timeRatio.toFixed(2)} (goal ≤ 1.0), RSS given back ${figures.rssReturnedRatio.toFixed(2)} (goal ≥ 1.0)\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:kvm: cannot measure: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
