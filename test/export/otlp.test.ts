/**
 * vmm-metrics/otel through the SDK's OTLP/HTTP exporter to a receiver on node:http: what goes on
 * the wire. `@opentelemetry/exporter-metrics-otlp-http` 0.223 (the release that goes with
 * sdk-metrics 2.12) posts JSON (`Content-Type: application/json`; protobuf is another package,
 * `exporter-metrics-otlp-proto`) to `<url>`; a data point's value is `asDouble` unless the
 * instrument says `ValueType.INT`, which registerOpenTelemetry does not; int64 timestamps are
 * decimal strings.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { AggregationTemporalityPreference, OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { openTelemetryInstruments } from '../../src/export/names.js';
import { registerOpenTelemetry } from '../../src/export/otel.js';
import { FirecrackerMetrics } from '../../src/index.js';
import { BIG } from './support.js';

// The OTLP/JSON shapes this test reads (opentelemetry-proto, metrics/v1 and common/v1).
interface KeyValue {
  readonly key: string;
  readonly value: { readonly stringValue?: string; readonly intValue?: number | string; readonly boolValue?: boolean };
}
interface NumberDataPoint {
  readonly attributes: readonly KeyValue[];
  readonly startTimeUnixNano: string;
  readonly timeUnixNano: string;
  readonly asDouble?: number;
  readonly asInt?: number | string;
}
interface Metric {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly sum?: { readonly aggregationTemporality: number; readonly isMonotonic: boolean; readonly dataPoints: readonly NumberDataPoint[] };
  readonly gauge?: { readonly dataPoints: readonly NumberDataPoint[] };
}
interface ExportMetricsServiceRequest {
  readonly resourceMetrics: readonly {
    readonly resource: { readonly attributes: readonly KeyValue[] };
    readonly scopeMetrics: readonly { readonly scope: { readonly name: string; readonly version?: string }; readonly metrics: readonly Metric[] }[];
  }[];
}

/** AGGREGATION_TEMPORALITY_CUMULATIVE in opentelemetry-proto's metrics.proto. */
const CUMULATIVE = 2;

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  readonly body: ExportMetricsServiceRequest;
}

const received: Received[] = [];
const receiver: Server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const raw = Buffer.concat(chunks);
    // The exporter gzips when OTEL_EXPORTER_OTLP_COMPRESSION says so.
    const text = (request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
    received.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, text, body: JSON.parse(text) as ExportMetricsServiceRequest });
    // An ExportMetricsServiceResponse with no partial_success: everything was accepted.
    response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  });
});

let url = '';
before(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/metrics`;
});
after(async () => {
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

function attributes(list: readonly KeyValue[]): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => [key, value.stringValue ?? value.intValue ?? value.boolValue]));
}

/** The request's metrics by name, with their data points keyed by `device` ('' for none). */
function metricsOf(request: ExportMetricsServiceRequest): Map<string, Metric> {
  const byName = new Map<string, Metric>();
  for (const { scopeMetrics } of request.resourceMetrics) for (const { metrics } of scopeMetrics) for (const metric of metrics) byName.set(metric.name, metric);
  return byName;
}

function point(metric: Metric | undefined, device?: string): NumberDataPoint {
  assert.ok(metric !== undefined);
  const points = metric.sum?.dataPoints ?? metric.gauge?.dataPoints ?? [];
  const found = points.find((p) => attributes(p.attributes).device === device);
  assert.ok(found !== undefined, `${metric.name} has no point for device ${String(device)}`);
  return found;
}

test("Firecracker's whole document over OTLP/HTTP JSON: names, kinds, units, descriptions, attributes, values; cumulative", async (t) => {
  const vm = new FirecrackerMetrics();
  const rootfs = vm.block.alloc('rootfs');
  vm.block.alloc('scratch').read_bytes.add(512);
  vm.net.alloc('eth0').tx_bytes_count.add(BIG + 3n);
  vm.balloon.inflate_count.add(3);
  vm.latencies_us.pause_vm.store(2_000);
  rootfs.read_bytes.add(4096);
  rootfs.read_agg.recordUs(1_500);

  const exporter = new OTLPMetricExporter({ url, temporalityPreference: AggregationTemporalityPreference.CUMULATIVE });
  // The interval is long enough never to fire during the test: each export is a forceFlush().
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  t.after(() => provider.shutdown());
  const { names } = registerOpenTelemetry(provider.getMeter('vmm-metrics-test', '1.2.3'), { document: vm, attributes: { vm: 'vm-42' } });

  received.length = 0;
  // forceFlush resolves once the export's response is in, and rejects if it failed.
  await reader.forceFlush();
  assert.equal(received.length, 1);
  const [first] = received;
  assert.ok(first !== undefined);
  assert.equal(first.method, 'POST');
  assert.equal(first.url, '/v1/metrics');
  assert.equal(first.headers['content-type'], 'application/json');

  assert.equal(first.body.resourceMetrics.length, 1);
  const [resource] = first.body.resourceMetrics;
  assert.ok(resource !== undefined);
  const resourceAttributes = attributes(resource.resource.attributes);
  assert.match(String(resourceAttributes['service.name']), /^unknown_service/);
  assert.equal(resourceAttributes['telemetry.sdk.language'], 'nodejs');
  assert.deepEqual(
    resource.scopeMetrics.map((s) => s.scope),
    [{ name: 'vmm-metrics-test', version: '1.2.3' }],
  );

  // Every instrument, as names.ts declares it; the SDK sends none for an instrument nothing was
  // observed on, here the families of devices with no device (pmem, vhost_user).
  const DEVICES: Readonly<Record<string, readonly string[]>> = { block: ['rootfs', 'scratch'], net: ['eth0'] };
  const metrics = metricsOf(first.body);
  const declared = openTelemetryInstruments(vm.entries);
  assert.deepEqual(declared.map((i) => i.name), names);
  const observed = declared.filter((i) => !i.family.perDevice || DEVICES[i.family.entry] !== undefined);
  assert.deepEqual([...metrics.keys()], observed.map((i) => i.name));
  assert.ok(observed.length > 200 && observed.length < declared.length);
  for (const instrument of observed) {
    const metric = metrics.get(instrument.name);
    assert.ok(metric !== undefined, instrument.name);
    assert.equal(metric.unit, instrument.unit, instrument.name);
    assert.equal(metric.description, instrument.description, instrument.name);
    if (instrument.kind === 'counter') {
      assert.equal(metric.gauge, undefined, instrument.name);
      assert.equal(metric.sum?.isMonotonic, true, instrument.name);
      assert.equal(metric.sum.aggregationTemporality, CUMULATIVE, instrument.name);
    } else {
      assert.equal(metric.sum, undefined, instrument.name);
      assert.ok(metric.gauge !== undefined, instrument.name);
    }
    const points = metric.sum?.dataPoints ?? metric.gauge?.dataPoints ?? [];
    const devices = instrument.family.perDevice ? (DEVICES[instrument.family.entry] ?? []) : [undefined];
    assert.deepEqual(
      points.map((p) => attributes(p.attributes)),
      devices.map((device) => (device === undefined ? { vm: 'vm-42' } : { vm: 'vm-42', device })),
      instrument.name,
    );
    for (const p of points) {
      assert.equal(typeof p.asDouble, 'number', instrument.name);
      assert.equal(p.asInt, undefined, instrument.name);
    }
  }

  const units = (name: string): string | undefined => metrics.get(name)?.unit;
  assert.deepEqual(
    ['firecracker.balloon.inflate_count', 'firecracker.block.read_bytes', 'firecracker.latencies.pause_vm', 'firecracker.block.read_agg.sum'].map(units),
    ['{count}', 'By', 's', 's'],
  );
  assert.equal(metrics.get('firecracker.balloon.inflate_count')?.description, 'Number of inflations of the balloon (page frames the guest gave back).');
  assert.equal(metrics.get('firecracker.block.read_agg.sum')?.description, 'Duration of read requests. (sum of the durations)');
  assert.equal(point(metrics.get('firecracker.balloon.inflate_count')).asDouble, 3);
  assert.equal(point(metrics.get('firecracker.block.read_bytes'), 'rootfs').asDouble, 4096);
  assert.equal(point(metrics.get('firecracker.block.read_bytes'), 'scratch').asDouble, 512);
  assert.equal(point(metrics.get('firecracker.block.read_agg.sum'), 'rootfs').asDouble, 0.0015);
  assert.equal(point(metrics.get('firecracker.block.read_agg.max'), 'rootfs').asDouble, 0.0015);
  assert.equal(point(metrics.get('firecracker.latencies.pause_vm')).asDouble, 0.002);
  // Past 2^53 the API takes a double: the nearest one goes on the wire, as JSON's shortest digits
  // for it, which parse back to the same double.
  assert.equal(point(metrics.get('firecracker.net.tx_bytes_count'), 'eth0').asDouble, Number(BIG + 3n));
  assert.match(first.text, /"asDouble":1152921504606847000[,}]/);

  // Timestamps: nanoseconds since the epoch, as decimal strings.
  const before1 = point(metrics.get('firecracker.balloon.inflate_count'));
  const now = BigInt(Date.now()) * 1_000_000n;
  assert.ok(BigInt(before1.timeUnixNano) <= now && BigInt(before1.timeUnixNano) > now - 60_000_000_000n, before1.timeUnixNano);
  assert.ok(BigInt(before1.startTimeUnixNano) <= BigInt(before1.timeUnixNano));

  // A second export after more increments carries the new totals, from the same start: cumulative, not deltas.
  vm.balloon.inflate_count.add(2);
  rootfs.read_bytes.add(4096);
  rootfs.read_agg.recordUs(500);
  await reader.forceFlush();
  assert.equal(received.length, 2);
  const second = metricsOf((received[1] as Received).body);
  const after1 = point(second.get('firecracker.balloon.inflate_count'));
  assert.equal(after1.asDouble, 5);
  assert.equal(after1.startTimeUnixNano, before1.startTimeUnixNano);
  assert.ok(BigInt(after1.timeUnixNano) > BigInt(before1.timeUnixNano));
  assert.equal(second.get('firecracker.balloon.inflate_count')?.sum?.aggregationTemporality, CUMULATIVE);
  assert.equal(point(second.get('firecracker.block.read_bytes'), 'rootfs').asDouble, 8192);
  assert.equal(point(second.get('firecracker.block.read_bytes'), 'scratch').asDouble, 512);
  assert.equal(point(second.get('firecracker.block.read_agg.sum'), 'rootfs').asDouble, 0.002);
  // A gauge is the value now: the least duration fell.
  assert.equal(point(second.get('firecracker.block.read_agg.min'), 'rootfs').asDouble, 0.0005);
});
