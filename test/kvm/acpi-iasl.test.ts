/**
 * The ACPI tables read by ACPICA's own disassembler (iasl, Debian's acpica-tools), where it is
 * installed: an independent reader of the AML and the table layouts. Skipped, saying so, where
 * it is not (acpi.test.ts checks the same bytes with a reader of its own).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { which } from '../../scripts/guest-fixtures/apt.js';
import { acpiTables } from '../../src/kvm/acpi/tables.js';

test('iasl disassembles the DSDT into one LNRO0005 device per window, and the FADT as hardware-reduced', (t) => {
  const iasl = which('iasl');
  if (iasl === undefined) {
    t.skip('iasl is not installed (apt-get install acpica-tools)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'acpi-'));
  try {
    const blobs = acpiTables({
      devices: [
        { address: 0xc000_0000, length: 0x1000, gsi: 5 },
        { address: 0xc000_1000, length: 0x1000, gsi: 6 },
      ],
      vcpus: 1,
      apicAddress: 0xfee0_0000,
      ioapicAddress: 0xfec0_0000,
      tablesAddress: 0x9fc00,
      tablesLimit: 0xe0000,
      rsdpAddress: 0xe0000,
    });
    const disassemble = (signature: string): string => {
      const blob = blobs.find((candidate) => Buffer.from(candidate.bytes.subarray(0, 4)).toString('latin1') === signature);
      assert.ok(blob !== undefined, signature);
      const file = join(dir, `${signature}.dat`);
      writeFileSync(file, blob.bytes);
      const result = spawnSync(iasl, ['-d', file], { cwd: dir, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stdout + result.stderr);
      return readFileSync(join(dir, `${signature}.dsl`), 'utf8');
    };
    const dsdt = disassemble('DSDT').replace(/\s+/g, ' ');
    for (const [i, base, gsi] of [
      [0, '0xC0000000', '0x00000005'],
      [1, '0xC0001000', '0x00000006'],
    ] as const) {
      assert.ok(
        dsdt.includes(
          `Device (\\_SB.V00${i}) { Name (_HID, "LNRO0005") // _HID: Hardware ID Name (_UID, ${i === 0 ? 'Zero' : 'One'}) // _UID: Unique ID Name (_CCA, One) // _CCA: Cache Coherency Attribute Name (_CRS, ResourceTemplate () // _CRS: Current Resource Settings { Memory32Fixed (ReadWrite, ${base}, // Address Base 0x00001000, // Address Length ) Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { ${gsi}, } }) }`,
        ),
        dsdt,
      );
    }
    const fadt = disassemble('FACP');
    assert.match(fadt, /Hardware Reduced \(V5\) : 1/);
    const madt = disassemble('APIC');
    assert.match(madt, /Subtable Type : 01 \[I\/O APIC\]/);
    assert.match(madt, /Processor Enabled : 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
