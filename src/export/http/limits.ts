/**
 * What one peer of a metrics server may cost it: connections, requests waiting, time, bytes.
 *
 * Anyone who reaches the port is a peer (the README suggests `--host 0.0.0.0` for a remote
 * Prometheus), and a scrape of a thousand VMs is 16 MB: a client that asks and never reads must
 * cost a bounded share of that, never one exposition per request.
 */

export interface HttpLimits {
  /**
   * Connections open at once. One more closes the connection that has made no progress (a
   * request received, a response taken) for the longest, so a crowd of idle or stalled
   * connections cannot lock a scraper out. @default 256
   */
  readonly maxConnections: number;
  /**
   * Requests a connection may have waiting behind the one being answered (HTTP/1.1 pipelining);
   * one more closes the connection. @default 8
   */
  readonly maxQueuedRequests: number;
  /**
   * Time a request has, from its turn, until its whole response is taken by the client; then the
   * connection is closed. @default 10000 (Prometheus's default scrape_timeout: a scrape it has
   * given up on is not worth holding)
   */
  readonly responseDeadlineMs: number;
  /** Time a client has to send a whole request, from its first byte. @default 10000 */
  readonly requestTimeoutMs: number;
  /** Bytes of a request's line and headers; past it, 431 and the connection closed. @default 8192 */
  readonly maxHeaderBytes: number;
  /**
   * Renderings of `/metrics` that responses in flight may hold: once they hold this many, a
   * request gets the newest one rather than a fresh one, so slow readers hold at most this many
   * expositions however many they are, and what a scraper gets meanwhile is at most
   * `responseDeadlineMs` old. @default 4
   */
  readonly maxHeldRenderings: number;
  /** An idle keep-alive connection is closed after this long. @default 5000 (Node's default) */
  readonly keepAliveTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 256,
  maxQueuedRequests: 8,
  responseDeadlineMs: 10_000,
  requestTimeoutMs: 10_000,
  maxHeaderBytes: 8192,
  maxHeldRenderings: 4,
  keepAliveTimeoutMs: 5_000,
};

/**
 * `limits` over the defaults. A limit that is not a positive integer (`maxQueuedRequests` may be
 * 0: no pipelining) is a `RangeError` naming it.
 */
export function httpLimits(limits: Partial<HttpLimits> = {}): HttpLimits {
  const merged = { ...DEFAULT_HTTP_LIMITS, ...limits };
  for (const [name, value] of Object.entries(merged)) {
    const least = name === 'maxQueuedRequests' ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < least) {
      throw new RangeError(`HTTP limits: ${name} must be an integer of at least ${String(least)}, got ${String(value)}`);
    }
  }
  return merged;
}
