/** Where a command reads and writes: the process's streams, or others in tests. */
export interface CommandIo {
  readonly stdin: NodeJS.ReadableStream & AsyncIterable<Uint8Array | string>;
  readonly stdout: OutputStream & { readonly isTTY?: boolean };
  readonly stderr: OutputStream;
}

/** A writable stream as `process.stdout` is one (`destroyed` tells a stream that failed). */
export type OutputStream = NodeJS.WritableStream & { readonly destroyed?: boolean };

/**
 * Writes `text` and, when the stream's buffer is full, waits until it drains.
 *
 * A pipe whose reader is slower than us (`validate … 2>&1 | less`) would otherwise buffer every
 * message in memory: a million bad lines ran the process out of heap. A stream that fails or
 * closes while we wait ends the wait too (its 'error' is the caller's to handle), so a reader
 * that goes away never leaves the command hanging; so does `signal` (Ctrl-C while the reader of
 * our output is stalled).
 */
export async function writeOut(stream: OutputStream, text: string, signal?: AbortSignal): Promise<void> {
  // A destroyed stream (its reader went away) would only fail again, with one more 'error'.
  if (destroyed(stream)) return;
  if (stream.write(text) || destroyed(stream) || signal?.aborted === true) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('error', done);
    stream.on('close', done);
    signal?.addEventListener('abort', done);
  });
}

/** Whether the stream failed or was closed (a function: the property changes under a write()). */
function destroyed(stream: OutputStream): boolean {
  return stream.destroyed === true;
}
