/**
 * Every example in README.md and docs/ is checked, so that none can rot:
 * - TypeScript and JavaScript blocks (```ts, ```js) are type-checked, each as a module of its
 *   own, with `vmm-metrics` and its subpaths resolved to this repository's sources as the exports
 *   map names them. A block states what it needs (`declare const exporter: PushMetricExporter;`)
 *   rather than leaning on another block.
 * - Shell blocks (```sh) parse (`bash -n`); every `npm run X` names a script of package.json;
 *   `npm start` is given its options after `--`; and every option given to `npm start --` or to
 *   `vmm-metrics <command>` is one that command's `--help` lists.
 * - JSON and YAML blocks parse, and each line of a PromQL block is a rule expression that
 *   `promtool check rules` accepts (skipped loudly without promtool).
 * The README's first JavaScript example also runs as it is, in an empty project that installed
 * the packed package (test/package/tarball.test.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { parse as parseYaml } from 'yaml';
import { PROMTOOL_BIN, promtoolOrSkip } from '../support/prometheus.js';
import { allFences, documents, ROOT, type Fence } from './fences.js';

const fences = allFences();
const where = (fence: Fence, offset = 0): string => `${fence.file}:${fence.line + offset}`;
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  scripts: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
};

describe('TypeScript and JavaScript examples type-check', () => {
  const code = fences.filter((fence) => ['ts', 'typescript', 'js', 'javascript'].includes(fence.lang));

  test('there are examples to check', () => {
    assert.ok(code.length >= 5, `${code.length} blocks`);
  });

  test('each block compiles as a module of its own against the package\'s sources', () => {
    const dir = join(ROOT, 'build', 'doc-examples');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const byFile = new Map<string, Fence>();
    code.forEach((fence, n) => {
      const file = join(dir, `${fence.file.replace(/[/.]/g, '-')}-${n}.${fence.lang.startsWith('j') ? 'mjs' : 'ts'}`);
      // A block without import or export would be a script, sharing its names with the others.
      writeFileSync(file, /^\s*(?:import|export)\b/m.test(fence.text) ? fence.text : `${fence.text}\nexport {};\n`);
      byFile.set(file, fence);
    });
    const program = ts.createProgram([...byFile.keys()], compilerOptions());
    const problems = ts.getPreEmitDiagnostics(program).flatMap((diagnostic) => {
      const fence = diagnostic.file === undefined ? undefined : byFile.get(diagnostic.file.fileName);
      if (fence === undefined || diagnostic.file === undefined) return [];
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      return [`${where(fence, line)}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`];
    });
    assert.deepEqual(problems, []);
  });
});

/** The project's compiler options, with `vmm-metrics` and each subpath mapped to its source. */
function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (path) => ts.sys.readFile(path));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const paths: Record<string, string[]> = {};
  for (const [subpath, target] of Object.entries(PACKAGE.exports)) {
    if (typeof target === 'string') continue;
    const source = target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
    paths[subpath === '.' ? PACKAGE.name : `${PACKAGE.name}/${subpath.slice(2)}`] = [join(ROOT, source)];
  }
  return { ...options, noEmit: true, allowJs: true, checkJs: true, paths, noUnusedLocals: false };
}

describe('shell examples', () => {
  const shell = fences.filter((fence) => ['sh', 'bash', 'shell'].includes(fence.lang));

  test('parse as bash', () => {
    const problems = shell.flatMap((fence) => {
      const result = spawnSync('bash', ['-n'], { input: fence.text, encoding: 'utf8' });
      return result.status === 0 ? [] : [`${where(fence)}: ${result.stderr.trim()}`];
    });
    assert.deepEqual(problems, []);
  });

  test('name scripts that exist and options their command takes', () => {
    const problems: string[] = [];
    for (const fence of shell) {
      commandsOf(fence.text).forEach(({ words, line }) => {
        const problem = checkCommand(words);
        if (problem !== undefined) problems.push(`${where(fence, line)}: ${words.join(' ')}: ${problem}`);
      });
    }
    assert.deepEqual(problems, []);
  });
});

/** Each simple command of a shell text, as words, with the line it is on (comments, quotes and continuations handled simply). */
function commandsOf(text: string): { readonly words: string[]; readonly line: number }[] {
  const commands: { words: string[]; line: number }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let logical = lines[i] ?? '';
    const start = i;
    while (logical.endsWith('\\') && i + 1 < lines.length) logical = logical.slice(0, -1) + (lines[++i] ?? '');
    const withoutComment = logical.replace(/(^|\s)#.*$/, '');
    for (const part of withoutComment.split(/&&|\|\||;|\|/)) {
      const words = [...part.matchAll(/'[^']*'|"[^"]*"|\S+/g)].map((m) => m[0].replace(/^['"]|['"]$/g, ''));
      while (words.length > 0 && (/^\w+=/.test(words[0] ?? '') || ['sudo', 'time', 'exec'].includes(words[0] ?? ''))) words.shift();
      if (words.length > 0) commands.push({ words, line: start });
    }
  }
  return commands;
}

const helpCache = new Map<string, string>();

/** What `args` print for help: `vmm-metrics <command> --help`, or `npm start -- --help`. */
function helpOf(program: 'vmm-metrics' | 'start', command?: string): string {
  const key = `${program} ${command ?? ''}`;
  let help = helpCache.get(key);
  if (help === undefined) {
    const entry = program === 'start' ? join(ROOT, 'build/src/cli/microvm/main.js') : join(ROOT, 'build/src/cli/main.js');
    help = execFileSync(process.execPath, [entry, ...(command === undefined ? [] : [command]), '--help'], { encoding: 'utf8' });
    helpCache.set(key, help);
  }
  return help;
}

function optionsOf(words: readonly string[]): string[] {
  return words.filter((word) => /^--?[A-Za-z]/.test(word)).map((word) => word.replace(/=.*$/, ''));
}

function unknownOptions(words: readonly string[], help: string): string[] {
  return optionsOf(words).filter((option) => !new RegExp(`(?:^|[\\s,\\[(|])${option.replace(/[-]/g, '\\-')}(?![\\w-])`, 'm').test(help));
}

function checkCommand(words: readonly string[]): string | undefined {
  const [program, verb, ...rest] = words;
  if (program === 'npm') {
    if (verb === 'run') return rest[0] !== undefined && !(rest[0] in PACKAGE.scripts) ? `no script "${rest[0]}" in package.json` : undefined;
    if (verb === 'start') {
      const dashes = rest.indexOf('--');
      if (dashes === -1) return rest.length > 0 ? 'npm takes options given before --; write npm start -- …' : undefined;
      const unknown = unknownOptions(rest.slice(dashes + 1), helpOf('start'));
      return unknown.length > 0 ? `npm start does not take ${unknown.join(', ')}` : undefined;
    }
    return undefined;
  }
  const cli = program === 'npx' && verb === 'vmm-metrics' ? rest : program === 'vmm-metrics' ? [verb ?? '', ...rest] : undefined;
  if (cli === undefined) return undefined;
  const [command, ...args] = cli;
  if (command === undefined || command === '' || command.startsWith('-')) {
    const unknown = unknownOptions(cli, helpOf('vmm-metrics'));
    return unknown.length > 0 ? `vmm-metrics does not take ${unknown.join(', ')}` : undefined;
  }
  if (!new RegExp(`^  ${command}\\b`, 'm').test(helpOf('vmm-metrics'))) return `vmm-metrics has no command "${command}"`;
  const unknown = unknownOptions(args, helpOf('vmm-metrics', command));
  return unknown.length > 0 ? `vmm-metrics ${command} does not take ${unknown.join(', ')}` : undefined;
}

describe('data examples', () => {
  test('JSON blocks parse', () => {
    const problems = fences
      .filter((fence) => fence.lang === 'json')
      .flatMap((fence) => {
        try {
          JSON.parse(fence.text);
          return [];
        } catch (error) {
          return [`${where(fence)}: ${(error as Error).message}`];
        }
      });
    assert.deepEqual(problems, []);
  });

  test('YAML blocks parse', () => {
    const problems = fences
      .filter((fence) => fence.lang === 'yaml' || fence.lang === 'yml')
      .flatMap((fence) => {
        try {
          parseYaml(fence.text, { prettyErrors: true });
          return [];
        } catch (error) {
          return [`${where(fence)}: ${(error as Error).message}`];
        }
      });
    assert.deepEqual(problems, []);
  });

  test('each line of a PromQL block is an expression promtool accepts', (t) => {
    if (!promtoolOrSkip(t)) return;
    const expressions = fences
      .filter((fence) => fence.lang === 'promql')
      .flatMap((fence) =>
        fence.text.split('\n').flatMap((text, line) => (text.trim() === '' || text.trim().startsWith('#') ? [] : [{ text: text.trim(), at: where(fence, line) }])),
      );
    assert.ok(expressions.length > 0);
    const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-promql-'));
    try {
      for (const { text, at } of expressions) {
        const file = join(dir, 'rules.yml');
        writeFileSync(file, `groups:\n  - name: doc\n    rules:\n      - record: doc:example\n        expr: ${JSON.stringify(text)}\n`);
        const result = spawnSync(PROMTOOL_BIN ?? 'promtool', ['check', 'rules', file], { encoding: 'utf8' });
        assert.equal(result.status, 0, `${at}: ${text}\n${result.stdout}${result.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

test('every link between the documents leads somewhere: the file, and the heading of an anchor', () => {
  const problems: string[] = [];
  for (const file of documents()) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    // Links outside fenced blocks: a fence may show Markdown as text.
    const prose = text.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1\s*$/gm, '');
    for (const [, target = ''] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue;
      const [path = '', anchor] = target.split('#');
      const resolved = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
      if (!existsSync(resolved)) {
        problems.push(`${file}: ${target}: no such file`);
        continue;
      }
      if (anchor === undefined || !resolved.endsWith('.md')) continue;
      const headings = [...readFileSync(resolved, 'utf8').matchAll(/^#+\s+(.*)$/gm)].map((m) => slug(m[1] ?? ''));
      if (!headings.includes(anchor)) problems.push(`${file}: ${target}: no heading with that anchor`);
    }
  }
  assert.deepEqual(problems, []);
});
