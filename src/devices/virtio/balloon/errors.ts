/**
 * Errors of the balloon's host API. Messages are Firecracker's (`BalloonError` in
 * `devices/virtio/balloon/mod.rs`), so that an operator who greps for one finds the same text;
 * each class has a stable `name`. Nothing the guest does raises one of these: guest errors are
 * counted in the balloon's metrics, never thrown.
 */
export class BalloonError extends Error {
  override name = 'BalloonError';
}

/** A host request that needs the driver (`updateSize`, the hinting commands) before activation. */
export class DeviceNotActiveError extends BalloonError {
  override name = 'DeviceNotActiveError';
  constructor() {
    super('Device not activated yet.');
  }
}

/** The balloon was disposed of: it serves no guest again, and what waited on it stops waiting. */
export class DeviceDisposedError extends BalloonError {
  override name = 'DeviceDisposedError';
  constructor() {
    super('The balloon was disposed of.');
  }
}

/** A hinting command on a balloon built without `free_page_hinting`. */
export class HintingNotEnabledError extends BalloonError {
  override name = 'HintingNotEnabledError';
  constructor() {
    super('Attempting to use hinting when not enabled');
  }
}

/** `latestStats()` on a balloon built with `stats_polling_interval_s: 0`. */
export class StatisticsDisabledError extends BalloonError {
  override name = 'StatisticsDisabledError';
  constructor() {
    super('Received stats query when stats are disabled.');
  }
}

/**
 * `updateStatsPollingInterval()` from or to 0: the statistics queue exists or not from the
 * start (virtio 1.2, 5.5.2), so it cannot appear or go away later.
 */
export class StatisticsStateChangeError extends BalloonError {
  override name = 'StatisticsStateChangeError';
  constructor() {
    super('Statistics cannot be enabled/disabled after activation.');
  }
}

/**
 * A target the balloon cannot take: more than the guest's memory, or more pages than the 32-bit
 * `num_pages` field holds. `limitMib` is that bound, in MiB.
 */
export class TooMuchMemoryRequestedError extends BalloonError {
  override name = 'TooMuchMemoryRequestedError';
  constructor(readonly limitMib: number) {
    super(`Requested memory should be less than ${limitMib}MiB`);
  }
}

/** The transport's interrupt line threw while the host changed the configuration. */
export class BalloonInterruptError extends BalloonError {
  override name = 'BalloonInterruptError';
  constructor(options: { cause: unknown }) {
    const cause = options.cause;
    super(`Received error while sending an interrupt: ${cause instanceof Error ? cause.message : String(cause)}`, options);
  }
}

/** A configuration or argument that is not one (a wrong type, a fraction, out of range). */
export class InvalidBalloonConfigError extends BalloonError {
  override name = 'InvalidBalloonConfigError';
  constructor(detail: string) {
    super(`Invalid balloon configuration: ${detail}`);
  }
}
