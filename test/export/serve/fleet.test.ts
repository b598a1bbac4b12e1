/**
 * `MetricsFleet` against real files and named pipes written by the library's own writer: the
 * served totals equal the writing documents' cumulative counts, family by family, device by
 * device, through restarts, rotation, torn lines and sources that come and go.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MetricsFleet } from '../../../src/export/serve/fleet.js';
import { Metrics } from '../../../src/metrics/writer.js';
import { FirecrackerMetrics } from '../../../src/document/firecracker-metrics.js';
import { closeFd, mkfifo, openFifoWriter, tempDir, waitFor } from '../../reader/helpers.js';
import { busyDocument, collectLines, expectedSamples, millionths, parseExposition } from './support.js';

let dir: string;
let remove: () => void;
before(() => {
  ({ dir, remove } = tempDir('vmm-metrics-serve-'));
});
after(() => {
  remove();
});

/** The `firecracker_` samples of a render. */
function served(fleet: MetricsFleet): Map<string, string> {
  return new Map([...parseExposition(fleet.render())].filter(([series]) => series.startsWith('firecracker_')));
}

function sample(fleet: MetricsFleet, series: string): string | undefined {
  return parseExposition(fleet.render()).get(series);
}

function fleetOf(): MetricsFleet {
  return new MetricsFleet({ pollIntervalMs: 20, rescanMs: 50 });
}

async function linesRead(fleet: MetricsFleet, path: string, lines: number): Promise<void> {
  await waitFor(() => (fleet.sources.get(path)?.lines ?? 0) >= lines, `${lines} lines of ${path}`);
  assert.equal(fleet.sources.get(path)?.lines, lines);
}

test('a file: every family of the whole document equals the writer’s cumulative count, exactly', async () => {
  const path = join(dir, 'vm-a.json');
  const { document, work } = busyDocument();
  const metrics = new Metrics(document);
  metrics.init(path, { flushIntervalMs: 0 });
  for (let round = 0; round < 20; round++) {
    work(round);
    metrics.write();
  }
  const fleet = fleetOf();
  try {
    fleet.follow(path);
    await linesRead(fleet, path, 20);
    const expected = expectedSamples(document, 'vm-a');
    assert.ok(expected.size > 200, `only ${expected.size} samples expected`);
    assert.deepEqual(served(fleet), expected);
    // Past 2^53, exact: 20 × 2^58 + 190.
    assert.equal(expected.get('firecracker_block_read_bytes_total{vm="vm-a",device="rootfs"}'), (20n * 2n ** 58n + 190n).toString());
    assert.equal(expected.get('firecracker_api_server_process_startup_time_seconds{vm="vm-a"}'), '1.250001');
    // More lines while it follows: the totals keep up.
    for (let round = 20; round < 25; round++) {
      work(round);
      metrics.write();
    }
    await linesRead(fleet, path, 25);
    assert.deepEqual(served(fleet), expectedSamples(document, 'vm-a'));
  } finally {
    metrics.close();
    await fleet.close();
  }
});

test('a named pipe whose writer restarts (a new VMM): the totals continue across writers, none goes down', async () => {
  const path = join(dir, 'vm-b.fifo');
  mkfifo(path);
  const fleet = fleetOf();
  try {
    fleet.follow(path);
    // No writer yet: nothing to serve, and a scrape does not wait.
    assert.equal(served(fleet).size, 0);
    const first = busyDocument();
    const writer1 = new Metrics(first.document);
    writer1.init(path, { flushIntervalMs: 0, id: 'vm-b' });
    // One line at a time: the pipe holds about four, and its reader is this very process.
    for (let round = 0; round < 10; round++) {
      first.work(round);
      writer1.write();
      await linesRead(fleet, path, round + 1);
    }
    const before = served(fleet);
    writer1.close();
    await waitFor(() => fleet.sources.get(path)?.reopened.writer_closed === 1, 'the writer to close');

    // A new process's document counts from zero again.
    const second = busyDocument();
    const writer2 = new Metrics(second.document);
    writer2.init(path, { flushIntervalMs: 0, id: 'vm-b' });
    for (let round = 0; round < 7; round++) {
      second.work(round);
      writer2.write();
      await linesRead(fleet, path, 11 + round);
    }
    writer2.close();
    const now = served(fleet);
    const one = expectedSamples(first.document, 'vm-b');
    const two = expectedSamples(second.document, 'vm-b');
    assert.ok(now.size > 200);
    assert.deepEqual([...now.keys()].sort(), [...two.keys()].sort());
    for (const [series, value] of now) {
      const counter = series.includes('_total{');
      if (counter) {
        assert.equal(millionths(value), millionths(one.get(series) ?? '0') + millionths(two.get(series) ?? '0'), series);
        assert.ok(millionths(value) >= millionths(before.get(series) ?? '0'), `${series} went down`);
      } else {
        assert.equal(value, two.get(series), `${series} is the last line's value`);
      }
    }
  } finally {
    await fleet.close();
  }
});

test('a torn line (the writer dies mid-line) and a malformed line are counted and skipped; nothing else is lost', async () => {
  const path = join(dir, 'vm-c.fifo');
  mkfifo(path);
  const fleet = fleetOf();
  try {
    fleet.follow(path);
    const { document, work } = busyDocument();
    // Lines rendered by the document, written by hand so that one can be torn.
    const metrics = new Metrics(document);
    const lines = collectLines(metrics);
    work(0);
    metrics.write();
    work(1);
    metrics.write(); // this one will be torn
    work(2);
    metrics.write();
    metrics.close();
    const [line0, line1, line2] = lines as [string, string, string];
    let fd = await openFifoWriter(path);
    writeSync(fd, line0);
    writeSync(fd, line1.slice(0, 300));
    closeFd(fd);
    // The next writer comes once the reader has seen this one go: a pipe has no line boundaries
    // of its own, and a writer opening before that would continue the torn line.
    await waitFor(() => fleet.sources.get(path)?.reopened.writer_closed === 1, 'the torn writer to be gone');
    fd = await openFifoWriter(path);
    writeSync(fd, '{"utc_timestamp_ms":1,"balloon":[]}\n');
    writeSync(fd, line2);
    closeFd(fd);
    await waitFor(() => fleet.sources.get(path)?.lines === 2 && fleet.sources.get(path)?.invalidLines === 2, 'two lines and two invalid');
    const rendered = parseExposition(fleet.render());
    assert.equal(rendered.get(`vmm_metrics_serve_invalid_lines_total{source="${path}"}`), '2');
    assert.equal(rendered.get(`vmm_metrics_serve_lines_total{source="${path}"}`), '2');
    // inflate_count added 1, 2, 3: the torn line's 2 is gone, the others are there.
    assert.equal(rendered.get('firecracker_balloon_inflate_count_total{vm="vm-c"}'), '4');
  } finally {
    await fleet.close();
  }
});

test('rotation: a file renamed away and created again, and a file truncated in place, continue the totals', async () => {
  const path = join(dir, 'vm-d.json');
  const { document, work } = busyDocument();
  const metrics = new Metrics(document);
  metrics.init(path, { flushIntervalMs: 0 });
  const fleet = fleetOf();
  try {
    fleet.follow(path);
    for (let round = 0; round < 5; round++) {
      work(round);
      metrics.write();
    }
    await linesRead(fleet, path, 5);
    // logrotate's default: rename, then the writer opens the path again (ours does on its own).
    renameSync(path, `${path}.1`);
    for (let round = 5; round < 9; round++) {
      work(round);
      metrics.write();
    }
    await linesRead(fleet, path, 9);
    assert.equal(fleet.sources.get(path)?.reopened.replaced, 1);
    // copytruncate: the content copied elsewhere, the file emptied in place.
    truncateSync(path, 0);
    await waitFor(() => fleet.sources.get(path)?.reopened.truncated === 1, 'the truncation to be seen');
    for (let round = 9; round < 12; round++) {
      work(round);
      metrics.write();
    }
    await linesRead(fleet, path, 12);
    assert.deepEqual(served(fleet), expectedSamples(document, 'vm-d'));
  } finally {
    metrics.close();
    await fleet.close();
  }
});

test('a directory: *.json files and pipes are followed as they appear, dropped when removed; other files are not', async () => {
  const { dir: watched, remove: removeWatched } = tempDir('vmm-metrics-serve-dir-');
  const fleet = fleetOf();
  try {
    writeFileSync(join(watched, 'notes.txt'), 'not metrics\n');
    fleet.followDirectory(watched);
    const a = join(watched, 'a.json');
    const pipe = join(watched, 'b.fifo');
    const { document, work } = busyDocument();
    const metrics = new Metrics(document);
    metrics.init(a, { flushIntervalMs: 0 });
    work(0);
    metrics.write();
    mkfifo(pipe);
    await waitFor(() => fleet.sources.size === 2, 'both sources');
    assert.deepEqual([...fleet.sources.keys()].sort(), [a, pipe]);
    await linesRead(fleet, a, 1);
    const fd = await openFifoWriter(pipe);
    appendFileSync(join(watched, 'ignored.log'), 'x\n');
    const other = busyDocument();
    const writer = new Metrics(other.document);
    const lines = collectLines(writer);
    other.work(0);
    writer.write();
    writer.close();
    writeSync(fd, lines[0] as string);
    await linesRead(fleet, pipe, 1);
    assert.ok(sample(fleet, 'firecracker_balloon_inflate_count_total{vm="b"}') !== undefined);
    closeFd(fd);

    metrics.close();
    rmSync(a);
    await waitFor(() => fleet.sources.size === 1, 'the removed file to be dropped');
    const rendered = parseExposition(fleet.render());
    assert.equal(rendered.get('firecracker_balloon_inflate_count_total{vm="a"}'), undefined);
    assert.equal(rendered.get('firecracker_balloon_inflate_count_total{vm="b"}'), '1');
    assert.equal(rendered.get('vmm_metrics_serve_sources_removed_total'), '1');
  } finally {
    await fleet.close();
    removeWatched();
  }
});

describe('the vm label', () => {
  test('is unique whatever the ids: ids x, "x (<path of c>)", then x from c give no repeated series (issue 16 §2)', async () => {
    const fleet = fleetOf();
    const paths = ['forged-a.json', 'forged-b.json', 'forged-c.json'].map((name) => join(dir, name));
    const ids = ['x', `x (${paths[2] ?? ''})`, 'x'];
    const writers: { close(): void }[] = [];
    try {
      paths.forEach((path, i) => {
        const { document, work } = busyDocument();
        const metrics = new Metrics(document);
        metrics.init(path, { flushIntervalMs: 0, id: ids[i] as string });
        work(0);
        metrics.write();
        writers.push(metrics);
        fleet.follow(path);
      });
      for (const path of paths) await linesRead(fleet, path, 1);
      // parseExposition throws on a repeated series: on the main of issue 16, 180 of them.
      const rendered = parseExposition(fleet.render());
      const vms = [...rendered.keys()].filter((s) => s.startsWith('vmm_metrics_serve_source_info')).map((s) => /,vm="((?:[^"\\]|\\.)*)"/.exec(s)?.[1]);
      assert.deepEqual(vms, ['x', `x (${paths[2] ?? ''})`, `x (${paths[2] ?? ''} #2)`]);
    } finally {
      for (const w of writers) w.close();
      await fleet.close();
    }
  });


  test('is the line’s id, else the file’s name; two sources with one id are told apart', async () => {
    const fleet = fleetOf();
    const paths = ['x.json', 'y.json', 'z.json'].map((name) => join(dir, name));
    const writers: { close(): void }[] = [];
    try {
      paths.forEach((path, i) => {
        const { document, work } = busyDocument();
        const metrics = new Metrics(document);
        metrics.init(path, { flushIntervalMs: 0, ...(i === 0 ? {} : { id: 'shared "id"\n' }) });
        work(0);
        metrics.write();
        writers.push(metrics);
        fleet.follow(path);
      });
      for (const path of paths) await linesRead(fleet, path, 1);
      const rendered = parseExposition(fleet.render());
      const labels = [...rendered.keys()].filter((s) => s.startsWith('firecracker_balloon_inflate_count_total')).sort();
      assert.deepEqual(labels, [
        `firecracker_balloon_inflate_count_total{vm="shared \\"id\\"\\n (${paths[2] ?? ''})"}`,
        'firecracker_balloon_inflate_count_total{vm="shared \\"id\\"\\n"}',
        'firecracker_balloon_inflate_count_total{vm="x"}',
      ]);
    } finally {
      for (const w of writers) w.close();
      await fleet.close();
    }
  });
});

test('a path that does not exist yet is retried and counted, then followed once it appears', async () => {
  const path = join(dir, 'late.json');
  const fleet = fleetOf();
  try {
    fleet.follow(path);
    await waitFor(() => (fleet.sources.get(path)?.errors ?? 0) >= 1, 'an error for the missing path');
    assert.equal(parseExposition(fleet.render()).get(`vmm_metrics_serve_errors_total{source="${path}"}`) !== '0', true);
    const { document, work } = busyDocument();
    const metrics = new Metrics(document);
    metrics.init(path, { flushIntervalMs: 0 });
    work(0);
    metrics.write();
    metrics.close();
    await linesRead(fleet, path, 1);
    assert.deepEqual(served(fleet), expectedSamples(document, 'late'));
  } finally {
    await fleet.close();
  }
});

test('a stalled writer (half a line, then nothing) holds up neither a scrape nor another source', async () => {
  const stalled = join(dir, 'stalled.fifo');
  const busy = join(dir, 'busy.json');
  mkfifo(stalled);
  const fleet = fleetOf();
  const fd = await (async () => {
    fleet.follow(stalled);
    return openFifoWriter(stalled);
  })();
  try {
    writeSync(fd, '{"utc_timestamp_ms":17000000');
    const { document, work } = busyDocument();
    const metrics = new Metrics(document);
    metrics.init(busy, { flushIntervalMs: 0 });
    fleet.follow(busy);
    for (let round = 0; round < 3; round++) {
      work(round);
      metrics.write();
    }
    metrics.close();
    await linesRead(fleet, busy, 3);
    assert.deepEqual(served(fleet), expectedSamples(document, 'busy'));
    assert.equal(fleet.sources.get(stalled)?.lines, 0);
  } finally {
    closeFd(fd);
    await fleet.close();
  }
});

test('an exposition is rendered once per change: the same bytes until a line, a fault or a source changes it', async () => {
  const path = join(dir, 'cached.json');
  const { document, work } = busyDocument();
  const metrics = new Metrics(document);
  metrics.init(path, { flushIntervalMs: 0 });
  work(0);
  metrics.write();
  const fleet = fleetOf();
  try {
    fleet.follow(path);
    await linesRead(fleet, path, 1);
    const first = fleet.renderBytes();
    // Nothing changed: the very same Buffer, shared by every scrape in between (on the main of
    // issue 16, a new 16 MB rendering per request for a thousand VMs).
    assert.equal(fleet.renderBytes(), first);
    assert.equal(fleet.renderBytes(), first);
    assert.match(first.toString(), /^vmm_metrics_serve_scrapes_total 1$/m);
    work(1);
    metrics.write();
    await linesRead(fleet, path, 2);
    const second = fleet.renderBytes();
    assert.notEqual(second, first);
    assert.match(second.toString(), /^vmm_metrics_serve_scrapes_total 2$/m);
    assert.deepEqual(served(fleet), expectedSamples(document, 'cached'));
    // An invalid line changes the counts of serve's own families.
    appendFileSync(path, 'garbage\n');
    await waitFor(() => fleet.sources.get(path)?.invalidLines === 1, 'the invalid line');
    const third = fleet.renderBytes();
    assert.notEqual(third, second);
    // So does a source that comes, or goes.
    fleet.follow(join(dir, 'cached-missing.json'));
    const fourth = fleet.renderBytes();
    assert.notEqual(fourth, third);
    await fleet.unfollow(join(dir, 'cached-missing.json'));
    assert.notEqual(fleet.renderBytes(), fourth);
  } finally {
    metrics.close();
    await fleet.close();
  }
});

test("the log never quotes a line that is not in the metrics format, and clips the rest (issue 16 §2)", async () => {
  const messages: string[] = [];
  const fleet = new MetricsFleet({ pollIntervalMs: 20, rescanMs: 50, strict: true, log: (message) => messages.push(message) });
  // What a followed name might be made to point at: a file that is no metrics file at all.
  const secret = 'root:$6$s3cr3t-hash:19000:0:99999:7:::';
  const cases = {
    'not-json.json': `${secret}\n`,
    'json-string.json': `${JSON.stringify(secret)}\n`,
    'json-array.json': `[${JSON.stringify(secret)}]\n`,
    // A metrics line (the writer's own) with a key of 100,000 characters: said, but clipped.
    'long-key.json': `{"utc_timestamp_ms":1700000000000,"balloon":{"${'k'.repeat(100_000)}":1}}\n`,
  };
  try {
    for (const [name, text] of Object.entries(cases)) {
      writeFileSync(join(dir, name), text);
      fleet.follow(join(dir, name));
    }
    await waitFor(() => messages.length >= 4, 'a message per file');
    const byFile = (name: string): string => messages.find((m) => m.startsWith(`${join(dir, name)}:`)) ?? '';
    // On the main of issue 16: `invalid JSON: expected a JSON value (found "r" at column 1)`, and the string's first 37 characters.
    assert.equal(byFile('not-json.json'), `${join(dir, 'not-json.json')}:1: invalid line skipped: not JSON (from column 1): not a metrics line`);
    assert.equal(byFile('json-string.json'), `${join(dir, 'json-string.json')}:1: invalid line skipped: JSON, but not an object: not a metrics line`);
    assert.equal(byFile('json-array.json'), `${join(dir, 'json-array.json')}:1: invalid line skipped: JSON, but not an object: not a metrics line`);
    for (const message of messages) assert.ok(!message.includes('root') && !message.includes('s3cr3t'), message);
    const long = byFile('long-key.json');
    assert.match(long, /invalid line skipped: balloon\.k{20,}… \(100[0-9]{3} characters\)$/);
    assert.ok(long.length < join(dir, 'long-key.json').length + 300, `${String(long.length)} characters`);
  } finally {
    await fleet.close();
  }
});

test('a source whose samples cannot be written is left out, counted and said once; the others are served (issue 16 §2)', async () => {
  const messages: string[] = [];
  const fleet = new MetricsFleet({ pollIntervalMs: 20, rescanMs: 50, log: (message) => messages.push(message) });
  const good = join(dir, 'render-good.json');
  const bad = join(dir, 'render-bad.json');
  const writers = [good, bad].map((path) => {
    const { document, work } = busyDocument();
    const metrics = new Metrics(document);
    metrics.init(path, { flushIntervalMs: 0 });
    work(0);
    metrics.write();
    fleet.follow(path);
    return { document, metrics, work };
  });
  try {
    await linesRead(fleet, good, 1);
    await linesRead(fleet, bad, 1);
    // A fault while writing one VM's net devices, as the ExpositionBuffer's growth past Node's
    // largest Buffer threw (`The value of "size" is out of range`, issue 16): every scrape was a 500.
    const totals = fleet.sources.get(bad)?.totals;
    assert.ok(totals !== undefined);
    const groupsOf = totals.groupsOf.bind(totals);
    totals.groupsOf = (entry) => {
      if (entry === 'net') throw new RangeError('The value of "size" is out of range.');
      return groupsOf(entry);
    };
    const first = parseExposition(fleet.render());
    for (const [series, value] of expectedSamples(writers[0]?.document as FirecrackerMetrics, 'render-good')) assert.equal(first.get(series), value, series);
    assert.deepEqual([...first.keys()].filter((s) => s.startsWith('firecracker_') && s.includes('vm="render-bad"')), []);
    assert.equal(first.get(`vmm_metrics_serve_left_out_total{source="${bad}",reason="render_failed"}`), '1');
    assert.equal(first.get(`vmm_metrics_serve_left_out_total{source="${good}",reason="render_failed"}`), '0');
    assert.equal(first.get(`vmm_metrics_serve_lines_total{source="${bad}"}`), '1');
    // Each exposition without it counts; the log says it once.
    writers[1]?.work(1);
    writers[1]?.metrics.write();
    await linesRead(fleet, bad, 2);
    assert.equal(parseExposition(fleet.render()).get(`vmm_metrics_serve_left_out_total{source="${bad}",reason="render_failed"}`), '2');
    assert.deepEqual(
      messages.filter((m) => m.includes('left out')),
      [`${bad}: left out of the exposition (render_failed: The value of "size" is out of range.); vmm_metrics_serve_left_out_total counts each exposition without it (said once)`],
    );
  } finally {
    for (const { metrics } of writers) metrics.close();
    await fleet.close();
  }
});

describe("one writer's devices are bounded (issue 16 §2)", () => {
  /** A whole line as the library writes it, with its one net device (`net_eth0`) in `{{devices}}`'s place, and its timestamp in `{{ts}}`'s. */
  function lineTemplate(): { template: string; group: string } {
    const document = new FirecrackerMetrics();
    document.net.alloc('eth0').rx_bytes_count.add(1500);
    const metrics = new Metrics(document);
    const lines = collectLines(metrics);
    metrics.write();
    const line = lines[0] as string;
    const group = JSON.stringify((JSON.parse(line) as Record<string, unknown>).net_eth0);
    const device = `"net_eth0":${group}`;
    assert.ok(line.includes(device));
    return { template: line.replace(device, '{{devices}}').replace(/"utc_timestamp_ms":[0-9]+/, '"utc_timestamp_ms":{{ts}}'), group };
  }
  const { template, group } = lineTemplate();
  /** A valid line whose net devices are `ids` (in the writer's order: sorted), each counting 1500 received bytes. */
  function lineWith(timestampMs: number, ids: readonly string[], net: string): string {
    return template.replace('{{ts}}', String(timestampMs)).replace('{{devices}}', [...ids].sort().map((id) => `${JSON.stringify(`net_${id}`)}:${net}`).join(','));
  }
  function netSeries(fleet: MetricsFleet): string[] {
    return [...parseExposition(fleet.render()).keys()].filter((s) => s.startsWith('firecracker_net_rx_bytes_total'));
  }

  test('a device id over 256 characters and a 257th device are refused, counted and said; the VM and the others are served', async () => {
    const messages: string[] = [];
    const fleet = new MetricsFleet({ pollIntervalMs: 20, rescanMs: 50, log: (message) => messages.push(message) });
    const hostile = join(dir, 'devices-hostile.json');
    const quiet = join(dir, 'devices-quiet.json');
    // On the main of issue 16, 12 lines of a 1 MB id made a 336 MB scrape.
    const longId = 'n'.repeat(1_000_000);
    const many = Array.from({ length: 300 }, (_, i) => `tap${String(i)}`);
    writeFileSync(hostile, lineWith(1_700_000_000_000, [longId, 'eth0'], group) + lineWith(1_700_000_001_000, ['eth0', ...many], group));
    writeFileSync(quiet, lineWith(1_700_000_000_000, ['eth0'], group));
    try {
      fleet.follow(hostile);
      fleet.follow(quiet);
      await linesRead(fleet, hostile, 2);
      await linesRead(fleet, quiet, 1);
      const text = fleet.render();
      const samples = parseExposition(text);
      assert.ok(text.length < 2_000_000, `${String(text.length)} characters`);
      assert.ok(!text.includes('nnnnnnnnnn'));
      assert.equal(samples.get(`vmm_metrics_serve_devices{source="${hostile}"}`), '256');
      assert.equal(samples.get(`vmm_metrics_serve_devices_refused_total{source="${hostile}",reason="id_too_long"}`), '1');
      // eth0 and 255 of the tap devices are held: 45 refused.
      assert.equal(samples.get(`vmm_metrics_serve_devices_refused_total{source="${hostile}",reason="too_many"}`), '45');
      assert.equal(samples.get(`vmm_metrics_serve_devices{source="${quiet}"}`), '1');
      assert.equal(samples.get('firecracker_net_rx_bytes_total{vm="devices-hostile",device="eth0"}'), '3000');
      assert.equal(samples.get('firecracker_net_rx_bytes_total{vm="devices-quiet",device="eth0"}'), '1500');
      // In the line's order, the first 255 taps are held (tap0, tap1, tap10, …), the last (…, tap98, tap99) refused.
      assert.equal(samples.get('firecracker_net_rx_bytes_total{vm="devices-hostile",device="tap0"}'), '1500');
      assert.equal(samples.get('firecracker_net_rx_bytes_total{vm="devices-hostile",device="tap99"}'), undefined);
      const said = messages.filter((m) => m.includes('device left out'));
      assert.ok(said.length >= 1 && said.every((m) => m.length < 300), said.join('\n'));
      assert.match(said[0] as string, /devices-hostile\.json:1: device left out of the totals \(an id longer than 256 characters\)/);
    } finally {
      await fleet.close();
    }
  });

  test('2,000 plug/unplug cycles with fresh ids (a whole document a line): devices not written for 10 lines are forgotten, the scrape back to its size', async () => {
    const fleet = new MetricsFleet({ pollIntervalMs: 20, rescanMs: 50 });
    const path = join(dir, 'devices-churn.json');
    writeFileSync(path, lineWith(1_700_000_000_000, ['eth0'], group));
    try {
      fleet.follow(path);
      await linesRead(fleet, path, 1);
      const before = fleet.render().length;
      // Each line: eth0 and a device seen on that line only (hot-plugged, then unplugged).
      const churn: string[] = [];
      for (let i = 0; i < 2_000; i++) churn.push(lineWith(1_700_000_000_000 + i, ['eth0', `hot${String(i)}`], group));
      appendFileSync(path, churn.join(''));
      await linesRead(fleet, path, 2_001);
      const samples = parseExposition(fleet.render());
      // The last 10 lines' hot devices are held still, the 1,990 before them forgotten.
      assert.equal(samples.get(`vmm_metrics_serve_devices{source="${path}"}`), '11');
      assert.equal(samples.get(`vmm_metrics_serve_devices_forgotten_total{source="${path}"}`), '1990');
      // Ten lines without any hot device: eth0 alone, the scrape back to its size before the churn.
      appendFileSync(path, Array.from({ length: 10 }, (_, i) => lineWith(1_700_001_000_000 + i, ['eth0'], group)).join(''));
      await linesRead(fleet, path, 2_011);
      assert.deepEqual(netSeries(fleet), ['firecracker_net_rx_bytes_total{vm="devices-churn",device="eth0"}']);
      assert.equal(parseExposition(fleet.render()).get('firecracker_net_rx_bytes_total{vm="devices-churn",device="eth0"}'), String(1500 * 2_011));
      const after = fleet.render().length;
      // The same samples but serve's own numbers (lines, devices forgotten), a few characters longer.
      assert.ok(Math.abs(after - before) < 64, `${String(before)} then ${String(after)} characters`);
    } finally {
      await fleet.close();
    }
  });

  test("a source whose samples pass its budget is left out, counted and said; the others are served", async () => {
    const messages: string[] = [];
    const fleet = new MetricsFleet({ pollIntervalMs: 20, rescanMs: 50, maxSourceBytes: 64 * 1024, log: (message) => messages.push(message) });
    const big = join(dir, 'budget-big.json');
    const small = join(dir, 'budget-small.json');
    // 256 devices of 256-character ids: within the caps, several MiB of samples.
    writeFileSync(big, lineWith(1_700_000_000_000, Array.from({ length: 256 }, (_, i) => `${String(i).padStart(3, '0')}${'d'.repeat(253)}`), group));
    writeFileSync(small, lineWith(1_700_000_000_000, ['eth0'], group));
    try {
      fleet.follow(big);
      fleet.follow(small);
      await linesRead(fleet, big, 1);
      await linesRead(fleet, small, 1);
      const samples = parseExposition(fleet.render());
      assert.equal(samples.get('firecracker_net_rx_bytes_total{vm="budget-small",device="eth0"}'), '1500');
      assert.deepEqual([...samples.keys()].filter((s) => s.startsWith('firecracker_') && s.includes('vm="budget-big"')), []);
      assert.equal(samples.get(`vmm_metrics_serve_left_out_total{source="${big}",reason="over_budget"}`), '1');
      assert.equal(samples.get(`vmm_metrics_serve_left_out_total{source="${small}",reason="over_budget"}`), '0');
      assert.deepEqual(
        messages.filter((m) => m.includes('left out of the exposition')),
        [`${big}: left out of the exposition (over_budget: its samples pass 65536 bytes); vmm_metrics_serve_left_out_total counts each exposition without it (said once)`],
      );
    } finally {
      await fleet.close();
    }
  });
});

test('a followed .json swapped for a symbolic link to another file: that file is never read (issue 16 §2)', async () => {
  const watched = join(dir, 'swap-dir');
  mkdirSync(watched);
  const path = join(watched, 'vm-s.json');
  const elsewhere = join(dir, 'swap-elsewhere.json');
  const lines = (id: string, count: number): string => {
    const { document, work } = busyDocument();
    const metrics = new Metrics(document);
    const file = join(dir, `swap-${id}.tmp`);
    metrics.init(file, { flushIntervalMs: 0, id });
    for (let i = 0; i < count; i++) {
      work(i);
      metrics.write();
    }
    metrics.close();
    return readFileSync(file, 'utf8');
  };
  writeFileSync(path, lines('vm-s', 1));
  // Another file, of valid lines: on the main of issue 16 they were read into vm-s's totals until the next rescan.
  writeFileSync(elsewhere, lines('other', 5));
  const messages: string[] = [];
  const fleet = new MetricsFleet({ pollIntervalMs: 20, rescanMs: 60_000, log: (message) => messages.push(message) });
  try {
    fleet.followDirectory(watched);
    await waitFor(() => (fleet.sources.get(path)?.lines ?? 0) >= 1, 'vm-s followed');
    const source = fleet.sources.get(path);
    assert.ok(source !== undefined);
    assert.equal(source.vm, 'vm-s');
    symlinkSync(elsewhere, join(watched, 'link.tmp'));
    renameSync(join(watched, 'link.tmp'), path);
    // Polled 15 times or more meanwhile (every 20 ms), then dropped by the directory's listing: a link is no source.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await waitFor(() => !fleet.sources.has(path), 'the link dropped');
    assert.equal(source.lines, 1);
    assert.equal(source.invalidLines, 0);
    assert.equal(source.reopened.replaced, 0);
    assert.equal(source.vm, 'vm-s');
    assert.ok(!fleet.render().includes('vm="other"'));
    assert.deepEqual(messages.filter((m) => m.includes('vm-s.json:')), []);
  } finally {
    await fleet.close();
  }
});
