/**
 * A real Prometheus (Debian's 2.42) scraping vmm-metrics/prometheus served over node:http, asked
 * through its query API. One server for the file: its first scrape comes about 5 s after start
 * (see test/support/prometheus.ts), and the tests after the first wait a scrape or two.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { exactMetrics, registerPrometheus } from '../../src/export/prometheus.js';
import { FirecrackerMetrics } from '../../src/index.js';
import { prometheusOrSkip, startPrometheusIfInstalled, type PrometheusServer } from '../support/prometheus.js';
import { BIG } from './support.js';

const vm = new FirecrackerMetrics();
const rootfs = vm.block.alloc('rootfs');
const scratch = vm.block.alloc('scratch');
const eth0 = vm.net.alloc('eth0');
vm.balloon.inflate_count.add(42);
scratch.read_bytes.add(512);
eth0.rx_bytes_count.add(1500);
eth0.tx_bytes_count.add(BIG + 3n);
vm.latencies_us.pause_vm.store(BIG + 3n);

const registry = new Registry();
registerPrometheus(registry, { document: vm, labels: { vm: 'vm-42' } });

/** The last exposition served, to compare with what Prometheus stored. */
let served = '';
const exporter: Server = createServer((request, response) => {
  if (request.url !== '/metrics') {
    response.writeHead(404).end();
    return;
  }
  // Every scrape finds the root disk further along: a counter that moves between any two
  // scrapes, with no timer racing them.
  rootfs.read_bytes.add(4096);
  exactMetrics(registry).then(
    (text) => {
      served = text;
      response.writeHead(200, { 'Content-Type': registry.contentType }).end(text);
    },
    (error: unknown) => {
      response.writeHead(500).end(String(error));
    },
  );
});

let prometheus: PrometheusServer | undefined;
/** The labels Prometheus adds to every series it scrapes from the exporter. */
const JOB = { job: 'vmm-metrics', instance: '' };

before(async () => {
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  JOB.instance = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
  prometheus = await startPrometheusIfInstalled({ targets: [JOB.instance], scrapeIntervalS: 1 });
});

after(async () => {
  await prometheus?.stop();
  exporter.closeAllConnections();
  await new Promise((resolve) => exporter.close(resolve));
});

test('Prometheus scrapes the exporter: the target is up, and every sample served is a series', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  await server.waitFor('up', (samples) => samples[0]?.value === 1);
  const [target] = await server.targets();
  assert.equal(target?.health, 'up');
  assert.equal(target.lastError, '');
  assert.deepEqual(target.labels, JOB);
  assert.equal(target.scrapeUrl, `http://${JOB.instance}/metrics`);

  const lines = served.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  assert.ok(lines.length > 250, `${lines.length} samples`);
  const [scraped] = await server.query('scrape_samples_scraped');
  assert.equal(scraped?.value, lines.length);
  const [series] = await server.query('count({__name__=~"firecracker_.+"})');
  assert.equal(series?.value, lines.length);
});

test("a counter's total is the document's count, and follows it", async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  const query = 'firecracker_balloon_inflate_count_total';
  const [sample] = await server.waitFor(query, (samples) => samples[0]?.value === 42);
  assert.deepEqual(sample?.labels, { __name__: query, vm: 'vm-42', ...JOB });
  vm.balloon.inflate_count.add(8);
  await server.waitFor(query, (samples) => samples[0]?.value === vm.balloon.inflate_count.count());
  assert.equal(vm.balloon.inflate_count.count(), 50);
});

test('rate() of a counter that moves is positive', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  // 4096 bytes a scrape, a scrape a second: about 4096 a second once two scrapes are in the window.
  const [rate] = await server.waitFor('rate(firecracker_block_read_bytes_total{device="rootfs"}[5s])', (samples) => (samples[0]?.value ?? 0) > 0);
  assert.ok(rate !== undefined && rate.value > 1000 && rate.value < 20_000, JSON.stringify(rate));
  assert.deepEqual(await server.query('rate(firecracker_block_read_bytes_total{device="scratch"}[5s])').then((s) => s.map((x) => x.value)), [0]);
});

test('per-device families: one series per device, with its device label', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  const samples = await server.query('firecracker_block_read_bytes_total');
  assert.deepEqual(
    samples.map((s) => s.labels).sort((a, b) => ((a.device ?? '') < (b.device ?? '') ? -1 : 1)),
    ['rootfs', 'scratch'].map((device) => ({ __name__: 'firecracker_block_read_bytes_total', vm: 'vm-42', device, ...JOB })),
  );
  assert.deepEqual(
    (await server.query('firecracker_net_rx_bytes_total{device="eth0"}')).map((s) => [s.labels.vm, s.value]),
    [['vm-42', 1500]],
  );
  // The aggregate entries are not exported; `sum by` gives them.
  assert.deepEqual((await server.query('sum by (vm) (firecracker_block_read_bytes_total{device="scratch"})')).map((s) => s.value), [512]);
});

test('past 2^53: the exact digits are served, and Prometheus stores their nearest double', async (t) => {
  const server = prometheusOrSkip(t, prometheus);
  if (server === undefined) return;
  assert.match(served, /^firecracker_net_tx_bytes_total\{vm="vm-42",device="eth0"\} 1152921504606846979$/m);
  assert.match(served, /^firecracker_latencies_pause_vm_seconds\{vm="vm-42"\} 1152921504606\.846979$/m);
  const [bytes] = await server.query('firecracker_net_tx_bytes_total{device="eth0"}');
  assert.equal(bytes?.value, Number(BIG + 3n));
  // The query API writes a double's shortest round-trip digits (Go's FormatFloat(v, 'f', -1, 64)).
  assert.equal(bytes.text, '1152921504606847000');
  const [seconds] = await server.query('firecracker_latencies_pause_vm_seconds');
  assert.equal(seconds?.value, Number('1152921504606.846979'));
  assert.equal(seconds.text, '1152921504606.847');
});
