/**
 * `npm start`: the simulated microVM session, run for real in a child process with a small guest
 * and a short duration; its metrics files are read back with the reader.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseMetricsText } from '../../src/reader/index.js';
import { renderFrame } from '../../src/cli/microvm/view.js';

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

test('a session: the guest inflates, reports, hints and deflates; one valid line a second; a summary at the end', () => {
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
    assert.match(result.stdout, /host memory held by the guest: peak [\d.]+ MiB, now [\d.]+ MiB/);
    const reclaimed = /host memory reclaimed by the balloon: [\d.]+ MiB \(inflate ([\d.]+) MiB, free page reporting [\d.]+ MiB, free page hinting ([\d.]+) MiB\)/.exec(result.stdout);
    assert.ok(reclaimed, 'the summary says what each mechanism reclaimed');
    assert.ok(Number(reclaimed[1]) > 0 && Number(reclaimed[2]) > 0, 'the inflation and the hinting run released host memory');
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

test('Ctrl-C stops the session cleanly: a last line and the summary', async () => {
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
    assert.equal(code, 0);
    assert.match(stdout, /Summary \(stopped by a signal/);
    assert.ok(balloonTotals(path).lines >= 3, 'the lines of each second, then the last one');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

test('the live view: target and actual size, host memory held, what moved, the guest\'s statistics', () => {
  const lines = renderFrame({
    elapsedS: 12,
    durationS: 30,
    phase: 'free page hinting run',
    vms: [
      {
        id: 'vm-1',
        targetMib: 256,
        actualMib: 128,
        guestMib: 1024,
        residentBytes: 412 * 1024 * 1024,
        peakResidentBytes: 820 * 1024 * 1024,
        released: { inflate: 256 * 1024 * 1024, reporting: 103 * 1024 * 1024, hinting: 48 * 1024 * 1024 },
        moved: new Map([
          ['inflate_count', 3n],
          ['free_page_hint_freed', BigInt(48 * 1024 * 1024)],
        ]),
        stats: { free_memory: 318 * 1024 * 1024, available_memory: 502 * 1024 * 1024, total_memory: 1024 * 1024 * 1024, major_faults: 0 },
      },
    ],
  });
  assert.deepEqual(lines, [
    'microVM session  12.0 s of 30 s   phase: free page hinting run',
    'vm-1  balloon  target   256 MiB  actual   128 MiB  [███░░░░░░░░░░░░░░░░░]',
    '      host memory held by the guest   412 MiB of  1024 MiB  (peak 820 MiB)',
    '      released by the balloon  inflate 256 MiB  reporting 103 MiB  hinting 48 MiB',
    '      balloon metrics this second  inflate_count +3  free_page_hint_freed +48 MiB',
    '      guest stats  free 318 MiB  available 502 MiB  total 1024 MiB  major faults 0',
  ]);
});
