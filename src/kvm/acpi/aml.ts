/**
 * The few AML encodings a DSDT of virtio-mmio devices needs (ACPI 6.5, chapter 20, "ACPI Machine
 * Language Specification"; Firecracker's `acpi-tables/src/aml.rs` builds the same terms): names,
 * integers, strings, devices, and resource templates holding a fixed memory range and an
 * extended interrupt.
 */

const ZERO_OP = 0x00;
const ONE_OP = 0x01;
const NAME_OP = 0x08;
const BYTE_PREFIX = 0x0a;
const WORD_PREFIX = 0x0b;
const DWORD_PREFIX = 0x0c;
const STRING_PREFIX = 0x0d;
const QWORD_PREFIX = 0x0e;
const BUFFER_OP = 0x11;
const DUAL_NAME_PREFIX = 0x2e;
const MULTI_NAME_PREFIX = 0x2f;
const ROOT_CHAR = 0x5c;
const EXT_OP_PREFIX = 0x5b;
const DEVICE_OP = 0x82;
/** Large resource items (ACPI 6.5, 6.4.3). */
const MEMORY32_FIXED = 0x86;
const EXTENDED_INTERRUPT = 0x89;
const END_TAG = 0x79;

/** Bytes of an AML term. */
export type Aml = Uint8Array;

/** The parts' bytes one after the other. */
export const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/** A NameString: `\`-rooted or relative, segments of exactly 4 characters of A–Z, 0–9, _. */
export function nameString(path: string): Aml {
  const rooted = path.startsWith('\\');
  const segments = (rooted ? path.slice(1) : path).split('.');
  for (const segment of segments) {
    if (!/^[A-Z_][A-Z0-9_]{3}$/.test(segment)) throw new RangeError(`AML name segment ${JSON.stringify(segment)} is not 4 characters of A-Z, 0-9, _`);
  }
  const bytes = new TextEncoder().encode(segments.join(''));
  const prefix = segments.length === 1 ? [] : segments.length === 2 ? [DUAL_NAME_PREFIX] : [MULTI_NAME_PREFIX, segments.length];
  return concat([new Uint8Array(rooted ? [ROOT_CHAR, ...prefix] : prefix), bytes]);
}

/** PkgLength (20.2.4) of a body of `length` bytes: the encoding counts its own bytes. */
export function pkgLength(length: number): Aml {
  if (length + 1 < 0x40) return new Uint8Array([length + 1]);
  for (let extra = 1; extra <= 3; extra++) {
    const total = length + 1 + extra;
    if (total < 1 << (4 + 8 * extra)) {
      const out = new Uint8Array(1 + extra);
      out[0] = (extra << 6) | (total & 0xf);
      for (let i = 1; i <= extra; i++) out[i] = (total >> (4 + 8 * (i - 1))) & 0xff;
      return out;
    }
  }
  throw new RangeError(`AML package of ${length} bytes is longer than PkgLength can say`);
}

/** An integer as the smallest ComputationalData that holds it. */
export function integer(value: number | bigint): Aml {
  const v = BigInt(value);
  if (v < 0n || v >= 1n << 64n) throw new RangeError(`AML integer ${v} is not an unsigned 64-bit value`);
  if (v === 0n) return new Uint8Array([ZERO_OP]);
  if (v === 1n) return new Uint8Array([ONE_OP]);
  const [prefix, size] = v <= 0xffn ? [BYTE_PREFIX, 1] : v <= 0xffffn ? [WORD_PREFIX, 2] : v <= 0xffff_ffffn ? [DWORD_PREFIX, 4] : [QWORD_PREFIX, 8];
  const out = new Uint8Array(1 + size);
  out[0] = prefix;
  for (let i = 0; i < size; i++) out[1 + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** A string constant (ASCII, NUL-terminated). */
export function string(value: string): Aml {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length !== value.length || bytes.includes(0)) throw new RangeError(`AML string ${JSON.stringify(value)} is not ASCII without NUL`);
  return concat([new Uint8Array([STRING_PREFIX]), bytes, new Uint8Array([0])]);
}

/** `Name (path, value)`. */
export function name(path: string, value: Aml): Aml {
  return concat([new Uint8Array([NAME_OP]), nameString(path), value]);
}

/** `Device (path) { … }`. */
export function device(path: string, body: readonly Aml[]): Aml {
  const inner = concat([nameString(path), ...body]);
  return concat([new Uint8Array([EXT_OP_PREFIX, DEVICE_OP]), pkgLength(inner.length), inner]);
}

/** `Buffer () { bytes }`. */
export function buffer(bytes: Uint8Array): Aml {
  const inner = concat([integer(bytes.length), bytes]);
  return concat([new Uint8Array([BUFFER_OP]), pkgLength(inner.length), inner]);
}

/** `ResourceTemplate () { … }`: the descriptors and an end tag (checksum 0: "treat as summing to zero"). */
export function resourceTemplate(descriptors: readonly Uint8Array[]): Aml {
  return buffer(concat([...descriptors, new Uint8Array([END_TAG, 0])]));
}

/** `Memory32Fixed (ReadWrite, base, length)` (6.4.3.4). */
export function memory32Fixed(base: number, length: number): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  out[0] = MEMORY32_FIXED;
  view.setUint16(1, 9, true);
  out[3] = 1; // read-write
  view.setUint32(4, base, true);
  view.setUint32(8, length, true);
  return out;
}

/** `Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }` (6.4.3.6). */
export function edgeInterrupt(gsi: number): Uint8Array {
  const out = new Uint8Array(9);
  const view = new DataView(out.buffer);
  out[0] = EXTENDED_INTERRUPT;
  view.setUint16(1, 6, true);
  // Bit 0: consumer; bit 1: edge-triggered; bit 2 (active low) and bit 3 (shared) clear.
  out[3] = 0b0011;
  out[4] = 1; // one interrupt
  view.setUint32(5, gsi, true);
  return out;
}
