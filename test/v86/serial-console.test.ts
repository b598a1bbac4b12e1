/**
 * `SerialConsole` on an emulator's UART events (a stand-in bus that calls the listeners as v86's
 * does, byte by byte): lines, the bounded history, and `waitForLine` seeing a line the guest
 * printed before the program asked for it (issue 17 §5).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V86 } from 'v86';
import { SerialConsole } from '../../src/v86/index.js';

/** The part of v86's bus a console uses, with `print` to play the guest's UART. */
function uart(): { emulator: V86; print: (text: string) => void; listeners: () => number } {
  const listeners = new Map<string, Set<(byte: number) => void>>();
  const emulator = {
    add_listener(event: string, listener: (byte: number) => void): void {
      const set = listeners.get(event) ?? new Set();
      set.add(listener);
      listeners.set(event, set);
    },
    remove_listener(event: string, listener: (byte: number) => void): void {
      listeners.get(event)?.delete(listener);
    },
  } as unknown as V86;
  return {
    emulator,
    print: (text) => {
      for (const byte of new TextEncoder().encode(text)) for (const listener of listeners.get('serial0-output-byte') ?? []) listener(byte);
    },
    listeners: () => listeners.get('serial0-output-byte')?.size ?? 0,
  };
}

test('waitForLine sees a line printed before it was called; { from: lineCount } waits for the next', async () => {
  const { emulator, print } = uart();
  const serial = new SerialConsole(emulator);
  print('VMM-GUEST-INIT kernel=6.1.0 uptime_s=1.00\r\nlogin: \r\nVMM-GUEST seq=0\n');
  assert.equal(serial.lineCount, 3);
  assert.equal(await serial.waitForLine(/^VMM-GUEST-INIT /, { timeoutMs: 100 }), 'VMM-GUEST-INIT kernel=6.1.0 uptime_s=1.00');
  assert.equal(await serial.waitForLine((line) => line.startsWith('login'), { timeoutMs: 100 }), 'login: ');
  const next = serial.waitForLine(/^VMM-GUEST seq=/, { from: serial.lineCount, timeoutMs: 1000 });
  print('VMM-GUEST seq=1\n');
  assert.equal(await next, 'VMM-GUEST seq=1');
  // A line number still to come: lines before it are not looked at.
  const later = serial.waitForLine(/^x/, { from: serial.lineCount + 1, timeoutMs: 1000 });
  print('x first\nx second\n');
  assert.equal(await later, 'x second');
  serial.close();
});

test('the history is the last maxLines lines: an older one is not seen; a timeout names the last lines; a signal stops the wait', async () => {
  const { emulator, print, listeners } = uart();
  const serial = new SerialConsole(emulator, { maxLines: 2 });
  print('one\ntwo\nthree\n');
  assert.deepEqual(serial.lines, ['two', 'three']);
  assert.equal(serial.lineCount, 3);
  await assert.rejects(serial.waitForLine(/one/, { timeoutMs: 20 }), { message: 'No serial line matched /one/ within 20 ms; the last lines:\ntwo\nthree' });
  const controller = new AbortController();
  const waiting = serial.waitForLine(/four/, { signal: controller.signal });
  controller.abort(new Error('the program moved on'));
  await assert.rejects(waiting, { message: 'the program moved on' });
  await assert.rejects(serial.waitForLine(/two/, { signal: AbortSignal.abort(new Error('before')) }), { message: 'before' });
  serial.close();
  assert.equal(listeners(), 0);
});
