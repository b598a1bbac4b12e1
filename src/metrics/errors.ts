/**
 * Errors of the metrics system. Messages follow Firecracker's `MetricsError` so that operators who
 * grep for them find the same text; each class has a stable `name` for `instanceof`-free checks.
 */
export class MetricsError extends Error {
  override name = 'MetricsError';
}

/** `init()` was called a second time. */
export class MetricsAlreadyInitializedError extends MetricsError {
  override name = 'MetricsAlreadyInitializedError';
  constructor() {
    super('Reinitialization of metrics not allowed.');
  }
}

/** The destination given to `init()` could not be opened; nothing was initialized. */
export class MetricsDestinationError extends MetricsError {
  override name = 'MetricsDestinationError';
  constructor(
    readonly destination: string,
    options: { cause: unknown },
  ) {
    super(`Failed to open metrics destination ${destination}: ${causeText(options.cause)}`, options);
  }
}

/**
 * A metrics line could not be written. Nothing is lost: the deltas of the line stay pending and
 * the next successful line carries them. When part of the line had already left, `pendingBytes`
 * says how much of it is kept to be written first next time, so that no reader sees a torn line.
 */
export class MetricsWriteError extends MetricsError {
  override name = 'MetricsWriteError';
  constructor(
    readonly pendingBytes: number,
    options: { cause: unknown },
  ) {
    const rest = pendingBytes > 0 ? ` (${pendingBytes} bytes of the line are kept for the next write)` : '';
    super(`Failed to write metrics: ${causeText(options.cause)}${rest}`, options);
  }
}

/**
 * `write()` was called while the same writer was building a line: from a section of its
 * document, or from code such a section calls. Nothing is written by that call; the line being
 * built is not affected (unless the error is left to escape from the section).
 */
export class MetricsWriteInProgressError extends MetricsError {
  override name = 'MetricsWriteInProgressError';
  constructor() {
    super('Metrics write() was called while a line is being built');
  }
}

function causeText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
