/**
 * The guest's MMIO address space outside RAM: windows, each served by a device that reads and
 * writes at an offset (a virtio-mmio transport's own `read`/`write`). An access to no window
 * reads zeros and writes nothing, as an unclaimed bus cycle on a PC. The guest is untrusted, so
 * an access is never thrown out of: a device's error is the device's to handle.
 */
export interface MmioDevice {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

interface Window {
  readonly start: number;
  readonly length: number;
  readonly device: MmioDevice;
}

export class MmioBus {
  readonly #windows: Window[] = [];

  /** Claims `start … start + length − 1` for `device`; throws if it overlaps another window. */
  insert(start: number, length: number, device: MmioDevice): void {
    for (const window of this.#windows) {
      if (start < window.start + window.length && window.start < start + length) {
        throw new RangeError(`MMIO window 0x${start.toString(16)}+0x${length.toString(16)} overlaps the one at 0x${window.start.toString(16)}`);
      }
    }
    this.#windows.push({ start, length, device });
  }

  read(address: number, data: Uint8Array): void {
    const window = this.#find(address, data.length);
    if (window === undefined) data.fill(0);
    else window.device.read(address - window.start, data);
  }

  write(address: number, data: Uint8Array): void {
    const window = this.#find(address, data.length);
    if (window !== undefined) window.device.write(address - window.start, data);
  }

  #find(address: number, length: number): Window | undefined {
    for (const window of this.#windows) {
      if (address >= window.start && address + length <= window.start + window.length) return window;
    }
    return undefined;
  }
}
