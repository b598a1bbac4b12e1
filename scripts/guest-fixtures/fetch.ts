/**
 * `npm run guest:fetch`: builds the Linux guest the v86 tests boot, from Debian's packages.
 *
 * 1. Adds the i386 architecture to dpkg when missing, and runs `apt-get update` only when apt
 *    cannot answer without it (no i386 lists yet, or lists so old that a download fails).
 * 2. Resolves the candidates: `seabios`, the kernel that `linux-image-686:i386` depends on, and
 *    `busybox-static:i386`; their versions and SHA-256s, with this script's own code, make the
 *    inputs hash. The same hash as the manifest's, and the files there: nothing to do.
 * 3. `apt-get download`s them into <dir>/debs (a .deb already there with the right SHA-256 is
 *    kept), extracts each with `dpkg-deb -x` into <dir>/extracted/<package>, and builds
 *    <dir>/initramfs.cpio.gz: busybox, the virtio modules in dependency order, and /init.
 * 4. Writes <dir>/manifest.json (see manifest.ts) and prints where everything is.
 * 5. Builds the amd64 guest of `vmm-metrics/kvm` in <dir>/amd64 the same way (amd64.ts).
 *
 * <dir> is .cache/guest in the repository (git-ignored), or $VMM_METRICS_GUEST_DIR. Nothing it
 * holds is committed: the kernel and busybox are GPL, SeaBIOS LGPL.
 *
 * Exit status: 0 built or already there; 77 apt cannot be had here (not root, or no apt), with
 * nothing built (the tests that need the guest then skip loudly); 1 anything else.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AptError,
  AptUnavailableError,
  checkAptAvailable,
  kernelPackageOf,
  packageInfoOf,
  parseStanzas,
  runEchoed,
  runOrThrow,
  type PackageInfo,
  type Stanza,
} from './apt.js';
import { fetchAmd64Guest } from './amd64.js';
import { AMD64_SUBDIR } from './amd64-manifest.js';
import { debFileName, downloadDebs, extractDebs } from './debs.js';
import { writeInitramfs } from './initramfs.js';
import { INIT_SCRIPT } from './init.js';
import {
  describeFile,
  GuestManifestError,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  guestDir,
  readGuestManifest,
  recipeHash,
  type GuestManifest,
  type GuestManifestJson,
} from './manifest.js';

/** The exit status when apt cannot be had here. 77 is what automake's test drivers read as "skipped". */
export const EXIT_APT_UNAVAILABLE = 77;

const ARCH = 'i386';
/** Debian's i386 flavour that needs no PAE: plain 32-bit paging, the least an emulator must offer (686-pae was not tried in v86). */
const FLAVOUR = '686';
const KERNEL_METAPACKAGE = `linux-image-${FLAVOUR}:${ARCH}`;
/** The transport (virtio_pci and its two halves) and the balloon; their dependencies come along by `depends=`. */
const WANTED_MODULES = ['virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_balloon'];
/**
 * console=ttyS0: the kernel's messages and /init's lines on the first serial port, which v86
 * hands to `serial0-output-byte`. quiet: fewer kernel messages there, each of which costs boot
 * time when the UART is emulated byte by byte.
 */
const CMDLINE = 'console=ttyS0 quiet';
/**
 * v86 copies the BIOS to the top of the first MiB and its VGA ROM to 0xC0000, so the BIOS must be
 * the 128 KiB bios.bin (bios-256k.bin would reach down into the VGA ROM), and the VGA ROM the
 * one for the Bochs/QEMU standard VGA (PCI 1234:1111) that v86 emulates. v86's own
 * seabios.bin/vgabios.bin are SeaBIOS 1.16.2 built for QEMU with the Bochs std VGA, the release
 * and configuration of Debian bookworm's package.
 */
const BIOS_FILE = 'usr/share/seabios/bios.bin';
const VGA_BIOS_FILE = 'usr/share/seabios/vgabios-stdvga.bin';

const log = (text: string): void => {
  process.stdout.write(`guest:fetch: ${text}\n`);
};

interface Packages {
  readonly seabios: PackageInfo;
  readonly kernel: PackageInfo;
  readonly busybox: PackageInfo;
}

/**
 * The candidates' stanzas, one per spec (`name`, `name:arch` or `name:arch=version`), from one
 * apt-cache run: where apt keeps no binary cache (Debian's container images turn it off), each
 * run rebuilds it, about a second.
 */
function show(specs: readonly string[]): Stanza[] {
  const stanzas = parseStanzas(runOrThrow('apt-cache', ['show', '--no-all-versions', ...specs]));
  return specs.map((spec) => {
    const [, name, architecture, version] = /^([^:=]+)(?::([^=]+))?(?:=(.+))?$/.exec(spec) ?? [];
    const found = stanzas.find(
      (stanza) =>
        stanza.get('Package') === name &&
        (architecture === undefined || stanza.get('Architecture') === architecture) &&
        (version === undefined || stanza.get('Version') === version),
    );
    if (found === undefined) throw new AptError(`apt-cache show ${spec}: no such package in apt's lists`);
    return found;
  });
}

function resolvePackages(): Packages {
  const busyboxSpec = `busybox-static:${ARCH}`;
  const [metapackage, seabios, busybox] = show([KERNEL_METAPACKAGE, 'seabios', busyboxSpec]) as [Stanza, Stanza, Stanza];
  const image = kernelPackageOf(metapackage, FLAVOUR);
  const kernelSpec = `${image.name}:${ARCH}${image.operator === '=' && image.version !== undefined ? `=${image.version}` : ''}`;
  const [kernel] = show([kernelSpec]) as [Stanza];
  return {
    seabios: packageInfoOf(seabios, 'seabios'),
    kernel: packageInfoOf(kernel, kernelSpec),
    busybox: packageInfoOf(busybox, busyboxSpec),
  };
}

/** Adds the i386 architecture when dpkg lacks it; true when it was added (its lists are then missing). */
function ensureArchitecture(): boolean {
  const foreign = runOrThrow('dpkg', ['--print-foreign-architectures']).split('\n').map((line) => line.trim());
  if (foreign.includes(ARCH) || runOrThrow('dpkg', ['--print-architecture']).trim() === ARCH) return false;
  log(`dpkg --add-architecture ${ARCH}`);
  runOrThrow('dpkg', ['--add-architecture', ARCH]);
  return true;
}

function aptUpdate(): void {
  log('apt-get update');
  const status = runEchoed('apt-get', ['update', '-q']);
  // A mirror caught mid-sync fails one index and serves the rest; what follows finds out whether
  // the packages can be had, and says so if not.
  if (status !== 0) log(`apt-get update exited with ${status}; going on with the lists apt has`);
}

/** This script's own compiled code: a change to how the guest is built rebuilds it. */
function inputsHash(packages: Packages): string {
  const identity = {
    format: MANIFEST_FORMAT,
    recipe: recipeHash(),
    packages: Object.values(packages).map((pkg: PackageInfo) => [pkg.name, pkg.architecture, pkg.version, pkg.sha256]),
  };
  return `sha256:${createHash('sha256').update(JSON.stringify(identity)).digest('hex')}`;
}

function build(dir: string, packages: Packages, hash: string): GuestManifest {
  const extracted = extractDebs(dir, Object.values(packages) as PackageInfo[]);
  const release = packages.kernel.name.replace(/^linux-image-/, '');
  const kernelRoot = join(extracted, packages.kernel.name);
  const image = join(kernelRoot, 'boot', `vmlinuz-${release}`);
  if (!existsSync(image)) throw new AptError(`${packages.kernel.name} has no boot/vmlinuz-${release}`);
  const seabios = join(extracted, packages.seabios.name);
  for (const file of [BIOS_FILE, VGA_BIOS_FILE]) {
    if (!existsSync(join(seabios, file))) throw new AptError(`${packages.seabios.name} ${packages.seabios.version} has no ${file}`);
  }
  const initramfs = writeInitramfs(dir, {
    kernelRoot,
    kernelPackage: packages.kernel.name,
    release,
    busyboxRoot: join(extracted, packages.busybox.name),
    busyboxPackage: packages.busybox.name,
    wantedModules: WANTED_MODULES,
    initScript: INIT_SCRIPT,
  });

  const manifest: GuestManifestJson = {
    format: MANIFEST_FORMAT,
    inputsHash: hash,
    createdAt: new Date().toISOString(),
    kernel: { release, image: describeFile(dir, image), cmdline: CMDLINE },
    initramfs: { ...describeFile(dir, initramfs.file), modules: initramfs.modules },
    bios: describeFile(dir, join(seabios, BIOS_FILE)),
    vgaBios: describeFile(dir, join(seabios, VGA_BIOS_FILE)),
    packages: (Object.values(packages) as PackageInfo[]).map((pkg) => ({
      name: pkg.name,
      architecture: pkg.architecture,
      version: pkg.version,
      sha256: pkg.sha256,
      deb: join('debs', debFileName(pkg)),
    })),
  };
  const path = join(dir, MANIFEST_FILE);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  const read = readGuestManifest(dir);
  if (read === undefined) throw new GuestManifestError(`${path} vanished as it was written`);
  return read;
}

function summary(manifest: GuestManifest): string {
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
  const pkg = (name: string): string => {
    const found = manifest.packages.find((candidate) => candidate.name === name);
    return found === undefined ? name : `${found.name} ${found.version}`;
  };
  const kernelPackage = `linux-image-${manifest.kernel.release}`;
  return [
    `manifest   ${join(manifest.dir, MANIFEST_FILE)}`,
    `kernel     ${manifest.kernel.image.path} (${mb(manifest.kernel.image.bytes)}; ${pkg(kernelPackage)})`,
    `initramfs  ${manifest.initramfs.path} (${mb(manifest.initramfs.bytes)}; ${pkg('busybox-static')}; modules ${manifest.initramfs.modules.join(', ')})`,
    `bios       ${manifest.bios.path}`,
    `vga bios   ${manifest.vgaBios.path} (${pkg('seabios')})`,
    `cmdline    ${manifest.kernel.cmdline}`,
  ]
    .map((line) => `  ${line}`)
    .join('\n');
}

function existing(dir: string): GuestManifest | undefined {
  try {
    return readGuestManifest(dir);
  } catch (error) {
    log(`the manifest there cannot be used (${error instanceof Error ? error.message : String(error)}); rebuilding`);
    return undefined;
  }
}

/** Runs the fetch; returns the exit status. */
export function main(): number {
  const started = performance.now();
  const dir = guestDir();
  try {
    checkAptAvailable();
  } catch (error) {
    if (!(error instanceof AptUnavailableError)) throw error;
    const built = existing(dir);
    if (built !== undefined) {
      log(`apt cannot be used here (${error.message}), so the packages were not checked for updates; the fixtures built earlier are there:\n${summary(built)}`);
      return 0;
    }
    process.stderr.write(
      `\n*** guest:fetch: cannot build the Linux guest fixtures: ${error.message}.\n` +
        `*** The tests that boot the guest will be SKIPPED (they fail instead under VMM_METRICS_REQUIRE_GUEST=1).\n` +
        `*** Run as root on Debian or Ubuntu: npm run guest:fetch (.ci/run does).\n\n`,
    );
    return EXIT_APT_UNAVAILABLE;
  }

  let updated = false;
  if (ensureArchitecture()) {
    aptUpdate();
    updated = true;
  }
  const resolve = (): Packages => {
    try {
      return resolvePackages();
    } catch (error) {
      if (updated || !(error instanceof AptError)) throw error;
      log(`apt cannot resolve the packages yet (${error.message.split('\n')[0] ?? ''})`);
      aptUpdate();
      updated = true;
      return resolvePackages();
    }
  };
  let packages = resolve();
  let hash = inputsHash(packages);
  const built = existing(dir);
  if (built?.inputsHash === hash) {
    log(`up to date (same packages, same recipe), in ${((performance.now() - started) / 1000).toFixed(1)} s:\n${summary(built)}`);
    fetchAmd64Guest(join(dir, AMD64_SUBDIR), log);
    return 0;
  }

  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, MANIFEST_FILE), { force: true });
  try {
    downloadDebs(dir, Object.values(packages) as PackageInfo[], log);
  } catch (error) {
    // Lists older than the mirror name files it no longer has: once, update and start over.
    if (updated || !(error instanceof AptError)) throw error;
    log(`download failed (${error.message.split('\n')[0] ?? ''}); updating the lists and trying again`);
    aptUpdate();
    updated = true;
    packages = resolvePackages();
    hash = inputsHash(packages);
    downloadDebs(dir, Object.values(packages) as PackageInfo[], log);
  }
  const manifest = build(dir, packages, hash);
  log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s:\n${summary(manifest)}`);
  // The amd64 guest of vmm-metrics/kvm, in its own folder (amd64.ts).
  fetchAmd64Guest(join(dir, AMD64_SUBDIR), log);
  return 0;
}

if (process.argv[1] !== undefined && basename(process.argv[1]) === basename(fileURLToPath(import.meta.url))) {
  try {
    process.exitCode = main();
  } catch (error) {
    process.stderr.write(`guest:fetch: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
    process.exitCode = 1;
  }
}
