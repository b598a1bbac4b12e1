/**
 * The work a device does for its guest, in turns of the event loop of bounded size.
 *
 * One notification can name far more work than a host thread may do at once: every range of a
 * free page reporting chain may name the whole RAM, and on an emulator's RAM discarding a range
 * means zeroing it (256 chains of 256 ranges of 256 MiB: half an hour of zeroing). A device that
 * did it all before returning would stop the emulator, the metrics writer and every server of
 * the process meanwhile, and the guest could ask again at once.
 *
 * A task is a generator that runs at once and tells the budget what it did (`charge`); when the
 * turn's budget is spent (`exhausted`) it yields, and resumes on a later turn (`setImmediate`:
 * after the event loop has run its due timers and I/O) with the budget whole again. The budget is
 * the device's, shared by all its tasks, so that a guest that notifies several queues, or one
 * queue many times in one turn (an emulator runs thousands of guest instructions per turn), gets
 * one budget's worth of work per turn in all. A task started under a key whose task still waits
 * joins it: the waiting task takes whatever the guest has queued since.
 *
 * The turn is unref'd: pending guest work never keeps the process alive on its own.
 */

/** A device's task: yields only when the budget is exhausted, to go on at the next turn. */
export type TurnTask = Generator<void, void, void>;

export interface TurnBudgetOptions {
  /** What a turn may cost, in the units `charge` takes (bytes of guest memory, for a balloon); at least 1. */
  readonly perTurn: number;
  /**
   * Runs one step of a task (the device's error handling: it must not throw); a step that threw
   * ends its task.
   */
  readonly guard: (step: () => void) => void;
}

export class TurnBudget {
  /** What one turn may cost. */
  readonly perTurn: number;
  readonly #guard: (step: () => void) => void;
  /** The tasks waiting for a turn (or running), by key, in the order they are resumed. */
  readonly #tasks = new Map<number, TurnTask>();
  #spent = 0;
  #turn: NodeJS.Immediate | undefined;
  /** Turns that went on with a waiting task: which of them goes first follows it. */
  #turns = 0;

  constructor(options: TurnBudgetOptions) {
    if (!(options.perTurn >= 1)) throw new RangeError(`TurnBudget: a turn must allow some work, got ${options.perTurn}`);
    this.perTurn = options.perTurn;
    this.#guard = options.guard;
  }

  /** Whether this turn's budget is spent: a task yields now. */
  get exhausted(): boolean {
    return this.#spent >= this.perTurn;
  }

  /** What is left of this turn's budget (0 when exhausted). */
  get left(): number {
    return Math.max(0, this.perTurn - this.#spent);
  }

  /** Counts `cost` against this turn; the budget is whole again at the next turn. */
  charge(cost: number): void {
    this.#spent += cost;
    this.#schedule();
  }

  /**
   * Runs `task()` under `key` now, as far as this turn's budget goes, and the rest on later
   * turns. If a task of that key still waits, nothing starts and false is returned: it joins.
   */
  start(key: number, task: () => TurnTask): boolean {
    if (this.#tasks.has(key)) return false;
    const iterator = task();
    this.#tasks.set(key, iterator);
    this.#step(key, iterator);
    return true;
  }

  /** Drops every waiting task and the pending turn (the device was reset). */
  cancel(): void {
    this.#tasks.clear();
    if (this.#turn !== undefined) clearImmediate(this.#turn);
    this.#turn = undefined;
    this.#spent = 0;
  }

  #step(key: number, iterator: TurnTask): void {
    // Ended unless the step says otherwise: a step that threw ends its task.
    const state = { done: true };
    this.#guard(() => {
      state.done = iterator.next().done === true;
    });
    if (this.#tasks.get(key) !== iterator) return; // cancelled meanwhile
    if (state.done) this.#tasks.delete(key);
    else this.#schedule();
  }

  #schedule(): void {
    if (this.#turn !== undefined) return;
    this.#turn = setImmediate(() => {
      this.#nextTurn();
    });
    this.#turn.unref();
  }

  #nextTurn(): void {
    this.#turn = undefined;
    this.#spent = 0;
    if (this.#tasks.size === 0) return;
    this.#turns++;
    // Each turn starts with the next task in line: one queue that keeps the budget busy does not
    // starve the others.
    const entries = [...this.#tasks];
    const first = this.#turns % entries.length;
    for (const [key, iterator] of [...entries.slice(first), ...entries.slice(0, first)]) {
      if (this.#tasks.get(key) === iterator) this.#step(key, iterator);
    }
  }
}
