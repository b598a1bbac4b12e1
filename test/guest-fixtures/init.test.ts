import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { INIT_SCRIPT, REPORT_FUNCTION } from '../../scripts/guest-fixtures/init.js';
import { parseGuestLine } from '../../src/v86/guest-report.js';

/** Lines the guest printed in v86 0.5.462 (Debian 6.1.0-50-686, 128 MiB, v86's own balloon on). */
const BOOT = [
  'VMM-GUEST-INIT kernel=6.1.0-50-686 uptime_s=9.17\r',
  'VMM-GUEST-MODULES virtio=ok virtio_ring=ok virtio_pci_legacy_dev=ok virtio_pci_modern_dev=ok virtio_pci=ok virtio_balloon=ok\r',
  'VMM-GUEST-PCI 0000:00:00.0=0x8086:0x1237:- 0000:00:0b.0=0x1af4:0x1045:virtio-pci 0000:00:12.0=0x1234:0x1111:-\r',
  'VMM-GUEST-VIRTIO virtio0=0x0005:virtio_balloon\r',
  'VMM-GUEST seq=0 uptime_s=16.10 mem_total_kb=68008 mem_free_kb=55096 mem_available_kb=57148 nr_free_pages=13009 balloon_inflate=8192 balloon_deflate=0 balloon_migrate=0\r',
];

describe('/init', () => {
  test('is a shell script the host shell parses', () => {
    assert.ok(INIT_SCRIPT.startsWith('#!/bin/sh\n'));
    const result = spawnSync('sh', ['-n'], { input: INIT_SCRIPT, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
  });

  test("never stops on an error: no set -e, and a report loop that does not end", () => {
    assert.doesNotMatch(INIT_SCRIPT, /^\s*set -[a-z]*e/m);
    assert.match(INIT_SCRIPT, /while :; do\n {2}sleep "\$interval" &\n/);
  });

  test("the report, run by the host's shell over the host's /proc, is a memory line with the host's figures", () => {
    const result = spawnSync('sh', ['-c', `${REPORT_FUNCTION}\nreport 7`], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const line = parseGuestLine(result.stdout.trimEnd());
    assert.ok(line?.kind === 'memory', result.stdout);
    assert.equal(line.seq, 7);
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    assert.equal(line.memTotalKb, Number(/^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1]));
    assert.ok(line.uptimeS > 0);
    const vmstat = new Set(readFileSync('/proc/vmstat', 'utf8').split('\n').map((l) => l.split(' ')[0]));
    const expected = ['seq', 'uptime_s', 'mem_total_kb', 'mem_free_kb', 'mem_available_kb', 'nr_free_pages', ...[...vmstat].filter((k) => k?.startsWith('balloon_'))];
    assert.deepEqual(new Set(line.fields.keys()), new Set(expected));
  });
});

describe('parseGuestLine', () => {
  test("reads each kind of /init's lines", () => {
    const [init, modules, pci, virtio, memory] = BOOT.map(parseGuestLine);
    assert.deepEqual(init, { kind: 'init', kernel: '6.1.0-50-686', uptimeS: 9.17 });
    assert.ok(modules?.kind === 'modules');
    assert.equal(modules.allLoaded, true);
    assert.deepEqual([...modules.results.keys()], ['virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_balloon']);
    assert.deepEqual(pci, {
      kind: 'pci',
      functions: [
        { address: '0000:00:00.0', vendor: 0x8086, device: 0x1237 },
        { address: '0000:00:0b.0', vendor: 0x1af4, device: 0x1045, driver: 'virtio-pci' },
        { address: '0000:00:12.0', vendor: 0x1234, device: 0x1111 },
      ],
    });
    assert.deepEqual(virtio, { kind: 'virtio', devices: [{ name: 'virtio0', deviceId: 5, driver: 'virtio_balloon' }] });
    assert.ok(memory?.kind === 'memory');
    assert.deepEqual(
      [memory.seq, memory.uptimeS, memory.memTotalKb, memory.memFreeKb, memory.memAvailableKb, memory.balloonInflate, memory.balloonDeflate],
      [0, 16.1, 68008, 55096, 57148, 8192, 0],
    );
    assert.equal(memory.fields.get('balloon_migrate'), 0);
  });

  test('failures, nothing bound, and text before the tag', () => {
    const modules = parseGuestLine('VMM-GUEST-MODULES virtio=ok virtio_balloon=fail:1');
    assert.ok(modules?.kind === 'modules');
    assert.equal(modules.allLoaded, false);
    assert.equal(modules.results.get('virtio_balloon'), 'fail:1');
    assert.deepEqual(parseGuestLine('VMM-GUEST-VIRTIO none'), { kind: 'virtio', devices: [] });
    assert.deepEqual(parseGuestLine('VMM-GUEST-VIRTIO virtio0=0x0005:-'), { kind: 'virtio', devices: [{ name: 'virtio0', deviceId: 5 }] });
    assert.deepEqual(parseGuestLine("VMM-GUEST-ERROR insmod virtio_balloon: insmod: can't insert"), {
      kind: 'error',
      message: "insmod virtio_balloon: insmod: can't insert",
    });
    const after = parseGuestLine('[   12.3] random: crng init doneVMM-GUEST seq=3 uptime_s=1 mem_total_kb=1 mem_free_kb=1 mem_available_kb=1');
    assert.equal(after?.kind, 'memory');
  });

  test('anything else, or a damaged line, is undefined', () => {
    for (const line of [
      '',
      '[    0.283724] ACPI BIOS Error (bug): A valid RSDP was not found',
      'VMM-GUEST seq=1 uptime_s=2 mem_total_kb=',
      'VMM-GUEST seq=1 uptime_s=2 mem_total_kb=10 mem_free_kb=5',
      'VMM-GUEST seq=1 uptime_s=2 mem_total_kb=10 mem_free_kb=5 mem_available_kb=4 balloon_inf',
      'VMM-GUEST-INIT uptime_s=2',
      'VMM-GUEST-PCI 0000:00:0b.0=0x1af4',
      'VMM-GUEST-VIRTIO virtio0=5:virtio_balloon',
      'VMM-GUEST-UNKNOWN x=1',
    ]) {
      assert.equal(parseGuestLine(line), undefined, line);
    }
  });
});
