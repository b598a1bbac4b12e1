/**
 * Kernel modules for the initramfs: which files, and in which order to load them.
 *
 * The order comes from each module's own `depends=` (its `.modinfo` section, which `modinfo`
 * prints), not from a list kept here: a later kernel that splits a module or adds a dependency
 * gets the right order, and a module the closure needs is taken along. A Debian kernel package
 * ships no modules.dep (depmod writes it when the package is installed, which never happens here),
 * so the ELF is read directly.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Thrown when a module cannot be read or its dependencies cannot be ordered. */
export class ModuleError extends Error {
  override readonly name = 'ModuleError';
}

/** The `.modinfo` strings of a module: each key with its values, in file order (`alias` and `parm` repeat). */
export type ModInfo = ReadonlyMap<string, readonly string[]>;

/**
 * Reads the `.modinfo` section of a kernel module (an ELF relocatable file, 32- or 64-bit, either
 * byte order). `what` names the module in errors.
 */
export function readModInfo(elf: Uint8Array, what: string): ModInfo {
  const fail = (why: string): never => {
    throw new ModuleError(`${what}: not a kernel module: ${why}`);
  };
  if (elf.length < 52 || elf[0] !== 0x7f || elf[1] !== 0x45 || elf[2] !== 0x4c || elf[3] !== 0x46) fail('no ELF header');
  const elfClass = elf[4];
  const byteOrder = elf[5];
  if (elfClass !== 1 && elfClass !== 2) fail(`ELF class ${String(elfClass)}`);
  if (byteOrder !== 1 && byteOrder !== 2) fail(`ELF data encoding ${String(byteOrder)}`);
  const is64 = elfClass === 2;
  const little = byteOrder === 1;
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const u16 = (at: number): number => (at + 2 <= elf.length ? view.getUint16(at, little) : fail('truncated'));
  const u32 = (at: number): number => (at + 4 <= elf.length ? view.getUint32(at, little) : fail('truncated'));
  const word = (at: number): number => {
    if (!is64) return u32(at);
    if (at + 8 > elf.length) return fail('truncated');
    const value = view.getBigUint64(at, little);
    return value <= BigInt(elf.length) ? Number(value) : fail('an offset past the end of the file');
  };

  const sectionsAt = word(is64 ? 0x28 : 0x20);
  const entrySize = u16(is64 ? 0x3a : 0x2e);
  const count = u16(is64 ? 0x3c : 0x30);
  const namesIndex = u16(is64 ? 0x3e : 0x32);
  if (entrySize < (is64 ? 64 : 40)) fail(`section header size ${entrySize}`);
  if (namesIndex >= count) fail('no section name table');
  const section = (index: number): { name: number; offset: number; size: number } => {
    const at = sectionsAt + index * entrySize;
    const offset = word(at + (is64 ? 24 : 16));
    const size = word(at + (is64 ? 32 : 20));
    if (offset + size > elf.length) fail(`section ${index} runs past the end of the file`);
    return { name: u32(at), offset, size };
  };
  const names = section(namesIndex);
  const nameOf = (at: number): string => {
    const start = names.offset + at;
    const end = elf.indexOf(0, start);
    if (at >= names.size || end < 0 || end >= names.offset + names.size) fail('a section name outside the name table');
    return Buffer.from(elf.subarray(start, end)).toString('latin1');
  };

  for (let index = 0; index < count; index++) {
    const { name, offset, size } = section(index);
    if (nameOf(name) !== '.modinfo') continue;
    const info = new Map<string, string[]>();
    // NUL-separated key=value strings, with NUL padding between some of them.
    for (const text of Buffer.from(elf.subarray(offset, offset + size)).toString('utf8').split('\0')) {
      const equals = text.indexOf('=');
      if (equals <= 0) continue;
      const key = text.slice(0, equals);
      const values = info.get(key) ?? [];
      values.push(text.slice(equals + 1));
      info.set(key, values);
    }
    return info;
  }
  return fail('no .modinfo section');
}

/** A module's `depends=`: the names of the modules it needs loaded first. */
export function dependsOf(info: ModInfo): string[] {
  return (info.get('depends') ?? [])
    .flatMap((value) => value.split(','))
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/** A module's name as the kernel knows it: its file name without extensions, '-' read as '_'. */
export function moduleName(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(gz|xz|zst))?$/, '').replaceAll('-', '_');
}

/**
 * The modules `wanted` and every module they depend on, each after its dependencies. `depends`
 * gives a module's direct dependencies (undefined for a module that does not exist). Among the
 * modules ready at a step, the one listed first in `wanted` goes first, then by name, so the order
 * is stable and reads as the caller listed it where the dependencies allow.
 */
export function loadOrder(wanted: readonly string[], depends: (name: string) => readonly string[] | undefined): string[] {
  const edges = new Map<string, readonly string[]>();
  const visit = (name: string, neededBy: string | undefined): void => {
    if (edges.has(name)) return;
    const deps = depends(name);
    if (deps === undefined) {
      throw new ModuleError(neededBy === undefined ? `module ${name} not found` : `module ${name} (needed by ${neededBy}) not found`);
    }
    edges.set(name, deps);
    for (const dep of deps) visit(dep, name);
  };
  for (const name of wanted) visit(name, undefined);

  const rank = (name: string): number => {
    const index = wanted.indexOf(name);
    return index < 0 ? wanted.length : index;
  };
  const order: string[] = [];
  const placed = new Set<string>();
  while (order.length < edges.size) {
    const ready = [...edges]
      .filter(([name, deps]) => !placed.has(name) && deps.every((dep) => placed.has(dep)))
      .map(([name]) => name)
      .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    const next = ready[0];
    if (next === undefined) {
      const stuck = [...edges.keys()].filter((name) => !placed.has(name)).sort();
      throw new ModuleError(`modules depend on each other in a cycle: ${stuck.join(', ')}`);
    }
    order.push(next);
    placed.add(next);
  }
  return order;
}

/** Every module file under `dir` (a kernel's lib/modules/<version>), by module name. */
export function indexModules(dir: string): Map<string, string> {
  const index = new Map<string, string>();
  for (const relative of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!/\.ko(\.(gz|xz|zst))?$/.test(relative)) continue;
    const name = moduleName(relative);
    const earlier = index.get(name);
    if (earlier !== undefined) throw new ModuleError(`module ${name} twice: ${earlier} and ${relative}`);
    index.set(name, join(dir, relative));
  }
  return index;
}

/**
 * The module's ELF bytes. Busybox's insmod takes only a plain .ko, so a compressed module (as
 * Debian's kernels from trixie on ship, .ko.xz) is decompressed here, by xz(1) or zstd(1).
 */
export function readModule(file: string): Uint8Array {
  const bytes = readFileSync(file);
  const tool = (command: string, pkg: string): Uint8Array => {
    try {
      return execFileSync(command, ['-dc'], { input: bytes, maxBuffer: 1 << 30 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new ModuleError(`${file}: ${command} is not installed (apt-get install ${pkg})`);
      throw new ModuleError(`${file}: ${command} -dc failed: ${String(error)}`);
    }
  };
  if (file.endsWith('.ko.gz')) return gunzipSync(bytes);
  if (file.endsWith('.ko.xz')) return tool('xz', 'xz-utils');
  if (file.endsWith('.ko.zst')) return tool('zstd', 'zstd');
  return bytes;
}
