/**
 * Running the `vmm-metrics` CLI as a real child process (the compiled `build/src/cli/main.js`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../reader/helpers.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const FIXTURE_DOCUMENT = fileURLToPath(new URL('fixtures/document.js', import.meta.url));

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion (killed after 20 s); `input` goes to its standard input. */
export async function runCli(args: readonly string[], input = ''): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    return { status, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** A CLI process left running, with what it printed so far. */
export class RunningCli {
  stdout = '';
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** With `stdin`, its standard input is a pipe (`child.stdin`); else none. */
  constructor(args: readonly string[], options: { readonly stdin?: boolean } = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      this.stdout += text;
    });
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.stderr += text;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        resolve({ code, signal });
      });
    });
  }

  /** Complete stdout lines so far. */
  lines(): string[] {
    return this.stdout.split('\n').slice(0, -1);
  }

  async waitForLines(count: number, timeoutMs = 8000): Promise<string[]> {
    await waitFor(() => this.lines().length >= count, `${count} lines of output (stdout so far: ${JSON.stringify(this.stdout)}, stderr: ${JSON.stringify(this.stderr)})`, timeoutMs);
    return this.lines();
  }

  async waitForOutput(pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = 8000): Promise<void> {
    await waitFor(() => pattern.test(this[stream]), `${String(pattern)} on ${stream} (so far: ${JSON.stringify(this[stream])})`, timeoutMs);
  }

  /** Sends Ctrl-C (SIGINT) and resolves to the exit code; kills the process if it does not exit in time. */
  async interrupt(timeoutMs = 5000): Promise<number | null> {
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      const { code, signal } = await this.exited;
      if (signal !== null) throw new Error(`the CLI was killed by ${signal}: it did not exit on SIGINT`);
      return code;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the process whatever its state (for cleanup after a failure). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export interface SlowReadResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Newlines received on each stream. */
  readonly stdoutLines: number;
  readonly stderrLines: number;
  /** The first and last few KiB of each stream, for assertions and failure messages. */
  readonly stdoutEnds: string;
  readonly stderrEnds: string;
}

/**
 * Runs the CLI with a heap of `heapMb` MB, its standard input from the file `stdinPath` (or
 * none), and reads its stdout and stderr slowly: after each chunk, nothing for `pauseMs`. The
 * output is counted, not kept, so the test itself stays small whatever the CLI prints.
 */
export async function runCliSlowReader(
  args: readonly string[],
  options: { readonly heapMb: number; readonly pauseMs: number; readonly stdinPath?: string },
): Promise<SlowReadResult> {
  const stdin = options.stdinPath === undefined ? 'ignore' : openSync(options.stdinPath, 'r');
  const child = spawn(process.execPath, [`--max-old-space-size=${options.heapMb}`, CLI, ...args], { stdio: [stdin, 'pipe', 'pipe'] });
  if (typeof stdin === 'number') closeSync(stdin);
  const count = (stream: Readable): { lines: number; ends: () => string } => {
    const state = { lines: 0, head: '', tail: '' };
    stream.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) state.lines++;
      if (state.head.length < 2048) state.head += chunk.toString('utf8', 0, 2048);
      state.tail = (state.tail + chunk.toString('utf8', Math.max(0, chunk.length - 2048))).slice(-2048);
      stream.pause();
      setTimeout(() => stream.resume(), options.pauseMs);
    });
    return {
      get lines() {
        return state.lines;
      },
      ends: () => `${state.head.slice(0, 2048)}\n…\n${state.tail}`,
    };
  };
  const { stdout, stderr } = child;
  if (stdout === null || stderr === null) throw new Error('spawn gave no pipes');
  const out = count(stdout);
  const err = count(stderr);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, sig) => { resolve([code, sig]); }));
    return { status, signal, stdoutLines: out.lines, stderrLines: err.lines, stdoutEnds: out.ends(), stderrEnds: err.ends() };
  } finally {
    clearTimeout(timer);
  }
}
