/**
 * A program running in the guest: it allocates pages from the guest's allocator, writes them
 * (so the host backs them), and frees them again. Which pages it frees is chosen by a seeded
 * generator, so free memory fragments the way a real heap's does, and a run is reproducible.
 */
import type { GuestMemoryModel } from './memory-model.js';

/** Which pages a shrinking working set gives up (see `WorkloadOptions.shrink`). */
export type ShrinkOrder = 'random' | 'top';

export interface WorkloadOptions {
  /**
   * The working set, in pages, at a time in milliseconds: each `tick()` allocates or frees
   * towards it. Without it the workload only moves when `allocate`, `free` or `resize` is called.
   */
  readonly target?: (nowMs: number) => number;
  /**
   * Pages freed and allocated anew on each `tick()`, as a heap reuses memory.
   * @default 0
   */
  readonly churnPages?: number;
  /**
   * Seed of the generator that picks which pages to free.
   * @default 1
   */
  readonly seed?: number;
  /**
   * Which pages a shrinking working set gives up: `random` ones among those held (a fragmented
   * heap, whose free memory is scattered), or the `top` of its memory first (the highest
   * frames, as a heap returns its top or a job's arena goes: free memory in runs, whole 2 MiB
   * chunks that reporting and hinting can release). Churn always frees at random.
   * @default 'random'
   */
  readonly shrink?: ShrinkOrder;
}

export class Workload {
  readonly model: GuestMemoryModel;
  readonly #held: number[] = [];
  readonly #target: ((nowMs: number) => number) | undefined;
  readonly #churn: number;
  readonly #shrink: ShrinkOrder;
  #random: () => number;
  #failedAllocations = 0;

  constructor(model: GuestMemoryModel, options: WorkloadOptions = {}) {
    this.model = model;
    this.#target = options.target;
    this.#churn = options.churnPages ?? 0;
    this.#shrink = options.shrink ?? 'random';
    this.#random = mulberry32(options.seed ?? 1);
  }

  /** Pages the workload holds. */
  get pages(): number {
    return this.#held.length;
  }

  /** Allocations that failed even after reclaim. */
  get failedAllocations(): number {
    return this.#failedAllocations;
  }

  /**
   * Allocates and touches `count` pages, reclaiming (and so deflating a balloon with
   * deflate_on_oom) when none is free; returns how many it got.
   */
  allocate(count: number): number {
    let got = 0;
    for (; got < count; got++) {
      const pfn = this.model.allocatePage('workload', { reclaim: true });
      if (pfn === undefined) {
        this.#failedAllocations++;
        break;
      }
      this.model.touch(pfn);
      this.#held.push(pfn);
    }
    return got;
  }

  /** Frees `count` pages picked at random among those held; returns how many it freed. */
  free(count: number): number {
    let freed = 0;
    for (; freed < count && this.#held.length > 0; freed++) {
      const index = Math.floor(this.#random() * this.#held.length);
      const last = this.#held.pop() ?? 0;
      const pfn = index < this.#held.length ? (this.#held[index] ?? 0) : last;
      if (index < this.#held.length) this.#held[index] = last;
      this.model.freePage(pfn, 'workload');
    }
    return freed;
  }

  /** Frees the `count` highest frames held; returns how many it freed. */
  freeTop(count: number): number {
    // Sorted once per shrink, not kept sorted: churn's random frees reorder what is held.
    this.#held.sort((a, b) => a - b);
    let freed = 0;
    for (; freed < count && this.#held.length > 0; freed++) this.model.freePage(this.#held.pop() ?? 0, 'workload');
    return freed;
  }

  /** Allocates or frees (as `shrink` says) until the workload holds `pages` pages (or allocation fails). */
  resize(pages: number): void {
    const wanted = Math.max(0, Math.round(pages));
    if (wanted > this.#held.length) this.allocate(wanted - this.#held.length);
    else if (this.#shrink === 'top') this.freeTop(this.#held.length - wanted);
    else this.free(this.#held.length - wanted);
  }

  /** One step of the workload at time `nowMs`: churn, then move towards the target. */
  tick(nowMs: number): void {
    if (this.#churn > 0) this.allocate(this.free(this.#churn));
    if (this.#target !== undefined) this.resize(this.#target(nowMs));
  }
}

/**
 * A working set swinging between `minPages` and `maxPages` over `periodMs`, starting at the
 * minimum: a target for `WorkloadOptions.target`.
 */
export function oscillatingWorkingSet(options: { minPages: number; maxPages: number; periodMs: number }): (nowMs: number) => number {
  const { minPages, maxPages, periodMs } = options;
  return (nowMs) => minPages + ((maxPages - minPages) * (1 - Math.cos((2 * Math.PI * nowMs) / periodMs))) / 2;
}

/** A small seeded generator of numbers in [0, 1) (mulberry32). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b_79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
