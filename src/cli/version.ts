/**
 * The package's version, as its package.json says: found by the package's own name (a
 * self-reference through the exports map's `./package.json`), so that it is the same file from
 * the repository's dist/ or build/, and from an installed tarball's node_modules/vmm-metrics/.
 * Read with the file system, not imported: JSON modules print an ExperimentalWarning on Node 20.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** `0.1.0`: the version of the package this module belongs to. */
export function packageVersion(): string {
  const path = createRequire(import.meta.url).resolve('vmm-metrics/package.json');
  const { version } = JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown };
  if (typeof version !== 'string') throw new Error(`${path} has no version`);
  return version;
}
