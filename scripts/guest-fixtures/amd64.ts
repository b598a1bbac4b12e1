/**
 * The amd64 guest `vmm-metrics/kvm` boots, built by `npm run guest:fetch` after the i386 one, in
 * <guest dir>/amd64 (see amd64-manifest.ts), from Debian's packages for this machine's own
 * architecture:
 *
 * - the kernel `linux-image-amd64` depends on, its bzImage as packaged and the vmlinux (ELF)
 *   inside it, decompressed here with xz(1) or zstd(1) — Firecracker boots vmlinux on x86_64,
 *   and so does this VMM (a bzImage's self-decompression is slow where KVM emulates the guest);
 * - `busybox-static:amd64`;
 * - `virtio_mmio` and `virtio_balloon` with their dependencies, in the order their `depends=`
 *   give (Debian builds CONFIG_VIRTIO_MMIO=m; the devices are found through ACPI);
 * - `memhog` (memhog.ts), compiled here with `gcc -static`;
 * - /init: the i386 guest's, with one step more — with `vmm_memhog_mib=N` on the kernel command
 *   line it runs `memhog N` once the modules are loaded, before the reports start.
 *
 * Cached like the i386 guest: the packages' SHA-256s and this folder's code make the inputs
 * hash, and the same hash with the files there means nothing to do.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { AptError, kernelPackageOf, packageInfoOf, parseStanzas, runOrThrow, type PackageInfo, type Stanza } from './apt.js';
import { AMD64_MANIFEST_FORMAT, readKvmGuestManifest, type KvmGuestManifest, type KvmGuestManifestJson } from './amd64-manifest.js';
import { debFileName, downloadDebs, extractDebs } from './debs.js';
import { writeInitramfs } from './initramfs.js';
import { INIT_SCRIPT } from './init.js';
import { describeFile, GuestManifestError, recipeHash } from './manifest.js';
import { buildMemhog } from './memhog.js';

const ARCH = 'amd64';
const FLAVOUR = 'amd64';
/** The transport and the balloon; virtio and virtio_ring come along by depends=. */
export const AMD64_WANTED_MODULES = ['virtio_mmio', 'virtio_balloon'];
/**
 * Firecracker's boot arguments (less `nomodule`: the modules load from the initramfs), the
 * console on COM1, and `quiet`: every console byte is a VM exit.
 */
export const AMD64_CMDLINE = 'console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd quiet';
export const MEMHOG_PATH = 'bin/memhog';

/** /init for amd64: the i386 guest's, with the memhog step before the report loop. */
export const AMD64_INIT_SCRIPT = (() => {
  const marker = 'interval=${vmm_interval_s:-1}';
  if (!INIT_SCRIPT.includes(marker)) throw new Error('init.ts: the report loop moved; amd64.ts inserts memhog before it');
  const step = [
    '# vmm_memhog_mib=N on the kernel command line: touch N MiB and free it, once (npm test on KVM).',
    'if [ -n "${vmm_memhog_mib:-}" ]; then',
    `  /${MEMHOG_PATH} "$vmm_memhog_mib" || fail "memhog $vmm_memhog_mib exited with $?"`,
    'fi',
    '',
  ].join('\n');
  return INIT_SCRIPT.replace(marker, `${step}${marker}`);
})();

interface Amd64Packages {
  readonly kernel: PackageInfo;
  readonly busybox: PackageInfo;
}

function show(spec: string): Stanza {
  const [, name, architecture] = /^([^:=]+)(?::([^=]+))?/.exec(spec) ?? [];
  const stanza = parseStanzas(runOrThrow('apt-cache', ['show', '--no-all-versions', spec])).find(
    (candidate) => candidate.get('Package') === name && (architecture === undefined || candidate.get('Architecture') === architecture),
  );
  if (stanza === undefined) throw new AptError(`apt-cache show ${spec}: no such package in apt's lists`);
  return stanza;
}

export function resolveAmd64Packages(): Amd64Packages {
  const image = kernelPackageOf(show(`linux-image-${FLAVOUR}:${ARCH}`), FLAVOUR);
  const kernelSpec = `${image.name}:${ARCH}${image.operator === '=' && image.version !== undefined ? `=${image.version}` : ''}`;
  const busyboxSpec = `busybox-static:${ARCH}`;
  return { kernel: packageInfoOf(show(kernelSpec), kernelSpec), busybox: packageInfoOf(show(busyboxSpec), busyboxSpec) };
}

function inputsHash(packages: Amd64Packages): string {
  const identity = { format: AMD64_MANIFEST_FORMAT, recipe: recipeHash(), packages: Object.values(packages).map((pkg: PackageInfo) => [pkg.name, pkg.architecture, pkg.version, pkg.sha256]) };
  return `sha256:${createHash('sha256').update(JSON.stringify(identity)).digest('hex')}`;
}

/**
 * The vmlinux inside a bzImage: the payload the setup header locates (payload_offset at 0x248 and
 * payload_length at 0x24c, from the protected-mode code; boot protocol 2.08+), decompressed by
 * its magic (the kernel appends its decompressed size after the stream, hence --single-stream).
 */
export function extractVmlinux(bzImage: Uint8Array): Uint8Array {
  const view = new DataView(bzImage.buffer, bzImage.byteOffset, bzImage.byteLength);
  if (bzImage.length < 0x260 || view.getUint32(0x202, true) !== 0x5372_6448) throw new AptError('the kernel image has no "HdrS" setup header');
  const setupSects = view.getUint8(0x1f1) || 4;
  const start = (setupSects + 1) * 512 + view.getUint32(0x248, true);
  const payload = bzImage.subarray(start, start + view.getUint32(0x24c, true));
  const magic = Buffer.from(payload.subarray(0, 6)).toString('hex');
  const tool = (command: string, args: string[]): Uint8Array => {
    try {
      return execFileSync(command, args, { input: payload, maxBuffer: 1 << 30 });
    } catch (error) {
      throw new AptError(`${command} ${args.join(' ')} on the kernel's payload failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  if (magic === 'fd377a585a00') return tool('xz', ['-dc', '--single-stream']);
  if (magic.startsWith('28b52ffd')) return tool('zstd', ['-dc']);
  if (magic.startsWith('1f8b')) return gunzipSync(payload);
  throw new AptError(`the kernel's payload is compressed in a way this script does not know (magic ${magic})`);
}

function build(dir: string, packages: Amd64Packages, hash: string): KvmGuestManifest {
  const extracted = extractDebs(dir, Object.values(packages) as PackageInfo[]);
  const release = packages.kernel.name.replace(/^linux-image-/, '');
  const kernelRoot = join(extracted, packages.kernel.name);
  const image = join(kernelRoot, 'boot', `vmlinuz-${release}`);
  if (!existsSync(image)) throw new AptError(`${packages.kernel.name} has no boot/vmlinuz-${release}`);
  const vmlinux = join(dir, 'vmlinux');
  writeFileSync(`${vmlinux}.tmp`, extractVmlinux(readFileSync(image)));
  renameSync(`${vmlinux}.tmp`, vmlinux);

  const { file: initramfs, modules: order } = writeInitramfs(dir, {
    kernelRoot,
    kernelPackage: packages.kernel.name,
    release,
    busyboxRoot: join(extracted, packages.busybox.name),
    busyboxPackage: packages.busybox.name,
    wantedModules: AMD64_WANTED_MODULES,
    initScript: AMD64_INIT_SCRIPT,
    extra: [{ kind: 'file', path: MEMHOG_PATH, data: buildMemhog(), mode: 0o755 }],
  });

  const manifest: KvmGuestManifestJson = {
    format: AMD64_MANIFEST_FORMAT,
    inputsHash: hash,
    createdAt: new Date().toISOString(),
    kernel: { release, image: describeFile(dir, image), vmlinux: describeFile(dir, vmlinux), cmdline: AMD64_CMDLINE },
    initramfs: { ...describeFile(dir, initramfs), modules: order },
    packages: (Object.values(packages) as PackageInfo[]).map((pkg) => ({ name: pkg.name, architecture: pkg.architecture, version: pkg.version, sha256: pkg.sha256, deb: join('debs', debFileName(pkg)) })),
  };
  const path = join(dir, 'manifest.json');
  writeFileSync(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  const read = readKvmGuestManifest(dir);
  if (read === undefined) throw new GuestManifestError(`${path} vanished as it was written`);
  return read;
}

export function summarizeAmd64(manifest: KvmGuestManifest): string {
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
  return [
    `manifest   ${join(manifest.dir, 'manifest.json')}`,
    `kernel     ${manifest.kernel.vmlinux.path} (vmlinux, ${mb(manifest.kernel.vmlinux.bytes)}, from ${manifest.kernel.image.path})`,
    `initramfs  ${manifest.initramfs.path} (${mb(manifest.initramfs.bytes)}; busybox, memhog; modules ${manifest.initramfs.modules.join(', ')})`,
    `cmdline    ${manifest.kernel.cmdline}`,
  ]
    .map((line) => `  ${line}`)
    .join('\n');
}

/** Builds the amd64 guest in `dir` unless it is up to date; returns its manifest. apt is known to be usable. */
export function fetchAmd64Guest(dir: string, log: (text: string) => void): KvmGuestManifest {
  const started = performance.now();
  const packages = resolveAmd64Packages();
  const hash = inputsHash(packages);
  let built: KvmGuestManifest | undefined;
  try {
    built = readKvmGuestManifest(dir);
  } catch (error) {
    log(`the amd64 manifest there cannot be used (${error instanceof Error ? error.message : String(error)}); rebuilding`);
  }
  if (built?.inputsHash === hash) {
    log(`amd64 guest up to date, in ${((performance.now() - started) / 1000).toFixed(1)} s:\n${summarizeAmd64(built)}`);
    return built;
  }
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, 'manifest.json'), { force: true });
  downloadDebs(dir, Object.values(packages) as PackageInfo[], log);
  const manifest = build(dir, packages, hash);
  log(`amd64 guest built in ${((performance.now() - started) / 1000).toFixed(1)} s:\n${summarizeAmd64(manifest)}`);
  return manifest;
}
