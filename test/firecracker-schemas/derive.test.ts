import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { deriveDocument, type DerivedDocument } from '../../scripts/firecracker-schemas/derive.js';
import { parseValidatorLists } from '../../scripts/firecracker-schemas/fcmetrics.js';
import { GitRepo } from '../../scripts/firecracker-schemas/git.js';
import { MODERN, OLD, TempRepo } from './support.js';

/** The document as short text: header keys (`?` optional), then each entry with its fields. */
function outline(doc: DerivedDocument): string[] {
  return [
    doc.header.map((h) => `${h.key}${h.required ? '' : '?'}`).join(' '),
    ...doc.entries.map((e) => {
      const name = e.kind === 'group' ? e.key : `${e.prefix}_<id>${e.aggregate ? ' +aggregate' : ''}`;
      return `${name}${e.arch === undefined ? '' : ` [${e.arch}]`}: ${e.group.fields.map((f) => `${f.name}:${f.kind}:${f.unit}`).join(' ')}`;
    }),
  ];
}

describe('deriveDocument', () => {
  const repo = new TempRepo();
  after(() => {
    repo.close();
  });
  const modern = repo.commit(MODERN);
  const git = new GitRepo(repo.dir);

  test('the layout of v1.6 on: proxies, flush_metrics, device families, legacy devices, header keys', () => {
    const doc = deriveDocument(git, modern);
    assert.deepEqual(outline(doc), [
      'utc_timestamp_ms id?',
      'api_server: process_startup_time_us:store:microseconds requests:inc:count load_snapshot:store:microseconds',
      'disk_<id> +aggregate: read_count:inc:count read_bytes:inc:bytes read_agg:latency:microseconds',
      'uart: flush_count:inc:count',
      'rtc [aarch64]: error_count:inc:count',
      'x86 [x86_64]: process_startup_time_us:store:microseconds requests:inc:count load_snapshot:store:microseconds',
    ]);
    const disk = doc.entries[1];
    assert.deepEqual(
      disk?.group.fields.map((f) => f.help),
      ['Number of reads.', 'Bytes read.', 'Duration of reads.'],
    );
    assert.equal(doc.entries[0]?.group.fields[2]?.help, 'Measures the snapshot load time, in microseconds.');
    assert.deepEqual([...doc.sources.keys()], [
      'src/vmm/src/logger/metrics.rs',
      'src/vmm/src/devices/disk/metrics.rs',
      'src/vmm/src/devices/legacy/mod.rs',
      'src/vmm/src/devices/legacy/uart.rs',
      'src/vmm/src/devices/legacy/rtc.rs',
    ]);
  });

  test('the layout of v1.0 to v1.4: one struct of groups in the logger crate', () => {
    const old = repo.commit(OLD);
    assert.deepEqual(outline(deriveDocument(git, old)), [
      'utc_timestamp_ms',
      'api_server: sync_response_fails:inc:count',
      'rtc [aarch64]: error_count:inc:count',
      'block: sync_response_fails:inc:count',
    ]);
  });

  /** Derives MODERN with one file's text replaced (`from` → `to`), expecting an error message. */
  const fails = (path: string, from: string, to: string, message: RegExp): void => {
    const text = MODERN[path] ?? '';
    assert.ok(text.includes(from), `${path} holds ${from}`);
    const commit = repo.commit({ ...MODERN, [path]: text.replace(from, to) });
    assert.throws(() => deriveDocument(git, commit), { name: 'RustSourceError', message });
  };

  test('what it cannot describe is an error naming the file and line', () => {
    const disk = 'src/vmm/src/devices/disk/metrics.rs';
    const root = 'src/vmm/src/logger/metrics.rs';
    fails(disk, '    // Bytes read.\n', '    #[cfg(target_arch = "x86_64")]\n', /^src\/vmm\/src\/devices\/disk\/metrics\.rs:32: DiskDeviceMetrics\.read_bytes: a field under #\[cfg\] cannot be described per release/);
    fails('src/vmm/src/devices/legacy/mod.rs', '    #[cfg(target_arch = "aarch64")]\n    seq', '    #[cfg(feature = "gdb")]\n    seq', /^src\/vmm\/src\/devices\/legacy\/mod\.rs:8: #\[cfg\(feature="gdb"\)\] is not understood/);
    fails(disk, '    pub read_count: SharedIncMetric,', '    pub read_count: u64,', /^src\/vmm\/src\/devices\/disk\/metrics\.rs:30: DiskDeviceMetrics\.read_count: type u64 is not SharedIncMetric/);
    fails(disk, 'BTreeMap<String, Arc<DiskDeviceMetrics>>', 'HashMap<String, Arc<DiskDeviceMetrics>>', /disk\/metrics\.rs:16: flush_metrics: a loop over a HashMap, whose order is not its keys'/);
    fails(disk, '    seq.serialize_entry("disk", &disk_aggregated)?;', '    if x { seq.serialize_entry("disk", &disk_aggregated)?; }', /disk\/metrics\.rs:22: flush_metrics: a if block that writes entries is not understood/);
    fails(disk, 'format!("disk_{}", name)', 'format!("{}_disk", name)', /disk\/metrics\.rs:17: flush_metrics: device key format!\("\{\}_disk",name\) is not format!\("<prefix>_\{\}", name\)/);
    fails(root, '    #[serde(skip)]', '    #[serde(skip_serializing_if = "zero")]', /^src\/vmm\/src\/logger\/metrics\.rs:30: #\[serde\(skip_serializing_if="zero"\)\] is not understood/);
    fails(root, '    pub max_us: SharedStoreMetric,', '    pub max_us: SharedIncMetric,', /disk\/metrics\.rs:34: DiskDeviceMetrics\.read_agg: type LatencyAggregateMetrics is not SharedIncMetric, SharedStoreMetric nor a \{min_us, max_us, sum_us\} latency aggregate/);
    fails(root, 'use crate::devices::legacy;', '', /logger\/metrics\.rs:\d+: cannot tell which module legacy is/);
  });

  test('the root struct must be there once', () => {
    const commit = repo.commit({ ...MODERN, 'src/vmm/src/other.rs': '#[derive(Serialize)]\npub struct FirecrackerMetrics {}\n' });
    assert.throws(() => deriveDocument(git, commit), { message: /expected one struct FirecrackerMetrics, found 2/ });
  });
});

describe('parseValidatorLists', () => {
  test("Firecracker's lists: groups, aarch64 additions, families, header keys, names referring to lists", () => {
    const lists = parseValidatorLists(MODERN['tests/host_tools/fcmetrics.py'] ?? '', 'fcmetrics.py');
    assert.deepEqual(lists.header, [
      { key: 'utc_timestamp_ms', required: true },
      { key: 'id', required: false },
    ]);
    const latency = { name: 'read_agg', members: ['min_us', 'max_us', 'sum_us'] };
    assert.deepEqual(lists.groups, [
      { key: 'api_server', fields: ['process_startup_time_us', 'requests', 'load_snapshot'], arch: undefined },
      { key: 'disk', fields: ['read_count', 'read_bytes', latency], arch: undefined },
      { key: 'uart', fields: ['flush_count'], arch: undefined },
      { key: 'x86', fields: ['process_startup_time_us', 'requests', 'load_snapshot'], arch: undefined },
      { key: 'rtc', fields: ['error_count'], arch: 'aarch64' },
    ]);
    assert.deepEqual(lists.families, [{ prefix: 'disk', fields: ['read_count', 'read_bytes', latency] }]);
  });

  test("v1.7's form: latency fields named in latency_agg_metrics join their groups", () => {
    const lists = parseValidatorLists(
      `def validate_fc_metrics(metrics):
    firecracker_metrics = {
        "block": ["read_count"],
    }
    latency_agg_metrics = {
        "block": [
            "read_agg",
        ],
    }
    for metrics_name in metrics.keys():
        if metrics_name.startswith("vhost_user_"):
            firecracker_metrics[metrics_name] = ["init_time_us"]
`,
      'fcmetrics.py',
    );
    assert.deepEqual(lists.groups, [{ key: 'block', fields: ['read_count', { name: 'read_agg', members: undefined }], arch: undefined }]);
    assert.deepEqual(lists.families, [{ prefix: 'vhost_user', fields: ['init_time_us'] }]);
  });

  test('a shape it does not know is an error naming the line', () => {
    const base = 'def validate_fc_metrics(metrics):\n    firecracker_metrics = {"a": ["x"]}\n';
    assert.throws(() => parseValidatorLists(`${base}    if os.name == "nt":\n        firecracker_metrics["b"] = ["y"]\n`, 'f.py'), {
      name: 'ValidatorSourceError',
      message: /^f\.py:4: an addition under a condition not understood \(if os \. name == "nt" :\)/,
    });
    assert.throws(() => parseValidatorLists('def validate_fc_metrics(metrics):\n    firecracker_metrics = build()\n', 'f.py'), { message: /^f\.py:2: firecracker_metrics is not a literal/ });
    assert.throws(() => parseValidatorLists('def other():\n    pass\n', 'f.py'), { message: 'f.py:0: no def validate_fc_metrics' });
    assert.throws(() => parseValidatorLists(`${base}    x = "open\n`, 'f.py'), { message: 'f.py:3: unterminated string' });
  });
});
