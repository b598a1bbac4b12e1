/**
 * The metrics sources a glob matches, kept up to date: for the jailer's layout, where every VM
 * has a chroot of its own and each writes a pipe of the same name
 * (`/srv/jailer/firecracker/<id>/root/metrics.fifo`), so the VM is told by a folder, not a file.
 *
 * A pattern is a path whose segments may hold `*` (any characters but `/`, none of them a
 * leading `.`) and `?` (one such character); `**`, brackets and braces are not globs here, and a
 * pattern with no wildcard is refused (that is `--metrics-path`). What a match's first `*`
 * matched is its VM's name (`vm="<id>"`). The segments before the first wildcard are the root,
 * which is opened as any path; from there on, a symbolic link is never followed — neither as a
 * folder on the way nor as the match — since whoever runs inside a chroot can put one there. A
 * match is a named pipe or a regular file.
 *
 * The root is listed again on every change `fs.watch` reports in it and at least every
 * `rescanMs`: a VM's chroot appearing is seen at once, a pipe made inside one at the next rescan.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { watchListing } from './directory.js';

/**
 * At most this many matches a glob follows: a glob that reaches into folders others write to
 * must not make serve follow (and keep in memory) whatever number of paths they create.
 */
export const MAX_GLOB_MATCHES = 10_000;

/** A segment of a pattern: a name, or a matcher whose first group is the first `*`'s text. */
type Segment = { readonly literal: string } | { readonly match: RegExp; readonly star: boolean };

export interface GlobPattern {
  readonly pattern: string;
  /** The folder the walk starts from: the segments before the first wildcard. */
  readonly root: string;
  readonly segments: readonly Segment[];
}

/** A pattern as a walk from its root; throws a `TypeError` naming what is wrong. */
export function parseGlob(pattern: string): GlobPattern {
  if (pattern.includes('**')) throw new TypeError(`${JSON.stringify(pattern)}: ** is not supported (a * matches within one folder name)`);
  if (/[[\]{}]/.test(pattern)) throw new TypeError(`${JSON.stringify(pattern)}: only * and ? are wildcards here (no [ ] or { })`);
  const parts = pattern.split('/');
  const first = parts.findIndex((p) => /[*?]/.test(p));
  if (first < 0) throw new TypeError(`${JSON.stringify(pattern)}: no * or ? in it (a single path is --metrics-path)`);
  const rootParts = parts.slice(0, first);
  const root = rootParts.length === 0 ? '.' : rootParts.length === 1 && rootParts[0] === '' ? '/' : rootParts.join('/');
  let starSeen = false;
  const segments = parts.slice(first).map((part): Segment => {
    if (part === '' || part === '.' || part === '..') throw new TypeError(`${JSON.stringify(pattern)}: an empty, . or .. folder after the first wildcard`);
    if (!/[*?]/.test(part)) return { literal: part };
    const star = !starSeen && part.includes('*');
    let source = '';
    let captured = false;
    for (const char of part) {
      if (char === '*') {
        source += star && !captured ? '([^/]*)' : '[^/]*';
        captured ||= star;
      } else if (char === '?') source += '[^/]';
      else source += char.replace(/[.+^$()|\\]/g, '\\$&');
    }
    starSeen ||= star;
    return { match: new RegExp(`^${/^[*?]/.test(part) ? '(?!\\.)' : ''}${source}$`), star };
  });
  return { pattern, root, segments };
}

/**
 * What `glob` matches now: each path and its VM's name (the first `*`'s text; undefined when
 * the pattern has only `?`). Folders that vanish during the walk are skipped; a root that cannot
 * be read rejects. Stops at `MAX_GLOB_MATCHES` (`truncated`).
 */
export async function listGlob(glob: GlobPattern): Promise<{ readonly matches: Map<string, string | undefined>; readonly truncated: boolean }> {
  const matches = new Map<string, string | undefined>();
  // The root must be readable: that is what makes a pattern "failing" rather than empty.
  await readdir(glob.root);
  let truncated = false;
  const walk = async (dir: string, index: number, name: string | undefined): Promise<void> => {
    const segment = glob.segments[index] as Segment;
    const last = index === glob.segments.length - 1;
    let found: { path: string; name: string | undefined }[] = [];
    if ('literal' in segment) {
      found = [{ path: join(dir, segment.literal), name }];
    } else {
      const entries = await readdir(dir).catch(() => [] as string[]);
      for (const entry of entries) {
        const m = segment.match.exec(entry);
        if (m !== null) found.push({ path: join(dir, entry), name: segment.star ? m[1] : name });
      }
    }
    for (const { path, name: vm } of found) {
      if (matches.size >= MAX_GLOB_MATCHES) {
        truncated = true;
        return;
      }
      const stats = await lstat(path).catch(() => undefined);
      if (stats === undefined) continue;
      if (last) {
        if (stats.isFIFO() || stats.isFile()) matches.set(path, vm);
      } else if (stats.isDirectory()) {
        await walk(path, index + 1, vm);
      }
    }
  };
  await walk(glob.root, 0, undefined);
  return { matches, truncated };
}

export interface GlobWatchOptions {
  readonly rescanMs: number;
  readonly signal: AbortSignal;
  /** The matches now, with their VM names; called after each listing that changed them. */
  readonly onChange: (matches: ReadonlyMap<string, string | undefined>) => void;
  readonly log: (message: string) => void;
}

/** Follows `glob` until `signal` aborts. Never rejects: a root that cannot be read is retried. */
export async function watchGlob(glob: GlobPattern, options: GlobWatchOptions): Promise<void> {
  let saidTruncated = false;
  await watchListing(glob.root, {
    rescanMs: options.rescanMs,
    signal: options.signal,
    log: options.log,
    describe: `${glob.pattern}: cannot list ${glob.root}`,
    list: async () => {
      const { matches, truncated } = await listGlob(glob);
      if (truncated && !saidTruncated) options.log(`${glob.pattern}: more than ${String(MAX_GLOB_MATCHES)} matches; only the first ${String(MAX_GLOB_MATCHES)} are followed`);
      saidTruncated = truncated;
      return matches;
    },
    onChange: options.onChange,
  });
}
