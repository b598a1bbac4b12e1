/**
 * The boot protocol's pieces, without KVM: the GDT entries and segments Firecracker's own tests
 * pin, the page tables, the zero page and e820 map, and the kernel image readers' refusals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseBzImage } from '../../src/kvm/boot/bzimage.js';
import { guestCpuid } from '../../src/kvm/boot/cpuid.js';
import { parseElfKernel } from '../../src/kvm/boot/elf.js';
import { gdtEntry, longModeRegs, longModeSregs, longModeTables, segmentOf } from '../../src/kvm/boot/long-mode.js';
import { bootParams, e820Map } from '../../src/kvm/boot/params.js';
import { GuestImageError } from '../../src/kvm/errors.js';
import { REGS, SIZE, SREGS } from '../../src/kvm/sys/abi.js';
import { tinyElf } from './support.js';

describe('long mode', () => {
  test("GDT entries as Firecracker's gdt.rs tests have them", () => {
    assert.equal(gdtEntry(0xa09b, 0, 0xfffff), 0x00af_9b00_0000_ffffn);
    assert.equal(gdtEntry(0xc093, 0, 0xfffff), 0x00cf_9300_0000_ffffn);
    assert.equal(gdtEntry(0x808b, 0, 0xfffff), 0x008f_8b00_0000_ffffn);
    const code = segmentOf(gdtEntry(0xa09b, 0, 0xfffff), 1);
    assert.deepEqual(code, { base: 0, limit: 0xffff_ffff, selector: 8, type: 0xb, s: 1, dpl: 0, present: 1, avl: 0, l: 1, db: 0, g: 1 });
    const data = segmentOf(gdtEntry(0xc093, 0x1234_5678, 0xabcde), 2);
    assert.equal(data.base, 0x1234_5678);
    assert.equal(data.limit, 0xabcd_efff);
    assert.equal(data.db, 1);
    assert.equal(data.l, 0);
  });

  test('page tables identity-map 4 GiB in 2 MiB pages, and the registers enter at the given address', () => {
    const tables = new Map(longModeTables().map(({ address, bytes }) => [address, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
    assert.equal(tables.get(0x9000)?.getBigUint64(0, true), 0xa003n);
    assert.equal(tables.get(0xa000)?.getBigUint64(3 * 8, true), 0xe003n);
    const pd = tables.get(0xb000);
    assert.equal(pd?.byteLength, 4 * 4096);
    assert.equal(pd.getBigUint64(0, true), 0x83n);
    assert.equal(pd.getBigUint64((0xc000_0000 / (2 << 20)) * 8, true), 0xc000_0083n);
    const regs = new DataView(longModeRegs(0x100_0000).buffer);
    assert.equal(regs.getBigUint64(REGS.rip, true), 0x100_0000n);
    assert.equal(regs.getBigUint64(REGS.rsi, true), 0x7000n);
    assert.equal(regs.getBigUint64(REGS.rflags, true), 2n);
    const sregs = new DataView(longModeSregs(new Uint8Array(SIZE.sregs)).buffer);
    assert.equal(sregs.getBigUint64(SREGS.cr0, true), 0x8000_0001n);
    assert.equal(sregs.getBigUint64(SREGS.cr3, true), 0x9000n);
    assert.equal(sregs.getBigUint64(SREGS.cr4, true), 0x20n);
    assert.equal(sregs.getBigUint64(SREGS.efer, true), 0x500n);
    assert.equal(sregs.getUint16(SREGS.cs + 12, true), 8);
  });
});

describe('the zero page', () => {
  test("Firecracker's e820 map: RAM below 0x9fc00, the ACPI area reserved, RAM from 1 MiB", () => {
    assert.deepEqual(e820Map(256 << 20), [
      { start: 0, size: 0x9fc00, type: 'ram' },
      { start: 0x9fc00, size: 0xe0000 - 0x9fc00, type: 'reserved' },
      { start: 0x10_0000, size: (256 << 20) - 0x10_0000, type: 'ram' },
    ]);
  });

  test('a vmlinux gets a zeroed header with the loader fields; a bzImage its own header', () => {
    const page = bootParams({ setupHeader: undefined, memoryBytes: 64 << 20, cmdlineAddress: 0x20000, cmdlineSize: 12, initrd: { address: 0x300_0000, size: 4096 } });
    const view = new DataView(page.buffer);
    assert.equal(Buffer.from(page.subarray(0x202, 0x206)).toString('latin1'), 'HdrS');
    assert.equal(view.getUint16(0x1fe, true), 0xaa55);
    assert.equal(page[0x210], 0xff);
    assert.equal(view.getUint32(0x228, true), 0x20000);
    assert.equal(view.getUint32(0x238, true), 12);
    assert.equal(view.getUint32(0x218, true), 0x300_0000);
    assert.equal(view.getUint32(0x21c, true), 4096);
    assert.equal(view.getUint32(0x230, true), 0x100_0000);
    assert.equal(view.getBigUint64(0x70, true), 0xe0000n);
    assert.equal(page[0x1e8], 3);
    assert.equal(view.getBigUint64(0x2d0 + 2 * 20 + 8, true), BigInt((64 << 20) - 0x10_0000));
    const header = new Uint8Array(0x202 + 0x6a - 0x1f1);
    header[0] = 27;
    const withHeader = bootParams({ setupHeader: header, memoryBytes: 64 << 20, cmdlineAddress: 0x20000, cmdlineSize: 0 });
    assert.equal(withHeader[0x1f1], 27);
  });
});

describe('kernel images', () => {
  test('a bzImage is read by its setup header; what cannot boot here is refused with the reason', () => {
    const image = new Uint8Array(0x2000);
    const view = new DataView(image.buffer);
    image[0x1f1] = 3;
    image[0x201] = 0x66;
    view.setUint32(0x202, 0x5372_6448, true);
    view.setUint16(0x206, 0x020f, true);
    image[0x211] = 1;
    view.setUint16(0x236, 1, true);
    view.setUint32(0x22c, 0x7fff_ffff, true);
    const parsed = parseBzImage(image);
    assert.equal(parsed.kernel.length, 0x2000 - 4 * 512);
    assert.equal(parsed.setupHeader.length, 0x202 + 0x66 - 0x1f1);
    assert.equal(parsed.initrdAddrMax, 0x7fff_ffff);
    view.setUint16(0x236, 0, true);
    assert.throws(() => parseBzImage(image), { name: 'GuestImageError', message: 'the kernel image is not a bzImage this VMM can boot: it has no 64-bit entry point (XLF_KERNEL_64 clear)' });
    view.setUint16(0x206, 0x0200, true);
    assert.throws(() => parseBzImage(image), /boot protocol 2\.0 is older than 2\.12/);
    assert.throws(() => parseBzImage(new Uint8Array(0x400)), /no "HdrS" setup header/);
  });

  test('a vmlinux: its PT_LOAD segments at their physical addresses, its entry point', () => {
    const elf = parseElfKernel(tinyElf([0xf4]));
    assert.equal(elf.entry, 0x100_0000);
    assert.deepEqual(
      elf.segments.map((segment) => [segment.physicalAddress, segment.bytes.length]),
      [[0x100_0000, 1]],
    );
    const truncated = tinyElf([0xf4]).subarray(0, 0x1000);
    assert.throws(() => parseElfKernel(truncated), (error: unknown) => error instanceof GuestImageError && /segment 0 runs past the end of the file/.test(error.message));
    const arm = tinyElf([0xf4]);
    arm[18] = 183;
    assert.throws(() => parseElfKernel(arm), /machine 183, not x86-64/);
  });
});

describe('CPUID', () => {
  test("the hypervisor bit, the vCPU's APIC id, one logical processor; other leaves as KVM gives them", () => {
    const supported = [
      { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 1, ecx: 2, edx: 3 },
      { function: 1, index: 0, flags: 0, eax: 0x806f8, ebx: 0x0210_0800, ecx: 0x7ed8_320b, edx: 0x178b_fbff },
    ];
    const [zero, one] = guestCpuid(supported, 0);
    assert.deepEqual(zero, supported[0]);
    assert.equal(((one?.ecx ?? 0) >>> 31) & 1, 1);
    assert.equal(((one?.edx ?? 0) >>> 28) & 1, 0);
    assert.equal((one?.ebx ?? 0) >>> 16, 0x0001);
    assert.equal((one?.ebx ?? 0) & 0xffff, 0x0800);
  });
});
