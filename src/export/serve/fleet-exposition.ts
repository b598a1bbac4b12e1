/**
 * A fleet's exposition: every VM's families, then serve's own (`self-metrics.ts`), in
 * Prometheus's text format 0.0.4.
 *
 * Every sample carries `vm` (the line's `id`, else the file's name without extension); the
 * families of a family of devices carry `device` too. A family is written once, its samples
 * VM by VM, in the order the sources were followed.
 */
import { ExpositionBuffer, familyHeader, labelSet } from '../exposition.js';
import type { PrometheusFamily } from '../names.js';
import type { FollowedSource } from './followed-source.js';
import { SERVE_SELF_METRICS, type ServeState } from './self-metrics.js';
import { uniqueVmLabels } from './vm-labels.js';

const CLOSE_BRACE = 0x7d;
const SPACE = 0x20;
const NEWLINE = 0x0a;

export class FleetExposition {
  readonly #families: readonly PrometheusFamily[];
  /** `<name>{` of each family, encoded once. */
  readonly #nameOpen: readonly Buffer[];
  #scrapes = 0;
  #previousScrapeSeconds = 0;
  /** The size of the previous exposition: the next one's buffer starts a little larger. */
  #previousBytes = 0;

  constructor(families: readonly PrometheusFamily[]) {
    this.#families = families;
    this.#nameOpen = families.map((f) => Buffer.from(`${f.name}{`));
  }

  /** The exposition of `sources`, as UTF-8 bytes; counts itself in serve's own families. */
  render(sources: readonly FollowedSource[], sourcesRemoved: number): Buffer {
    const started = process.hrtime.bigint();
    const labels = vmLabels(sources);
    const vmBytes = labels.map((label) => Buffer.from(label));
    const out = new ExpositionBuffer(this.#previousBytes + (this.#previousBytes >> 3) + 4096);
    for (let f = 0; f < this.#families.length; f++) {
      const family = this.#families[f] as PrometheusFamily;
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
    out.text(selfFamilies({ sources, vmLabels: labels, sourcesRemoved, scrapes: this.#scrapes + 1, previousScrapeSeconds: this.#previousScrapeSeconds }));
    this.#scrapes++;
    this.#previousScrapeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.#previousBytes = out.length;
    return out.view();
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
