/**
 * The main thread's side of the vCPU: starts the worker that runs it, serves the MMIO accesses it
 * forwards with the devices on this thread, and stops it.
 *
 * Why a worker, and the devices on the main thread: `KVM_RUN` blocks its thread for as long as
 * the guest runs, so it cannot run on the event loop. The devices stay where the host API and
 * the metrics are — the balloon's `updateSize`, its statistics timer, the metrics writer and
 * `--serve` all run on the main thread as they do with the simulated guest — so the devices are
 * unchanged and unaware of KVM. The price is a thread hop per MMIO exit: a write is posted and
 * not waited for; a read waits for the main thread's answer (about 20 µs measured on this
 * project's 2-core machine, postMessage there and Atomics.notify back). The other design, the
 * devices on the vCPU thread with ioeventfd/irqfd, would make each exit cheaper but put the
 * balloon's whole host API behind a message channel and its timers on a thread that is blocked
 * in KVM_RUN most of the time. Interrupts need no hop: `KVM_IRQ_LINE` is a VM ioctl, made here.
 */
import { Worker } from 'node:worker_threads';
import type { MmioBus } from './devices/mmio-bus.js';
import { ANSWER_OFFSET, CONTROL, CONTROL_BYTES, type VcpuExit, type VcpuMessage, type VcpuWorkerData } from './vcpu-channel.js';
import type { Libc } from './sys/libc.js';

export interface VcpuThreadOptions {
  readonly c: Libc;
  readonly vcpuFd: number;
  readonly vmFd: number;
  readonly runSize: number;
  readonly bus: MmioBus;
  readonly mmio: readonly (readonly [number, number])[];
  readonly serialPort: number;
  readonly serialGsi: number;
  /** Console bytes from the guest. */
  readonly onSerial: (bytes: Uint8Array) => void;
}

export class VcpuThread {
  /** Settles when the vCPU stopped, with why. */
  readonly exited: Promise<VcpuExit>;
  readonly #worker: Worker;
  readonly #control: Int32Array;
  readonly #answer: Uint8Array;
  readonly #c: Libc;
  readonly #bus: MmioBus;
  readonly #scratch = [new Uint8Array(0), new Uint8Array(1), new Uint8Array(2), new Uint8Array(3), new Uint8Array(4), new Uint8Array(5), new Uint8Array(6), new Uint8Array(7), new Uint8Array(8)];
  #tid: number | undefined;
  #exit: VcpuExit | undefined;

  constructor(options: VcpuThreadOptions) {
    this.#c = options.c;
    this.#bus = options.bus;
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    this.#control = new Int32Array(control);
    this.#answer = new Uint8Array(control, ANSWER_OFFSET, 8);
    const workerData: VcpuWorkerData = {
      vcpuFd: options.vcpuFd,
      vmFd: options.vmFd,
      runSize: options.runSize,
      control,
      mmio: options.mmio,
      serialPort: options.serialPort,
      serialGsi: options.serialGsi,
    };
    this.#worker = new Worker(new URL('./vcpu-worker.js', import.meta.url), { workerData });
    this.exited = new Promise<VcpuExit>((resolve) => {
      const settle = (exit: VcpuExit): void => {
        this.#exit ??= exit;
        Atomics.store(this.#control, CONTROL.exitSeen, 1);
        Atomics.notify(this.#control, CONTROL.exitSeen);
        resolve(this.#exit);
      };
      this.#worker.on('message', (message: VcpuMessage) => {
        switch (message.t) {
          case 'w':
            this.#write(message.a, message.l, message.lo, message.hi);
            break;
          case 'r':
            this.#read(message.a, message.l);
            break;
          case 'serial':
            options.onSerial(message.bytes);
            break;
          case 'ready':
            this.#tid = message.tid;
            if (Atomics.load(this.#control, CONTROL.stop) !== 0) this.#kick();
            break;
          case 'exit':
            settle(message.exit);
            void this.#worker.terminate();
            break;
        }
      });
      this.#worker.on('error', (error) => {
        settle({ reason: 'error', detail: `the vCPU thread failed: ${error.message}` });
      });
      this.#worker.on('exit', () => {
        settle({ reason: 'error', detail: 'the vCPU thread ended without saying why' });
      });
    });
  }

  /** Stops the vCPU (at once if it runs the guest) and resolves when its thread is done. */
  async stop(): Promise<VcpuExit> {
    Atomics.store(this.#control, CONTROL.stop, 1);
    Atomics.notify(this.#control, CONTROL.answer);
    this.#kick();
    return this.exited;
  }

  #kick(): void {
    if (this.#tid === undefined || this.#exit !== undefined) return;
    this.#c.tgkill(process.pid, this.#tid, this.#c.sigrtmin());
  }

  #write(address: number, length: number, lo: number, hi: number): void {
    const data = this.#scratch[length] ?? new Uint8Array(length);
    for (let i = 0; i < length; i++) data[i] = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff;
    this.#bus.write(address, data);
  }

  #read(address: number, length: number): void {
    const data = this.#scratch[length] ?? new Uint8Array(length);
    this.#bus.read(address, data);
    this.#answer.fill(0);
    this.#answer.set(data);
    Atomics.store(this.#control, CONTROL.answer, 1);
    Atomics.notify(this.#control, CONTROL.answer);
  }
}
