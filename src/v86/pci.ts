/**
 * A transport-neutral virtio device on a v86 emulator's PCI bus, as a modern virtio-pci function
 * (`PciTransport`): vendor 0x1af4, device 0x1040 + type, one 256-byte I/O BAR holding the common,
 * notification, ISR and device structures, INTx through v86's PIRQ routing, and the emulator's own
 * RAM as guest memory (`v86GuestMemory`).
 *
 * ```ts
 * const emulator = await loadV86({ bios, bzimage, initrd, cmdline, memory_size }); // not started
 * const balloon = new Balloon({ amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 1 });
 * attachVirtioPci(emulator, balloon);  // before the BIOS enumerates the bus …
 * await emulator.run();                // … which it does as soon as it runs
 * ```
 *
 * Decisions that are not obvious:
 * - **Attached before the emulator first runs**, and refused once it has executed an instruction
 *   (running or stopped since): SeaBIOS enumerates and assigns the PCI bus once, at boot; a
 *   function added later would never get its BAR or interrupt line.
 * - **An I/O BAR, not a memory BAR**: v86 keeps a memory BAR where it was declared and ignores the
 *   BIOS's assignment, but moves an I/O BAR's port handlers wherever the BIOS puts it. Its ports
 *   start at `ioBase` (0x9000 by default: below SeaBIOS's I/O window at 0xc000, so no other
 *   function is assigned there while this one still sits there) and must all be free.
 * - **Slot 14 by default**: INTA# of slot 14 routes to PIRQB (v86's 9p and virtio-net, absent by
 *   default), away from PIRQA (the default ne2k) and PIRQC (v86's own balloon). v86 keeps one level
 *   per IRQ, not one per function, so a function sharing the line may lower it under this one's
 *   interrupt; the transport asserts again on every interrupt it raises, and Linux reads every
 *   ISR of a shared line, but a line of its own is safest.
 * - **Not in v86's state snapshots**: `save_state`/`restore_state` know nothing of this function.
 * - **A reset of the machine resets the device**: every reboot of the emulator (`restart()`, the
 *   guest's own reset) resets the function as if its driver had written 0 to the status, before
 *   v86 resets the CPU: the device stops, its statistics timer with it, and nothing is written
 *   into the memory of a guest that boots again, at ring addresses of the driver it had.
 * - **A guest may crash its emulator, not the process**: v86 panics (a WebAssembly `unreachable`)
 *   when, say, it delivers an interrupt to a guest whose interrupt tables the guest zeroed through
 *   the balloon. An error thrown by v86 when the function raises or lowers its line, or out of a
 *   slice of the emulator's run (`machine.ts`), stops that emulator, resets the device, sets
 *   `vmm.panic_count` of the metrics given (the VM's `vmm` group), and dispatches an `error` event
 *   (`V86PanicEvent`) on the function; `panic` says why. Nothing is thrown: the rest of the process
 *   goes on. The function serves nothing after.
 */
import type { VirtioDevice } from '../devices/virtio/device.js';
import { METRICS as VMM_METRICS, type VmmMetrics } from '../logger/metrics/vmm.js';
import { PciTransport } from '../devices/virtio/transport/pci.js';
import { VIRTIO_PCI_BAR } from '../devices/virtio/transport/pci-registers.js';
import type { FlatGuestMemory } from '../vstate/flat-memory.js';
import { V86InternalsError, type V86PanicError } from './errors.js';
import { v86Main, type V86Cpu, type V86PciFunction } from './internals.js';
import { V86Machine } from './machine.js';
import { guestMemoryOf } from './memory.js';

export interface V86VirtioPciOptions {
  /** The PCI slot (device number, function 0), 1–31; it must be free. @default 14 */
  readonly slot?: number;
  /** Where BAR 0's 256 ports start until the BIOS moves them: 0x1000–0xff00, a multiple of 256, all free. @default 0x9000 */
  readonly ioBase?: number;
  /** The name v86's logs give the function. @default `vmm-metrics virtio-pci <device id>` */
  readonly name?: string;
  /**
   * The VM's `vmm` group: `panic_count` is set to 1 if the emulator panics.
   * @default the global document's (`METRICS.vmm` of `vmm-metrics`)
   */
  readonly metrics?: VmmMetrics;
}

/** What `attachVirtioPci` asks of the emulator besides its internals: v86's public `V86` has both. */
export interface V86Emulator {
  is_running(): boolean;
  /** Instructions executed so far: more than 0 once the BIOS has started. */
  get_instruction_counter(): number;
}

export const DEFAULT_V86_PCI_SLOT = 14;
export const DEFAULT_V86_IO_BASE = 0x9000;

/** The `error` event of a `V86VirtioPci`: the emulator panicked (and was stopped). */
export class V86PanicEvent extends Event {
  constructor(readonly error: V86PanicError) {
    super('error');
  }
}

/** A device attached to a v86 emulator's PCI bus; an `EventTarget` of `error` (`V86PanicEvent`). */
export class V86VirtioPci extends EventTarget {
  /** The transport serving the guest's accesses. */
  readonly transport: PciTransport;
  /** The guest memory the device reads and writes (the emulator's RAM). */
  readonly memory: FlatGuestMemory;
  /** The function's address on the bus: slot << 3. */
  readonly pciId: number;
  readonly #cpu: V86Cpu;
  readonly #metrics: VmmMetrics;
  #panic: V86PanicError | undefined;

  private constructor(cpu: V86Cpu, machine: V86Machine, transport: PciTransport, memory: FlatGuestMemory, pciId: number, metrics: VmmMetrics) {
    super();
    this.#cpu = cpu;
    this.transport = transport;
    this.memory = memory;
    this.pciId = pciId;
    this.#metrics = metrics;
    machine.add({
      machineReset: () => {
        this.transport.reset();
      },
      emulatorPanicked: (error) => {
        this.#panicked(error);
      },
    });
  }

  /** Why the emulator stopped, if it panicked: the function serves nothing since. */
  get panic(): V86PanicError | undefined {
    return this.#panic;
  }

  /**
   * Puts `device` on the PCI bus of `emulator`, which must be loaded (`loadV86`) and not yet
   * running. Throws a `V86InternalsError` if v86's internals are not where v86 0.5.462 has them,
   * or if the emulator runs already; a RangeError for a taken or invalid slot or I/O range.
   */
  static attach(emulator: V86Emulator, device: VirtioDevice, options: V86VirtioPciOptions = {}): V86VirtioPci {
    const main = v86Main(emulator);
    const cpu = main.cpu;
    if (emulator.is_running() || emulator.get_instruction_counter() > 0) {
      throw new V86InternalsError('attachVirtioPci: the emulator has run, and its BIOS has enumerated the PCI bus already: attach before the first run()');
    }
    const slot = options.slot ?? DEFAULT_V86_PCI_SLOT;
    const ioBase = options.ioBase ?? DEFAULT_V86_IO_BASE;
    if (!Number.isInteger(slot) || slot < 1 || slot > 31) throw new RangeError(`attachVirtioPci: the slot must be 1–31, got ${slot}`);
    const pciId = slot << 3;
    const pci = cpu.devices.pci;
    const taken = pci.devices[pciId];
    if (taken !== undefined) throw new RangeError(`attachVirtioPci: PCI slot ${slot} is taken by ${String(taken.name)}`);
    if (!Number.isInteger(ioBase) || ioBase < 0x1000 || ioBase > 0x10000 - VIRTIO_PCI_BAR.size || ioBase % VIRTIO_PCI_BAR.size !== 0) {
      // Below 0x1000 v86 never moves a port handler away, and would leave the BAR's ports behind.
      throw new RangeError(`attachVirtioPci: the I/O base must be a multiple of ${VIRTIO_PCI_BAR.size} from 0x1000 to 0xff00, got 0x${ioBase.toString(16)}`);
    }
    for (let port = ioBase; port < ioBase + VIRTIO_PCI_BAR.size; port++) {
      if (cpu.io.ports[port]?.device !== undefined) throw new RangeError(`attachVirtioPci: I/O port 0x${port.toString(16)} is taken`);
    }

    const machine = V86Machine.of(main);
    const memory = guestMemoryOf(cpu);
    const transport = new PciTransport(device, memory, {
      onInterruptLevel: (asserted) => {
        // Into v86, which may panic there (a guest without interrupt tables): caught, not thrown.
        if (machine.panic !== undefined) return;
        try {
          if (asserted) pci.raise_irq(pciId);
          else pci.lower_irq(pciId);
        } catch (error) {
          machine.panicked(error);
        }
      },
    });
    const descriptor: V86PciFunction = {
      name: options.name ?? `vmm-metrics virtio-pci ${transport.pciDeviceId.toString(16)}`,
      pci_id: pciId,
      pci_space: [...transport.configSpace(ioBase)],
      pci_bars: [{ size: VIRTIO_PCI_BAR.size }],
    };
    // The handlers first: register_device takes the BAR's port entries as they are then. After a
    // panic they serve nothing (reads are zeros).
    const live = (): boolean => machine.panic === undefined;
    const one = new Uint8Array(1);
    const two = new Uint8Array(2);
    const four = new Uint8Array(4);
    for (let offset = 0; offset < VIRTIO_PCI_BAR.size; offset++) {
      cpu.io.register_read(
        ioBase + offset,
        descriptor,
        () => {
          if (!live()) return 0;
          transport.readBar(offset, one);
          return one[0] ?? 0;
        },
        () => {
          if (!live()) return 0;
          transport.readBar(offset, two);
          return (two[0] ?? 0) | ((two[1] ?? 0) << 8);
        },
        () => {
          if (!live()) return 0;
          transport.readBar(offset, four);
          return (four[0] ?? 0) | ((four[1] ?? 0) << 8) | ((four[2] ?? 0) << 16) | ((four[3] ?? 0) << 24);
        },
      );
      cpu.io.register_write(
        ioBase + offset,
        descriptor,
        (value) => {
          if (!live()) return;
          one[0] = value;
          transport.writeBar(offset, one);
        },
        (value) => {
          if (!live()) return;
          two[0] = value;
          two[1] = value >>> 8;
          transport.writeBar(offset, two);
        },
        (value) => {
          if (!live()) return;
          for (let i = 0; i < 4; i++) four[i] = value >>> (8 * i);
          transport.writeBar(offset, four);
        },
      );
    }
    pci.register_device(descriptor);
    return new V86VirtioPci(cpu, machine, transport, memory, pciId, options.metrics ?? VMM_METRICS);
  }

  /** Where BAR 0 is now: the I/O port the BIOS assigned (or `ioBase` before it did). */
  get ioPort(): number {
    return (this.#header()[4] ?? 0) & 0xfffc;
  }

  /** The interrupt line (IRQ) the BIOS wrote in the header; 0 before it did. */
  get interruptLine(): number {
    return (this.#header()[15] ?? 0) & 0xff;
  }

  #header(): Int32Array {
    return this.#cpu.devices.pci.device_spaces[this.pciId] ?? new Int32Array(64);
  }

  /** The emulator panicked: the device is reset (its timers stop), the panic counted and told. */
  #panicked(error: V86PanicError): void {
    this.#panic = error;
    // The line is not touched again: the machine ignores it from now on.
    this.transport.reset();
    this.#metrics.panic_count.store(1);
    queueMicrotask(() => {
      this.dispatchEvent(new V86PanicEvent(error));
    });
  }
}

/** `V86VirtioPci.attach`. */
export function attachVirtioPci(emulator: V86Emulator, device: VirtioDevice, options: V86VirtioPciOptions = {}): V86VirtioPci {
  return V86VirtioPci.attach(emulator, device, options);
}
