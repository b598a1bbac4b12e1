/**
 * A device's periodic timer that does not keep the device alive: Node's timer list holds a
 * timer's callback, so a callback that closes over its device holds the device, its guest memory
 * and everything wired to it, for as long as the timer runs — a VM its host dropped without
 * stopping it is never collected. This timer holds its owner through a `WeakRef`: once the owner
 * is collected, a `FinalizationRegistry` clears the timer (or its next tick does). Unref'd: a
 * device never keeps the process alive on its own.
 */

/** Clears the timer of an owner that was collected while it ran. */
const COLLECTED = new FinalizationRegistry<NodeJS.Timeout>((timer) => {
  clearInterval(timer);
});

export class WeakInterval<T extends object> {
  readonly #timer: NodeJS.Timeout;
  #stopped = false;

  /** Calls `tick(owner)` every `ms` milliseconds while `owner` lives and `stop()` was not called. */
  constructor(owner: T, ms: number, tick: (owner: T) => void) {
    const weak = new WeakRef(owner);
    const timer = setInterval(() => {
      const live = weak.deref();
      if (live === undefined) clearInterval(timer);
      else tick(live);
    }, ms);
    timer.unref();
    this.#timer = timer;
    COLLECTED.register(owner, timer, this);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    COLLECTED.unregister(this);
  }
}
