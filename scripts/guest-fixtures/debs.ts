/**
 * The .deb files of a guest's packages, kept in `<dir>/debs` and checked against apt's SHA-256:
 * one cache per guest (i386 for v86, amd64 for KVM), filled and pruned the same way.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AptError, aptSpec, runOrThrow, type PackageInfo } from './apt.js';
import { sha256File } from './manifest.js';

/** apt-get download's own naming, the epoch's ':' quoted. */
export function debFileName(pkg: PackageInfo): string {
  return `${pkg.name}_${pkg.version.replaceAll(':', '%3a')}_${pkg.architecture}.deb`;
}

/** Downloads what is not in <dir>/debs yet, checks every .deb against apt's SHA-256, and removes older ones. */
export function downloadDebs(dir: string, packages: readonly PackageInfo[], log: (text: string) => void): void {
  const debs = join(dir, 'debs');
  mkdirSync(debs, { recursive: true });
  const missing = packages.filter((pkg) => {
    const file = join(debs, debFileName(pkg));
    return !existsSync(file) || sha256File(file) !== pkg.sha256;
  });
  if (missing.length > 0) {
    const incoming = join(debs, '.incoming');
    rmSync(incoming, { recursive: true, force: true });
    mkdirSync(incoming);
    log(`apt-get download ${missing.map(aptSpec).join(' ')}`);
    // The cache folder is root's; apt's _apt user could not write there, and apt would say so
    // and download as root anyway.
    runOrThrow('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', ...missing.map(aptSpec)], { cwd: incoming });
    const bySha = new Map(readdirSync(incoming).map((name) => [sha256File(join(incoming, name)), name]));
    for (const pkg of missing) {
      const name = bySha.get(pkg.sha256);
      if (name === undefined) throw new AptError(`apt-get download ${aptSpec(pkg)}: no file with the SHA-256 of apt's lists (${pkg.sha256})`);
      renameSync(join(incoming, name), join(debs, debFileName(pkg)));
    }
    rmSync(incoming, { recursive: true, force: true });
  }
  const keep = new Set(packages.map(debFileName));
  for (const name of readdirSync(debs)) if (!keep.has(name)) rmSync(join(debs, name), { recursive: true, force: true });
}

/** Unpacks each package's .deb into `<dir>/extracted/<name>`, afresh; returns that folder. */
export function extractDebs(dir: string, packages: readonly PackageInfo[]): string {
  const root = join(dir, 'extracted');
  rmSync(root, { recursive: true, force: true });
  for (const pkg of packages) {
    const target = join(root, pkg.name);
    mkdirSync(target, { recursive: true });
    runOrThrow('dpkg-deb', ['-x', join(dir, 'debs', debFileName(pkg)), target]);
  }
  return root;
}
