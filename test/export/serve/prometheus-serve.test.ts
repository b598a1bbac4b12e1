/**
 * A real Prometheus (Debian's 2.42) scraping a real `vmm-metrics serve` that follows a file and a
 * named pipe, asked through its query API: totals, rate(), device labels, and a writer killed and
 * replaced seen as a total that goes on (no counter reset). One Prometheus and one server for the
 * file; Prometheus's first scrape comes about 5 s after it starts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Metrics } from '../../../src/metrics/writer.js';
import { RunningCli } from '../../cli/helpers.js';
import { mkfifo, tempDir, waitFor } from '../../reader/helpers.js';
import { prometheusOrSkip, startPrometheusIfInstalled, type PrometheusServer } from '../../support/prometheus.js';
import { busyDocument, parseExposition, startPipeWriter, type PipeWriter } from './support.js';
import { eventually } from '../../support/eventually.js';

const { dir, remove } = tempDir('vmm-metrics-serve-prometheus-');
const fifo = join(dir, 'pipe-vm.fifo');
const file = join(dir, 'file-vm.json');
const fileVm = busyDocument();
const fileWriter = new Metrics(fileVm.document);
let serve: RunningCli | undefined;
let url = '';
let writer: PipeWriter | undefined;
let prometheus: PrometheusServer | undefined;

async function scrape(): Promise<Map<string, string>> {
  return parseExposition(await (await fetch(`${url}/metrics`)).text());
}

before(async () => {
  mkfifo(fifo);
  fileWriter.init(file, { flushIntervalMs: 0 });
  for (let round = 0; round < 3; round++) {
    fileVm.work(round);
    fileWriter.write();
  }
  serve = new RunningCli(['serve', '--metrics-path', file, '--metrics-path', fifo, '--port', '0', '--poll-ms', '50']);
  await serve.waitForOutput(/serving http:\/\/\S+\/metrics/, 'stderr');
  url = /serving (http:\/\/\S+)\/metrics/.exec(serve.stderr)?.[1] ?? '';
  writer = startPipeWriter(fifo, 'pipe-vm');
  prometheus = await startPrometheusIfInstalled({ targets: [url.replace('http://', '')], scrapeIntervalS: 1 });
});

after(async () => {
  await prometheus?.stop();
  writer?.child.kill('SIGKILL');
  serve?.kill();
  fileWriter.close();
  remove();
});

test('Prometheus scrapes serve: the target is up and every VM sample is a series', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  await server.waitFor('up', (samples) => samples[0]?.value === 1);
  const [target] = await server.targets();
  assert.equal(target?.health, 'up');
  assert.equal(target.lastError, '');
  const served = [...(await scrape()).keys()].filter((series) => series.startsWith('firecracker_'));
  assert.ok(served.length > 400, `${served.length} samples`);
  const [series] = await server.query('count({__name__=~"firecracker_.+"})');
  assert.equal(series?.value, served.length);
});

test("a file's counter is the sum of its deltas, and follows new lines", async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  const query = 'firecracker_balloon_inflate_count_total{vm="file-vm"}';
  await server.waitFor(query, (samples) => samples[0]?.value === fileVm.document.balloon.inflate_count.count());
  fileVm.work(3);
  fileWriter.write();
  const [sample] = await server.waitFor(query, (samples) => samples[0]?.value === fileVm.document.balloon.inflate_count.count());
  assert.equal(sample?.value, 1 + 2 + 3 + 4);
  assert.deepEqual(sample.labels, { __name__: 'firecracker_balloon_inflate_count_total', vm: 'file-vm', job: 'vmm-metrics', instance: url.replace('http://', '') });
});

test('rate() of the pipe’s counter, and a device’s label', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  // One inflation a line, a line every 20 ms: about 50 a second.
  const [rate] = await server.waitFor('rate(firecracker_balloon_inflate_count_total{vm="pipe-vm"}[5s])', (samples) => (samples[0]?.value ?? 0) > 0);
  assert.ok(rate !== undefined && rate.value > 10 && rate.value < 100, JSON.stringify(rate));
  const devices = await server.query('firecracker_block_read_count_total{vm="pipe-vm"}');
  assert.deepEqual(devices.map((s) => s.labels.device), ['rootfs']);
  const scratch = await server.query('firecracker_block_write_count_total{vm="file-vm",device="scratch"}');
  assert.equal(scratch[0]?.value, 4);
});

test('a writer killed (SIGKILL) and replaced: the total goes on, Prometheus sees no reset', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined || writer === undefined) return;
  const query = 'firecracker_balloon_inflate_count_total{vm="pipe-vm"}';
  await server.waitFor(query, (samples) => (samples[0]?.value ?? 0) > 50);
  writer.child.kill('SIGKILL');
  await writer.exited;
  let before = -1;
  await eventually(async () => {
    const samples = await scrape();
    before = Number(samples.get(query));
    return samples.get(`vmm_metrics_serve_reopened_total{source="${fifo}",reason="writer_closed"}`) === '1';
  }, 'the killed writer to be seen gone');
  // Prometheus has the total of the first writer's lines.
  await server.waitFor(query, (samples) => samples[0]?.value === before);

  writer = startPipeWriter(fifo, 'pipe-vm');
  await waitFor(() => writer?.output().includes('writing') === true, 'the new writer');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  writer.child.kill('SIGTERM');
  await writer.exited;
  const second = Number(/total (\d+)/.exec(writer.output())?.[1]);
  assert.ok(second > 0);
  await server.waitFor(query, (samples) => samples[0]?.value === before + second);
  assert.deepEqual((await server.query(`resets(${query}[5m])`)).map((s) => s.value), [0]);
  // The second writer's close is seen after its last line, and may reach Prometheus a scrape later.
  await server.waitFor(`vmm_metrics_serve_reopened_total{reason="writer_closed",source="${fifo}"}`, (samples) => samples[0]?.value === 2);
});
