/**
 * `MetricsFleet` serving a fleet of every Firecracker release at once, without being told which:
 * lines written from each release's schema (test/support/release-line.ts), one file per VM.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MetricsFleet } from '../../../src/export/serve/fleet.js';
import { knownFirecrackerVersions, schemaOf } from '../../../src/reader/releases.js';
import { releaseLineSets } from '../../../src/reader/release-lines.js';
import { tempDir, waitFor } from '../../reader/helpers.js';
import { releaseLine, type ReleaseLineOptions } from '../../support/release-line.js';
import { parseExposition } from './support.js';

let dir: string;
let remove: () => void;
before(() => {
  ({ dir, remove } = tempDir('vmm-metrics-serve-releases-'));
});
after(() => {
  remove();
});

const T0 = Date.now() - 600_000;

function perDevice(version: string): boolean {
  return schemaOf(version).entries.some((e) => e.kind === 'devices' && e.prefix === 'block');
}

function devicesOf(version: string): Record<string, string[]> {
  return Object.fromEntries(schemaOf(version).entries.flatMap((e) => (e.kind === 'devices' ? [[e.prefix, e.prefix === 'block' ? ['rootfs', 'scratch'] : ['eth0']]] : [])));
}

/** A file of lines of `version`, the `round`-th with the values `values(round)`. */
function releaseFile(name: string, version: string, rounds: number, values: (round: number) => NonNullable<ReleaseLineOptions['values']>, options: Partial<ReleaseLineOptions> = {}): string {
  const lines = Array.from({ length: rounds }, (_, round) => releaseLine(version, { timestampMs: T0 + round * 1000, devices: devicesOf(version), values: values(round), ...options }));
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function fleetOf(options: { strict?: boolean; maxLineBytes?: number; log?: (m: string) => void } = {}): MetricsFleet {
  return new MetricsFleet({ pollIntervalMs: 20, rescanMs: 50, ...options });
}

async function linesRead(fleet: MetricsFleet, path: string, lines: number, invalid = 0): Promise<void> {
  await waitFor(() => (fleet.sources.get(path)?.lines ?? 0) + (fleet.sources.get(path)?.invalidLines ?? 0) >= lines + invalid, `${lines} lines of ${path}`);
  assert.equal(fleet.sources.get(path)?.lines, lines, path);
  assert.equal(fleet.sources.get(path)?.invalidLines, invalid, path);
}

describe('every release at once', () => {
  test("each VM's lines are valid and folded; each VM has the families its release writes, one name for a field whatever the release", async () => {
    const versions = knownFirecrackerVersions();
    const fleet = fleetOf();
    try {
      const paths = versions.map((version) => {
        const devices = perDevice(version);
        const path = releaseFile(`vm-${version}.json`, version, 3, (round) => ({
          'balloon.inflate_count': round + 1,
          [devices ? 'block_rootfs.read_count' : 'block.read_count']: 5,
          'vcpu.exit_io_in_agg': { min_us: 2, max_us: 9, sum_us: 11 },
        }));
        fleet.follow(path);
        return path;
      });
      for (const path of paths) await linesRead(fleet, path, 3);
      const samples = parseExposition(fleet.render());
      for (const version of versions) {
        const vm = `vm-${version}`;
        assert.equal(samples.get(`firecracker_balloon_inflate_count_total{vm="${vm}"}`), '6', vm);
        // block: a device's up to v1.5 it is the one group of all drives, without a device label.
        const devices = perDevice(version);
        assert.equal(samples.get(`firecracker_block_read_count_total{vm="${vm}"${devices ? ',device="rootfs"' : ''}}`), '15', vm);
        assert.equal(samples.has(`firecracker_block_read_count_total{vm="${vm}",device="scratch"}`), devices, vm);
        // A field a release does not write has no sample for its VMs.
        assert.equal(samples.has(`firecracker_balloon_free_page_report_count_total{vm="${vm}"}`), schemaOf(version).entries.some((e) => e.kind === 'group' && e.key === 'balloon' && e.group.fields.some((f) => f.name === 'free_page_report_count')), vm);
        const mac = `firecracker_net_mac_address_updates_total{vm="${vm}"${devices ? ',device="eth0"' : ''}}`;
        assert.equal(samples.has(mac), version !== 'main', mac);
        const latency = schemaOf(version).entries.some((e) => e.kind === 'group' && e.key === 'vcpu' && e.group.fields.some((f) => f.name === 'exit_io_in_agg'));
        assert.equal(samples.get(`firecracker_vcpu_exit_io_in_agg_seconds_total{vm="${vm}"}`), latency ? '0.000033' : undefined, vm);
        const set = releaseLineSets().find((s) => s.versions.includes(version));
        const source = join(dir, `vm-${version}.json`);
        assert.equal(samples.get(`vmm_metrics_serve_source_info{source="${source}",vm="${vm}",release="${set?.label ?? '?'}"}`), '1', vm);
        assert.equal(samples.get(`vmm_metrics_serve_unknown_fields_total{source="${source}"}`), '0');
      }
      // One HELP and TYPE a family, whatever the releases.
      const text = fleet.render();
      assert.equal(text.match(/^# TYPE firecracker_balloon_inflate_count_total /gm)?.length, 1);
    } finally {
      await fleet.close();
    }
  });

  test("a field whose kind changed is served with the newest release's kind: vmm.panic_count a gauge, a v1.0 line's number its value", async () => {
    const fleet = fleetOf();
    try {
      const old = releaseFile('panic-1.0.json', '1.0', 2, (round) => ({ 'vmm.panic_count': round === 0 ? 1 : 0, 'seccomp.num_faults': 1 }));
      const now = releaseFile('panic-1.16.json', '1.16', 2, () => ({ 'vmm.panic_count': 1, 'seccomp.num_faults': 1 }));
      fleet.follow(old);
      fleet.follow(now);
      await linesRead(fleet, old, 2);
      await linesRead(fleet, now, 2);
      const text = fleet.render();
      assert.match(text, /^# TYPE firecracker_vmm_panics gauge$/m);
      const samples = parseExposition(text);
      assert.equal(samples.get('firecracker_vmm_panics{vm="panic-1.0"}'), '0');
      assert.equal(samples.get('firecracker_vmm_panics{vm="panic-1.16"}'), '1');
      assert.equal(samples.get('firecracker_seccomp_num_faults{vm="panic-1.0"}'), '1');
    } finally {
      await fleet.close();
    }
  });
});

describe('lines of no release', () => {
  test('a newer release: its new fields served as counters by the same naming rule, counted, said once per source', async () => {
    const messages: string[] = [];
    const fleet = fleetOf({ log: (m) => messages.push(m) });
    try {
      const path = releaseFile('newer.json', 'main', 3, () => ({ 'balloon.inflate_count': 1 }), {
        extra: { 'balloon.new_count': 2, 'future.widgets_bytes': 1024, 'future.wait_agg': { min_us: 1, max_us: 4, sum_us: 5 } },
      });
      fleet.follow(path);
      await linesRead(fleet, path, 3);
      const text = fleet.render();
      const samples = parseExposition(text);
      assert.equal(samples.get('firecracker_balloon_inflate_count_total{vm="newer"}'), '3');
      assert.equal(samples.get('firecracker_balloon_new_count_total{vm="newer"}'), '6');
      assert.equal(samples.get('firecracker_future_widgets_bytes_total{vm="newer"}'), '3072');
      assert.equal(samples.get('firecracker_future_wait_agg_seconds_total{vm="newer"}'), '0.000015');
      assert.equal(samples.get('firecracker_future_wait_agg_max_seconds{vm="newer"}'), '0.000004');
      assert.match(text, /^# TYPE firecracker_balloon_new_count_total counter$/m);
      assert.equal(samples.get(`vmm_metrics_serve_unknown_fields_total{source="${path}"}`), '9');
      assert.equal(samples.get(`vmm_metrics_serve_source_info{source="${path}",vm="newer",release="unknown"}`), '1');
      assert.equal(samples.get(`vmm_metrics_serve_invalid_lines_total{source="${path}"}`), '0');
      const said = messages.filter((m) => m.includes('vmm_metrics_serve_unknown_fields_total'));
      assert.deepEqual(said, [`${path}: balloon.new_count, future.widgets_bytes, future.wait_agg: no Firecracker release this server knows writes them (a newer Firecracker?): served as counters; vmm_metrics_serve_unknown_fields_total counts them (said once per source)`]);
    } finally {
      await fleet.close();
    }
  });

  test('v1.7 as its fcmetrics.py lists it: served (no vcpu *_agg samples); with strict, refused', async () => {
    const omit = ['exit_io_in_agg', 'exit_io_out_agg', 'exit_mmio_read_agg', 'exit_mmio_write_agg'].map((f) => `vcpu.${f}`);
    const path = releaseFile('listed-1.7.json', '1.7', 2, () => ({ 'balloon.inflate_count': 3, 'block_rootfs.read_count': 1 }), { omit });
    const lenient = fleetOf();
    const strict = fleetOf({ strict: true });
    try {
      lenient.follow(path);
      strict.follow(path);
      await linesRead(lenient, path, 2);
      await linesRead(strict, path, 0, 2);
      const samples = parseExposition(lenient.render());
      assert.equal(samples.get('firecracker_balloon_inflate_count_total{vm="listed-1.7"}'), '6');
      assert.equal(samples.get('firecracker_block_read_count_total{vm="listed-1.7",device="rootfs"}'), '2');
      assert.equal(samples.has('firecracker_vcpu_exit_io_in_agg_seconds_total{vm="listed-1.7"}'), false);
      assert.equal(samples.get('firecracker_vcpu_exit_io_in_total{vm="listed-1.7"}'), '0');
      assert.equal(samples.get(`vmm_metrics_serve_source_info{source="${path}",vm="listed-1.7",release="unknown"}`), '1');
    } finally {
      await lenient.close();
      await strict.close();
    }
  });

  test('refused only when not JSON, a value of the wrong type, or too long; missing parts and another order are taken', async () => {
    const good = releaseLine('1.13', { timestampMs: T0, devices: devicesOf('1.13'), values: { 'balloon.inflate_count': 1 } });
    const lines = [
      good,
      good.replace(/"logger":\{[^}]*\},/, '').replace('"activate_fails":0,"inflate_count":1', '"inflate_count":1,"activate_fails":0'),
      good.slice(0, 200),
      good.replace('"inflate_count":1', '"inflate_count":"1"'),
      `${good.slice(0, -1)},"future":{"x":"y"}}`,
      `${good.slice(0, -1)},"padding":{"x":${'1'.repeat(0)}0,"p":"${'x'.repeat(20_000)}"}}`,
    ];
    const path = join(dir, 'mixed-bag.json');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const fleet = fleetOf({ maxLineBytes: 16_384 });
    try {
      fleet.follow(path);
      await linesRead(fleet, path, 2, 4);
      assert.equal(parseExposition(fleet.render()).get('firecracker_balloon_inflate_count_total{vm="mixed-bag"}'), '2');
    } finally {
      await fleet.close();
    }
  });
});
