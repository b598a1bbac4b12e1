/**
 * The HTTP side of every metrics server of the package: `vmm-metrics serve` (a fleet's files and
 * pipes) and `npm start -- --serve` (a session's prom-client registry) both answer through here.
 *
 * - `GET /metrics` (and `HEAD`): the exposition; 500, saying why, when it cannot be rendered.
 * - `GET /healthz`: 200 and a line of text while the server runs.
 * - Any other path 404; any other method on those two 405, with `Allow: GET, HEAD`.
 *
 * Design notes:
 * - The one module that opens a socket, so that whatever bounds what a peer may cost the process
 *   has one place, for both servers (`limits.ts`): connections at once, each answered one request
 *   at a time with a deadline to take its response (`connections.ts`), one rendering shared by the
 *   requests that want it together and a bounded number held by slow readers
 *   (`shared-rendering.ts`), and Node's own bounds on a request's size and time.
 * - A request with a body (none of ours takes one) is answered and its connection closed: the
 *   body is never read.
 * - `close()` ends the open connections too, so that a client that holds one cannot keep the
 *   process from stopping.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionTable, type ClosedReason } from './connections.js';
import { httpLimits, type HttpLimits } from './limits.js';
import { SharedRendering, type Exposition, type Rendering } from './shared-rendering.js';

export type { Exposition } from './shared-rendering.js';
export type { HttpLimits } from './limits.js';
export { DEFAULT_HTTP_LIMITS } from './limits.js';

/** The port of OpenTelemetry's Prometheus exporter, so that a scrape config written for it fits. */
export const DEFAULT_SERVE_PORT = 9464;
/** This machine only: the metrics say what the guests do with their memory. */
export const DEFAULT_SERVE_HOST = '127.0.0.1';

export interface ServeOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 for a free port. @default 9464 */
  readonly port?: number;
  /** What one peer may cost the server; each one left out is its default (`DEFAULT_HTTP_LIMITS`). */
  readonly limits?: Partial<HttpLimits>;
}

/** What a metrics server answers with. */
export interface MetricsEndpoints {
  /**
   * The body of `GET /metrics`; a throw or a rejection is answered 500 with its message. Called
   * once for all the requests of a turn of the event loop; returning the same `Buffer` while
   * nothing changed lets slow readers share it.
   */
  readonly metrics: () => Exposition | Promise<Exposition>;
  /** The body of `GET /healthz`. */
  readonly health: () => string;
  /**
   * A failure of the listening socket once it listens (such as EMFILE when accepting). Without
   * it, such a failure is an uncaught error.
   */
  readonly onServerError?: (error: Error) => void;
}

/** What the server's peers cost it now, and what it closed to keep it so. */
export interface ServerLoad {
  readonly connections: number;
  /** Renderings of `/metrics` held by responses in flight. */
  readonly heldRenderings: number;
  /** Connections closed by the server: `evicted` for a newer one, `pipelined` for too many requests waiting, `deadline` for a response not taken in time. */
  readonly closed: Readonly<Record<ClosedReason, number>>;
}

export interface MetricsServer {
  /** `http://host:port`, the port the system picked when 0 was asked. */
  readonly url: string;
  readonly port: number;
  load(): ServerLoad;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

/** Serves `endpoints` over HTTP; rejects with Node's error (EADDRINUSE, EACCES, …) when the address cannot be had. */
export async function serveMetrics(endpoints: MetricsEndpoints, options: ServeOptions = {}): Promise<MetricsServer> {
  const host = options.host ?? DEFAULT_SERVE_HOST;
  const limits = httpLimits(options.limits);
  const connections = new ConnectionTable(limits);
  const rendering = new SharedRendering(endpoints.metrics, limits.maxHeldRenderings);
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      // No request of ours has a body: its headers are the whole of it.
      headersTimeout: limits.requestTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Node checks those timeouts on this interval (30 s by default), so a timeout is late by up to one.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.requestTimeoutMs / 4))),
    },
    (request, response) => {
      connections.request(request, response, () => {
        void respond(endpoints, rendering, request, response);
      });
    },
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.on('connection', (socket) => {
    connections.accept(socket);
  });
  await listen(server, host, options.port ?? DEFAULT_SERVE_PORT);
  // Once listening, a failure of the socket costs the scrapes, not the process.
  const onServerError = endpoints.onServerError;
  if (onServerError !== undefined) {
    server.on('error', (error) => {
      onServerError(error);
    });
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${String(port)}`,
    port,
    load: () => ({ connections: connections.size, heldRenderings: rendering.held, closed: { ...connections.closed } }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

async function respond(endpoints: MetricsEndpoints, rendering: SharedRendering, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?', 1)[0];
  if (path !== '/metrics' && path !== '/healthz') {
    send(request, response, 404, TEXT, 'not found: try /metrics or /healthz\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    send(request, response, 405, TEXT, `method ${request.method ?? ''} not allowed: GET or HEAD\n`);
    return;
  }
  if (path === '/healthz') {
    send(request, response, 200, TEXT, endpoints.health());
    return;
  }
  let exposition: Rendering;
  try {
    exposition = await rendering.get();
  } catch (error) {
    send(request, response, 500, TEXT, `cannot render the metrics: ${error instanceof Error ? error.message : String(error)}\n`);
    return;
  }
  if (request.method === 'GET' && !response.destroyed) response.once('close', rendering.hold(exposition.body));
  send(request, response, 200, exposition.contentType, exposition.body);
}

/**
 * The one place a response is written: HEAD gets the headers of GET, its length included. A
 * request with a body gets `Connection: close`, so that Node does not read the body to reach the
 * next request.
 */
function send(request: IncomingMessage, response: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  // Closed while its rendering was made: the connection is gone, nothing to write.
  if (response.destroyed) return;
  const headers: Record<string, string | number> = { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) };
  if (hasBody(request)) headers.Connection = 'close';
  response.writeHead(status, headers);
  response.end(request.method === 'HEAD' ? undefined : body);
}

function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
