/** The log's throttle, on a clock of the test's: at most one message per key and interval, the rest counted. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { throttleLog } from '../../../src/export/serve/log-throttle.js';

test('one message per key and interval; the next one says how many were held back', () => {
  const said: string[] = [];
  let now = 1_000;
  const log = throttleLog((message) => said.push(message), 10_000, () => now);
  log('a', 'a1');
  log('a', 'a2');
  log('b', 'b1');
  now += 9_999;
  log('a', 'a3');
  assert.deepEqual(said, ['a1', 'b1']);
  now += 1;
  log('a', 'a4');
  log('b', 'b2');
  assert.deepEqual(said, ['a1', 'b1', 'a4 (and 2 more like it since the last such message)', 'b2']);
  now += 10_000;
  log('a', 'a5');
  assert.equal(said.at(-1), 'a5');
});
