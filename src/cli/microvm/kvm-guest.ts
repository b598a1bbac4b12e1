/**
 * Where `npm start -- --guest kvm` finds its guest: the amd64 fixtures of `npm run guest:fetch`
 * (<guest dir>/amd64/manifest.json), read with the checks the scripts' reader makes — the
 * package ships without the scripts. Apart from kvm.ts so that the session checks its guest
 * before it loads vmm-metrics/kvm.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { GuestFixturesError, linuxGuestDir } from './guest-fixtures.js';

/** Guest memory unless told: the 1 GiB, a quarter of which (256 MiB) the second target takes. */
export const KVM_DEFAULT_MEMORY_MIB = 1024;
export const KVM_MEMORY_MIB = { min: 128, max: 3072 } as const;

/** The amd64 guest's files, every path absolute. */
export interface KvmGuestFiles {
  readonly kernelRelease: string;
  readonly cmdline: string;
  readonly vmlinux: string;
  readonly initramfs: string;
}

/** The amd64 guest in `<guest dir>/amd64`; a GuestFixturesError saying what to run when it is missing or incomplete. */
export function readKvmGuest(dir: string = join(linuxGuestDir(), 'amd64')): KvmGuestFiles {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new GuestFixturesError(`--guest kvm: no amd64 guest in ${dir}: build it once, as root, with npm run guest:fetch`);
  let json: { format?: unknown; kernel?: { release?: unknown; cmdline?: unknown; vmlinux?: { path?: unknown; bytes?: unknown } }; initramfs?: { path?: unknown; bytes?: unknown } };
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as typeof json;
  } catch (error) {
    throw new GuestFixturesError(`--guest kvm: ${path}: ${String(error)}; run npm run guest:fetch again`);
  }
  const file = (entry: { path?: unknown; bytes?: unknown } | undefined, what: string): string => {
    if (typeof entry?.path !== 'string' || typeof entry.bytes !== 'number') throw new GuestFixturesError(`--guest kvm: ${path}: ${what} is not { path, bytes }; run npm run guest:fetch again`);
    const full = isAbsolute(entry.path) ? entry.path : join(dir, entry.path);
    if (!existsSync(full) || statSync(full).size !== entry.bytes) throw new GuestFixturesError(`--guest kvm: ${full} is missing or not ${entry.bytes} bytes; run npm run guest:fetch again`);
    return full;
  };
  if (json.format !== 1 || typeof json.kernel?.release !== 'string' || typeof json.kernel.cmdline !== 'string') {
    throw new GuestFixturesError(`--guest kvm: ${path} is not a manifest this version reads; run npm run guest:fetch again`);
  }
  return { kernelRelease: json.kernel.release, cmdline: json.kernel.cmdline, vmlinux: file(json.kernel.vmlinux, 'kernel.vmlinux'), initramfs: file(json.initramfs, 'initramfs') };
}
