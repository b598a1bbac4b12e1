/**
 * The initramfs archive: cpio in the "newc" format, the one the kernel unpacks
 * (Documentation/driver-api/early-userspace/buffer-format.rst). Written here rather than by
 * cpio(1), which Debian's base system does not ship, and because the archive needs device nodes
 * (/dev/console) that only root could create on disk for cpio(1) to copy.
 *
 * The output is a function of the entries alone (fixed inode numbers, owner root, mtime 0), so
 * the same packages give the same bytes.
 */

/** A file, a directory, a symbolic link or a character device node, by its path in the archive. */
export type CpioEntry =
  | { readonly kind: 'directory'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'file'; readonly path: string; readonly data: Uint8Array; readonly mode?: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | { readonly kind: 'chardev'; readonly path: string; readonly major: number; readonly minor: number; readonly mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const MAGIC = '070701';
const HEADER_BYTES = 110; // 6 bytes of magic and 13 fields of 8 hex digits
const TRAILER = 'TRAILER!!!';
const encoder = new TextEncoder();

/** Thrown for an entry the format cannot hold. */
export class CpioError extends Error {
  override readonly name = 'CpioError';
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

function padTo4(length: number): number {
  return (4 - (length % 4)) % 4;
}

function header(fields: {
  ino: number;
  mode: number;
  nlink: number;
  fileSize: number;
  rdevMajor: number;
  rdevMinor: number;
  nameSize: number;
}): string {
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  return (
    MAGIC +
    [fields.ino, fields.mode, 0, 0, fields.nlink, 0, fields.fileSize, 0, 0, fields.rdevMajor, fields.rdevMinor, fields.nameSize, 0]
      .map(hex8)
      .join('')
  );
}

function checkPath(path: string): void {
  // The kernel creates each name relative to the root it unpacks into; '..' or an empty name
  // would land somewhere else or nowhere.
  if (path === '' || path.startsWith('/') || path.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new CpioError(`cpio: bad path ${JSON.stringify(path)}: expected a relative path such as "bin/busybox"`);
  }
  if (path.includes('\0')) throw new CpioError(`cpio: bad path ${JSON.stringify(path)}: a NUL byte`);
}

function permissions(mode: number | undefined, fallback: number, path: string): number {
  const value = mode ?? fallback;
  if (!Number.isInteger(value) || value < 0 || value > 0o7777) {
    throw new CpioError(`cpio: bad mode ${String(value)} for ${path}: expected 0 to 0o7777`);
  }
  return value;
}

/** The archive of `entries`, in their order (a directory must come before what it holds), with its trailer. */
export function writeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const push = (chunk: Uint8Array): void => {
    chunks.push(chunk);
    total += chunk.length;
  };
  const pad = (length: number): void => {
    const bytes = padTo4(length);
    if (bytes > 0) push(new Uint8Array(bytes));
  };
  const record = (fields: Omit<Parameters<typeof header>[0], 'nameSize' | 'fileSize'>, name: string, data: Uint8Array): void => {
    const nameBytes = encoder.encode(`${name}\0`);
    if (data.length > 0xffffffff) throw new CpioError(`cpio: ${name} is ${data.length} bytes; newc holds at most 4 GiB - 1`);
    push(encoder.encode(header({ ...fields, fileSize: data.length, nameSize: nameBytes.length })));
    push(nameBytes);
    pad(HEADER_BYTES + nameBytes.length);
    push(data);
    pad(data.length);
  };

  const seen = new Set<string>();
  let ino = 1;
  for (const entry of entries) {
    checkPath(entry.path);
    if (seen.has(entry.path)) throw new CpioError(`cpio: ${entry.path} appears twice`);
    seen.add(entry.path);
    const base = { ino: ino++, rdevMajor: 0, rdevMinor: 0 };
    switch (entry.kind) {
      case 'directory':
        record({ ...base, mode: S_IFDIR | permissions(entry.mode, 0o755, entry.path), nlink: 2 }, entry.path, new Uint8Array(0));
        break;
      case 'file':
        record({ ...base, mode: S_IFREG | permissions(entry.mode, 0o644, entry.path), nlink: 1 }, entry.path, entry.data);
        break;
      case 'symlink':
        if (entry.target === '') throw new CpioError(`cpio: symlink ${entry.path} has an empty target`);
        record({ ...base, mode: S_IFLNK | 0o777, nlink: 1 }, entry.path, encoder.encode(entry.target));
        break;
      case 'chardev':
        for (const [what, value] of [['major', entry.major], ['minor', entry.minor]] as const) {
          if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
            throw new CpioError(`cpio: bad ${what} number ${String(value)} for ${entry.path}`);
          }
        }
        record(
          { ...base, mode: S_IFCHR | permissions(entry.mode, 0o600, entry.path), nlink: 1, rdevMajor: entry.major, rdevMinor: entry.minor },
          entry.path,
          new Uint8Array(0),
        );
        break;
    }
  }
  record({ ino: 0, mode: 0, nlink: 1, rdevMajor: 0, rdevMinor: 0 }, TRAILER, new Uint8Array(0));

  const archive = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    archive.set(chunk, offset);
    offset += chunk.length;
  }
  return archive;
}
