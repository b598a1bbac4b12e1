/**
 * vmm-metrics/reader: reads Firecracker metrics lines (from this library or from a real
 * Firecracker) out of files, named pipes or streams, and checks them against the schema the
 * writer's declarations define, or the lines of any Firecracker release since v1.0
 * (`releaseMetricsSchema('1.10')`, `releaseLineSets()`).
 *
 * Values are exact: a `number` up to 2^53 − 1 and a `bigint` above (the core's `U64`). A line
 * as the writer writes it is read with `JSON.parse` and a walk that gets back what that hides,
 * the digits past 2^53 among them (`clean-line.ts`); any other line by a JSON scanner of its own
 * (`exact-json.ts`), which keeps every digit, repeated key and spelling.
 */
export { readMetrics, parseMetricsText } from './read.js';
export type { MetricsInput, ReadMetricsOptions, ReaderEvent } from './read.js';
export { DEFAULT_MAX_PROBLEMS_PER_LINE, readMetricsLine } from './validate.js';
export type { ValidateOptions } from './validate.js';
export { MetricsSchema, groupLayout } from './schema.js';
export type { FieldLayout, GroupLayout, KeyRole, OptionalHeaderKey, SchemaEntry, SchemaOptions } from './schema.js';
export { firecrackerSchema } from './default-schema.js';
export {
  findFirecrackerRelease,
  firecrackerReleaseDataSource,
  firecrackerReleases,
  firecrackerValidatorLists,
  knownFirecrackerVersions,
  newestFirecrackerRelease,
  releaseGroupSchema,
  releaseMetricsSchema,
  releasesSharingSchema,
  sameLines,
  schemaOf,
  UnknownFirecrackerReleaseError,
} from './releases.js';
export type {
  FirecrackerRelease,
  ReleaseArch,
  ReleaseEntry,
  ReleaseField,
  ReleaseFieldKind,
  ReleaseGroup,
  ReleasePatch,
  ReleaseSchema,
  ReleaseValidatorLists,
  ValidatorField,
} from './releases.js';
export { formatReleases, releaseLineSets } from './release-lines.js';
export type { ReleaseLineSet } from './release-lines.js';
export { AnyReleaseReader } from './any-release.js';
export type { AnyReleaseOptions, AnyReleaseReading, UnknownValue } from './any-release.js';
export { everyReleaseSchema, everyReleaseShapes } from './every-release.js';
export { formatRecord, isU64, metricValue, recordNumbers } from './record.js';
export type { MetricsReading, MetricsRecord, RecordNumber } from './record.js';
export { formatPath, formatProblem, hasErrors } from './problems.js';
export type { Problem, Severity } from './problems.js';
export {
  formatExactJson,
  JsonDecimal,
  JsonLongInteger,
  JsonObjectNode,
  MAX_INTEGER_DIGITS,
  JsonSyntaxError,
  parseJsonNode,
  toExactJson,
} from './exact-json.js';
export type { ExactJson, ExactJsonObject, JsonNode } from './exact-json.js';
export { DEFAULT_MAX_LINE_BYTES, LineSplitter, MAX_LINE_BYTES_LIMIT } from './lines.js';
export type { RawLine } from './lines.js';
export { DEFAULT_POLL_INTERVAL_MS, MetricsSourceError, readPath } from './source.js';
export type { SourceItem, SourceOptions } from './source.js';
