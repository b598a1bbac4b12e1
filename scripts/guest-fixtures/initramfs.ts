/**
 * The initramfs of a guest: busybox, the wanted kernel modules with what they depend on, in load
 * order (from each module's `depends=`), /init, and whatever the guest adds (memhog on amd64) —
 * one recipe for the i386 guest of v86 and the amd64 guest of KVM.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { AptError } from './apt.js';
import { writeCpio, type CpioEntry } from './cpio.js';
import { MODULE_ORDER_FILE, MODULES_DIR } from './init.js';
import { dependsOf, indexModules, loadOrder, readModInfo, readModule } from './modules.js';

export interface InitramfsRecipe {
  /** Where the kernel package was extracted, its name (for messages) and release. */
  readonly kernelRoot: string;
  readonly kernelPackage: string;
  readonly release: string;
  /** Where the busybox package was extracted, and its name. */
  readonly busyboxRoot: string;
  readonly busyboxPackage: string;
  readonly wantedModules: readonly string[];
  readonly initScript: string;
  /** Files the guest adds, written before /init. */
  readonly extra?: readonly CpioEntry[];
}

/** Writes `<dir>/initramfs.cpio.gz` (next to it first, then renamed); returns it and the modules in load order. */
export function writeInitramfs(dir: string, recipe: InitramfsRecipe): { file: string; modules: string[] } {
  const modulesRoot = join(recipe.kernelRoot, 'lib', 'modules', recipe.release);
  if (!existsSync(modulesRoot)) throw new AptError(`${recipe.kernelPackage} has no lib/modules/${recipe.release}`);
  const files = indexModules(modulesRoot);
  const elves = new Map<string, Uint8Array>();
  const elf = (name: string): Uint8Array | undefined => {
    const cached = elves.get(name);
    if (cached !== undefined) return cached;
    const file = files.get(name);
    if (file === undefined) return undefined;
    const bytes = readModule(file);
    elves.set(name, bytes);
    return bytes;
  };
  const order = loadOrder(recipe.wantedModules, (name) => {
    const bytes = elf(name);
    return bytes === undefined ? undefined : dependsOf(readModInfo(bytes, name));
  });

  const busybox = join(recipe.busyboxRoot, 'bin', 'busybox');
  if (!existsSync(busybox)) throw new AptError(`${recipe.busyboxPackage} has no bin/busybox`);
  const encoder = new TextEncoder();
  const entries: CpioEntry[] = [
    ...['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'etc/vmm-guest', 'lib', MODULES_DIR, 'proc', 'sys', 'dev', 'run', 'root'].map(
      (path): CpioEntry => ({ kind: 'directory', path }),
    ),
    { kind: 'directory', path: 'tmp', mode: 0o1777 },
    // The kernel opens /dev/console for /init's standard streams before /init can mount devtmpfs;
    // without the node, /init would start with no console at all.
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'chardev', path: 'dev/ttyS0', major: 4, minor: 64 },
    { kind: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { kind: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 },
    // /init's #! needs a shell before `busybox --install` makes the other applets' links.
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    ...(recipe.extra ?? []),
    { kind: 'file', path: 'init', data: encoder.encode(recipe.initScript), mode: 0o755 },
    { kind: 'file', path: MODULE_ORDER_FILE, data: encoder.encode(order.map((name) => `${name}\n`).join('')) },
    ...order.map((name): CpioEntry => ({ kind: 'file', path: `${MODULES_DIR}/${name}.ko`, data: elf(name) ?? new Uint8Array(0) })),
  ];
  const file = join(dir, 'initramfs.cpio.gz');
  writeFileSync(`${file}.tmp`, gzipSync(writeCpio(entries), { level: 9 }));
  renameSync(`${file}.tmp`, file);
  return { file, modules: order };
}
