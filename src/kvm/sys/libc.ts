/**
 * The C library calls this VMM makes, through koffi (an optional peer dependency: loaded here,
 * on demand, and nowhere else). Each call that fails throws a `SystemCallError` naming the call,
 * what it was for and errno's name, so that a missing capability or permission reads as such.
 *
 * Pointers stay on this side: `mmap` returns an address (a bigint, as koffi gives it) and a
 * JavaScript view of the mapping; everything else takes addresses as numbers below 2^53.
 */
import { constants } from 'node:os';
import { KoffiMissingError, SystemCallError } from '../errors.js';

/** The calls, bound. `fd` arguments are file descriptors; `ptr` arguments are Uint8Arrays passed by address. */
export interface Libc {
  open(path: string, flags: number): number;
  close(fd: number): number;
  ioctl(fd: number, request: number, arg: number): number;
  ioctlPtr(fd: number, request: number, arg: Uint8Array): number;
  /** `mmap`, returning the address and a view of `length` bytes (none for a shared file mapping that is only read). */
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): { address: bigint; bytes: Uint8Array };
  munmap(address: bigint, length: number): number;
  madvise(address: number, length: number, advice: number): number;
  mincore(address: number, length: number, vector: Uint8Array): number;
  gettid(): number;
  tgkill(tgid: number, tid: number, signal: number): number;
  pthreadSigmask(how: number, set: Uint8Array | null, old: Uint8Array | null): number;
  sigtimedwait(set: Uint8Array, info: Uint8Array | null, timeout: Uint8Array): number;
  sigrtmin(): number;
  errno(): number;
}

export const O_RDWR = 2;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MADV_DONTNEED = 4;
export const SIG_BLOCK = 0;
/** glibc's `sigset_t` is 1024 bits; the kernel's (KVM_SET_SIGNAL_MASK) is 64. */
export const SIGSET_BYTES = 128;
export const KERNEL_SIGSET_BYTES = 8;

let loaded: Promise<Libc> | undefined;

/** The bindings, loaded once per thread (a worker loads its own). */
export function libc(): Promise<Libc> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<Libc> {
  let koffi: (typeof import('koffi'))['default'];
  try {
    koffi = (await import('koffi')).default;
  } catch (error) {
    throw new KoffiMissingError({ cause: error });
  }
  const lib = koffi.load('libc.so.6');
  const open = lib.func('int open(const char *path, int flags)');
  const close = lib.func('int close(int fd)');
  const ioctlInt = lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']);
  const ioctlPtr = lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']);
  const mmap = lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
  const munmap = lib.func('int munmap(uintptr_t addr, size_t length)');
  const madvise = lib.func('int madvise(uintptr_t addr, size_t length, int advice)');
  const mincore = lib.func('int mincore(uintptr_t addr, size_t length, void *vec)');
  const gettid = lib.func('int gettid(void)');
  const tgkill = lib.func('int tgkill(int tgid, int tid, int sig)');
  const pthreadSigmask = lib.func('int pthread_sigmask(int how, void *set, void *oldset)');
  const sigtimedwait = lib.func('int sigtimedwait(void *set, void *info, void *timeout)');
  const sigrtmin = lib.func('int __libc_current_sigrtmin(void)');
  return {
    open: (path, flags) => open(path, flags) as number,
    close: (fd) => close(fd) as number,
    ioctl: (fd, request, arg) => ioctlInt(fd, request, arg) as number,
    ioctlPtr: (fd, request, arg) => ioctlPtr(fd, request, arg) as number,
    mmap(length, prot, flags, fd, offset) {
      const pointer: unknown = mmap(null, length, prot, flags, fd, offset);
      const address = pointer === null ? -1n : koffi.address(pointer);
      // MAP_FAILED is (void *) -1.
      if (address === -1n || address === 0xffff_ffff_ffff_ffffn) return { address: -1n, bytes: new Uint8Array(0) };
      return { address, bytes: new Uint8Array(koffi.view(pointer, length)) };
    },
    munmap: (address, length) => munmap(address, length) as number,
    madvise: (address, length, advice) => madvise(address, length, advice) as number,
    mincore: (address, length, vector) => mincore(address, length, vector) as number,
    gettid: () => gettid() as number,
    tgkill: (tgid, tid, signal) => tgkill(tgid, tid, signal) as number,
    pthreadSigmask: (how, set, old) => pthreadSigmask(how, set, old) as number,
    sigtimedwait: (set, info, timeout) => sigtimedwait(set, info, timeout) as number,
    sigrtmin: () => sigrtmin() as number,
    errno: () => koffi.errno(),
  };
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** errno's symbolic name (EACCES), or its number when the platform has no name for it. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/**
 * `result` when it is not negative; otherwise a `SystemCallError` for `call` (the call and its
 * arguments, as a reader would write them) doing `what`.
 */
export function check(c: Libc, result: number, call: string, what: string): number {
  if (result >= 0) return result;
  const errno = c.errno();
  throw new SystemCallError(call, what, errno, errnoName(errno));
}

/** A sigset (glibc's layout, or the kernel's with `bytes` = 8) holding `signal` alone. */
export function sigsetOf(signal: number, bytes = SIGSET_BYTES): Uint8Array {
  const set = new Uint8Array(bytes);
  const bit = signal - 1;
  set[bit >> 3] = 1 << (bit & 7);
  return set;
}
