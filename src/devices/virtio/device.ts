/**
 * The transport-neutral virtio device: what a device offers and does, apart from how its
 * registers are reached (MMIO here, PCI or an emulator's own bus elsewhere). A transport owns
 * the status handshake, feature selection and queue set-up; it hands the device its memory, its
 * queues and an interrupt line when the driver is ready, and forwards queue notifications.
 *
 * A device knows nothing of its transport, and its queues know nothing of devices, as in
 * Firecracker's `devices/virtio/{device,queue}.rs`.
 */
import type { GuestMemoryAccess } from '../../vstate/memory.js';
import type { Queue } from './queue.js';

/** Device types of the virtio specification (5.x), those this project has devices for. */
export const VIRTIO_DEVICE_TYPE = { balloon: 5 } as const;

/** Feature bit 32: the device follows virtio 1.0 or later (mandatory for MMIO version 2). */
export const VIRTIO_F_VERSION_1 = 32;

/** Interrupt causes, as the MMIO InterruptStatus register and the PCI ISR report them. */
export type InterruptKind = 'vring' | 'config';

/** What a device signals to its transport once active. */
export interface InterruptLine {
  /** A used buffer was added (`vring`) or the configuration changed (`config`). */
  raise(kind: InterruptKind): void;
  /**
   * The device met a guest error it cannot serve past (a corrupted ring): the transport sets
   * DEVICE_NEEDS_RESET, raises a configuration interrupt, and forwards no more notifications
   * until the driver resets the device.
   */
  needsReset(): void;
}

/** What a device gets when the driver sets DRIVER_OK. */
export interface ActivationContext {
  readonly memory: GuestMemoryAccess;
  /** One per queue the device declared, in order, configured by the driver. */
  readonly queues: readonly Queue[];
  readonly interrupt: InterruptLine;
}

export interface VirtioDevice {
  /** The virtio device type (`VIRTIO_DEVICE_TYPE`). */
  readonly deviceType: number;
  /** The largest size of each queue, in order; their count is the device's queue count. */
  readonly queueMaxSizes: readonly number[];
  /** The feature bits the device offers. */
  readonly availableFeatures: bigint;
  /** The feature bits the driver accepted (a subset of the offered ones; the transport checks). */
  ackFeatures(features: bigint): void;
  /** Fills `data` from the configuration space at `offset`; bytes outside it read as 0. */
  readConfig(offset: number, data: Uint8Array): void;
  /** Writes the configuration space; a write outside it, or to a read-only field, is ignored. */
  writeConfig(offset: number, data: Uint8Array): void;
  /** Starts serving; throws (a `DeviceActivationError`) if it cannot, and stays inactive. */
  activate(context: ActivationContext): void;
  /** The driver notified queue `index`: process it. Never throws. */
  notifyQueue(index: number): void;
  /** Back to the state before activation, for a new handshake; stops timers. */
  reset(): void;
  readonly activated: boolean;
}

/** A device could not start; the transport sets DEVICE_NEEDS_RESET and the driver sees it. */
export class DeviceActivationError extends Error {
  override name = 'DeviceActivationError';
}
