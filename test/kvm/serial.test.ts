/** The 16550A as Linux's 8250 driver probes and drives it. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Serial } from '../../src/kvm/devices/serial.js';

function uart(): { serial: Serial; out: number[]; interrupts: () => number } {
  const out: number[] = [];
  let interrupts = 0;
  const serial = new Serial({
    interrupt: () => {
      interrupts++;
    },
    output: (byte) => out.push(byte),
  });
  return { serial, out, interrupts: () => interrupts };
}

describe('the 16550A UART', () => {
  test("passes the 8250 driver's probes: scratch register, loopback MSR, FIFO in IIR", () => {
    const { serial } = uart();
    serial.write(7, 0xa5);
    assert.equal(serial.read(7), 0xa5);
    // autoconfig's loopback check: MCR = LOOP | OUT2 | RTS gives MSR 0x90 (DCD, CTS).
    serial.write(4, 0x10 | 0x0a);
    assert.equal(serial.read(6) & 0xf0, 0x90);
    serial.write(4, 0);
    serial.write(2, 0x01);
    assert.equal(serial.read(2) >> 6, 3, 'a 16550A: FIFO enabled');
    assert.equal(serial.read(5) & 0x60, 0x60, 'transmitter empty');
  });

  test('transmits at once; THRE interrupts when enabled, cleared by reading IIR', () => {
    const { serial, out, interrupts } = uart();
    serial.write(0, 0x41);
    assert.deepEqual(out, [0x41]);
    assert.equal(interrupts(), 0, 'no interrupt while IER is 0');
    serial.write(1, 0x02);
    assert.equal(interrupts(), 1, 'enabling THRE with the transmitter empty raises it');
    assert.equal(serial.read(2) & 0x0f, 0x02);
    assert.equal(serial.read(2) & 0x0f, 0x01, 'read once, it is gone');
    serial.write(0, 0x42);
    assert.equal(interrupts(), 2);
  });

  test('divisor latch access hides THR and IER; loopback sends bytes back to RBR', () => {
    const { serial, out } = uart();
    serial.write(3, 0x80);
    serial.write(0, 0x01);
    serial.write(1, 0x00);
    assert.equal(serial.read(0), 0x01);
    serial.write(3, 0x03);
    assert.deepEqual(out, []);
    serial.write(4, 0x10);
    serial.write(0, 0x5a);
    assert.deepEqual(out, []);
    assert.equal(serial.read(5) & 1, 1);
    assert.equal(serial.read(0), 0x5a);
  });

  test('received bytes raise the RX interrupt, which outranks THRE', () => {
    const { serial, interrupts } = uart();
    serial.write(1, 0x03);
    const before = interrupts();
    serial.receive([0x31, 0x32]);
    assert.equal(interrupts(), before + 1);
    assert.equal(serial.read(2) & 0x0f, 0x04);
    assert.equal(serial.read(0), 0x31);
    assert.equal(serial.read(0), 0x32);
    assert.equal(serial.read(5) & 1, 0);
  });
});
