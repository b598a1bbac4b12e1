/**
 * The sources a fleet follows: paths named one by one (`follow`) and the `*.json` files and named
 * pipes of followed directories, each a `FollowedSource` started once and stopped once.
 *
 * A path both named and found in directories is followed once, and until it is neither: it is
 * dropped (its VM's series with it) when it is unfollowed and no followed directory holds it, or
 * when it leaves the last directory that held it and was never named. A path found is opened
 * only if it is no symbolic link.
 */
import { watchDirectory } from './directory.js';
import { parseGlob, watchGlob } from './glob.js';
import { FollowedSource, type FollowOptions } from './followed-source.js';

export const DEFAULT_SERVE_POLL_MS = 1000;
export const DEFAULT_RESCAN_MS = 2000;

/** Each source's options, and how often a followed directory is listed again besides the changes `fs.watch` reports. */
export interface FollowingOptions extends Omit<FollowOptions, 'noFollow' | 'vmName'> {
  readonly rescanMs: number;
}

interface Followed {
  readonly source: FollowedSource;
  /** Why it is followed: named (`follow`) and/or found by directories and globs (by their key). */
  named: boolean;
  readonly foundBy: Set<string>;
}

export class FollowedSources {
  readonly #options: FollowingOptions;
  readonly #sources = new Map<string, Followed>();
  /** The directories and globs followed, by key (`dir <path>`, `glob <pattern>`). */
  readonly #watches = new Map<string, AbortController>();
  readonly #stopping = new Set<Promise<void>>();
  #removed = 0;
  /** Bumped when a source is added or dropped. */
  #changes = 0;
  #closed = false;

  constructor(options: FollowingOptions) {
    this.#options = options;
  }

  /** Whether `close()` was called: nothing more is followed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The sources followed now, in the order they were first followed. */
  list(): FollowedSource[] {
    return [...this.#sources.values()].map((f) => f.source);
  }

  /** The sources followed now, by path. */
  byPath(): Map<string, FollowedSource> {
    return new Map([...this.#sources].map(([path, f]) => [path, f.source]));
  }

  /** Changes to the set of sources, since the start. */
  get changes(): number {
    return this.#changes;
  }

  /** Sources no longer followed, since the start. */
  get removed(): number {
    return this.#removed;
  }

  /** Follows one file or named pipe (it need not exist yet). */
  follow(path: string): void {
    const followed = this.#sources.get(path);
    if (followed !== undefined) followed.named = true;
    else this.#start(path, true, undefined);
  }

  /** Stops following `path`, unless a followed directory holds it. */
  unfollow(path: string): Promise<void> {
    const followed = this.#sources.get(path);
    if (followed === undefined) return Promise.resolve();
    followed.named = false;
    return followed.foundBy.size === 0 ? this.#drop(path, followed) : Promise.resolve();
  }

  /** Follows every `*.json` file and named pipe in `dir`, now and as they come and go. */
  followDirectory(dir: string): void {
    const key = `dir ${dir}`;
    if (this.#watches.has(key)) return;
    const stop = new AbortController();
    this.#watches.set(key, stop);
    this.#keep(
      watchDirectory(dir, {
        rescanMs: this.#options.rescanMs,
        signal: stop.signal,
        log: (message) => {
          this.#options.log(key, message);
        },
        onChange: (paths) => {
          this.#found(key, new Map([...paths].map((path) => [path, undefined])));
        },
      }),
    );
  }

  /**
   * Follows every named pipe and regular file `pattern` matches (see `glob.ts`), now and as they
   * come and go, each named after what the first `*` matched. Throws a `TypeError` for a bad pattern.
   */
  followGlob(pattern: string): void {
    const glob = parseGlob(pattern);
    const key = `glob ${pattern}`;
    if (this.#watches.has(key)) return;
    const stop = new AbortController();
    this.#watches.set(key, stop);
    this.#keep(
      watchGlob(glob, {
        rescanMs: this.#options.rescanMs,
        signal: stop.signal,
        log: (message) => {
          this.#options.log(key, message);
        },
        onChange: (matches) => {
          this.#found(key, matches);
        },
      }),
    );
  }

  /** Stops following everything; resolves once every path and directory watch is closed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#watches.values()) stop.abort();
    this.#watches.clear();
    for (const [path, followed] of [...this.#sources]) void this.#drop(path, followed);
    await Promise.all([...this.#stopping]);
  }

  #keep(watching: Promise<void>): void {
    const kept = watching.finally(() => this.#stopping.delete(kept));
    this.#stopping.add(kept);
  }

  /** What the directory or glob `key` holds now: each path, and its `vm` name when it has one. */
  #found(key: string, paths: ReadonlyMap<string, string | undefined>): void {
    if (this.#closed) return;
    for (const [path, vmName] of paths) {
      const followed = this.#sources.get(path);
      if (followed !== undefined) followed.foundBy.add(key);
      else this.#start(path, false, key, vmName);
    }
    for (const [path, followed] of [...this.#sources]) {
      if (!followed.foundBy.has(key) || paths.has(path)) continue;
      followed.foundBy.delete(key);
      if (followed.foundBy.size === 0 && !followed.named) void this.#drop(path, followed);
    }
  }

  #start(path: string, named: boolean, foundBy: string | undefined, vmName?: string): void {
    const { served, schema, require, pollIntervalMs, maxLineBytes, strict, log, deviceLimits } = this.#options;
    // A path found by listing is opened only if it is no link: whoever can write into the folder
    // could otherwise point serve at any file it may read.
    const source = new FollowedSource(path, {
      served, schema, require, pollIntervalMs, maxLineBytes, strict, log, noFollow: !named, vmName,
      ...(deviceLimits === undefined ? {} : { deviceLimits }),
    });
    this.#sources.set(path, { source, named, foundBy: new Set(foundBy === undefined ? [] : [foundBy]) });
    this.#changes++;
  }

  #drop(path: string, followed: Followed): Promise<void> {
    if (this.#sources.get(path) !== followed) return Promise.resolve();
    this.#sources.delete(path);
    this.#removed++;
    this.#changes++;
    const stopped = followed.source.stop().finally(() => this.#stopping.delete(stopped));
    this.#stopping.add(stopped);
    return stopped;
  }
}
