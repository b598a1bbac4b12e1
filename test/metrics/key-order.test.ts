import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compareKeys } from '../../src/metrics/key-order.js';

test('well-formed keys sort in UTF-8 byte order, like a Rust BTreeMap<String, _> (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
      assert.equal(Math.sign(compareKeys(a, b)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }),
  );
});

test('distinct keys never compare equal, lone surrogates included (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      assert.equal(compareKeys(a, b) === 0, a === b);
      assert.equal(Math.sign(compareKeys(a, b)) + Math.sign(compareKeys(b, a)), 0, "antisymmetric");
    }),
  );
  assert.notEqual(compareKeys('\uD800', '\uDC00'), 0);
});
