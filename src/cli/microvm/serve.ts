/**
 * `npm start -- --serve`: the session's metrics over HTTP, in this process, for Prometheus to
 * scrape — `GET /metrics` (and `HEAD`), `GET /healthz`.
 *
 * ```
 * # HELP firecracker_balloon_inflate_count_total Number of inflations of the balloon (…).
 * # TYPE firecracker_balloon_inflate_count_total counter
 * firecracker_balloon_inflate_count_total{vm="vm-1"} 3
 * firecracker_balloon_inflate_count_total{vm="vm-2"} 3
 * # HELP firecracker_balloon_actual_bytes …
 * # TYPE firecracker_balloon_actual_bytes gauge
 * firecracker_balloon_actual_bytes{vm="vm-1"} 268435456
 * ```
 *
 * Design notes:
 * - One prom-client registry for the whole process: Node's default metrics once, every VM's
 *   document registered in it labelled `vm` (its families shared, one HELP and TYPE each), and the
 *   text rendered with `exactMetrics`, so a counter past 2^53 keeps its digits.
 * - Firecracker's balloon metrics count events and bytes released; the balloon's size is not among
 *   them (Firecracker gives it only through its API: `amount_mib` of `GET /balloon`, `target_pages`
 *   and `actual_pages` of `GET /balloon/statistics`). Two gauges read it from the device at scrape
 *   time. They are the device model's, not Firecracker's metrics: a reader of Firecracker's metrics
 *   file will not find them.
 * - The socket is bound before the VMs exist, so that a port already taken fails the session
 *   before it touches a metrics file.
 * - prom-client is an optional peer dependency: `serveMetrics` loads it when it is called, so that
 *   a session without `--serve` runs without it, and says how to install it when it is missing.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exactMetrics, registerPrometheus, type Registry } from '../../export/prometheus.js';
import { PAGE_SIZE } from '../../vstate/memory.js';
import type { SessionVm } from './session-vm.js';

/** The port of OpenTelemetry's Prometheus exporter, so that a scrape config written for it fits. */
export const DEFAULT_PORT = 9464;
/** This machine only: the metrics say what the guests do with their memory. */
export const DEFAULT_HOST = '127.0.0.1';

/**
 * The balloon's size, from the device model. Named as Firecracker's API names the values
 * (`target_pages`, `actual_pages`) in bytes, under the balloon's families; no field of the
 * balloon group gives these names (a test keeps it so).
 */
export const BALLOON_SIZE_GAUGES = {
  target: 'firecracker_balloon_target_bytes',
  actual: 'firecracker_balloon_actual_bytes',
} as const;

export interface ServeOptions {
  readonly host: string;
  /** 0 for a free port, chosen by the system. */
  readonly port: number;
}

/** A failure to serve, with a message that says what to do; the session exits with status 1. */
export class ServeError extends Error {
  override name = 'ServeError';
}

export interface MetricsServer {
  /** Where `/metrics` is served: `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** Registers the VMs' documents and balloon sizes, labelled with each VM's id. */
  expose(vms: readonly SessionVm[]): void;
  /** Stops accepting connections; resolves once those open have ended. */
  close(): Promise<void>;
}

/** Binds `host:port` and serves the registry; rejects with a `ServeError` when it cannot. */
export async function serveMetrics(options: ServeOptions): Promise<MetricsServer> {
  const prom = await loadPromClient();
  const registry: Registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  const server = createServer((request, response) => {
    void answer(registry, request, response);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(new ServeError(listenFailure(options, error)));
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // Once listening, a failure of the socket costs the scrapes, not the session.
  server.on('error', (error) => {
    process.stderr.write(`--serve: ${error.message}\n`);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    expose: (vms) => {
      for (const vm of vms) registerPrometheus(registry, { document: vm.document, labels: { vm: vm.id } });
      balloonGauge(prom, registry, vms, BALLOON_SIZE_GAUGES.target, "Target size of the balloon in bytes, the device's num_pages (Firecracker's API: GET /balloon amount_mib); from the device model, not Firecracker's metrics.", (vm) => vm.balloon.numPages);
      balloonGauge(prom, registry, vms, BALLOON_SIZE_GAUGES.actual, "Size of the balloon in bytes as the guest driver last reported it, the device's actual_pages (Firecracker's API: GET /balloon/statistics); from the device model, not Firecracker's metrics.", (vm) => vm.balloon.actualPages);
    },
    close: () =>
      new Promise<void>((resolve) => {
        // Node closes idle keep-alive connections (a Prometheus server's) with the server.
        server.close(() => {
          resolve();
        });
      }),
  };
}

type PromClient = Awaited<ReturnType<typeof loadPromClient>>;

async function loadPromClient() {
  try {
    return await import('prom-client');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && (error as Error).message.includes("'prom-client'")) {
      throw new ServeError('--serve needs prom-client, an optional peer dependency: npm install prom-client');
    }
    throw error;
  }
}

function balloonGauge(prom: PromClient, registry: Registry, vms: readonly SessionVm[], name: string, help: string, pages: (vm: SessionVm) => number): void {
  new prom.Gauge({
    name,
    help,
    labelNames: ['vm'],
    registers: [registry],
    collect() {
      for (const vm of vms) this.set({ vm: vm.id }, pages(vm) * PAGE_SIZE);
    },
  });
}

async function answer(registry: Registry, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '').split('?', 1)[0];
  if (path !== '/metrics' && path !== '/healthz') {
    send(response, 404, 'text/plain; charset=utf-8', 'Not found: the metrics are at /metrics\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    send(response, 405, 'text/plain; charset=utf-8', `${request.method ?? 'This method'} is not allowed: use GET\n`);
    return;
  }
  if (path === '/healthz') {
    send(response, 200, 'text/plain; charset=utf-8', 'ok\n');
    return;
  }
  try {
    send(response, 200, registry.contentType, await exactMetrics(registry));
  } catch (error) {
    send(response, 500, 'text/plain; charset=utf-8', `The metrics could not be read: ${(error as Error).message}\n`);
  }
}

/** Node leaves the body out of an answer to HEAD, and keeps the length. */
function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

function listenFailure({ host, port }: ServeOptions, error: NodeJS.ErrnoException): string {
  const where = `${host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return `--serve: ${where} is already in use (EADDRINUSE): choose another --port, or --port 0 for a free one`;
    case 'EACCES':
      return `--serve: not allowed to listen on ${where} (EACCES): ports below 1024 need privileges`;
    case 'EADDRNOTAVAIL':
      return `--serve: ${host} is not an address of this machine (EADDRNOTAVAIL): see --host`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `--serve: the host ${host} could not be resolved (${error.code}): see --host`;
    default:
      return `--serve: cannot listen on ${where}: ${error.message}`;
  }
}
