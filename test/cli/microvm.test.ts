/**
 * `npm start`: the simulated microVM session, run for real in a child process with a small guest
 * and a short duration; its metrics files are read back with the reader.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseMetricsText } from '../../src/reader/index.js';
import { renderFrame, type VmSnapshot } from '../../src/cli/microvm/view.js';

const session = fileURLToPath(new URL('../../src/cli/microvm/main.js', import.meta.url));

interface BalloonEntry {
  readonly inflate_count: number | bigint;
  readonly deflate_count: number | bigint;
  readonly stats_updates_count: number | bigint;
  readonly free_page_report_count: number | bigint;
  readonly free_page_hint_count: number | bigint;
  readonly event_fails: number | bigint;
}

/** Every line of `path`, valid against Firecracker's schema, and the sum of each balloon counter. */
function balloonTotals(path: string): { lines: number; totals: Record<string, bigint>; ids: Set<string> } {
  const readings = parseMetricsText(readFileSync(path, 'utf8'));
  const totals: Record<string, bigint> = {};
  const ids = new Set<string>();
  for (const reading of readings) {
    assert.ok(reading.valid, `line ${reading.lineNumber}: ${JSON.stringify(reading.problems)}`);
    ids.add(reading.record?.id ?? '');
    const balloon = reading.record?.groups.balloon as unknown as Record<string, number | bigint>;
    for (const [name, value] of Object.entries(balloon)) totals[name] = (totals[name] ?? 0n) + BigInt(value);
  }
  return { lines: readings.length, totals, ids };
}

test('a session: the guest inflates, reports, hints and deflates; one valid line a second; a summary at the end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-microvm-'));
  try {
    const path = join(dir, 'metrics.json');
    const result = spawnSync(process.execPath, [session, '--duration-s', '6', '--memory-mib', '64', '--metrics-path', path], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '', 'no problems reported');
    const { lines, totals, ids } = balloonTotals(path);
    assert.ok(lines >= 6 && lines <= 8, `${lines} lines for 6 s: one a second and a last one`);
    assert.deepEqual([...ids], ['vm-1']);
    const counters = totals as unknown as BalloonEntry;
    assert.ok(counters.inflate_count > 0n, 'the guest inflated');
    assert.ok(counters.deflate_count > 0n, 'and deflated');
    assert.ok(counters.stats_updates_count >= 4n, 'statistics every second');
    assert.ok(counters.free_page_report_count > 0n, 'free page reporting');
    assert.ok(counters.free_page_hint_count > 0n, 'a hinting run');
    assert.equal(counters.event_fails, 0n, 'a well-behaved guest');
    assert.match(result.stdout, /microVM session .* phase: /);
    assert.match(result.stdout, /Summary \(the session is over/);
    assert.match(result.stdout, /^host {2}this process's RSS [\d.]+ MiB at the end, peak [\d.]+ MiB, as the OS counts it$/m);
    // koffi is a devDependency: here the guest's RAM is mapped, unless it cannot load.
    const mapped = await import('koffi').then(() => true, () => false);
    assert.match(result.stdout, mapped ? /^ {2}guest RAM in host memory \(mapped\): peak [\d.]+ MiB, now [\d.]+ MiB$/m : /^ {2}guest RAM in V8's heap: /m);
    const given = (mapped ? /given back to the host by the balloon: [\d.]+ MiB of pages that held host memory, freed by madvise \(inflate ([\d.]+) MiB, free page reporting [\d.]+ MiB, free page hinting ([\d.]+) MiB\)/ : /dropped by the balloon: [\d.]+ MiB of 4 KiB page buffers, which V8 keeps: the RSS need not fall \(inflate ([\d.]+) MiB, free page reporting [\d.]+ MiB, free page hinting ([\d.]+) MiB/).exec(result.stdout);
    assert.ok(given, 'the summary says what each mechanism gave back');
    assert.ok(Number(given[1]) > 0 && Number(given[2]) > 0, 'the inflation and the hinting run gave host memory back');
    const named = /free ranges the guest named, counting each range each time, whether it held memory then or not: reported ([\d.]+) MiB in (\d+) ranges, hinted ([\d.]+) MiB in (\d+)/.exec(result.stdout);
    assert.ok(named, 'and, apart, what the guest named');
    assert.equal(BigInt(named[2] ?? ''), counters.free_page_report_count);
    assert.equal(BigInt(named[4] ?? ''), counters.free_page_hint_count);
    assert.match(result.stdout, new RegExp(`inflate_count ${String(counters.inflate_count)},`), 'the summary totals are the lines\' sums');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--vms 2: two VMs in one process, each with its own document and metrics file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-microvm-'));
  try {
    const result = spawnSync(process.execPath, [session, '--duration-s', '3', '--memory-mib', '32', '--vms', '2', '--metrics-dir', dir], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 0, result.stderr);
    for (const n of [1, 2]) {
      const { totals, ids } = balloonTotals(join(dir, `metrics-${n}.json`));
      assert.deepEqual([...ids], [`vm-${n}`]);
      assert.ok((totals.inflate_count ?? 0n) > 0n);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C stops the session cleanly: a last line, the summary, and exit status 130', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-microvm-'));
  try {
    const path = join(dir, 'metrics.json');
    const child = spawn(process.execPath, [session, '--duration-s', '60', '--memory-mib', '32', '--metrics-path', path]);
    let stdout = '';
    let interrupted = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      // The first frame at 2 s or later: a loaded machine draws them late (2.1 s, 3.1 s, …).
      if (!interrupted && /microVM session +(?:[2-9]|\d{2,})\.\d s/.test(stdout)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    // 128 + SIGINT's 2, as shells expect of a program Ctrl-C ended; after the summary.
    assert.equal(code, 130);
    assert.match(stdout, /Summary \(stopped by SIGINT/);
    assert.ok(balloonTotals(path).lines >= 3, 'the lines of each second, then the last one');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a write that fails names the VM and its file: /dev/full opens, and every write fails with ENOSPC', (t) => {
  if (!existsSync('/dev/full')) {
    process.stderr.write('\n*** SKIPPED: no /dev/full here ***\n\n');
    t.skip('no /dev/full here');
    return;
  }
  const result = spawnSync(process.execPath, [session, '--duration-s', '2', '--memory-mib', '32', '--metrics-path', '/dev/full'], { encoding: 'utf8', timeout: 30_000 });
  const problems = result.stderr.split('\n').filter((line) => line !== '');
  assert.ok(problems.length >= 2, result.stderr);
  for (const problem of problems) assert.match(problem, /^vm-1: \/dev\/full: Failed to write metrics: ENOSPC/);
  assert.match(result.stdout, /^vm-1 \(metrics in \/dev\/full\)$/m);
});

test('bad options exit 2 with what was wrong and the usage', () => {
  for (const [args, message] of [
    [['--duration-s=-3'], /--duration-s: expected a positive number, got "-3"/],
    [['--vms', '0'], /--vms: expected a positive integer, got "0"/],
    [['--vms', '2', '--metrics-path', 'x.json'], /with --vms, use --metrics-dir/],
    [['--memory-mib', '8'], /a guest needs at least 16 MiB/],
  ] as const) {
    const result = spawnSync(process.execPath, [session, ...args], { encoding: 'utf8' });
    assert.equal(result.status, 2, args.join(' '));
    assert.match(result.stderr, message);
    assert.match(result.stderr, /Usage: npm start/);
  }
});

const MIB = 1024 * 1024;

/** A simulated VM's snapshot mid-session: 256 MiB inflated, reporting and hinting under way. */
function simulatedSnapshot(ram: VmSnapshot['ram'], ramNote?: string): VmSnapshot {
  return {
    id: 'vm-1',
    targetMib: 256,
    actualMib: 128,
    guestMib: 1024,
    ram,
    ...(ramNote === undefined ? {} : { ramNote }),
    residentBytes: 412 * MIB,
    peakResidentBytes: 820 * MIB,
    released: { inflate: 100 * MIB, reporting: 3 * MIB, hinting: 48 * MIB },
    named: { reporting: 1384 * MIB, hinting: 404 * MIB },
    moved: new Map([
      ['inflate_count', 3n],
      ['free_page_hint_freed', BigInt(48 * MIB)],
    ]),
    stats: { free_memory: 318 * MIB, available_memory: 502 * MIB, total_memory: 1024 * MIB, major_faults: 0 },
  };
}

test("the live view: the process's RSS, the balloon's size, what went back to the host apart from what the guest named, and what each word means", () => {
  const lines = renderFrame({
    elapsedS: 12,
    durationS: 30,
    phase: 'free page hinting run',
    process: { rssBytes: 480 * MIB, peakRssBytes: 977 * MIB },
    vms: [simulatedSnapshot('mapped')],
  });
  assert.deepEqual(lines, [
    'microVM session  12.0 s of 30 s   phase: free page hinting run',
    "host  this process's RSS 480 MiB (peak 977 MiB), as the OS counts it",
    'vm-1  balloon  target   256 MiB  actual   128 MiB  [███░░░░░░░░░░░░░░░░░]',
    '      guest RAM in host memory   412 MiB of 1024 MiB  (peak 820 MiB)',
    '      given back to the host  151 MiB: inflate 100 MiB  reporting 3 MiB  hinting 48 MiB',
    '      free ranges the guest named  reported 1384 MiB  hinted 404 MiB',
    '      balloon counters this second  inflate_count +3  free_page_hint_freed +48 MiB',
    '      guest stats  free 318 MiB  available 502 MiB  total 1024 MiB  major faults 0',
    '',
    'given back: pages that held host memory when the balloon freed them (madvise); the RSS fell',
    "  by as much. The balloon's actual size counts every page it holds, given back then or before.",
    'named: free_page_report_freed, free_page_hint_freed. A range counts each time the guest names it,',
    "  whether it held memory then or not, so the sum can pass the guest's size.",
  ]);
  assert.ok(lines.every((line) => line.length <= 100), 'every line fits 100 columns');
});

test("the live view of a guest on V8's heap says dropped, not given back, and why its RAM is not mapped; a log gets the words' meanings once", () => {
  const heap = renderFrame({ elapsedS: 12, durationS: 30, phase: 'p', vms: [simulatedSnapshot('heap', 'koffi is not installed (npm install koffi)')] }, 120);
  assert.ok(heap.includes("      guest RAM in V8's heap   412 MiB of 1024 MiB  (peak 820 MiB)"), heap.join('\n'));
  assert.ok(heap.includes('      dropped by the balloon  151 MiB: inflate 100 MiB  reporting 3 MiB  hinting 48 MiB'), heap.join('\n'));
  assert.ok(heap.includes("  fall (the guest's RAM is not mapped: koffi is not installed (npm install koffi))."), heap.join('\n'));
  assert.ok(!heap.some((line) => line.includes('given back')), 'nothing on V8\'s heap is said to be given back');
  const quiet = renderFrame({ elapsedS: 13, durationS: 30, phase: 'p', vms: [simulatedSnapshot('mapped')], legend: false });
  assert.equal(quiet.at(-1), '      guest stats  free 318 MiB  available 502 MiB  total 1024 MiB  major faults 0');
});
