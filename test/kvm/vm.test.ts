/**
 * The VMM on KVM with guests of a few instructions: the long-mode entry, the UART, MMIO exits
 * reaching this project's MmioTransport (a read waited for, a write posted before the read that
 * follows it), the i8042 reset, and stopping a vCPU that the guest halted.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BalloonVm } from '../../src/kvm/balloon-vm.js';
import { MMIO_START } from '../../src/kvm/boot/layout.js';
import type { VcpuExit } from '../../src/kvm/vcpu-channel.js';
import { kvmOrSkip, printCode, printHex32Code, tinyElf, X64 } from './support.js';

const MEMORY = 64 << 20;

async function boot(code: number[]): Promise<{ vm: BalloonVm; output: () => string; waitFor: (text: string) => Promise<void> }> {
  const vm = await BalloonVm.create({
    kernel: tinyElf(code),
    cmdline: '',
    memoryBytes: MEMORY,
    balloon: { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0 },
  });
  let text = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  vm.vm.onSerial((bytes) => {
    text += Buffer.from(bytes).toString('latin1');
    for (const waiter of waiters.splice(0)) {
      if (text.includes(waiter.text)) waiter.resolve();
      else waiters.push(waiter);
    }
  });
  vm.start();
  return {
    vm,
    output: () => text,
    waitFor: (wanted) =>
      new Promise<void>((resolve, reject) => {
        if (text.includes(wanted)) {
          resolve();
          return;
        }
        const timer = setTimeout(() => {
          reject(new Error(`the guest did not print ${JSON.stringify(wanted)} in 20 s; it printed ${JSON.stringify(text)}`));
        }, 20_000);
        waiters.push({
          text: wanted,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
  };
}

describe('a microVM on KVM', () => {
  test('enters the guest in long mode, prints through the UART, and stops a halted vCPU', async (t) => {
    if (!(await kvmOrSkip(t))) return;
    const guest = await boot([...printCode('hello from long mode\n'), ...X64.halt]);
    await guest.waitFor('hello from long mode\n');
    const exit: VcpuExit = await guest.vm.vm.stop();
    assert.deepEqual(exit, { reason: 'stopped' });
    assert.equal(guest.output(), 'hello from long mode\n');
  });

  test("the guest reads the balloon's MMIO registers through this project's MmioTransport", async (t) => {
    if (!(await kvmOrSkip(t))) return;
    const code = [
      ...printHex32Code(MMIO_START + 0x000), // MagicValue
      ...printCode(' '),
      ...printHex32Code(MMIO_START + 0x004), // Version
      ...printCode(' '),
      ...printHex32Code(MMIO_START + 0x008), // DeviceID
      ...printCode(' '),
      // Status ← ACKNOWLEDGE, then read back: the posted write lands before the read.
      ...X64.movEax(1),
      ...X64.movAbsEax(MMIO_START + 0x070),
      ...printHex32Code(MMIO_START + 0x070),
      ...printCode(' '),
      // Past the window: nothing there reads zeros.
      ...printHex32Code(MMIO_START + 0x1000),
      ...printCode('\n'),
      ...X64.halt,
    ];
    const guest = await boot(code);
    try {
      await guest.waitFor('\n');
      // "virt", version 2, device 5 (balloon), status ACKNOWLEDGE, then an unclaimed address.
      assert.equal(guest.output(), '74726976 00000002 00000005 00000001 00000000\n');
      assert.equal(guest.vm.transport.status, 1);
    } finally {
      await guest.vm.stop();
    }
  });

  test('a guest that resets the machine through the i8042 (reboot=k) ends the VM', async (t) => {
    if (!(await kvmOrSkip(t))) return;
    const guest = await boot([...X64.movDx(0x64), ...X64.movAl(0xfe), ...X64.outDxAl, ...X64.spin]);
    try {
      const exit = await guest.vm.vm.exited;
      assert.deepEqual(exit, { reason: 'reset', detail: 'the guest reset the machine through the i8042' });
    } finally {
      await guest.vm.stop();
    }
  });

  test('stop() ends a vCPU that never leaves the guest (a loop with no exits)', async (t) => {
    if (!(await kvmOrSkip(t))) return;
    const guest = await boot([...printCode('spinning\n'), ...X64.spin]);
    await guest.waitFor('spinning\n');
    assert.deepEqual(await guest.vm.vm.stop(), { reason: 'stopped' });
  });
});
