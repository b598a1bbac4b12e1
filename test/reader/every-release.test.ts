/**
 * The union of every release's fields (`everyReleaseShapes`): each field once, with the project's
 * declaration where it has one, the newest release's otherwise; the kind rule; the order rule;
 * names Prometheus takes, none twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prometheusFamilies } from '../../src/export/names.js';
import type { EntryShape } from '../../src/metrics/document.js';
import type { FieldInfo } from '../../src/metrics/group.js';
import { buildShapes, everyReleaseShapes } from '../../src/reader/every-release.js';
import { firecrackerSchema } from '../../src/reader/default-schema.js';
import { firecrackerReleases, type FirecrackerRelease, type ReleaseField } from '../../src/reader/releases.js';

const keyOf = (s: EntryShape): string => (s.kind === 'group' ? s.key : s.prefix);

test('every field of every release is there once, a number or a latency object as it was written', () => {
  const union = new Map(everyReleaseShapes().map((s) => [keyOf(s), s]));
  for (const release of firecrackerReleases()) {
    for (const entry of release.schema.entries) {
      const key = entry.kind === 'group' ? entry.key : entry.prefix;
      const shape = union.get(key);
      assert.ok(shape !== undefined, `${release.version}: ${key}`);
      for (const field of entry.group.fields) {
        const found: FieldInfo | undefined = shape.schema.fields.find((f) => f.name === field.name);
        assert.ok(found !== undefined, `${release.version}: ${key}.${field.name}`);
        assert.equal(found.kind === 'latency', field.kind === 'latency', `${key}.${field.name}`);
      }
    }
  }
  for (const shape of everyReleaseShapes()) {
    const names = shape.schema.fields.map((f) => f.name);
    assert.equal(new Set(names).size, names.length, keyOf(shape));
  }
  // block and net were single groups up to v1.5: a family of devices since.
  assert.equal(union.get('block')?.kind, 'devices');
  const rtc = union.get('rtc');
  assert.ok(rtc?.kind === 'group' && rtc.optional);
});

test("the project's declared fields keep their declaration; the others the newest release's that writes them", () => {
  const union = new Map(everyReleaseShapes().map((s) => [keyOf(s), s]));
  for (const entry of firecrackerSchema().entries) {
    const key = entry.kind === 'group' ? entry.key : entry.prefix;
    const fields = union.get(key)?.schema.fields ?? [];
    for (const declared of entry.schema.fields) assert.deepEqual(fields.find((f) => f.name === declared.name), declared, `${key}.${declared.name}`);
  }
  // net.mac_address_updates: written up to v1.16, not by main.
  const v116 = firecrackerReleases().find((r) => r.version === '1.16');
  const net116 = v116?.schema.entries.find((e) => e.kind === 'devices' && e.prefix === 'net')?.group.fields.find((f) => f.name === 'mac_address_updates');
  const mac = union.get('net')?.schema.fields.find((f) => f.name === 'mac_address_updates');
  assert.deepEqual(mac, { name: 'mac_address_updates', kind: net116?.kind, help: net116?.help, unit: net116?.unit });
  // …placed after the field it follows in v1.16.
  const names = union.get('net')?.schema.fields.map((f) => f.name) ?? [];
  assert.equal(names[names.indexOf('mac_address_updates') - 1], 'cfg_fails');
});

test('a field whose kind changed takes the newest release’s: vmm.panic_count, a counter in v1.0, is a store', () => {
  const vmm = everyReleaseShapes().find((s) => keyOf(s) === 'vmm');
  assert.equal(vmm?.schema.fields.find((f) => f.name === 'panic_count')?.kind, 'store');
  const v10 = firecrackerReleases()[0];
  assert.equal(v10?.schema.entries.find((e) => e.kind === 'group' && e.key === 'vmm')?.group.fields.find((f) => f.name === 'panic_count')?.kind, 'inc');

  // The rule on releases of its own: `x.a` a counter in the older, a store in the newer; `x.old` only in the older.
  const field = (name: string, kind: ReleaseField['kind']): ReleaseField => ({ name, kind, unit: 'count', help: `${name} (${kind})` });
  const release = (version: string, fields: ReleaseField[]): FirecrackerRelease => ({
    version,
    tag: `v${version}.0`,
    commit: '',
    patches: [],
    schema: { header: [{ key: 'utc_timestamp_ms', required: true }], entries: [{ kind: 'group', key: 'x', group: { fields }, arch: undefined }] },
  });
  const shapes = buildShapes([], [release('1.0', [field('old', 'inc'), field('a', 'inc')]), release('1.1', [field('a', 'store'), field('b', 'inc')])]);
  assert.deepEqual(
    shapes[0]?.schema.fields.map((f) => `${f.name}:${f.kind}`),
    ['old:inc', 'a:store', 'b:inc'],
  );
});

test('their Prometheus families: every name usable, none twice', () => {
  const families = prometheusFamilies(everyReleaseShapes());
  const names = families.map((f) => f.name);
  assert.equal(new Set(names).size, names.length);
  for (const name of ['firecracker_net_mac_address_updates_total', 'firecracker_vmm_device_events_total', 'firecracker_logger_log_fails_total', 'firecracker_vmm_panics']) {
    assert.ok(names.includes(name), name);
  }
});
