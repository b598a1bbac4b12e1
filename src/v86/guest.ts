/**
 * Starting a v86 emulator for a device of this project, and reading its serial console: what a
 * test, `npm start -- --guest linux` and a benchmark share.
 *
 * `loadV86` creates the emulator stopped and resolves once it is initialised ('emulator-loaded'):
 * its devices exist, its BIOS has not run, so a PCI function can still be attached. It finds
 * v86's WebAssembly module next to v86's own files (v86 looks in `./build/` of the working
 * directory when its ES module runs in Node). `SerialConsole` splits a UART's output into lines,
 * and keeps the last of them, so that a program waiting for a line sees it even if the guest
 * printed it before the program asked (a module that loads before the program's await, a login
 * prompt printed while the program was busy).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { V86, V86Options } from 'v86';

/** Options of `loadV86`: v86's own, less `autostart` (the emulator is always returned stopped). */
export type LoadV86Options = Omit<V86Options, 'autostart'>;

/** The path of v86's WebAssembly module in the installed package. */
export function v86WasmPath(): string {
  return join(dirname(createRequire(import.meta.url).resolve('v86')), 'v86.wasm');
}

/**
 * A v86 emulator, initialised and not started: attach devices, then `run()`. Rejects if v86
 * cannot be loaded (it is an optional peer dependency) or reports a download error.
 */
export async function loadV86(options: LoadV86Options): Promise<V86> {
  let V86Class: typeof V86;
  try {
    ({ V86: V86Class } = await import('v86'));
  } catch (error) {
    throw new Error("vmm-metrics/v86: the 'v86' package is not installed (npm install v86)", { cause: error });
  }
  const emulator = new V86Class({ wasm_path: v86WasmPath(), ...options, autostart: false });
  await new Promise<void>((resolve, reject) => {
    emulator.add_listener('emulator-loaded', () => {
      resolve();
    });
    emulator.add_listener('download-error', (event) => {
      reject(new Error(`v86 could not load ${event.file_name}`));
    });
  });
  return emulator;
}

/** The UARTs v86 has events for. */
export type SerialPort = 0 | 1 | 2 | 3;

/** `SerialConsole.waitForLine`'s options. */
export interface WaitForLineOptions {
  /**
   * The number of the first line to look at (`lineCount` counts every line printed): 0 looks at
   * the lines kept first (the last `maxLines`), `console.lineCount` at the lines from now on.
   * @default 0
   */
  readonly from?: number;
  /** Rejects after this long, with the last lines in the message. @default 60_000 */
  readonly timeoutMs?: number;
  /** Stops waiting: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** A UART's output, as lines (the line break and a carriage return before it removed). */
export class SerialConsole {
  readonly #lines: string[] = [];
  /** Lines printed since the console was made; the last of them is number `#count − 1`. */
  #count = 0;
  readonly #listeners = new Set<(line: string, number: number) => void>();
  readonly #decoder = new TextDecoder();
  readonly #maxLines: number;
  #partial = '';
  #closed = false;
  readonly #emulator: V86;
  readonly #onByte: (byte: number) => void;
  readonly #event: `serial${SerialPort}-output-byte`;

  /**
   * Listens to UART `port` of `emulator`; keeps the last `maxLines` lines (default 10,000), which
   * `waitForLine` looks at before it waits.
   */
  constructor(emulator: V86, options: { readonly port?: SerialPort; readonly maxLines?: number } = {}) {
    this.#emulator = emulator;
    this.#maxLines = options.maxLines ?? 10_000;
    this.#event = `serial${options.port ?? 0}-output-byte`;
    this.#onByte = (byte) => {
      this.#take(byte);
    };
    emulator.add_listener(this.#event, this.#onByte);
  }

  /** The lines kept so far, oldest first: the last `maxLines`. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /** Lines printed since the console was made (kept or not): the number the next line will have. */
  get lineCount(): number {
    return this.#count;
  }

  /** Calls `listener` with each line from now on; returns a function that stops it. */
  onLine(listener: (line: string) => void): () => void {
    const wrapped = (line: string): void => {
      listener(line);
    };
    this.#listeners.add(wrapped);
    return () => this.#listeners.delete(wrapped);
  }

  /**
   * The first line that `match` matches (a RegExp, or a predicate), from line `from` on: among
   * the lines kept first, then as they are printed. Rejects after `timeoutMs`, with the last lines
   * in the message, or when `signal` aborts.
   */
  waitForLine(match: RegExp | ((line: string) => boolean), options: WaitForLineOptions = {}): Promise<string> {
    const test = typeof match === 'function' ? match : (line: string) => match.test(line);
    const from = options.from ?? 0;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const { signal } = options;
    // An AbortSignal's reason is an Error unless its owner chose otherwise; it is passed on as it is.
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    const firstKept = this.#count - this.#lines.length;
    for (let number = Math.max(from, firstKept); number < this.#count; number++) {
      const line = this.#lines[number - firstKept] ?? '';
      if (test(line)) return Promise.resolve(line);
    }
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(onLine);
        signal?.removeEventListener('abort', onAbort);
      };
      const onLine = (line: string, number: number): void => {
        if (number < from || !test(line)) return;
        finish();
        resolve(line);
      };
      const onAbort = (): void => {
        finish();
        reject(signal?.reason as Error);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`No serial line matched ${String(match)} within ${timeoutMs} ms; the last lines:\n${this.#lines.slice(-20).join('\n')}`));
      }, timeoutMs);
      this.#listeners.add(onLine);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops listening. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#emulator.remove_listener(this.#event, this.#onByte);
    this.#listeners.clear();
  }

  #take(byte: number): void {
    if (byte !== 0x0a) {
      this.#partial += this.#decoder.decode(Uint8Array.of(byte), { stream: true });
      return;
    }
    const line = this.#partial.endsWith('\r') ? this.#partial.slice(0, -1) : this.#partial;
    this.#partial = '';
    const number = this.#count++;
    this.#lines.push(line);
    if (this.#lines.length > this.#maxLines) this.#lines.splice(0, this.#lines.length - this.#maxLines);
    for (const listener of [...this.#listeners]) listener(line, number);
  }
}
