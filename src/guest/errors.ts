/**
 * Errors of the simulated guest driver. `GuestDriverError` is the base; `ProbeError` ends a
 * handshake; `DeviceProtocolError` is a device breaking the ring protocol (Linux marks such a
 * queue broken and stops using it; this driver does the same).
 */

/** Base of the guest driver's errors. */
export class GuestDriverError extends Error {
  override name = 'GuestDriverError';
}

/** The device could not be probed: what went wrong in the handshake. */
export class ProbeError extends GuestDriverError {
  override name = 'ProbeError';
}

/** The device wrote something into a ring that no device following the protocol would. */
export class DeviceProtocolError extends GuestDriverError {
  override name = 'DeviceProtocolError';
}

/** A buffer was added to a queue without enough free descriptors for it. */
export class QueueFullError extends GuestDriverError {
  override name = 'QueueFullError';
}
