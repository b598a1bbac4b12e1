/**
 * Running the `vmm-metrics` CLI as a real child process (the compiled `build/src/cli/main.js`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
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

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
