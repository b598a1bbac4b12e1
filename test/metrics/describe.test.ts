/** How an error message names a value a caller got wrong, in each of its three forms. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describe } from '../../src/metrics/describe.js';

const named = { name: 'vcpu.failures' };

test('each kind of value, in each form', () => {
  const rows: [unknown, string, string, string][] = [
    // value, 'value', 'typed', 'literal'
    [-1, '-1', 'number -1', '-1'],
    [1.5, '1.5', 'number 1.5', '1.5'],
    [Number.NaN, 'NaN', 'number NaN', 'NaN'],
    [-0, '-0', 'number -0', '-0'],
    [2n ** 64n, '18446744073709551616n', 'bigint 18446744073709551616', '18446744073709551616n'],
    [true, 'true', 'boolean true', 'true'],
    ['64', 'the string "64"', 'the string "64"', '"64"'],
    ['a "quoted"\nline', 'the string "a \\"quoted\\"\\nline"', 'the string "a \\"quoted\\"\\nline"', '"a \\"quoted\\"\\nline"'],
    [null, 'null', 'null', 'null'],
    [undefined, 'undefined', 'undefined', 'undefined'],
    [{}, 'an object', 'an object', 'an object'],
    [named, 'an object named "vcpu.failures"', 'an object named "vcpu.failures"', 'an object named "vcpu.failures"'],
    [{ name: 7 }, 'an object', 'an object', 'an object'],
    [[1, 2], 'an array', 'an array', 'an array'],
    [() => 1, 'function', 'function', 'function'],
    [Symbol('s'), 'symbol', 'symbol', 'symbol'],
  ];
  for (const [value, plain, typed, literal] of rows) {
    assert.equal(describe(value), plain);
    assert.equal(describe(value, 'value'), plain);
    assert.equal(describe(value, 'typed'), typed);
    assert.equal(describe(value, 'literal'), literal);
  }
});
