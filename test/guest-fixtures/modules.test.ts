import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { dependsOf, indexModules, loadOrder, moduleName, ModuleError, readModInfo, readModule } from '../../scripts/guest-fixtures/modules.js';
import { elfWith } from './support.js';

const modinfo = (...strings: string[]): Uint8Array => new TextEncoder().encode(strings.map((s) => `${s}\0`).join('\0'));

/** `depends=` of Debian bookworm's 6.1.0 686 kernel, as `modinfo -F depends` prints them. */
const BOOKWORM_686: Record<string, readonly string[]> = {
  virtio: [],
  virtio_ring: [],
  virtio_pci_legacy_dev: [],
  virtio_pci_modern_dev: [],
  virtio_pci: ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio'],
  virtio_balloon: ['virtio', 'virtio_ring'],
};
const WANTED = ['virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_balloon'];

describe('readModInfo', () => {
  for (const is64 of [false, true]) {
    for (const little of [true, false]) {
      test(`reads .modinfo of a ${is64 ? 64 : 32}-bit ${little ? 'little' : 'big'}-endian module`, () => {
        const elf = elfWith(
          [
            { name: '.text', data: new Uint8Array([0x90, 0xc3]) },
            { name: '.modinfo', data: modinfo('license=GPL', 'alias=virtio:d00000005v*', 'alias=pci:v1AF4*', 'depends=virtio,virtio_ring', 'name=virtio_balloon') },
          ],
          { is64, little },
        );
        const info = readModInfo(elf, 'virtio_balloon');
        assert.deepEqual(info.get('alias'), ['virtio:d00000005v*', 'pci:v1AF4*']);
        assert.deepEqual(info.get('name'), ['virtio_balloon']);
        assert.deepEqual(dependsOf(info), ['virtio', 'virtio_ring']);
      });
    }
  }

  test('an empty depends= is no dependency', () => {
    const elf = elfWith([{ name: '.modinfo', data: modinfo('depends=', 'name=virtio') }], { is64: false, little: true });
    assert.deepEqual(dependsOf(readModInfo(elf, 'virtio')), []);
  });

  test('a file that is not a module says so, naming it', () => {
    assert.throws(() => readModInfo(new TextEncoder().encode('#!/bin/sh\n'.repeat(10)), 'x.ko'), {
      name: 'ModuleError',
      message: 'x.ko: not a kernel module: no ELF header',
    });
    const noModinfo = elfWith([{ name: '.text', data: new Uint8Array(4) }], { is64: true, little: true });
    assert.throws(() => readModInfo(noModinfo, 'y.ko'), { message: 'y.ko: not a kernel module: no .modinfo section' });
    const good = elfWith([{ name: '.modinfo', data: modinfo('depends=') }], { is64: false, little: true });
    assert.throws(() => readModInfo(good.subarray(0, good.length - 30), 'z.ko'), /z\.ko: not a kernel module: truncated/);
  });

  test('property: damaged bytes give a module or a ModuleError, never another exception', () => {
    const base = elfWith([{ name: '.modinfo', data: modinfo('depends=virtio', 'name=x') }], { is64: false, little: true });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { maxLength: 8 }), fc.nat(base.length), (edits, cut) => {
        const bytes = base.slice(0, Math.max(cut, 52));
        for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
        try {
          readModInfo(bytes, 'x');
        } catch (error) {
          assert.ok(error instanceof ModuleError, String(error));
        }
      }),
    );
  });
});

describe('loadOrder', () => {
  test("bookworm's virtio modules load in the order the issue lists", () => {
    assert.deepEqual(
      loadOrder(WANTED, (name) => BOOKWORM_686[name]),
      ['virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_balloon'],
    );
  });

  test('a dependency nobody listed is taken along, before its user', () => {
    const graph: Record<string, readonly string[]> = { ...BOOKWORM_686, virtio_balloon: ['virtio', 'virtio_ring', 'virtio_anchor'], virtio_anchor: [] };
    const order = loadOrder(WANTED, (name) => graph[name]);
    assert.ok(order.includes('virtio_anchor'));
    assert.ok(order.indexOf('virtio_anchor') < order.indexOf('virtio_balloon'));
  });

  test('a missing module and a cycle are named', () => {
    assert.throws(() => loadOrder(['a'], (name) => ({ a: ['b'] })[name]), { name: 'ModuleError', message: 'module b (needed by a) not found' });
    assert.throws(() => loadOrder(['z'], () => undefined), { message: 'module z not found' });
    assert.throws(() => loadOrder(['a'], (name) => ({ a: ['b'], b: ['c'], c: ['b'] })[name]), {
      message: 'modules depend on each other in a cycle: a, b, c',
    });
  });

  test('property: every module comes after its dependencies, and only the closure of the wanted ones is loaded', () => {
    // A DAG: module i may depend only on modules with a lower index.
    const dag = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.tuple(
        fc.tuple(...Array.from({ length: n }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => `m${j}`)))),
        fc.subarray(Array.from({ length: n }, (_, i) => `m${i}`), { minLength: 1 }),
      ),
    );
    fc.assert(
      fc.property(dag, ([deps, wanted]) => {
        const graph = new Map(deps.map((list, i) => [`m${i}`, list]));
        const order = loadOrder(wanted, (name) => graph.get(name));
        assert.equal(new Set(order).size, order.length);
        for (const [index, name] of order.entries()) {
          for (const dep of graph.get(name) ?? []) assert.ok(order.indexOf(dep) >= 0 && order.indexOf(dep) < index, `${dep} before ${name}`);
        }
        const closure = new Set<string>();
        const add = (name: string): void => {
          if (closure.has(name)) return;
          closure.add(name);
          for (const dep of graph.get(name) ?? []) add(dep);
        };
        wanted.forEach(add);
        assert.deepEqual(new Set(order), closure);
      }),
    );
  });
});

describe('module files', () => {
  test('names as the kernel knows them', () => {
    assert.equal(moduleName('kernel/drivers/virtio/virtio_pci.ko'), 'virtio_pci');
    assert.equal(moduleName('kernel/drivers/char/hw_random/virtio-rng.ko.xz'), 'virtio_rng');
    assert.equal(moduleName('virtio_balloon.ko.zst'), 'virtio_balloon');
  });

  test('indexModules finds plain and compressed modules; readModule gives the ELF back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'modules-'));
    try {
      const elf = elfWith([{ name: '.modinfo', data: modinfo('depends=virtio') }], { is64: false, little: true });
      mkdirSync(join(dir, 'kernel', 'drivers', 'virtio'), { recursive: true });
      writeFileSync(join(dir, 'kernel', 'drivers', 'virtio', 'virtio_pci.ko'), elf);
      writeFileSync(join(dir, 'kernel', 'drivers', 'virtio', 'virtio-balloon.ko.gz'), gzipSync(elf));
      writeFileSync(join(dir, 'modules.order'), 'kernel/drivers/virtio/virtio_pci.ko\n');
      const index = indexModules(dir);
      assert.deepEqual([...index.keys()].sort(), ['virtio_balloon', 'virtio_pci']);
      for (const file of index.values()) assert.deepEqual(dependsOf(readModInfo(readModule(file), file)), ['virtio']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
