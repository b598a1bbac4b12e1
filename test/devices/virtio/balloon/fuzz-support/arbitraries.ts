/**
 * Fuzz support: what an untrusted guest can put in front of the balloon — addresses inside,
 * straddling the end of, past the end of guest memory and near 2^64; lengths; descriptor flags
 * (NEXT loops, INDIRECT, WRITE); frame numbers inside and outside memory; statistics tags known
 * and unknown; hinting command ids; register offsets, widths and values.
 */
import fc from 'fast-check';
import { PAGE_SIZE } from '../../../../../src/vstate/memory.js';
import { REG } from '../../support/index.js';

export const U64_MAX = (1n << 64n) - 1n;

/** An address anywhere a guest may name: mostly inside `[lo, hi)`, else at or past the end, straddling it, or near 2^64. */
export function guestAddress(memorySize: number, lo = 0, hi = memorySize): fc.Arbitrary<bigint> {
  const size = BigInt(memorySize);
  return fc.oneof(
    { weight: 6, arbitrary: fc.bigInt({ min: BigInt(lo), max: BigInt(hi - 1) }) },
    { weight: 2, arbitrary: fc.bigInt({ min: size - 64n, max: size + 64n }) },
    { weight: 1, arbitrary: fc.constantFrom(size, size - 1n, size - 4n, size - BigInt(PAGE_SIZE), 1n << 32n, 1n << 63n, U64_MAX, U64_MAX - 3n, U64_MAX - BigInt(PAGE_SIZE) + 1n) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }) },
  );
}

/** A descriptor length: small, a page or two, a multiple of 4 (frame lists), or anything up to 2^32 − 1. */
export const descriptorLength: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 64 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 257 }).map((n) => 4 * n) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 2 * PAGE_SIZE + 8 }) },
  { weight: 1, arbitrary: fc.constantFrom(4, 10, 2560, 2561, 2570, 1024, 1028, PAGE_SIZE, 0x8000_0000, 0xffff_ffff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

/** Descriptor flags: the three defined bits in any combination, sometimes any 16 bits. */
export const descriptorFlags: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 7 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);

/** A descriptor index or ring entry: mostly inside a table of `size`, else any u16. */
export function tableIndex(size: number): fc.Arbitrary<number> {
  return fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: Math.max(0, size - 1) }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) });
}

/** A page frame number: inside `[firstPfn, memory pages)`, just past the end, or any u32. */
export function pageFrame(memorySize: number, firstPfn = 0): fc.Arbitrary<number> {
  const pages = memorySize / PAGE_SIZE;
  return fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: firstPfn, max: pages - 1 }) },
    { weight: 1, arbitrary: fc.integer({ min: pages - 2, max: pages + 2 }) },
    { weight: 1, arbitrary: fc.constantFrom(0xffff_ffff, 0x000f_ffff, 0x0010_0000, 2 ** 31) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
  );
}

/** One statistics entry: a known tag (0–15) mostly, an unknown one sometimes, any u64 value. */
export const statEntry: fc.Arbitrary<{ tag: number; value: bigint }> = fc.record({
  tag: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 15 }) }, { weight: 1, arbitrary: fc.integer({ min: 16, max: 0xffff }) }),
  value: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 40n }), fc.bigInt({ min: 0n, max: U64_MAX })),
});

/** A hinting command id: STOP 0, DONE 1, the first run ids, or anything. */
export const hintCommand: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 5 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

/** Frame numbers as the inflate queue carries them (u32 little-endian). */
export function encodePfns(pfns: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(4 * pfns.length);
  const view = new DataView(bytes.buffer);
  pfns.forEach((pfn, i) => {
    view.setUint32(4 * i, pfn, true);
  });
  return bytes;
}

/** Statistics entries as the stats queue carries them: packed `{tag u16, val u64}`, 10 bytes each. */
export function encodeStats(entries: readonly { tag: number; value: bigint }[]): Uint8Array {
  const bytes = new Uint8Array(10 * entries.length);
  const view = new DataView(bytes.buffer);
  entries.forEach(({ tag, value }, i) => {
    view.setUint16(10 * i, tag, true);
    view.setBigUint64(10 * i + 2, value, true);
  });
  return bytes;
}

export function encodeU32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

/** Every register offset of the block, for register garbage. */
export const REGISTER_OFFSETS: readonly number[] = Object.values(REG).filter((offset) => offset < REG.config);

/** A register offset: a register, a configuration byte, or anything (unaligned, out of the window, not an integer). */
export const registerOffset: fc.Arbitrary<number> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...REGISTER_OFFSETS) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x1010 }) },
  { weight: 1, arbitrary: fc.constantFrom(-4, -1, 0.5, NaN, 2 ** 53, 0xffc, 0xfff, 0x1000) },
);

/** A register width: 4 mostly, else 0–9 bytes. */
export const accessWidth: fc.Arbitrary<number> = fc.oneof({ weight: 6, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 9 }) });

/** A register value: queue indices, status bits, sizes, addresses' halves, or any u32. */
export const registerValue: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 7 }) },
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 3, 11, 15, 0x40, 0x80, 0xff, 8, 16, 256, 512, 0x1000, 0x1_0000, 0xffff_ffff, 0x8000_0000) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

/** `width` little-endian bytes of `value` (a register write of any width). */
export function valueBytes(value: number, width: number): Uint8Array {
  const bytes = new Uint8Array(width);
  for (let i = 0; i < Math.min(width, 4); i++) bytes[i] = (value >>> (8 * i)) & 0xff;
  return bytes;
}
