/**
 * A microVM with this project's balloon: `Balloon` behind `MmioTransport` in the first MMIO
 * window, counting into the metrics group it is given.
 */
import { Balloon, type BalloonConfig, type BalloonDeviceMetrics } from '../devices/virtio/balloon/index.js';
import { MmioTransport } from '../devices/virtio/transport/mmio.js';
import type { GuestMemory } from '../vstate/memory.js';
import { MicroVm, type MicroVmOptions } from './microvm.js';

export interface BalloonVmOptions extends MicroVmOptions {
  readonly balloon: BalloonConfig;
  /** The group the balloon counts in. @default the process-wide balloon group */
  readonly metrics?: BalloonDeviceMetrics | undefined;
}

export class BalloonVm {
  private constructor(
    readonly vm: MicroVm,
    readonly balloon: Balloon,
    readonly transport: MmioTransport,
  ) {}

  /** Makes the VM (see `MicroVm.create`) with the balloon in place; `start()` boots it. */
  static async create(options: BalloonVmOptions): Promise<BalloonVm> {
    const balloon = new Balloon(options.balloon, options.metrics === undefined ? {} : { metrics: options.metrics });
    const vm = await MicroVm.create(options);
    let transport: MmioTransport | undefined;
    vm.addMmioDevice((interrupt) => {
      // MmioTransport's constructor names the class GuestMemory, but it uses the memory only as
      // a GuestMemoryAccess (its DeviceState and queues take that interface, as PciTransport does).
      transport = new MmioTransport(balloon, vm.memory as unknown as GuestMemory, { onInterrupt: interrupt });
      return transport;
    });
    if (transport === undefined) throw new Error('BalloonVm: the transport was not made');
    return new BalloonVm(vm, balloon, transport);
  }

  start(): void {
    this.vm.start();
  }

  async stop(): Promise<void> {
    await this.vm.stop();
    this.balloon.reset();
  }
}
