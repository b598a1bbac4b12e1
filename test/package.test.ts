/**
 * What a consumer of the published package gets: nothing runs at install, and every subpath the
 * exports map names is built from a module of src/.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as {
  scripts: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
  files: string[];
};

test('installing the package runs no script: dist/ is built when it is packed', () => {
  // npm runs these when the package is installed from a registry, a tarball, a folder or git.
  for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) {
    assert.equal(pkg.scripts[script], undefined, `package.json has a "${script}" script`);
  }
  assert.match(pkg.scripts.prepack ?? '', /npm run build/);
  // src/ ships beside dist/: the source and declaration maps point into it.
  assert.deepEqual(pkg.files, ['dist', 'src', 'LICENSE']);
});

test('every export is a module of src/, with its types', () => {
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue;
    assert.equal(target.types.replace(/\.d\.ts$/, ''), target.default.replace(/\.js$/, ''), subpath);
    const source = fileURLToPath(new URL(target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'), ROOT));
    assert.ok(existsSync(source), `${subpath} → ${source}`);
  }
});
