/**
 * What happens in a simulated microVM session, as fractions of its duration, so that a shorter
 * or longer run (`--duration-s`) tells the same story: the guest's program grows and shrinks,
 * leaving touched memory free; the host sets a balloon target and the guest inflates; a free page
 * hinting run and free page reporting reclaim more; the balloon deflates; the program grows
 * again.
 */

export interface HostAction {
  /** When, as a fraction of the session (0 … 1). */
  readonly at: number;
  readonly phase: string;
  readonly act: 'target' | 'start-hinting' | 'stop-hinting';
  /** For `target`: the balloon size as a fraction of guest memory. */
  readonly fraction?: number;
}

export const HOST_ACTIONS: readonly HostAction[] = [
  { at: 0.2, phase: 'inflating to a quarter of guest memory', act: 'target', fraction: 0.25 },
  { at: 0.45, phase: 'free page hinting run', act: 'start-hinting' },
  { at: 0.6, phase: 'free page reporting', act: 'stop-hinting' },
  { at: 0.75, phase: 'deflating', act: 'target', fraction: 0 },
];

/** The phase shown before the first host action. */
export const FIRST_PHASE = 'booting: the guest program grows';

/**
 * The guest program's working set, as a fraction of guest memory, at a fraction of the session:
 * up to 80% (touching that memory), down to 35% (leaving it free but held by the host), and
 * up to 55% once the balloon is gone.
 */
export function workingSet(at: number): number {
  if (at < 0.1) return 0.8 * (at / 0.1);
  if (at < 0.15) return 0.8;
  if (at < 0.2) return 0.8 - 0.45 * ((at - 0.15) / 0.05);
  if (at < 0.85) return 0.35;
  return 0.35 + 0.2 * Math.min(1, (at - 0.85) / 0.1);
}
