/**
 * The vCPU thread: a worker that runs `KVM_RUN` in a loop and serves the exits (see
 * `vcpu-thread.ts` for why a worker). Port I/O (the UART) is served here; MMIO goes to the main
 * thread, where the devices are: a write is posted and not waited for (the guest's next access
 * is handled after it, in order), a read is posted and waited for.
 *
 * Stopping: the main thread sets `stop` and sends the kick signal to this thread with
 * `tgkill`. The signal is blocked here except inside `KVM_RUN` (`KVM_SET_SIGNAL_MASK`), so it
 * either ends a `KVM_RUN` that is running (EINTR) or waits, pending, and ends the next one at
 * once; it is then taken with `sigtimedwait` and never delivered.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Serial } from './devices/serial.js';
import { EXIT, REGS, RUN, RUN_IO, RUN_MMIO } from './sys/abi.js';
import { errnoName, KERNEL_SIGSET_BYTES, libc, SIG_BLOCK, SIGSET_BYTES, sigsetOf } from './sys/libc.js';
import { ANSWER_OFFSET, CONTROL, type VcpuExit, type VcpuMessage, type VcpuWorkerData } from './vcpu-channel.js';
import { KvmVcpu } from './vcpu.js';
import { KvmVm } from './vm.js';

const EINTR = 4;
const EAGAIN = 11;
/** Console bytes are posted per line, or once this many wait. */
const SERIAL_CHUNK = 1024;
/** The i8042's command port: 0xfe written there is the "pulse reset line" command Linux's reboot=k sends. */
const I8042_COMMAND_PORT = 0x64;
/** How long the thread waits for the main thread to take its exit (a main thread that never does has its own trouble). */
const EXIT_SEEN_TIMEOUT_MS = 10_000;
const I8042_RESET = 0xfe;

async function main(): Promise<void> {
  const port = parentPort;
  if (isMainThread || port === null) throw new Error('vcpu-worker.js runs as a worker thread');
  const post = (message: VcpuMessage): void => {
    port.postMessage(message);
  };
  const data = workerData as VcpuWorkerData;
  const c = await libc();
  const vcpu = new KvmVcpu(c, data.vcpuFd);
  const vm = new KvmVm(c, data.vmFd);
  const control = new Int32Array(data.control);
  const answer = new Uint8Array(data.control, ANSWER_OFFSET, 8);

  const kick = c.sigrtmin();
  const kickSet = sigsetOf(kick);
  const previous = new Uint8Array(SIGSET_BYTES);
  c.pthreadSigmask(SIG_BLOCK, kickSet, previous);
  const runMask = previous.slice(0, KERNEL_SIGSET_BYTES);
  const bit = kick - 1;
  runMask[bit >> 3] = (runMask[bit >> 3] as number) & ~(1 << (bit & 7));
  vcpu.setSignalMask(runMask);
  const zeroTimeout = new Uint8Array(16);

  const { address: runAddress, bytes: run } = vcpu.mapRun(data.runSize);
  const runView = new DataView(run.buffer, run.byteOffset, run.byteLength);

  let pending: number[] = [];
  const flushSerial = (): void => {
    if (pending.length === 0) return;
    post({ t: 'serial', bytes: Uint8Array.from(pending) });
    pending = [];
  };
  const serial = new Serial({
    interrupt: () => {
      vm.pulseIrq(data.serialGsi);
    },
    output: (byte) => {
      pending.push(byte);
      if (byte === 0x0a || pending.length >= SERIAL_CHUNK) flushSerial();
    },
  });
  const isMmio = (address: number): boolean => data.mmio.some(([start, length]) => address >= start && address < start + length);

  post({ t: 'ready', tid: c.gettid() });

  const exit = (result: VcpuExit): void => {
    flushSerial();
    // Unmapped before the main thread hears of the exit: the page holds the vCPU, and the VM,
    // alive in the kernel after their file descriptors are closed.
    c.munmap(runAddress, data.runSize);
    post({ t: 'exit', exit: result });
    // Alive, the kick still blocked, until the main thread will kick no more (vcpu-channel.ts).
    Atomics.wait(control, CONTROL.exitSeen, 0, EXIT_SEEN_TIMEOUT_MS);
  };

  exit(serve());

  /** Runs the guest until it stops; why it stopped. */
  function serve(): VcpuExit {
    for (;;) {
      if (Atomics.load(control, CONTROL.stop) !== 0) return { reason: 'stopped' };
      if (vcpu.run() < 0) {
        const errno = c.errno();
        if (errno === EINTR || errno === EAGAIN) {
          c.sigtimedwait(kickSet, null, zeroTimeout);
          continue;
        }
        return { reason: 'error', detail: `KVM_RUN failed with ${errnoName(errno)}` };
      }
      const reason = runView.getUint32(RUN.exitReason, true);
      switch (reason) {
        case EXIT.io: {
          const out = run[RUN_IO.direction] === 1;
          const size = run[RUN_IO.size] as number;
          const portNumber = runView.getUint16(RUN_IO.port, true);
          const count = runView.getUint32(RUN_IO.count, true);
          let at = Number(runView.getBigUint64(RUN_IO.dataOffset, true));
          for (let i = 0; i < count; i++, at += size) {
            const offset = portNumber - data.serialPort;
            if (offset >= 0 && offset < 8) {
              if (out) serial.write(offset, run[at] as number);
              else run[at] = serial.read(offset);
            } else if (out) {
              if (portNumber === I8042_COMMAND_PORT && run[at] === I8042_RESET) return { reason: 'reset', detail: 'the guest reset the machine through the i8042' };
            } else {
              // No device: the bus floats high.
              run.fill(0xff, at, at + size);
            }
          }
          break;
        }
        case EXIT.mmio: {
          const address = Number(runView.getBigUint64(RUN_MMIO.physAddr, true));
          const length = runView.getUint32(RUN_MMIO.len, true);
          const write = run[RUN_MMIO.isWrite] !== 0;
          if (!isMmio(address) || length > 8) {
            if (!write) run.fill(0, RUN_MMIO.data, RUN_MMIO.data + 8);
            break;
          }
          if (write) {
            post({ t: 'w', a: address, l: length, lo: runView.getUint32(RUN_MMIO.data, true), hi: runView.getUint32(RUN_MMIO.data + 4, true) });
          } else {
            Atomics.store(control, CONTROL.answer, 0);
            post({ t: 'r', a: address, l: length });
            while (Atomics.wait(control, CONTROL.answer, 0, 1000) === 'timed-out') {
              if (Atomics.load(control, CONTROL.stop) !== 0) return { reason: 'stopped' };
            }
            run.set(answer, RUN_MMIO.data);
          }
          break;
        }
        case EXIT.shutdown:
          return { reason: 'reset', detail: 'the vCPU shut down (a triple fault, or a reset)' };
        case EXIT.systemEvent:
          return { reason: 'reset', detail: `a system event of type ${runView.getUint32(RUN.exit, true)}` };
        case EXIT.hlt:
          return { reason: 'reset', detail: 'the vCPU halted outside the in-kernel irqchip' };
        case EXIT.intr:
          break;
        case EXIT.failEntry:
          return { reason: 'error', detail: `KVM could not enter the guest (hardware entry failure reason 0x${runView.getBigUint64(RUN.exit, true).toString(16)}), at rip 0x${ripOf(vcpu)}` };
        case EXIT.internalError: {
          // struct { u32 suberror; u32 ndata; u64 data[16]; }: for an emulation failure, the
          // instruction's bytes among the data where the kernel gives them.
          const ndata = Math.min(16, runView.getUint32(RUN.exit + 4, true));
          const words = Array.from({ length: ndata }, (_, i) => runView.getBigUint64(RUN.exit + 8 + i * 8, true).toString(16));
          return { reason: 'error', detail: `KVM internal error, suberror ${runView.getUint32(RUN.exit, true)}, data [${words.join(' ')}], at rip 0x${ripOf(vcpu)}` };
        }
        default:
          return { reason: 'error', detail: `unexpected KVM exit reason ${reason}` };
      }
    }
  }
}

/** The vCPU's instruction pointer, in hex, for an error's message. */
function ripOf(vcpu: KvmVcpu): string {
  try {
    return new DataView(vcpu.getRegs().buffer).getBigUint64(REGS.rip, true).toString(16);
  } catch {
    return '?';
  }
}

main().catch((error: unknown) => {
  parentPort?.postMessage({ t: 'exit', exit: { reason: 'error', detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error) } } satisfies VcpuMessage);
});
