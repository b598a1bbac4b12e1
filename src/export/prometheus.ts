/**
 * vmm-metrics/prometheus: a document's metrics in a prom-client registry, read at scrape time.
 *
 * ```ts
 * const registry = new Registry();
 * collectDefaultMetrics({ register: registry });
 * registerPrometheus(registry, { document: vm, labels: { vm: 'vm-42' } });
 * registerPrometheus(registry, { document: other, labels: { vm: 'vm-43' } }); // the same families
 * res.end(await exactMetrics(registry)); // # TYPE firecracker_block_read_bytes_total counter …
 * ```
 *
 * Design notes:
 * - Each family (named by `names.ts`) is a collector registered in the user's registry: its
 *   `get()` reads `countBigInt()`/`fetchBigInt()` of the groups the documents hold at that moment.
 *   Nothing is added to the increment path, and reading changes nothing: a scrape never resets a
 *   counter or disturbs the deltas the JSON lines carry, and `registry.resetMetrics()` leaves these
 *   families alone.
 * - One collector per family name per registry, holding every (document, labels) registered for
 *   it: Prometheus wants a family once, with one HELP and TYPE, and the VMs of one process, each
 *   with its own document of the same groups, differ by a label (`vm`). A second registration
 *   joins the families of the first; two sources with the same labels would give the same series
 *   twice, so that is refused, as is a family of the same name declared differently.
 * - Exactness past 2^53: prom-client renders numbers only (a bigint comes out as `+Inf`), so
 *   `registry.metrics()` gives such a value as the nearest double. `exactMetrics(registry)` pins
 *   one exact reading of every family this module registered in the registry, has the registry
 *   render its text from it, and puts the exact digits (seconds as exact decimals) in place of the
 *   doubles of those values; everything else in the text is the registry's own.
 * - prom-client is imported for its types only: this module never loads it.
 */
import type { Registry as PromRegistry, RegistryContentType } from 'prom-client';
import type { DocumentEntry, EntryGroup } from '../metrics/document.js';
import { exactDecimal, labelSet } from './exposition.js';
import { prometheusFamilies, readExact, type PrometheusFamily, type PrometheusNameOptions } from './names.js';

export interface PrometheusOptions extends PrometheusNameOptions {
  /** The document to expose: a `FirecrackerMetrics`, an `EntryDocument`, anything with `entries`. */
  readonly document: { readonly entries: readonly DocumentEntry[] };
  /**
   * Labels on every sample, e.g. `{ vm: 'vm-42' }`; `device` is taken by the device families.
   * Documents registered in the same registry share its families, so each needs labels of its own.
   */
  readonly labels?: Readonly<Record<string, string>>;
}

/** What `registerPrometheus` registered. */
export interface PrometheusRegistration {
  /** The family names, in document order. */
  readonly names: readonly string[];
  /** Removes this document's samples, and each family left with none from the registry. */
  unregister(): void;
}

interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly exact: bigint;
  readonly value: number;
}

type Reading = ReadonlyMap<FamilyCollector, readonly Sample[]>;

/** A prom-client registry of either exposition format. */
export type Registry = PromRegistry<RegistryContentType>;

type ReadableEntry = DocumentEntry & { groups(): readonly EntryGroup[] };

/** One registration's part of a family: the document's value it reads, and the labels it adds. */
interface Source {
  readonly family: PrometheusFamily;
  readonly entry: ReadableEntry;
  readonly labels: Readonly<Record<string, string>>;
  /** The labels as `{vm="a"}`: how a refusal names them, and what two sources may not share. */
  readonly labelText: string;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/**
 * The collectors this module put in each registry, by family name. Keyed by the name the family
 * was registered under: an OpenMetrics render renames a counter collector (`_total` dropped).
 */
const REGISTERED = new WeakMap<Registry, Map<string, FamilyCollector>>();

/**
 * One family, as prom-client's registry calls a metric: `name`, `type`, `get()`, `reset()`. It
 * holds every registration of that family in the registry, so that several VMs' documents, told
 * apart by their labels, are one family with one HELP and TYPE, as Prometheus requires.
 */
class FamilyCollector {
  name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly aggregator: 'sum' | 'min' | 'max';
  readonly sources: Source[] = [];
  /** The reading `exactMetrics` pinned for the render under way. */
  pinned: readonly Sample[] | undefined;

  constructor(readonly family: PrometheusFamily) {
    this.name = family.name;
    this.help = family.help;
    this.type = family.type;
    this.aggregator = family.aggregation;
  }

  read(): Sample[] {
    const samples: Sample[] = [];
    for (const { family, entry, labels } of this.sources) {
      for (const { device, group } of entry.groups()) {
        const exact = readExact(family, group);
        samples.push({
          labels: device === undefined ? labels : { ...labels, device },
          exact,
          value: family.scale === 0 ? Number(exact) : Number(exact) / 10 ** family.scale,
        });
      }
    }
    return samples;
  }

  /** What prom-client renders. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { value: number; labels: Record<string, string> }[] }> {
    const samples = this.pinned ?? this.read();
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: samples.map((s) => ({ value: s.value, labels: { ...s.labels } })),
    });
  }

  /** A registry's `resetMetrics()`: these counts are the document's, and reading never resets them. */
  reset(): void {
    // Nothing to do.
  }
}

/**
 * Registers the families of `document` in `registry`, beside whatever it already holds
 * (`collectDefaultMetrics`, the user's own metrics). A family already registered by another call
 * — the same name, type and help, as another VM's document of the same groups gives — takes this
 * document's samples too, told apart by `labels`. Throws, registering nothing, when an entry
 * cannot be read at scrape time, or a family's name is taken by a metric of someone else's, by a
 * family of another type or help, or by one that already has a source with the same labels.
 */
export function registerPrometheus(registry: Registry, options: PrometheusOptions): PrometheusRegistration {
  const labels = checkedLabels(options.labels ?? {});
  const labelText = formatLabels(labels);
  const entries = options.document.entries;
  const families = prometheusFamilies(entries, options.prefix === undefined ? {} : { prefix: options.prefix });
  const byKey = new Map<string, DocumentEntry>();
  for (const entry of entries) byKey.set(entry.shape.kind === 'group' ? entry.shape.key : entry.shape.prefix, entry);
  const sources = families.map((family): Source => {
    const entry = byKey.get(family.entry);
    if (entry?.groups === undefined) throw new TypeError(`Prometheus: the entry ${family.entry} cannot be read at scrape time (it has no groups())`);
    return { family, entry: entry as ReadableEntry, labels, labelText };
  });
  let held = REGISTERED.get(registry);
  if (held === undefined) REGISTERED.set(registry, (held = new Map<string, FamilyCollector>()));
  // Every check before any change, so that a refusal registers nothing.
  const joined = sources.map((source) => {
    const { name } = source.family;
    const present = registry.getSingleMetric(name) as unknown;
    if (present === undefined) return undefined;
    const ours = held.get(name);
    if (ours === undefined || present !== ours) throw new Error(`Prometheus: a metric named ${name} is already registered, not by registerPrometheus`);
    if (ours.type !== source.family.type || ours.help !== source.family.help) {
      throw new Error(
        `Prometheus: ${name} is already registered as a ${ours.type} (${JSON.stringify(ours.help)}), ` +
          `not as a ${source.family.type} (${JSON.stringify(source.family.help)})`,
      );
    }
    if (ours.sources.some((other) => other.labelText === labelText)) {
      throw new Error(`Prometheus: ${name} is already registered with the labels ${labelText}: give each document labels of its own`);
    }
    return ours;
  });
  const parts = sources.map((source, i) => {
    let collector = joined[i];
    if (collector === undefined) {
      collector = new FamilyCollector(source.family);
      registry.registerMetric(collector as unknown as Parameters<Registry['registerMetric']>[0]);
      held.set(source.family.name, collector);
    }
    collector.sources.push(source);
    return { source, collector };
  });
  let registered = true;
  return {
    names: families.map((family) => family.name),
    unregister: () => {
      if (!registered) return;
      registered = false;
      for (const { source, collector } of parts) {
        collector.sources.splice(collector.sources.indexOf(source), 1);
        if (collector.sources.length > 0) continue;
        const { name } = source.family;
        // The user may have removed it, or put a metric of their own in its place, since.
        if ((registry.getSingleMetric(name) as unknown) === collector) registry.removeSingleMetric(name);
        if (held.get(name) === collector) held.delete(name);
      }
    },
  };
}

/**
 * `registry.metrics()`, with the exact digits of every value past 2^53 of the families
 * `registerPrometheus` put in it (seconds as exact decimals); otherwise the registry's own text.
 */
export async function exactMetrics(registry: Registry): Promise<string> {
  const reading: Map<FamilyCollector, readonly Sample[]> = new Map();
  for (const [name, c] of REGISTERED.get(registry) ?? []) {
    // A family the user removed from the registry since is not in its text.
    if ((registry.getSingleMetric(name) as unknown) !== c) continue;
    const samples = c.read();
    reading.set(c, samples);
    c.pinned = samples;
  }
  let rendering: Promise<string>;
  try {
    // prom-client calls every metric's get() before this returns: the pinned reading is what it renders.
    rendering = registry.metrics();
  } finally {
    for (const c of reading.keys()) c.pinned = undefined;
  }
  return substituteExact(await rendering, reading);
}

function substituteExact(text: string, reading: Reading): string {
  const wanted = new Map<string, { readonly samples: readonly Sample[]; readonly scale: number; next: number }>();
  for (const [c, samples] of reading) {
    if (samples.some((s) => s.exact > MAX_SAFE)) wanted.set(c.family.name, { samples, scale: c.family.scale, next: 0 });
  }
  if (wanted.size === 0) return text;
  return text
    .split('\n')
    .map((line) => {
      if (line.startsWith('#')) return line;
      const end = line.search(/[{ ]/);
      const family = wanted.get(end < 0 ? line : line.slice(0, end));
      if (family === undefined) return line;
      const sample = family.samples[family.next++];
      const space = line.lastIndexOf(' ');
      if (sample === undefined || sample.exact <= MAX_SAFE || line.slice(space + 1) !== String(sample.value)) return line;
      return `${line.slice(0, space + 1)}${exactDecimal(sample.exact, family.scale)}`;
    })
    .join('\n');
}

/** `{vm="a",zone="b"}`, names sorted, values escaped as in the exposition; `{}` for none. */
function formatLabels(labels: Readonly<Record<string, string>>): string {
  const text = labelSet(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return text === '' ? '{}' : text;
}

function checkedLabels(labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__') || name === 'device') {
      throw new TypeError(`Prometheus: ${JSON.stringify(name)} cannot be a label of these metrics`);
    }
    if (typeof value !== 'string') throw new TypeError(`Prometheus: label ${name} must be a string, got ${typeof value}`);
  }
  return { ...labels };
}
