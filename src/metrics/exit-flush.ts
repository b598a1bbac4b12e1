/**
 * Last lines at process exit, for every writer that asked for one (`flushOnExit`).
 *
 * One listener per event serves all writers, so that with several writers (several VMs in one
 * process) the decision to raise a signal again is taken once. On SIGTERM, SIGINT or SIGHUP
 * every writer flushes; then, if the application has handlers of its own for that signal, it is
 * left to them: the process lives on, and the writers flush again when it exits, so that what is
 * counted during a graceful shutdown is written too. With no other handler the signal is raised
 * again and ends the process as it would have without us.
 */

/** The signals whose default action ends the process and that a VMM is commonly stopped with. */
export const EXIT_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

const flushes = new Set<() => void>();

function flushAll(): void {
  for (const flush of [...flushes]) {
    try {
      flush();
    } catch (error) {
      // A writer's failure (its onError hook threw) must not cost the others their last line.
      process.emitWarning(error as Error);
    }
  }
}

function onExit(): void {
  flushAll();
  flushes.clear();
  detach();
}

function onSignal(signal: NodeJS.Signals): void {
  flushAll();
  if (process.listeners(signal).some((listener) => listener !== onSignal)) return;
  flushes.clear();
  detach();
  process.kill(process.pid, signal);
}

function attach(): void {
  process.on('exit', onExit);
  // First in line: Node removes a `once` listener before calling it, so a listener that ran
  // before this one could no longer be seen, and the signal would be raised again under it.
  for (const signal of EXIT_SIGNALS) process.prependListener(signal, onSignal);
}

function detach(): void {
  process.off('exit', onExit);
  for (const signal of EXIT_SIGNALS) process.off(signal, onSignal);
}

/** Calls `flush` at exit and on the exit signals until the returned function is called. */
export function flushAtExit(flush: () => void): () => void {
  if (flushes.size === 0) attach();
  flushes.add(flush);
  return () => {
    if (flushes.delete(flush) && flushes.size === 0) detach();
  };
}
