import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  GUEST_DIR_ENV,
  MANIFEST_FORMAT,
  REPO_ROOT,
  guestDir,
  readGuestManifest,
  sha256File,
  type GuestManifestJson,
} from '../../scripts/guest-fixtures/manifest.js';
import { MISSING_MESSAGE, REQUIRE_ENV, guestOrSkip } from '../support/guest-fixtures.js';

const scratch = mkdtempSync(join(tmpdir(), 'guest-manifest-'));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** A cache folder with small stand-in files and their manifest. */
function fakeCache(name: string): { dir: string; json: GuestManifestJson } {
  const dir = join(scratch, name);
  mkdirSync(join(dir, 'extracted'), { recursive: true });
  const file = (path: string, text: string): { path: string; bytes: number; sha256: string } => {
    writeFileSync(join(dir, path), text);
    return { path, bytes: Buffer.byteLength(text), sha256: sha256File(join(dir, path)) };
  };
  const json: GuestManifestJson = {
    format: MANIFEST_FORMAT,
    inputsHash: 'sha256:00',
    createdAt: '2026-11-27T00:00:00.000Z',
    kernel: { release: '6.1.0-50-686', image: file('extracted/vmlinuz', 'kernel'), cmdline: 'console=ttyS0' },
    initramfs: { ...file('initramfs.cpio.gz', 'cpio'), modules: ['virtio'] },
    bios: file('extracted/bios.bin', 'bios'),
    vgaBios: file('extracted/vgabios-stdvga.bin', 'vga'),
    packages: [{ name: 'seabios', architecture: 'all', version: '1.16.2-1', sha256: 'a'.repeat(64), deb: 'debs/seabios_1.16.2-1_all.deb' }],
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(json));
  return { dir, json };
}

describe('the fixtures folder and manifest', () => {
  test('.cache/guest in the repository, or $VMM_METRICS_GUEST_DIR resolved from the working directory', () => {
    assert.ok(existsSync(join(REPO_ROOT, 'package.json')));
    assert.equal(guestDir({}), join(REPO_ROOT, '.cache', 'guest'));
    assert.equal(guestDir({ [GUEST_DIR_ENV]: '' }), join(REPO_ROOT, '.cache', 'guest'));
    assert.equal(guestDir({ [GUEST_DIR_ENV]: 'some/where' }), resolve('some/where'));
    assert.equal(guestDir({ [GUEST_DIR_ENV]: '/var/cache/guest' }), '/var/cache/guest');
    // Ignored as a folder, and as a link to another clone's folder (a worktree's): never committed.
    for (const path of ['.cache/guest', '.cache']) {
      assert.equal(spawnSync('git', ['check-ignore', '--no-index', '-q', path], { cwd: REPO_ROOT }).status, 0, `${path} is git-ignored`);
    }
  });

  test('no manifest is undefined; a manifest resolves its paths against its folder', () => {
    assert.equal(readGuestManifest(join(scratch, 'nothing-here')), undefined);
    const { dir, json } = fakeCache('good');
    const manifest = readGuestManifest(dir, { verify: 'hash' });
    assert.ok(manifest !== undefined);
    assert.equal(manifest.dir, dir);
    assert.equal(manifest.kernel.image.path, join(dir, 'extracted', 'vmlinuz'));
    assert.equal(manifest.initramfs.path, join(dir, 'initramfs.cpio.gz'));
    assert.deepEqual(manifest.initramfs.modules, ['virtio']);
    assert.equal(manifest.bios.path, join(dir, 'extracted', 'bios.bin'));
    assert.equal(manifest.vgaBios.path, join(dir, 'extracted', 'vgabios-stdvga.bin'));
    assert.equal(manifest.packages[0]?.deb, join(dir, 'debs', 'seabios_1.16.2-1_all.deb'));
    assert.equal(manifest.kernel.cmdline, json.kernel.cmdline);
  });

  test('a manifest whose files are missing, resized or changed, or of another format, is an error naming the file', () => {
    const missing = fakeCache('missing');
    rmSync(join(missing.dir, 'extracted', 'bios.bin'));
    assert.throws(() => readGuestManifest(missing.dir), {
      name: 'GuestManifestError',
      message: `${join(missing.dir, 'manifest.json')}: bios ${join(missing.dir, 'extracted', 'bios.bin')} is missing`,
    });
    const resized = fakeCache('resized');
    writeFileSync(join(resized.dir, 'initramfs.cpio.gz'), 'cpio!');
    assert.throws(() => readGuestManifest(resized.dir), /initramfs .*initramfs\.cpio\.gz is 5 bytes, expected 4$/);
    const changed = fakeCache('changed');
    writeFileSync(join(changed.dir, 'extracted', 'vmlinuz'), 'KERNEL');
    assert.ok(readGuestManifest(changed.dir) !== undefined, 'the same size passes the quick check');
    assert.throws(() => readGuestManifest(changed.dir, { verify: 'hash' }), /kernel\.image .*vmlinuz does not match its SHA-256$/);
    const other = fakeCache('other-format');
    writeFileSync(join(other.dir, 'manifest.json'), JSON.stringify({ ...other.json, format: 2 }));
    assert.throws(() => readGuestManifest(other.dir), /format 2, expected 1$/);
    writeFileSync(join(other.dir, 'manifest.json'), '{');
    assert.throws(() => readGuestManifest(other.dir), { name: 'GuestManifestError' });
  });
});

describe('guestOrSkip', () => {
  const withRequire = (value: string | undefined, body: () => void): void => {
    const saved = process.env[REQUIRE_ENV];
    if (value === undefined) Reflect.deleteProperty(process.env, REQUIRE_ENV);
    else process.env[REQUIRE_ENV] = value;
    try {
      body();
    } finally {
      if (saved === undefined) Reflect.deleteProperty(process.env, REQUIRE_ENV);
      else process.env[REQUIRE_ENV] = saved;
    }
  };

  test('gives the manifest when the fixtures are there', () => {
    const { dir } = fakeCache('for-skip');
    const skipped: (string | undefined)[] = [];
    withRequire('1', () => {
      assert.equal(guestOrSkip({ skip: (message) => skipped.push(message) }, dir)?.dir, dir);
    });
    assert.deepEqual(skipped, []);
  });

  test('skips loudly where they are missing, and fails instead under VMM_METRICS_REQUIRE_GUEST=1', () => {
    const empty = join(scratch, 'empty');
    const skipped: (string | undefined)[] = [];
    const warned: string[] = [];
    withRequire(undefined, () => {
      assert.equal(guestOrSkip({ skip: (message) => skipped.push(message) }, empty, (message) => warned.push(message)), undefined);
    });
    assert.deepEqual(skipped, [MISSING_MESSAGE]);
    assert.deepEqual(warned, [`${MISSING_MESSAGE} (looked in ${empty})`]);
    assert.equal(MISSING_MESSAGE, 'SKIPPED: Linux guest fixtures missing — run as root: npm run guest:fetch; .ci/run fetches them');
    withRequire('1', () => {
      assert.throws(() => guestOrSkip({ skip: () => undefined }, empty), {
        name: 'AssertionError',
        message: `Linux guest fixtures missing in ${empty} — run as root: npm run guest:fetch (VMM_METRICS_REQUIRE_GUEST=1 makes this a failure)`,
      });
    });
  });
});
