/**
 * The CPU state a 64-bit Linux boot begins in (boot.rst, "64-bit Boot Protocol"): long mode
 * with paging on, an identity map covering the kernel, zero page and command line, a GDT whose
 * code and data segments are flat, interrupts off, `rsi` at the zero page. As Firecracker sets it
 * (`arch/x86_64/{gdt,regs}.rs`): a 4-entry GDT (null, code, data, TSS) and a null IDT. The
 * identity map covers 4 GiB in 2 MiB pages where Firecracker's covers 1 GiB: the MMIO windows at
 * 3 GiB are then reachable by code that has not set up paging of its own (the tests' tiny
 * guests); Linux replaces these tables before it touches a device.
 */
import { REGS, SEGMENT, SIZE, SREGS, X86 } from '../sys/abi.js';
import { BOOT_STACK_POINTER, GDT_ADDRESS, IDT_ADDRESS, PD_ADDRESS, PDPT_ADDRESS, PML4_ADDRESS, ZERO_PAGE_ADDRESS } from './layout.js';

/** GDT access/flag words (flags << 12 | access): 64-bit code, 32-bit-flat data, busy 64-bit TSS. */
const GDT_CODE = 0xa09b;
const GDT_DATA = 0xc093;
const GDT_TSS = 0x808b;

/** GiB identity-mapped, one page directory each (at PD_ADDRESS, one page apart). */
export const IDENTITY_MAPPED_GIB = 4;

/** A GDT descriptor from its flags, base and 20-bit limit (Intel SDM vol. 3, 3.4.5). */
export function gdtEntry(flags: number, base: number, limit: number): bigint {
  const b = BigInt(base);
  const l = BigInt(limit);
  const f = BigInt(flags);
  return ((b & 0xff00_0000n) << 32n) | ((f & 0xf0ffn) << 40n) | ((l & 0xf_0000n) << 32n) | ((b & 0xff_ffffn) << 16n) | (l & 0xffffn);
}

interface Segment {
  base: number;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
}

/** The `kvm_segment` a descriptor at GDT index `index` loads. */
export function segmentOf(entry: bigint, index: number): Segment {
  const bits = (shift: bigint, mask: bigint): number => Number((entry >> shift) & mask);
  const g = bits(55n, 1n);
  const rawLimit = Number(((entry >> 32n) & 0xf_0000n) | (entry & 0xffffn));
  return {
    base: Number(((entry >> 32n) & 0xff00_0000n) | ((entry >> 16n) & 0xff_ffffn)),
    limit: g === 1 ? ((rawLimit << 12) | 0xfff) >>> 0 : rawLimit,
    selector: index * 8,
    type: bits(40n, 0xfn),
    s: bits(44n, 1n),
    dpl: bits(45n, 3n),
    present: bits(47n, 1n),
    avl: bits(52n, 1n),
    l: bits(53n, 1n),
    db: bits(54n, 1n),
    g,
  };
}

function writeSegment(view: DataView, at: number, segment: Segment): void {
  view.setBigUint64(at + SEGMENT.base, BigInt(segment.base), true);
  view.setUint32(at + SEGMENT.limit, segment.limit, true);
  view.setUint16(at + SEGMENT.selector, segment.selector, true);
  view.setUint8(at + SEGMENT.type, segment.type);
  view.setUint8(at + SEGMENT.present, segment.present);
  view.setUint8(at + SEGMENT.dpl, segment.dpl);
  view.setUint8(at + SEGMENT.db, segment.db);
  view.setUint8(at + SEGMENT.s, segment.s);
  view.setUint8(at + SEGMENT.l, segment.l);
  view.setUint8(at + SEGMENT.g, segment.g);
  view.setUint8(at + SEGMENT.avl, segment.avl);
  view.setUint8(at + SEGMENT.unusable, segment.present === 0 ? 1 : 0);
}

/** What goes into guest memory for long mode: address → bytes. */
export function longModeTables(): { address: number; bytes: Uint8Array }[] {
  const gdt = new DataView(new ArrayBuffer(4 * 8));
  [0n, gdtEntry(GDT_CODE, 0, 0xfffff), gdtEntry(GDT_DATA, 0, 0xfffff), gdtEntry(GDT_TSS, 0, 0xfffff)].forEach((entry, i) => {
    gdt.setBigUint64(i * 8, entry, true);
  });
  const pml4 = new DataView(new ArrayBuffer(8));
  pml4.setBigUint64(0, BigInt(PDPT_ADDRESS | 0x03), true); // present, writable
  const pdpt = new DataView(new ArrayBuffer(IDENTITY_MAPPED_GIB * 8));
  for (let i = 0; i < IDENTITY_MAPPED_GIB; i++) pdpt.setBigUint64(i * 8, BigInt((PD_ADDRESS + i * 0x1000) | 0x03), true);
  const pd = new DataView(new ArrayBuffer(IDENTITY_MAPPED_GIB * 512 * 8));
  // 2 MiB pages: present, writable, page size.
  for (let i = 0; i < IDENTITY_MAPPED_GIB * 512; i++) pd.setBigUint64(i * 8, (BigInt(i) << 21n) | 0x83n, true);
  return [
    { address: GDT_ADDRESS, bytes: new Uint8Array(gdt.buffer) },
    { address: IDT_ADDRESS, bytes: new Uint8Array(8) },
    { address: PML4_ADDRESS, bytes: new Uint8Array(pml4.buffer) },
    { address: PDPT_ADDRESS, bytes: new Uint8Array(pdpt.buffer) },
    { address: PD_ADDRESS, bytes: new Uint8Array(pd.buffer) },
  ];
}

/** `sregs` (from KVM_GET_SREGS) set for long mode with the tables of `longModeTables()`. */
export function longModeSregs(sregs: Uint8Array): Uint8Array {
  const out = sregs.slice();
  const view = new DataView(out.buffer);
  const code = segmentOf(gdtEntry(GDT_CODE, 0, 0xfffff), 1);
  const data = segmentOf(gdtEntry(GDT_DATA, 0, 0xfffff), 2);
  const tss = segmentOf(gdtEntry(GDT_TSS, 0, 0xfffff), 3);
  writeSegment(view, SREGS.cs, code);
  for (const at of [SREGS.ds, SREGS.es, SREGS.fs, SREGS.gs, SREGS.ss]) writeSegment(view, at, data);
  writeSegment(view, SREGS.tr, tss);
  view.setBigUint64(SREGS.gdt, BigInt(GDT_ADDRESS), true);
  view.setUint16(SREGS.gdt + 8, 4 * 8 - 1, true);
  view.setBigUint64(SREGS.idt, BigInt(IDT_ADDRESS), true);
  view.setUint16(SREGS.idt + 8, 8 - 1, true);
  view.setBigUint64(SREGS.cr0, view.getBigUint64(SREGS.cr0, true) | (X86.cr0Pe | X86.cr0Pg), true);
  view.setBigUint64(SREGS.cr3, BigInt(PML4_ADDRESS), true);
  view.setBigUint64(SREGS.cr4, view.getBigUint64(SREGS.cr4, true) | X86.cr4Pae, true);
  view.setBigUint64(SREGS.efer, view.getBigUint64(SREGS.efer, true) | (X86.eferLme | X86.eferLma), true);
  return out;
}

/** The general registers at the 64-bit entry `entry`. */
export function longModeRegs(entry: number): Uint8Array {
  const regs = new Uint8Array(SIZE.regs);
  const view = new DataView(regs.buffer);
  // Bit 1 of RFLAGS is reserved and always 1; interrupts off.
  view.setBigUint64(REGS.rflags, 2n, true);
  view.setBigUint64(REGS.rip, BigInt(entry), true);
  view.setBigUint64(REGS.rsp, BigInt(BOOT_STACK_POINTER), true);
  view.setBigUint64(REGS.rbp, BigInt(BOOT_STACK_POINTER), true);
  view.setBigUint64(REGS.rsi, BigInt(ZERO_PAGE_ADDRESS), true);
  return regs;
}
