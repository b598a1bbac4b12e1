/**
 * What the VMM says when it cannot run: no /dev/kvm, no permission (a process that became
 * `nobody`), a kernel lacking a capability — messages pinned.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KvmCapabilityError, KvmUnavailableError, SystemCallError } from '../../src/kvm/errors.js';
import { KvmSystem } from '../../src/kvm/system.js';

describe('KVM errors', () => {
  test('no /dev/kvm: KvmUnavailableError naming the path and what it means', async () => {
    await assert.rejects(KvmSystem.open('/nonexistent/kvm'), {
      name: 'KvmUnavailableError',
      code: 'ENOENT',
      message: '/nonexistent/kvm does not exist (ENOENT): this machine offers no KVM (no virtualization extensions, or the kvm module is not loaded)',
    });
  });

  test('no permission: a process of nobody is told to run as root or join the group of /dev/kvm', (t) => {
    if (process.getuid?.() !== 0 || !existsSync('/dev/kvm')) {
      t.skip('needs root (to become nobody) and /dev/kvm');
      return;
    }
    // The module is loaded as root, then the process becomes nobody: a clone in a folder only
    // root may read (mktemp -d makes one) is not in the way of what is tested, the open.
    const module = fileURLToPath(new URL('../../src/kvm/system.js', import.meta.url));
    const script = [
      `const m = await import(${JSON.stringify(module)});`,
      "process.setgroups([]); process.setgid('nogroup'); process.setuid('nobody');",
      "await m.KvmSystem.open().then(() => console.log('opened'), (e) => console.log(e.name + ': ' + e.message));",
    ].join(' ');
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(result.stdout.trim(), 'KvmUnavailableError: /dev/kvm: permission denied (EACCES): run as root or as a member of the group that owns /dev/kvm (usually kvm)', result.stderr);
  });

  test('a capability missing, or a call failing, says which and what for', () => {
    assert.equal(
      new KvmCapabilityError(['KVM_CAP_PIT2 (the in-kernel i8254 PIT)', 'KVM_CAP_IMMEDIATE_EXIT (stopping a running vCPU)']).message,
      'KVM on this kernel lacks what this VMM needs: KVM_CAP_PIT2 (the in-kernel i8254 PIT); KVM_CAP_IMMEDIATE_EXIT (stopping a running vCPU)',
    );
    assert.equal(new SystemCallError('ioctl(KVM_CREATE_VM)', 'a new VM', 12, 'ENOMEM').message, 'ioctl(KVM_CREATE_VM) failed with ENOMEM (a new VM)');
    assert.equal(new KvmUnavailableError('/dev/kvm', 'EPERM').message, '/dev/kvm: permission denied (EPERM): run as root or as a member of the group that owns /dev/kvm (usually kvm)');
  });
});
