/**
 * The HTTP side of `vmm-metrics serve`: `/metrics` (the exposition) and `/healthz`.
 *
 * A scrape renders the totals already folded in; it never reads a source or waits on one.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EXPOSITION_CONTENT_TYPE } from '../exposition.js';
import type { MetricsFleet } from './fleet.js';

export interface MetricsServer {
  /** `http://host:port`, the port the system picked when 0 was asked. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

export interface ServeOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 for a free port. @default 9464 */
  readonly port?: number;
}

export const DEFAULT_SERVE_PORT = 9464;

/** Serves `fleet` over HTTP; rejects when the address cannot be had (EADDRINUSE, EACCES). */
export async function serveFleet(fleet: MetricsFleet, options: ServeOptions = {}): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => {
    respond(fleet, request, response);
  });
  await listen(server, host, options.port ?? DEFAULT_SERVE_PORT);
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

function respond(fleet: MetricsFleet, request: IncomingMessage, response: ServerResponse): void {
  const path = (request.url ?? '/').split('?')[0];
  if (path !== '/metrics' && path !== '/healthz') {
    send(response, request, 404, 'text/plain; charset=utf-8', 'not found: try /metrics or /healthz\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    send(response, request, 405, 'text/plain; charset=utf-8', `method ${request.method ?? ''} not allowed: GET or HEAD\n`);
    return;
  }
  if (path === '/healthz') {
    send(response, request, 200, 'text/plain; charset=utf-8', `ok: following ${String(fleet.sources.size)} sources\n`);
    return;
  }
  let body: Buffer;
  try {
    body = fleet.renderBytes();
  } catch (error) {
    send(response, request, 500, 'text/plain; charset=utf-8', `cannot render the metrics: ${error instanceof Error ? error.message : String(error)}\n`);
    return;
  }
  send(response, request, 200, EXPOSITION_CONTENT_TYPE, body);
}

function send(response: ServerResponse, request: IncomingMessage, status: number, type: string, body: string | Buffer): void {
  response.statusCode = status;
  response.setHeader('Content-Type', type);
  response.setHeader('Content-Length', Buffer.byteLength(body));
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
