/**
 * `vmm-metrics serve` as a real process: its arguments, its HTTP side, and a fleet of two sources
 * — a named pipe whose writer process is killed (SIGKILL) and replaced, and a file — served with
 * totals that continue across the restart.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Metrics } from '../../src/metrics/writer.js';
import { busyDocument, expectedSamples, parseExposition, startPipeWriter } from '../export/serve/support.js';
import { eventually } from '../support/eventually.js';
import { mkfifo, tempDir, waitFor } from '../reader/helpers.js';
import { runCli, RunningCli } from './helpers.js';

let dir: string;
let remove: () => void;
before(() => {
  ({ dir, remove } = tempDir('vmm-metrics-serve-cli-'));
});
after(() => {
  remove();
});

describe('arguments', () => {
  test('nothing to serve, a bad port, a stray argument: usage errors (exit 2)', async () => {
    const none = await runCli(['serve']);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /^vmm-metrics serve: nothing to serve: give --metrics-path PATH, --metrics-dir DIR or --metrics-glob PATTERN/);
    const port = await runCli(['serve', '--metrics-path', 'x.json', '--port', '70000']);
    assert.equal(port.status, 2);
    assert.match(port.stderr, /--port: expected a port from 0 to 65535, got "70000"/);
    const stray = await runCli(['serve', 'x.json']);
    assert.equal(stray.status, 2);
    assert.match(stray.stderr, /unexpected argument "x.json": name sources with --metrics-path, --metrics-dir or --metrics-glob/);
    const glob = await runCli(['serve', '--metrics-glob', '/srv/jailer/firecracker/vm-1/root/metrics.fifo']);
    assert.equal(glob.status, 2);
    assert.match(glob.stderr, /--metrics-glob "\/srv\/jailer\/firecracker\/vm-1\/root\/metrics.fifo": no \* or \? in it/);
  });

  test('help', async () => {
    const help = await runCli(['help', 'serve']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: vmm-metrics serve /);
    assert.match((await runCli(['--help'])).stdout, /serve {13}follow many VMs' files and pipes/);
  });

  test('a port already taken: a clear message and exit 2', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const result = await runCli(['serve', '--metrics-path', join(dir, 'x.json'), '--port', String(port)]);
      assert.equal(result.status, 2);
      assert.match(result.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    } finally {
      taken.close();
    }
  });
});

async function get(url: string, init?: RequestInit): Promise<{ status: number; body: string; type: string | null }> {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.text(), type: response.headers.get('content-type') };
}

test('a pipe whose writer is killed and replaced, and a file: served totals continue, HTTP answers', async () => {
  const fifo = join(dir, 'vm.fifo');
  mkfifo(fifo);
  const file = join(dir, 'file-vm.json');
  const { document, work } = busyDocument();
  const metrics = new Metrics(document);
  metrics.init(file, { flushIntervalMs: 0 });
  for (let round = 0; round < 5; round++) {
    work(round);
    metrics.write();
  }
  metrics.close();
  const serve = new RunningCli(['serve', '--metrics-path', fifo, '--metrics-path', file, '--port', '0', '--poll-ms', '50']);
  let writer = startPipeWriter(fifo, 'pipe-vm');
  try {
    await serve.waitForOutput(/serving http:\/\/127\.0\.0\.1:(\d+)\/metrics for 2 paths/, 'stderr');
    const url = /serving (http:\/\/\S+)\/metrics/.exec(serve.stderr)?.[1] ?? '';
    const scrape = async (): Promise<Map<string, string>> => {
      const { status, body, type } = await get(`${url}/metrics`);
      assert.equal(status, 200);
      assert.equal(type, 'text/plain; version=0.0.4; charset=utf-8');
      return parseExposition(body);
    };
    const inflations = (samples: Map<string, string>): number => Number(samples.get('firecracker_balloon_inflate_count_total{vm="pipe-vm"}') ?? '0');

    // The first VMM process dies without warning, possibly in the middle of a line.
    let samples = new Map<string, string>();
    await waitFor(() => writer.output().includes('writing'), 'the first writer');
    await eventually(async () => inflations((samples = await scrape())) >= 10, '10 lines from the first writer');
    writer.child.kill('SIGKILL');
    await writer.exited;
    // What the pipe still held is read; then the total stays.
    await eventually(async () => {
      samples = await scrape();
      return samples.get(`vmm_metrics_serve_reopened_total{source="${fifo}",reason="writer_closed"}`) === '1';
    }, 'the killed writer to be seen gone');
    const beforeRestart = inflations(samples);
    assert.ok(beforeRestart >= 10);

    // A new VMM process starts from zero and writes to the same pipe.
    writer = startPipeWriter(fifo, 'pipe-vm');
    await waitFor(() => writer.output().includes('writing'), 'the second writer');
    await new Promise((resolve) => setTimeout(resolve, 300));
    writer.child.kill('SIGTERM');
    await writer.exited;
    const second = Number(/total (\d+)/.exec(writer.output())?.[1]);
    assert.ok(second > 0);
    await eventually(async () => {
      samples = await scrape();
      return inflations(samples) === beforeRestart + second;
    }, `the total to reach ${beforeRestart} + ${second}`);

    // Every line carries as many inflations as rootfs reads: the lines that counted, counted whole.
    assert.equal(samples.get('firecracker_block_read_count_total{vm="pipe-vm",device="rootfs"}'), String(beforeRestart + second));
    assert.equal(samples.get(`vmm_metrics_serve_reopened_total{source="${fifo}",reason="writer_closed"}`), '2');
    // The file's VM, served beside it, exactly.
    for (const [series, value] of expectedSamples(document, 'file-vm')) assert.equal(samples.get(series), value, series);

    const health = await get(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.match(health.body, /^ok: following 2 sources/);
    assert.equal((await get(`${url}/nothing`)).status, 404);
    const post = await fetch(`${url}/metrics`, { method: 'POST', body: '' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await get(`${url}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');

    serve.child.kill('SIGTERM');
    const { code, signal } = await serve.exited;
    assert.equal(signal, null);
    assert.equal(code, 0);
  } finally {
    writer.child.kill('SIGKILL');
    serve.kill();
  }
});
