/**
 * A 16550A UART (the PC's COM1), enough for Linux's 8250 driver to find it, print its console
 * on it and drive it by interrupts: the registers of the National Semiconductor PC16550D data
 * sheet, the FIFO reported as present, loopback mode as the driver's probe tests it, and a
 * transmitter that is always empty (every byte leaves at once). Input is taken with `receive()`.
 *
 * Like every device here it knows nothing of KVM: it is given a function that raises its
 * interrupt line (an edge: the PC's ISA interrupts are edge-triggered) and one that takes its
 * output.
 */

const REG = { data: 0, ier: 1, iir: 2, lcr: 3, mcr: 4, lsr: 5, msr: 6, scr: 7 } as const;
const IER_RX = 0x1;
const IER_THRE = 0x2;
const IIR_NONE = 0x1;
const IIR_THRE = 0x2;
const IIR_RX = 0x4;
const IIR_FIFO = 0xc0;
const FCR_FIFO_ENABLE = 0x1;
const LCR_DLAB = 0x80;
const MCR_LOOP = 0x10;
const LSR_DATA_READY = 0x01;
/** Transmit holding register empty and transmitter empty. */
const LSR_IDLE = 0x60;
/** Not in loopback: clear to send, data set ready and carrier detect, as a connected line. */
const MSR_CONNECTED = 0xb0;
/** Bytes the receive FIFO holds before it drops more (the 16550's is 16; a console paste wants more). */
const RX_CAPACITY = 4096;

export interface SerialOptions {
  /** The UART's interrupt line gets an edge. */
  readonly interrupt: () => void;
  /** Bytes the guest transmitted. */
  readonly output: (byte: number) => void;
}

export class Serial {
  readonly #interrupt: () => void;
  readonly #output: (byte: number) => void;
  #ier = 0;
  #lcr = 0x03; // 8 data bits, as after the BIOS
  #mcr = 0x08; // OUT2
  #scr = 0;
  #dll = 0x0c; // 9600 baud
  #dlm = 0;
  #fifo = false;
  #threPending = false;
  readonly #rx: number[] = [];

  constructor(options: SerialOptions) {
    this.#interrupt = options.interrupt;
    this.#output = options.output;
  }

  /** The guest reads register `offset` (0–7). */
  read(offset: number): number {
    switch (offset) {
      case REG.data:
        if (this.#dlab) return this.#dll;
        return this.#rx.shift() ?? 0;
      case REG.ier:
        return this.#dlab ? this.#dlm : this.#ier;
      case REG.iir: {
        const fifo = this.#fifo ? IIR_FIFO : 0;
        if ((this.#ier & IER_RX) !== 0 && this.#rx.length > 0) return IIR_RX | fifo;
        if ((this.#ier & IER_THRE) !== 0 && this.#threPending) {
          // Reading IIR with THRE as its source clears it (PC16550D, table IV).
          this.#threPending = false;
          return IIR_THRE | fifo;
        }
        return IIR_NONE | fifo;
      }
      case REG.lcr:
        return this.#lcr;
      case REG.mcr:
        return this.#mcr;
      case REG.lsr:
        return LSR_IDLE | (this.#rx.length > 0 ? LSR_DATA_READY : 0);
      case REG.msr:
        if ((this.#mcr & MCR_LOOP) === 0) return MSR_CONNECTED;
        // Loopback: CTS ← RTS, DSR ← DTR, RI ← OUT1, DCD ← OUT2.
        return (((this.#mcr & 0x02) << 3) | ((this.#mcr & 0x01) << 5) | ((this.#mcr & 0x04) << 4) | ((this.#mcr & 0x08) << 4)) & 0xf0;
      case REG.scr:
        return this.#scr;
      default:
        return 0xff;
    }
  }

  /** The guest writes `value` to register `offset` (0–7). */
  write(offset: number, value: number): void {
    switch (offset) {
      case REG.data:
        if (this.#dlab) {
          this.#dll = value;
          return;
        }
        if ((this.#mcr & MCR_LOOP) !== 0) {
          this.receive([value]);
        } else {
          this.#output(value);
        }
        this.#transmitted();
        return;
      case REG.ier: {
        if (this.#dlab) {
          this.#dlm = value;
          return;
        }
        const enabledThre = (value & IER_THRE) !== 0 && (this.#ier & IER_THRE) === 0;
        this.#ier = value & 0x0f;
        // Enabling the THRE interrupt while the transmitter is empty raises it at once.
        if (enabledThre) this.#transmitted();
        return;
      }
      case REG.iir: // FCR when written
        this.#fifo = (value & FCR_FIFO_ENABLE) !== 0;
        if ((value & 0x02) !== 0) this.#rx.length = 0;
        return;
      case REG.lcr:
        this.#lcr = value;
        return;
      case REG.mcr:
        this.#mcr = value & 0x1f;
        return;
      case REG.scr:
        this.#scr = value;
        return;
      default:
        return;
    }
  }

  /** Bytes arriving on the line, for the guest to read; beyond the FIFO's room they are dropped. */
  receive(bytes: Iterable<number>): void {
    let any = false;
    for (const byte of bytes) {
      if (this.#rx.length >= RX_CAPACITY) break;
      this.#rx.push(byte & 0xff);
      any = true;
    }
    if (any && (this.#ier & IER_RX) !== 0) this.#interrupt();
  }

  get #dlab(): boolean {
    return (this.#lcr & LCR_DLAB) !== 0;
  }

  #transmitted(): void {
    this.#threPending = true;
    if ((this.#ier & IER_THRE) !== 0) this.#interrupt();
  }
}
