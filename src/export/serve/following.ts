/**
 * The sources a fleet follows: paths named one by one (`follow`) and the `*.json` files and named
 * pipes of followed directories, each a `FollowedSource` started once and stopped once.
 *
 * A path both named and found in directories is followed once, and until it is neither: it is
 * dropped (its VM's series with it) when it is unfollowed and no followed directory holds it, or
 * when it leaves the last directory that held it and was never named.
 */
import { watchDirectory } from './directory.js';
import { FollowedSource, type FollowOptions } from './followed-source.js';

export const DEFAULT_SERVE_POLL_MS = 1000;
export const DEFAULT_RESCAN_MS = 2000;

/** Each source's options, and how often a followed directory is listed again besides the changes `fs.watch` reports. */
export interface FollowingOptions extends FollowOptions {
  readonly rescanMs: number;
}

interface Followed {
  readonly source: FollowedSource;
  /** Why it is followed: named (`follow`) and/or found in directories. */
  named: boolean;
  readonly dirs: Set<string>;
}

export class FollowedSources {
  readonly #options: FollowingOptions;
  readonly #sources = new Map<string, Followed>();
  readonly #dirs = new Map<string, AbortController>();
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
    return followed.dirs.size === 0 ? this.#drop(path, followed) : Promise.resolve();
  }

  /** Follows every `*.json` file and named pipe in `dir`, now and as they come and go. */
  followDirectory(dir: string): void {
    if (this.#dirs.has(dir)) return;
    const stop = new AbortController();
    this.#dirs.set(dir, stop);
    const watching = watchDirectory(dir, {
      rescanMs: this.#options.rescanMs,
      signal: stop.signal,
      log: (message) => {
        this.#options.log(`dir ${dir}`, message);
      },
      onChange: (paths) => {
        this.#directoryListed(dir, paths);
      },
    }).finally(() => this.#stopping.delete(watching));
    this.#stopping.add(watching);
  }

  /** Stops following everything; resolves once every path and directory watch is closed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#dirs.values()) stop.abort();
    this.#dirs.clear();
    for (const [path, followed] of [...this.#sources]) void this.#drop(path, followed);
    await Promise.all([...this.#stopping]);
  }

  #directoryListed(dir: string, paths: ReadonlySet<string>): void {
    if (this.#closed) return;
    for (const path of paths) {
      const followed = this.#sources.get(path);
      if (followed !== undefined) followed.dirs.add(dir);
      else this.#start(path, false, dir);
    }
    for (const [path, followed] of [...this.#sources]) {
      if (!followed.dirs.has(dir) || paths.has(path)) continue;
      followed.dirs.delete(dir);
      if (followed.dirs.size === 0 && !followed.named) void this.#drop(path, followed);
    }
  }

  #start(path: string, named: boolean, dir: string | undefined): void {
    const source = new FollowedSource(path, {
      plan: this.#options.plan,
      pollIntervalMs: this.#options.pollIntervalMs,
      maxLineBytes: this.#options.maxLineBytes,
      strict: this.#options.strict,
      log: this.#options.log,
      ...(this.#options.deviceLimits === undefined ? {} : { deviceLimits: this.#options.deviceLimits }),
      // A directory's listing matched a file or a pipe, never a link: a name later made a link is not followed.
      noFollow: !named,
    });
    this.#sources.set(path, { source, named, dirs: new Set(dir === undefined ? [] : [dir]) });
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
