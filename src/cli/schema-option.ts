/**
 * The schema options shared by the commands: `--rtc`, `--require KEY`, `--strict`,
 * `--document MODULE`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DocumentEntry } from '../metrics/document.js';
import { firecrackerSchema } from '../reader/default-schema.js';
import { MetricsSchema } from '../reader/schema.js';
import { UsageError } from './errors.js';

/** For `parseArgs`. */
export const SCHEMA_ARG_OPTIONS = {
  rtc: { type: 'boolean' },
  require: { type: 'string', multiple: true },
  strict: { type: 'boolean' },
  document: { type: 'string' },
} as const;

export interface SchemaArgs {
  readonly rtc?: boolean | undefined;
  readonly require?: string[] | undefined;
  readonly document?: string | undefined;
}

/** The optional entries `--rtc` and `--require KEY` ask lines to carry. */
export function requiredFromArgs(args: SchemaArgs): string[] {
  const require = [...(args.require ?? [])];
  if (args.rtc === true) require.push('rtc');
  return require;
}

/** The schema of `--document MODULE` (with `--rtc`, `--require`), or undefined without it. */
export async function documentSchemaFromArgs(args: SchemaArgs): Promise<MetricsSchema | undefined> {
  return args.document === undefined ? undefined : schemaFromArgs(args);
}

/** The schema of `--document MODULE`, else of this project's Firecracker document (with `--rtc`, `--require`). */
export async function schemaFromArgs(args: SchemaArgs): Promise<MetricsSchema> {
  const require = requiredFromArgs(args);
  const entries = args.document === undefined ? undefined : await loadEntries(args.document);
  try {
    if (entries === undefined) return require.length === 0 ? firecrackerSchema() : firecrackerSchema({ require });
    return MetricsSchema.of(entries, { require });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

async function loadEntries(specifier: string): Promise<readonly DocumentEntry[]> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolve(specifier)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`--document ${specifier}: cannot load the module: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const candidate of [module.default, module.document]) {
    const entries = entriesOf(candidate);
    if (entries !== undefined) return entries;
  }
  throw new UsageError(
    `--document ${specifier}: the module exports no document (a default export or an export named "document": an EntryDocument, a class of one, or a Metrics writer)`,
  );
}

function entriesOf(value: unknown): readonly DocumentEntry[] | undefined {
  if (typeof value === 'function') {
    try {
      return entriesOf(Reflect.construct(value, []));
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const entries = (value as { entries?: unknown }).entries;
  if (Array.isArray(entries) && entries.every(isDocumentEntry)) return entries;
  const document = (value as { document?: unknown }).document;
  return document !== undefined && document !== value ? entriesOf(document) : undefined;
}

function isDocumentEntry(value: unknown): value is DocumentEntry {
  return typeof value === 'object' && value !== null && typeof (value as { shape?: unknown }).shape === 'object';
}
