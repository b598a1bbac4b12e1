/**
 * A clock for tests of code that arms real timers (the balloon's statistics interval): while a
 * `FakeTimers` is installed, `setInterval`/`setTimeout` and their `clear*` are its own, and time
 * moves only by `tick(ms)`, which runs what falls due in order.
 *
 * node:test's `mock.timers` does the same, but on Node 20 it prints "ExperimentalWarning: The
 * MockTimers API is an experimental feature" in every test process that uses it, which `npm test`
 * would show a newcomer.
 */
import type { TestContext } from 'node:test';

interface Pending {
  readonly id: number;
  /** The fake time it is due at, in ms. */
  at: number;
  /** Its period, for an interval. */
  readonly every: number | undefined;
  readonly run: () => void;
}

/** What the fake `setInterval`/`setTimeout` return: a Timeout's shape, enough for the code under test. */
class FakeTimeout {
  constructor(readonly id: number) {}
  unref(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  hasRef(): boolean {
    return false;
  }
  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

const REAL = {
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
};

export class FakeTimers {
  #now = 0;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #installed = false;

  /** Installs a fake clock until `restore()` — or, given a test's context, until the test ends. */
  static install(t?: TestContext): FakeTimers {
    const timers = new FakeTimers();
    timers.#install();
    t?.after(() => { timers.restore(); });
    return timers;
  }

  /** Moves the clock `ms` on, running each timer that falls due, earliest first (then the first armed). */
  tick(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: Pending | undefined;
      for (const pending of this.#pending.values()) {
        if (pending.at <= end && (due === undefined || pending.at < due.at)) due = pending;
      }
      if (due === undefined) break;
      this.#now = due.at;
      if (due.every === undefined) this.#pending.delete(due.id);
      else due.at += due.every;
      due.run();
    }
    this.#now = end;
  }

  /** Puts the real timers back and forgets every pending one. */
  restore(): void {
    if (!this.#installed) return;
    this.#installed = false;
    this.#pending.clear();
    Object.assign(globalThis, REAL);
  }

  #install(): void {
    this.#installed = true;
    const arm = (every: boolean) => (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): FakeTimeout => {
      const id = this.#nextId++;
      // As Node does: a delay under 1 ms (or not a number) is 1 ms.
      const delay = Number.isFinite(ms) && (ms ?? 0) >= 1 ? Math.trunc(ms ?? 1) : 1;
      this.#pending.set(id, { id, at: this.#now + delay, every: every ? delay : undefined, run: () => { callback(...args); } });
      return new FakeTimeout(id);
    };
    const clear = (real: (handle: never) => void) => (handle: unknown): void => {
      if (handle instanceof FakeTimeout) this.#pending.delete(handle.id);
      else if (typeof handle === 'number') this.#pending.delete(handle);
      // A timer armed before the fake clock was installed is a real one.
      else if (handle !== undefined && handle !== null) real(handle as never);
    };
    Object.assign(globalThis, {
      setInterval: arm(true),
      setTimeout: arm(false),
      clearInterval: clear(REAL.clearInterval),
      clearTimeout: clear(REAL.clearTimeout),
    });
  }
}
