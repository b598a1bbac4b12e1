/**
 * The Linux guest for the tests that boot one in v86: the fixtures `npm run guest:fetch` builds
 * from Debian's packages (scripts/guest-fixtures/), found through their manifest.
 *
 * ```ts
 * test('the real driver inflates', async (t) => {
 *   const guest = guestOrSkip(t);
 *   if (guest === undefined) return;
 *   const emulator = new V86({ ...v86Images(guest), memory_size: 128 << 20, autostart: true });
 *   emulator.add_listener('serial0-output-byte', …); // lines for parseGuestLine
 * });
 * ```
 *
 * Design notes:
 * - Building the guest needs root and apt, which a developer's machine may not have. Where the
 *   manifest is missing, the tests skip with a loud message, never pass; with
 *   VMM_METRICS_REQUIRE_GUEST=1 (which `.ci/run` sets, after fetching) they fail instead, so CI
 *   cannot go green without the guest.
 * - A manifest that is there but broken (a file missing or of another size) fails the test
 *   rather than skipping it: something deleted half the cache, and a skip would hide it.
 * - The manifest is read once per process; the files are read when a test asks for them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { guestDir, readGuestManifest, type GuestManifest } from '../../scripts/guest-fixtures/manifest.js';

export { GUEST_DIR_ENV, guestDir, readGuestManifest, type GuestManifest } from '../../scripts/guest-fixtures/manifest.js';
export {
  parseGuestLine,
  type GuestErrorLine,
  type GuestInitLine,
  type GuestLine,
  type GuestMemoryLine,
  type GuestModulesLine,
  type GuestPciLine,
  type GuestVirtioLine,
} from '../../src/v86/guest-report.js';

/** Set by `.ci/run`: missing fixtures fail the tests that need them instead of skipping them. */
export const REQUIRE_ENV = 'VMM_METRICS_REQUIRE_GUEST';

export const MISSING_MESSAGE = 'SKIPPED: Linux guest fixtures missing — run as root: npm run guest:fetch; .ci/run fetches them';

let cached: { readonly dir: string; readonly manifest: GuestManifest | undefined } | undefined;

/**
 * The fixtures' manifest, every path absolute, or undefined when they have not been built.
 * Throws a GuestManifestError when a manifest is there but does not match its files.
 */
export function guestFixtures(dir: string = guestDir()): GuestManifest | undefined {
  if (cached?.dir !== dir) cached = { dir, manifest: readGuestManifest(dir) };
  return cached.manifest;
}

let warned = false;

/** Prints the skip message on stderr, once per process, where a reader of the test log sees it. */
function warnOnce(message: string): void {
  if (warned) return;
  warned = true;
  process.stderr.write(`\n*** ${message} ***\n\n`);
}

/**
 * The fixtures when they are there; otherwise skips `t` with a loud message (or fails it under
 * VMM_METRICS_REQUIRE_GUEST=1) and returns undefined.
 */
export function guestOrSkip(
  t: Pick<TestContext, 'skip'>,
  dir: string = guestDir(),
  warn: (message: string) => void = warnOnce,
): GuestManifest | undefined {
  const manifest = guestFixtures(dir);
  if (manifest !== undefined) return manifest;
  if (process.env[REQUIRE_ENV] === '1') {
    assert.fail(`Linux guest fixtures missing in ${dir} — run as root: npm run guest:fetch (${REQUIRE_ENV}=1 makes this a failure)`);
  }
  warn(`${MISSING_MESSAGE} (looked in ${dir})`);
  t.skip(MISSING_MESSAGE);
  return undefined;
}

/** A file's bytes as v86 takes an image: `{ buffer: ArrayBuffer }`. */
function image(path: string): { buffer: ArrayBuffer } {
  const bytes = readFileSync(path);
  return { buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
}

/** The options of v86's constructor that boot the guest: BIOS, VGA BIOS, kernel, initramfs and command line. */
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
