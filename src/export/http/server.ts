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
 *   (connections, requests in flight, time to take a response) has one place, for both servers.
 * - `close()` ends the open connections too, so that a client that holds one cannot keep the
 *   process from stopping.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The port of OpenTelemetry's Prometheus exporter, so that a scrape config written for it fits. */
export const DEFAULT_SERVE_PORT = 9464;
/** This machine only: the metrics say what the guests do with their memory. */
export const DEFAULT_SERVE_HOST = '127.0.0.1';

export interface ServeOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 for a free port. @default 9464 */
  readonly port?: number;
}

/** One rendering of `/metrics`. */
export interface Exposition {
  readonly contentType: string;
  readonly body: string | Buffer;
}

/** What a metrics server answers with. */
export interface MetricsEndpoints {
  /** The body of `GET /metrics`; a throw or a rejection is answered 500 with its message. */
  readonly metrics: () => Exposition | Promise<Exposition>;
  /** The body of `GET /healthz`. */
  readonly health: () => string;
  /**
   * A failure of the listening socket once it listens (such as EMFILE when accepting). Without
   * it, such a failure is an uncaught error.
   */
  readonly onServerError?: (error: Error) => void;
}

export interface MetricsServer {
  /** `http://host:port`, the port the system picked when 0 was asked. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

/** Serves `endpoints` over HTTP; rejects with Node's error (EADDRINUSE, EACCES, …) when the address cannot be had. */
export async function serveMetrics(endpoints: MetricsEndpoints, options: ServeOptions = {}): Promise<MetricsServer> {
  const host = options.host ?? DEFAULT_SERVE_HOST;
  const server = createServer((request, response) => {
    void respond(endpoints, request, response);
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

async function respond(endpoints: MetricsEndpoints, request: IncomingMessage, response: ServerResponse): Promise<void> {
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
  let exposition: Exposition;
  try {
    exposition = await endpoints.metrics();
  } catch (error) {
    send(request, response, 500, TEXT, `cannot render the metrics: ${error instanceof Error ? error.message : String(error)}\n`);
    return;
  }
  send(request, response, 200, exposition.contentType, exposition.body);
}

/** The one place a response is written: HEAD gets the headers of GET, its length included. */
function send(request: IncomingMessage, response: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  response.end(request.method === 'HEAD' ? undefined : body);
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
