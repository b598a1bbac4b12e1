/** The one way an operation is timed, whether it returns, throws or returns a promise. */

/**
 * Runs `operation` and stops `recorder` when it ends: when it returns or throws, or, when it
 * returns a promise, once that promise settles (the promise returned settles after that).
 */
export function runTimed<T>(recorder: { stop(): unknown }, operation: () => T): T {
  let result: T;
  try {
    result = operation();
  } catch (error) {
    recorder.stop();
    throw error;
  }
  if (!isThenable(result)) {
    recorder.stop();
    return result;
  }
  return Promise.resolve(result).finally(() => {
    recorder.stop();
  }) as T;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
