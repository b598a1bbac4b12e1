import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  FirecrackerMetrics,
  Metrics,
  METRICS,
  type EntryShape,
  type FirecrackerMetricsOptions,
  type GroupFields,
  type GroupSchema,
  type MetricGroup,
} from '../../src/index.js';
import * as balloon from '../../src/devices/virtio/balloon/metrics.js';
import * as block from '../../src/devices/virtio/block/metrics.js';
import * as mem from '../../src/devices/virtio/mem/metrics.js';
import * as net from '../../src/devices/virtio/net/metrics.js';
import * as pmem from '../../src/devices/virtio/pmem/metrics.js';
import * as rng from '../../src/devices/virtio/rng/metrics.js';
import * as vhostUser from '../../src/devices/virtio/vhost_user/metrics.js';
import * as vsock from '../../src/devices/virtio/vsock/metrics.js';
import * as i8042 from '../../src/devices/legacy/i8042/metrics.js';
import * as rtc from '../../src/devices/legacy/rtc/metrics.js';
import * as serial from '../../src/devices/legacy/serial/metrics.js';
import * as apiServer from '../../src/logger/metrics/api-server.js';
import * as deprecatedApi from '../../src/logger/metrics/deprecated-api.js';
import * as getApi from '../../src/logger/metrics/get-api-requests.js';
import * as interrupts from '../../src/logger/metrics/interrupts.js';
import * as latencies from '../../src/logger/metrics/latencies.js';
import * as logger from '../../src/logger/metrics/logger.js';
import * as mmds from '../../src/logger/metrics/mmds.js';
import * as patchApi from '../../src/logger/metrics/patch-api-requests.js';
import * as putApi from '../../src/logger/metrics/put-api-requests.js';
import * as seccomp from '../../src/logger/metrics/seccomp.js';
import * as signals from '../../src/logger/metrics/signals.js';
import * as vcpu from '../../src/logger/metrics/vcpu.js';
import * as vmm from '../../src/logger/metrics/vmm.js';
import { byUtf8, parseLine, type JsonObject } from '../devices/support/ordered-json.js';
import { touchEveryField } from '../devices/support/metrics-file.js';

// The expected document, written out from the specification (issue 3) and not from the library's
// declarations: group keys and their fields in order; `*` marks a latency aggregate.
const pairs = (...names: string[]): string[] => names.flatMap((n) => [`${n}_count`, `${n}_fails`]);
const FIELDS: Readonly<Record<string, readonly string[]>> = {
  api_server: ['process_startup_time_us', 'process_startup_time_cpu_us'],
  balloon: [
    'activate_fails', 'inflate_count', 'stats_updates_count', 'stats_update_fails', 'deflate_count', 'event_fails',
    'free_page_report_count', 'free_page_report_freed', 'free_page_report_fails', 'free_page_hint_count',
    'free_page_hint_freed', 'free_page_hint_fails',
  ],
  block: [
    'activate_fails', 'cfg_fails', 'no_avail_buffer', 'event_fails', 'execute_fails', 'invalid_reqs_count',
    'flush_count', 'queue_event_count', 'rate_limiter_event_count', 'update_count', 'update_fails', 'read_bytes',
    'write_bytes', 'read_count', 'write_count', '*read_agg', '*write_agg', 'rate_limiter_throttled_events',
    'io_engine_throttled_events', 'remaining_reqs_count',
  ],
  deprecated_api: ['deprecated_http_api_calls'],
  get_api_requests: ['instance_info_count', 'machine_cfg_count', 'mmds_count', 'vmm_version_count', 'hotplug_memory_count'],
  i8042: ['error_count', 'missed_read_count', 'missed_write_count', 'read_count', 'reset_count', 'write_count'],
  rtc: ['error_count', 'missed_read_count', 'missed_write_count'],
  uart: [
    'error_count', 'flush_count', 'missed_read_count', 'missed_write_count', 'read_count', 'write_count',
    'rate_limiter_dropped_bytes',
  ],
  latencies_us: [
    'full_create_snapshot', 'diff_create_snapshot', 'load_snapshot', 'pause_vm', 'resume_vm', 'vmm_full_create_snapshot',
    'vmm_diff_create_snapshot', 'vmm_load_snapshot', 'vmm_pause_vm', 'vmm_resume_vm',
  ],
  logger: ['missed_metrics_count', 'metrics_fails', 'missed_log_count', 'rate_limited_log_count'],
  mmds: [
    'rx_accepted', 'rx_accepted_err', 'rx_accepted_unusual', 'rx_bad_eth', 'rx_invalid_token', 'rx_no_token', 'rx_count',
    'tx_bytes', 'tx_count', 'tx_errors', 'tx_frames', 'connections_created', 'connections_destroyed',
  ],
  net: [
    'activate_fails', 'cfg_fails', 'no_rx_avail_buffer', 'no_tx_avail_buffer', 'event_fails', 'rx_queue_event_count',
    'rx_event_rate_limiter_count', 'rx_rate_limiter_throttled', 'rx_tap_event_count', 'rx_bytes_count',
    'rx_packets_count', 'rx_fails', 'rx_count', 'tap_read_fails', 'tap_write_fails', '*tap_write_agg', 'tx_bytes_count',
    'tx_malformed_frames', 'tx_fails', 'tx_count', 'tx_packets_count', 'tx_queue_event_count',
    'tx_rate_limiter_event_count', 'tx_rate_limiter_throttled', 'tx_spoofed_mac_count', 'tx_remaining_reqs_count',
  ],
  patch_api_requests: pairs('drive', 'network', 'machine_cfg', 'mmds', 'hotplug_memory', 'pmem'),
  put_api_requests: pairs(
    'actions', 'boot_source', 'drive', 'logger', 'machine_cfg', 'cpu_cfg', 'metrics', 'network', 'mmds', 'vsock', 'pmem',
    'serial', 'hotplug_memory',
  ),
  seccomp: ['num_faults'],
  vcpu: [
    'exit_io_in', 'exit_io_out', 'exit_mmio_read', 'exit_mmio_write', 'failures', 'kvmclock_ctrl_fails', '*exit_io_in_agg',
    '*exit_io_out_agg', '*exit_mmio_read_agg', '*exit_mmio_write_agg',
  ],
  vmm: ['panic_count'],
  signals: ['sigbus', 'sigsegv', 'sigxfsz', 'sigxcpu', 'sigpipe', 'sighup', 'sigill'],
  vsock: [
    'activate_fails', 'cfg_fails', 'rx_queue_event_fails', 'tx_queue_event_fails', 'ev_queue_event_fails',
    'muxer_event_fails', 'conn_event_fails', 'rx_queue_event_count', 'tx_queue_event_count', 'rx_bytes_count',
    'tx_bytes_count', 'rx_packets_count', 'tx_packets_count', 'conns_added', 'conns_killed', 'conns_removed',
    'killq_resync', 'tx_flush_fails', 'tx_write_fails', 'rx_read_fails',
  ],
  entropy: [
    'activate_fails', 'entropy_event_fails', 'entropy_event_count', 'entropy_bytes', 'host_rng_fails',
    'entropy_rate_limiter_throttled', 'rate_limiter_event_count',
  ],
  pmem: ['activate_fails', 'cfg_fails', 'event_fails', 'queue_event_count', 'rate_limiter_throttled_events', 'rate_limiter_event_count'],
  vhost_user: ['activate_fails', 'cfg_fails', 'init_time_us', 'activate_time_us', 'config_change_time_us'],
  interrupts: ['triggers', 'config_updates'],
  memory_hotplug: [
    'activate_fails', 'queue_event_fails', 'queue_event_count', '*plug_agg', 'plug_count', 'plug_bytes', 'plug_fails',
    '*unplug_agg', 'unplug_count', 'unplug_bytes', 'unplug_fails', 'unplug_discard_fails', '*unplug_all_agg',
    'unplug_all_count', 'unplug_all_fails', '*state_agg', 'state_count', 'state_fails',
  ],
};

/** Per-device families of the document and whether they end with an aggregate. */
const FAMILIES: Readonly<Record<string, boolean>> = { block: true, net: true, pmem: true, vhost_user: false };

type Devices = Readonly<Record<'block' | 'net' | 'pmem' | 'vhost_user', readonly string[]>>;

/** The top-level members a line must have, in order, for the devices present. */
function expectedTopLevel(devices: Devices, withRtc: boolean): [key: string, group: string][] {
  const family = (prefix: keyof Devices): [string, string][] => [
    ...byUtf8(devices[prefix]).map((id): [string, string] => [`${prefix}_${id}`, prefix]),
    ...(FAMILIES[prefix] === true ? [[prefix, prefix] as [string, string]] : []),
  ];
  const group = (key: string): [string, string][] => [[key, key]];
  return [
    ...group('api_server'),
    ...group('balloon'),
    ...family('block'),
    ...group('deprecated_api'),
    ...group('get_api_requests'),
    ...group('i8042'),
    ...(withRtc ? group('rtc') : []),
    ...group('uart'),
    ...group('latencies_us'),
    ...group('logger'),
    ...group('mmds'),
    ...family('net'),
    ...group('patch_api_requests'),
    ...group('put_api_requests'),
    ...group('seccomp'),
    ...group('vcpu'),
    ...group('vmm'),
    ...group('signals'),
    ...group('vsock'),
    ...group('entropy'),
    ...family('pmem'),
    ...family('vhost_user'),
    ...group('interrupts'),
    ...group('memory_hotplug'),
  ];
}

/** Validates a line against the expected document; `parseLine` already checked every number. */
function validateLine(raw: string, devices: Devices, withRtc: boolean): JsonObject {
  assert.match(raw, /^\{"utc_timestamp_ms":(0|[1-9][0-9]*),"api_server":\{/);
  // Every number in the line, as raw text: non-negative, no sign, fraction or exponent.
  for (const [, digits] of raw.matchAll(/:(-?[0-9][0-9.eE+-]*)/g)) assert.match(digits ?? '', /^(0|[1-9][0-9]*)$/);
  const line = parseLine(raw);
  const expected = expectedTopLevel(devices, withRtc);
  assert.deepEqual(line.keys(), ['utc_timestamp_ms', ...expected.map(([key]) => key)]);
  for (const [key, group] of expected) {
    const fields = FIELDS[group];
    assert.ok(fields, group);
    const entry = line.object(key);
    assert.deepEqual(entry.keys(), fields.map((f) => f.replace('*', '')), `fields of ${key}`);
    for (const field of fields) {
      if (field.startsWith('*')) {
        const agg = entry.object(field.slice(1));
        assert.deepEqual(agg.keys(), ['min_us', 'max_us', 'sum_us'], `${key}.${field}`);
        for (const member of agg.keys()) agg.integer(member);
      } else {
        entry.integer(field);
      }
    }
  }
  for (const [prefix, hasAggregate] of Object.entries(FAMILIES)) {
    if (hasAggregate) checkAggregate(line, prefix, devices[prefix as keyof Devices]);
  }
  return line;
}

const U64_MAX = (1n << 64n) - 1n;

/** aggregate = Σ devices for counters; least set minimum and greatest maximum for latencies. */
function checkAggregate(line: JsonObject, prefix: string, ids: readonly string[]): void {
  const aggregate = line.object(prefix);
  const rows = ids.map((id) => line.object(`${prefix}_${id}`));
  for (const field of FIELDS[prefix] ?? []) {
    if (field.startsWith('*')) {
      const name = field.slice(1);
      const aggs = rows.map((r) => r.object(name));
      const minima = aggs.map((a) => a.integer('min_us')).filter((v) => v !== 0n);
      const least = minima.reduce((a, b) => (b < a ? b : a), minima[0] ?? 0n);
      const greatest = aggs.map((a) => a.integer('max_us')).reduce((a, b) => (b > a ? b : a), 0n);
      const sum = aggs.map((a) => a.integer('sum_us')).reduce((a, b) => (a + b) & U64_MAX, 0n);
      const got = aggregate.object(name);
      assert.deepEqual([got.integer('min_us'), got.integer('max_us'), got.integer('sum_us')], [least, greatest, sum], `${prefix}.${name}`);
    } else {
      const sum = rows.map((r) => r.integer(field)).reduce((a, b) => (a + b) & U64_MAX, 0n);
      assert.equal(aggregate.integer(field), sum, `${prefix}.${field}`);
    }
  }
}

/** Every module's global group in Firecracker's order, assembled here rather than taken from the library. */
function moduleShapes(withRtc: boolean): EntryShape[] {
  const group = (schema: GroupSchema<GroupFields>, optional = false): EntryShape => ({ kind: 'group', key: schema.name, schema, optional });
  return [
    group(apiServer.ApiServerMetrics),
    group(balloon.BalloonDeviceMetrics),
    block.METRICS.shape,
    group(deprecatedApi.DeprecatedApiMetrics),
    group(getApi.GetRequestsMetrics),
    group(i8042.I8042DeviceMetrics),
    ...(withRtc ? [group(rtc.RtcDeviceMetrics, true)] : []),
    group(serial.SerialDeviceMetrics),
    group(latencies.PerformanceMetrics),
    group(logger.LoggerSystemMetrics),
    group(mmds.MmdsMetrics),
    net.METRICS.shape,
    group(patchApi.PatchRequestsMetrics),
    group(putApi.PutRequestsMetrics),
    group(seccomp.SeccompMetrics),
    group(vcpu.VcpuMetrics),
    group(vmm.VmmMetrics),
    group(signals.SignalMetrics),
    group(vsock.VsockDeviceMetrics),
    group(rng.EntropyDeviceMetrics),
    pmem.METRICS.shape,
    vhostUser.METRICS.shape,
    group(interrupts.InterruptMetrics),
    group(mem.VirtioMemDeviceMetrics),
  ];
}

/** The single-instance groups of a document. */
function singleGroups(doc: FirecrackerMetrics): MetricGroup<GroupFields>[] {
  const families = new Set(['block', 'net', 'pmem', 'vhost_user']);
  return Object.entries(doc)
    .filter(([name]) => Object.hasOwn(FIELDS, name) && !families.has(name))
    .map(([, group]) => group as MetricGroup<GroupFields>);
}

function withTempFile<T>(use: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-fc-'));
  try {
    return use(join(dir, 'metrics.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the global writer flushes the module-level groups: every module entry, in order', () => {
  assert.ok(METRICS.document instanceof FirecrackerMetrics);
  assert.deepEqual(METRICS.document.entries.map((e) => e.shape), moduleShapes(false));
  assert.deepEqual(new FirecrackerMetrics({ rtc: true }).entries.map((e) => e.shape), moduleShapes(true));
  assert.equal(METRICS.document.rtcEnabled, process.arch === 'arm64', 'the global document writes rtc on arm64, as Firecracker on aarch64');
  assert.equal(new FirecrackerMetrics({ rtc: true }).rtcEnabled, true);
  assert.throws(() => new FirecrackerMetrics({ rtc: 'yes' as unknown as boolean }), {
    name: 'TypeError',
    message: 'FirecrackerMetrics: options.rtc must be a boolean, got string',
  });
  // Typed access to the groups, Firecracker's `METRICS.<group>`: the modules' own.
  const doc = METRICS.document;
  assert.equal(doc.api_server, apiServer.METRICS);
  assert.equal(doc.balloon, balloon.METRICS);
  assert.equal(doc.block, block.METRICS);
  assert.equal(doc.net, net.METRICS);
  assert.equal(doc.pmem, pmem.METRICS);
  assert.equal(doc.vhost_user, vhostUser.METRICS);
  assert.equal(doc.entropy, rng.METRICS);
  assert.equal(doc.uart, serial.METRICS);
  assert.equal(doc.memory_hotplug, mem.METRICS);
  assert.equal(doc.latencies_us, latencies.METRICS);
  assert.equal(doc.rtc, rtc.METRICS);

  doc.block.alloc('rootfs').read_count.add(3);
  doc.vcpu.exit_io_out.inc();
  withTempFile((path) => {
    METRICS.init(path, { flushIntervalMs: 0, id: 'vm-1' });
    try {
      assert.equal(METRICS.write(), true);
      assert.equal(block.remove('rootfs'), true);
      assert.equal(block.METRICS.size, 0, 'its last delta is out: released at once');
    } finally {
      METRICS.close();
    }
    const raw = readFileSync(path, 'utf8').trimEnd();
    assert.match(raw, /^\{"utc_timestamp_ms":[0-9]+,"id":"vm-1","api_server":/);
    const line = validateLine(raw.replace(',"id":"vm-1"', ''), { block: ['rootfs'], net: [], pmem: [], vhost_user: [] }, false);
    assert.equal(line.object('block_rootfs').integer('read_count'), 3n);
    assert.equal(line.object('vcpu').integer('exit_io_out'), 1n);
  });
});

test('a document per VM: each owns fresh groups, counts its own missed lines, and shares only what it is given', () => {
  const a = new FirecrackerMetrics();
  const b = new FirecrackerMetrics();
  assert.notEqual(a.balloon, b.balloon);
  assert.notEqual(a.block, b.block);
  assert.notEqual(a.balloon, balloon.METRICS);
  assert.notEqual(a.block, block.METRICS);
  a.balloon.inflate_count.add(7);
  a.block.alloc('rootfs').read_bytes.add(4096);
  b.balloon.deflate_count.inc();
  const lineA = parseLine(new Metrics(a).render());
  const lineB = parseLine(new Metrics(b).render());
  assert.equal(lineA.object('balloon').integer('inflate_count'), 7n);
  assert.equal(lineA.object('balloon').integer('deflate_count'), 0n);
  assert.equal(lineA.object('block_rootfs').integer('read_bytes'), 4096n);
  assert.equal(lineB.object('balloon').integer('inflate_count'), 0n);
  assert.equal(lineB.object('balloon').integer('deflate_count'), 1n);
  assert.deepEqual(lineB.keys().filter((k) => k.startsWith('block')), ['block']);
  assert.equal(balloon.METRICS.inflate_count.fetchDiff(), 0, 'the global group is untouched');

  // A writer of a VM's document counts its failures in that document's logger group.
  const failing = new Metrics(a);
  failing.init({ write: () => { throw new Error('disk gone'); } }, { flushIntervalMs: 0 });
  assert.throws(() => failing.write(), { name: 'MetricsWriteError', message: 'Failed to write metrics: disk gone' });
  failing.close();
  assert.equal(a.logger.missed_metrics_count.count(), 1);
  assert.equal(b.logger.missed_metrics_count.count(), 0);
  assert.equal(logger.METRICS.missed_metrics_count.count(), 0);

  // Groups given to a document are written by it, e.g. the process-wide API server group.
  const shared = new FirecrackerMetrics({ groups: { api_server: apiServer.METRICS, block: a.block } });
  assert.equal(shared.api_server, apiServer.METRICS);
  assert.equal(shared.block, a.block);
  assert.throws(() => new FirecrackerMetrics({ groups: { balloon: a.vcpu } as unknown as NonNullable<FirecrackerMetricsOptions['groups']> }), {
    name: 'TypeError',
    message: 'FirecrackerMetrics: options.groups.balloon is not a balloon group',
  });
  assert.throws(() => new FirecrackerMetrics({ groups: { block: a.net } as unknown as NonNullable<FirecrackerMetricsOptions['groups']> }), {
    name: 'TypeError',
    message: 'FirecrackerMetrics: options.groups.block is not a block device family',
  });
});

test('lines of a busy VM, written to a file, match the expected document exactly', () => {
  for (const withRtc of [false, true]) {
    const doc = new FirecrackerMetrics({ rtc: withRtc });
    const devices = {
      block: ['scratch', 'root"fs'],
      net: ['eth1', 'eth0'],
      pmem: ['pm0'],
      vhost_user: ['block_vu0'],
    } satisfies Devices;
    const busy = (amount: number | bigint): void => {
      for (const group of singleGroups(doc)) touchEveryField(group, amount);
      for (const id of devices.block) touchEveryField(doc.block.alloc(id), amount);
      for (const id of devices.net) touchEveryField(doc.net.alloc(id), amount);
      for (const id of devices.pmem) touchEveryField(doc.pmem.alloc(id), amount);
      for (const id of devices.vhost_user) touchEveryField(doc.vhost_user.alloc(id), amount);
    };
    const big = 2n ** 60n + 3n;
    const raws = withTempFile((path) => {
      const metrics = new Metrics(doc);
      metrics.init(path, { flushIntervalMs: 0 });
      try {
        busy(1);
        metrics.write();
        busy(big);
        doc.block.alloc('scratch').read_agg.recordUs(7);
        metrics.write();
        busy(5);
        assert.equal(doc.block.remove('scratch'), true);
        doc.net.alloc('eth1').tap_write_agg.recordUs(big * 2n);
        metrics.write();
        metrics.write();
      } finally {
        metrics.close();
      }
      return readFileSync(path, 'utf8').split('\n');
    });
    assert.equal(raws.pop(), '', 'the file ends with a newline');
    assert.equal(raws.length, 4);
    const lines = raws.map((raw, i) =>
      validateLine(raw, i < 3 ? devices : { ...devices, block: ['root"fs'] }, withRtc),
    );
    const [, second, third, fourth] = lines;
    assert.ok(second !== undefined && third !== undefined && fourth !== undefined);
    // Values beyond 2^53 are written with all their digits.
    assert.ok(raws[1]?.includes(`"inflate_count":${big}`));
    assert.equal(second.object('block').integer('read_bytes'), 2n * big);
    assert.equal(second.object('block').object('read_agg').integer('min_us'), 1n);
    assert.equal(third.object('net_eth1').object('tap_write_agg').integer('max_us'), big * 2n);
    // Counters carry deltas, stores their value.
    assert.equal(fourth.object('vcpu').integer('exit_io_in'), 0n);
    assert.equal(fourth.object('signals').integer('sigbus'), 5n);
    assert.equal(fourth.object('vhost_user_block_vu0').integer('init_time_us'), 5n);
    assert.equal(doc.block.size, 1, 'the removed drive was released after its last line');
  }
});
