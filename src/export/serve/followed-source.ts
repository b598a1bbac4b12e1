/**
 * One metrics file or named pipe followed for `vmm-metrics serve`: its lines folded into one VM's
 * totals, its faults counted.
 *
 * Each source reads on its own (the reader's event-driven pipe and polled file), so a stalled
 * writer holds up nobody else, and a scrape reads only the totals already folded in.
 *
 * Faults: a line with an error is counted and skipped whole (its deltas cannot be trusted, and
 * taking part of it would make a total wrong); a path that cannot be opened is retried, with a
 * growing pause up to `MAX_RETRY_MS`; a pipe whose writer closes is opened again for the next
 * writer; a file truncated or replaced is read again from its start. None of these resets a total.
 */
import { basename, extname } from 'node:path';
import { AnyReleaseReader, type AnyReleaseReading } from '../../reader/any-release.js';
import { readMetrics, type ReaderEvent } from '../../reader/read.js';
import type { MetricsReading } from '../../reader/record.js';
import type { MetricsSchema } from '../../reader/schema.js';
import { sleep } from '../../reader/source.js';
import { labelSet } from '../exposition.js';
import { clippedForLog, loggedProblem } from './logged-problem.js';
import type { ServedSchema } from './served-schema.js';
import { DEFAULT_DEVICE_LIMITS, DEVICE_REFUSALS, VmTotals, type DeviceLimits, type DeviceRefusal, type UnknownMet } from './totals.js';

/** Why a source was opened again, as `vmm_metrics_serve_reopened_total` labels it. */
export type ReopenReason = 'truncated' | 'replaced' | 'writer_closed';

export interface FollowOptions {
  readonly served: ServedSchema;
  /**
   * The one schema lines must fit (`--document`); undefined: lines of any Firecracker release,
   * each read as the release it fits (`AnyReleaseReader`).
   */
  readonly schema: MetricsSchema | undefined;
  /** Optional entries lines must carry (`rtc`). */
  readonly require: readonly string[];
  /** How often a followed file is checked for growth. */
  readonly pollIntervalMs: number;
  readonly maxLineBytes: number | undefined;
  /**
   * Groups and fields the schema does not know make a line invalid; of any release: a line
   * that is no release's exactly is invalid.
   */
  readonly strict: boolean;
  /** Open the path only if it is not a symbolic link (a path found by listing a directory or a glob). */
  readonly noFollow: boolean;
  /** The `vm` label when lines carry no `id`; the file's name without its extension when undefined. */
  readonly vmName: string | undefined;
  /** Where messages about faults go; `key` names the source and the kind of fault, for rate limits. */
  readonly log: (key: string, message: string) => void;
  /** What one VM may hold of devices. @default DEFAULT_DEVICE_LIMITS */
  readonly deviceLimits?: DeviceLimits;
}

/** The first pause before a path that could not be opened is tried again. */
export const FIRST_RETRY_MS = 250;
/** The longest pause between attempts. */
export const MAX_RETRY_MS = 5_000;
/** A line's `id` longer than this is not used as the `vm` label (the file's name is). */
export const MAX_VM_ID_LENGTH = 256;

export class FollowedSource {
  readonly totals: VmTotals;
  /** `source="<path>"`, escaped, for the server's own families. */
  readonly sourceLabel: string;
  /** Valid lines folded into the totals. */
  lines = 0;
  invalidLines = 0;
  /** Failures to open or read the path. */
  errors = 0;
  readonly reopened: Record<ReopenReason, number> = { truncated: 0, replaced: 0, writer_closed: 0 };
  /** `utc_timestamp_ms` of the last valid line. */
  lastTimestampMs: number | undefined;
  /** The last line's `id`, when it had a usable one. */
  lineId: string | undefined;
  /** Bumped by everything that changes what a scrape says of this source (the exposition is cached until then). */
  changes = 0;
  /**
   * The Firecracker releases the last valid line is exactly a line of (`1.10-1.12`), or
   * `unknown` when it is none's; undefined before any line, and with one schema of its own.
   */
  get release(): string | undefined {
    return this.#release;
  }
  /** `,release="…"` for `vmm_metrics_serve_source_info`, `''` before any line. */
  releaseLabel = '';
  #release: string | undefined;
  /** Values read whose group or field no schema declares (served as counters when they can be). */
  unknownFields = 0;
  #unknownNoted = false;
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  constructor(
    readonly path: string,
    readonly options: FollowOptions,
  ) {
    this.totals = new VmTotals(options.served, options.deviceLimits ?? DEFAULT_DEVICE_LIMITS);
    this.sourceLabel = labelSet([['source', path]]).slice(1, -1);
    this.#done = this.#run();
  }

  /** The `vm` label: the last line's `id`, else the name it was found under (a glob's `*`), else the file's name without its extension. */
  get vm(): string {
    return this.lineId ?? this.options.vmName ?? basename(this.path, extname(this.path));
  }

  /** Stops reading and closes the path; resolves once it is closed. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#done;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const { schema, strict, require } = this.options;
    let retryMs = FIRST_RETRY_MS;
    while (!signal.aborted) {
      try {
        const anyRelease = schema === undefined ? new AnyReleaseReader({ strict, require }) : undefined;
        const readings = readMetrics(this.path, {
          ...(schema === undefined ? {} : { schema }),
          ...(anyRelease === undefined ? {} : { readLine: anyRelease.read }),
          noFollow: this.options.noFollow,
          follow: true,
          strict,
          signal,
          pollIntervalMs: this.options.pollIntervalMs,
          ...(this.options.maxLineBytes === undefined ? {} : { maxLineBytes: this.options.maxLineBytes }),
          onEvent: (event) => {
            this.#reopened(event);
          },
        });
        for await (const reading of readings) {
          retryMs = FIRST_RETRY_MS;
          if (reading.valid && reading.record !== undefined) {
            this.#fold(reading);
          } else {
            this.invalidLines++;
            this.changes++;
            const first = reading.problems.find((p) => p.severity === 'error');
            this.options.log(`invalid ${this.path}`, `${this.path}:${reading.lineNumber}: invalid line skipped: ${first === undefined ? 'no record' : loggedProblem(first)}`);
          }
        }
      } catch (error) {
        this.errors++;
        this.changes++;
        this.options.log(`error ${this.path}`, `${this.path}: ${error instanceof Error ? error.message : String(error)}; trying again in ${retryMs} ms`);
      }
      if (!(await sleep(retryMs, signal))) return;
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    }
  }

  #fold(reading: MetricsReading): void {
    const record = reading.record as NonNullable<MetricsReading['record']>;
    const unknown: UnknownMet = { count: 0, names: [], notServed: 0 };
    const { schema } = this.options;
    const { refused } = this.totals;
    const before: Record<DeviceRefusal, number> = { ...refused };
    if (schema !== undefined) {
      this.totals.applyExact(record, schema, unknown);
    } else {
      const { fits, nearest } = reading as AnyReleaseReading;
      if (fits !== undefined) this.totals.applyExact(record, fits.schema);
      else this.totals.applyByName(record, nearest.schema, true, unknown);
      const release = fits?.label ?? 'unknown';
      if (release !== this.#release) {
        this.#release = release;
        this.releaseLabel = `,${labelSet([['release', release]]).slice(1, -1)}`;
      }
    }
    if (unknown.count > 0) this.#unknownMet(unknown);
    if (DEVICE_REFUSALS.some((r) => refused[r] !== before[r])) this.#devicesRefused(reading.lineNumber, before);
    this.lines++;
    this.changes++;
    this.lastTimestampMs = record.utc_timestamp_ms;
    const id = record.id;
    if (id !== undefined && id !== '' && id.length <= MAX_VM_ID_LENGTH) this.lineId = id;
  }

  /** Says which of a line's devices were left out of the totals, and why. */
  #devicesRefused(lineNumber: number, before: Readonly<Record<DeviceRefusal, number>>): void {
    const { refused, limits } = this.totals;
    const why = DEVICE_REFUSALS.filter((r) => refused[r] !== before[r])
      .map((r) => (r === 'id_too_long' ? `an id longer than ${String(limits.maxDeviceIdLength)} characters` : `more than ${String(limits.maxDevices)} devices`))
      .join(', ');
    this.options.log(
      `devices ${this.path}`,
      `${this.path}:${String(lineNumber)}: device left out of the totals (${why}); vmm_metrics_serve_devices_refused_total counts each`,
    );
  }

  #unknownMet(unknown: UnknownMet): void {
    this.unknownFields += unknown.count;
    if (this.#unknownNoted) return;
    this.#unknownNoted = true;
    // A name is the writer's text (a key may be megabytes long): clipped, as a skipped line's problem is.
    const names = clippedForLog(`${unknown.names.join(', ')}${unknown.count > unknown.names.length ? ', …' : ''}`);
    const what =
      this.options.schema !== undefined
        ? 'not in the schema: left out'
        : unknown.notServed === 0
          ? 'no Firecracker release this server knows writes them (a newer Firecracker?): served as counters'
          : `no Firecracker release this server knows writes them (a newer Firecracker?): served as counters, but for ${String(unknown.notServed)} (a name Prometheus refuses or one taken, or the server's limit of fields of unknown releases reached)`;
    this.options.log(`unknown ${this.path}`, `${this.path}: ${names}: ${what}; vmm_metrics_serve_unknown_fields_total counts them (said once per source)`);
  }

  #reopened(event: ReaderEvent): void {
    const reason: ReopenReason = event.type === 'writer-closed' ? 'writer_closed' : event.type;
    this.reopened[reason]++;
    this.changes++;
    if (reason !== 'writer_closed') this.options.log(`reopened ${this.path}`, `${this.path}: ${reason}, reading it again from its start`);
  }
}
