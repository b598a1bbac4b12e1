/**
 * Where `npm start -- --guest linux` finds its Linux guest: the fixtures `npm run guest:fetch`
 * builds from Debian's packages (SeaBIOS, the i386 kernel, an initramfs of busybox, the virtio
 * modules and an `/init`), described by their manifest.json.
 *
 * Design notes:
 * - The manifest is read here again rather than imported from scripts/guest-fixtures/manifest.ts:
 *   the package's code is built from src/ alone and ships without the scripts. It reads the same
 *   format (1) with the same checks (every file named is there, of its size); a test keeps the
 *   two readers in agreement.
 * - The folder is `$VMM_METRICS_GUEST_DIR`, or `.cache/guest` in the repository — the nearest
 *   folder above this module holding a package.json, whether it runs from dist/ (`npm start`) or
 *   from the tests' build/.
 * - Nothing here loads v86: the session checks its guest before it binds a port or opens a
 *   metrics file, and fails at once, with what to run, when the guest has not been built.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Overrides the fixtures' folder, as for `npm run guest:fetch` and the tests. */
export const GUEST_DIR_ENV = 'VMM_METRICS_GUEST_DIR';
/** The manifest's format, as scripts/guest-fixtures/manifest.ts writes it. */
const MANIFEST_FORMAT = 1;

/**
 * The guest memory `--guest linux` boots with unless told: Linux reports free pages only with
 * 256 MiB or more (4 MiB blocks, while a zone keeps 32 of them free above its low watermark).
 */
export const LINUX_DEFAULT_MEMORY_MIB = 256;
/** The smallest and largest guests measured here (boot to the first report: 15.6 s at 128 MiB, 24 s at 2 GiB). */
export const LINUX_MEMORY_MIB = { min: 128, max: 2048 } as const;

/** The files that boot the guest in v86, every path absolute. */
export interface LinuxGuestFiles {
  readonly dir: string;
  /** `uname -r` of the guest: 6.1.0-50-686. */
  readonly kernelRelease: string;
  /** A command line that puts the console on ttyS0, where /init reports. */
  readonly cmdline: string;
  readonly bios: string;
  readonly vgaBios: string;
  readonly kernel: string;
  readonly initramfs: string;
}

/** The guest is missing or incomplete; the message says what to run. The session exits with 1. */
export class GuestFixturesError extends Error {
  override name = 'GuestFixturesError';
}

/** The fixtures' folder: `$VMM_METRICS_GUEST_DIR` (relative to the working directory), or the repository's `.cache/guest`. */
export function linuxGuestDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env[GUEST_DIR_ENV];
  return override !== undefined && override !== '' ? resolve(override) : join(packageRoot(), '.cache', 'guest');
}

function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return here;
  }
}

interface ManifestFileJson {
  readonly path?: unknown;
  readonly bytes?: unknown;
}

/** The guest in `dir`; throws a `GuestFixturesError` saying to run `npm run guest:fetch` when it is missing or incomplete. */
export function readLinuxGuest(dir: string = linuxGuestDir()): LinuxGuestFiles {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new GuestFixturesError(
      `--guest linux: no Linux guest in ${dir} (no manifest.json). Build it once, as root: npm run guest:fetch ` +
        `(Debian's kernel, busybox and SeaBIOS, about 10 s), or set ${GUEST_DIR_ENV} to the folder it was built in.`,
    );
  }
  const incomplete = (what: string): GuestFixturesError =>
    new GuestFixturesError(`--guest linux: the Linux guest in ${dir} is unusable (${what}). Build it again, as root: npm run guest:fetch`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw incomplete(`manifest.json: ${(error as Error).message}`);
  }
  if (json['format'] !== MANIFEST_FORMAT) throw incomplete(`manifest.json is of format ${String(json['format'])}, not ${MANIFEST_FORMAT}`);
  const file = (entry: unknown, what: string): string => {
    const { path, bytes } = (entry ?? {}) as ManifestFileJson;
    if (typeof path !== 'string' || typeof bytes !== 'number') throw incomplete(`manifest.json names no ${what}`);
    const full = isAbsolute(path) ? path : join(dir, path);
    if (!existsSync(full)) throw incomplete(`${what} ${full} is missing`);
    const size = statSync(full).size;
    if (size !== bytes) throw incomplete(`${what} ${full} is ${size} bytes, the manifest says ${bytes}`);
    return full;
  };
  const kernel = (json['kernel'] ?? {}) as { release?: unknown; image?: unknown; cmdline?: unknown };
  if (typeof kernel.release !== 'string' || typeof kernel.cmdline !== 'string') throw incomplete('manifest.json has no kernel release or command line');
  return {
    dir,
    kernelRelease: kernel.release,
    cmdline: kernel.cmdline,
    bios: file(json['bios'], 'bios'),
    vgaBios: file(json['vgaBios'], 'vgaBios'),
    kernel: file(kernel.image, 'kernel.image'),
    initramfs: file(json['initramfs'], 'initramfs'),
  };
}
