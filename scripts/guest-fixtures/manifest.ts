/**
 * The manifest of the guest fixtures: what `npm run guest:fetch` built, where, and from what.
 *
 * manifest.json sits in the cache folder and names every file relative to that folder, so the
 * folder can be moved or mounted elsewhere; `readGuestManifest` resolves them. It is written
 * last, and removed before anything is rebuilt: a manifest that exists describes files that are
 * complete.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Overrides the cache folder (a path, relative to the working directory or absolute). */
export const GUEST_DIR_ENV = 'VMM_METRICS_GUEST_DIR';
export const MANIFEST_FILE = 'manifest.json';
/** Bumped when the manifest's shape changes; a reader refuses other formats. */
export const MANIFEST_FORMAT = 1;

/** The repository's root: this module runs as build/scripts/guest-fixtures/manifest.js. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The cache folder: $VMM_METRICS_GUEST_DIR, or .cache/guest in the repository. */
export function guestDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env[GUEST_DIR_ENV];
  return override !== undefined && override !== '' ? resolve(override) : join(REPO_ROOT, '.cache', 'guest');
}

/** A Debian package the fixtures came from. */
export interface ManifestPackage {
  readonly name: string;
  readonly architecture: string;
  readonly version: string;
  /** SHA-256 of the .deb, as apt's signed lists give it. */
  readonly sha256: string;
  /** The .deb in the cache folder. */
  readonly deb: string;
}

/** A file the fixtures provide, for a reader to check that it is the one described. */
export interface ManifestFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** manifest.json, as written: paths relative to its folder. */
export interface GuestManifestJson {
  readonly format: typeof MANIFEST_FORMAT;
  /** SHA-256 over the packages' identities and the build recipe: the same value, nothing to do. */
  readonly inputsHash: string;
  readonly createdAt: string;
  readonly kernel: {
    /** `uname -r` of the guest: 6.1.0-50-686. */
    readonly release: string;
    /** The bzImage (v86's `bzimage`). */
    readonly image: ManifestFile;
    /** A command line that puts the console on the first serial port, where /init reports. */
    readonly cmdline: string;
  };
  readonly initramfs: ManifestFile & {
    /** The modules /init loads, in that order. */
    readonly modules: readonly string[];
  };
  /** SeaBIOS for v86: `bios` (128 KiB, below 1 MiB) and `vgaBios` (the Bochs/QEMU std VGA ROM). */
  readonly bios: ManifestFile;
  readonly vgaBios: ManifestFile;
  readonly packages: readonly ManifestPackage[];
}

/** The manifest with every path absolute. */
export interface GuestManifest extends GuestManifestJson {
  /** The folder the manifest was read from. */
  readonly dir: string;
}

/** Thrown when a manifest exists but cannot be used. */
export class GuestManifestError extends Error {
  override readonly name = 'GuestManifestError';
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * The recipe's identity: every module of this folder as built (`.js`), so that any change to how
 * a guest is made builds it again.
 */
export function recipeHash(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const hash = createHash('sha256');
  for (const file of readdirSync(here).filter((name) => name.endsWith('.js')).sort()) {
    hash.update(`${file}\0`).update(readFileSync(join(here, file))).update('\0');
  }
  return hash.digest('hex');
}

/** A fixture's file as a manifest lists it: its path from `dir`, size and SHA-256. */
export function describeFile(dir: string, path: string): ManifestFile {
  return { path: relative(dir, path), bytes: statSync(path).size, sha256: sha256File(path) };
}

function describe(file: unknown, what: string): ManifestFile {
  const candidate = file as Partial<ManifestFile> | null;
  if (typeof candidate?.path !== 'string' || typeof candidate.bytes !== 'number' || typeof candidate.sha256 !== 'string') {
    throw new GuestManifestError(`manifest: ${what} is not { path, bytes, sha256 }`);
  }
  return { path: candidate.path, bytes: candidate.bytes, sha256: candidate.sha256 };
}

/**
 * The manifest in `dir`, its paths made absolute; undefined when there is none. Throws a
 * GuestManifestError when it is unreadable, of another format, or a file it names is missing or
 * of another size (`verify: 'hash'` also compares every file's SHA-256).
 */
export function readGuestManifest(dir: string = guestDir(), options: { verify?: 'size' | 'hash' } = {}): GuestManifest | undefined {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return undefined;
  let json: GuestManifestJson;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as GuestManifestJson;
  } catch (error) {
    throw new GuestManifestError(`${path}: ${String(error)}`);
  }
  if ((json as { format?: unknown }).format !== MANIFEST_FORMAT) {
    throw new GuestManifestError(`${path}: format ${String((json as { format?: unknown }).format)}, expected ${MANIFEST_FORMAT}`);
  }
  const absolute = <T extends ManifestFile>(file: T, what: string): T => {
    describe(file, what);
    const full = isAbsolute(file.path) ? file.path : join(dir, file.path);
    if (!existsSync(full)) throw new GuestManifestError(`${path}: ${what} ${full} is missing`);
    const bytes = statSync(full).size;
    if (bytes !== file.bytes) throw new GuestManifestError(`${path}: ${what} ${full} is ${bytes} bytes, expected ${file.bytes}`);
    if (options.verify === 'hash' && sha256File(full) !== file.sha256) {
      throw new GuestManifestError(`${path}: ${what} ${full} does not match its SHA-256`);
    }
    return { ...file, path: full };
  };
  return {
    ...json,
    dir,
    kernel: { ...json.kernel, image: absolute(json.kernel.image, 'kernel.image') },
    initramfs: absolute(json.initramfs, 'initramfs'),
    bios: absolute(json.bios, 'bios'),
    vgaBios: absolute(json.vgaBios, 'vgaBios'),
    packages: json.packages.map((pkg) => ({ ...pkg, deb: join(dir, pkg.deb) })),
  };
}
