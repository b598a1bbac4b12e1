/**
 * Debian's packages through apt: what the candidates are, and their .deb files.
 *
 * Everything goes through apt's own clients (apt-cache, apt-get download, dpkg-deb), so the
 * mirror, the proxy and the keys are whatever the machine's apt is set up with, and the download
 * is checked against the signed package lists. Nothing is installed into the host system.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Thrown when apt cannot be had here at all: not root, or no apt. The fetch exits with its own status. */
export class AptUnavailableError extends Error {
  override readonly name = 'AptUnavailableError';
}

/** Thrown when apt is there and a step failed. */
export class AptError extends Error {
  override readonly name = 'AptError';
}

/** One package's stanza of `apt-cache show`: field name to value, continuation lines joined with '\n'. */
export type Stanza = ReadonlyMap<string, string>;

/** The stanzas of a Debian control text (`apt-cache show`, a Packages file, DEBIAN/control). */
export function parseStanzas(text: string): Stanza[] {
  const stanzas: Stanza[] = [];
  let current = new Map<string, string>();
  let last: string | undefined;
  const flush = (): void => {
    if (current.size > 0) stanzas.push(current);
    current = new Map();
    last = undefined;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush();
    } else if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last !== undefined) current.set(last, `${current.get(last) ?? ''}\n${line.slice(1)}`);
    } else {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      last = line.slice(0, colon);
      current.set(last, line.slice(colon + 1).trim());
    }
  }
  flush();
  return stanzas;
}

/** One package relation of a Depends field: `linux-image-6.1.0-50-686 (= 6.1.176-1)`. */
export interface Relation {
  readonly name: string;
  /** `:i386` and the like, when the relation names one. */
  readonly architecture?: string;
  readonly operator?: string;
  readonly version?: string;
}

/** A Depends field as a list of alternatives (`a | b, c` is [[a, b], [c]]). */
export function parseRelations(field: string): Relation[][] {
  return field
    .split(',')
    .map((group) => group.trim())
    .filter((group) => group !== '')
    .map((group) =>
      group.split('|').map((alternative): Relation => {
        const match = /^\s*([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^)\s]+)\s*\))?/.exec(alternative);
        if (match?.[1] === undefined) throw new AptError(`cannot read the relation ${JSON.stringify(alternative.trim())}`);
        return {
          name: match[1],
          ...(match[2] === undefined ? {} : { architecture: match[2] }),
          ...(match[3] === undefined || match[4] === undefined ? {} : { operator: match[3], version: match[4] }),
        };
      }),
    );
}

/**
 * The kernel image package a flavour's metapackage stands for: `linux-image-686` depends on
 * exactly one `linux-image-<abi>-686` at the same version, which is what "the current 686
 * kernel" means in that release.
 */
export function kernelPackageOf(metapackage: Stanza, flavour: string): Relation {
  const field = metapackage.get('Depends');
  if (field === undefined) throw new AptError(`${metapackage.get('Package') ?? 'the metapackage'} has no Depends field`);
  const pattern = new RegExp(`^linux-image-\\d[^ ]*-${flavour}$`);
  const images = parseRelations(field)
    .flat()
    .filter((relation) => pattern.test(relation.name));
  const image = images[0];
  if (image === undefined || images.length > 1) {
    throw new AptError(`expected one linux-image-<version>-${flavour} in Depends: ${field}, found ${images.length}`);
  }
  return image;
}

/** A package as apt's lists describe its candidate: enough to download it and to know it again. */
export interface PackageInfo {
  readonly name: string;
  readonly architecture: string;
  readonly version: string;
  /** The .deb's SHA-256, from the signed package lists: the identity of the input. */
  readonly sha256: string;
  readonly size: number;
}

/** The candidate's fields from its `apt-cache show --no-all-versions` stanza. */
export function packageInfoOf(stanza: Stanza, asked: string): PackageInfo {
  const field = (name: string): string => {
    const value = stanza.get(name);
    if (value === undefined || value === '') throw new AptError(`apt-cache show ${asked}: no ${name} field`);
    return value;
  };
  const sha256 = field('SHA256');
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new AptError(`apt-cache show ${asked}: SHA256 ${sha256} is not a SHA-256`);
  const size = Number(field('Size'));
  if (!Number.isSafeInteger(size) || size <= 0) throw new AptError(`apt-cache show ${asked}: Size ${field('Size')}`);
  return { name: field('Package'), architecture: field('Architecture'), version: field('Version'), sha256, size };
}

/** How a package is named to apt-get: `busybox-static:i386=1:1.35.0-4+deb12u1+b1`. */
export function aptSpec(info: Pick<PackageInfo, 'name' | 'architecture' | 'version'>): string {
  // An Architecture: all package has no qualifier of its own.
  return `${info.name}${info.architecture === 'all' ? '' : `:${info.architecture}`}=${info.version}`;
}

/** Where a command is on PATH (or in the usual system folders), or undefined. */
export function which(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'].filter((dir) => dir !== '');
  for (const dir of dirs) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

/** Checks that this process can use apt as the fetch needs it, or says why not. */
export function checkAptAvailable(): void {
  const missing = ['apt-get', 'apt-cache', 'dpkg', 'dpkg-deb'].filter((command) => which(command) === undefined);
  if (missing.length > 0) {
    throw new AptUnavailableError(`${missing.join(', ')} not found: the guest is built from Debian's packages, which needs a Debian or Ubuntu system with apt`);
  }
  if (process.getuid?.() !== 0) {
    throw new AptUnavailableError('not root: adding the i386 architecture and updating the package lists need root (run it as root, or in CI)');
  }
}

export interface RunResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

// apt's messages in English whatever the locale, as they are reported as they are.
const ENV = { ...process.env, LC_ALL: 'C' };

/** Runs a command to completion, its output collected. */
export function run(command: string, args: readonly string[], options: { cwd?: string } = {}): RunResult {
  const result = spawnSync(command, args, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: ENV,
  });
  if (result.error !== undefined) throw new AptError(`${command}: ${result.error.message}`);
  return { status: result.status ?? 128, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command to completion, its output passed through as it comes (apt-get update's progress, for a CI log); returns its status. */
export function runEchoed(command: string, args: readonly string[]): number {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env: ENV });
  if (result.error !== undefined) throw new AptError(`${command}: ${result.error.message}`);
  return result.status ?? 128;
}

/** Runs a command and returns its standard output, or throws with its standard error. */
export function runOrThrow(command: string, args: readonly string[], options: { cwd?: string } = {}): string {
  const result = run(command, args, options);
  if (result.status !== 0) {
    throw new AptError(`${command} ${args.join(' ')} exited with ${result.status}: ${(result.stderr.trim() || result.stdout.trim()).slice(0, 2000)}`);
  }
  return result.stdout;
}
