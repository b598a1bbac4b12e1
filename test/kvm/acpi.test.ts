/**
 * The ACPI tables and their AML, checked against the specification's encodings (ACPI 6.5) with a
 * reader written here: checksums, lengths, the XSDT's and FADT's pointers, and a DSDT whose
 * devices decode to LNRO0005 with the memory range and interrupt given.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import * as aml from '../../src/kvm/acpi/aml.js';
import { acpiTables, dsdtAml, madt, rsdp, sdt } from '../../src/kvm/acpi/tables.js';

const sum = (bytes: Uint8Array): number => bytes.reduce((total, byte) => (total + byte) & 0xff, 0);

/** PkgLength decoding (ACPI 6.5, 20.2.4): the value and how many bytes it took. */
function readPkgLength(bytes: Uint8Array, at: number): { value: number; size: number } {
  const lead = bytes[at] as number;
  const extra = lead >> 6;
  if (extra === 0) return { value: lead & 0x3f, size: 1 };
  let value = lead & 0x0f;
  for (let i = 1; i <= extra; i++) value |= (bytes[at + i] as number) << (4 + 8 * (i - 1));
  return { value, size: 1 + extra };
}

describe('AML', () => {
  test('PkgLength encodes every length a package can have, counting its own bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: (1 << 28) - 5 }), (length) => {
        const encoded = aml.pkgLength(length);
        const { value, size } = readPkgLength(encoded, 0);
        assert.equal(size, encoded.length);
        assert.equal(value, length + encoded.length);
      }),
    );
  });

  test('integers take the smallest encoding', () => {
    assert.deepEqual([...aml.integer(0)], [0x00]);
    assert.deepEqual([...aml.integer(1)], [0x01]);
    assert.deepEqual([...aml.integer(5)], [0x0a, 5]);
    assert.deepEqual([...aml.integer(0x1234)], [0x0b, 0x34, 0x12]);
    assert.deepEqual([...aml.integer(0xc000_0000)], [0x0c, 0, 0, 0, 0xc0]);
    assert.deepEqual([...aml.integer(1n << 40n)], [0x0e, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert.throws(() => aml.integer(-1), RangeError);
  });

  test('names: one segment, a dual-name path, rooted; bad segments refused', () => {
    assert.deepEqual(Buffer.from(aml.nameString('_HID')).toString('latin1'), '_HID');
    assert.deepEqual([...aml.nameString('\\_SB_.V000')], [0x5c, 0x2e, ...Buffer.from('_SB_V000')]);
    assert.throws(() => aml.nameString('V0'), /not 4 characters/);
    assert.throws(() => aml.string('caf\u00e9'), /not ASCII/);
  });

  test("Memory32Fixed and the extended Interrupt descriptor (ACPI 6.5, 6.4.3.4 and 6.4.3.6)", () => {
    assert.deepEqual([...aml.memory32Fixed(0xc000_0000, 0x1000)], [0x86, 9, 0, 1, 0, 0, 0, 0xc0, 0, 0x10, 0, 0]);
    assert.deepEqual([...aml.edgeInterrupt(5)], [0x89, 6, 0, 0b0011, 1, 5, 0, 0, 0]);
  });
});

describe('the ACPI tables', () => {
  const devices = [
    { address: 0xc000_0000, length: 0x1000, gsi: 5 },
    { address: 0xc000_1000, length: 0x1000, gsi: 6 },
  ];
  const blobs = acpiTables({ devices, vcpus: 1, apicAddress: 0xfee0_0000, ioapicAddress: 0xfec0_0000, tablesAddress: 0x9fc00, tablesLimit: 0xe0000, rsdpAddress: 0xe0000 });
  const at = (address: number): Uint8Array => {
    const blob = blobs.find((candidate) => candidate.address === address);
    assert.ok(blob !== undefined, `a table at 0x${address.toString(16)}`);
    return blob.bytes;
  };
  const signature = (bytes: Uint8Array): string => Buffer.from(bytes.subarray(0, 4)).toString('latin1');
  const u64 = (bytes: Uint8Array, offset: number): number => Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true));

  test('RSDP → XSDT → FADT (→ DSDT) and MADT, every checksum zero and every length right', () => {
    const root = at(0xe0000);
    assert.equal(Buffer.from(root.subarray(0, 8)).toString('latin1'), 'RSD PTR ');
    assert.equal(sum(root.subarray(0, 20)), 0);
    assert.equal(sum(root), 0);
    assert.equal(root[15], 2);
    const xsdtTable = at(u64(root, 24));
    assert.equal(signature(xsdtTable), 'XSDT');
    const listed = [u64(xsdtTable, 36), u64(xsdtTable, 44)].map(at);
    assert.deepEqual(listed.map(signature), ['FACP', 'APIC']);
    const [fadtTable] = listed as [Uint8Array, Uint8Array];
    assert.equal(fadtTable.length, 276);
    const dsdtTable = at(u64(fadtTable, 140));
    assert.equal(signature(dsdtTable), 'DSDT');
    for (const table of [xsdtTable, ...listed, dsdtTable]) {
      assert.equal(sum(table), 0, signature(table));
      assert.equal(new DataView(table.buffer, table.byteOffset).getUint32(4, true), table.length, signature(table));
    }
    // Hardware-reduced ACPI (flag 20), no buttons (4, 5).
    assert.equal(new DataView(fadtTable.buffer, fadtTable.byteOffset).getUint32(112, true), (1 << 20) | (1 << 5) | (1 << 4));
    for (const blob of blobs) assert.ok(blob.address >= 0x9fc00 && blob.address + blob.bytes.length <= 0xe0000 + 36);
  });

  test('the DSDT has one LNRO0005 device per window, its _CRS the window and its GSI, edge-triggered', () => {
    const body = dsdtAml(devices);
    const text = Buffer.from(body).toString('latin1');
    assert.equal(text.split('LNRO0005').length - 1, 2);
    for (const [i, device] of devices.entries()) {
      const name = `_SB_V00${i}`;
      const start = text.indexOf(name);
      assert.ok(start > 0, name);
      // The name is rooted and dual: '\\' then DualNamePrefix before it.
      assert.deepEqual([...body.subarray(start - 2, start)], [0x5c, 0x2e]);
      const crs = body.indexOf(0x86, start);
      assert.deepEqual([...body.subarray(crs, crs + 12)], [...aml.memory32Fixed(device.address, device.length)]);
      assert.deepEqual([...body.subarray(crs + 12, crs + 21)], [...aml.edgeInterrupt(device.gsi)]);
      assert.deepEqual([...body.subarray(crs + 21, crs + 23)], [0x79, 0]);
    }
    assert.equal(body[0], 0x5b);
    assert.equal(body[1], 0x82);
    const { value } = readPkgLength(body, 2);
    assert.equal(text.indexOf('_SB_V001') > 2 + value - 1, true, 'the second device starts after the first package');
  });

  test('a MADT with the IOAPIC and one enabled local APIC per vCPU', () => {
    const table = madt(2, 0xfee0_0000, 0xfec0_0000);
    assert.equal(sum(table), 0);
    assert.deepEqual([...table.subarray(44, 56)], [1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0]);
    assert.deepEqual([...table.subarray(56, 64)], [0, 8, 0, 0, 1, 0, 0, 0]);
    assert.deepEqual([...table.subarray(64, 72)], [0, 8, 1, 1, 1, 0, 0, 0]);
  });

  test('a header of any table checksums to zero', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (body) => {
        assert.equal(sum(sdt('TEST', 1, body)), 0);
      }),
    );
    assert.equal(sum(rsdp(0x1234_5678)), 0);
  });

  test('tables that do not fit their area are refused', () => {
    assert.throws(
      () => acpiTables({ devices, vcpus: 1, apicAddress: 0, ioapicAddress: 0, tablesAddress: 0x1000, tablesLimit: 0x1100, rsdpAddress: 0xe0000 }),
      /do not fit between 0x1000 and 0x1100/,
    );
  });
});
