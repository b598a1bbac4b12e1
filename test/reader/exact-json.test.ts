import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  formatExactJson,
  JsonDecimal,
  JsonLongInteger,
  JsonObjectNode,
  JsonSyntaxError,
  parseJsonNode,
  toExactJson,
  type ExactJson,
} from '../../src/reader/index.js';

const U64_MAX = (1n << 64n) - 1n;

/** What JSON.parse would give, numbers as doubles: to compare with the exact parse. */
function asDoubles(value: ExactJson): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof JsonDecimal || value instanceof JsonLongInteger) return value.toNumber();
  if (Array.isArray(value)) return value.map(asDoubles);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: asDoubles(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

function accepts(parse: (text: string) => unknown, text: string): boolean {
  try {
    parse(text);
    return true;
  } catch {
    return false;
  }
}

describe('exact JSON', () => {
  test('integers are numbers while safe and bigints beyond, with every digit', () => {
    assert.equal(parseJsonNode('9007199254740991'), 9007199254740991);
    assert.equal(parseJsonNode('9007199254740992'), 9007199254740992n);
    assert.equal(parseJsonNode('18446744073709551615'), U64_MAX);
    assert.equal(parseJsonNode('-9007199254740993'), -9007199254740993n);
    assert.equal(parseJsonNode('0'), 0);
    assert.ok(Object.is(parseJsonNode('-0'), -0));
    const decimal = parseJsonNode('1.50e+3');
    assert.ok(decimal instanceof JsonDecimal);
    assert.equal(decimal.text, '1.50e+3');
  });

  // Issue 6: BigInt() of a literal is quadratic in its digits (8 million took 6.5 s), and no
  // metric value has more than 20: longer literals stay text.
  test('an integer of more than 20 digits is kept as written, not converted', () => {
    assert.equal(parseJsonNode('99999999999999999999'), 99999999999999999999n);
    assert.equal(parseJsonNode('-99999999999999999999'), -99999999999999999999n);
    const long = parseJsonNode('100000000000000000000');
    assert.ok(long instanceof JsonLongInteger);
    assert.deepEqual([long.text, long.digits, long.negative], ['100000000000000000000', 21, false]);
    assert.equal(long.toBigInt(), 10n ** 20n);
    const negative = parseJsonNode('-100000000000000000000');
    assert.ok(negative instanceof JsonLongInteger);
    assert.deepEqual([negative.digits, negative.negative], [21, true]);
    const huge = parseJsonNode(`[${'7'.repeat(8_000_000)}]`);
    assert.ok(Array.isArray(huge) && huge[0] instanceof JsonLongInteger);
    assert.equal(huge[0].digits, 8_000_000);
    assert.throws(() => parseJsonNode('0123456789012345678901'), /leading zeros/);
  });

  test('property: integers of up to 20 digits are exact and agree with JSON.parse', () => {
    const limit = 10n ** 20n - 1n;
    fc.assert(
      fc.property(fc.bigInt({ min: -limit, max: limit }), (value) => {
        const text = value.toString();
        const parsed = parseJsonNode(text);
        assert.ok(typeof parsed === 'number' || typeof parsed === 'bigint', text);
        assert.equal(BigInt(parsed), value);
        assert.equal(typeof parsed, Number.isSafeInteger(Number(value)) && BigInt(Number(value)) === value ? 'number' : 'bigint');
        assert.equal(Number(parsed), JSON.parse(text));
        assert.equal(formatExactJson(parsed), text);
      }),
      { numRuns: 500 },
    );
  });

  test('property: an integer of more than 20 digits parses as its text, formats back to it, and agrees with JSON.parse as a double', () => {
    const digit = fc.integer({ min: 0, max: 9 });
    const literal = fc
      .tuple(fc.boolean(), fc.integer({ min: 1, max: 9 }), fc.array(digit, { minLength: 20, maxLength: 400 }))
      .map(([minus, first, rest]) => `${minus ? '-' : ''}${String(first)}${rest.join('')}`);
    fc.assert(
      fc.property(literal, (text) => {
        const node = parseJsonNode(`{"v":[${text}]}`);
        const value = (toExactJson(node) as { v: ExactJson[] }).v[0];
        assert.ok(value instanceof JsonLongInteger, text);
        assert.equal(value.text, text);
        assert.equal(value.digits, text.replace('-', '').length);
        assert.equal(value.negative, text.startsWith('-'));
        assert.equal(formatExactJson(toExactJson(node)), `{"v":[${text}]}`);
        assert.equal(value.toNumber(), JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  test('u64 values round-trip exactly through text', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), (value) => {
        const parsed = parseJsonNode(`{"v":${value.toString()}}`);
        assert.ok(parsed instanceof JsonObjectNode);
        const v = parsed.values[0];
        assert.equal(BigInt(v as number | bigint), value);
        assert.equal(typeof v, value <= BigInt(Number.MAX_SAFE_INTEGER) ? 'number' : 'bigint');
      }),
      { numRuns: 500 },
    );
  });

  test('agrees with JSON.parse on every valid document (numbers compared as doubles)', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (text) => {
        assert.deepEqual(asDoubles(toExactJson(parseJsonNode(text))), JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  test('formatting a parsed document gives compact JSON with the same meaning', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (text) => {
        const formatted = formatExactJson(toExactJson(parseJsonNode(text)));
        assert.deepEqual(JSON.parse(formatted), JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  test('accepts and rejects what JSON.parse does, on near-valid text', () => {
    const mutated = fc
      .tuple(fc.json({ maxDepth: 3 }), fc.nat(), fc.constantFrom('', ',', '}', ']', '"', '0', '-', '.', 'e', '\\', ' ', '\u0001', 'x'))
      .map(([text, at, insert]) => {
        const i = at % (text.length + 1);
        return at % 2 === 0 ? text.slice(0, i) + insert + text.slice(i) : text.slice(0, i) + text.slice(i + 1);
      });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.string({ maxLength: 12 })), (text) => {
        assert.equal(accepts(parseJsonNode, text), accepts(JSON.parse, text), `for ${JSON.stringify(text)}`);
      }),
      { numRuns: 2000 },
    );
  });

  test('strings: escapes, surrogates and any code point survive', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }), (s) => {
        assert.equal(parseJsonNode(JSON.stringify(s)), s);
      }),
      { numRuns: 500 },
    );
    assert.equal(parseJsonNode('"\\ud83d\\ude00 \\/ \\b\\f\\n\\r\\t"'), '\u{1f600} / \b\f\n\r\t');
  });

  test('syntax errors say where', () => {
    for (const [text, column] of [
      ['{"a":1,}', 8],
      ['{"a":01}', 6],
      ['{"a":1', 7],
      ['[1 2]', 4],
      ['{"a":"\u0001"}', 7],
      ['{"a":1} x', 9],
      ['', 1],
    ] as const) {
      assert.throws(
        () => parseJsonNode(text),
        (error: unknown) => error instanceof JsonSyntaxError && error.message.includes(`column ${column}`),
        `for ${JSON.stringify(text)}`,
      );
    }
  });

  test('refuses nesting deep enough to threaten the stack', () => {
    assert.throws(() => parseJsonNode('['.repeat(100_000)), JsonSyntaxError);
    assert.deepEqual(parseJsonNode('[[[]]]'), [[[]]]);
  });

  test('objects keep members in order with repeats; plain values keep __proto__ as a key', () => {
    const node = parseJsonNode('{"b":1,"a":2,"b":3,"__proto__":{"x":1}}');
    assert.ok(node instanceof JsonObjectNode);
    assert.deepEqual(node.keys, ['b', 'a', 'b', '__proto__']);
    const plain = toExactJson(node) as Record<string, ExactJson>;
    assert.equal(plain.b, 3);
    assert.equal(Object.getPrototypeOf(plain), Object.prototype);
    assert.deepEqual(Object.keys(plain), ['b', 'a', '__proto__']);
  });
});
