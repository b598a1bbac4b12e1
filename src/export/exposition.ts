/**
 * Prometheus's text exposition format (version 0.0.4), written with exact values.
 *
 * prom-client renders numbers only, so a counter past 2^53 would lose digits; `vmm-metrics serve`
 * holds its totals as integers (a `bigint` when they outgrow a double) and writes them here as
 * exact decimals, seconds included (`1250000` µs → `1.25`).
 */

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** `# HELP` and `# TYPE` of a family. */
export function familyHeader(name: string, type: 'counter' | 'gauge', help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/** `{a="x",b="y"}` for the given pairs, or `''` for none; values escaped. */
export function labelSet(labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return '';
  return `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

/** `value / 10^scale` as an exact decimal: `decimal(1250000n, 6)` is `1.25`. */
export function exactDecimal(value: number | bigint, scale: number): string {
  if (scale === 0) return typeof value === 'number' ? integerText(value) : value.toString();
  const digits = (typeof value === 'number' ? integerText(value) : value.toString()).padStart(scale + 1, '0');
  const fraction = digits.slice(-scale).replace(/0+$/, '');
  return `${digits.slice(0, -scale)}${fraction === '' ? '' : `.${fraction}`}`;
}

/** A sample value of any double: Prometheus spells the special ones `+Inf`, `-Inf`, `NaN`. */
export function floatText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function integerText(value: number): string {
  // Only whole numbers reach this: String() would write 1e21 for large doubles.
  return Number.isSafeInteger(value) ? String(value) : BigInt(value).toString();
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * An exposition written as UTF-8 bytes into one growing buffer.
 *
 * A scrape of a thousand VMs is a quarter of a million samples: built as strings, their pieces
 * cost more in garbage collection than in writing. Here the parts that repeat (a family's name,
 * a VM's and a device's labels) are encoded once by the caller and copied, and integers are
 * written digit by digit.
 */
export class ExpositionBuffer {
  #bytes: Buffer;
  #length = 0;

  constructor(initialBytes = 1 << 16) {
    this.#bytes = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.#length;
  }

  /** Any text (help texts, label values: UTF-8). */
  text(text: string): void {
    this.#reserve(text.length * 3);
    this.#length += this.#bytes.write(text, this.#length, 'utf8');
  }

  /** Bytes encoded beforehand (`Buffer.from(text)`). */
  bytes(bytes: Uint8Array): void {
    const n = bytes.length;
    this.#reserve(n);
    const out = this.#bytes;
    let at = this.#length;
    // A loop beats `set()` for the short pieces a sample is made of.
    if (n < 64) for (let i = 0; i < n; i++) out[at++] = bytes[i] as number;
    else {
      out.set(bytes, at);
      at += n;
    }
    this.#length = at;
  }

  /** One ASCII byte. */
  byte(code: number): void {
    this.#reserve(1);
    this.#bytes[this.#length++] = code;
  }

  /** A value as `exactDecimal(value, scale)` writes it. */
  value(value: number | bigint, scale: number): void {
    if (scale !== 0 || typeof value === 'bigint' || !Number.isSafeInteger(value) || value < 0) {
      this.text(exactDecimal(value, scale));
      return;
    }
    this.#reserve(16);
    const out = this.#bytes;
    if (value === 0) {
      out[this.#length++] = 0x30;
      return;
    }
    let digits = 0;
    for (let v = value; v > 0; v = Math.floor(v / 10)) digits++;
    let at = this.#length + digits;
    this.#length = at;
    for (let v = value; v > 0; v = Math.floor(v / 10)) out[--at] = 0x30 + (v % 10);
  }

  /** The bytes written, as a view of the buffer (valid until the next write). */
  view(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#bytes.length * 2, this.#length + n));
    this.#bytes.copy(grown, 0, 0, this.#length);
    this.#bytes = grown;
  }
}
