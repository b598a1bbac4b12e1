/**
 * The metrics sources of a directory, kept up to date: every `*.json` regular file and every
 * named pipe in it (not in its subdirectories).
 *
 * The directory is listed again on every change `fs.watch` reports and at least every
 * `rescanMs`, since `fs.watch` misses events on some file systems (NFS, some overlays) and may
 * not be available at all.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface DirectoryWatchOptions {
  readonly rescanMs: number;
  readonly signal: AbortSignal;
  /** The sources now in the directory; called after each listing that changed them. */
  readonly onChange: (paths: ReadonlySet<string>) => void;
  readonly log: (message: string) => void;
}

/** Whether a directory entry is a metrics source. */
function isSource(entry: { name: string; isFile(): boolean; isFIFO(): boolean }): boolean {
  return entry.isFIFO() || (entry.isFile() && entry.name.endsWith('.json'));
}

/** How long a change `fs.watch` reports is let settle before listing (a burst of new pipes is one listing). */
const SETTLE_MS = 50;

/** Follows `dir` until `signal` aborts. Never rejects: a directory that cannot be listed is retried. */
export function watchDirectory(dir: string, options: DirectoryWatchOptions): Promise<void> {
  return watchListing(dir, {
    ...options,
    describe: `${dir}: cannot list the directory`,
    list: async () => {
      const entries = await readdir(dir, { withFileTypes: true });
      return new Map(entries.filter(isSource).map((e) => [join(dir, e.name), undefined]));
    },
    onChange: (paths) => {
      options.onChange(new Set(paths.keys()));
    },
  });
}

export interface ListingWatchOptions {
  readonly rescanMs: number;
  readonly signal: AbortSignal;
  /** What is there now: each path, and a name for it (a glob's `*`) or undefined. Rejects when it cannot be listed. */
  readonly list: () => Promise<Map<string, string | undefined>>;
  /** Said (once until a listing succeeds again) before the reason a listing failed. */
  readonly describe: string;
  readonly onChange: (paths: ReadonlyMap<string, string | undefined>) => void;
  readonly log: (message: string) => void;
}

/**
 * Calls `list` now, on every entry added or removed in `dir` that `fs.watch` reports, and at
 * least every `rescanMs`, and reports what changed; until `signal` aborts. Never rejects.
 */
export async function watchListing(dir: string, options: ListingWatchOptions): Promise<void> {
  const { signal } = options;
  let current = new Map<string, string | undefined>();
  let watcher: FSWatcher | undefined;
  let wake: (() => void) | undefined;
  let changed = false;
  // Read through a call: the watcher sets it between awaits, which narrowing cannot see.
  const changedSinceListing = (): boolean => changed;
  const onWatch = (event: string): void => {
    // Every write into a followed pipe or file is a 'change' (a thousand a second in a fleet);
    // only a 'rename' adds or removes an entry.
    if (event !== 'rename') return;
    changed = true;
    wake?.();
  };
  const startWatching = (): void => {
    try {
      const started = watch(dir, { persistent: false }, onWatch);
      // An error (the directory removed) ends this watch; the rescans go on and start another.
      started.on('error', () => {
        started.close();
        if (watcher === started) watcher = undefined;
      });
      watcher = started;
    } catch {
      watcher = undefined;
    }
  };
  let failing = false;
  try {
    while (!signal.aborted) {
      changed = false;
      let listed: Map<string, string | undefined> | undefined;
      try {
        listed = await options.list();
        failing = false;
      } catch (error) {
        if (!failing) options.log(`${options.describe}: ${error instanceof Error ? error.message : String(error)}; trying again`);
        failing = true;
        watcher?.close();
        watcher = undefined;
      }
      if (listed !== undefined) {
        if (!sameMap(listed, current)) {
          current = listed;
          options.onChange(current);
        }
        if (watcher === undefined) startWatching();
      }
      await pause(changedSinceListing() ? SETTLE_MS : options.rescanMs, signal, (w) => {
        wake = w;
      });
      wake = undefined;
      if (changedSinceListing()) await pause(SETTLE_MS, signal, () => undefined);
    }
  } finally {
    watcher?.close();
  }
}

/** Waits `ms`, or until the waker handed to `setWaker` is called, or `signal` aborts. */
function pause(ms: number, signal: AbortSignal, setWaker: (wake: () => void) => void): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
    setWaker(done);
  });
}

function sameMap(a: ReadonlyMap<string, string | undefined>, b: ReadonlyMap<string, string | undefined>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (!b.has(key) || b.get(key) !== value) return false;
  return true;
}
