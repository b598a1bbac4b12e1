/**
 * The dependency direction the README states, pinned: core ← groups ← document ← reader/CLI.
 * Walks the compiled modules' relative imports, as Node resolves them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g)].map((m) => m[1] ?? '');
  const dynamic = [...text.matchAll(/import\('(\.[^']+)'\)/g)].map((m) => m[1] ?? '');
  return [...specifiers, ...dynamic].map((specifier) => resolve(dirname(file), specifier));
}

function modulesUnder(folder: string): string[] {
  return readdirSync(join(SRC, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.js'))
    .map((name) => join(SRC, folder, name));
}

/** Every module reachable from `entry`, as paths relative to src/. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [join(SRC, entry)];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    const name = relative(SRC, file);
    if (seen.has(name)) continue;
    seen.add(name);
    queue.push(...importsOf(file));
  }
  return seen;
}

test('the core imports no group, no device, no document', () => {
  for (const file of modulesUnder('metrics')) {
    for (const target of importsOf(file)) {
      assert.ok(relative(SRC, target).startsWith('metrics/'), `${relative(SRC, file)} imports ${relative(SRC, target)}`);
    }
  }
});

test('groups import only the core; the document imports groups and the core, never the global writer', () => {
  for (const folder of ['devices', 'logger']) {
    for (const file of modulesUnder(folder)) {
      for (const target of importsOf(file)) {
        const to = relative(SRC, target);
        assert.ok(to.startsWith('metrics/') || to.startsWith(`${folder}/`), `${relative(SRC, file)} imports ${to}`);
      }
    }
  }
  assert.ok(!reachable('document/firecracker-metrics.js').has('document/global-metrics.js'));
});

test('vmm-metrics/reader builds no writer: the global document is not among its modules', () => {
  const modules = reachable('reader/index.js');
  assert.ok(modules.has('document/firecracker-metrics.js'), 'the reader derives its schema from the document');
  assert.ok(!modules.has('document/global-metrics.js'));
  assert.ok(!modules.has('index.js'));
});
