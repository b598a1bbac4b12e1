/**
 * A fleet of older releases' lines against the newest's (issue 15 §3): one `vmm-metrics serve
 * --metrics-dir` child process follows 1,000 named pipes; the bench process is 1,000 VMs, each
 * writing a line a second, spread evenly, written from a release's schema
 * (test/support/release-line.ts: 2 drives and 1 interface where the release has device families,
 * its one block and net group up to v1.5). Every VM writes one release's lines for a window, then
 * the next release's: windows of each release alternate, in an order that turns each round, so
 * drift in the machine's speed favours none. Measured per window: the server's CPU time per
 * line (utime + stime from /proc); a release's figure is the median over its windows, and its
 * ratio to the newest's the median of the per-round ratios.
 */
import { closeSync, constants, openSync, rmSync, writeSync } from 'node:fs';
import { schemaOf } from '../src/reader/releases.js';
import { releaseLine } from '../test/support/release-line.js';
import { cpuSeconds, jsonParseSeconds, serveNewPipes, untilServing, untilTrue } from './fleet.bench.js';
import { median } from './ratio.js';

export interface ReleaseFleetFigure {
  readonly version: string;
  readonly lineBytes: number;
  /** Server CPU µs per line (median over its windows). */
  readonly perLineUs: number;
  readonly jsonParseUs: number;
  /** Per line ÷ the newest release's per line (median of the per-round ratios). */
  readonly ratioToNewest: number;
  readonly minRatio: number;
  readonly maxRatio: number;
}

export interface ReleaseFleetResult {
  readonly vms: number;
  readonly rounds: number;
  readonly windowSeconds: number;
  readonly newest: string;
  readonly figures: readonly ReleaseFleetFigure[];
  /** Lines a VM could not write at once (its pipe full): none expected. */
  readonly dropped: number;
}

/** The newest first: the baseline. */
export const FLEET_RELEASES = ['main', '1.10', '1.4'] as const;

function devicesOf(version: string): Record<string, string[]> {
  return Object.fromEntries(schemaOf(version).entries.flatMap((e) => (e.kind === 'devices' && (e.prefix === 'block' || e.prefix === 'net') ? [[e.prefix, e.prefix === 'block' ? ['rootfs', 'scratch'] : ['eth0']]] : [])));
}

/** A VM's line of `version` at round `round`: a few counters moving, as the fleet bench's VMs. */
function lineOf(version: string, round: number): string {
  const values: Record<string, number | { min_us: number; max_us: number; sum_us: number }> = {
    'balloon.inflate_count': round % 3,
    'vcpu.exit_io_in_agg': { min_us: 3, max_us: 3 + (round % 4), sum_us: 6 + (round % 4) },
    'net.rx_packets_count': round % 5,
    'net_eth0.rx_packets_count': round % 5,
    'net.rx_bytes_count': (round % 5) * 1500,
    'net_eth0.rx_bytes_count': (round % 5) * 1500,
    'block.read_count': 2 * (round % 7),
    'block.read_bytes': 2 * (round % 7) * 4096,
  };
  for (const drive of ['rootfs', 'scratch']) {
    values[`block_${drive}.read_count`] = round % 7;
    values[`block_${drive}.read_bytes`] = (round % 7) * 4096;
    values[`block_${drive}.read_agg`] = { min_us: 40, max_us: 40 + (round % 50), sum_us: 80 + (round % 50) };
  }
  return `${releaseLine(version, { timestampMs: Date.now(), devices: devicesOf(version), values })}\n`;
}

/**
 * Writes the whole line into a non-blocking pipe: a line longer than `PIPE_BUF` (4 KiB) may go in
 * pieces, and a piece left out would tear it. False when the pipe is full before it starts.
 */
function writeWhole(fd: number, line: Buffer): boolean {
  let written = 0;
  for (let spins = 0; written < line.length; spins++) {
    try {
      written += writeSync(fd, line, written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || (written === 0 && spins > 0)) return false;
    }
  }
  return true;
}

export async function fleetReleaseFigures(vms = 1000, rounds = 3, windowSeconds = 8): Promise<ReleaseFleetResult> {
  const served = serveNewPipes('vmm-metrics-fleet-releases-', vms);
  const { dir, paths, serve } = served;
  const fds: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await untilServing(served);
    // The server has every pipe open for reading by now: a non-blocking open for writing succeeds.
    await untilTrue(() => {
      try {
        for (let i = fds.length; i < paths.length; i++) fds.push(openSync(paths[i] as string, constants.O_WRONLY | constants.O_NONBLOCK));
        return true;
      } catch {
        return false;
      }
    }, 'every pipe open for writing', 30_000);

    let version: string = FLEET_RELEASES[0];
    let lines = 0;
    let dropped = 0;
    const vmRounds = new Array<number>(vms).fill(0);
    const began = Date.now();
    timer = setInterval(() => {
      const due = Math.floor(((Date.now() - began) * vms) / 1000);
      for (; lines < due; lines++) {
        const vm = lines % vms;
        const line = Buffer.from(lineOf(version, (vmRounds[vm] = (vmRounds[vm] as number) + 1)));
        if (!writeWhole(fds[vm] as number, line)) dropped++;
      }
    }, 5);

    const perLine = new Map<string, number[]>(FLEET_RELEASES.map((v) => [v, []]));
    const ratios = new Map<string, number[]>(FLEET_RELEASES.map((v) => [v, []]));
    for (let round = 0; round < rounds; round++) {
      const measured = new Map<string, number>();
      // Each round starts at another release: over the rounds, none is always first.
      for (let k = 0; k < FLEET_RELEASES.length; k++) {
        version = FLEET_RELEASES[(round + k) % FLEET_RELEASES.length] as string;
        process.stderr.write(`  round ${round + 1}/${rounds}: v${version} lines …\n`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const cpu0 = cpuSeconds(serve.pid as number);
        const lines0 = lines;
        await new Promise((resolve) => setTimeout(resolve, windowSeconds * 1000));
        const us = ((cpuSeconds(serve.pid as number) - cpu0) / (lines - lines0)) * 1e6;
        measured.set(version, us);
        perLine.get(version)?.push(us);
      }
      const newest = measured.get(FLEET_RELEASES[0]) as number;
      for (const v of FLEET_RELEASES) ratios.get(v)?.push((measured.get(v) as number) / newest);
    }
    clearInterval(timer);
    timer = undefined;
    const figures = FLEET_RELEASES.map((v): ReleaseFleetFigure => {
      const sample = lineOf(v, 1).trimEnd();
      const r = ratios.get(v) as number[];
      return {
        version: v,
        lineBytes: Buffer.byteLength(sample),
        perLineUs: median(perLine.get(v) as number[]),
        jsonParseUs: jsonParseSeconds(sample) * 1e6,
        ratioToNewest: median(r),
        minRatio: Math.min(...r),
        maxRatio: Math.max(...r),
      };
    });
    return { vms, rounds, windowSeconds, newest: FLEET_RELEASES[0], figures, dropped };
  } finally {
    if (timer !== undefined) clearInterval(timer);
    for (const fd of fds) closeSync(fd);
    serve.kill('SIGTERM');
    await new Promise((resolve) => serve.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}
