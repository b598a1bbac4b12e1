/**
 * The ledger of one line: which counters' deltas it took, and how much of each, so that the
 * writer can commit them once the line is out or roll them back when it is not. Only the writer
 * settles a ledger; sections and sinks never see one.
 */
import { COMMIT, PEEK, ROLLBACK, TAKE, type DeltaSlot, type DeltaTaker } from './slots.js';
import type { U64 } from './u64.js';

export class FlushLedger implements DeltaTaker {
  readonly #slots: DeltaSlot[] = [];
  readonly #amounts: U64[] = [];
  #afterCommit: (() => void)[] | undefined;
  #settled = false;

  /** A peek ledger takes nothing: it reads the deltas a flush would take. */
  constructor(readonly peek: boolean) {}

  get settled(): boolean {
    return this.#settled;
  }

  take(slot: DeltaSlot): U64 {
    if (this.peek) return slot[PEEK]();
    // A line given up while it was built (the exit flush) takes nothing more: it is never written.
    if (this.#settled) return 0;
    const amount = slot[TAKE]();
    if (amount !== 0) {
      this.#slots.push(slot);
      this.#amounts.push(amount);
    }
    return amount;
  }

  /** Runs `callback` once the line is committed (never for a peek, nor on rollback). */
  afterCommit(callback: () => void): void {
    if (this.peek) return;
    (this.#afterCommit ??= []).push(callback);
  }

  /** The line is out: what it took counts as flushed. */
  commit(): void {
    this.#settle(COMMIT);
    if (this.#afterCommit) for (const callback of this.#afterCommit) callback();
  }

  /** The line is not out: what it took goes to the next line. */
  rollback(): void {
    this.#settle(ROLLBACK);
  }

  #settle(how: typeof COMMIT | typeof ROLLBACK): void {
    // Settling twice would count a delta twice or lose it: a bug of the writer or of a sink.
    if (this.#settled) throw new Error('vmm-metrics: a line was settled twice');
    this.#settled = true;
    const slots = this.#slots;
    const amounts = this.#amounts;
    for (let i = 0; i < slots.length; i++) (slots[i] as DeltaSlot)[how](amounts[i] as U64);
  }
}
