/**
 * The manifest of the amd64 guest for `vmm-metrics/kvm`, which `npm run guest:fetch` builds next
 * to the i386 one, in <guest dir>/amd64/manifest.json (its paths relative to that folder, written
 * last, as manifest.ts describes for the i386 one).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { GuestManifestError, guestDir, sha256File, type ManifestFile, type ManifestPackage } from './manifest.js';

export const AMD64_SUBDIR = 'amd64';
export const AMD64_MANIFEST_FORMAT = 1;

/** manifest.json of the amd64 guest, as written. */
export interface KvmGuestManifestJson {
  readonly format: typeof AMD64_MANIFEST_FORMAT;
  readonly inputsHash: string;
  readonly createdAt: string;
  readonly kernel: {
    /** `uname -r`: 6.1.0-57-amd64. */
    readonly release: string;
    /** Debian's bzImage, as packaged. */
    readonly image: ManifestFile;
    /** The uncompressed kernel (ELF) extracted from it: what the VMM boots, as Firecracker does. */
    readonly vmlinux: ManifestFile;
    readonly cmdline: string;
  };
  readonly initramfs: ManifestFile & { readonly modules: readonly string[] };
  readonly packages: readonly ManifestPackage[];
}

export interface KvmGuestManifest extends KvmGuestManifestJson {
  readonly dir: string;
}

/** The amd64 guest's folder: <guest dir>/amd64. */
export function kvmGuestDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(guestDir(env), AMD64_SUBDIR);
}

/**
 * The amd64 manifest in `dir`, paths made absolute; undefined when there is none. Throws a
 * GuestManifestError when it is unreadable or a file it names is missing or of another size
 * (`verify: 'hash'` also compares SHA-256s).
 */
export function readKvmGuestManifest(dir: string = kvmGuestDir(), options: { verify?: 'size' | 'hash' } = {}): KvmGuestManifest | undefined {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) return undefined;
  let json: KvmGuestManifestJson;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as KvmGuestManifestJson;
  } catch (error) {
    throw new GuestManifestError(`${path}: ${String(error)}`);
  }
  if ((json as { format?: unknown }).format !== AMD64_MANIFEST_FORMAT) {
    throw new GuestManifestError(`${path}: format ${String((json as { format?: unknown }).format)}, expected ${AMD64_MANIFEST_FORMAT}`);
  }
  const absolute = <T extends ManifestFile>(file: T | undefined, what: string): T => {
    if (typeof file?.path !== 'string' || typeof file.bytes !== 'number' || typeof file.sha256 !== 'string') {
      throw new GuestManifestError(`${path}: ${what} is not { path, bytes, sha256 }`);
    }
    const full = isAbsolute(file.path) ? file.path : join(dir, file.path);
    if (!existsSync(full)) throw new GuestManifestError(`${path}: ${what} ${full} is missing`);
    const bytes = statSync(full).size;
    if (bytes !== file.bytes) throw new GuestManifestError(`${path}: ${what} ${full} is ${bytes} bytes, expected ${file.bytes}`);
    if (options.verify === 'hash' && sha256File(full) !== file.sha256) throw new GuestManifestError(`${path}: ${what} ${full} does not match its SHA-256`);
    return { ...file, path: full };
  };
  return {
    ...json,
    dir,
    kernel: { ...json.kernel, image: absolute(json.kernel.image, 'kernel.image'), vmlinux: absolute(json.kernel.vmlinux, 'kernel.vmlinux') },
    initramfs: absolute(json.initramfs, 'initramfs'),
    packages: json.packages.map((pkg) => ({ ...pkg, deb: join(dir, pkg.deb) })),
  };
}
