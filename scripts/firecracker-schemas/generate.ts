/**
 * `npm run schemas:generate -- <firecracker git dir> [--main <ref>] [--out <file>] [--check]`:
 * derives the metrics document of every Firecracker release from its sources and writes them as
 * `src/reader/firecracker-releases.generated.ts`.
 *
 * 1. Lists the release tags `vX.Y.Z` (X ≥ 1) of the checkout (bare or not; nothing is checked
 *    out) and groups them by minor.
 * 2. Derives each patch release's document (`derive.ts`), and compares each patch's metrics
 *    sources (the files the derivation read) with its minor's first release's: where they
 *    differ, it says so, and the patch keeps a schema of its own if what it writes differs.
 *    A minor's schema is its newest patch's.
 * 3. Derives the document of `main` (or `--main <ref>`) at the commit it names, recorded.
 * 4. Reads the validator lists of each minor's newest patch and of main from
 *    `tests/host_tools/fcmetrics.py` where there is one (`fcmetrics.ts`).
 * 5. Writes the module (`emit.ts`), or with `--check` compares it with the file there and exits
 *    1 if they differ. Prints releases, shared schemas and patch differences either way.
 *
 * The library's `fetch` tool brings a checkout: `github:firecracker-microvm/firecracker`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FirecrackerReleaseData, ReleaseSchemaRow } from '../../src/reader/release-data.js';
import { deriveDocument, type DerivedDocument } from './derive.js';
import { ReleaseDataBuilder, printModule, type PatchInput } from './emit.js';
import { parseValidatorLists, type ValidatorLists } from './fcmetrics.js';
import { GitRepo } from './git.js';

export const GENERATOR = 'scripts/firecracker-schemas/generate.ts';
export const COMMAND = 'npm run schemas:generate -- <firecracker git dir>';
export const DEFAULT_OUT = fileURLToPath(new URL('../../../src/reader/firecracker-releases.generated.ts', import.meta.url));
const VALIDATOR_PATH = 'tests/host_tools/fcmetrics.py';
const RELEASE_TAG = /^v(\d+)\.(\d+)\.(\d+)$/;

export interface GenerateOptions {
  /** The ref whose commit is read as Firecracker's main. @default 'main' */
  readonly mainRef?: string;
}

export interface Generated {
  readonly data: FirecrackerReleaseData;
  /** The module's text, as written. */
  readonly text: string;
  /** What the script prints: releases, shared schemas, patch differences. */
  readonly report: readonly string[];
}

export class GenerateError extends Error {
  override readonly name = 'GenerateError';
}

export function generateReleaseData(gitDir: string, options: GenerateOptions = {}): Generated {
  const repo = new GitRepo(gitDir);
  const minors = new Map<string, { tag: string; commit: string; patch: number }[]>();
  for (const [tag, commit] of repo.tagCommits()) {
    const match = RELEASE_TAG.exec(tag);
    if (match === null || Number(match[1]) < 1) continue;
    const version = `${Number(match[1])}.${Number(match[2])}`;
    const list = minors.get(version) ?? [];
    list.push({ tag, commit, patch: Number(match[3]) });
    minors.set(version, list);
  }
  if (minors.size === 0) throw new GenerateError(`${gitDir}: no release tags vX.Y.Z`);
  const versions = [...minors.keys()].sort(compareVersions);
  const derive = (tag: string, commit: string): DerivedDocument => {
    try {
      return deriveDocument(repo, commit);
    } catch (error) {
      throw new GenerateError(`${tag} (${commit}): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  };
  const validator = (tag: string, commit: string): ValidatorLists | undefined => {
    const blob = repo.tree(commit).get(VALIDATOR_PATH);
    if (blob === undefined) return undefined;
    try {
      return parseValidatorLists(repo.blob(blob), VALIDATOR_PATH);
    } catch (error) {
      throw new GenerateError(`${tag} (${commit}): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  };

  const builder = new ReleaseDataBuilder();
  const report: string[] = [];
  let newestTag = '';
  for (const version of versions) {
    const tags = (minors.get(version) ?? []).sort((a, b) => a.patch - b.patch);
    const first = tags[0] as (typeof tags)[number];
    const newest = tags[tags.length - 1] as (typeof tags)[number];
    const firstDocument = derive(first.tag, first.commit);
    const patches: PatchInput[] = tags.map((t) => {
      const document = t === first ? firstDocument : derive(t.tag, t.commit);
      return { tag: t.tag, commit: t.commit, document, differs: t === first ? [] : differingSources(firstDocument, document) };
    });
    const chosen = patches[patches.length - 1] as PatchInput;
    builder.add({ version, tag: newest.tag, commit: newest.commit, document: chosen.document, patches, validator: validator(newest.tag, newest.commit) });
    newestTag = newest.tag;
  }
  const mainRef = options.mainRef ?? 'main';
  let mainCommit: string;
  try {
    mainCommit = repo.commitOf(mainRef);
  } catch (error) {
    throw new GenerateError(`${gitDir}: no commit ${mainRef} (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  builder.add({ version: 'main', tag: 'main', commit: mainCommit, document: derive(mainRef, mainCommit), patches: [], validator: validator(mainRef, mainCommit) });

  const data = builder.build(GENERATOR, mainCommit, newestTag);
  report.push(...describe(data));
  return { data, text: printModule(data, COMMAND), report };
}

/** Files one derivation read whose text differs in the other (or that only one read). */
function differingSources(base: DerivedDocument, other: DerivedDocument): string[] {
  const paths = new Set([...base.sources.keys(), ...other.sources.keys()]);
  return [...paths].filter((p) => base.sources.get(p) !== other.sources.get(p)).sort();
}

function compareVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

/** A schema's wire shape: what a line must hold, without help texts and units. */
export function wireShape(schema: ReleaseSchemaRow, data: FirecrackerReleaseData): string {
  const group = (index: number): string =>
    (data.groups[index] ?? [])
      .map((f) => data.fields[f])
      .map((f) => `${f?.[0] ?? '?'}:${f?.[1] ?? '?'}`)
      .join(',');
  return JSON.stringify([schema.header, schema.entries.map((e) => (e[0] === 'group' ? [e[0], e[1], group(e[2]), e[3]] : [e[0], e[1], group(e[2]), e[3], e[4]]))]);
}

function describe(data: FirecrackerReleaseData): string[] {
  const lines: string[] = [];
  const shapeOf = (schema: number): string => wireShape(data.schemas[schema] as ReleaseSchemaRow, data);
  const seenShapes = new Map<string, string>();
  for (const r of data.releases) {
    const shape = shapeOf(r.schema);
    const same = seenShapes.get(shape);
    const sameSchema = data.releases.find((o) => o !== r && o.schema === r.schema && data.releases.indexOf(o) < data.releases.indexOf(r));
    const note = sameSchema !== undefined ? `, the same schema as ${sameSchema.version}` : same !== undefined ? `, the same lines as ${same} (help texts differ)` : '';
    lines.push(`${r.version.padEnd(5)} ${r.tag.padEnd(8)} ${r.commit.slice(0, 12)}  schema ${r.schema}${note}${r.validator === null ? '' : ', fcmetrics.py read'}`);
    if (same === undefined) seenShapes.set(shape, r.version);
    for (const p of r.patches) {
      if (p.differs.length === 0) continue;
      const base = r.patches[0];
      const verdict = p.schema === base?.schema ? 'same schema' : shapeOf(p.schema) === shapeOf(base?.schema ?? -1) ? 'same lines, other help texts' : 'different lines';
      lines.push(`      ${p.tag}: sources differ from ${base?.tag ?? '?'} in ${p.differs.join(', ')}: ${verdict}`);
    }
  }
  return lines;
}

function main(argv: readonly string[]): number {
  const args = [...argv];
  let out = DEFAULT_OUT;
  let check = false;
  let mainRef: string | undefined;
  const positional: string[] = [];
  while (args.length > 0) {
    const arg = args.shift() as string;
    if (arg === '--check') check = true;
    else if (arg === '--out' || arg === '--main') {
      const value = args.shift();
      if (value === undefined) throw new GenerateError(`${arg} needs a value`);
      if (arg === '--out') out = value;
      else mainRef = value;
    } else if (arg.startsWith('--')) throw new GenerateError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length !== 1) throw new GenerateError(`usage: ${COMMAND} [--main <ref>] [--out <file>] [--check]`);
  const generated = generateReleaseData(positional[0] as string, mainRef === undefined ? {} : { mainRef });
  for (const line of generated.report) process.stdout.write(`${line}\n`);
  if (check) {
    let current = '';
    try {
      current = readFileSync(out, 'utf8');
    } catch {
      // A missing file differs.
    }
    const same = current === generated.text;
    process.stdout.write(same ? `${out} is up to date\n` : `${out} differs from what the sources give: run ${COMMAND}\n`);
    return same ? 0 : 1;
  }
  writeFileSync(out, generated.text);
  process.stdout.write(`wrote ${out} (${Buffer.byteLength(generated.text)} bytes)\n`);
  return 0;
}

if (process.argv[1] !== undefined && basename(process.argv[1]) === basename(fileURLToPath(import.meta.url))) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`schemas:generate: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
    process.exitCode = 1;
  }
}
