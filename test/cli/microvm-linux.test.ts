/**
 * `npm start -- --guest linux`: the session with Debian's Linux in v86 driving the balloon, run
 * for real — the built entry in a child process, as `npm start` runs it — and read back through
 * its live view, its summary, its metrics file (checked by the real `vmm-metrics validate`) and
 * its `--serve` endpoint.
 *
 * The guest boots once for the file: one session of `SESSION_S` seconds, long enough for a boot
 * of 10–25 s and the host's whole story after it (inflate to 32 MiB, to 64, a hinting run,
 * deflate to 0). The Ctrl-C test interrupts a second emulator during its boot, a few seconds in,
 * which is also where stopping is hardest (the emulator runs, no driver yet). Without the guest's
 * fixtures those skip loudly (guestOrSkip); the missing-fixtures error, the refused options and
 * the loading rule for v86 need no guest.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readLinuxGuest } from '../../src/cli/microvm/guest-fixtures.js';
import { renderFrame, type VmSnapshot } from '../../src/cli/microvm/view.js';
import { parseMetricsText } from '../../src/reader/index.js';
import { guestFixtures, guestOrSkip, GUEST_DIR_ENV, type GuestManifest } from '../support/guest-fixtures.js';
import { runCli } from './helpers.js';

const session = fileURLToPath(new URL('../../src/cli/microvm/main.js', import.meta.url));
// The tests run from build/test/; the sources are at the repository's root.
const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));
/**
 * Boot (10–25 s here, 25 s under the whole suite's load) and the host's story after it, whose
 * steps are fractions of the time left: 25 s left holds 32 MiB for 5 s, time for Linux to inflate
 * it (1.5 s) and report MemTotal (once a second).
 */
const SESSION_S = 50;
const MIB = 1024 * 1024;

/** A frame of the view, as printed without a terminal (frames end with an empty line). */
interface Frame {
  readonly text: string;
  readonly elapsedS: number;
  readonly booting: boolean;
  /** `✓ firmware  ▸ kernel  · modules …` while booting. */
  readonly stages?: string;
  readonly targetMib?: number;
  readonly actualMib?: number;
  /** MemTotal and how far below its value at boot, in MiB, from the guest's console reports. */
  readonly memTotalMib?: number;
  readonly belowBootMib?: number;
  /** The statistics line's total, from Linux's statistics queue. */
  readonly statsTotalMib?: number;
}

function parseFrame(text: string): Frame {
  const elapsedS = Number(/^microVM session {2}([\d.]+) s of/.exec(text)?.[1]);
  const booting = /^vm-1 {2}booting Linux \S+ in v86 \(256 MiB\)/m.test(text);
  const stages = /^ {6}((?:[✓▸·] [\w /]+? {2})*[✓▸·] first report)$/m.exec(text)?.[1];
  const sizes = /^vm-1 {2}balloon {2}target +(\d+) MiB {2}actual +(\d+) MiB/m.exec(text);
  const memTotal = /^ {6}Linux {2}MemTotal ([\d.]+) MiB \(boot [\d.]+ ([−+]) ([\d.]+)\)/m.exec(text);
  const statsTotal = /^ {6}guest stats .* total (\d+) MiB/m.exec(text);
  return {
    text,
    elapsedS,
    booting,
    ...(stages === undefined ? {} : { stages }),
    ...(sizes === null ? {} : { targetMib: Number(sizes[1]), actualMib: Number(sizes[2]) }),
    ...(memTotal === null ? {} : { memTotalMib: Number(memTotal[1]), belowBootMib: (memTotal[2] === '−' ? 1 : -1) * Number(memTotal[3]) }),
    ...(statsTotal === null ? {} : { statsTotalMib: Number(statsTotal[1]) }),
  };
}

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly frames: readonly Frame[];
  readonly wallS: number;
  /** When the signal was sent (ms since the epoch), if one was. */
  readonly signalledAt?: number;
  /** A scrape of --serve's /metrics once the view showed the balloon at 64 MiB. */
  readonly scrape?: string;
}

/**
 * Runs the session with `args` and the guest's fixtures; `interruptAfterFrames` sends SIGINT once
 * that many frames are out. Kills it, and fails, if it is still running `deadlineS` after its start.
 */
async function runSession(args: readonly string[], guestDir: string, options: { readonly interruptAfterFrames?: number; readonly deadlineS: number }): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, [session, ...args], { env: { ...process.env, [GUEST_DIR_ENV]: guestDir } });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  let stdout = '';
  let pending = '';
  let stderr = '';
  let signalledAt: number | undefined;
  let scrape: Promise<string | undefined> | undefined;
  const frames: Frame[] = [];
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
      const text = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (!text.startsWith('microVM session')) continue;
      const frame = parseFrame(text);
      frames.push(frame);
      const url = /^Serving the VMs' metrics at (\S+)$/m.exec(stderr)?.[1];
      if (scrape === undefined && url !== undefined && frame.actualMib === 64) {
        scrape = fetch(url).then(
          (response) => response.text(),
          () => undefined,
        );
      }
      if (options.interruptAfterFrames !== undefined && signalledAt === undefined && frames.length >= options.interruptAfterFrames) {
        signalledAt = Date.now();
        child.kill('SIGINT');
      }
    }
  });
  const deadline = setTimeout(() => child.kill('SIGKILL'), options.deadlineS * 1000);
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    const scraped = await scrape;
    return {
      code,
      signal,
      stdout,
      stderr,
      frames,
      wallS: (Date.now() - started) / 1000,
      ...(signalledAt === undefined ? {} : { signalledAt }),
      ...(scraped === undefined ? {} : { scrape: scraped }),
    };
  } finally {
    clearTimeout(deadline);
  }
}

/** Each line's balloon counters summed, and each line's timestamp; every line must pass the reader's schema. */
function readLines(path: string): { totals: Record<string, bigint>; timestamps: number[] } {
  const totals: Record<string, bigint> = {};
  const timestamps: number[] = [];
  for (const reading of parseMetricsText(readFileSync(path, 'utf8'))) {
    assert.ok(reading.valid, `line ${reading.lineNumber}: ${JSON.stringify(reading.problems)}`);
    timestamps.push(Number(reading.record?.utc_timestamp_ms));
    const balloon = reading.record?.groups.balloon as unknown as Record<string, number | bigint>;
    for (const [name, value] of Object.entries(balloon)) totals[name] = (totals[name] ?? 0n) + BigInt(value);
  }
  return { totals, timestamps };
}

test('without the fixtures, --guest linux fails at once: what to run, no stack trace, exit 1, no metrics file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-linux-'));
  try {
    const empty = join(dir, 'no-guest');
    const path = join(dir, 'metrics.json');
    const started = Date.now();
    const result = spawnSync(process.execPath, [session, '--guest', 'linux', '--metrics-path', path, '--serve', '--port', '0'], {
      encoding: 'utf8',
      env: { ...process.env, [GUEST_DIR_ENV]: empty },
      timeout: 20_000,
    });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      `--guest linux: no Linux guest in ${empty} (no manifest.json). Build it once, as root: npm run guest:fetch ` +
        `(Debian's kernel, busybox and SeaBIOS, about 10 s), or set ${GUEST_DIR_ENV} to the folder it was built in.\n`,
    );
    assert.equal(result.stdout, '');
    assert.ok(Date.now() - started < 5_000, 'at once');
    assert.equal(existsSync(path), false, 'before the metrics file is opened (and before --serve binds)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--guest linux refuses --vms above 1 (measured: the emulators share one thread), a guest size out of range, and --guest takes two names', () => {
  for (const [args, message] of [
    [['--guest', 'linux', '--vms', '2'], /^--vms: --guest linux runs one VM: v86 emulates its CPU on this process's one thread, so two guests boot in about 30 s instead of 16/],
    [['--guest', 'linux', '--memory-mib', '64'], /^--memory-mib: the Linux guest runs with 128 to 2048 MiB, got 64$/m],
    [['--guest', 'windows'], /^--guest: expected simulated, linux or kvm, got "windows"$/m],
  ] as const) {
    const result = spawnSync(process.execPath, [session, ...args], { encoding: 'utf8', env: { ...process.env, [GUEST_DIR_ENV]: '/nonexistent' } });
    assert.equal(result.status, 2, args.join(' '));
    assert.match(result.stderr, message);
    assert.match(result.stderr, /Usage: npm start -- \[--guest simulated\|linux\|kvm\]/);
  }
});

test("the live view of a Linux guest: its boot as it goes, then MemTotal from its reports beside the balloon, what was zeroed", () => {
  const vm: VmSnapshot = {
    id: 'vm-1',
    targetMib: 0,
    actualMib: 0,
    guestMib: 256,
    ram: 'emulator',
    residentBytes: 256 * MIB,
    peakResidentBytes: 256 * MIB,
    released: { inflate: 0, reporting: 0, hinting: 0 },
    named: { reporting: 0, hinting: 0 },
    moved: new Map(),
    stats: undefined,
    linux: {
      kernel: '6.1.0-50-686',
      sinceStartS: 9,
      stage: 'kernel',
      kernelUptimeS: 6.04,
      instructionsPerS: 1.06e9,
      lastConsoleLine: '[    6.041364] mce: Unable to init MCE device (rc: -5)',
    },
  };
  assert.deepEqual(renderFrame({ elapsedS: 9, durationS: 60, phase: 'booting Linux', vms: [vm] }), [
    'microVM session  9.0 s of 60 s   phase: booting Linux',
    'vm-1  booting Linux 6.1.0-50-686 in v86 (256 MiB)  9.0 s  (10–25 s here)',
    '      ✓ firmware  ▸ kernel  · modules  · driver  · first report',
    '      v86 runs 1.1 G instructions/s  kernel uptime 6.0 s',
    '      console  [    6.041364] mce: Unable to init MCE device (rc: -5)',
  ]);
  const up: VmSnapshot = {
    ...vm,
    targetMib: 64,
    actualMib: 64,
    released: { inflate: 64 * MIB, reporting: 176 * MIB, hinting: 0 },
    named: { reporting: 176 * MIB, hinting: 0 },
    moved: new Map([['inflate_count', 8n]]),
    stats: { free_memory: 145 * MIB, available_memory: 145 * MIB, total_memory: 158 * MIB, major_faults: 0 },
    linux: {
      kernel: '6.1.0-50-686',
      sinceStartS: 24,
      stage: 'up',
      bootS: 15.8,
      report: { seq: 7, uptimeS: 18.97, memTotalKb: 161832, memFreeKb: 148652, memAvailableKb: 148380, balloonInflate: 16384, balloonDeflate: 0, balloonMigrate: 0 },
      memTotalAtBootKb: 227368,
    },
  };
  assert.deepEqual(renderFrame({ elapsedS: 24, durationS: 60, phase: 'inflating to a quarter of guest memory', process: { rssBytes: 420 * MIB, peakRssBytes: 430 * MIB }, vms: [up] }, 120), [
    'microVM session  24.0 s of 60 s   phase: inflating to a quarter of guest memory',
    "host  this process's RSS 420 MiB (peak 430 MiB), as the OS counts it",
    'vm-1  balloon  target    64 MiB  actual    64 MiB  [█████░░░░░░░░░░░░░░░]',
    '      Linux  MemTotal 158.0 MiB (boot 222.0 − 64.0)  balloon_inflate 16384  balloon_deflate 0  balloon_migrate 0',
    '      guest RAM in host memory   256 MiB of 256 MiB  (v86 holds it all)',
    '      zeroed by the balloon, none given back  inflate 64 MiB  reporting 176 MiB  hinting 0 MiB',
    '      free ranges the guest named  reported 176 MiB  hinted 0 MiB',
    '      balloon counters this second  inflate_count +8',
    '      guest stats  free 145 MiB  available 145 MiB  total 158 MiB  major faults 0',
    '',
    "zeroed: bytes the balloon zeroed in v86's RAM, each time the guest named them; v86 keeps its RAM",
    '  (a WebAssembly memory), so the host gets none of it back.',
    'named: free_page_report_freed, free_page_hint_freed. A range counts each time the guest names it,',
    "  whether it held memory then or not, so the sum can pass the guest's size.",
  ]);
});

/** The relative imports of a source file, static and dynamic apart, resolved to source paths. */
function importsOf(file: string): { static: string[]; dynamic: string[] } {
  const text = readFileSync(file, 'utf8');
  const resolveAll = (specifiers: string[]): string[] => specifiers.map((specifier) => relative(SRC, resolve(dirname(file), specifier.replace(/\.js$/, '.ts'))));
  return {
    static: resolveAll([...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s+'(\.[^']+)'/g)].map((m) => m[1] ?? '')),
    dynamic: resolveAll([...text.matchAll(/import\('(\.[^']+)'\)/g)].map((m) => m[1] ?? '')),
  };
}

test('v86 is loaded only for --guest linux: only vmm-metrics/v86 and the session\'s linux module reach it, and the session loads that module on demand', () => {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts'));
  for (const file of files) {
    const { static: statics, dynamic } = importsOf(join(SRC, file));
    if (!file.startsWith('v86/') && file !== 'cli/microvm/linux.ts') {
      // The /init lines' parser (v86/guest-report.ts) loads nothing of v86: --guest kvm reads the same lines.
      for (const target of [...statics, ...dynamic]) assert.ok(!target.startsWith('v86/') || target === 'v86/guest-report.ts', `${file} imports ${target}`);
    }
    assert.ok(!statics.includes('cli/microvm/linux.ts'), `${file} imports the linux module statically`);
    if (dynamic.includes('cli/microvm/linux.ts')) assert.equal(file, 'cli/microvm/main.ts');
  }
  assert.match(readFileSync(join(SRC, 'cli/microvm/main.ts'), 'utf8'), /await import\('\.\/linux\.js'\)/);
  // What the simulated session loads: main.ts and its static imports, none of them from v86.
  const seen = new Set<string>();
  const queue = ['cli/microvm/main.ts'];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...importsOf(join(SRC, file)).static);
  }
  assert.ok(seen.has('cli/microvm/guest-fixtures.ts'));
  assert.deepEqual([...seen].filter((file) => file.startsWith('v86/') || file === 'cli/microvm/linux.ts'), []);
});

const manifest = guestFixtures();

if (manifest === undefined) {
  test('npm start -- --guest linux: Linux drives the balloon, live', (t) => {
    // Skips loudly, or fails under VMM_METRICS_REQUIRE_GUEST=1 (CI, which fetches the guest).
    guestOrSkip(t);
  });
} else {
  runWithGuest(manifest);
}

function runWithGuest(guest: GuestManifest): void {
  test("the session finds the fixtures the tests find (its own reader of guest:fetch's manifest)", () => {
    const files = readLinuxGuest(guest.dir);
    assert.deepEqual(files, {
      dir: guest.dir,
      kernelRelease: guest.kernel.release,
      cmdline: guest.kernel.cmdline,
      bios: guest.bios.path,
      vgaBios: guest.vgaBios.path,
      kernel: guest.kernel.image.path,
      initramfs: guest.initramfs.path,
    });
  });

  describe(`npm start -- --guest linux --duration-s ${SESSION_S} --serve: one boot, the whole story`, { timeout: 120_000 }, () => {
    let dir = '';
    let path = '';
    let run: Run | undefined;
    const ran = (): Run => {
      assert.ok(run, 'the session did not run');
      return run;
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-linux-'));
      path = join(dir, 'metrics.json');
      run = await runSession(['--guest', 'linux', '--duration-s', String(SESSION_S), '--metrics-path', path, '--serve', '--port', '0'], guest.dir, { deadlineS: SESSION_S + 30 });
      const up = /up ([\d.]+) s after the emulator started/.exec(run.stdout)?.[1];
      console.log(`# the session ran ${run.wallS.toFixed(1)} s; Linux was up after ${up ?? '?'} s`);
    });

    after(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    test('it ends by itself at the end of the duration: exit 0, a summary, nothing on stderr but where it serves', () => {
      const r = ran();
      assert.equal(r.signal, null);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^Serving the VMs' metrics at http:\/\/127\.0\.0\.1:\d+\/metrics\n$/);
      const summary = /\nSummary \(the session is over, after ([\d.]+) s\)\n/.exec(r.stdout);
      assert.ok(summary, r.stdout.slice(-2000));
      assert.ok(Math.abs(Number(summary[1]) - SESSION_S) < 1, `${summary[1]} s`);
      // Nothing of v86 kept the process alive: it exits as the summary is out.
      assert.ok(r.wallS < SESSION_S + 5, `the process lived ${r.wallS.toFixed(1)} s`);
    });

    test('the view shows the boot as it goes: each second a frame, the stages passing, v86 running', () => {
      const frames = ran().frames;
      const booting = frames.filter((frame) => frame.booting);
      assert.ok(booting.length >= 5, `${booting.length} frames while booting`);
      assert.ok(frames.slice(0, booting.length).every((frame) => frame.booting), 'the boot comes first');
      for (const [i, frame] of frames.entries()) {
        if (i > 0) assert.ok(frame.elapsedS > (frames[i - 1]?.elapsedS ?? 0), 'the clock moves: not a frozen screen');
      }
      assert.equal(booting[0]?.stages, '▸ firmware  · kernel  · modules  · driver  · first report');
      assert.match(booting.at(-1)?.stages ?? '', /^✓ firmware {2}✓ kernel /, 'the kernel was seen booting, and /init started');
      assert.ok(booting.some((frame) => /v86 runs [\d.]+ G instructions\/s/.test(frame.text)));
      assert.ok(booting.some((frame) => /^ {6}console {2}\[ *\d+\.\d+\] /m.test(frame.text)), "the kernel's own messages");
    });

    test("MemTotal, from the guest's console, falls by 32 MiB, then 64 MiB, as the balloon reaches each target, and comes back", () => {
      const up = ran().frames.filter((frame) => !frame.booting);
      const at = (target: number): Frame[] => up.filter((frame) => frame.targetMib === target && frame.actualMib === target);
      assert.ok(at(32).some((frame) => frame.belowBootMib === 32), `at 32 MiB: ${at(32).map((f) => f.belowBootMib).join(', ')}`);
      assert.ok(at(64).some((frame) => frame.belowBootMib === 64), `at 64 MiB: ${at(64).map((f) => f.belowBootMib).join(', ')}`);
      const last = up.at(-1);
      assert.equal(last?.targetMib, 0);
      assert.equal(last.actualMib, 0);
      assert.equal(last.belowBootMib, 0, 'deflated: MemTotal is back');
      // The guest never shows more taken than the balloon was asked for.
      assert.ok(up.every((frame) => (frame.belowBootMib ?? 0) <= 64));
    });

    test("the summary prints the guest's last report: MemTotal as at boot, 64 MiB inflated and deflated", () => {
      const report = /the guest's last report \(seq \d+, uptime [\d.]+ s\): MemTotal (\d+) kB \((\d+) kB at boot\), MemFree \d+ kB, MemAvailable \d+ kB, balloon_inflate (\d+), balloon_deflate (\d+), balloon_migrate \d+ pages/.exec(ran().stdout);
      assert.ok(report, ran().stdout.slice(-2000));
      const [, total, atBoot, inflated, deflated] = report.map(Number);
      assert.equal(total, atBoot);
      assert.ok((inflated ?? 0) >= (64 * MIB) / 4096, `${inflated} pages inflated`);
      assert.equal(deflated, inflated, 'every page given back');
      assert.match(ran().stdout, /zeroed by the balloon in v86's RAM, each time the guest named a range: inflate (6[4-9]|[7-9]\d)\.\d MiB, free page reporting [1-9][\d.]* MiB, free page hinting [\d.]+ MiB; v86 keeps its RAM, so none went back to the host/);
      assert.match(ran().stdout, /free ranges the guest named, counting each range each time, whether it held memory then or not: reported [1-9][\d.]* MiB in [1-9]\d* ranges, hinted [\d.]+ MiB in \d+/);
    });

    test("the statistics are Linux's own: the view's guest stats give its MemTotal", () => {
      const up = ran().frames.filter((frame) => frame.statsTotalMib !== undefined && frame.memTotalMib !== undefined);
      assert.ok(up.length >= 10);
      const last = up.at(-1);
      assert.ok(Math.abs((last?.statsTotalMib ?? 0) - (last?.memTotalMib ?? 0)) <= 1, `${last?.statsTotalMib} vs ${last?.memTotalMib}`);
      assert.match(last?.text ?? '', /guest stats {2}free \d+ MiB {2}available \d+ MiB {2}total \d+ MiB {2}major faults \d+/);
    });

    test('the metrics file: a line a second, every one valid for `vmm-metrics validate`, the balloon counters moved by Linux', async () => {
      const r = ran();
      const { totals, timestamps } = readLines(path);
      assert.ok(timestamps.length >= SESSION_S - 2 && timestamps.length <= SESSION_S + 3, `${timestamps.length} lines in ${SESSION_S} s`);
      assert.ok((totals['inflate_count'] ?? 0n) > 0n, 'inflate_count summed over the lines');
      assert.ok((totals['deflate_count'] ?? 0n) > 0n);
      assert.ok((totals['stats_updates_count'] ?? 0n) >= 10n, 'statistics every second once up');
      assert.ok((totals['free_page_report_count'] ?? 0n) > 0n, 'free page reporting is on');
      assert.ok((totals['free_page_hint_count'] ?? 0n) > 0n, 'the hinting run was answered');
      assert.equal(totals['event_fails'], 0n);
      assert.match(r.stdout, new RegExp(`inflate_count ${String(totals['inflate_count'])},`), "the summary's totals are the lines' sums");
      const result = await runCli(['validate', path]);
      assert.equal(result.stderr, '');
      assert.equal(result.status, 0);
      assert.equal(result.stdout, `${path}: ${timestamps.length} lines, all valid\n`);
    });

    test('--serve: scraped while the balloon held 64 MiB', () => {
      const text = ran().scrape;
      assert.ok(text !== undefined, 'a scrape answered');
      assert.match(text, /^firecracker_balloon_actual_bytes\{vm="vm-1"\} 67108864$/m);
      assert.match(text, /^firecracker_balloon_inflate_count_total\{vm="vm-1"\} [1-9]\d*$/m);
    });
  });

  test('Ctrl-C while Linux boots: a clean stop, a last line, the emulator gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-linux-'));
    try {
      const path = join(dir, 'metrics.json');
      const run = await runSession(['--guest', 'linux', '--metrics-path', path], guest.dir, { interruptAfterFrames: 3, deadlineS: 30 });
      assert.equal(run.signal, null, 'it exited by itself');
      assert.equal(run.code, 130, run.stderr);
      assert.equal(run.stderr, '');
      assert.ok(run.frames.every((frame) => frame.booting));
      assert.match(run.stdout, /\nSummary \(stopped by SIGINT, after [\d.]+ s\)\n/);
      assert.match(run.stdout, /Linux \S+ in v86 \(256 MiB\): still booting after [\d.]+ s, at the \w+ stage/);
      const { timestamps } = readLines(path);
      assert.ok(timestamps.length >= 3, `${timestamps.length} lines`);
      assert.ok((timestamps.at(-1) ?? 0) >= (run.signalledAt ?? Infinity), 'a last line, after the signal');
      // The emulator was destroyed: nothing kept the process alive after the summary.
      assert.ok(Date.now() - (run.signalledAt ?? 0) < 10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
