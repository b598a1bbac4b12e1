import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { EntryDocument, groupEntry, LatencyAggregateMetrics, LocalIncMetric, LocalStoreMetric, Metrics, type StoreMetric } from '../../src/index.js';
import { ApiServerMetrics, METRICS as API_SERVER } from '../../src/logger/metrics/api-server.js';
import * as latencies from '../../src/logger/metrics/latencies.js';
import {
  measureLatencyUs,
  monotonicTimeUs,
  processCpuTimeUs,
  processStartTimeUs,
  ProcessTimeReporter,
  startLatencyUs,
  storeElapsedUs,
  type ProcessClock,
} from '../../src/logger/process-time.js';
import { parseLine } from '../devices/support/ordered-json.js';

const U64_MAX = (1n << 64n) - 1n;

function fixedClock(monotonic: number | bigint, cpu: number | bigint): ProcessClock {
  return { monotonicUs: () => monotonic, processCpuUs: () => cpu };
}

/** Spins for at least `us` microseconds of monotonic time. */
function spin(us: number): void {
  const end = process.hrtime.bigint() + BigInt(us) * 1000n;
  while (process.hrtime.bigint() < end) {
    // busy
  }
}

test('the reporter stores wall and CPU start-up times from the given start times', () => {
  const metrics = ApiServerMetrics.create();
  const reporter = new ProcessTimeReporter({
    startTimeUs: 1_000,
    startTimeCpuUs: 100,
    parentCpuTimeUs: 50,
    metrics,
    clock: fixedClock(5_000, 700),
  });
  assert.equal(reporter.reportStartTime(), 4_000);
  assert.equal(reporter.reportCpuStartTime(), 650);
  assert.equal(metrics.process_startup_time_us.fetch(), 4_000);
  assert.equal(metrics.process_startup_time_cpu_us.fetch(), 650);
  assert.equal(
    ApiServerMetrics.serialize(metrics),
    '{"process_startup_time_us":4000,"process_startup_time_cpu_us":650}',
  );
});

test('property: the stored times are exactly now − start (+ parent CPU time), beyond 2^53 too', () => {
  fc.assert(
    fc.property(
      fc.bigInt(0n, U64_MAX),
      fc.bigInt(0n, U64_MAX),
      fc.bigInt(0n, U64_MAX),
      fc.bigInt(0n, U64_MAX),
      fc.bigInt(0n, 1n << 62n),
      (a, b, c, d, parent) => {
        const [start, now] = a <= b ? [a, b] : [b, a];
        const [cpuStart, cpuNow] = c <= d ? [c, d] : [d, c];
        const metrics = ApiServerMetrics.create();
        const reporter = new ProcessTimeReporter({
          startTimeUs: start,
          startTimeCpuUs: cpuStart,
          parentCpuTimeUs: parent,
          metrics,
          clock: fixedClock(now, cpuNow),
        });
        assert.equal(reporter.reportStartTime(), Number(now - start));
        assert.equal(metrics.process_startup_time_us.fetchBigInt(), now - start);
        const cpu = cpuNow - cpuStart + parent;
        if (cpu > U64_MAX) {
          assert.throws(() => reporter.reportCpuStartTime(), { name: 'RangeError', message: /process_startup_time_cpu_us/ });
        } else {
          assert.equal(reporter.reportCpuStartTime(), Number(cpu));
          assert.equal(metrics.process_startup_time_cpu_us.fetchBigInt(), cpu);
        }
      },
    ),
  );
});

test('without a start time a report stores nothing, as in Firecracker', () => {
  const metrics = ApiServerMetrics.create();
  metrics.process_startup_time_us.store(9);
  metrics.process_startup_time_cpu_us.store(8);
  const reporter = new ProcessTimeReporter({ parentCpuTimeUs: 5, metrics, clock: fixedClock(100, 100) });
  assert.equal(reporter.reportStartTime(), undefined);
  assert.equal(reporter.reportCpuStartTime(), undefined);
  assert.equal(metrics.process_startup_time_us.fetch(), 9);
  assert.equal(metrics.process_startup_time_cpu_us.fetch(), 8);
});

test('with the real clocks, the start-up times are those of this process', () => {
  const metrics = ApiServerMetrics.create();
  const before = processCpuTimeUs();
  const reporter = new ProcessTimeReporter({ startTimeUs: processStartTimeUs(), startTimeCpuUs: 0, metrics });
  const wall = reporter.reportStartTime();
  const cpu = reporter.reportCpuStartTime();
  const after = processCpuTimeUs();
  assert.ok(wall !== undefined && wall > 0 && wall <= process.uptime() * 1e6 + 1000, `wall ${wall}`);
  assert.ok(cpu !== undefined && cpu >= before && cpu <= after, `cpu ${cpu} in [${before}, ${after}]`);
});

test('the reporter stores into the global api_server group by default', () => {
  const reporter = new ProcessTimeReporter({ startTimeUs: monotonicTimeUs() - 2_000 });
  const stored = reporter.reportStartTime();
  assert.ok(stored !== undefined && stored >= 2_000);
  assert.equal(API_SERVER.process_startup_time_us.fetch(), stored);
});

test('bad reporter options throw errors naming the option', () => {
  const cases: [unknown, RegExp, string][] = [
    [{ startTimeUs: -1 }, /^ProcessTimeReporter: startTimeUs: expected an integer from 0 to 2\^64-1, got -1$/, 'RangeError'],
    [{ startTimeUs: 1.5 }, /startTimeUs: .* got 1\.5$/, 'RangeError'],
    [{ startTimeUs: Number.NaN }, /startTimeUs: .* got NaN$/, 'RangeError'],
    [{ startTimeUs: '100' }, /startTimeUs: expected a number or a bigint, got the string "100"$/, 'TypeError'],
    [{ startTimeCpuUs: 2n ** 64n }, /startTimeCpuUs: .* got 18446744073709551616n$/, 'RangeError'],
    [{ parentCpuTimeUs: null }, /parentCpuTimeUs: expected a number or a bigint, got null$/, 'TypeError'],
    [{ metrics: {} }, /metrics must be an api_server group/, 'TypeError'],
    [{ metrics: latencies.METRICS }, /metrics must be an api_server group/, 'TypeError'],
    [{ clock: { monotonicUs: () => 0 } }, /clock must have monotonicUs\(\) and processCpuUs\(\) methods/, 'TypeError'],
    [null, /options must be an object, got null/, 'TypeError'],
    [5, /options must be an object, got number 5/, 'TypeError'],
  ];
  for (const [options, message, name] of cases) {
    assert.throws(() => new ProcessTimeReporter(options as never), { name, message }, JSON.stringify(String(options)));
  }
});

test('a start time later than now (not read from the monotonic clock) throws and stores nothing', () => {
  const metrics = ApiServerMetrics.create();
  // A wall-clock reading (2026-12-06) beside a monotonic clock 40 minutes after boot, as a
  // launcher that read the wrong clock would pass it: the clocks are given, as the system's
  // (faketime moves its monotonic clock with the wall clock) would not show the mistake every time.
  const wallClockUs = 1_796_579_416_275_000;
  const reporter = new ProcessTimeReporter({ startTimeUs: wallClockUs, startTimeCpuUs: 1e15, metrics, clock: fixedClock(2_400_000_000, 1_000_000) });
  assert.throws(() => reporter.reportStartTime(), {
    name: 'RangeError',
    message: /^ProcessTimeReporter: startTimeUs \d+ is later than the monotonic clock now \(\d+ µs\); it must be read from CLOCK_MONOTONIC/,
  });
  assert.throws(() => reporter.reportCpuStartTime(), {
    name: 'RangeError',
    message: /startTimeCpuUs 1000000000000000 exceeds the CPU time the process has used/,
  });
  assert.equal(metrics.process_startup_time_us.fetch(), 0);
  assert.equal(metrics.process_startup_time_cpu_us.fetch(), 0);
});

test('a clock giving a bad reading throws naming the clock', () => {
  const reporter = new ProcessTimeReporter({
    startTimeUs: 0,
    startTimeCpuUs: 0,
    metrics: ApiServerMetrics.create(),
    clock: fixedClock(-5, 'x' as unknown as number),
  });
  assert.throws(() => reporter.reportStartTime(), { name: 'RangeError', message: /clock\.monotonicUs\(\): .* got -5/ });
  assert.throws(() => reporter.reportCpuStartTime(), { name: 'TypeError', message: /clock\.processCpuUs\(\): .* got the string "x"/ });
});

test('the clock helpers read the monotonic clock and the process CPU time', () => {
  const hr = Number(process.hrtime.bigint() / 1000n);
  const a = monotonicTimeUs();
  spin(200);
  const b = monotonicTimeUs();
  assert.ok(Number.isSafeInteger(a) && a >= hr && b - a >= 200, `${hr} ≤ ${a}, ${b}`);
  const usage = process.cpuUsage();
  const cpu = processCpuTimeUs();
  assert.ok(Number.isSafeInteger(cpu) && cpu >= usage.user + usage.system);
  const start = processStartTimeUs();
  assert.ok(start <= monotonicTimeUs() && monotonicTimeUs() - start >= process.uptime() * 1e6 - 1000);
});

test('measureLatencyUs stores the duration of an operation and returns its result', () => {
  const metric = new LocalStoreMetric('latencies_us.pause_vm');
  const t0 = process.hrtime.bigint();
  const result = measureLatencyUs(metric, () => {
    spin(1_500);
    return 'paused';
  });
  const bound = Number((process.hrtime.bigint() - t0) / 1000n);
  assert.equal(result, 'paused');
  assert.ok(metric.fetch() >= 1_500 && metric.fetch() <= bound, `${metric.fetch()} in [1500, ${bound}]`);
});

test('measureLatencyUs stores the duration of an operation that throws, and rethrows', () => {
  const metric = new LocalStoreMetric('m');
  const failure = new Error('snapshot failed');
  assert.throws(
    () =>
      measureLatencyUs(metric, () => {
        spin(300);
        throw failure;
      }),
    (error: unknown) => error === failure,
  );
  assert.ok(metric.fetch() >= 300);
});

test('measureLatencyUs waits for a promise to settle, fulfilled or rejected', async () => {
  const metric = new LocalStoreMetric('m');
  metric.store(123_456_789);
  let resolve: (value: number) => void = () => undefined;
  const pending = measureLatencyUs(metric, () => new Promise<number>((r) => (resolve = r)));
  assert.equal(metric.fetch(), 123_456_789, 'nothing stored while the operation runs');
  spin(400);
  resolve(42);
  assert.equal(await pending, 42);
  assert.ok(metric.fetch() >= 400 && metric.fetch() < 123_456_789);

  metric.store(123_456_789);
  const failure = new Error('load failed');
  await assert.rejects(
    measureLatencyUs(metric, async () => {
      await new Promise((r) => setTimeout(r, 2));
      throw failure;
    }),
    (error: unknown) => error === failure,
  );
  assert.ok(metric.fetch() >= 1_000 && metric.fetch() < 123_456_789);
});

test('startLatencyUs stops once, by stop() or at the end of a using scope', () => {
  const metric = new LocalStoreMetric('m');
  const recorder = startLatencyUs(metric);
  spin(300);
  const elapsed = recorder.stop();
  assert.ok(elapsed >= 300);
  assert.equal(metric.fetch(), elapsed);
  metric.store(1);
  assert.equal(recorder.stop(), elapsed, 'a second stop returns the same duration');
  assert.equal(metric.fetch(), 1, 'and stores nothing');
  {
    using _timing = startLatencyUs(metric);
    spin(250);
  }
  assert.ok(metric.fetch() >= 250);
});

test('storeElapsedUs stores the time since a monotonicTimeUs() reading', () => {
  const metric = new LocalStoreMetric('m');
  const start = monotonicTimeUs();
  spin(500);
  const elapsed = storeElapsedUs(metric, start);
  assert.ok(elapsed >= 500);
  assert.equal(metric.fetch(), elapsed);
  assert.equal(storeElapsedUs(metric, BigInt(start)) >= elapsed, true);
  assert.throws(() => storeElapsedUs(metric, monotonicTimeUs() + 10_000_000), {
    name: 'RangeError',
    message: /^storeElapsedUs: startUs \d+ is later than the monotonic clock now/,
  });
  assert.throws(() => storeElapsedUs(metric, -1), { name: 'RangeError', message: /^storeElapsedUs: startUs: .* got -1$/ });
});

test('the latency helpers reject what is not a store metric or not an operation', () => {
  const op = (): number => 1;
  const notStores: [unknown, RegExp][] = [
    [undefined, /metric must be a store metric, got undefined$/],
    [{}, /metric must be a store metric, got an object without a store\(\) method$/],
    [new LocalIncMetric('vcpu.failures'), /got an object named "vcpu.failures" without a store\(\) method$/],
    [
      new LatencyAggregateMetrics('x_agg', new LocalStoreMetric('a'), new LocalStoreMetric('b'), new LocalIncMetric('c')),
      /use its record\(\) or time\(\)/,
    ],
  ];
  for (const [bad, message] of notStores) {
    assert.throws(() => measureLatencyUs(bad as StoreMetric, op), { name: 'TypeError', message });
    assert.throws(() => startLatencyUs(bad as StoreMetric), { name: 'TypeError', message: /^startLatencyUs: / });
    assert.throws(() => storeElapsedUs(bad as StoreMetric, 0), { name: 'TypeError', message: /^storeElapsedUs: / });
  }
  assert.throws(() => measureLatencyUs(new LocalStoreMetric('m'), 'run' as never), {
    name: 'TypeError',
    message: /^measureLatencyUs: operation must be a function, got the string "run"$/,
  });
});

test('a latencies_us field measured with the helper appears in a written line', () => {
  measureLatencyUs(latencies.METRICS.vmm_pause_vm, () => {
    spin(200);
  });
  const line = parseLine(new Metrics(new EntryDocument([groupEntry(latencies.PerformanceMetrics, latencies.METRICS)])).render());
  const value = line.object('latencies_us').integer('vmm_pause_vm');
  assert.ok(value >= 200n);
  assert.equal(line.object('latencies_us').integer('pause_vm'), 0n);
});
