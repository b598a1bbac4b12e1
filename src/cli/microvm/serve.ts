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
 * - One prom-client registry for the whole process: Node's default metrics once (less three gauges
 *   named like counters, so that the exposition passes `promtool check metrics`), every VM's
 *   document registered in it labelled `vm` (its families shared, one HELP and TYPE each), and the
 *   text rendered with `exactMetrics`, so a counter past 2^53 keeps its digits.
 * - Firecracker's balloon metrics count events and bytes released; the balloon's size is not among
 *   them (Firecracker gives it only through its API: `amount_mib` of `GET /balloon`, `target_pages`
 *   and `actual_pages` of `GET /balloon/statistics`). Two gauges read it from the device at scrape
 *   time. They are the device model's, not Firecracker's metrics: a reader of Firecracker's metrics
 *   file will not find them.
 * - The HTTP side (routes, HEAD, 404/405, listening) is the package's one (`export/http/server.ts`);
 *   this module says what is served and words a failure to listen for the command line.
 * - The socket is bound before the VMs exist, so that a port already taken fails the session
 *   before it touches a metrics file.
 * - prom-client is an optional peer dependency: `serveSession` loads it when it is called, so that
 *   a session without `--serve` runs without it, and says how to install it when it is missing.
 */
import { exactMetrics, registerPrometheus, type Registry } from '../../export/prometheus.js';
import { serveMetrics, type ServeOptions } from '../../export/http/server.js';
import { PAGE_SIZE } from '../../vstate/memory.js';
import type { SessionVm } from './session-vm.js';

/**
 * The balloon's size, from the device model. Named as Firecracker's API names the values
 * (`target_pages`, `actual_pages`) in bytes, under the balloon's families; no field of the
 * balloon group gives these names (a test keeps it so).
 */
export const BALLOON_SIZE_GAUGES = {
  target: 'firecracker_balloon_target_bytes',
  actual: 'firecracker_balloon_actual_bytes',
} as const;

/** prom-client's default gauges whose names end in `_total` (prom-client 15). */
export const NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** A failure to serve, with a message that says what to do; the session exits with status 1. */
export class ServeError extends Error {
  override name = 'ServeError';
}

/** Where a session serves: `--host` and `--port`, both given. */
export type SessionAddress = Required<Pick<ServeOptions, 'host' | 'port'>>;

export interface SessionServer {
  /** Where `/metrics` is served: `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** Registers the VMs' documents and balloon sizes, labelled with each VM's id. */
  expose(vms: readonly SessionVm[]): void;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

/** Binds `host:port` and serves the registry; rejects with a `ServeError` when it cannot. */
export async function serveSession(address: SessionAddress): Promise<SessionServer> {
  const prom = await loadPromClient();
  const registry: Registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  // Gauges that prom-client names like counters: `promtool check metrics` rejects the whole
  // exposition for them ("non-counter metrics should not have "_total" suffix"), and Prometheus's
  // own linting with it. What they count (libuv handles and requests) says nothing of the VMs.
  for (const name of NAMED_LIKE_COUNTERS) registry.removeSingleMetric(name);
  const server = await serveMetrics(
    {
      metrics: async () => ({ contentType: registry.contentType, body: await exactMetrics(registry) }),
      health: () => 'ok\n',
      onServerError: (error) => {
        process.stderr.write(`--serve: ${error.message}\n`);
      },
    },
    address,
  ).catch((error: unknown) => {
    throw new ServeError(listenFailure(address, error as NodeJS.ErrnoException));
  });
  return {
    url: `${server.url}/metrics`,
    expose: (vms) => {
      for (const vm of vms) registerPrometheus(registry, { document: vm.document, labels: { vm: vm.id } });
      balloonGauge(prom, registry, vms, BALLOON_SIZE_GAUGES.target, "Target size of the balloon in bytes, the device's num_pages (Firecracker's API: GET /balloon amount_mib); from the device model, not Firecracker's metrics.", (vm) => vm.balloon.numPages);
      balloonGauge(prom, registry, vms, BALLOON_SIZE_GAUGES.actual, "Size of the balloon in bytes as the guest driver last reported it, the device's actual_pages (Firecracker's API: GET /balloon/statistics); from the device model, not Firecracker's metrics.", (vm) => vm.balloon.actualPages);
    },
    close: () => server.close(),
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

function listenFailure({ host, port }: SessionAddress, error: NodeJS.ErrnoException): string {
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
