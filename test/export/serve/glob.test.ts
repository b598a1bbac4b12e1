/**
 * `--metrics-glob`: the jailer's layout, where each VM writes a pipe of the same name in a chroot
 * of its own. The pattern's walk (names, links, hidden entries), then a fleet following pipes of
 * concurrent writer processes that appear and disappear under it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MetricsFleet } from '../../../src/export/serve/fleet.js';
import { listGlob, parseGlob } from '../../../src/export/serve/glob.js';
import { mkfifo, tempDir, waitFor } from '../../reader/helpers.js';
import { startJailedVm, type JailedVm } from './jailer.js';
import { parseExposition } from './support.js';

let dir: string;
let remove: () => void;
before(() => {
  ({ dir, remove } = tempDir('vmm-metrics-serve-glob-'));
});
after(() => {
  remove();
});

describe('a glob', () => {
  test('patterns it cannot take are refused, naming why', () => {
    assert.throws(() => parseGlob('/srv/jailer/firecracker/a/root/metrics.fifo'), /no \* or \?/);
    assert.throws(() => parseGlob('/srv/**/metrics.fifo'), /\*\* is not supported/);
    assert.throws(() => parseGlob('/srv/[ab]*/metrics.fifo'), /only \* and \?/);
    assert.throws(() => parseGlob('/srv/*/../metrics.fifo'), /\.\. folder/);
    assert.deepEqual({ root: parseGlob('/srv/jailer/firecracker/*/root/metrics.fifo').root }, { root: '/srv/jailer/firecracker' });
    assert.equal(parseGlob('*/metrics.fifo').root, '.');
  });

  test("the first * is the VM's name, whatever the name (fast-check)", () => {
    const glob = parseGlob('/j/*/root/vm-*.fifo');
    const first = glob.segments[0] as { match: RegExp };
    const second = glob.segments[2] as { match: RegExp; star: boolean };
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('/') && !s.startsWith('.')), (name) => {
        assert.equal(first.match.exec(name)?.[1], name);
        assert.equal(second.star, false);
        assert.ok(second.match.test(`vm-${name}.fifo`));
      }),
    );
    assert.equal(first.match.test('.hidden'), false);
  });

  test("the jailer's layout: one pipe per chroot, named by its folder; no link followed, no hidden folder", async () => {
    const root = join(dir, 'walk');
    for (const id of ['vm-a', 'vm-b', 'link-file', '.hidden', 'no-pipe']) mkdirSync(join(root, id, 'root'), { recursive: true });
    mkfifo(join(root, 'vm-a', 'root', 'metrics.fifo'));
    writeFileSync(join(root, 'vm-b', 'root', 'metrics.fifo'), '');
    mkfifo(join(root, '.hidden', 'root', 'metrics.fifo'));
    // A jailed process replaces its pipe with a link to a file of the host's: not followed.
    writeFileSync(join(dir, 'secret.json'), '{}\n');
    symlinkSync(join(dir, 'secret.json'), join(root, 'link-file', 'root', 'metrics.fifo'));
    // A chroot whose root is a link to another VM's: not followed either.
    mkdirSync(join(root, 'link-dir'));
    symlinkSync(join(root, 'vm-a', 'root'), join(root, 'link-dir', 'root'));
    mkdirSync(join(root, 'vm-c', 'root', 'metrics.fifo'), { recursive: true }); // a folder is no source
    const { matches, truncated } = await listGlob(parseGlob(`${root}/*/root/metrics.fifo`));
    assert.equal(truncated, false);
    assert.deepEqual(
      [...matches].sort(),
      [
        [join(root, 'vm-a', 'root', 'metrics.fifo'), 'vm-a'],
        [join(root, 'vm-b', 'root', 'metrics.fifo'), 'vm-b'],
      ],
    );
    const named = await listGlob(parseGlob(`${root}/vm-?/root/metrics.fifo`));
    assert.deepEqual([...named.matches.values()], [undefined, undefined]);
    await assert.rejects(listGlob(parseGlob(`${join(dir, 'absent')}/*/metrics.fifo`)), /ENOENT/);
  });
});

describe('a fleet following a glob', () => {
  test("pipes of concurrent writers appearing and disappearing under a jailer-like tree: each VM is its folder's id, totals exact", async () => {
    const root = join(dir, 'jailer', 'firecracker');
    mkdirSync(root, { recursive: true });
    const messages: string[] = [];
    const fleet = new MetricsFleet({ pollIntervalMs: 20, rescanMs: 100, log: (m) => messages.push(m) });
    const vms: JailedVm[] = [];
    try {
      fleet.followGlob(`${root}/*/root/metrics.fifo`);
      // Three VMs start together, of three releases (one older than v1.6, whose block is one group).
      vms.push(startJailedVm(root, '4f1c', '1.4', 20, 1), startJailedVm(root, '9a2e', '1.10', 20, 2), startJailedVm(root, 'b7d0', 'main', 20, 3));
      await Promise.all(vms.map((vm) => vm.written));
      await waitFor(() => vms.every((vm) => fleet.sources.get(vm.fifo)?.lines === 20), 'every line of the three VMs', 10_000);
      let samples = parseExposition(fleet.render());
      for (const vm of vms) {
        assert.equal(samples.get(`firecracker_balloon_inflate_count_total{vm="${vm.id}"}`), String(vm.inflateTotal), vm.id);
        assert.equal(fleet.sources.get(vm.fifo)?.invalidLines, 0);
      }
      // One stops and its chroot is removed (the jailer cleans up): its series go.
      const gone = vms[1] as JailedVm;
      gone.child.kill('SIGKILL');
      rmSync(join(root, gone.id), { recursive: true });
      await waitFor(() => !fleet.sources.has(gone.fifo), 'the removed VM dropped', 10_000);
      // A new one appears while the others keep writing.
      const late = startJailedVm(root, 'c3a9', '1.7', 10, 5);
      vms.push(late);
      await late.written;
      await waitFor(() => fleet.sources.get(late.fifo)?.lines === 10, 'the late VM read', 10_000);
      samples = parseExposition(fleet.render());
      assert.equal(samples.has(`firecracker_balloon_inflate_count_total{vm="${gone.id}"}`), false);
      assert.equal(samples.get(`firecracker_balloon_inflate_count_total{vm="${late.id}"}`), String(late.inflateTotal));
      assert.equal(samples.get(`firecracker_balloon_inflate_count_total{vm="4f1c"}`), String((vms[0] as JailedVm).inflateTotal));
      assert.equal(samples.get(`vmm_metrics_serve_source_info{source="${late.fifo}",vm="c3a9",release="1.7-1.9"}`), '1');
      // The removed VM's pipe may be missed on reopening before the next listing drops it: nothing else is said.
      assert.deepEqual(messages.filter((m) => !m.startsWith(gone.fifo)), []);
    } finally {
      for (const vm of vms) vm.child.kill('SIGKILL');
      await fleet.close();
    }
  });
});
