/**
 * koffi, the optional peer dependency of vmm-metrics/kvm, is loaded in one place, on demand, and
 * nothing outside vmm-metrics/kvm, `--guest kvm` and the simulated session's mapped memory reaches
 * it; the devices know nothing of KVM.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

function modules(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => relative(SRC, join(SRC, file)));
}

test('koffi is imported only by kvm/sys/libc.ts, dynamically', () => {
  for (const module of modules()) {
    const source = readFileSync(join(SRC, module), 'utf8');
    assert.doesNotMatch(source, /^import (?!type )[^;]*from 'koffi'/m, module);
    if (module === 'kvm/sys/libc.ts') assert.match(source, /await import\('koffi'\)/);
    else assert.doesNotMatch(source, /import\('koffi'\)/, module);
  }
});

test('only vmm-metrics/kvm and the --guest kvm session import src/kvm, and the simulated session its mmap, on demand; the devices and vstate know nothing of KVM', () => {
  for (const module of modules()) {
    if (module.startsWith('kvm/') || module === 'cli/microvm/kvm.ts') continue;
    if (module === 'cli/microvm/host-memory.ts') {
      // The simulated guest's RAM is mapped through vmm-metrics/kvm's libc where koffi loads:
      // loaded then only, and nothing of KVM itself.
      const source = readFileSync(join(SRC, module), 'utf8');
      assert.doesNotMatch(source, /from '[./]*\/kvm\//, module);
      assert.deepEqual([...source.matchAll(/import\('([./]*\/kvm\/[^']+)'\)/g)].map((m) => m[1]), ['../../kvm/sys/libc.js', '../../kvm/memory.js']);
      continue;
    }
    const source = readFileSync(join(SRC, module), 'utf8');
    assert.doesNotMatch(source, /from '[./]*\/kvm\/|import\('[./]*\/kvm\//, module);
  }
  assert.doesNotMatch(readFileSync(join(SRC, 'index.ts'), 'utf8'), /kvm/);
});
