/**
 * What happens to a v86 machine as a whole, which every function attached to its bus follows: a
 * reboot (a reset of the machine resets its devices) and a panic of the emulator (the guest
 * crashed it: it is stopped, and the devices with it).
 *
 * One per emulator, made by the first function attached. It replaces `cpu.reboot_internal` and
 * `v86.do_tick` (internals.ts says why those): every reboot is heard before v86 resets the CPU,
 * and an error thrown out of a slice of the emulator's run is caught there instead of leaving the
 * event loop as an uncaught exception, which ends the whole process. A guest may crash itself;
 * the process goes on.
 */
import { V86PanicError } from './errors.js';
import type { V86Cpu, V86Main } from './internals.js';

/** A function on the bus, told of the machine's reboots and of the emulator's panic. */
export interface MachineListener {
  /** The machine reboots: called before v86 resets the CPU and runs the BIOS again. */
  machineReset(): void;
  /** The emulator panicked and was told to stop; called once. */
  emulatorPanicked(error: V86PanicError): void;
}

const MACHINES = new WeakMap<V86Main, V86Machine>();

export class V86Machine {
  readonly #main: V86Main;
  readonly #listeners: MachineListener[] = [];
  #panic: V86PanicError | undefined;

  /** The machine of the emulator whose run loop is `main`, made (and hooked) once. */
  static of(main: V86Main): V86Machine {
    let machine = MACHINES.get(main);
    if (machine === undefined) {
      machine = new V86Machine(main);
      MACHINES.set(main, machine);
    }
    return machine;
  }

  private constructor(main: V86Main) {
    this.#main = main;
    const cpu = main.cpu;
    const reboot = cpu.reboot_internal.bind(cpu);
    const tick = main.do_tick.bind(main);
    const hooked: { reboot_internal: V86Cpu['reboot_internal'] } = cpu;
    hooked.reboot_internal = () => {
      for (const listener of this.#listeners) listener.machineReset();
      reboot();
    };
    const loop: { do_tick: V86Main['do_tick'] } = main;
    loop.do_tick = () => {
      try {
        tick();
      } catch (error) {
        this.panicked(error);
      }
    };
  }

  /** Why the emulator stopped, if it panicked. */
  get panic(): V86PanicError | undefined {
    return this.#panic;
  }

  add(listener: MachineListener): void {
    this.#listeners.push(listener);
  }

  /**
   * The emulator threw `cause` — in a slice of its run, or in a call a function made into it (an
   * interrupt raised into a guest whose interrupt tables are gone): it is stopped, and every
   * function told, once. A panicked emulator is not to be run again: its state is whatever the
   * panic left.
   */
  panicked(cause: unknown): void {
    const main = this.#main;
    if (main.running) {
      main.stop();
      // A slice that threw scheduled no next one: this one sees the stop and says so
      // ('emulator-stopped'), so that `V86.stop()` and `destroy()` resolve. A slice still
      // running schedules its own, and v86 runs the latest only.
      main.next_tick(0);
    }
    if (this.#panic !== undefined) return;
    const error = (this.#panic = new V86PanicError({ cause }));
    for (const listener of this.#listeners) listener.emulatorPanicked(error);
  }
}
