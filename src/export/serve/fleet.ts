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
 * Every sample carries `vm` (the line's `id`, else the file's name without extension); the
 * families of a family of devices carry `device` too. The fleet's own health is in the
 * `vmm_metrics_serve_*` families, rendered after the VMs' ones.
 */
import { firecrackerSchema } from '../../reader/default-schema.js';
import type { MetricsSchema } from '../../reader/schema.js';
import type { EntryShape } from '../../metrics/document.js';
import { ExpositionBuffer, familyHeader, labelSet } from '../exposition.js';
import { prometheusFamilies, type PrometheusFamily } from '../names.js';
import { watchDirectory } from './directory.js';
import { FollowedSource, type ReopenReason } from './followed-source.js';
import { totalsPlan, type TotalsPlan } from './totals.js';

export interface MetricsFleetOptions {
  /** What lines look like. @default Firecracker's whole document (`firecrackerSchema()`) */
  readonly schema?: MetricsSchema;
  /** The first token of every family name. @default 'firecracker' */
  readonly prefix?: string;
  /** How often a followed file is checked for growth. @default 1000 */
  readonly pollIntervalMs?: number;
  /** How often a followed directory is listed again, besides the changes `fs.watch` reports. @default 2000 */
  readonly rescanMs?: number;
  /** Lines with groups or fields the schema does not know are invalid (else they count, unknown parts left out). @default false */
  readonly strict?: boolean;
  /** Longer lines are counted invalid and skipped. @default the reader's (32 MiB) */
  readonly maxLineBytes?: number;
  /** Messages about faults (each source's kind of message at most once per `logIntervalMs`). @default none */
  readonly log?: (message: string) => void;
  /** @default 10000 */
  readonly logIntervalMs?: number;
}

export const DEFAULT_SERVE_POLL_MS = 1000;
const CLOSE_BRACE = 0x7d;
const SPACE = 0x20;
const NEWLINE = 0x0a;
export const DEFAULT_RESCAN_MS = 2000;

interface Followed {
  readonly source: FollowedSource;
  /** Why it is followed: named (`follow`) and/or found in directories. */
  named: boolean;
  readonly dirs: Set<string>;
}

export class MetricsFleet {
  readonly families: readonly PrometheusFamily[];
  readonly #plan: TotalsPlan;
  readonly #options: MetricsFleetOptions;
  readonly #sources = new Map<string, Followed>();
  readonly #dirs = new Map<string, AbortController>();
  readonly #stopping = new Set<Promise<void>>();
  readonly #log: (key: string, message: string) => void;
  #sourcesRemoved = 0;
  #scrapes = 0;
  #lastScrapeSeconds = 0;
  #closed = false;
  #lastRenderBytes = 0;
  /** `<name>{` of each family, encoded once. */
  readonly #nameOpen: readonly Buffer[];

  constructor(options: MetricsFleetOptions = {}) {
    this.#options = options;
    const schema = options.schema ?? firecrackerSchema();
    this.families = prometheusFamilies(schema.entries.map(shapeOf), options.prefix === undefined ? {} : { prefix: options.prefix });
    this.#plan = totalsPlan(schema, this.families);
    this.#nameOpen = this.families.map((f) => Buffer.from(`${f.name}{`));
    this.#log = throttled(options.log ?? (() => undefined), options.logIntervalMs ?? 10_000);
  }

  /** The sources followed now, by path. */
  get sources(): ReadonlyMap<string, FollowedSource> {
    return new Map([...this.#sources].map(([path, f]) => [path, f.source]));
  }

  /** Follows one file or named pipe (it need not exist yet). */
  follow(path: string): void {
    this.#checkOpen();
    const followed = this.#sources.get(path);
    if (followed !== undefined) followed.named = true;
    else this.#start(path, true, undefined);
  }

  /** Stops following `path` and drops its VM's series. */
  unfollow(path: string): Promise<void> {
    const followed = this.#sources.get(path);
    if (followed === undefined) return Promise.resolve();
    followed.named = false;
    return followed.dirs.size === 0 ? this.#drop(path, followed) : Promise.resolve();
  }

  /** Follows every `*.json` file and named pipe in `dir`, now and as they come and go. */
  followDirectory(dir: string): void {
    this.#checkOpen();
    if (this.#dirs.has(dir)) return;
    const stop = new AbortController();
    this.#dirs.set(dir, stop);
    const watching = watchDirectory(dir, {
      rescanMs: this.#options.rescanMs ?? DEFAULT_RESCAN_MS,
      signal: stop.signal,
      log: (message) => {
        this.#log(`dir ${dir}`, message);
      },
      onChange: (paths) => {
        this.#directoryListed(dir, paths);
      },
    }).finally(() => this.#stopping.delete(watching));
    this.#stopping.add(watching);
  }

  /** Stops following everything; resolves once every path and directory watch is closed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#dirs.values()) stop.abort();
    this.#dirs.clear();
    for (const [path, followed] of [...this.#sources]) void this.#drop(path, followed);
    await Promise.all([...this.#stopping]);
  }

  /** The exposition of every VM's families, then the fleet's own: Prometheus text format 0.0.4. */
  render(): string {
    return this.renderBytes().toString('utf8');
  }

  /** `render()` as UTF-8 bytes, as the server sends it. */
  renderBytes(): Buffer {
    const started = process.hrtime.bigint();
    const sources = [...this.#sources.values()].map((f) => f.source);
    const labels = vmLabels(sources);
    const vmBytes = labels.map((label) => Buffer.from(label));
    const out = new ExpositionBuffer(this.#lastRenderBytes + (this.#lastRenderBytes >> 3) + 4096);
    for (let f = 0; f < this.families.length; f++) {
      const family = this.families[f] as PrometheusFamily;
      const nameOpen = this.#nameOpen[f] as Buffer;
      let header = false;
      for (let s = 0; s < sources.length; s++) {
        const groups = (sources[s] as FollowedSource).totals.groupsOf(family.entry);
        if (groups === undefined) continue;
        if (!header) {
          out.text(familyHeader(family.name, family.type, family.help));
          header = true;
        }
        const vm = vmBytes[s] as Buffer;
        for (const totals of groups.values()) {
          out.bytes(nameOpen);
          out.bytes(vm);
          out.bytes(totals.deviceLabelBytes);
          out.byte(CLOSE_BRACE);
          out.byte(SPACE);
          out.value(totals.get(family.valueIndex), family.scale);
          out.byte(NEWLINE);
        }
      }
    }
    out.text(this.#ownFamilies(sources, labels));
    this.#scrapes++;
    this.#lastScrapeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.#lastRenderBytes = out.length;
    return out.view();
  }

  #ownFamilies(sources: readonly FollowedSource[], vmLabels: readonly string[]): string {
    const out: string[] = [];
    const family = (name: string, type: 'counter' | 'gauge', help: string, samples: readonly string[]): void => {
      out.push(familyHeader(name, type, help), ...samples);
    };
    const source = (s: FollowedSource): string => s.sourceLabel;
    const perSource = (suffix: string, value: (s: FollowedSource) => number | undefined): string[] =>
      sources.flatMap((s) => {
        const v = value(s);
        return v === undefined ? [] : [`vmm_metrics_serve_${suffix}{${source(s)}} ${String(v)}\n`];
      });
    family('vmm_metrics_serve_sources', 'gauge', 'Metrics files and named pipes followed.', [`vmm_metrics_serve_sources ${String(sources.length)}\n`]);
    family(
      'vmm_metrics_serve_source_info',
      'gauge',
      'Each followed source and the vm label its samples carry (always 1).',
      sources.map((s, i) => `vmm_metrics_serve_source_info{${source(s)},${vmLabels[i] as string}} 1\n`),
    );
    family('vmm_metrics_serve_lines_total', 'counter', 'Valid metrics lines read and folded into the totals.', perSource('lines_total', (s) => s.lines));
    family('vmm_metrics_serve_invalid_lines_total', 'counter', 'Lines skipped because they were not valid metrics lines (torn, malformed, too long).', perSource('invalid_lines_total', (s) => s.invalidLines));
    family(
      'vmm_metrics_serve_reopened_total',
      'counter',
      'Times a source was read again from its start: a file truncated or replaced, a pipe whose writer closed it.',
      sources.flatMap((s) =>
        (Object.keys(s.reopened) as ReopenReason[]).map((reason) => `vmm_metrics_serve_reopened_total{${source(s)},reason="${reason}"} ${String(s.reopened[reason])}\n`),
      ),
    );
    family('vmm_metrics_serve_errors_total', 'counter', 'Failures to open or read a source (each retried).', perSource('errors_total', (s) => s.errors));
    family(
      'vmm_metrics_serve_last_line_timestamp_seconds',
      'gauge',
      'The utc_timestamp_ms of the last valid line of a source, in seconds since the epoch.',
      perSource('last_line_timestamp_seconds', (s) => (s.lastTimestampMs === undefined ? undefined : s.lastTimestampMs / 1000)),
    );
    family('vmm_metrics_serve_sources_removed_total', 'counter', 'Sources no longer followed (their file removed from a followed directory, or unfollowed).', [
      `vmm_metrics_serve_sources_removed_total ${String(this.#sourcesRemoved)}\n`,
    ]);
    family('vmm_metrics_serve_scrapes_total', 'counter', 'Expositions rendered, this one included.', [`vmm_metrics_serve_scrapes_total ${String(this.#scrapes + 1)}\n`]);
    family('vmm_metrics_serve_previous_scrape_duration_seconds', 'gauge', 'How long rendering the previous exposition took.', [
      `vmm_metrics_serve_previous_scrape_duration_seconds ${String(this.#lastScrapeSeconds)}\n`,
    ]);
    return out.join('');
  }

  #directoryListed(dir: string, paths: ReadonlySet<string>): void {
    if (this.#closed) return;
    for (const path of paths) {
      const followed = this.#sources.get(path);
      if (followed !== undefined) followed.dirs.add(dir);
      else this.#start(path, false, dir);
    }
    for (const [path, followed] of [...this.#sources]) {
      if (!followed.dirs.has(dir) || paths.has(path)) continue;
      followed.dirs.delete(dir);
      if (followed.dirs.size === 0 && !followed.named) void this.#drop(path, followed);
    }
  }

  #start(path: string, named: boolean, dir: string | undefined): void {
    const source = new FollowedSource(path, {
      plan: this.#plan,
      pollIntervalMs: this.#options.pollIntervalMs ?? DEFAULT_SERVE_POLL_MS,
      maxLineBytes: this.#options.maxLineBytes,
      strict: this.#options.strict === true,
      log: this.#log,
    });
    this.#sources.set(path, { source, named, dirs: new Set(dir === undefined ? [] : [dir]) });
  }

  #drop(path: string, followed: Followed): Promise<void> {
    if (this.#sources.get(path) !== followed) return Promise.resolve();
    this.#sources.delete(path);
    this.#sourcesRemoved++;
    const stopped = followed.source.stop().finally(() => this.#stopping.delete(stopped));
    this.#stopping.add(stopped);
    return stopped;
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('MetricsFleet: closed');
  }
}

/**
 * The `vm="…"` label text of each source. Two sources that would carry the same label (two files
 * whose lines have the same `id`) are told apart: the second and later ones, in the order they
 * were followed, carry `vm="<label> (<path>)"`, so no two series collide in a scrape.
 */
function vmLabels(sources: readonly FollowedSource[]): string[] {
  const taken = new Set<string>();
  return sources.map((s) => {
    let vm = s.vm;
    if (taken.has(vm)) vm = `${vm} (${s.path})`;
    taken.add(vm);
    return labelSet([['vm', vm]]).slice(1, -1);
  });
}

function shapeOf(entry: MetricsSchema['entries'][number]): EntryShape {
  return entry.kind === 'group'
    ? { kind: 'group', key: entry.key, schema: entry.schema, optional: !entry.required }
    : { kind: 'devices', prefix: entry.prefix, schema: entry.schema, aggregate: entry.aggregate };
}

/**
 * `log`, at most once per `intervalMs` for each key (a source and a kind of message); the rest
 * are counted and said with the next one, so a source of garbage cannot flood the log.
 */
function throttled(log: (message: string) => void, intervalMs: number): (key: string, message: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key, message) => {
    const now = Date.now();
    const seen = last.get(key);
    if (seen !== undefined && now - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    const more = seen !== undefined && seen.suppressed > 0 ? ` (and ${String(seen.suppressed)} more like it since the last such message)` : '';
    last.set(key, { at: now, suppressed: 0 });
    if (last.size > 10_000) last.clear();
    log(`${message}${more}`);
  };
}
