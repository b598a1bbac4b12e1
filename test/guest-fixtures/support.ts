/** Readers for what the fixture builder writes, independent of it: a newc cpio reader and an ELF writer. */

/** One record of a newc archive, as the kernel's unpacker sees it. */
export interface CpioRecord {
  readonly name: string;
  readonly ino: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly mtime: number;
  readonly rdevMajor: number;
  readonly rdevMinor: number;
  readonly check: number;
  readonly data: Uint8Array;
  /** Where the record's header starts. */
  readonly offset: number;
}

/** The records of a newc archive up to and without its trailer; throws on anything malformed. */
export function readCpio(archive: Uint8Array): CpioRecord[] {
  const text = (start: number, length: number): string => Buffer.from(archive.subarray(start, start + length)).toString('latin1');
  const records: CpioRecord[] = [];
  let offset = 0;
  for (;;) {
    if (offset + 110 > archive.length) throw new Error(`header at ${offset} runs past the end`);
    if (text(offset, 6) !== '070701') throw new Error(`bad magic at ${offset}: ${text(offset, 6)}`);
    const field = (index: number): number => {
      const hex = text(offset + 6 + index * 8, 8);
      if (!/^[0-9a-f]{8}$/.test(hex)) throw new Error(`field ${index} at ${offset} is ${hex}`);
      return Number.parseInt(hex, 16);
    };
    const nameSize = field(11);
    const fileSize = field(6);
    const nameEnd = offset + 110 + nameSize;
    if (archive[nameEnd - 1] !== 0) throw new Error(`name at ${offset} is not NUL-terminated`);
    const name = Buffer.from(archive.subarray(offset + 110, nameEnd - 1)).toString('utf8');
    const dataStart = nameEnd + ((4 - (nameEnd % 4)) % 4);
    const dataEnd = dataStart + fileSize;
    if (dataEnd > archive.length) throw new Error(`${name}: data runs past the end`);
    if (name === 'TRAILER!!!') {
      const end = dataEnd + ((4 - (dataEnd % 4)) % 4);
      if (end !== archive.length) throw new Error(`${archive.length - end} bytes after the trailer`);
      return records;
    }
    records.push({
      name,
      ino: field(0),
      mode: field(1),
      uid: field(2),
      gid: field(3),
      nlink: field(4),
      mtime: field(5),
      rdevMajor: field(9),
      rdevMinor: field(10),
      check: field(12),
      data: archive.slice(dataStart, dataEnd),
      offset,
    });
    offset = dataEnd + ((4 - (dataEnd % 4)) % 4);
  }
}

/**
 * A minimal ELF relocatable file with a section name table and the given sections, as a kernel
 * module is laid out: header, section contents, section headers.
 */
export function elfWith(sections: readonly { name: string; data: Uint8Array }[], options: { is64: boolean; little: boolean }): Uint8Array {
  const { is64, little } = options;
  const headerSize = is64 ? 64 : 52;
  const entrySize = is64 ? 64 : 40;
  const all = [{ name: '', data: new Uint8Array(0) }, ...sections, { name: '.shstrtab', data: new Uint8Array(0) }];
  const nameOffsets: number[] = [];
  let names = '';
  for (const section of all) {
    nameOffsets.push(names.length);
    names += `${section.name}\0`;
  }
  const namesIndex = all.length - 1;
  all[namesIndex] = { name: '.shstrtab', data: new TextEncoder().encode(names) };
  const contentOffsets: number[] = [];
  let at = headerSize;
  for (const section of all) {
    contentOffsets.push(at);
    at += section.data.length;
  }
  const sectionsAt = at + ((8 - (at % 8)) % 8);
  const bytes = new Uint8Array(sectionsAt + entrySize * all.length);
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, little ? 1 : 2, 1]);
  view.setUint16(16, 1, little); // ET_REL
  const word = (offset: number, value: number): void => {
    if (is64) view.setBigUint64(offset, BigInt(value), little);
    else view.setUint32(offset, value, little);
  };
  word(is64 ? 0x28 : 0x20, sectionsAt);
  view.setUint16(is64 ? 0x3a : 0x2e, entrySize, little);
  view.setUint16(is64 ? 0x3c : 0x30, all.length, little);
  view.setUint16(is64 ? 0x3e : 0x32, namesIndex, little);
  all.forEach((section, index) => {
    bytes.set(section.data, contentOffsets[index] ?? 0);
    const entry = sectionsAt + index * entrySize;
    view.setUint32(entry, nameOffsets[index] ?? 0, little);
    view.setUint32(entry + 4, index === 0 ? 0 : 1, little);
    word(entry + (is64 ? 24 : 16), contentOffsets[index] ?? 0);
    word(entry + (is64 ? 32 : 20), section.data.length);
  });
  return bytes;
}
