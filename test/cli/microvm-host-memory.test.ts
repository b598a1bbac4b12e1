/**
 * `npm start`'s host-memory figures are the operating system's: a simulated VM whose guest RAM is
 * mapped (koffi's mmap and madvise), driven step by step in this process (a test file runs in a
 * process of its own), its view's figures held against /proc/self/status's VmRSS within 10 %.
 * Without koffi the RAM is on V8's heap, which the view says; these skip loudly then.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { SimulatedVm } from '../../src/cli/microvm/simulated-vm.js';
import { renderFrame } from '../../src/cli/microvm/view.js';

const MIB = 1024 * 1024;

/** VmRSS of this process, from the kernel's own page. */
function vmRss(): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  assert.ok(match, '/proc/self/status has VmRSS');
  return Number(match[1]) * 1024;
}

/** One figure of the view, in MiB: the number after `label`. */
function figure(lines: readonly string[], label: RegExp): number {
  for (const line of lines) {
    const match = label.exec(line);
    if (match !== null) return Number(match[1]) * MIB;
  }
  assert.fail(`no ${String(label)} in\n${lines.join('\n')}`);
}

function skipLoudly(t: TestContext, why: string): void {
  process.stderr.write(`\n*** SKIPPED: ${why} ***\n\n`);
  t.skip(why);
}

function within10Percent(measured: number, shown: number, what: string): void {
  assert.ok(Math.abs(measured - shown) <= 0.1 * shown, `${what}: the view shows ${(shown / MIB).toFixed(1)} MiB, VmRSS moved ${(measured / MIB).toFixed(1)} MiB`);
}

test("the view's guest RAM in host memory, and what the balloon gave back, are what VmRSS shows, within 10 %", async (t) => {
  if (process.platform !== 'linux') {
    skipLoudly(t, "VmRSS is Linux's (/proc/self/status)");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-host-memory-'));
  let workingSet = 0.8;
  const before = vmRss();
  const vm = await SimulatedVm.create({ id: 'vm-1', memoryMib: 512, metricsPath: join(dir, 'metrics.json'), workingSet: () => workingSet, seed: 1 });
  try {
    if (vm.ram !== 'mapped') {
      skipLoudly(t, `the guest's RAM is not mapped here: ${vm.snapshot().ramNote ?? ''}`);
      return;
    }
    vm.boot();
    let nowMs = 0;
    const run = (ms: number): void => {
      for (const end = nowMs + ms; nowMs < end; ) vm.step((nowMs += 100));
    };
    const view = (): string[] => renderFrame({ elapsedS: nowMs / 1000, durationS: 60, phase: 'test', vms: [vm.snapshot()], process: { rssBytes: vmRss(), peakRssBytes: 0 } }, 200);

    // The program touches 80 % of 512 MiB: the view's guest RAM is what the process grew by.
    run(3000);
    const grown = view();
    const held = figure(grown, /guest RAM in host memory +(\d+) MiB/);
    assert.ok(held >= 400 * MIB, `the program touched its working set: ${held / MIB} MiB`);
    within10Percent(vmRss() - before, held, 'guest RAM in host memory');

    // It frees the top of its heap (still held by the host); the balloon inflates to 128 MiB,
    // taking those pages first, and reporting gives back free chunks: the RSS falls by what the
    // view says was given back.
    workingSet = 0.3;
    run(300);
    const rssBefore = vmRss();
    const givenBefore = figure(view(), /given back to the host +(\d+) MiB/);
    vm.setTarget(128);
    run(6000);
    const after = view();
    const given = figure(after, /given back to the host +(\d+) MiB/) - givenBefore;
    assert.ok(given >= 128 * MIB, `the inflation alone gives back 128 MiB; the view says ${given / MIB} MiB`);
    within10Percent(rssBefore - vmRss(), given, 'given back to the host');
    assert.ok(after.some((line) => /^host {2}this process's RSS \d+ MiB/.test(line)), after.join('\n'));
  } finally {
    vm.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("on V8's heap the view says so: dropped, not given back", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-host-memory-'));
  const vm = await SimulatedVm.create({ id: 'vm-1', memoryMib: 32, metricsPath: join(dir, 'metrics.json'), workingSet: () => 0.5, seed: 1, mappedMemory: false });
  try {
    assert.equal(vm.ram, 'heap');
    vm.boot();
    vm.step(100);
    const lines = renderFrame({ elapsedS: 0.1, durationS: 60, phase: 'test', vms: [vm.snapshot()] }, 200);
    assert.ok(lines.some((line) => /^ {6}guest RAM in V8's heap +16 MiB of 32 MiB/.test(line)), lines.join('\n'));
    assert.ok(lines.some((line) => /^ {6}dropped by the balloon /.test(line)), lines.join('\n'));
    assert.ok(lines.includes("  fall (the guest's RAM is not mapped: mapped memory was not asked for)."), lines.join('\n'));
  } finally {
    vm.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
});
