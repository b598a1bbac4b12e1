/**
 * The fenced blocks of the project's Markdown: README.md and every file under docs/, with the
 * line each block starts on, so that a failing example is named where a reader finds it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// The tests run from build/test/docs/; the documents are at the repository's root.
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Fence {
  /** `README.md`, `docs/serve.md`. */
  readonly file: string;
  /** The line of the block's first line of content, 1-based. */
  readonly line: number;
  /** The info string's first word: `ts`, `sh`, `json`, `promql`, `yaml`, `text`, or '' for none. */
  readonly lang: string;
  readonly text: string;
}

/** README.md and docs/**\/*.md, as paths from the root. */
export function documents(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name))
    .sort();
  return ['README.md', ...docs];
}

/** Every fenced block of `file` (``` or ~~~, three or more), in order. */
export function fencesOf(file: string): Fence[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const fences: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i] ?? '');
    if (open === null) continue;
    const [, indent = '', marker = '', lang = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j] ?? '';
      if (line.trim().startsWith(marker[0]?.repeat(marker.length) ?? marker) && line.trim().replace(/[`~]/g, '') === '') break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line);
    }
    if (j === lines.length) throw new Error(`${file}:${i + 1}: a fenced block that never closes`);
    fences.push({ file: relative(ROOT, join(ROOT, file)), line: i + 2, lang: lang.toLowerCase(), text: body.join('\n') });
    i = j;
  }
  return fences;
}

export function allFences(): Fence[] {
  return documents().flatMap(fencesOf);
}
