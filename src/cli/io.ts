/** Where a command reads and writes: the process's streams, or others in tests. */
export interface CommandIo {
  readonly stdin: NodeJS.ReadableStream & AsyncIterable<Uint8Array | string>;
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}
