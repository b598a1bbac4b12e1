/**
 * A fleet of VMs' metrics files and named pipes, followed and served as Prometheus families.
 *
 * ```ts
 * const fleet = new MetricsFleet();
 * fleet.followDirectory('/run/firecracker/metrics');
 * fleet.follow('/srv/vm-7/metrics.fifo');
 * http.createServer(async (req, res) => { res.end(fleet.render()); });
 * ```
 *
 * Made of four parts, each in its own file: following the sources (`following.ts`), the
 * exposition (`fleet-exposition.ts`), serve's own families (`self-metrics.ts`, rendered after the
 * VMs' ones) and the log's throttle (`log-throttle.ts`).
 */
import { everyReleaseShapes } from '../../reader/every-release.js';
import { entryShape, type MetricsSchema } from '../../reader/schema.js';
import type { PrometheusFamily } from '../names.js';
import { FleetExposition } from './fleet-exposition.js';
import type { FollowedSource } from './followed-source.js';
import { DEFAULT_RESCAN_MS, DEFAULT_SERVE_POLL_MS, FollowedSources } from './following.js';
import { throttleLog } from './log-throttle.js';
import { ServedSchema } from './served-schema.js';
import type { DeviceLimits } from './totals.js';

export interface MetricsFleetOptions {
  /**
   * The one schema lines must fit, and whose families are served. By default, lines of every
   * Firecracker release are taken, each read as the release it fits, into one union of every
   * release's fields (`everyReleaseShapes()`), and fields no release declares are served too.
   */
  readonly schema?: MetricsSchema;
  /** Optional entries lines must carry (`['rtc']` on aarch64); with `schema`, give them to it instead. */
  readonly require?: readonly string[];
  /** The first token of every family name. @default 'firecracker' */
  readonly prefix?: string;
  /** How often a followed file is checked for growth. @default 1000 */
  readonly pollIntervalMs?: number;
  /** How often a followed directory is listed again, besides the changes `fs.watch` reports. @default 2000 */
  readonly rescanMs?: number;
  /**
   * Lines with groups or fields the schema does not know are invalid (else they count, unknown
   * parts left out); of every release: lines that are no release's exactly are invalid (else
   * they count, read as the nearest release's). @default false
   */
  readonly strict?: boolean;
  /** Longer lines are counted invalid and skipped. @default the reader's (32 MiB) */
  readonly maxLineBytes?: number;
  /** Messages about faults (each source's kind of message at most once per `logIntervalMs`). @default none */
  readonly log?: (message: string) => void;
  /** @default 10000 */
  readonly logIntervalMs?: number;
  /** What one source's samples may add to an exposition; past it they are left out. @default 1 MiB */
  readonly maxSourceBytes?: number;
  /** What one VM may hold of devices. @default 256 devices, ids of 256 characters, forgotten after 10 lines without them */
  readonly deviceLimits?: DeviceLimits;
}

export class MetricsFleet {
  readonly #served: ServedSchema;
  readonly #following: FollowedSources;
  readonly #exposition: FleetExposition;
  /** The last exposition, and the changes it was rendered at (`#changeKey()`). */
  #rendered: { readonly key: string; readonly bytes: Buffer } | undefined;

  constructor(options: MetricsFleetOptions = {}) {
    const { schema } = options;
    if (schema !== undefined && options.require !== undefined) throw new TypeError('MetricsFleet: give require to the schema (MetricsSchema.of(entries, { require })), not beside it');
    this.#served = new ServedSchema(schema === undefined ? everyReleaseShapes() : schema.entries.map(entryShape), options.prefix);
    this.#exposition = new FleetExposition(this.#served.families, options.log ?? (() => undefined), options.maxSourceBytes);
    this.#following = new FollowedSources({
      served: this.#served,
      schema,
      require: options.require ?? [],
      pollIntervalMs: options.pollIntervalMs ?? DEFAULT_SERVE_POLL_MS,
      rescanMs: options.rescanMs ?? DEFAULT_RESCAN_MS,
      maxLineBytes: options.maxLineBytes,
      strict: options.strict === true,
      ...(options.deviceLimits === undefined ? {} : { deviceLimits: options.deviceLimits }),
      log: throttleLog(options.log ?? (() => undefined), options.logIntervalMs ?? 10_000),
    });
  }

  /** The families served: the schema's, then those of fields no schema declares as lines bring them. */
  get families(): readonly PrometheusFamily[] {
    return this.#served.families;
  }

  /** The sources followed now, by path. */
  get sources(): ReadonlyMap<string, FollowedSource> {
    return this.#following.byPath();
  }

  /** Follows one file or named pipe (it need not exist yet). */
  follow(path: string): void {
    this.#checkOpen();
    this.#following.follow(path);
  }

  /** Stops following `path` and drops its VM's series. */
  unfollow(path: string): Promise<void> {
    return this.#following.unfollow(path);
  }

  /** Follows every `*.json` file and named pipe in `dir`, now and as they come and go. */
  followDirectory(dir: string): void {
    this.#checkOpen();
    this.#following.followDirectory(dir);
  }

  /**
   * Follows every named pipe and regular file `pattern` matches — `*` and `?` within a folder
   * name, as in the jailer's `/srv/jailer/firecracker/<star>/root/metrics.fifo` with a `*` for `<star>` — now and as they come and go.
   * A VM whose lines carry no `id` is named by what the first `*` matched. Links are not
   * followed past the pattern's first wildcard. Throws a `TypeError` for a pattern it cannot take.
   */
  followGlob(pattern: string): void {
    this.#checkOpen();
    this.#following.followGlob(pattern);
  }

  /** Stops following everything; resolves once every path and directory watch is closed. */
  close(): Promise<void> {
    return this.#following.close();
  }

  /** The exposition of every VM's families, then the fleet's own: Prometheus text format 0.0.4. */
  render(): string {
    return this.renderBytes().toString('utf8');
  }

  /**
   * `render()` as UTF-8 bytes, as the server sends it: the same `Buffer` until a source changes
   * (a line read, a fault, a source added or dropped), so scrapes in between render nothing and
   * share its memory. Never write into it.
   */
  renderBytes(): Buffer {
    const sources = this.#following.list();
    const key = this.#changeKey(sources);
    if (this.#rendered?.key === key) return this.#rendered.bytes;
    const bytes = this.#exposition.render(sources, this.#following.removed);
    this.#rendered = { key, bytes };
    return bytes;
  }

  /**
   * What the exposition depends on, as a key: the set's changes, and the sum of its sources'
   * (each only grows, so while the set stays the same, the sum changes when any source does).
   */
  #changeKey(sources: readonly FollowedSource[]): string {
    let sum = 0;
    for (const source of sources) sum += source.changes;
    return `${String(this.#following.changes)}:${String(sum)}`;
  }

  #checkOpen(): void {
    if (this.#following.closed) throw new Error('MetricsFleet: closed');
  }
}
