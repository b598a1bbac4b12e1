/**
 * `vmm-metrics serve`'s own health: its `vmm_metrics_serve_*` families, declared once, a row each,
 * as node_exporter declares its scrape metrics. The exposition writes each row's HELP and TYPE
 * and its samples; nothing else names these families.
 */
import type { FollowedSource, ReopenReason } from './followed-source.js';
import type { DeviceRefusal } from './totals.js';

/** Why a source's samples were left out of an exposition, as `vmm_metrics_serve_left_out_total` labels it. */
export type LeftOutReason = 'render_failed' | 'over_budget';

const LEFT_OUT_REASONS: readonly LeftOutReason[] = ['render_failed', 'over_budget'];

/** What a scrape reads serve's own families from. */
export interface ServeState {
  /** The sources followed, in the order of the exposition. */
  readonly sources: readonly FollowedSource[];
  /** Each source's `vm="…"` label text, as its samples carry it. */
  readonly vmLabels: readonly string[];
  readonly sourcesRemoved: number;
  /** Expositions rendered, this one included. */
  readonly scrapes: number;
  readonly previousScrapeSeconds: number;
  /** Expositions that left a source out, by why; undefined for one never left out. */
  readonly leftOut: (source: FollowedSource) => Readonly<Record<LeftOutReason, number>> | undefined;
}

/** A sample: its label text without braces (`''` for none), and its value. */
export type SelfSample = readonly [labels: string, value: number];

export interface SelfMetric {
  readonly name: string;
  readonly kind: 'counter' | 'gauge';
  readonly help: string;
  readonly samples: (state: ServeState) => readonly SelfSample[];
}

/** One sample a source, labelled `source`; none for a source whose value is undefined. */
function perSource(value: (source: FollowedSource) => number | undefined): (state: ServeState) => SelfSample[] {
  return ({ sources }) =>
    sources.flatMap((source) => {
      const v = value(source);
      return v === undefined ? [] : [[source.sourceLabel, v] as const];
    });
}

export const SERVE_SELF_METRICS: readonly SelfMetric[] = [
  {
    name: 'vmm_metrics_serve_sources',
    kind: 'gauge',
    help: 'Metrics files and named pipes followed.',
    samples: ({ sources }) => [['', sources.length]],
  },
  {
    name: 'vmm_metrics_serve_source_info',
    kind: 'gauge',
    help: 'Each followed source, the vm label its samples carry, and the Firecracker releases its last valid line is exactly a line of (release="1.10-1.12", "main", or "unknown" for none; absent before any line). Always 1.',
    samples: ({ sources, vmLabels }) => sources.map((source, i) => [`${source.sourceLabel},${vmLabels[i] as string}${source.releaseLabel}`, 1]),
  },
  {
    name: 'vmm_metrics_serve_lines_total',
    kind: 'counter',
    help: 'Valid metrics lines read and folded into the totals.',
    samples: perSource((source) => source.lines),
  },
  {
    name: 'vmm_metrics_serve_invalid_lines_total',
    kind: 'counter',
    help: 'Lines skipped because they were not valid metrics lines (torn, malformed, too long).',
    samples: perSource((source) => source.invalidLines),
  },
  {
    name: 'vmm_metrics_serve_unknown_fields_total',
    kind: 'counter',
    help: 'Values read whose group or field no Firecracker release known to the server declares: served as counters named by the same rule (unless the name is unusable or taken, or 1024 such fields are served already; with --document, left out).',
    samples: perSource((source) => source.unknownFields),
  },
  {
    name: 'vmm_metrics_serve_reopened_total',
    kind: 'counter',
    help: 'Times a source was read again from its start: a file truncated or replaced, a pipe whose writer closed it.',
    samples: ({ sources }) =>
      sources.flatMap((source) =>
        (Object.keys(source.reopened) as ReopenReason[]).map((reason) => [`${source.sourceLabel},reason="${reason}"`, source.reopened[reason]] as const),
      ),
  },
  {
    name: 'vmm_metrics_serve_errors_total',
    kind: 'counter',
    help: 'Failures to open or read a source (each retried).',
    samples: perSource((source) => source.errors),
  },
  {
    name: 'vmm_metrics_serve_devices',
    kind: 'gauge',
    help: 'Devices a source holds now (at most 256; one not written for 10 lines is forgotten).',
    samples: perSource((source) => source.totals.devices),
  },
  {
    name: 'vmm_metrics_serve_devices_refused_total',
    kind: 'counter',
    help: "Devices of a line left out of the totals: id_too_long (over 256 characters), too_many (the source's 257th).",
    samples: ({ sources }) =>
      sources.flatMap((source) =>
        (Object.keys(source.totals.refused) as DeviceRefusal[]).map((reason) => [`${source.sourceLabel},reason="${reason}"`, source.totals.refused[reason]] as const),
      ),
  },
  {
    name: 'vmm_metrics_serve_devices_forgotten_total',
    kind: 'counter',
    help: 'Devices dropped because their source wrote 10 lines without them (unplugged).',
    samples: perSource((source) => source.totals.forgotten),
  },
  {
    name: 'vmm_metrics_serve_left_out_total',
    kind: 'counter',
    help: "Expositions that left a source's samples out (the others served): render_failed, writing them threw; over_budget, they passed what one source may add.",
    samples: ({ sources, leftOut }) =>
      sources.flatMap((source) => LEFT_OUT_REASONS.map((reason) => [`${source.sourceLabel},reason="${reason}"`, leftOut(source)?.[reason] ?? 0] as const)),
  },
  {
    name: 'vmm_metrics_serve_last_line_timestamp_seconds',
    kind: 'gauge',
    help: 'The utc_timestamp_ms of the last valid line of a source, in seconds since the epoch.',
    samples: perSource((source) => (source.lastTimestampMs === undefined ? undefined : source.lastTimestampMs / 1000)),
  },
  {
    name: 'vmm_metrics_serve_sources_removed_total',
    kind: 'counter',
    help: 'Sources no longer followed (their file removed from a followed directory, or unfollowed).',
    samples: ({ sourcesRemoved }) => [['', sourcesRemoved]],
  },
  {
    name: 'vmm_metrics_serve_scrapes_total',
    kind: 'counter',
    help: 'Expositions rendered, this one included.',
    samples: ({ scrapes }) => [['', scrapes]],
  },
  {
    name: 'vmm_metrics_serve_previous_scrape_duration_seconds',
    kind: 'gauge',
    help: 'How long rendering the previous exposition took.',
    samples: ({ previousScrapeSeconds }) => [['', previousScrapeSeconds]],
  },
];
