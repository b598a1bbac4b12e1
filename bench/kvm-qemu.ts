/**
 * The same guest in QEMU, for `npm run bench:kvm`: Debian's `qemu-system-x86` with KVM, its
 * `microvm` machine with ACPI (which declares virtio-mmio devices in its DSDT, as ours does) and
 * `virtio-balloon-device` (the balloon on virtio-mmio), so that both VMMs boot the same kernel and
 * initramfs and the same Linux drivers serve the same transport. Driven over QMP: `balloon` sets
 * the guest's target size, `BALLOON_CHANGE` events say what the driver reported (its
 * actual_pages, as a guest size).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface QemuGuestOptions {
  readonly kernel: string;
  readonly initrd: string;
  readonly cmdline: string;
  readonly memoryMib: number;
  /** QEMU's -cpu. */
  readonly cpu: string;
}

export class QemuGuest {
  readonly lines: string[] = [];
  /** BALLOON_CHANGE events: when they came (performance.now()) and the guest size they give. */
  readonly balloonChanges: { at: number; actualBytes: number }[] = [];
  readonly #process: ChildProcess;
  readonly #dir: string;
  #qmp: Socket | undefined;
  #pending: ((reply: Record<string, unknown>) => void)[] = [];
  #partial = '';

  private constructor(child: ChildProcess, dir: string) {
    this.#process = child;
    this.#dir = dir;
    child.stdout?.setEncoding('latin1');
    child.stdout?.on('data', (chunk: string) => {
      this.#partial += chunk;
      for (let end = this.#partial.indexOf('\n'); end >= 0; end = this.#partial.indexOf('\n')) {
        this.lines.push(this.#partial.slice(0, end).replace(/\r$/, ''));
        this.#partial = this.#partial.slice(end + 1);
      }
    });
  }

  get pid(): number {
    if (this.#process.pid === undefined) throw new Error('qemu has no pid');
    return this.#process.pid;
  }

  static async start(options: QemuGuestOptions): Promise<QemuGuest> {
    const dir = mkdtempSync(join(tmpdir(), 'vmm-qemu-'));
    const socket = join(dir, 'qmp.sock');
    const child = spawn(
      'qemu-system-x86_64',
      [
        '-enable-kvm',
        '-cpu', options.cpu,
        '-smp', '1',
        '-m', String(options.memoryMib),
        '-M', 'microvm,acpi=on,x-option-roms=off,rtc=off',
        '-nodefaults', '-no-user-config', '-nographic',
        '-serial', 'stdio',
        '-kernel', options.kernel,
        '-initrd', options.initrd,
        '-append', options.cmdline,
        '-device', 'virtio-balloon-device',
        '-qmp', `unix:${socket},server=on,wait=off`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const guest = new QemuGuest(child, dir);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => {
        reject(new Error(`qemu-system-x86_64 cannot be started (apt-get install qemu-system-x86): ${error.message}`));
      });
    });
    await guest.#connect(socket);
    return guest;
  }

  async #connect(path: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.#qmp = await new Promise<Socket>((resolve, reject) => {
          const socket = connect(path, () => {
            resolve(socket);
          });
          socket.once('error', reject);
        });
        break;
      } catch (error) {
        if (attempt > 100) throw new Error(`QMP socket ${path}: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    let buffer = '';
    const greeting = new Promise<void>((resolve) => {
      this.#pending.push(() => {
        resolve();
      });
    });
    this.#qmp.setEncoding('utf8');
    this.#qmp.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
        const message = JSON.parse(buffer.slice(0, end)) as Record<string, unknown>;
        buffer = buffer.slice(end + 1);
        if (message.event === 'BALLOON_CHANGE') {
          this.balloonChanges.push({ at: performance.now(), actualBytes: (message.data as { actual: number }).actual });
        } else if (message.event === undefined) {
          this.#pending.shift()?.(message);
        }
      }
    });
    await greeting;
    await this.command('qmp_capabilities');
  }

  /** Sends a QMP command and resolves with its `return` (rejects with its `error`). */
  command(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    const qmp = this.#qmp;
    if (qmp === undefined) return Promise.reject(new Error('QMP is not connected'));
    return new Promise((resolve, reject) => {
      this.#pending.push((reply) => {
        if (reply.error !== undefined) reject(new Error(`QMP ${execute}: ${JSON.stringify(reply.error)}`));
        else resolve(reply.return);
      });
      qmp.write(`${JSON.stringify(args === undefined ? { execute } : { execute, arguments: args })}\n`);
    });
  }

  async stop(): Promise<void> {
    this.#qmp?.destroy();
    if (this.#process.exitCode === null) {
      const exited = new Promise((resolve) => this.#process.once('exit', resolve));
      this.#process.kill('SIGTERM');
      await exited;
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
