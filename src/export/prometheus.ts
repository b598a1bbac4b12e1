/**
 * vmm-metrics/prometheus: a document's metrics in a prom-client registry, read at scrape time.
 *
 * ```ts
 * const registry = new Registry();
 * collectDefaultMetrics({ register: registry });
 * registerPrometheus(registry, { document: vm, labels: { vm: 'vm-42' } });
 * res.end(await exactMetrics(registry)); // # TYPE firecracker_block_read_bytes_total counter …
 * ```
 *
 * Design notes:
 * - Each family (named by `names.ts`) is a collector registered in the user's registry: its
 *   `get()` reads `countBigInt()`/`fetchBigInt()` of the groups the document holds at that moment.
 *   Nothing is added to the increment path, and reading changes nothing: a scrape never resets a
 *   counter or disturbs the deltas the JSON lines carry, and `registry.resetMetrics()` leaves these
 *   families alone.
 * - Exactness past 2^53: prom-client renders numbers only (a bigint comes out as `+Inf`), so
 *   `registry.metrics()` gives such a value as the nearest double. `exactMetrics(registry)` pins
 *   one exact reading of every family this module registered in the registry, has the registry
 *   render its text from it, and puts the exact digits (seconds as exact decimals) in place of the
 *   doubles of those values; everything else in the text is the registry's own.
 * - prom-client is imported for its types only: this module never loads it.
 */
import type { Registry as PromRegistry, RegistryContentType } from 'prom-client';
import type { DocumentEntry, EntryGroup } from '../metrics/document.js';
import { prometheusFamilies, readExact, type PrometheusFamily, type PrometheusNameOptions } from './names.js';

export interface PrometheusOptions extends PrometheusNameOptions {
  /** The document to expose: a `FirecrackerMetrics`, an `EntryDocument`, anything with `entries`. */
  readonly document: { readonly entries: readonly DocumentEntry[] };
  /** Labels on every sample, e.g. `{ vm: 'vm-42' }`; `device` is taken by the device families. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** What `registerPrometheus` registered. */
export interface PrometheusRegistration {
  /** The family names, in document order. */
  readonly names: readonly string[];
  /** Removes the families from the registry. */
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

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** The collectors each registry holds, for `exactMetrics`. */
const REGISTERED = new WeakMap<Registry, Set<FamilyCollector>>();

/** One family, as prom-client's registry calls a metric: `name`, `type`, `get()`, `reset()`. */
class FamilyCollector {
  name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly aggregator: 'sum' | 'min' | 'max';
  /** The reading `exactMetrics` pinned for the render under way. */
  pinned: readonly Sample[] | undefined;

  constructor(
    readonly family: PrometheusFamily,
    readonly entry: DocumentEntry & { groups(): readonly EntryGroup[] },
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.name = family.name;
    this.help = family.help;
    this.type = family.type;
    this.aggregator = family.aggregation;
  }

  read(): Sample[] {
    const { scale } = this.family;
    const samples: Sample[] = [];
    for (const { device, group } of this.entry.groups()) {
      const exact = readExact(this.family, group);
      samples.push({
        labels: device === undefined ? this.labels : { ...this.labels, device },
        exact,
        value: scale === 0 ? Number(exact) : Number(exact) / 10 ** scale,
      });
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
 * Registers one collector per family of `document` in `registry`, beside whatever it already
 * holds (`collectDefaultMetrics`, the user's own metrics). Throws, registering nothing, when a
 * name is taken or an entry cannot be read at scrape time.
 */
export function registerPrometheus(registry: Registry, options: PrometheusOptions): PrometheusRegistration {
  const labels = checkedLabels(options.labels ?? {});
  const entries = options.document.entries;
  const families = prometheusFamilies(entries, options.prefix === undefined ? {} : { prefix: options.prefix });
  const byKey = new Map<string, DocumentEntry>();
  for (const entry of entries) byKey.set(entry.shape.kind === 'group' ? entry.shape.key : entry.shape.prefix, entry);
  const collectors = families.map((family) => {
    const entry = byKey.get(family.entry);
    if (entry?.groups === undefined) throw new TypeError(`Prometheus: the entry ${family.entry} cannot be read at scrape time (it has no groups())`);
    return new FamilyCollector(family, entry as DocumentEntry & { groups(): readonly EntryGroup[] }, labels);
  });
  for (const c of collectors) {
    if (registry.getSingleMetric(c.name) !== undefined) throw new Error(`Prometheus: a metric named ${c.name} is already registered`);
  }
  let held = REGISTERED.get(registry);
  if (held === undefined) REGISTERED.set(registry, (held = new Set()));
  for (const c of collectors) {
    registry.registerMetric(c as unknown as Parameters<Registry['registerMetric']>[0]);
    held.add(c);
  }
  return {
    names: collectors.map((c) => c.family.name),
    unregister: () => {
      for (const c of collectors) {
        if ((registry.getSingleMetric(c.family.name) as unknown) === c) registry.removeSingleMetric(c.family.name);
        held.delete(c);
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
  for (const c of REGISTERED.get(registry) ?? []) {
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
      return `${line.slice(0, space + 1)}${decimal(sample.exact, family.scale)}`;
    })
    .join('\n');
}

/** `value / 10^scale` as an exact decimal. */
function decimal(value: bigint, scale: number): string {
  if (scale === 0) return value.toString();
  const digits = value.toString().padStart(scale + 1, '0');
  const fraction = digits.slice(-scale).replace(/0+$/, '');
  return `${digits.slice(0, -scale)}${fraction === '' ? '' : `.${fraction}`}`;
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
