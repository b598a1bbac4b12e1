/**
 * Debian's amd64 Linux in the microVM, for the tests that need Linux's own drivers: the fixtures
 * `npm run guest:fetch` builds (vmlinux, the initramfs with /init and memhog), `Balloon` behind
 * `MmioTransport` behind a window that counts the driver's inflate notifications (its writes of
 * 0 to QueueNotify), and the guest's console read line by line with /init's parser.
 */
import { readFileSync } from 'node:fs';
import { Balloon, type BalloonConfig, type BalloonDeviceMetrics } from '../../src/devices/virtio/balloon/index.js';
import { MmioTransport } from '../../src/devices/virtio/transport/mmio.js';
import { MicroVm } from '../../src/kvm/microvm.js';
import { parseGuestLine, type GuestLine } from '../../src/v86/guest-report.js';
import type { GuestMemory } from '../../src/vstate/memory.js';
import type { KvmGuestManifest } from '../../scripts/guest-fixtures/amd64-manifest.js';

/** QueueNotify's offset in the virtio-mmio window. */
const QUEUE_NOTIFY = 0x50;

export interface LinuxGuestOptions {
  readonly manifest: KvmGuestManifest;
  readonly memoryMib: number;
  readonly balloon: BalloonConfig;
  readonly metrics: BalloonDeviceMetrics;
  /** More kernel parameters (`vmm_memhog_mib=700`). */
  readonly cmdline?: string;
}

export class LinuxGuest {
  readonly lines: string[] = [];
  /** The driver's notifications of the inflate queue, counted at the MMIO window. */
  inflateNotifications = 0;
  /** When the last of them came (performance.now()). */
  lastInflateNotificationAt: number | undefined;
  readonly #waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  #partial = '';

  private constructor(
    readonly vm: MicroVm,
    readonly balloon: Balloon,
    readonly transport: MmioTransport,
  ) {
    vm.onSerial((bytes) => {
      this.#partial += Buffer.from(bytes).toString('latin1');
      for (let end = this.#partial.indexOf('\n'); end >= 0; end = this.#partial.indexOf('\n')) {
        const line = this.#partial.slice(0, end).replace(/\r$/, '');
        this.#partial = this.#partial.slice(end + 1);
        this.lines.push(line);
        for (const waiter of [...this.#waiters]) {
          if (waiter.test(line)) {
            this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    });
  }

  static async create(options: LinuxGuestOptions): Promise<LinuxGuest> {
    const { manifest } = options;
    const vm = await MicroVm.create({
      kernel: readFileSync(manifest.kernel.vmlinux.path),
      initrd: readFileSync(manifest.initramfs.path),
      cmdline: `${manifest.kernel.cmdline}${options.cmdline === undefined ? '' : ` ${options.cmdline}`}`,
      memoryBytes: options.memoryMib << 20,
    });
    const balloon = new Balloon(options.balloon, { metrics: options.metrics });
    let made: { transport: MmioTransport; guest?: LinuxGuest } | undefined;
    vm.addMmioDevice((interrupt) => {
      // MmioTransport's parameter names the class; it uses the memory as a GuestMemoryAccess.
      const transport = new MmioTransport(balloon, vm.memory as unknown as GuestMemory, { onInterrupt: interrupt });
      made = { transport };
      return {
        read: (offset, data) => {
          transport.read(offset, data);
        },
        write: (offset, data) => {
          if (offset === QUEUE_NOTIFY && data.length === 4 && data.every((byte) => byte === 0) && made?.guest !== undefined) {
            made.guest.inflateNotifications++;
            made.guest.lastInflateNotificationAt = performance.now();
          }
          transport.write(offset, data);
        },
      };
    });
    if (made === undefined) throw new Error('the transport was not made');
    const guest = new LinuxGuest(vm, balloon, made.transport);
    made.guest = guest;
    return guest;
  }

  /** Resolves with the first line (seen from now on) that `test` accepts; rejects after `timeoutMs`. */
  waitForLine(test: (line: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no ${what} from the guest in ${timeoutMs} ms; its last lines:\n${this.lines.slice(-15).join('\n')}`));
      }, timeoutMs);
      this.#waiters.push({
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  /** The next /init line of `kind` that `test` accepts. */
  async waitForGuest<K extends GuestLine['kind']>(kind: K, test: (line: Extract<GuestLine, { kind: K }>) => boolean = () => true, timeoutMs = 30_000): Promise<Extract<GuestLine, { kind: K }>> {
    const line = await this.waitForLine(
      (text) => {
        const parsed = parseGuestLine(text);
        return parsed?.kind === kind && test(parsed as Extract<GuestLine, { kind: K }>);
      },
      `VMM-GUEST ${kind} line`,
      timeoutMs,
    );
    return parseGuestLine(line) as Extract<GuestLine, { kind: K }>;
  }

  start(): void {
    this.vm.start();
  }

  async stop(): Promise<void> {
    await this.vm.stop();
    this.balloon.reset();
  }
}

/** Resolves once `predicate` holds, polling every 50 ms; rejects after `timeoutMs`, saying `what`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
