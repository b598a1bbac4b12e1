/**
 * The text exposition's pieces: exact decimals, escaped label values, and the byte buffer a
 * scrape is written into, each against a plain reading of the format (fast-check).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { exactDecimal, ExpositionBuffer, familyHeader, floatText, labelSet } from '../../src/export/exposition.js';

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const scale = fc.constantFrom(0, 3, 6);

/** What a decimal is worth, in units of 10^-scale (the inverse of exactDecimal). */
function scaled(text: string, places: number): bigint {
  const [whole = '', fraction = ''] = text.split('.');
  return BigInt(whole) * 10n ** BigInt(places) + BigInt(fraction.padEnd(places, '0') || '0');
}

test('exactDecimal: the value divided by 10^scale, every digit kept, no needless zero', () => {
  fc.assert(
    fc.property(u64, scale, (value, places) => {
      const text = exactDecimal(value, places);
      assert.match(text, /^(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?$/);
      assert.equal(scaled(text, places), value);
      if (value <= BigInt(Number.MAX_SAFE_INTEGER)) assert.equal(exactDecimal(Number(value), places), text);
    }),
    { numRuns: 2000 },
  );
  assert.equal(exactDecimal(1_250_000, 6), '1.25');
  assert.equal(exactDecimal(7n, 6), '0.000007');
  assert.equal(exactDecimal(2n ** 64n - 1n, 0), '18446744073709551615');
});

test('label values are escaped as the format asks: backslash, double quote, newline; read back the same', () => {
  const unescape = (text: string): string => text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (value) => {
      const text = labelSet([['vm', value]]);
      const body = text.slice('{vm="'.length, -'"}'.length);
      assert.ok(text.startsWith('{vm="') && text.endsWith('"}'));
      assert.doesNotMatch(body, /\n/);
      assert.doesNotMatch(body, /(?<!\\)(?:\\\\)*"/, 'an unescaped quote');
      assert.equal(unescape(body), value);
    }),
  );
  assert.equal(labelSet([]), '');
  assert.equal(labelSet([['a', 'x'], ['b', 'y"z']]), '{a="x",b="y\\"z"}');
  assert.equal(familyHeader('m_total', 'counter', 'Line one\nback\\slash'), '# HELP m_total Line one\\nback\\\\slash\n# TYPE m_total counter\n');
  assert.deepEqual([NaN, Infinity, -Infinity, 0.5].map(floatText), ['NaN', '+Inf', '-Inf', '0.5']);
});

test('ExpositionBuffer writes what the strings would be, growing as it must', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 80 }), u64, scale), { maxLength: 200 }), (parts) => {
      const out = new ExpositionBuffer(8);
      let expected = '';
      for (const [text, value, places] of parts) {
        out.text(text);
        out.bytes(Buffer.from(text));
        out.byte(0x20);
        out.value(value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value, places);
        out.byte(0x0a);
        expected += `${text}${text} ${exactDecimal(value, places)}\n`;
      }
      assert.equal(out.view().toString('utf8'), expected);
      assert.equal(out.length, Buffer.byteLength(expected));
    }),
  );
});
