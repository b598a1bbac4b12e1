/**
 * What the vCPU thread and the VMM's main thread say to each other (see `vcpu-thread.ts` for the
 * design): messages from the vCPU thread, and the shared control block.
 *
 * The control block is an Int32Array over a SharedArrayBuffer:
 * - `stop`: set by the main thread before it kicks the vCPU; the loop ends at its next exit.
 * - `answer`: 0 while the vCPU thread waits for an MMIO read, 1 once the main thread wrote it.
 * - `data`: the 8 bytes of the answer (as 2 Int32s).
 * - `exitSeen`: set by the main thread once it has the vCPU thread's exit; the vCPU thread waits
 *   for it before it ends, so that no kick can reach a thread id the system has given to another
 *   thread of this process (the kick's default action would end the process).
 */
export const CONTROL = { stop: 0, answer: 1, data: 2, exitSeen: 4 } as const;
export const CONTROL_BYTES = 24;
/** The answer's bytes inside the control block. */
export const ANSWER_OFFSET = CONTROL.data * 4;

/** What the vCPU thread is given at start. */
export interface VcpuWorkerData {
  readonly vcpuFd: number;
  readonly vmFd: number;
  readonly runSize: number;
  readonly control: SharedArrayBuffer;
  /** The MMIO windows whose accesses go to the main thread (start, length). */
  readonly mmio: readonly (readonly [number, number])[];
  readonly serialPort: number;
  readonly serialGsi: number;
}

/** Why the vCPU stopped. */
export type VcpuExit =
  | { readonly reason: 'stopped' }
  | { readonly reason: 'reset'; readonly detail: string }
  | { readonly reason: 'error'; readonly detail: string };

export type VcpuMessage =
  /** The vCPU thread runs; `tid` is its thread id, for the kick. */
  | { readonly t: 'ready'; readonly tid: number }
  /** Console bytes. */
  | { readonly t: 'serial'; readonly bytes: Uint8Array }
  /** An MMIO write (len bytes of `lo`, `hi`, little-endian); not waited for. */
  | { readonly t: 'w'; readonly a: number; readonly l: number; readonly lo: number; readonly hi: number }
  /** An MMIO read: the vCPU thread waits for the answer in the control block. */
  | { readonly t: 'r'; readonly a: number; readonly l: number }
  | { readonly t: 'exit'; readonly exit: VcpuExit };
