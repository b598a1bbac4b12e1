/**
 * A fleet's exposition: every VM's families, then serve's own (`self-metrics.ts`), in
 * Prometheus's text format 0.0.4.
 *
 * Every sample carries `vm` (the line's `id`, else the file's name without extension); the
 * families of a family of devices carry `device` too. A family is written once, its samples
 * VM by VM, in the order the sources were followed; a VM has a sample of a family once one of
 * its lines carried the value (a release that does not write a field has none).
 */
import { ExpositionBuffer, familyHeader, labelSet } from '../exposition.js';
import type { PrometheusFamily } from '../names.js';
import type { FollowedSource } from './followed-source.js';
import type { GroupTotals } from './totals.js';
import { SERVE_SELF_METRICS, type ServeState } from './self-metrics.js';

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

  constructor(families: readonly PrometheusFamily[]) {
    this.#families = families;
  }

  /** The exposition of `sources`, as UTF-8 bytes; counts itself in serve's own families. */
  render(sources: readonly FollowedSource[], sourcesRemoved: number): Buffer {
    const started = process.hrtime.bigint();
    this.#learnFamilies();
    const labels = vmLabels(sources);
    const vmBytes = labels.map((label) => Buffer.from(label));
    const out = new ExpositionBuffer(this.#previousBytes + (this.#previousBytes >> 3) + 4096);
    const groupsOf = new Array<ReadonlyMap<string, GroupTotals> | undefined>(sources.length);
    for (const run of this.#runs) {
      for (let s = 0; s < sources.length; s++) groupsOf[s] = (sources[s] as FollowedSource).totals.groupsOf(run.entry);
      for (let f = run.start; f < run.end; f++) {
        const family = this.#families[f] as PrometheusFamily;
        const nameOpen = this.#nameOpen[f] as Buffer;
        const place = family.valueIndex;
        let header = false;
        for (let s = 0; s < sources.length; s++) {
          const groups = groupsOf[s];
          if (groups === undefined) continue;
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
        }
      }
    }
    out.text(selfFamilies({ sources, vmLabels: labels, sourcesRemoved, scrapes: this.#scrapes + 1, previousScrapeSeconds: this.#previousScrapeSeconds }));
    this.#scrapes++;
    this.#previousScrapeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.#previousBytes = out.length;
    return out.view();
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
