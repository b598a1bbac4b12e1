/**
 * What `npm run guest:fetch` built, checked byte by byte where it is there (skipped loudly where
 * it is not, failed under VMM_METRICS_REQUIRE_GUEST=1), and how the fetch ends where apt cannot
 * be had.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { which } from '../../scripts/guest-fixtures/apt.js';
import { INIT_SCRIPT } from '../../scripts/guest-fixtures/init.js';
import { dependsOf, readModInfo } from '../../scripts/guest-fixtures/modules.js';
import { GUEST_DIR_ENV, guestOrSkip, readGuestManifest } from '../support/guest-fixtures.js';
import { readCpio } from './support.js';

const FETCH = fileURLToPath(new URL('../../scripts/guest-fixtures/fetch.js', import.meta.url));

describe('the guest fixtures', () => {
  test('the manifest matches its files, SHA-256 and all, and names the packages they came from', (t) => {
    const guest = guestOrSkip(t);
    if (guest === undefined) return;
    assert.ok(readGuestManifest(guest.dir, { verify: 'hash' }) !== undefined);
    assert.deepEqual(guest.packages.map((pkg) => pkg.name), ['seabios', `linux-image-${guest.kernel.release}`, 'busybox-static']);
    assert.match(guest.kernel.release, /^\d+\.\d+\.\d+-\d+-686$/);
    assert.match(guest.kernel.cmdline, /(^| )console=ttyS0( |$)/);
    assert.match(guest.inputsHash, /^sha256:[0-9a-f]{64}$/);
  });

  test('a bzImage, a 128 KiB BIOS and a VGA option ROM', (t) => {
    const guest = guestOrSkip(t);
    if (guest === undefined) return;
    const kernel = readFileSync(guest.kernel.image.path);
    assert.equal(kernel.toString('latin1', 0x202, 0x206), 'HdrS', 'the x86 boot protocol header');
    // v86 copies the BIOS to the top of the first MiB, below which sits the VGA ROM at 0xC0000.
    assert.equal(guest.bios.bytes, 128 * 1024);
    const vga = readFileSync(guest.vgaBios.path);
    assert.deepEqual([vga[0], vga[1]], [0x55, 0xaa], 'an option ROM signature');
    assert.ok(guest.vgaBios.bytes <= 128 * 1024);
  });

  test('the initramfs: /init, an i386 busybox with sh, /dev/console, and the modules in an order their depends= allow', (t) => {
    const guest = guestOrSkip(t);
    if (guest === undefined) return;
    const records = new Map(readCpio(gunzipSync(readFileSync(guest.initramfs.path))).map((record) => [record.name, record]));
    const text = (name: string): string => Buffer.from(records.get(name)?.data ?? []).toString('utf8');

    assert.equal(text('init'), INIT_SCRIPT);
    assert.equal((records.get('init')?.mode ?? 0) & 0o777, 0o755);
    const busybox = records.get('bin/busybox')?.data ?? new Uint8Array(0);
    assert.deepEqual([...busybox.subarray(0, 5)], [0x7f, 0x45, 0x4c, 0x46, 1], 'a 32-bit ELF');
    assert.equal(Buffer.from(busybox).readUInt16LE(18), 3, 'e_machine EM_386');
    assert.equal(text('bin/sh'), 'busybox');
    assert.deepEqual([records.get('dev/console')?.rdevMajor, records.get('dev/console')?.rdevMinor], [5, 1]);

    assert.deepEqual(text('etc/vmm-guest/modules').trimEnd().split('\n'), guest.initramfs.modules);
    const loaded = new Set<string>();
    for (const name of guest.initramfs.modules) {
      const elf = records.get(`lib/modules/${name}.ko`)?.data;
      assert.ok(elf !== undefined, `lib/modules/${name}.ko`);
      const info = readModInfo(elf, name);
      assert.deepEqual(info.get('name'), [name]);
      for (const dep of dependsOf(info)) assert.ok(loaded.has(dep), `${dep} loads before ${name}`);
      loaded.add(name);
    }
    for (const name of ['virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_balloon']) {
      assert.ok(loaded.has(name), name);
    }
  });
});

describe('npm run guest:fetch', () => {
  test('without root it builds nothing, says why, and exits 77', (t) => {
    const setpriv = which('setpriv');
    const asRoot = process.getuid?.() === 0;
    if (asRoot && setpriv === undefined) {
      t.skip('running as root without setpriv (util-linux) to drop it');
      return;
    }
    const scratch = mkdtempSync(join(tmpdir(), 'guest-fetch-'));
    try {
      const dir = join(scratch, 'cache');
      // The user the test drops to must reach the script: a clone may sit in a folder only
      // root can enter (mktemp -d gives 0700), so it runs from a copy in a readable one.
      const bin = join(scratch, 'bin');
      cpSync(dirname(FETCH), bin, { recursive: true });
      writeFileSync(join(bin, 'package.json'), '{"type":"module"}\n');
      chmodSync(scratch, 0o755);
      const fetch = join(bin, basename(FETCH));
      const [command, args] = asRoot && setpriv !== undefined
        ? [setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, fetch]]
        : [process.execPath, [fetch]];
      const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, [GUEST_DIR_ENV]: dir } });
      assert.equal(result.status, 77, result.stderr);
      assert.match(result.stderr, /\*\*\* guest:fetch: cannot build the Linux guest fixtures: (not root|.* not found)/);
      assert.match(result.stderr, /The tests that boot the guest will be SKIPPED/);
      assert.equal(readGuestManifest(dir), undefined);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
