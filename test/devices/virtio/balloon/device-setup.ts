/**
 * Test support for the balloon's device tests: a guest memory, the balloon's queues laid out in
 * it by the shared virtqueue fixture, a fake interrupt line that records what the device raised,
 * and a metrics group of the test's own.
 */
import { Balloon, type BalloonConfig, type BalloonOptions } from '../../../../src/devices/virtio/balloon/device.js';
import { BalloonDeviceMetrics } from '../../../../src/devices/virtio/balloon/metrics.js';
import type { InterruptKind, InterruptLine } from '../../../../src/devices/virtio/device.js';
import type { Queue } from '../../../../src/devices/virtio/queue.js';
import { GuestMemory, PAGE_SIZE } from '../../../../src/vstate/memory.js';
import { deviceQueue, layoutQueue, putChain, usedEntries, type BufferSpec, type QueueLayout, type UsedElement } from '../support/index.js';

export const MIB = 1024 * 1024;
/** The guest's memory in these tests. */
export const MEMORY_MIB = 64;
/** Queues live from here, one every 8 KiB; buffers the driver hands over from `DATA_BASE`. */
const QUEUE_BASE = 0x1_0000;
export const DATA_BASE = 0x10_0000;
/** The queue size the driver chooses: small, so that a test fills it quickly. */
export const TEST_QUEUE_SIZE = 16;

/** An interrupt line that records every call. */
export class RecordingInterrupt implements InterruptLine {
  readonly raised: InterruptKind[] = [];
  resets = 0;
  /** When set, `raise()` throws it (a broken transport). */
  failWith: Error | undefined;

  /** Called inside `raise()`, once: a driver that answers an interrupt at once. */
  onNextRaise: ((kind: InterruptKind) => void) | undefined;

  raise(kind: InterruptKind): void {
    if (this.failWith !== undefined) throw this.failWith;
    this.raised.push(kind);
    const answer = this.onNextRaise;
    this.onNextRaise = undefined;
    answer?.(kind);
  }

  needsReset(): void {
    this.resets++;
  }

  /** The kinds raised since the last call, and forgets them. */
  take(): InterruptKind[] {
    return this.raised.splice(0);
  }
}

export interface Harness {
  readonly balloon: Balloon;
  readonly memory: GuestMemory;
  readonly metrics: BalloonDeviceMetrics;
  readonly interrupt: RecordingInterrupt;
  /** The driver's view of each queue, by the device's queue index. */
  readonly layouts: QueueLayout[];
  readonly queues: Queue[];
}

export const DEFAULT_CONFIG: BalloonConfig = { amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 0 };

/** A balloon with its own metrics (and `options`), and its queues laid out but not activated. */
export function build(config: Partial<BalloonConfig> = {}, options: Omit<BalloonOptions, 'metrics'> = {}): Harness {
  const metrics = BalloonDeviceMetrics.create();
  const balloon = new Balloon({ ...DEFAULT_CONFIG, ...config }, { ...options, metrics });
  const memory = new GuestMemory(MEMORY_MIB * MIB);
  const layouts: QueueLayout[] = [];
  const queues: Queue[] = [];
  balloon.queueMaxSizes.forEach((maxSize, i) => {
    const layout = layoutQueue(memory, QUEUE_BASE + i * 0x2000, TEST_QUEUE_SIZE);
    layouts.push(layout);
    queues.push(deviceQueue(layout, maxSize));
  });
  return { balloon, memory, metrics, interrupt: new RecordingInterrupt(), layouts, queues };
}

/** `build()` and activate. */
export function activated(config: Partial<BalloonConfig> = {}, options: Omit<BalloonOptions, 'metrics'> = {}): Harness {
  const harness = build(config, options);
  activate(harness);
  return harness;
}

export function activate(harness: Harness): void {
  harness.balloon.activate({ memory: harness.memory, queues: harness.queues, interrupt: harness.interrupt });
}

/** Puts `buffers` as one chain on queue `index`. */
export function put(harness: Harness, index: number, buffers: readonly BufferSpec[]): number {
  return putChain(harness.memory, layout(harness, index), buffers);
}

/** What the device returned on queue `index` since the last call. */
export function used(harness: Harness, index: number): UsedElement[] {
  return usedEntries(harness.memory, layout(harness, index));
}

export function layout(harness: Harness, index: number): QueueLayout {
  const found = harness.layouts[index];
  if (found === undefined) throw new RangeError(`no queue ${index}`);
  return found;
}

/** Writes u32 LE frame numbers at `addr` and returns the buffer for an inflate descriptor. */
export function pfnBuffer(memory: GuestMemory, addr: number, pfns: readonly number[]): BufferSpec {
  const bytes = new Uint8Array(4 * pfns.length);
  const view = new DataView(bytes.buffer);
  pfns.forEach((pfn, i) => {
    view.setUint32(4 * i, pfn, true);
  });
  memory.write(addr, bytes);
  return { addr, len: bytes.length };
}

/** Fills pages `first … first + count − 1` with nonzero bytes, so they hold host memory. */
export function touchPages(memory: GuestMemory, first: number, count: number): void {
  memory.write(first * PAGE_SIZE, new Uint8Array(count * PAGE_SIZE).fill(0xa5));
}

/** Whether every byte of the range reads `value`. */
export function filledWith(memory: GuestMemory, addr: number, len: number, value: number): boolean {
  return memory.read(addr, len).every((byte) => byte === value);
}

/** Counter values of a group, by wire name, for comparing whole groups at once. */
export function counts(metrics: BalloonDeviceMetrics): Record<string, number> {
  return Object.fromEntries(BalloonDeviceMetrics.fields.map((field) => [field.name, metrics[field.name as keyof BalloonDeviceMetrics].count()]));
}

/** Every counter 0, except those given. */
export function expected(moved: Partial<Record<keyof BalloonDeviceMetrics, number>>): Record<string, number> {
  return Object.fromEntries(BalloonDeviceMetrics.fields.map((field) => [field.name, moved[field.name as keyof BalloonDeviceMetrics] ?? 0]));
}
