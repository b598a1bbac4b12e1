/**
 * The zero page (`struct boot_params`, arch/x86/include/uapi/asm/bootparam.h) a 64-bit Linux
 * boot starts from: the image's own setup header with the loader's fields filled in, the e820
 * memory map and the RSDP's address.
 *
 * The e820 map is Firecracker's: RAM below 0x9fc00, the ACPI tables' area reserved up to the
 * RSDP at 0xe0000, nothing more below 1 MiB, and RAM from 1 MiB to the end of guest memory.
 */
import { GuestImageError } from '../errors.js';
import { SETUP_HEADER_OFFSET } from './bzimage.js';
import { ACPI_TABLES_START, HIMEM_START, RSDP_ADDRESS } from './layout.js';

/** `struct boot_params` offsets. */
const BP = {
  acpiRsdpAddr: 0x070,
  e820Entries: 0x1e8,
  vidMode: 0x1fa,
  bootFlag: 0x1fe,
  typeOfLoader: 0x210,
  loadflags: 0x211,
  ramdiskImage: 0x218,
  ramdiskSize: 0x21c,
  heapEndPtr: 0x224,
  cmdLinePtr: 0x228,
  cmdlineSize: 0x238,
  header: 0x202,
  kernelAlignment: 0x230,
  e820Table: 0x2d0,
} as const;
export const ZERO_PAGE_SIZE = 4096;
const E820_ENTRY_SIZE = 20;
const HDR_MAGIC = 0x5372_6448; // "HdrS"
/** Firecracker's `KERNEL_MIN_ALIGNMENT_BYTES` for a vmlinux's zeroed header (16 MiB). */
const KERNEL_MIN_ALIGNMENT = 0x0100_0000;
const E820_RAM = 1;
const E820_RESERVED = 2;
/** 0xff: a loader without an id of its own (boot.rst, type_of_loader). */
const LOADER_OTHER = 0xff;
const CAN_USE_HEAP = 0x80;
/** "normal" VGA mode: there is no VGA, and the kernel is told not to ask. */
const VID_MODE_NORMAL = 0xffff;

export interface BootParamsInput {
  /** The bzImage's setup header; none for a vmlinux, which gets a zeroed one with the fields below. */
  readonly setupHeader: Uint8Array | undefined;
  readonly memoryBytes: number;
  readonly cmdlineAddress: number;
  /** The command line's length in bytes, without its NUL. */
  readonly cmdlineSize: number;
  readonly initrd?: { readonly address: number; readonly size: number } | undefined;
}

/** One e820 entry: [start, start + size) of a type. */
export interface E820Entry {
  readonly start: number;
  readonly size: number;
  readonly type: 'ram' | 'reserved';
}

export function e820Map(memoryBytes: number): E820Entry[] {
  return [
    { start: 0, size: ACPI_TABLES_START, type: 'ram' },
    { start: ACPI_TABLES_START, size: RSDP_ADDRESS - ACPI_TABLES_START, type: 'reserved' },
    { start: HIMEM_START, size: memoryBytes - HIMEM_START, type: 'ram' },
  ];
}

export function bootParams(input: BootParamsInput): Uint8Array {
  const page = new Uint8Array(ZERO_PAGE_SIZE);
  const view = new DataView(page.buffer);
  const header = input.setupHeader ?? new Uint8Array(0);
  if (SETUP_HEADER_OFFSET + header.length > BP.e820Table) {
    throw new GuestImageError(`the setup header is ${header.length} bytes, more than the zero page has room for`);
  }
  page.set(header, SETUP_HEADER_OFFSET);
  if (input.setupHeader === undefined) {
    view.setUint32(BP.header, HDR_MAGIC, true);
    view.setUint32(BP.kernelAlignment, KERNEL_MIN_ALIGNMENT, true);
  }
  view.setUint16(BP.vidMode, VID_MODE_NORMAL, true);
  view.setUint16(BP.bootFlag, 0xaa55, true);
  view.setUint8(BP.typeOfLoader, LOADER_OTHER);
  view.setUint8(BP.loadflags, view.getUint8(BP.loadflags) | CAN_USE_HEAP);
  // boot.rst: heap_end_ptr is the end of the setup heap minus 0x200, from the real-mode segment.
  view.setUint16(BP.heapEndPtr, 0xfe00, true);
  view.setUint32(BP.cmdLinePtr, input.cmdlineAddress, true);
  view.setUint32(BP.cmdlineSize, input.cmdlineSize, true);
  if (input.initrd !== undefined) {
    view.setUint32(BP.ramdiskImage, input.initrd.address, true);
    view.setUint32(BP.ramdiskSize, input.initrd.size, true);
  }
  view.setBigUint64(BP.acpiRsdpAddr, BigInt(RSDP_ADDRESS), true);
  const map = e820Map(input.memoryBytes);
  view.setUint8(BP.e820Entries, map.length);
  map.forEach((entry, i) => {
    const at = BP.e820Table + i * E820_ENTRY_SIZE;
    view.setBigUint64(at, BigInt(entry.start), true);
    view.setBigUint64(at + 8, BigInt(entry.size), true);
    view.setUint32(at + 16, entry.type === 'ram' ? E820_RAM : E820_RESERVED, true);
  });
  return page;
}
