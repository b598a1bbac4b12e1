/**
 * `npm start -- --guest kvm`'s own parts: the live view with the process's RSS beside the
 * balloon's size, and the guest fixtures' check before anything starts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readKvmGuest } from '../../src/cli/microvm/kvm-guest.js';
import { renderFrame, type VmSnapshot } from '../../src/cli/microvm/view.js';

const MIB = 1024 * 1024;

function snapshot(linux: VmSnapshot['linux']): VmSnapshot {
  return {
    id: 'vm-1',
    targetMib: 256,
    actualMib: 256,
    guestMib: 1024,
    ram: 'mapped',
    residentBytes: 500 * MIB,
    peakResidentBytes: 760 * MIB,
    released: { inflate: 256 * MIB, reporting: 4 * MIB, hinting: 0 },
    named: { reporting: 12 * MIB, hinting: 0 },
    moved: new Map([['inflate_count', 3n]]),
    stats: undefined,
    ...(linux === undefined ? {} : { linux }),
  };
}

describe('--guest kvm', () => {
  test("the view shows the process's RSS and how it moved since the target was set, and what the balloon gave back", () => {
    const frame = renderFrame(
      {
        elapsedS: 20,
        durationS: 60,
        phase: 'inflating to a quarter of guest memory',
        process: { rssBytes: 612 * MIB, peakRssBytes: 930 * MIB },
        vms: [
          snapshot({
            kernel: '6.1.0-57-amd64',
            vmm: 'kvm',
            rssAtTargetBytes: 868 * MIB,
            sinceStartS: 20,
            stage: 'up',
            bootS: 1.2,
            report: { seq: 9, uptimeS: 9.5, memTotalKb: 742_000, memFreeKb: 100_000, memAvailableKb: 120_000, balloonInflate: 65_536, balloonDeflate: 0, balloonMigrate: 0 },
            memTotalAtBootKb: 1_004_144,
          }),
        ],
      },
      200,
    );
    assert.ok(frame.includes("host  this process's RSS 612 MiB (peak 930 MiB), as the OS counts it"), frame.join('\n'));
    assert.ok(frame.includes('      guest RAM in host memory   500 MiB of 1024 MiB  (peak 760 MiB)  RSS −256 MiB since the target was set'), frame.join('\n'));
    assert.ok(frame.includes('      given back to the host  260 MiB: inflate 256 MiB  reporting 4 MiB  hinting 0 MiB'), frame.join('\n'));
    assert.ok(frame.includes('      free ranges the guest named  reported 12 MiB  hinted 0 MiB'), frame.join('\n'));
    assert.ok(!frame.some((line) => line.includes('v86')), frame.join('\n'));
  });

  test('while Linux boots, the view says KVM and shows the RSS and the guest RAM it touched', () => {
    const frame = renderFrame({ elapsedS: 1, durationS: 60, phase: 'booting Linux', process: { rssBytes: 190 * MIB, peakRssBytes: 190 * MIB }, vms: [snapshot({ kernel: '6.1.0-57-amd64', vmm: 'kvm', sinceStartS: 1, stage: 'kernel' })] }, 200);
    assert.equal(frame[1], "host  this process's RSS 190 MiB (peak 190 MiB), as the OS counts it");
    assert.equal(frame[2], 'vm-1  booting Linux 6.1.0-57-amd64 on KVM (1024 MiB)  1.0 s');
    assert.equal(frame[4], '      guest RAM in host memory 500 MiB');
  });

  test('without the amd64 fixtures the session says what to run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvm-guest-'));
    try {
      assert.throws(() => readKvmGuest(dir), { name: 'GuestFixturesError', message: `--guest kvm: no amd64 guest in ${dir}: build it once, as root, with npm run guest:fetch` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
