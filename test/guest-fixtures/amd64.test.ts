/**
 * The amd64 guest `npm run guest:fetch` builds for vmm-metrics/kvm (scripts/guest-fixtures/
 * amd64.ts), checked where it is there (skipped loudly where it is not, failed under
 * VMM_METRICS_REQUIRE_GUEST=1), and its /init's extra step run by the host's shell.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { AMD64_INIT_SCRIPT, AMD64_WANTED_MODULES, MEMHOG_PATH, extractVmlinux } from '../../scripts/guest-fixtures/amd64.js';
import { kvmGuestDir, readKvmGuestManifest, type KvmGuestManifest } from '../../scripts/guest-fixtures/amd64-manifest.js';
import { INIT_SCRIPT } from '../../scripts/guest-fixtures/init.js';
import { dependsOf, readModInfo } from '../../scripts/guest-fixtures/modules.js';
import { parseElfKernel } from '../../src/kvm/boot/elf.js';
import { REQUIRE_ENV } from '../support/guest-fixtures.js';
import { readCpio } from './support.js';

function amd64OrSkip(t: { skip: (message: string) => void }): KvmGuestManifest | undefined {
  const dir = kvmGuestDir();
  const manifest = readKvmGuestManifest(dir);
  if (manifest !== undefined) return manifest;
  const message = `amd64 guest fixtures missing in ${dir} — run as root: npm run guest:fetch`;
  if (process.env[REQUIRE_ENV] === '1') assert.fail(`${message} (${REQUIRE_ENV}=1 makes this a failure)`);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  t.skip(message);
  return undefined;
}

describe('the amd64 guest fixtures', () => {
  test('the manifest matches its files, SHA-256 and all, and names the packages they came from', (t) => {
    const guest = amd64OrSkip(t);
    if (guest === undefined) return;
    assert.ok(readKvmGuestManifest(guest.dir, { verify: 'hash' }) !== undefined);
    assert.deepEqual(guest.packages.map((pkg) => [pkg.name, pkg.architecture]), [[`linux-image-${guest.kernel.release}`, 'amd64'], ['busybox-static', 'amd64']]);
    assert.match(guest.kernel.release, /^\d+\.\d+\.\d+-\d+-amd64$/);
    assert.match(guest.kernel.cmdline, /(^| )console=ttyS0( |$)/);
    assert.match(guest.kernel.cmdline, /(^| )pci=off( |$)/);
  });

  test('vmlinux is the ELF inside the bzImage, loadable at its physical addresses', (t) => {
    const guest = amd64OrSkip(t);
    if (guest === undefined) return;
    const vmlinux = readFileSync(guest.kernel.vmlinux.path);
    assert.deepEqual(Buffer.from(extractVmlinux(readFileSync(guest.kernel.image.path))).equals(vmlinux), true);
    const elf = parseElfKernel(vmlinux);
    // Debian's CONFIG_PHYSICAL_START: startup_64 at 16 MiB.
    assert.equal(elf.entry, 0x100_0000);
    assert.ok(elf.segments.every((segment) => segment.physicalAddress >= 0x100_0000 && segment.physicalAddress < 0x1_0000_0000));
  });

  test('the initramfs: the amd64 /init, an x86-64 busybox and memhog, virtio_mmio and virtio_balloon after their depends=', (t) => {
    const guest = amd64OrSkip(t);
    if (guest === undefined) return;
    const records = new Map(readCpio(gunzipSync(readFileSync(guest.initramfs.path))).map((record) => [record.name, record]));
    const text = (name: string): string => Buffer.from(records.get(name)?.data ?? []).toString('utf8');
    assert.equal(text('init'), AMD64_INIT_SCRIPT);
    for (const name of ['bin/busybox', MEMHOG_PATH]) {
      const elf = Buffer.from(records.get(name)?.data ?? []);
      assert.deepEqual([...elf.subarray(0, 5)], [0x7f, 0x45, 0x4c, 0x46, 2], `${name}: a 64-bit ELF`);
      assert.equal(elf.readUInt16LE(18), 62, `${name}: e_machine EM_X86_64`);
      assert.equal((records.get(name)?.mode ?? 0) & 0o777, 0o755);
    }
    const loaded = new Set<string>();
    for (const name of guest.initramfs.modules) {
      const info = readModInfo(records.get(`lib/modules/${name}.ko`)?.data ?? new Uint8Array(0), name);
      for (const dep of dependsOf(info)) assert.ok(loaded.has(dep), `${dep} loads before ${name}`);
      loaded.add(name);
    }
    for (const name of AMD64_WANTED_MODULES) assert.ok(loaded.has(name), name);
    assert.deepEqual(text('etc/vmm-guest/modules').trimEnd().split('\n'), guest.initramfs.modules);
  });
});

describe("the amd64 /init's memhog step", () => {
  test('is the i386 /init with one step before the report loop', () => {
    const extra = AMD64_INIT_SCRIPT.length - INIT_SCRIPT.length;
    assert.ok(extra > 0);
    assert.ok(AMD64_INIT_SCRIPT.includes(`/${MEMHOG_PATH} "$vmm_memhog_mib"`));
    assert.ok(AMD64_INIT_SCRIPT.indexOf('memhog') < AMD64_INIT_SCRIPT.indexOf('interval=${vmm_interval_s:-1}'));
  });

  test('runs memhog only when vmm_memhog_mib is set (the step, run by the host shell with a stand-in memhog)', () => {
    const step = /# vmm_memhog_mib=N[^\n]*\n(if [\s\S]*?\nfi\n)/.exec(AMD64_INIT_SCRIPT)?.[1];
    assert.ok(step !== undefined);
    const script = `fail() { echo "ERROR $*"; }\n${step.replace(`/${MEMHOG_PATH}`, 'echo memhog')}`;
    const run = (env: Record<string, string>): string => spawnSync('sh', ['-c', script], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' }).stdout;
    assert.equal(run({}), '');
    assert.equal(run({ vmm_memhog_mib: '700' }), 'memhog 700\n');
  });
});
