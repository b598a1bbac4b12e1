/**
 * Bytes from a path: a regular file (read once, or followed as it grows) or a named pipe.
 *
 * A followed file is polled: at the end of the file the reader checks it, then every
 * `pollIntervalMs`. If it grew, reading goes on from the last offset. If it shrank (truncated,
 * e.g. by `copytruncate` rotation), reading starts over from offset 0; so it does when the last
 * bytes read (up to 64 KiB) are no longer in the file when it grows or its mtime changes: a file
 * truncated and rewritten to the same size or more between two checks. If another file now has
 * the path (a different inode: replaced or rotated), the rest of the old one is read, then the new
 * one from its start. If the path is gone, the old file is kept until a new one appears.
 * With `noFollow`, a symbolic link at the path is never opened: not at first (an error), and
 * not when the file is replaced by one (the old file is kept, as if the path were gone), so
 * what is read is the file that was found there, not whatever a name later points to.
 *
 * A named pipe is opened read-only and non-blocking and read through the event loop (never a
 * thread-pool read that could block forever). Until a writer opens the pipe nothing happens;
 * when the writer closes it, the reader (when following) opens the pipe again and waits for the
 * next writer, so a restarted writer is picked up.
 *
 * Every handle is closed when the iteration ends, whether it ran out, was stopped with `break`,
 * failed or was aborted.
 */
import { close, constants, createReadStream, open as openCallback, type Stats } from 'node:fs';
import { lstat, open, stat, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** What a source produces: bytes, and marks where the byte stream starts over or breaks. */
export type SourceItem =
  | { readonly type: 'data'; readonly bytes: Buffer }
  /** Before any data: the number of the first line that will be read (1 unless reading starts mid-file). */
  | { readonly type: 'origin'; readonly firstLineNumber: number }
  /** The file was truncated or replaced: what follows is a new file, from its first line. */
  | { readonly type: 'restart'; readonly reason: 'truncated' | 'replaced' }
  /** The pipe's writer closed it: a line not ended by now never will be. */
  | { readonly type: 'writer-closed' };

export interface SourceOptions {
  /**
   * Keep reading: wait for a file to grow, or for the pipe's next writer. Without it, a file is
   * read to its end and a pipe until its first writer closes it.
   * @default false
   */
  readonly follow?: boolean;
  /**
   * Where to start in a regular file: at its beginning; at its last complete line; or after
   * its last complete line (only lines written from now on). A pipe always starts with what
   * arrives next.
   * @default 'beginning'
   */
  readonly start?: 'beginning' | 'last-line' | 'end';
  /**
   * How often a followed file is checked for growth, truncation or replacement.
   * @default 250
   */
  readonly pollIntervalMs?: number;
  /** Stops reading; the iteration then ends without an error. */
  readonly signal?: AbortSignal;
  /**
   * Refuse a path that is a symbolic link, and open it with `O_NOFOLLOW`: for a path in a
   * folder that whoever writes the metrics can change (a jailer's chroot), so that replacing the
   * file with a link cannot point the reader at another file.
   * @default false
   */
  readonly noFollow?: boolean;
}

/** A path could not be opened or read. */
export class MetricsSourceError extends Error {
  override name = 'MetricsSourceError';
  readonly code: string | undefined;

  constructor(
    readonly path: string,
    options: { cause: unknown },
  ) {
    const cause = options.cause;
    super(`Cannot read metrics from ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, options);
    this.code = (cause as NodeJS.ErrnoException | undefined)?.code;
  }
}

export const DEFAULT_POLL_INTERVAL_MS = 250;
const CHUNK_BYTES = 64 * 1024;
/**
 * The most read at once from a file with that much waiting. Each read is a round trip to the
 * thread pool, 35 to 70 µs here whatever its size (Node 20, 2-core VM): 64 KiB reads of a
 * 94 MB file took 5 to 10 µs per 9.4 kB line, 1 MiB reads 3.3 µs.
 */
const BACKLOG_CHUNK_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

/** The bytes at `path`, as items (see `SourceItem`). */
export async function* readPath(path: string, options: SourceOptions = {}): AsyncGenerator<SourceItem, void, undefined> {
  if (options.signal?.aborted === true) return;
  const stats = await guard(path, options.noFollow === true ? lstat(path) : stat(path));
  if (stats.isDirectory()) throw new MetricsSourceError(path, { cause: new Error('it is a directory') });
  if (stats.isSymbolicLink()) throw new MetricsSourceError(path, { cause: new Error('it is a symbolic link, and links are not followed here') });
  if (stats.isFIFO()) {
    yield { type: 'origin', firstLineNumber: 1 };
    yield* readFifo(path, options);
  } else if (stats.isFile()) {
    yield* readFile(path, options);
  } else {
    // A character device or socket path: read it as a stream, once.
    yield { type: 'origin', firstLineNumber: 1 };
    // Its own descriptor, as `createReadStream`'s `flags` take only strings.
    const fd = await guard(path, new Promise<number>((resolve, reject) => {
      openCallback(path, openFlags(options), (error, opened) => {
        if (error) reject(error);
        else resolve(opened);
      });
    }));
    yield* readStream(createReadStream('', { fd }), options.signal);
  }
}

async function* readFile(path: string, options: SourceOptions): AsyncGenerator<SourceItem, void, undefined> {
  const { signal } = options;
  const poll = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  let handle: FileHandle | undefined = await guard(path, open(path, openFlags(options)));
  try {
    let identity: Stats = await guard(path, handle.stat());
    let position = 0;
    let firstLineNumber = 1;
    const start = options.start ?? 'beginning';
    if (start !== 'beginning') ({ position, firstLineNumber } = await findStart(path, handle, identity.size, start));
    yield { type: 'origin', firstLineNumber };
    /** The last bytes read, to recognize the file when it changes. */
    let recent: Buffer = Buffer.alloc(0);
    /** The file's mtime when it was last checked against `recent`. */
    let checkedMtimeMs: number | undefined;
    /** The file's size when last looked at: what is waiting past `position`, as far as is known. */
    let knownSize = identity.size;
    for (;;) {
      const bytes = await readAt(path, handle, position, Math.min(BACKLOG_CHUNK_BYTES, Math.max(CHUNK_BYTES, knownSize - position)));
      if (bytes !== undefined) {
        position += bytes.length;
        if (options.follow === true) recent = keepRecent(recent, bytes);
        yield { type: 'data', bytes };
        continue;
      }
      if (options.follow !== true) return;
      const now = await guard(path, handle.stat());
      knownSize = now.size;
      const grew = now.size > position;
      // Shrunk, or what was read is no longer there (truncated and rewritten, to any size): the
      // content is new. An append-only writer does neither.
      if (now.size < position || ((grew || now.mtimeMs !== checkedMtimeMs) && !(await stillThere(path, handle, position, recent)))) {
        position = 0;
        recent = Buffer.alloc(0);
        checkedMtimeMs = undefined;
        yield { type: 'restart', reason: 'truncated' };
        continue;
      }
      checkedMtimeMs = now.mtimeMs;
      if (grew) continue;
      const current = await (options.noFollow === true ? lstat(path) : stat(path)).catch(() => undefined);
      // With noFollow, a link put in the file's place is as if the path were gone: the old file is kept.
      if (current !== undefined && !current.isSymbolicLink() && (current.ino !== identity.ino || current.dev !== identity.dev)) {
        if (current.isFIFO()) {
          yield* drain(path, handle, position);
          await handle.close();
          handle = undefined;
          yield { type: 'restart', reason: 'replaced' };
          yield* readFifo(path, options);
          return;
        }
        const next = await open(path, openFlags(options)).catch(() => undefined);
        if (next !== undefined) {
          const old = handle;
          handle = next;
          try {
            yield* drain(path, old, position);
          } finally {
            await old.close();
          }
          identity = await guard(path, handle.stat());
          knownSize = identity.size;
          position = 0;
          recent = Buffer.alloc(0);
          checkedMtimeMs = undefined;
          yield { type: 'restart', reason: 'replaced' };
          continue;
        }
      }
      if (!(await sleep(poll, signal))) return;
    }
  } finally {
    await handle?.close();
  }
}

/** How many of the last bytes read are compared with the file when it changes. */
const RECENT_BYTES = 64 * 1024;

function keepRecent(recent: Buffer, bytes: Buffer): Buffer {
  if (bytes.length >= RECENT_BYTES) return Buffer.from(bytes.subarray(bytes.length - RECENT_BYTES));
  const kept = recent.subarray(Math.max(0, recent.length + bytes.length - RECENT_BYTES));
  return Buffer.concat([kept, bytes]);
}

/** Whether the bytes before `position` are still `recent`. */
async function stillThere(path: string, handle: FileHandle, position: number, recent: Buffer): Promise<boolean> {
  if (recent.length === 0) return true;
  const now = Buffer.allocUnsafe(recent.length);
  const { bytesRead } = await guard(path, handle.read(now, 0, recent.length, position - recent.length));
  return bytesRead === recent.length && now.equals(recent);
}

/** The rest of a file that is about to be left. */
async function* drain(path: string, handle: FileHandle, from: number): AsyncGenerator<SourceItem, void, undefined> {
  let position = from;
  for (;;) {
    const bytes = await readAt(path, handle, position);
    if (bytes === undefined) return;
    position += bytes.length;
    yield { type: 'data', bytes };
  }
}

async function readAt(path: string, handle: FileHandle, position: number, size = CHUNK_BYTES): Promise<Buffer | undefined> {
  const buffer = Buffer.allocUnsafe(size);
  const { bytesRead } = await guard(path, handle.read(buffer, 0, size, position));
  return bytesRead === 0 ? undefined : buffer.subarray(0, bytesRead);
}

/**
 * Where reading starts for `last-line` (the start of the last complete line) or `end` (just
 * after it), and the number of that line.
 */
async function findStart(
  path: string,
  handle: FileHandle,
  size: number,
  start: 'last-line' | 'end',
): Promise<{ position: number; firstLineNumber: number }> {
  const newlines: number[] = [];
  const wanted = start === 'end' ? 1 : 2;
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let end = size;
  while (end > 0 && newlines.length < wanted) {
    const from = Math.max(0, end - CHUNK_BYTES);
    const { bytesRead } = await guard(path, handle.read(buffer, 0, end - from, from));
    let at = bytesRead;
    while (newlines.length < wanted) {
      const found = at > 0 ? buffer.lastIndexOf(NEWLINE, at - 1) : -1;
      if (found === -1 || found >= bytesRead) break;
      newlines.push(from + found);
      at = found;
    }
    end = from;
  }
  // `newlines[0]` ends the last complete line; `newlines[1]` the one before it.
  const position = start === 'end' ? (newlines[0] ?? -1) + 1 : newlines.length === 0 ? 0 : (newlines[1] ?? -1) + 1;
  return { position, firstLineNumber: (await countNewlines(path, handle, position)) + 1 };
}

async function countNewlines(path: string, handle: FileHandle, until: number): Promise<number> {
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  let count = 0;
  let position = 0;
  while (position < until) {
    const { bytesRead } = await guard(path, handle.read(buffer, 0, Math.min(buffer.length, until - position), position));
    if (bytesRead === 0) break;
    for (let at = buffer.indexOf(NEWLINE); at !== -1 && at < bytesRead; at = buffer.indexOf(NEWLINE, at + 1)) count++;
    position += bytesRead;
  }
  return count;
}

async function* readFifo(path: string, options: SourceOptions): AsyncGenerator<SourceItem, void, undefined> {
  const { signal } = options;
  for (;;) {
    const fd = await guard(path, openNonBlocking(path, openFlags(options)));
    let socket: Socket;
    try {
      socket = new Socket({ fd, readable: true, writable: false });
    } catch (cause) {
      closeQuietly(fd);
      throw new MetricsSourceError(path, { cause });
    }
    yield* readStream(socket, signal);
    if (signal?.aborted === true) return;
    yield { type: 'writer-closed' };
    if (options.follow !== true) return;
  }
}

/** Read-only, and `O_NOFOLLOW` when asked. */
function openFlags(options: SourceOptions): number {
  return constants.O_RDONLY | (options.noFollow === true ? constants.O_NOFOLLOW : 0);
}

/** A pipe opened like this never blocks the open call, even before any writer is there. */
function openNonBlocking(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => {
    openCallback(path, flags | constants.O_NONBLOCK, (error, fd) => {
      if (error) reject(error);
      else resolve(fd);
    });
  });
}

function closeQuietly(fd: number): void {
  close(fd, () => undefined);
}

/** The chunks of a readable stream until its end or `signal`; the stream is destroyed after. */
export async function* readStream(stream: Readable, signal: AbortSignal | undefined): AsyncGenerator<SourceItem, void, undefined> {
  const queue: Buffer[] = [];
  // Set by the listeners; an object so that control-flow narrowing does not assume them constant.
  const state: { ended: boolean; failure: Error | undefined } = { ended: false, failure: undefined };
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer | string): void => {
    queue.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (queue.length >= 16) stream.pause();
    notify();
  };
  const onEnd = (): void => {
    state.ended = true;
    notify();
  };
  const onError = (error: Error): void => {
    state.failure = error;
    notify();
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('close', onEnd);
  stream.on('error', onError);
  signal?.addEventListener('abort', notify);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk !== undefined) {
        if (queue.length === 0 && stream.isPaused()) stream.resume();
        yield { type: 'data', bytes: chunk };
        continue;
      }
      if (state.failure !== undefined) throw state.failure;
      if (state.ended || signal?.aborted === true) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    signal?.removeEventListener('abort', notify);
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('close', onEnd);
    stream.destroy();
    // Swallow errors a destroyed stream may still emit.
    stream.on('error', () => undefined);
  }
}

/** Waits `ms`; false if `signal` aborted first. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve(signal?.aborted !== true);
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}

async function guard<T>(path: string, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (cause) {
    throw new MetricsSourceError(path, { cause });
  }
}
