/**
 * A Linux bzImage, read as the x86 boot protocol describes it (Documentation/arch/x86/boot.rst):
 * the real-mode setup sectors with their setup header at 0x1f1, then the protected-mode kernel,
 * which is loaded at 1 MiB and entered in 64-bit mode at its start + 0x200.
 */
import { GuestImageError } from '../errors.js';

/** The setup header's fields this VMM reads (offsets in the file, as in `struct setup_header`). */
const HDR = {
  setupSects: 0x1f1,
  jump: 0x200,
  header: 0x202,
  version: 0x206,
  loadflags: 0x211,
  initrdAddrMax: 0x22c,
  xloadflags: 0x236,
} as const;
const HDR_MAGIC = 0x5372_6448; // "HdrS"
/** Protocol 2.12 brought xloadflags, whose XLF_KERNEL_64 says the 64-bit entry exists. */
const MIN_PROTOCOL = 0x020c;
const LOADED_HIGH = 0x1;
const XLF_KERNEL_64 = 0x1;
/** Where the header starts, and hence where it goes in the zero page. */
export const SETUP_HEADER_OFFSET = HDR.setupSects;
/** The 64-bit entry point, from the start of the protected-mode kernel. */
export const ENTRY_64_OFFSET = 0x200;

export interface BzImage {
  /** The setup header's bytes, from 0x1f1 to its end (as long as the image says it is). */
  readonly setupHeader: Uint8Array;
  /** The protected-mode kernel, to load at 1 MiB. */
  readonly kernel: Uint8Array;
  /** The boot protocol version (0x020f is 2.15). */
  readonly protocol: number;
  /** The highest address the initramfs may end at, as the kernel says. */
  readonly initrdAddrMax: number;
}

/** Reads a bzImage; throws a GuestImageError naming what makes it unusable here. */
export function parseBzImage(image: Uint8Array, what = 'the kernel image'): BzImage {
  const fail = (why: string): never => {
    throw new GuestImageError(`${what} is not a bzImage this VMM can boot: ${why}`);
  };
  if (image.length < 0x400) fail(`${image.length} bytes is too short`);
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (view.getUint32(HDR.header, true) !== HDR_MAGIC) fail('no "HdrS" setup header at 0x202');
  const protocol = view.getUint16(HDR.version, true);
  if (protocol < MIN_PROTOCOL) fail(`boot protocol ${(protocol >> 8).toString()}.${(protocol & 0xff).toString()} is older than 2.12`);
  if ((view.getUint8(HDR.loadflags) & LOADED_HIGH) === 0) fail('it does not load at 1 MiB (LOADED_HIGH clear)');
  if ((view.getUint16(HDR.xloadflags, true) & XLF_KERNEL_64) === 0) fail('it has no 64-bit entry point (XLF_KERNEL_64 clear)');
  // setup_sects 0 means 4, for the oldest images (boot.rst).
  const setupSects = view.getUint8(HDR.setupSects) || 4;
  const kernelStart = (setupSects + 1) * 512;
  if (kernelStart >= image.length) fail(`its ${setupSects} setup sectors run past its end`);
  // The header's length: the byte at 0x201 is the offset of the jump's target from 0x202.
  const headerEnd = 0x202 + view.getUint8(HDR.jump + 1);
  return {
    setupHeader: image.subarray(HDR.setupSects, headerEnd),
    kernel: image.subarray(kernelStart),
    protocol,
    initrdAddrMax: view.getUint32(HDR.initrdAddrMax, true),
  };
}
