/**
 * A jailer-like tree for tests: `<root>/<id>/root/metrics.fifo` per VM, each pipe written by a
 * writer process of its own (as each Firecracker is), with lines of one release and no `id`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkfifo } from '../../reader/helpers.js';
import { releaseLine } from '../../support/release-line.js';
import { schemaOf } from '../../../src/reader/releases.js';

// Opens the pipe for writing (blocking until a reader has it), writes each line a little apart,
// then keeps the pipe open until killed: a Firecracker flushing as it runs.
const WRITER = `
const fs = require('node:fs');
const lines = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const fd = fs.openSync(process.argv[1], 'w');
let i = 0;
const next = () => {
  if (i === lines.length) { process.stdout.write('done\\n'); setInterval(() => {}, 1 << 30); return; }
  fs.writeSync(fd, lines[i++] + '\\n');
  setTimeout(next, 15);
};
next();
`;

export interface JailedVm {
  readonly id: string;
  readonly fifo: string;
  readonly child: ChildProcess;
  /** Resolves once every line is written. */
  readonly written: Promise<void>;
  /** The sum of the `balloon.inflate_count` deltas written. */
  readonly inflateTotal: number;
}

function devicesOf(version: string): Record<string, string[]> {
  return Object.fromEntries(schemaOf(version).entries.flatMap((e) => (e.kind === 'devices' ? [[e.prefix, e.prefix === 'block' ? ['rootfs'] : ['eth0']]] : [])));
}

/** Makes `<root>/<id>/root/metrics.fifo` and starts its writer: `rounds` lines of `version`, inflate_count `round + seed` each. */
export function startJailedVm(root: string, id: string, version: string, rounds: number, seed: number): JailedVm {
  const chroot = join(root, id, 'root');
  mkdirSync(chroot, { recursive: true });
  const fifo = join(chroot, 'metrics.fifo');
  mkfifo(fifo);
  const t0 = 1_700_000_000_000;
  const values = Array.from({ length: rounds }, (_, round) => round + seed);
  const lines = values.map((inflate, round) => releaseLine(version, { timestampMs: t0 + round * 1000, devices: devicesOf(version), values: { 'balloon.inflate_count': inflate } }));
  // Beside the chroot, where the glob does not look (too long for an environment variable).
  const linesPath = join(root, id, 'lines.json');
  writeFileSync(linesPath, JSON.stringify(lines));
  const child = spawn(process.execPath, ['-e', WRITER, fifo, linesPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const written = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      if (out.includes('done')) resolve();
    });
    child.once('exit', (code) => {
      if (!out.includes('done')) reject(new Error(`the writer of ${fifo} exited (${String(code)}) before writing its lines`));
    });
  });
  written.catch(() => undefined);
  return { id, fifo, child, written, inflateTotal: values.reduce((a, b) => a + b, 0) };
}
