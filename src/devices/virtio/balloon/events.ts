/**
 * What a host program waits for on a balloon, as events of the device (an `EventTarget`) and
 * promises over them:
 *
 * | event | dispatched when |
 * |---|---|
 * | `activate` | the guest's driver brought the device up (DRIVER_OK): `updateSize` may be called |
 * | `reset` | an active device was reset: the driver let it go, the machine was reset, or the host disposed of it |
 * | `target` | the driver wrote an `actual_pages` equal to the target (or the host set the target to what the balloon holds) |
 * | `stats` | the guest sent statistics (`latestStats()` has them) |
 *
 * Events are dispatched in a microtask, never inside the guest's access that caused them: a
 * listener runs once the device's state is whole, and may call the device back. A listener that
 * throws is reported by the `EventTarget` as an uncaught exception (the host's bug, not the
 * guest's). `whenActive()` and `whenAtTarget()` look at the state first, so that what already
 * happened is not waited for; Node's `events.once(balloon, 'stats', { signal })` waits for the
 * next statistics.
 */
import { DeviceDisposedError } from './errors.js';

export type BalloonEventType = 'activate' | 'reset' | 'target' | 'stats';

/** `whenActive()` and `whenAtTarget()`'s options. */
export interface BalloonWaitOptions {
  /** Stops waiting: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * The waits of one device, each on an event type and a condition; `dispose()` rejects those still
 * pending, with `DeviceDisposedError`.
 */
export class BalloonWaits {
  readonly #target: EventTarget;
  readonly #pending = new Set<(error: Error) => void>();
  #disposed = false;

  constructor(target: EventTarget) {
    this.#target = target;
  }

  /** Resolves once `holds()` is true: now, or at an event of `type` after which it is. */
  until(type: BalloonEventType, holds: () => boolean, options: BalloonWaitOptions = {}): Promise<void> {
    const { signal } = options;
    if (this.#disposed) return Promise.reject(new DeviceDisposedError());
    // An AbortSignal's reason is an Error unless its owner chose otherwise; it is passed on as it is.
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    if (holds()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error): void => {
        this.#target.removeEventListener(type, onEvent);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(finish);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onEvent = (): void => {
        if (holds()) finish();
      };
      const onAbort = (): void => {
        finish(signal?.reason as Error);
      };
      this.#target.addEventListener(type, onEvent);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.add(finish);
    });
  }

  /** Rejects every pending wait, and every later one. */
  dispose(): void {
    this.#disposed = true;
    for (const finish of [...this.#pending]) finish(new DeviceDisposedError());
  }
}
