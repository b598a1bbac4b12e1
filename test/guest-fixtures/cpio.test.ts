import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CpioError, writeCpio, type CpioEntry } from '../../scripts/guest-fixtures/cpio.js';
import { readCpio } from './support.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('writeCpio', () => {
  test('a directory, a file, a link and a device node, in newc with owner root and mtime 0', () => {
    const archive = writeCpio([
      { kind: 'directory', path: 'bin' },
      { kind: 'file', path: 'bin/busybox', data: bytes('ELF!?'), mode: 0o755 },
      { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
      { kind: 'chardev', path: 'console', major: 5, minor: 1 },
    ]);
    const records = readCpio(archive);
    assert.deepEqual(
      records.map((r) => [r.name, r.mode.toString(8), r.nlink, Buffer.from(r.data).toString(), r.rdevMajor, r.rdevMinor]),
      [
        ['bin', '40755', 2, '', 0, 0],
        ['bin/busybox', '100755', 1, 'ELF!?', 0, 0],
        ['bin/sh', '120777', 1, 'busybox', 0, 0],
        ['console', '20600', 1, '', 5, 1],
      ],
    );
    for (const record of records) {
      assert.equal(record.uid, 0);
      assert.equal(record.gid, 0);
      assert.equal(record.mtime, 0);
      assert.equal(record.check, 0);
    }
    assert.deepEqual(records.map((r) => r.ino), [1, 2, 3, 4]);
  });

  test('the exact bytes of a one-file archive', () => {
    const text = Buffer.from(writeCpio([{ kind: 'file', path: 'init', data: bytes('#!'), mode: 0o755 }])).toString('latin1');
    const header = (fields: number[]): string => `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
    assert.equal(
      text,
      // 110-byte header + "init\0" = 115, padded to 116; 2 bytes of data padded to 4;
      // then the trailer's header + "TRAILER!!!\0" = 121, padded to 124.
      `${header([1, 0o100755, 0, 0, 1, 0, 2, 0, 0, 0, 0, 5, 0])}init\0\0#!\0\0` +
        `${header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0])}TRAILER!!!\0\0\0\0`,
    );
  });

  test('identical entries give identical bytes', () => {
    const entries: CpioEntry[] = [{ kind: 'directory', path: 'etc' }, { kind: 'file', path: 'etc/x', data: bytes('x') }];
    assert.deepEqual(writeCpio(entries), writeCpio(entries));
  });

  test('refuses paths the kernel would put elsewhere, twice the same path, and bad modes or device numbers', () => {
    for (const path of ['', '/init', 'a/../b', './init', 'a//b', 'a/', '..', 'a\0b']) {
      assert.throws(() => writeCpio([{ kind: 'directory', path }]), CpioError, JSON.stringify(path));
    }
    assert.throws(
      () => writeCpio([{ kind: 'directory', path: 'a' }, { kind: 'directory', path: 'a' }]),
      { name: 'CpioError', message: 'cpio: a appears twice' },
    );
    assert.throws(() => writeCpio([{ kind: 'file', path: 'a', data: new Uint8Array(0), mode: 0o10000 }]), /bad mode 4096 for a/);
    assert.throws(() => writeCpio([{ kind: 'chardev', path: 'c', major: -1, minor: 0 }]), /bad major number -1 for c/);
    assert.throws(() => writeCpio([{ kind: 'symlink', path: 's', target: '' }]), /symlink s has an empty target/);
  });

  test('property: whatever the entries, every record reads back as written, 4-byte aligned', () => {
    const segment = fc.stringMatching(/^[a-zA-Z0-9_.-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
    const entry = fc.oneof(
      fc.record({ kind: fc.constant('directory' as const), path: segment, mode: fc.integer({ min: 0, max: 0o7777 }) }),
      fc.record({ kind: fc.constant('file' as const), path: segment, data: fc.uint8Array({ maxLength: 64 }), mode: fc.integer({ min: 0, max: 0o7777 }) }),
      fc.record({ kind: fc.constant('symlink' as const), path: segment, target: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\0')) }),
      fc.record({ kind: fc.constant('chardev' as const), path: segment, major: fc.nat(4095), minor: fc.nat(1 << 20), mode: fc.integer({ min: 0, max: 0o7777 }) }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.array(segment, { minLength: 0, maxLength: 2 }), entry), { selector: ([dirs, e]) => [...dirs, e.path].join('/'), maxLength: 12 }), (pairs) => {
        const entries = pairs.map(([dirs, e]): CpioEntry => ({ ...e, path: [...dirs, e.path].join('/') }));
        const archive = writeCpio(entries);
        assert.equal(archive.length % 4, 0);
        const records = readCpio(archive);
        assert.equal(records.length, entries.length);
        records.forEach((record, index) => {
          const written = entries[index];
          assert.ok(written !== undefined);
          assert.equal(record.offset % 4, 0);
          assert.equal(record.name, written.path);
          const type = { directory: 0o040000, file: 0o100000, symlink: 0o120000, chardev: 0o020000 }[written.kind];
          assert.equal(record.mode & 0o170000, type);
          if (written.kind === 'file') assert.deepEqual(record.data, written.data);
          if (written.kind === 'symlink') assert.equal(Buffer.from(record.data).toString('utf8'), written.target);
          if (written.kind === 'chardev') assert.deepEqual([record.rdevMajor, record.rdevMinor], [written.major, written.minor]);
          if (written.kind !== 'symlink') assert.equal(record.mode & 0o7777, written.mode);
        });
      }),
    );
  });
});
