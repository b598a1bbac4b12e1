/**
 * Test support for `vmm-metrics/kvm`: whether this machine can run its tests, and guests small
 * enough to write by hand.
 *
 * Three levels, each skipped loudly where it cannot run (the message says what is missing):
 * - `koffiOrSkip`: koffi loads (memory tests need mmap and madvise, not KVM);
 * - `kvmOrSkip`: /dev/kvm opens with every capability the VMM needs — a failure, not a skip,
 *   under VMM_METRICS_REQUIRE_KVM=1, which `.ci/run` sets where /dev/kvm exists;
 * - `linuxKvmOrSkip`: KVM runs a guest natively (VT-x or SVM), which booting Debian's kernel in
 *   seconds needs. PVM (`kvm_pvm`, KVM without hardware virtualization, the kind of KVM some
 *   sandboxes offer) runs a guest that is not a PVM kernel by emulation — about 1.5 µs for one
 *   iteration of a two-instruction loop, measured on this project's machines — so the Linux
 *   tests skip there, saying so, and fail instead under VMM_METRICS_REQUIRE_KVM_LINUX=1, which
 *   `.ci/run` sets where the CPU has vmx or svm.
 */
import assert from 'node:assert/strict';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { KvmSystem } from '../../src/kvm/system.js';

export const REQUIRE_KVM_ENV = 'VMM_METRICS_REQUIRE_KVM';
export const REQUIRE_KVM_LINUX_ENV = 'VMM_METRICS_REQUIRE_KVM_LINUX';

const warned = new Set<string>();
function skipLoudly(t: Pick<TestContext, 'skip'>, message: string): void {
  if (!warned.has(message)) {
    warned.add(message);
    process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  }
  t.skip(message);
}

let koffi: Promise<boolean> | undefined;
/** True when koffi loads; otherwise skips `t` loudly. */
export async function koffiOrSkip(t: Pick<TestContext, 'skip'>): Promise<boolean> {
  koffi ??= import('koffi').then(
    () => true,
    () => false,
  );
  if (await koffi) return true;
  skipLoudly(t, "koffi is not installed (npm install koffi): vmm-metrics/kvm's memory and KVM tests need it");
  return false;
}

let kvm: Promise<string | undefined> | undefined;
/** Why KVM cannot be used here (undefined when it can): opens /dev/kvm once and checks everything. */
function kvmProblem(): Promise<string | undefined> {
  kvm ??= KvmSystem.open().then(
    (system) => {
      system.close();
      return undefined;
    },
    (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error)),
  );
  return kvm;
}

/** True when KVM can be used; otherwise skips loudly, or fails under VMM_METRICS_REQUIRE_KVM=1. */
export async function kvmOrSkip(t: Pick<TestContext, 'skip'>): Promise<boolean> {
  if (!(await koffiOrSkip(t))) return false;
  const problem = await kvmProblem();
  if (problem === undefined) return true;
  if (process.env[REQUIRE_KVM_ENV] === '1') assert.fail(`KVM is required here (${REQUIRE_KVM_ENV}=1) but cannot be used: ${problem}`);
  skipLoudly(t, `KVM cannot be used here: ${problem}`);
  return false;
}

/** What kind of KVM this is: hardware-assisted (vmx/svm in /proc/cpuinfo), PVM, or unknown. */
export function kvmKind(): 'hardware' | 'pvm' | 'unknown' {
  try {
    if (/^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'))) return 'hardware';
  } catch {
    // Not Linux: no KVM at all, which kvmOrSkip reports.
  }
  return existsSync('/sys/module/kvm_pvm') ? 'pvm' : 'unknown';
}

/** True when KVM runs guests natively; otherwise skips loudly (fails under VMM_METRICS_REQUIRE_KVM_LINUX=1). */
export async function linuxKvmOrSkip(t: Pick<TestContext, 'skip'>): Promise<boolean> {
  if (!(await kvmOrSkip(t))) return false;
  const kind = kvmKind();
  if (kind === 'hardware') return true;
  const why =
    kind === 'pvm'
      ? 'KVM here is PVM (kvm_pvm, no VT-x/SVM): it runs a guest that is not a PVM kernel by emulation, far too slowly to boot Debian\'s kernel in a test'
      : 'the CPU shows neither vmx nor svm: KVM here cannot run a guest natively';
  if (process.env[REQUIRE_KVM_LINUX_ENV] === '1') assert.fail(`${REQUIRE_KVM_LINUX_ENV}=1 but ${why}`);
  skipLoudly(t, why);
  return false;
}

/** Whether `path` can be opened for reading and writing by this process. */
export function accessible(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A minimal vmlinux-shaped ELF64 whose one segment holds `code` at 16 MiB, its entry point: a
 * guest of a few instructions, entered in long mode like a kernel.
 */
export function tinyElf(code: readonly number[]): Uint8Array {
  const base = 0x100_0000;
  const elf = new Uint8Array(0x1000 + code.length);
  const view = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  view.setUint16(16, 2, true); // ET_EXEC
  view.setUint16(18, 62, true); // EM_X86_64
  view.setUint32(20, 1, true);
  view.setBigUint64(24, BigInt(base), true); // e_entry
  view.setBigUint64(32, 64n, true); // e_phoff
  view.setUint16(52, 64, true);
  view.setUint16(54, 56, true);
  view.setUint16(56, 1, true);
  view.setUint32(64, 1, true); // PT_LOAD
  view.setUint32(68, 5, true); // R+X
  view.setBigUint64(72, 0x1000n, true); // p_offset
  view.setBigUint64(80, BigInt(base), true); // p_vaddr
  view.setBigUint64(88, BigInt(base), true); // p_paddr
  view.setBigUint64(96, BigInt(code.length), true);
  view.setBigUint64(104, BigInt(code.length), true);
  elf.set(code, 0x1000);
  return elf;
}

/** x86-64 machine code, by the few instructions the tiny guests use. */
export const X64 = {
  /** mov dx, port */
  movDx: (port: number): number[] => [0x66, 0xba, port & 0xff, port >> 8],
  /** mov al, byte */
  movAl: (byte: number): number[] => [0xb0, byte],
  /** out dx, al */
  outDxAl: [0xee],
  /** mov rax, address; mov eax, [rax] (an absolute disp32 would be sign-extended past 2 GiB) */
  movEaxAbs: (address: number): number[] => [0x48, 0xb8, ...u32(address), 0, 0, 0, 0, 0x8b, 0x00],
  /** mov rbx, address; mov [rbx], eax */
  movAbsEax: (address: number): number[] => [0x48, 0xbb, ...u32(address), 0, 0, 0, 0, 0x89, 0x03],
  /** mov eax, imm32 */
  movEax: (value: number): number[] => [0xb8, ...u32(value)],
  /** mov ecx, eax */
  movEcxEax: [0x89, 0xc1],
  /** rol ecx, 4 */
  rolEcx4: [0xc1, 0xc1, 0x04],
  /** mov eax, ecx */
  movEaxEcx: [0x89, 0xc8],
  /** and al, 0x0f */
  andAl0f: [0x24, 0x0f],
  /** cli; hlt; jmp back to hlt */
  halt: [0xfa, 0xf4, 0xeb, 0xfd],
  /** jmp $ (a loop forever) */
  spin: [0xeb, 0xfe],
} as const;

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}

/** Code that writes `text` to COM1, one `out` per byte. */
export function printCode(text: string, port = 0x3f8): number[] {
  const code: number[] = [...X64.movDx(port)];
  for (const char of Buffer.from(text, 'latin1')) code.push(...X64.movAl(char), ...X64.outDxAl);
  return code;
}

/**
 * Code that reads the 32-bit value at `address` and writes it to COM1 as 8 hex digits (most
 * significant first), using a table-free nibble-to-ASCII: digit + '0', plus 7 above 9.
 */
export function printHex32Code(address: number, port = 0x3f8): number[] {
  const code: number[] = [...X64.movEaxAbs(address), ...X64.movEcxEax, ...X64.movDx(port)];
  for (let i = 0; i < 8; i++) {
    code.push(
      ...X64.rolEcx4,
      ...X64.movEaxEcx,
      ...X64.andAl0f,
      // cmp al, 10; jb +2; add al, 7; add al, '0'
      0x3c, 0x0a, 0x72, 0x02, 0x04, 0x07, 0x04, 0x30,
      ...X64.outDxAl,
    );
  }
  return code;
}
