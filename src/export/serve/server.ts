/**
 * The HTTP side of `vmm-metrics serve`: the fleet's exposition at `/metrics`, how many sources it
 * follows at `/healthz`.
 *
 * A scrape renders the totals already folded in; it never reads a source or waits on one.
 */
import { EXPOSITION_CONTENT_TYPE } from '../exposition.js';
import { serveMetrics, type MetricsServer, type ServeOptions } from '../http/server.js';
import type { MetricsFleet } from './fleet.js';

/** Serves `fleet` over HTTP; rejects when the address cannot be had (EADDRINUSE, EACCES). */
export function serveFleet(fleet: MetricsFleet, options: ServeOptions = {}): Promise<MetricsServer> {
  return serveMetrics(
    {
      metrics: () => ({ contentType: EXPOSITION_CONTENT_TYPE, body: fleet.renderBytes() }),
      health: () => `ok: following ${String(fleet.sources.size)} sources\n`,
    },
    options,
  );
}
