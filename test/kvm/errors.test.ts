/**
 * What the VMM says when it cannot run: no /dev/kvm, no permission (a process of `nobody`, as
 * setpriv makes one), a kernel lacking a capability — messages pinned.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KvmCapabilityError, KvmUnavailableError, SystemCallError } from '../../src/kvm/errors.js';
import { KvmSystem } from '../../src/kvm/system.js';
import { which } from '../../scripts/guest-fixtures/apt.js';

describe('KVM errors', () => {
  test('no /dev/kvm: KvmUnavailableError naming the path and what it means', async () => {
    await assert.rejects(KvmSystem.open('/nonexistent/kvm'), {
      name: 'KvmUnavailableError',
      code: 'ENOENT',
      message: '/nonexistent/kvm does not exist (ENOENT): this machine offers no KVM (no virtualization extensions, or the kvm module is not loaded)',
    });
  });

  test('no permission: a process of nobody is told to run as root or join the group of /dev/kvm', (t) => {
    const setpriv = which('setpriv');
    if (process.getuid?.() !== 0 || setpriv === undefined || !existsSync('/dev/kvm')) {
      t.skip('needs root, setpriv and /dev/kvm to drop to nobody');
      return;
    }
    const module = fileURLToPath(new URL('../../src/kvm/system.js', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then((m) => m.KvmSystem.open()).then(() => console.log('opened'), (e) => console.log(e.name + ': ' + e.message))`;
    const result = spawnSync(setpriv, ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8' });
    assert.equal(result.stdout.trim(), 'KvmUnavailableError: /dev/kvm: permission denied (EACCES): run as root or as a member of the group that owns /dev/kvm (usually kvm)');
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
