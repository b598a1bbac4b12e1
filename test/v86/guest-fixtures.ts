/**
 * Test support: the Linux guest that `npm run guest:fetch` builds (Debian's i386 kernel, an
 * initramfs with busybox, the virtio modules and an /init that reports on ttyS0, SeaBIOS), found
 * through its manifest.json in $VMM_METRICS_GUEST_DIR or .cache/guest.
 *
 * A stand-in, on this branch, for the shared `test/support/guest-fixtures.ts` of the branch that
 * builds the fixtures: the same names and behaviour for what these tests use (`guestFixtures`,
 * `guestOrSkip`, `v86Images`; a loud skip, a failure under VMM_METRICS_REQUIRE_GUEST=1), so that
 * switching to it is a change of import path.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The repository's root: this module runs as build/test/v86/guest-fixtures.js. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const REQUIRE_ENV = 'VMM_METRICS_REQUIRE_GUEST';
export const MISSING_MESSAGE = 'SKIPPED: Linux guest fixtures missing — run as root: npm run guest:fetch; .ci/run fetches them';

interface ManifestFile {
  readonly path: string;
}

/** The parts of manifest.json these tests read, paths absolute. */
export interface GuestManifest {
  readonly dir: string;
  readonly kernel: { readonly release: string; readonly image: ManifestFile; readonly cmdline: string };
  readonly initramfs: ManifestFile;
  readonly bios: ManifestFile;
  readonly vgaBios: ManifestFile;
}

export function guestDir(): string {
  const override = process.env['VMM_METRICS_GUEST_DIR'];
  return override !== undefined && override !== '' ? resolve(override) : join(REPO_ROOT, '.cache', 'guest');
}

/** The fixtures' manifest, or undefined when they have not been built. */
export function guestFixtures(dir: string = guestDir()): GuestManifest | undefined {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) return undefined;
  const json = JSON.parse(readFileSync(path, 'utf8')) as Omit<GuestManifest, 'dir'> & { readonly format: number };
  assert.equal(json.format, 1, `${path}: manifest format`);
  const absolute = (file: ManifestFile): ManifestFile => ({ path: join(dir, file.path) });
  return {
    dir,
    kernel: { ...json.kernel, image: absolute(json.kernel.image) },
    initramfs: absolute(json.initramfs),
    bios: absolute(json.bios),
    vgaBios: absolute(json.vgaBios),
  };
}

/** The fixtures when they are there; otherwise skips `t` loudly (fails it under VMM_METRICS_REQUIRE_GUEST=1). */
export function guestOrSkip(t: Pick<TestContext, 'skip'>, dir: string = guestDir()): GuestManifest | undefined {
  const manifest = guestFixtures(dir);
  if (manifest !== undefined) return manifest;
  if (process.env[REQUIRE_ENV] === '1') assert.fail(`Linux guest fixtures missing in ${dir} — run as root: npm run guest:fetch (${REQUIRE_ENV}=1 makes this a failure)`);
  process.stderr.write(`\n*** ${MISSING_MESSAGE} (looked in ${dir}) ***\n\n`);
  t.skip(MISSING_MESSAGE);
  return undefined;
}

function image(path: string): { buffer: ArrayBuffer } {
  const bytes = readFileSync(path);
  return { buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
}

/** The options of v86's constructor that boot the guest. */
export function v86Images(manifest: GuestManifest): {
  bios: { buffer: ArrayBuffer };
  vga_bios: { buffer: ArrayBuffer };
  bzimage: { buffer: ArrayBuffer };
  initrd: { buffer: ArrayBuffer };
  cmdline: string;
} {
  return {
    bios: image(manifest.bios.path),
    vga_bios: image(manifest.vgaBios.path),
    bzimage: image(manifest.kernel.image.path),
    initrd: image(manifest.initramfs.path),
    cmdline: manifest.kernel.cmdline,
  };
}

/** One `VMM-GUEST key=value …` report of the guest's /init, its values as numbers. */
export function parseReport(line: string): Record<string, number> | undefined {
  if (!line.startsWith('VMM-GUEST ')) return undefined;
  const out: Record<string, number> = {};
  for (const pair of line.slice('VMM-GUEST '.length).split(' ')) {
    const [key, value] = pair.split('=');
    if (key !== undefined && value !== undefined && value !== '') out[key] = Number(value);
  }
  return out;
}
