/**
 * A process's resident set size, as the kernel reports it in `/proc/<pid>/status` (`VmRSS`, in
 * kB): the figure a balloon that gives memory back makes fall.
 */
import { readFileSync } from 'node:fs';

/** `VmRSS` of process `pid` (this one by default), in bytes. */
export function processRssBytes(pid: number = process.pid): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) * 1024;
}
