/** The `vm` labels of a fleet's sources: unique whatever ids the writers choose (issue 16 §2). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { uniqueVmLabels } from '../../../src/export/serve/vm-labels.js';

const paths = ['/run/fc/a.json', '/run/fc/b.json', '/run/fc/c.json', '/run/fc/d.fifo'];

test('the forged disambiguation of issue 16: ids x, "x (<c>)", x give three labels', () => {
  const labels = uniqueVmLabels([
    { vm: 'x', path: paths[0] as string },
    { vm: `x (${paths[2] as string})`, path: paths[1] as string },
    { vm: 'x', path: paths[2] as string },
  ]);
  assert.deepEqual(labels, ['x', 'x (/run/fc/c.json)', 'x (/run/fc/c.json #2)']);
});

test('whatever the ids (forged from the paths, the suffixes, one another): every label is unique, and an id not yet taken is kept', () => {
  // Ids made of the pieces a forger would use: other ids, the paths, the suffixes.
  const piece = fc.oneof(fc.constantFrom('x', 'x ', ' (', ')', ' #2', ' #3', '#', ...paths), fc.string({ maxLength: 3 }));
  const id = fc.array(piece, { maxLength: 5 }).map((parts) => parts.join(''));
  fc.assert(
    fc.property(fc.array(id, { minLength: 1, maxLength: 12 }), (ids) => {
      const sources = ids.map((vm, i) => ({ vm, path: `/run/fc/${String(i)}.json` }));
      const labels = uniqueVmLabels(sources);
      assert.equal(new Set(labels).size, labels.length, JSON.stringify(labels));
      const before = new Set<string>();
      labels.forEach((label, i) => {
        const asked = (sources[i] as { vm: string }).vm;
        if (!before.has(asked)) assert.equal(label, asked);
        else assert.ok(label.startsWith(`${asked} (${(sources[i] as { path: string }).path}`), label);
        before.add(label);
      });
    }),
  );
});
