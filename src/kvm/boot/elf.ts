/**
 * An uncompressed Linux kernel, `vmlinux` (an ELF64 executable), as Firecracker boots one on
 * x86_64: each PT_LOAD segment copied to its physical address, and the entry point (`e_entry`,
 * the physical address of `startup_64`) entered in long mode with the zero page in `rsi`.
 *
 * Why a VMM wants it: a bzImage begins by copying and decompressing itself, which is fast on
 * hardware virtualization but is the slowest part of a boot where the host runs the guest's
 * low-address code by emulation (as PVM, KVM without VT-x/SVM, does). `npm run guest:fetch`
 * extracts vmlinux from Debian's bzImage for this reason.
 */
import { GuestImageError } from '../errors.js';

const PT_LOAD = 1;

export interface ElfSegment {
  readonly physicalAddress: number;
  readonly bytes: Uint8Array;
  readonly memorySize: number;
}

export interface ElfKernel {
  readonly entry: number;
  readonly segments: readonly ElfSegment[];
  /** The end of the highest segment in memory. */
  readonly end: number;
}

/** Whether `image` starts with the ELF magic. */
export function isElf(image: Uint8Array): boolean {
  return image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c && image[3] === 0x46;
}

export function parseElfKernel(image: Uint8Array, what = 'the kernel image'): ElfKernel {
  const fail = (why: string): never => {
    throw new GuestImageError(`${what} is not an x86_64 vmlinux this VMM can boot: ${why}`);
  };
  if (!isElf(image) || image.length < 64) fail('no ELF header');
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image[4] !== 2 || image[5] !== 1) fail('not ELF64 little-endian');
  if (view.getUint16(18, true) !== 62) fail(`machine ${view.getUint16(18, true)}, not x86-64 (62)`);
  const u64 = (at: number): number => {
    const value = view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`a 64-bit field at 0x${at.toString(16)} is too large`);
    return Number(value);
  };
  const entry = u64(24);
  const phoff = u64(32);
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  if (phentsize < 56 || phoff + phnum * phentsize > image.length) fail('its program headers run past its end');
  const segments: ElfSegment[] = [];
  let end = 0;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (view.getUint32(at, true) !== PT_LOAD) continue;
    const offset = u64(at + 8);
    const physicalAddress = u64(at + 24);
    const fileSize = u64(at + 32);
    const memorySize = u64(at + 40);
    if (offset + fileSize > image.length) fail(`segment ${i} runs past the end of the file`);
    if (fileSize > memorySize) fail(`segment ${i} holds more in the file than in memory`);
    segments.push({ physicalAddress, bytes: image.subarray(offset, offset + fileSize), memorySize });
    end = Math.max(end, physicalAddress + memorySize);
  }
  if (segments.length === 0) fail('no PT_LOAD segment');
  return { entry, segments, end };
}
