import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aptSpec, kernelPackageOf, packageInfoOf, parseRelations, parseStanzas } from '../../scripts/guest-fixtures/apt.js';

/** `apt-cache show --no-all-versions linux-image-686:i386` on bookworm, trimmed. */
const METAPACKAGE = `Package: linux-image-686
Source: linux-signed-i386 (6.1.176+1)
Version: 6.1.176-1
Installed-Size: 13
Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>
Architecture: i386
Provides: linux-latest-modules-6.1.0-50-686, wireguard-modules (= 1.0.0)
Depends: linux-image-6.1.0-50-686 (= 6.1.176-1)
Description: Linux for modern PCs (meta-package)
 This package depends on the latest Linux kernel and modules for use on
 PCs with one or more processors not supporting PAE.
Section: kernel
Filename: pool/main/l/linux-signed-i386/linux-image-686_6.1.176-1_i386.deb
Size: 1480
SHA256: 3b9c8c3de7e4c2b3a0a0e0b5e3b0c1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8

`;

const BUSYBOX = `Package: busybox-static
Source: busybox (1:1.35.0-4+deb12u1)
Version: 1:1.35.0-4+deb12u1+b1
Architecture: i386
Replaces: busybox
Filename: pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_i386.deb
Size: 958344
SHA256: 725ef9e6fbac4ab79b353165b05005e8c140d6e42177ebbc202ff1e13ded8b7c
`;

describe('Debian control text', () => {
  test('stanzas, fields and continuation lines', () => {
    const stanzas = parseStanzas(`${METAPACKAGE}\n${BUSYBOX}`);
    assert.equal(stanzas.length, 2);
    const [meta, busybox] = stanzas;
    assert.ok(meta !== undefined && busybox !== undefined);
    assert.equal(meta.get('Package'), 'linux-image-686');
    assert.equal(meta.get('Description'), 'Linux for modern PCs (meta-package)\nThis package depends on the latest Linux kernel and modules for use on\nPCs with one or more processors not supporting PAE.');
    assert.equal(busybox.get('Version'), '1:1.35.0-4+deb12u1+b1');
  });

  test('relations: alternatives, architecture qualifiers and version constraints', () => {
    assert.deepEqual(parseRelations('a (>= 1.2), b:i386 | c (<< 2:3.0~rc1), d:any'), [
      [{ name: 'a', operator: '>=', version: '1.2' }],
      [{ name: 'b', architecture: 'i386' }, { name: 'c', operator: '<<', version: '2:3.0~rc1' }],
      [{ name: 'd', architecture: 'any' }],
    ]);
    assert.throws(() => parseRelations('(= 1)'), { name: 'AptError', message: 'cannot read the relation "(= 1)"' });
  });
});

describe('the kernel behind linux-image-686', () => {
  test('is the one linux-image-<abi>-686 the metapackage depends on, at its version', () => {
    const [metapackage] = parseStanzas(METAPACKAGE);
    assert.ok(metapackage !== undefined);
    assert.deepEqual(kernelPackageOf(metapackage, '686'), { name: 'linux-image-6.1.0-50-686', operator: '=', version: '6.1.176-1' });
  });

  test('a metapackage with no such image, or with two, is an error that shows the field', () => {
    const none = new Map([['Package', 'linux-image-686'], ['Depends', 'linux-image-6.1.0-50-686-pae (= 1)']]);
    assert.throws(() => kernelPackageOf(none, '686'), {
      name: 'AptError',
      message: 'expected one linux-image-<version>-686 in Depends: linux-image-6.1.0-50-686-pae (= 1), found 0',
    });
    const two = new Map([['Depends', 'linux-image-6.1.0-50-686 | linux-image-6.1.0-49-686']]);
    assert.throws(() => kernelPackageOf(two, '686'), /found 2/);
    assert.throws(() => kernelPackageOf(new Map([['Package', 'x']]), '686'), { message: 'x has no Depends field' });
  });
});

describe('package candidates', () => {
  test('name, architecture, version, SHA-256 and size', () => {
    const [stanza] = parseStanzas(BUSYBOX);
    assert.ok(stanza !== undefined);
    const info = packageInfoOf(stanza, 'busybox-static:i386');
    assert.deepEqual(info, {
      name: 'busybox-static',
      architecture: 'i386',
      version: '1:1.35.0-4+deb12u1+b1',
      sha256: '725ef9e6fbac4ab79b353165b05005e8c140d6e42177ebbc202ff1e13ded8b7c',
      size: 958344,
    });
    assert.equal(aptSpec(info), 'busybox-static:i386=1:1.35.0-4+deb12u1+b1');
    assert.equal(aptSpec({ name: 'seabios', architecture: 'all', version: '1.16.2-1' }), 'seabios=1.16.2-1');
  });

  test('a stanza without a usable SHA-256 or size is refused', () => {
    const without = new Map([['Package', 'x'], ['Architecture', 'all'], ['Version', '1'], ['Size', '3']]);
    assert.throws(() => packageInfoOf(without, 'x'), { name: 'AptError', message: 'apt-cache show x: no SHA256 field' });
    const md5 = new Map([...without, ['SHA256', 'abc']]);
    assert.throws(() => packageInfoOf(md5, 'x'), { message: 'apt-cache show x: SHA256 abc is not a SHA-256' });
    const size = new Map([...without, ['SHA256', 'a'.repeat(64)], ['Size', 'big']]);
    assert.throws(() => packageInfoOf(size, 'x'), { message: 'apt-cache show x: Size big' });
  });
});
