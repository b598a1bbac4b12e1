/**
 * Metrics of the signals the VMM handled.
 *
 * ```json
 * "signals": {"sigbus":0,"sigsegv":0,"sigxfsz":0,"sigxcpu":0,"sigpipe":3,"sighup":0,"sigill":0}
 * ```
 *
 * Design notes: every signal here except SIGPIPE is deadly: its handler sets the field to 1,
 * writes a last metrics line and exits. Those fields are stores, written as they are, as in
 * Firecracker, where the handler may run on any thread while another flushes: a store has no
 * delta that two flushes could take twice. SIGPIPE (a write to a pipe nobody reads) is survivable: the failed write is handled where
 * it happened, and `sigpipe` is an ordinary counter, written as its delta since the last flush.
 */
import { defineGroup, inc, store, type GroupOf } from '../../metrics/group.js';

export const SignalMetrics = defineGroup('signals', {
  sigbus: store('Set to 1 when the process received SIGBUS (bad memory access, e.g. a truncated mapped file).'),
  sigsegv: store('Set to 1 when the process received SIGSEGV (invalid memory access).'),
  sigxfsz: store('Set to 1 when the process received SIGXFSZ (file size limit exceeded).'),
  sigxcpu: store('Set to 1 when the process received SIGXCPU (CPU time limit exceeded).'),
  sigpipe: inc('Number of SIGPIPE signals received (writes to a pipe without a reader).'),
  sighup: store('Set to 1 when the process received SIGHUP.'),
  sigill: store('Set to 1 when the process received SIGILL (illegal instruction).'),
});

export type SignalMetrics = GroupOf<typeof SignalMetrics>;

/** The signal metrics, updated by the signal handlers and flushed by the global document. */
export const METRICS: SignalMetrics = SignalMetrics.create();
