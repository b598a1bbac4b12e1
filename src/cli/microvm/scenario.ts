/**
 * What happens in a simulated microVM session, as fractions of its duration, so that a shorter
 * or longer run (`--duration-s`) tells the same story, each way of giving memory back doing its
 * part: the guest's program grows, then frees the top of its heap (touched memory, still held by
 * the host) and the host inflates the balloon, which takes those pages first; the program frees
 * another region as the host starts a free page hinting run, and free page reporting takes what
 * is left; the program grows again, the balloon deflates, and the program grows into the memory
 * it gave back. The program gives memory up from the top of its heap (`shrink: 'top'`), in whole
 * 2 MiB chunks, as a heap or a finished job does.
 */

/** A session's story: what the host does, and the phases the view shows before it starts. */
export interface Scenario {
  readonly actions: readonly HostAction[];
  /** The phase shown while the guests boot. */
  readonly bootPhase: string;
  /** The phase shown once they are up, until the host's first action. */
  readonly firstPhase: string;
}

export interface HostAction {
  /** When, as a fraction of the session (0 … 1). */
  readonly at: number;
  readonly phase: string;
  readonly act: 'target' | 'start-hinting' | 'stop-hinting' | 'none';
  /** For `target`: the balloon size as a fraction of guest memory. */
  readonly fraction?: number;
}

export const HOST_ACTIONS: readonly HostAction[] = [
  { at: 0.12, phase: 'the program frees the top of its heap', act: 'none' },
  // The step after: the guest's driver inflates before its next reporting pass.
  { at: 0.125, phase: 'inflating to a quarter of guest memory', act: 'target', fraction: 0.25 },
  { at: 0.38, phase: 'the program frees another region', act: 'none' },
  { at: 0.385, phase: 'free page hinting run', act: 'start-hinting' },
  { at: 0.52, phase: 'free page reporting', act: 'stop-hinting' },
  { at: 0.6, phase: 'the program grows again', act: 'none' },
  { at: 0.72, phase: 'deflating', act: 'target', fraction: 0 },
  { at: 0.85, phase: 'the program grows into the memory the balloon gave back', act: 'none' },
];

/** The phase shown before the first host action. */
export const FIRST_PHASE = 'booting: the guest program grows';

/**
 * The guest program's working set, as a fraction of guest memory, at a fraction of the session.
 * It frees at once (a region goes in one step), so that the host's action of the next step finds
 * that memory free and still held.
 */
export function workingSet(at: number): number {
  const ramp = (from: number, to: number, start: number, end: number): number =>
    from + (to - from) * Math.min(1, Math.max(0, (at - start) / (end - start)));
  if (at < 0.12) return ramp(0, 0.8, 0, 0.1);
  if (at < 0.38) return 0.55;
  if (at < 0.6) return 0.35;
  if (at < 0.85) return ramp(0.35, 0.5, 0.6, 0.66);
  return ramp(0.5, 0.65, 0.85, 0.92);
}

/**
 * What the host does with a real Linux guest (`--guest linux`), as fractions of the time left once
 * the guest is up: its boot takes 10–25 s of the session, as long as the emulated CPU needs, so the
 * story starts then. Linux runs its own programs, not ours: the host inflates to an eighth of guest
 * memory, then a quarter (32 and 64 MiB of the default 256 MiB), holds while a free page hinting
 * run goes over the guest's free memory, deflates to 0, and free page reporting — on throughout —
 * keeps giving back the blocks Linux frees. With 20 s left after the boot, each target still
 * holds for 4 s or more: time for Linux to inflate 32 MiB (about 1.5 s in v86 here) and for its
 * reports (once a second) to show MemTotal at that size.
 */
export const LINUX_HOST_ACTIONS: readonly HostAction[] = [
  { at: 0.03, phase: 'inflating to an eighth of guest memory', act: 'target', fraction: 1 / 8 },
  { at: 0.25, phase: 'inflating to a quarter of guest memory', act: 'target', fraction: 1 / 4 },
  { at: 0.45, phase: 'holding: a free page hinting run', act: 'start-hinting' },
  { at: 0.6, phase: 'holding: free page reporting', act: 'stop-hinting' },
  { at: 0.7, phase: 'deflating', act: 'target', fraction: 0 },
  { at: 0.8, phase: 'deflated: Linux has its memory back; free page reporting goes on', act: 'none' },
];

/** The phase shown while Linux boots. */
export const LINUX_BOOT_PHASE = 'booting Linux';
/** The phase shown once Linux is up, until the host's first action. */
export const LINUX_FIRST_PHASE = 'Linux is up: its driver has the balloon';

/** The simulated guests' story: they are up at once. */
export const SIMULATED_SCENARIO: Scenario = { actions: HOST_ACTIONS, bootPhase: FIRST_PHASE, firstPhase: FIRST_PHASE };

/** Linux's story, once it has booted. */
export const LINUX_SCENARIO: Scenario = { actions: LINUX_HOST_ACTIONS, bootPhase: LINUX_BOOT_PHASE, firstPhase: LINUX_FIRST_PHASE };
