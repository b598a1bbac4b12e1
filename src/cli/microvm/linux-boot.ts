/**
 * A Linux guest's boot and reports, as the session sees them from the guest's console and the
 * balloon, whichever VMM runs it (v86 for `--guest linux`, KVM for `--guest kvm`): the kernel's
 * timestamped messages, /init's lines (`parseGuestLine`), and the device's DRIVER_OK.
 *
 * The guest is up at its first report after the driver has the balloon: the host sets no target
 * before, and that report's MemTotal is the guest's before any inflation.
 */
import type { Balloon } from '../../devices/virtio/balloon/device.js';
import { parseGuestLine } from '../../v86/guest-report.js';
import { BOOT_STAGES, type BootStage, type GuestReportView, type LinuxGuestView } from './view.js';

/** What a boot shows in the view, whichever VMM runs it. */
export type LinuxBootView = Pick<LinuxGuestView, 'sinceStartS' | 'stage' | 'bootS' | 'kernelUptimeS' | 'lastConsoleLine' | 'report' | 'memTotalAtBootKb'>;

export class LinuxBoot {
  #startedAt: number | undefined;
  /** The boot's milestones as they were seen, each the index of the stage it ends. */
  #passed = 0;
  #bootMs: number | undefined;
  #kernelUptimeS: number | undefined;
  #lastConsoleLine: string | undefined;
  #report: GuestReportView | undefined;
  #memTotalAtBootKb: number | undefined;

  /**
   * `problem` hears what went wrong in the guest (an /init error, a module that did not load),
   * prefixed with the VM's `id`.
   */
  constructor(
    readonly id: string,
    readonly balloon: Balloon,
    readonly problem: (text: string) => void,
  ) {}

  /** The VMM started the guest: the boot's times count from now. */
  start(): void {
    this.#startedAt = Date.now();
  }

  /** Linux is up: its driver has the balloon, and its first report came. */
  get up(): boolean {
    return this.#bootMs !== undefined;
  }

  /** Milliseconds from the start to the first report, once up. */
  get bootMs(): number | undefined {
    return this.#bootMs;
  }

  /** The latest report of /init. */
  get report(): GuestReportView | undefined {
    return this.#report;
  }

  /** MemTotal in the first report, before the host set any target. */
  get memTotalAtBootKb(): number | undefined {
    return this.#memTotalAtBootKb;
  }

  /** Seconds since the start (0 before it). */
  sinceStartS(now = Date.now()): number {
    return this.#startedAt === undefined ? 0 : (now - this.#startedAt) / 1000;
  }

  /** The first stage not passed yet; `up` once up. */
  stage(): BootStage | 'up' {
    // The driver's handshake ends inside insmod, before /init prints its modules line.
    const passed = Math.max(this.#passed, this.balloon.activated ? BOOT_STAGES.indexOf('driver') + 1 : 0, this.#bootMs === undefined ? 0 : BOOT_STAGES.length);
    return BOOT_STAGES[passed] ?? 'up';
  }

  view(now = Date.now()): LinuxBootView {
    return {
      sinceStartS: this.sinceStartS(now),
      stage: this.stage(),
      ...(this.#bootMs === undefined ? {} : { bootS: this.#bootMs / 1000 }),
      ...(this.#kernelUptimeS === undefined ? {} : { kernelUptimeS: this.#kernelUptimeS }),
      ...(this.#lastConsoleLine === undefined ? {} : { lastConsoleLine: this.#lastConsoleLine }),
      ...(this.#report === undefined ? {} : { report: this.#report }),
      ...(this.#memTotalAtBootKb === undefined ? {} : { memTotalAtBootKb: this.#memTotalAtBootKb }),
    };
  }

  /** One line of the guest's console, without its line break. */
  take(line: string): void {
    if (line.trim() !== '') this.#lastConsoleLine = line;
    const parsed = parseGuestLine(line);
    if (parsed === undefined) {
      const uptime = /^\[\s*(\d+\.\d+)\]/.exec(line);
      if (uptime !== null) {
        this.#kernelUptimeS = Number(uptime[1]);
        this.#passedStage('firmware');
      }
      return;
    }
    switch (parsed.kind) {
      case 'init':
        this.#kernelUptimeS = parsed.uptimeS;
        this.#passedStage('kernel');
        return;
      case 'modules':
        this.#passedStage('modules');
        if (!parsed.allLoaded) {
          this.problem(`${this.id}: the guest did not load every virtio module: ${[...parsed.results].map(([name, result]) => `${name}=${result}`).join(' ')}`);
        }
        return;
      case 'error':
        this.problem(`${this.id}: the guest's /init failed: ${parsed.message}`);
        return;
      case 'memory':
        this.#report = {
          seq: parsed.seq,
          uptimeS: parsed.uptimeS,
          memTotalKb: parsed.memTotalKb,
          memFreeKb: parsed.memFreeKb,
          memAvailableKb: parsed.memAvailableKb,
          balloonInflate: parsed.balloonInflate,
          balloonDeflate: parsed.balloonDeflate,
          balloonMigrate: parsed.fields.get('balloon_migrate') ?? 0,
        };
        if (this.#bootMs === undefined && this.balloon.activated) {
          this.#bootMs = Date.now() - (this.#startedAt ?? Date.now());
          this.#memTotalAtBootKb = parsed.memTotalKb;
        }
        return;
      case 'pci':
      case 'virtio':
        return;
    }
  }

  /** The stage `stage` is over. */
  #passedStage(stage: BootStage): void {
    this.#passed = Math.max(this.#passed, BOOT_STAGES.indexOf(stage) + 1);
  }
}
