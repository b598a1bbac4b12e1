/**
 * Process start-up times and operation latencies, measured into store metrics.
 *
 * `ProcessTimeReporter` is Firecracker's reporter of the same name: given the moment the process
 * started (on the monotonic clock) and the CPU time it had used by then, it stores how long the
 * process took to get ready into `api_server.process_startup_time_us` (wall clock) and
 * `api_server.process_startup_time_cpu_us` (CPU time, plus the CPU time a launcher such as the
 * jailer spent before handing over, when given).
 *
 * `measureLatencyUs`, `startLatencyUs` and `storeElapsedUs` store the duration of one operation,
 * in whole microseconds, into a store metric such as `latencies_us.pause_vm`: the metric keeps the
 * latest duration, as Firecracker's snapshot and pause/resume timings do. For the min/max/sum of
 * many operations use a `latency(...)` field and its `record()`/`time()` instead.
 *
 * Clocks: "monotonic" is the clock of `process.hrtime`, which on Linux is `CLOCK_MONOTONIC`, the
 * clock Firecracker and its jailer read, so start times passed in by a launcher are comparable.
 * CPU time is `process.cpuUsage()`, user plus system time of all the process's threads, as
 * `CLOCK_PROCESS_CPUTIME_ID` gives it.
 */
import { describe } from '../metrics/describe.js';
import type { LatencyRecorder } from '../metrics/latency.js';
import { runTimed } from '../metrics/timed.js';
import type { StoreMetric } from '../metrics/metric.js';
import { toU64, u64ToBigInt } from '../metrics/u64.js';
import { ApiServerMetrics, METRICS as API_SERVER_METRICS } from './metrics/api-server.js';

/** The clocks a `ProcessTimeReporter` reads, in microseconds; replaceable for tests. */
export interface ProcessClock {
  /** Now on the monotonic clock. */
  monotonicUs(): number | bigint;
  /** CPU time the process has used so far. */
  processCpuUs(): number | bigint;
}

/** Now on the monotonic clock (`CLOCK_MONOTONIC` on Linux), in whole microseconds. */
export function monotonicTimeUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** CPU time (user + system) this process has used so far, in microseconds. */
export function processCpuTimeUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * When this process started, on the monotonic clock, in microseconds: a start time for a
 * `ProcessTimeReporter` when no launcher passed one in.
 */
export function processStartTimeUs(): number {
  return Math.max(0, monotonicTimeUs() - Math.round(process.uptime() * 1e6));
}

const SYSTEM_CLOCK: ProcessClock = { monotonicUs: monotonicTimeUs, processCpuUs: processCpuTimeUs };

export interface ProcessTimeReporterOptions {
  /** When the process started, on the monotonic clock, in µs (Firecracker's `--start-time-us`). */
  readonly startTimeUs?: number | bigint;
  /** CPU time the process had used when it started, in µs (Firecracker's `--start-time-cpu-us`). */
  readonly startTimeCpuUs?: number | bigint;
  /** CPU time the launcher used before starting this process, in µs (`--parent-cpu-time-us`). */
  readonly parentCpuTimeUs?: number | bigint;
  /**
   * The group the times are stored into.
   * @default the `api_server` group of the global document
   */
  readonly metrics?: ApiServerMetrics;
  /** @default the process's monotonic and CPU clocks */
  readonly clock?: ProcessClock;
}

/**
 * Stores the process start-up times into `api_server`. Each time without a start time given is
 * left alone, as in Firecracker.
 */
export class ProcessTimeReporter {
  readonly #startTimeUs: bigint | undefined;
  readonly #startTimeCpuUs: bigint | undefined;
  readonly #parentCpuTimeUs: bigint;
  readonly #metrics: ApiServerMetrics;
  readonly #clock: ProcessClock;

  /** Checks every option; a bad one throws a `TypeError` or `RangeError` naming it. */
  constructor(options: ProcessTimeReporterOptions = {}) {
    const given: unknown = options;
    if (typeof given !== 'object' || given === null) {
      throw new TypeError(`ProcessTimeReporter: options must be an object, got ${describe(given, 'typed')}`);
    }
    this.#startTimeUs = optionalMicros(options.startTimeUs, 'startTimeUs');
    this.#startTimeCpuUs = optionalMicros(options.startTimeCpuUs, 'startTimeCpuUs');
    this.#parentCpuTimeUs = optionalMicros(options.parentCpuTimeUs, 'parentCpuTimeUs') ?? 0n;
    const metrics = options.metrics ?? API_SERVER_METRICS;
    if (!ApiServerMetrics.owns(metrics)) {
      throw new TypeError('ProcessTimeReporter: metrics must be an api_server group (ApiServerMetrics.create())');
    }
    this.#metrics = metrics;
    const clock = options.clock ?? SYSTEM_CLOCK;
    if (typeof clock !== 'object' || typeof clock.monotonicUs !== 'function' || typeof clock.processCpuUs !== 'function') {
      throw new TypeError('ProcessTimeReporter: clock must have monotonicUs() and processCpuUs() methods');
    }
    this.#clock = clock;
  }

  /**
   * Stores the wall-clock time since `startTimeUs` into `process_startup_time_us` and returns it;
   * returns `undefined` and stores nothing without a `startTimeUs`. Throws a `RangeError` if the
   * start time is later than now, which means it was not read from the monotonic clock.
   */
  reportStartTime(): number | undefined {
    const start = this.#startTimeUs;
    if (start === undefined) return undefined;
    const now = readClock(() => this.#clock.monotonicUs(), 'clock.monotonicUs()');
    if (now < start) {
      throw new RangeError(
        `ProcessTimeReporter: startTimeUs ${start} is later than the monotonic clock now (${now} µs); ` +
          'it must be read from CLOCK_MONOTONIC (e.g. monotonicTimeUs()), not from the wall clock',
      );
    }
    return this.#store(this.#metrics.process_startup_time_us, now - start);
  }

  /**
   * Stores the CPU time used since `startTimeCpuUs`, plus `parentCpuTimeUs`, into
   * `process_startup_time_cpu_us` and returns it; returns `undefined` and stores nothing without a
   * `startTimeCpuUs`. Throws a `RangeError` if the start CPU time exceeds the CPU time used now.
   */
  reportCpuStartTime(): number | undefined {
    const start = this.#startTimeCpuUs;
    if (start === undefined) return undefined;
    const now = readClock(() => this.#clock.processCpuUs(), 'clock.processCpuUs()');
    if (now < start) {
      throw new RangeError(
        `ProcessTimeReporter: startTimeCpuUs ${start} exceeds the CPU time the process has used (${now} µs)`,
      );
    }
    return this.#store(this.#metrics.process_startup_time_cpu_us, now - start + this.#parentCpuTimeUs);
  }

  #store(metric: StoreMetric, micros: bigint): number {
    metric.store(micros);
    return metric.fetch();
  }
}

/**
 * Stores the whole microseconds elapsed since `startUs` (a `monotonicTimeUs()` reading) into
 * `metric` and returns them; Firecracker's `update_metric_with_elapsed_time`.
 */
export function storeElapsedUs(metric: StoreMetric, startUs: number | bigint): number {
  checkStoreMetric(metric, 'storeElapsedUs');
  const start = u64ToBigInt(toU64(startUs, 'storeElapsedUs: startUs'));
  const now = BigInt(monotonicTimeUs());
  if (now < start) {
    throw new RangeError(
      `storeElapsedUs: startUs ${start} is later than the monotonic clock now (${now} µs); read it with monotonicTimeUs()`,
    );
  }
  metric.store(now - start);
  return Number(now - start);
}

/**
 * Starts timing an operation. `stop()` stores the whole microseconds elapsed into `metric` and
 * returns them; later calls return the same and store nothing. With `using`, the end of the
 * scope stops it.
 */
export function startLatencyUs(metric: StoreMetric): LatencyRecorder {
  checkStoreMetric(metric, 'startLatencyUs');
  const start = process.hrtime.bigint();
  let elapsedUs: number | undefined;
  const stop = (): number => {
    if (elapsedUs === undefined) {
      const micros = (process.hrtime.bigint() - start) / 1000n;
      metric.store(micros);
      elapsedUs = Number(micros);
    }
    return elapsedUs;
  };
  return { stop, [Symbol.dispose]: stop };
}

/**
 * Runs `operation` and stores its duration, in whole microseconds, into `metric`, whether it
 * returns or throws; returns what it returns. When it returns a promise, the duration is stored
 * once the promise settles, and the returned promise settles after that.
 */
export function measureLatencyUs<T>(metric: StoreMetric, operation: () => Promise<T>): Promise<T>;
export function measureLatencyUs<T>(metric: StoreMetric, operation: () => T): T;
export function measureLatencyUs<T>(metric: StoreMetric, operation: () => T): T | Promise<Awaited<T>> {
  checkStoreMetric(metric, 'measureLatencyUs');
  if (typeof operation !== 'function') {
    throw new TypeError(`measureLatencyUs: operation must be a function, got ${describe(operation, 'typed')}`);
  }
  return runTimed(startLatencyUs(metric), operation);
}

function checkStoreMetric(metric: unknown, caller: string): asserts metric is StoreMetric {
  if (typeof metric !== 'object' || metric === null || typeof (metric as { store?: unknown }).store !== 'function') {
    const isObject = typeof metric === 'object' && metric !== null;
    const hint = !isObject
      ? ''
      : 'sum_us' in metric
        ? ' without a store() method (a latency aggregate records durations itself: use its record() or time())'
        : ' without a store() method';
    throw new TypeError(`${caller}: metric must be a store metric, got ${describe(metric, 'typed')}${hint}`);
  }
}

function optionalMicros(value: unknown, option: string): bigint | undefined {
  if (value === undefined) return undefined;
  return u64ToBigInt(toU64(value, `ProcessTimeReporter: ${option}`));
}

function readClock(read: () => unknown, what: string): bigint {
  return u64ToBigInt(toU64(read(), `ProcessTimeReporter: ${what}`));
}
