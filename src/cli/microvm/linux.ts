/**
 * `npm start -- --guest linux`: the session's VM is Debian's i386 Linux in the v86 emulator, and
 * Linux's own `virtio_pci` and `virtio_balloon` drive our `Balloon` through `vmm-metrics/v86`, in
 * place of the simulated driver. The guest's `/init` reports its memory on the serial console
 * once a second (`VMM-GUEST mem_total_kb=… balloon_inflate=…`); the balloon's statistics are
 * Linux's own, from its statistics queue.
 *
 * Design notes:
 * - **Loaded on demand.** main.ts imports this module only for `--guest linux`, and this module
 *   starts v86 through `loadV86`, which imports it then: v86 is an optional peer dependency (a
 *   devDependency here), and the simulated session runs without it.
 * - **No DEFLATE_ON_OOM.** Without it, Linux takes inflated pages out of MemTotal
 *   (`adjust_managed_page_count`), so the guest's own MemTotal shows the balloon's size beside
 *   our `actual_pages`. Statistics every second, free page reporting and hinting are offered.
 * - **Ready at the first report after DRIVER_OK.** The host sets no target before the driver has
 *   the balloon, and the first report's MemTotal is the guest's before any inflation.
 * - **Boot progress from what can be seen**: the kernel's timestamped console messages (the
 *   command line says `quiet`, so only warnings come, and their `[uptime]`), /init's lines, the
 *   device's DRIVER_OK, and v86's instruction counter — a 32-bit count that wraps every few
 *   seconds, so only its differences are used.
 * - **Stopping**: the emulator stops before the last line, so that the line holds everything the
 *   guest did; then it is destroyed, and nothing of v86 keeps the process alive.
 */
import { readFileSync } from 'node:fs';
import { Balloon } from '../../devices/virtio/balloon/device.js';
import { FirecrackerMetrics } from '../../document/firecracker-metrics.js';
import { Metrics } from '../../metrics/writer.js';
import { PAGE_SIZE } from '../../vstate/memory.js';
import { attachVirtioPci, loadV86, SerialConsole, V86_VERSION, type V86VirtioPci } from '../../v86/index.js';
import type { LinuxGuestFiles } from './guest-fixtures.js';
import { balloonSummary, countersLine, guestStats, MovedCounters, namedBytes, writeLine, type SessionVm } from './session-vm.js';
import { LinuxBoot } from './linux-boot.js';
import type { LinuxGuestView, VmSnapshot } from './view.js';

const MIB = 1024 * 1024;

type Emulator = Awaited<ReturnType<typeof loadV86>>;

export interface LinuxVmOptions {
  readonly id: string;
  readonly memoryMib: number;
  /** Where the VM's metrics lines go: a file or a named pipe. */
  readonly metricsPath: string;
  readonly guest: LinuxGuestFiles;
  /** Called with what went wrong in the guest (an /init error, a module that did not load), once each. */
  readonly problem: (text: string) => void;
}

/** A file's bytes as v86 takes an image. */
function image(path: string): { buffer: ArrayBuffer } {
  const bytes = readFileSync(path);
  return { buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
}

export class LinuxVm implements SessionVm {
  readonly id: string;
  readonly memoryMib: number;
  readonly metricsPath: string;
  readonly document = new FirecrackerMetrics();
  readonly writer: Metrics<FirecrackerMetrics>;
  readonly balloon: Balloon;
  readonly pci: V86VirtioPci;
  readonly #emulator: Emulator;
  readonly #serial: SerialConsole;
  readonly #kernel: string;
  readonly #problem: (text: string) => void;
  readonly #moved: MovedCounters;
  readonly #boot: LinuxBoot;
  #counter: { readonly at: number; readonly count: number } | undefined;
  #instructionsPerS: number | undefined;
  #brokenReported = false;

  /**
   * Loads v86 with the guest's images and attaches the balloon, before the BIOS runs; opens the
   * metrics file. Rejects with a message that says what to install when v86 is missing.
   */
  static async create(options: LinuxVmOptions): Promise<LinuxVm> {
    const { guest } = options;
    let emulator: Emulator;
    try {
      emulator = await loadV86({
        bios: image(guest.bios),
        vga_bios: image(guest.vgaBios),
        bzimage: image(guest.kernel),
        initrd: image(guest.initramfs),
        cmdline: guest.cmdline,
        memory_size: options.memoryMib * MIB,
        // v86's own balloon would be a second one: the guest's balloon is ours.
        virtio_balloon: false,
      });
    } catch (error) {
      const cause = (error as Error).cause as NodeJS.ErrnoException | undefined;
      if (cause?.code === 'ERR_MODULE_NOT_FOUND') {
        throw new Error(`--guest linux needs v86, an optional peer dependency (a devDependency of this repository): npm install v86@${V86_VERSION}`, { cause: error });
      }
      throw error;
    }
    try {
      return new LinuxVm(emulator, options);
    } catch (error) {
      await emulator.destroy();
      throw error;
    }
  }

  private constructor(emulator: Emulator, options: LinuxVmOptions) {
    this.id = options.id;
    this.memoryMib = options.memoryMib;
    this.metricsPath = options.metricsPath;
    this.#emulator = emulator;
    this.#kernel = options.guest.kernelRelease;
    this.#problem = options.problem;
    this.#moved = new MovedCounters(this.document);
    this.balloon = new Balloon(
      { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 1, free_page_hinting: true, free_page_reporting: true },
      { metrics: this.document.balloon },
    );
    this.#boot = new LinuxBoot(this.id, this.balloon, options.problem);
    this.pci = attachVirtioPci(emulator, this.balloon);
    // The view wants the last line; a few kept are enough.
    this.#serial = new SerialConsole(emulator, { maxLines: 100 });
    this.#serial.onLine((line) => {
      this.#boot.take(line);
    });
    this.writer = new Metrics(this.document);
    this.writer.init(options.metricsPath, { id: options.id, flushIntervalMs: 0, flushOnExit: true });
  }

  /** Linux is up: its driver has the balloon, and its first report came. */
  get ready(): boolean {
    return this.#boot.up;
  }

  /** Starts the emulator: SeaBIOS enumerates the bus (our function among it) and boots the kernel. */
  async boot(): Promise<void> {
    this.#boot.start();
    await this.#emulator.run();
  }

  step(): void {
    if (this.balloon.needsReset && !this.#brokenReported) {
      this.#brokenReported = true;
      this.#problem(`${this.id}: the guest corrupted a virtqueue; the balloon serves nothing until the driver resets it`);
    }
  }

  setTarget(mib: number): void {
    this.balloon.updateSize(mib);
  }

  flush(): string | undefined {
    return writeLine(this.id, this.writer, this.metricsPath);
  }

  snapshot(): VmSnapshot {
    const now = Date.now();
    const count = this.#emulator.get_instruction_counter();
    if (this.#counter !== undefined && now > this.#counter.at) {
      // The counter wraps at 2^32: the difference modulo 2^32 is what ran.
      this.#instructionsPerS = ((count - this.#counter.count) >>> 0) / ((now - this.#counter.at) / 1000);
    }
    this.#counter = { at: now, count };
    const linux: LinuxGuestView = {
      kernel: this.#kernel,
      ...this.#boot.view(now),
      ...(this.#instructionsPerS === undefined ? {} : { instructionsPerS: this.#instructionsPerS }),
    };
    const memory = this.pci.memory.residentBytes();
    return {
      id: this.id,
      targetMib: this.balloon.config().amount_mib,
      actualMib: Math.floor((this.balloon.actualPages * PAGE_SIZE) / MIB),
      guestMib: this.memoryMib,
      ram: 'emulator',
      residentBytes: memory,
      peakResidentBytes: memory,
      released: this.balloon.releasedBytes(),
      named: namedBytes(this.document),
      moved: this.#moved.take(),
      stats: guestStats(this.balloon),
      linux,
    };
  }

  summary(metricsPath: string): string[] {
    const lines = [`${this.id} (metrics in ${metricsPath})`];
    const { bootMs, report } = this.#boot;
    lines.push(
      bootMs === undefined
        ? `  Linux ${this.#kernel} in v86 (${this.memoryMib} MiB): still booting after ${this.#boot.sinceStartS().toFixed(1)} s, at the ${this.#boot.stage()} stage (a longer --duration-s gives it time)`
        : `  Linux ${this.#kernel} in v86 (${this.memoryMib} MiB): up ${(bootMs / 1000).toFixed(1)} s after the emulator started (its first report)`,
    );
    if (report !== undefined) {
      lines.push(
        `  the guest's last report (seq ${report.seq}, uptime ${report.uptimeS.toFixed(2)} s): MemTotal ${report.memTotalKb} kB ` +
          `(${this.#boot.memTotalAtBootKb ?? report.memTotalKb} kB at boot), MemFree ${report.memFreeKb} kB, MemAvailable ${report.memAvailableKb} kB, ` +
          `balloon_inflate ${report.balloonInflate}, balloon_deflate ${report.balloonDeflate}, balloon_migrate ${report.balloonMigrate} pages`,
      );
    }
    lines.push(...balloonSummary('emulator', this.balloon.releasedBytes(), this.document));
    lines.push(countersLine(this.document));
    return lines;
  }

  async shutdown(): Promise<string | undefined> {
    if (this.#emulator.is_running()) await this.#emulator.stop();
    const failure = this.flush();
    this.writer.close();
    this.#serial.close();
    this.balloon.dispose();
    await this.#emulator.destroy();
    return failure;
  }
}
