import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plural } from '../../src/reader/plural.js';

test('a count and its noun: the singular for 1 only, the plural given or with an s', () => {
  assert.deepEqual([0, 1, 2].map((n) => plural(n, 'line')), ['0 lines', '1 line', '2 lines']);
  assert.deepEqual([1, 3].map((n) => plural(n, 'directory', 'directories')), ['1 directory', '3 directories']);
});
