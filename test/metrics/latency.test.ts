import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineGroup, latency } from '../../src/index.js';

const Group = defineGroup('disk', { read_agg: latency('Duration of reads.') });

test('min, max and sum follow the samples; 0 leaves the minimum unset', () => {
  const { read_agg } = Group.create();
  read_agg.recordUs(0);
  assert.equal(read_agg.min_us.fetch(), 0);
  read_agg.recordUs(30);
  read_agg.recordUs(10);
  read_agg.recordUs(20);
  read_agg.recordUs(0);
  assert.deepEqual([read_agg.min_us.fetch(), read_agg.max_us.fetch(), read_agg.sum_us.count()], [10, 30, 60]);
  assert.equal(Group.serialize(Group.create()), '{"read_agg":{"min_us":0,"max_us":0,"sum_us":0}}');
});

test('a bad sample throws naming the metric and records nothing', () => {
  const { read_agg } = Group.create();
  assert.throws(() => {
    read_agg.recordUs(-5);
  }, /^RangeError: disk\.read_agg\.recordUs\(\): /);
  assert.equal(read_agg.sum_us.count(), 0);
  assert.equal(read_agg.max_us.fetch(), 0);
});

test('a recorder measures monotonic microseconds once, with stop() or using', async () => {
  const { read_agg } = Group.create();
  const recorder = read_agg.record();
  await sleep(5);
  const elapsed = recorder.stop();
  assert.ok(elapsed >= 4000, `${elapsed} µs for a 5 ms sleep`);
  assert.equal(recorder.stop(), elapsed, 'a second stop changes nothing');
  assert.equal(read_agg.sum_us.count(), elapsed);
  {
    using _timer = read_agg.record();
  }
  assert.equal(read_agg.sum_us.count() >= elapsed, true);
  assert.throws(() =>
    read_agg.time(() => {
      throw new Error('boom');
    }),
  /boom/);
  assert.equal(read_agg.sum_us.count() >= elapsed, true);
  assert.equal(read_agg.time(() => 7), 7);
});

test('time() of an async operation lasts until its promise settles', async () => {
  const { read_agg } = Group.create();
  assert.equal(await read_agg.time(() => sleep(20).then(() => 'done')), 'done');
  assert.ok(read_agg.max_us.fetch() >= 19_000, `${read_agg.max_us.fetch()} µs for a 20 ms operation`);
  await assert.rejects(read_agg.time(() => Promise.reject(new Error('late boom'))), /late boom/);
  assert.equal(read_agg.min_us.fetch() < 19_000, true, 'the rejected one was recorded too');
  assert.deepEqual(JSON.parse(JSON.stringify({ read_agg })), {
    read_agg: { min_us: read_agg.min_us.fetch(), max_us: read_agg.max_us.fetch(), sum_us: read_agg.sum_us.fetchDiff() },
  });
});
