/**
 * Free page hinting's state, one object (Firecracker's `HintingState`): the host's command, the
 * id of its last run, the guest's last command, and whether the guest's STOP is answered with
 * DONE. The configuration space's `free_page_hint_cmd_id` reads the host's command from here;
 * there is no second copy of it.
 *
 * A run is the host's: `start()` and `finish()` follow its API (`startHinting`, `stopHinting`,
 * or DONE sent for it when the guest stops). A device reset calls `reset()`, which forgets the
 * guest's command and keeps the run — the one decision about hinting a reset makes, listed in
 * `device.ts` among the differences from Firecracker.
 */
import { FREE_PAGE_HINT_DONE, FREE_PAGE_HINT_STOP } from './abi.js';

/** `startHinting()`'s command (Firecracker's `StartHintingCmd`). */
export interface StartHintingCmd {
  /** Answer the guest's STOP with DONE, so that it may reuse the hinted pages. @default true */
  readonly acknowledge_on_stop?: boolean;
}

/** `hintingStatus()` (Firecracker's `HintingStatus`). */
export interface HintingStatus {
  /** The command the host last requested: a run's id, or STOP (0) / DONE (1). */
  host_cmd: number;
  /** The command id the guest last sent; null before it sent one. */
  guest_cmd: number | null;
}

/** The first id a run may have: 0 and 1 are STOP and DONE. */
const FIRST_RUN_ID = 2;

export class HintingState {
  #hostCmd = FREE_PAGE_HINT_STOP;
  #lastRunId = FREE_PAGE_HINT_STOP;
  #guestCmd: number | undefined;
  #acknowledgeOnFinish = false;

  /** The host's last command: STOP before any run, a run's id, or DONE. What the configuration space reads. */
  get hostCmd(): number {
    return this.#hostCmd;
  }

  /** Whether the guest's STOP ends the run with DONE (the run's `acknowledge_on_stop`). */
  get acknowledgeOnFinish(): boolean {
    return this.#acknowledgeOnFinish;
  }

  /** Starts a run under the next id (2 and up; past 2^32 − 1 it wraps to 2); returns the id. */
  start(acknowledgeOnFinish: boolean): number {
    // A u32, wrapping as Firecracker's `wrapping_add` does.
    let id = (this.#lastRunId + 1) >>> 0;
    if (id < FIRST_RUN_ID) id = FIRST_RUN_ID;
    this.#lastRunId = id;
    this.#hostCmd = id;
    this.#acknowledgeOnFinish = acknowledgeOnFinish;
    return id;
  }

  /** The host is done with the hinted pages (DONE): the guest may use them again. */
  finish(): void {
    this.#hostCmd = FREE_PAGE_HINT_DONE;
  }

  /** The guest sent command id `cmd`; returns whether it ends its run (STOP, or DONE, which is the host's and taken as a STOP). */
  receive(cmd: number): boolean {
    this.#guestCmd = cmd;
    return cmd === FREE_PAGE_HINT_STOP || cmd === FREE_PAGE_HINT_DONE;
  }

  /**
   * Whether a range the guest hints now is released, `hostCmd` being the host's command as the
   * device reaches the range: only inside a run, and after the guest sent that run's id (a range
   * before any id, from an earlier run, or after DONE is dropped).
   */
  releases(hostCmd: number): boolean {
    if (hostCmd === FREE_PAGE_HINT_STOP || hostCmd === FREE_PAGE_HINT_DONE) return false;
    return this.#guestCmd === hostCmd;
  }

  status(): HintingStatus {
    return { host_cmd: this.#hostCmd, guest_cmd: this.#guestCmd ?? null };
  }

  /**
   * The device was reset: the guest's command is forgotten (its new driver has sent none); the
   * host's run, its id and its acknowledgement stay, and `free_page_hint_cmd_id` still reads it.
   */
  reset(): void {
    this.#guestCmd = undefined;
  }
}
