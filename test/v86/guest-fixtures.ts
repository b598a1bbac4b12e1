/**
 * Test support: the Linux guest that `npm run guest:fetch` builds (Debian's i386 kernel, an
 * initramfs with busybox, the virtio modules and an /init that reports on ttyS0, SeaBIOS), found
 * through its manifest.json in $VMM_METRICS_GUEST_DIR or .cache/guest, as v86 takes it.
 *
 * A stand-in for the shared helper `test/support/guest-fixtures.ts` (`guestOrSkip`), written on the
 * branch that builds the fixtures: the same folder and manifest, only what these tests need. Where
 * the fixtures are missing, the tests skip with a message that says how to get them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root: this module runs as build/test/v86/guest-fixtures.js. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface GuestImages {
  readonly dir: string;
  readonly kernelRelease: string;
  readonly cmdline: string;
  readonly bios: { buffer: ArrayBuffer };
  readonly vgaBios: { buffer: ArrayBuffer };
  readonly bzimage: { buffer: ArrayBuffer };
  readonly initrd: { buffer: ArrayBuffer };
}

interface ManifestFile {
  readonly path: string;
}

interface Manifest {
  readonly format: number;
  readonly kernel: { readonly release: string; readonly image: ManifestFile; readonly cmdline: string };
  readonly initramfs: ManifestFile;
  readonly bios: ManifestFile;
  readonly vgaBios: ManifestFile;
}

export function guestDir(): string {
  const override = process.env['VMM_METRICS_GUEST_DIR'];
  return override !== undefined && override !== '' ? resolve(override) : join(REPO_ROOT, '.cache', 'guest');
}

/** The guest's images, or the reason they cannot be had. */
export function guestImages(): GuestImages | string {
  const dir = guestDir();
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) return `no guest fixtures at ${dir} (run \`npm run guest:fetch\` as root with apt, or set VMM_METRICS_GUEST_DIR)`;
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  if (manifest.format !== 1) return `${path}: manifest format ${manifest.format}, expected 1 (run \`npm run guest:fetch\` again)`;
  const image = (file: ManifestFile): { buffer: ArrayBuffer } => {
    const bytes = readFileSync(join(dir, file.path));
    return { buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
  };
  return {
    dir,
    kernelRelease: manifest.kernel.release,
    cmdline: manifest.kernel.cmdline,
    bios: image(manifest.bios),
    vgaBios: image(manifest.vgaBios),
    bzimage: image(manifest.kernel.image),
    initrd: image(manifest.initramfs),
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
