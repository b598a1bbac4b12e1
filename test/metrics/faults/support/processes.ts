/**
 * Child processes for the fault tests: the path of a compiled child script next to this module
 * (so it resolves from `build/` under `npm test` and from any other output folder), and a runner
 * that collects a child's output, lets the test act on each line it prints (send a signal once it
 * says "ready"), and kills it if it outlives its time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The compiled child script `name` (without extension) of this folder. */
export function childScript(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The child was still running after `timeoutMs` and was killed with SIGKILL. */
  readonly timedOut: boolean;
}

export interface RunOptions {
  /** Called with each whole line the child prints on stdout. */
  readonly onLine?: (line: string, child: ChildProcess) => void;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

/** Runs `command` with `args` to its end. */
export async function runChild(command: string, args: readonly string[], options: RunOptions = {}): Promise<ChildResult> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let seen = 0;
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
    const whole = stdout.lastIndexOf('\n') + 1;
    if (whole <= seen) return;
    const fresh = stdout.slice(seen, whole).split('\n').slice(0, -1);
    seen = whole;
    for (const line of fresh) options.onLine?.(line, child);
  });
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 10_000);
  // 'close' rather than 'exit': every byte of the child's output has been read by then.
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode: number | null, exitSignal: NodeJS.Signals | null) => {
      resolve([exitCode, exitSignal]);
    });
  });
  clearTimeout(timer);
  return { code, signal, stdout, stderr, timedOut };
}

/** Runs a compiled child script of this folder with Node. */
export function runNodeChild(name: string, args: readonly string[], options: RunOptions = {}): Promise<ChildResult> {
  return runChild(process.execPath, [childScript(name), ...args], options);
}
