/**
 * A fleet's exposition: every VM's families, then serve's own (`self-metrics.ts`), in
 * Prometheus's text format 0.0.4.
 *
 * Every sample carries `vm` (the line's `id`, else the file's name without extension); the
 * families of a family of devices carry `device` too. A family is written once, its samples
 * VM by VM, in the order the sources were followed; a VM has a sample of a family once one of
 * its lines carried the value (a release that does not write a field has none).
 *
 * One source never fails the scrape of the others: a throw while writing a source's samples, or
 * samples past the budget of one source (`maxSourceBytes`), leave that source out (the
 * exposition is rendered again without it), counted in `vmm_metrics_serve_left_out_total` and
 * said in the log once per source and reason.
 */
import { ExpositionBuffer, familyHeader, labelSet } from '../exposition.js';
import type { PrometheusFamily } from '../names.js';
import type { FollowedSource } from './followed-source.js';
import { SERVE_SELF_METRICS, type LeftOutReason, type ServeState } from './self-metrics.js';
import type { GroupTotals } from './totals.js';
import { uniqueVmLabels } from './vm-labels.js';

/** Why one source's samples cannot be in the exposition, and the source. */
class SourceRenderError extends Error {
  override name = 'SourceRenderError';
  constructor(
    readonly source: FollowedSource,
    readonly reason: LeftOutReason,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/**
 * What one source may add to an exposition: a Firecracker VM's samples are about 16 KiB (16 MB
 * for 1,000 VMs, BENCHMARKS.md), so 1 MiB is 64 of them.
 */
export const DEFAULT_MAX_SOURCE_BYTES = 2 ** 20;

const CLOSE_BRACE = 0x7d;
const SPACE = 0x20;
const NEWLINE = 0x0a;

export class FleetExposition {
  /** The served families: the list grows as lines bring fields no schema declares. */
  readonly #families: readonly PrometheusFamily[];
  /** `<name>{` of each family, encoded once. */
  readonly #nameOpen: Buffer[] = [];
  /** The families in runs of one entry each (`[start, end)`), so that a VM's groups of an entry are looked up once a run. */
  readonly #runs: { readonly entry: string; readonly start: number; end: number }[] = [];
  #scrapes = 0;
  #previousScrapeSeconds = 0;
  /** The size of the previous exposition: the next one's buffer starts a little larger. */
  #previousBytes = 0;
  /** Expositions that left each source out, by why; a source's entry lives as long as it does. */
  readonly #leftOut = new WeakMap<FollowedSource, Record<LeftOutReason, number>>();
  readonly #log: (message: string) => void;
  readonly #maxSourceBytes: number;

  constructor(families: readonly PrometheusFamily[], log: (message: string) => void, maxSourceBytes = DEFAULT_MAX_SOURCE_BYTES) {
    this.#families = families;
    this.#maxSourceBytes = maxSourceBytes;
    this.#log = log;
  }

  /** The exposition of `sources`, as UTF-8 bytes; counts itself in serve's own families. */
  render(sources: readonly FollowedSource[], sourcesRemoved: number): Buffer {
    const started = process.hrtime.bigint();
    this.#learnFamilies();
    // Every source's label, left out or not: a label does not change because another source failed.
    const labels = vmLabels(sources);
    const vmBytes = labels.map((label) => Buffer.from(label));
    const leftOut = new Set<FollowedSource>();
    let out: ExpositionBuffer;
    for (;;) {
      try {
        out = this.#samples(sources, vmBytes, leftOut);
        break;
      } catch (error) {
        if (!(error instanceof SourceRenderError)) throw error;
        leftOut.add(error.source);
        this.#count(error.source, error.reason, error.message);
      }
    }
    out.text(
      selfFamilies({
        sources,
        vmLabels: labels,
        sourcesRemoved,
        scrapes: this.#scrapes + 1,
        previousScrapeSeconds: this.#previousScrapeSeconds,
        leftOut: (source) => this.#leftOut.get(source),
      }),
    );
    this.#scrapes++;
    this.#previousScrapeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.#previousBytes = out.length;
    return out.view();
  }

  /** Every family's samples of `sources` but those `leftOut`; a throw while writing a source's is a `SourceRenderError` naming it. */
  #samples(sources: readonly FollowedSource[], vmBytes: readonly Buffer[], leftOut: ReadonlySet<FollowedSource>): ExpositionBuffer {
    const out = new ExpositionBuffer(this.#previousBytes + (this.#previousBytes >> 3) + 4096);
    const written = new Float64Array(sources.length);
    const groupsOf = new Array<ReadonlyMap<string, GroupTotals> | undefined>(sources.length);
    for (const run of this.#runs) {
      for (let s = 0; s < sources.length; s++) {
        const source = sources[s] as FollowedSource;
        try {
          groupsOf[s] = leftOut.has(source) ? undefined : source.totals.groupsOf(run.entry);
        } catch (error) {
          throw new SourceRenderError(source, 'render_failed', error);
        }
      }
      for (let f = run.start; f < run.end; f++) {
        const family = this.#families[f] as PrometheusFamily;
        const nameOpen = this.#nameOpen[f] as Buffer;
        const place = family.valueIndex;
        let header = false;
        for (let s = 0; s < sources.length; s++) {
          const groups = groupsOf[s];
          if (groups === undefined) continue;
          const from = out.length;
          try {
            const vm = vmBytes[s] as Buffer;
            for (const totals of groups.values()) {
              if (!totals.has(place)) continue;
              if (!header) {
                out.text(familyHeader(family.name, family.type, family.help));
                header = true;
              }
              out.bytes(nameOpen);
              out.bytes(vm);
              out.bytes(totals.deviceLabelBytes);
              out.byte(CLOSE_BRACE);
              out.byte(SPACE);
              out.value(totals.get(place), family.scale);
              out.byte(NEWLINE);
            }
          } catch (error) {
            throw new SourceRenderError(sources[s] as FollowedSource, 'render_failed', error);
          }
          // The family's header is counted too: it is there for this source's samples.
          written[s] = (written[s] as number) + out.length - from;
          if ((written[s] as number) > this.#maxSourceBytes) {
            throw new SourceRenderError(sources[s] as FollowedSource, 'over_budget', `its samples pass ${String(this.#maxSourceBytes)} bytes`);
          }
        }
      }
    }
    return out;
  }

  /** Counts an exposition that left `source` out; the first time for a reason, says so. */
  #count(source: FollowedSource, reason: LeftOutReason, why: string): void {
    let counts = this.#leftOut.get(source);
    if (counts === undefined) this.#leftOut.set(source, (counts = { render_failed: 0, over_budget: 0 }));
    if (counts[reason]++ === 0) {
      this.#log(`${source.path}: left out of the exposition (${reason}: ${why}); vmm_metrics_serve_left_out_total counts each exposition without it (said once)`);
    }
  }

  /** Takes in the families added since the last render. */
  #learnFamilies(): void {
    for (let f = this.#nameOpen.length; f < this.#families.length; f++) {
      const family = this.#families[f] as PrometheusFamily;
      this.#nameOpen.push(Buffer.from(`${family.name}{`));
      const last = this.#runs.at(-1);
      if (last?.entry === family.entry && last.end === f) last.end = f + 1;
      else this.#runs.push({ entry: family.entry, start: f, end: f + 1 });
    }
  }
}

/** Serve's own families, from their table. */
function selfFamilies(state: ServeState): string {
  const out: string[] = [];
  for (const { name, kind, help, samples } of SERVE_SELF_METRICS) {
    out.push(familyHeader(name, kind, help));
    for (const [labels, value] of samples(state)) out.push(`${name}${labels === '' ? '' : `{${labels}}`} ${String(value)}\n`);
  }
  return out.join('');
}

/** The `vm="…"` label text of each source, unique (`vm-labels.ts`). */
function vmLabels(sources: readonly FollowedSource[]): string[] {
  return uniqueVmLabels(sources).map((vm) => labelSet([['vm', vm]]).slice(1, -1));
}
