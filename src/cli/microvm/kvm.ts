/**
 * `npm start -- --guest kvm`: the session of `--guest linux` on KVM — Debian's amd64 Linux in a
 * microVM of `vmm-metrics/kvm`, its own virtio_mmio and virtio_balloon driving our `Balloon`
 * behind `MmioTransport`, and the memory the balloon takes given back to the host for real
 * (`madvise`), so the view shows this process's RSS beside the balloon's size.
 *
 * Design notes:
 * - **The guest touches its memory first**: /init runs memhog over 70 % of guest memory before
 *   its reports start (`vmm_memhog_mib=`), so the VMM holds that memory when the host sets its
 *   first target, and an inflation has host memory to give back.
 * - **The RSS is the process's** (`/proc/self/status`, VmRSS): guest memory, the VMM's own heap
 *   and everything else — what an operator sees. The view shows it now and its change since the
 *   host last set a target; the memory the guest's pages hold (`mincore`) beside it.
 * - **Loaded on demand**, as linux.ts: main.ts imports this module only for `--guest kvm`, and it
 *   loads `vmm-metrics/kvm` (and koffi) only then.
 * - The fixtures are the amd64 guest of `npm run guest:fetch`, found by kvm-guest.ts.
 */
import { readFileSync } from 'node:fs';
import { Balloon } from '../../devices/virtio/balloon/index.js';
import { MmioTransport } from '../../devices/virtio/transport/mmio.js';
import { FirecrackerMetrics } from '../../document/firecracker-metrics.js';
import { MicroVm as KvmMicroVm } from '../../kvm/microvm.js';
import { processRssBytes } from '../../kvm/rss.js';
import { Metrics } from '../../metrics/writer.js';
import { PAGE_SIZE, type GuestMemory } from '../../vstate/memory.js';
import type { KvmGuestFiles } from './kvm-guest.js';
import { balloonSummary, countersLine, guestStats, MovedCounters, namedBytes, writeLine, type SessionVm } from './session-vm.js';
import { LinuxBoot } from './linux-boot.js';
import type { LinuxGuestView, VmSnapshot } from './view.js';

const MIB = 1024 * 1024;
/** The share of guest memory /init's memhog touches before the reports start. */
const TOUCHED_SHARE = 0.7;
export interface KvmSessionVmOptions {
  readonly id: string;
  readonly memoryMib: number;
  readonly metricsPath: string;
  readonly guest: KvmGuestFiles;
  readonly problem: (text: string) => void;
}

export class KvmSessionVm implements SessionVm {
  readonly id: string;
  readonly memoryMib: number;
  readonly metricsPath: string;
  readonly document = new FirecrackerMetrics();
  readonly writer: Metrics<FirecrackerMetrics>;
  readonly balloon: Balloon;
  readonly #vm: KvmMicroVm;
  readonly #kernel: string;
  readonly #problem: (text: string) => void;
  readonly #moved: MovedCounters;
  readonly #boot: LinuxBoot;
  #partial = '';
  #rssAtTargetBytes: number | undefined;
  #peakResidentBytes = 0;
  #exit: string | undefined;

  static async create(options: KvmSessionVmOptions): Promise<KvmSessionVm> {
    const touched = Math.floor(options.memoryMib * TOUCHED_SHARE);
    const vm = await KvmMicroVm.create({
      kernel: readFileSync(options.guest.vmlinux),
      initrd: readFileSync(options.guest.initramfs),
      cmdline: `${options.guest.cmdline} vmm_memhog_mib=${touched}`,
      memoryBytes: options.memoryMib * MIB,
    });
    return new KvmSessionVm(vm, options);
  }

  private constructor(vm: KvmMicroVm, options: KvmSessionVmOptions) {
    this.id = options.id;
    this.memoryMib = options.memoryMib;
    this.metricsPath = options.metricsPath;
    this.#vm = vm;
    this.#kernel = options.guest.kernelRelease;
    this.#problem = options.problem;
    this.#moved = new MovedCounters(this.document);
    this.balloon = new Balloon(
      { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 1, free_page_hinting: true, free_page_reporting: true },
      { metrics: this.document.balloon },
    );
    this.#boot = new LinuxBoot(this.id, this.balloon, options.problem);
    // MmioTransport's parameter names the class; it uses the memory as a GuestMemoryAccess.
    vm.addMmioDevice((interrupt) => new MmioTransport(this.balloon, vm.memory as unknown as GuestMemory, { onInterrupt: interrupt }));
    vm.onSerial((bytes) => {
      this.#partial += Buffer.from(bytes).toString('latin1');
      for (let end = this.#partial.indexOf('\n'); end >= 0; end = this.#partial.indexOf('\n')) {
        this.#boot.take(this.#partial.slice(0, end).replace(/\r$/, ''));
        this.#partial = this.#partial.slice(end + 1);
      }
    });
    this.writer = new Metrics(this.document);
    this.writer.init(options.metricsPath, { id: options.id, flushIntervalMs: 0, flushOnExit: true });
  }

  get ready(): boolean {
    return this.#boot.up;
  }

  boot(): void {
    this.#boot.start();
    this.#vm.start();
    this.#vm.exited.then(
      (exit) => {
        if (exit.reason !== 'stopped') {
          this.#exit = exit.reason === 'reset' ? `the guest reset: ${exit.detail}` : `the vCPU stopped: ${exit.detail}`;
          this.#problem(`${this.id}: ${this.#exit}`);
        }
      },
      () => undefined,
    );
  }

  step(): void {
    // The guest runs on its own vCPU thread; nothing to do per step.
  }

  setTarget(mib: number): void {
    this.#rssAtTargetBytes = processRssBytes();
    this.balloon.updateSize(mib);
  }

  flush(): string | undefined {
    return writeLine(this.id, this.writer, this.metricsPath);
  }

  snapshot(): VmSnapshot {
    const now = Date.now();
    const resident = this.#vm.memory.residentBytes();
    this.#peakResidentBytes = Math.max(this.#peakResidentBytes, resident);
    const linux: LinuxGuestView = {
      kernel: this.#kernel,
      vmm: 'kvm',
      ...(this.#rssAtTargetBytes === undefined ? {} : { rssAtTargetBytes: this.#rssAtTargetBytes }),
      ...this.#boot.view(now),
    };
    return {
      id: this.id,
      targetMib: this.balloon.config().amount_mib,
      actualMib: Math.floor((this.balloon.actualPages * PAGE_SIZE) / MIB),
      guestMib: this.memoryMib,
      ram: 'mapped',
      residentBytes: resident,
      peakResidentBytes: this.#peakResidentBytes,
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
        ? `  Linux ${this.#kernel} on KVM (${this.memoryMib} MiB): not up after ${this.#boot.sinceStartS().toFixed(1)} s, at the ${this.#boot.stage()} stage${this.#exit === undefined ? '' : ` (${this.#exit})`}`
        : `  Linux ${this.#kernel} on KVM (${this.memoryMib} MiB): up ${(bootMs / 1000).toFixed(2)} s after the vCPU started (its first report)`,
    );
    if (report !== undefined) {
      lines.push(`  the guest's last report (seq ${report.seq}): MemTotal ${report.memTotalKb} kB (${this.#boot.memTotalAtBootKb ?? report.memTotalKb} kB at boot), balloon_inflate ${report.balloonInflate} pages`);
    }
    lines.push(...balloonSummary('mapped', this.balloon.releasedBytes(), this.document));
    lines.push(countersLine(this.document));
    return lines;
  }

  async shutdown(): Promise<string | undefined> {
    await this.#vm.stop();
    const failure = this.flush();
    this.writer.close();
    this.balloon.reset();
    return failure;
  }
}
