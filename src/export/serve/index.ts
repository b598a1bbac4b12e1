/**
 * vmm-metrics/serve: what `vmm-metrics serve` is made of, for a control plane that serves its
 * fleet's metrics from its own process.
 *
 * ```ts
 * import { MetricsFleet, serveFleet } from 'vmm-metrics/serve';
 *
 * const fleet = new MetricsFleet({ log: console.warn });
 * fleet.followDirectory('/run/firecracker/metrics'); // every *.json and named pipe in it
 * const server = await serveFleet(fleet, { port: 9464 }); // /metrics and /healthz
 * ```
 */
export { MetricsFleet } from './fleet.js';
export { DEFAULT_RESCAN_MS, DEFAULT_SERVE_POLL_MS } from './following.js';
export type { MetricsFleetOptions } from './fleet.js';
export { FollowedSource } from './followed-source.js';
export type { ReopenReason } from './followed-source.js';
export { serveFleet } from './server.js';
export { DEFAULT_SERVE_PORT } from '../http/server.js';
export type { MetricsServer, ServeOptions } from '../http/server.js';
export { EXPOSITION_CONTENT_TYPE } from '../exposition.js';
