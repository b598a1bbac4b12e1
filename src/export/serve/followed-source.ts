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
import { readMetrics, type ReaderEvent } from '../../reader/read.js';
import type { MetricsRecord } from '../../reader/record.js';
import type { MetricsSchema } from '../../reader/schema.js';
import { sleep } from '../../reader/source.js';
import { labelSet } from '../exposition.js';
import { loggedProblem } from './logged-problem.js';
import { DEFAULT_DEVICE_LIMITS, DEVICE_REFUSALS, VmTotals, type DeviceLimits, type TotalsPlan } from './totals.js';

/** Why a source was opened again, as `vmm_metrics_serve_reopened_total` labels it. */
export type ReopenReason = 'truncated' | 'replaced' | 'writer_closed';

export interface FollowOptions {
  readonly plan: TotalsPlan;
  /** How often a followed file is checked for growth. */
  readonly pollIntervalMs: number;
  readonly maxLineBytes: number | undefined;
  /** Groups and fields the schema does not know make a line invalid. */
  readonly strict: boolean;
  /** Where messages about faults go; `key` names the source and the kind of fault, for rate limits. */
  readonly log: (key: string, message: string) => void;
  /** What one VM may hold of devices. @default DEFAULT_DEVICE_LIMITS */
  readonly deviceLimits?: DeviceLimits;
  /** Never open a symbolic link at the path (a source found in a directory: what was matched there is what is read). */
  readonly noFollow?: boolean;
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
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  constructor(
    readonly path: string,
    readonly options: FollowOptions,
  ) {
    this.totals = new VmTotals(options.plan, options.deviceLimits ?? DEFAULT_DEVICE_LIMITS);
    this.sourceLabel = labelSet([['source', path]]).slice(1, -1);
    this.#done = this.#run();
  }

  /** The `vm` label: the last line's `id`, else the file's name without its extension. */
  get vm(): string {
    return this.lineId ?? basename(this.path, extname(this.path));
  }

  /** Stops reading and closes the path; resolves once it is closed. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#done;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    const schema: MetricsSchema = this.options.plan.schema;
    let retryMs = FIRST_RETRY_MS;
    while (!signal.aborted) {
      try {
        const readings = readMetrics(this.path, {
          schema,
          follow: true,
          strict: this.options.strict,
          signal,
          pollIntervalMs: this.options.pollIntervalMs,
          noFollow: this.options.noFollow === true,
          ...(this.options.maxLineBytes === undefined ? {} : { maxLineBytes: this.options.maxLineBytes }),
          onEvent: (event) => {
            this.#reopened(event);
          },
        });
        for await (const reading of readings) {
          retryMs = FIRST_RETRY_MS;
          if (reading.valid && reading.record !== undefined) {
            this.#fold(reading.record, reading.lineNumber);
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

  #fold(record: MetricsRecord, lineNumber: number): void {
    const { refused, limits } = this.totals;
    const before = refused.id_too_long + refused.too_many;
    this.totals.apply(record);
    if (refused.id_too_long + refused.too_many !== before) {
      const why = DEVICE_REFUSALS.filter((r) => refused[r] > 0)
        .map((r) => (r === 'id_too_long' ? `an id longer than ${String(limits.maxDeviceIdLength)} characters` : `more than ${String(limits.maxDevices)} devices`))
        .join(', ');
      this.options.log(
        `devices ${this.path}`,
        `${this.path}:${String(lineNumber)}: device left out of the totals (${why}); vmm_metrics_serve_devices_refused_total counts each`,
      );
    }
    this.lines++;
    this.changes++;
    this.lastTimestampMs = record.utc_timestamp_ms;
    const id = record.id;
    if (id !== undefined && id !== '' && id.length <= MAX_VM_ID_LENGTH) this.lineId = id;
  }

  #reopened(event: ReaderEvent): void {
    const reason: ReopenReason = event.type === 'writer-closed' ? 'writer_closed' : event.type;
    this.reopened[reason]++;
    this.changes++;
    if (reason !== 'writer_closed') this.options.log(`reopened ${this.path}`, `${this.path}: ${reason}, reading it again from its start`);
  }
}
