/**
 * Clients of a metrics server over raw TCP, as an attacker writes them: requests written as bytes,
 * responses read (or never read) as bytes.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

export const GET_METRICS = 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n';

/** A connected socket that never reads: Node fills its 16 KB buffer, then the kernel's window closes. */
export async function nonReader(port: number, request = ''): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.pause();
  if (request !== '') await new Promise<void>((resolve) => socket.write(request, () => { resolve(); }));
  return socket;
}

/** Resolves when `socket` is closed, with whether it was within `boundMs` (a bound on a hang, not a measure of speed). */
export function closedWithin(socket: Socket, boundMs: number): Promise<boolean> {
  if (socket.destroyed || socket.closed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve(false);
    }, boundMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    // A socket that is never read never sees the server's FIN: read (and drop) to notice it.
    socket.on('data', () => undefined);
    socket.resume();
  });
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Map<string, string>;
  readonly body: Buffer;
}

/** Writes `request` (any bytes) on a new connection and reads `count` responses, each with a Content-Length; fewer if the server closes first. */
export async function exchange(port: number, request: string, count: number): Promise<RawResponse[]> {
  const connection = await KeptConnection.open(port);
  try {
    return await connection.ask(request, count);
  } finally {
    connection.socket.destroy();
  }
}

/** A connection kept open across requests, as a scraper's keep-alive connection is. */
export class KeptConnection {
  #buffered = Buffer.alloc(0);
  readonly #responses: RawResponse[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      for (let parsed = parse(this.#buffered); parsed !== undefined; parsed = parse(this.#buffered)) {
        this.#responses.push(parsed.response);
        this.#buffered = this.#buffered.subarray(parsed.length);
      }
      this.#wake?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
      this.#wake?.();
    });
  }

  static async open(port: number): Promise<KeptConnection> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new KeptConnection(socket);
  }

  /** Writes `request` and reads `count` responses; fewer if the server closes first. */
  async ask(request: string, count: number): Promise<RawResponse[]> {
    if (!this.#closed) this.socket.write(request);
    while (this.#responses.length < count && !this.#closed) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return this.#responses.splice(0, count);
  }
}

function parse(bytes: Buffer): { response: RawResponse; length: number } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  const length = Number(headers.get('content-length') ?? 0);
  if (bytes.length < end + 4 + length) return undefined;
  return {
    response: { status: Number(statusLine.split(' ')[1]), headers, body: bytes.subarray(end + 4, end + 4 + length) },
    length: end + 4 + length,
  };
}
