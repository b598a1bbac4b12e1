/**
 * The ACPI tables this VMM writes into guest memory, as Firecracker's `vmm/src/acpi/` does on
 * x86_64: an RSDP (at 0xe0000) pointing at an XSDT, which lists a FADT and a MADT; the FADT
 * points at a DSDT that describes one `LNRO0005` (virtio-mmio) device per window — its memory
 * range and its interrupt — which is how Linux's virtio_mmio module finds devices on x86 when
 * the kernel lacks CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (Debian's does).
 *
 * The FADT declares hardware-reduced ACPI (no PM timer, no SCI, no legacy PIC expected) with
 * power and sleep buttons absent, and no VGA. The MADT has the IOAPIC and one local APIC.
 */
import * as aml from './aml.js';

/** The OEM id and table id of every table ("VMMMET" and "VMMM" + the table's own four letters). */
const OEM_ID = 'VMMMET';
const OEM_REVISION = 1;
const CREATOR_ID = 'VMMM';
const CREATOR_REVISION = 1;
const HEADER_SIZE = 36;

/** A virtio-mmio window the DSDT declares. */
export interface MmioDeviceDescription {
  readonly address: number;
  readonly length: number;
  readonly gsi: number;
}

export interface AcpiInput {
  readonly devices: readonly MmioDeviceDescription[];
  readonly vcpus: number;
  readonly ioapicAddress: number;
  readonly apicAddress: number;
  /** Where the DSDT, FADT, MADT and XSDT go, one after the other. */
  readonly tablesAddress: number;
  readonly tablesLimit: number;
  readonly rsdpAddress: number;
}

/** Address → bytes, for guest memory. */
export interface AcpiBlob {
  readonly address: number;
  readonly bytes: Uint8Array;
}

function ascii(view: DataView, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) view.setUint8(at + i, text.charCodeAt(i));
}

/** Sets `bytes[at]` so that `bytes[0 … length)` sums to 0 mod 256. */
function checksum(bytes: Uint8Array, at: number, length = bytes.length): void {
  bytes[at] = 0;
  let sum = 0;
  for (let i = 0; i < length; i++) sum += bytes[i] as number;
  bytes[at] = (256 - (sum & 0xff)) & 0xff;
}

/** A system description table: the 36-byte header (5.2.6), then `body`, checksummed. */
export function sdt(signature: string, revision: number, body: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE + body.length);
  const view = new DataView(bytes.buffer);
  ascii(view, 0, signature);
  view.setUint32(4, bytes.length, true);
  view.setUint8(8, revision);
  ascii(view, 10, OEM_ID);
  ascii(view, 16, `VMMM${signature}`);
  view.setUint32(24, OEM_REVISION, true);
  ascii(view, 28, CREATOR_ID);
  view.setUint32(32, CREATOR_REVISION, true);
  bytes.set(body, HEADER_SIZE);
  checksum(bytes, 9);
  return bytes;
}

/** The DSDT's AML: `\_SB_.V000`, `V001`, … one per virtio-mmio window. */
export function dsdtAml(devices: readonly MmioDeviceDescription[]): Uint8Array {
  const parts = devices.map((dev, i) =>
    aml.device(`\\_SB_.V${i.toString().padStart(3, '0')}`, [
      aml.name('_HID', aml.string('LNRO0005')),
      aml.name('_UID', aml.integer(i)),
      // _CCA 1: DMA is cache-coherent (the device reads guest memory directly).
      aml.name('_CCA', aml.integer(1)),
      aml.name('_CRS', aml.resourceTemplate([aml.memory32Fixed(dev.address, dev.length), aml.edgeInterrupt(dev.gsi)])),
    ]),
  );
  return aml.concat(parts);
}

/** FADT, revision 6.5 (5.2.9): 276 bytes. */
export function fadt(dsdtAddress: number): Uint8Array {
  const body = new Uint8Array(276 - HEADER_SIZE);
  const view = new DataView(body.buffer);
  const at = (offset: number): number => offset - HEADER_SIZE;
  // IAPC_BOOT_ARCH bit 2: VGA not present. (No bit 1: no 8042, so Linux does not probe one.)
  view.setUint16(at(109), 1 << 2, true);
  // Flags: PWR_BUTTON (4) and SLP_BUTTON (5) say "no such button"; HW_REDUCED_ACPI (20).
  view.setUint32(at(112), (1 << 4) | (1 << 5) | (1 << 20), true);
  view.setUint8(at(131), 5); // FADT minor version
  view.setBigUint64(at(140), BigInt(dsdtAddress), true); // X_DSDT
  ascii(view, at(268), 'VMMMETKV'); // hypervisor vendor identity
  return sdt('FACP', 6, body);
}

/** MADT (5.2.12): the local APIC's address, PCAT_COMPAT clear, the IOAPIC (GSI base 0) and one local APIC per vCPU. */
export function madt(vcpus: number, apicAddress: number, ioapicAddress: number): Uint8Array {
  const body = new Uint8Array(8 + 12 + 8 * vcpus);
  const view = new DataView(body.buffer);
  view.setUint32(0, apicAddress, true);
  view.setUint32(4, 0, true);
  // I/O APIC structure: type 1, length 12, id 0, reserved, address, GSI base.
  body.set([1, 12, 0, 0], 8);
  view.setUint32(12, ioapicAddress, true);
  view.setUint32(16, 0, true);
  for (let i = 0; i < vcpus; i++) {
    // Processor local APIC: type 0, length 8, processor uid, APIC id, flags (enabled).
    const at = 20 + i * 8;
    body.set([0, 8, i, i], at);
    view.setUint32(at + 4, 1, true);
  }
  return sdt('APIC', 6, body);
}

export function xsdt(entries: readonly number[]): Uint8Array {
  const body = new Uint8Array(entries.length * 8);
  const view = new DataView(body.buffer);
  entries.forEach((address, i) => {
    view.setBigUint64(i * 8, BigInt(address), true);
  });
  return sdt('XSDT', 1, body);
}

/** RSDP, ACPI 2.0+ (5.2.5.3): 36 bytes, two checksums. */
export function rsdp(xsdtAddress: number): Uint8Array {
  const bytes = new Uint8Array(36);
  const view = new DataView(bytes.buffer);
  ascii(view, 0, 'RSD PTR ');
  ascii(view, 9, OEM_ID);
  view.setUint8(15, 2); // revision: ACPI 2.0 or later
  view.setUint32(20, bytes.length, true);
  view.setBigUint64(24, BigInt(xsdtAddress), true);
  checksum(bytes, 8, 20);
  checksum(bytes, 32);
  return bytes;
}

/** Every table, placed: the DSDT, FADT, MADT and XSDT from `tablesAddress` on, the RSDP at its own address. */
export function acpiTables(input: AcpiInput): AcpiBlob[] {
  const blobs: AcpiBlob[] = [];
  let next = input.tablesAddress;
  const place = (bytes: Uint8Array): number => {
    // 8-byte aligned, as Firecracker's allocator places them.
    const address = Math.ceil(next / 8) * 8;
    if (address + bytes.length > input.tablesLimit) {
      throw new RangeError(`ACPI tables do not fit between 0x${input.tablesAddress.toString(16)} and 0x${input.tablesLimit.toString(16)}`);
    }
    blobs.push({ address, bytes });
    next = address + bytes.length;
    return address;
  };
  const dsdtAddress = place(sdt('DSDT', 6, dsdtAml(input.devices)));
  const fadtAddress = place(fadt(dsdtAddress));
  const madtAddress = place(madt(input.vcpus, input.apicAddress, input.ioapicAddress));
  const xsdtAddress = place(xsdt([fadtAddress, madtAddress]));
  blobs.push({ address: input.rsdpAddress, bytes: rsdp(xsdtAddress) });
  return blobs;
}
