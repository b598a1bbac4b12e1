/**
 * The schema of the global document (`FirecrackerMetrics`): what the VMM's own lines carry.
 *
 * It is derived from the document built with `{ rtc: true }`, so that it knows the optional
 * `rtc` entry (aarch64): accepted when present, required only with `{ require: ['rtc'] }`.
 */
import { FirecrackerMetrics } from '../document/firecracker-metrics.js';
import { MetricsSchema, type SchemaOptions } from './schema.js';

let cached: MetricsSchema | undefined;

/**
 * The schema of Firecracker's metrics lines, derived from the global document's entries. With
 * options (e.g. `{ require: ['rtc'] }` for an aarch64 VMM), a new schema; without, a shared one.
 */
export function firecrackerSchema(options?: SchemaOptions): MetricsSchema {
  if (options !== undefined) return MetricsSchema.of(entries(), options);
  cached ??= MetricsSchema.of(entries());
  return cached;
}

function entries(): FirecrackerMetrics['entries'] {
  return new FirecrackerMetrics({ rtc: true }).entries;
}
