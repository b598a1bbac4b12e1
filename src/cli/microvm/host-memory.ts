/**
 * The simulated guest's RAM, held where the operating system sees it. Where koffi loads (an
 * optional peer dependency; a devDependency here) on Linux, the guest's memory is an anonymous
 * mapping (`MappedGuestMemory` over vmm-metrics/kvm's `anonymousMapping`, as a KVM guest's is):
 * a page the balloon gives back is `madvise`d away and the process's RSS falls by it. Elsewhere
 * it is the sparse `GuestMemory`, whose 4 KiB pages are buffers in V8's heap: dropping one frees
 * it to V8, which keeps the memory for its next allocations, so the RSS need not fall — the view
 * then says "dropped", not "given back" (measured: the RSS of a 1 GiB guest fell 42 MiB from its
 * 977 MiB peak while its balloon dropped 459 MiB of pages).
 *
 * vmm-metrics/kvm's libc and memory modules are loaded on demand, here only: a session where koffi
 * is not installed runs on the heap.
 */
import { GuestMemory } from '../../vstate/memory.js';
import { MappedGuestMemory } from '../../vstate/mapped-memory.js';

/** Where a session's guest memory lives: `mapped` gives pages back to the OS, `heap` to V8. */
export type GuestMemoryBacking = 'mapped' | 'heap';

export type SessionGuestMemory =
  | { readonly backing: 'mapped'; readonly memory: MappedGuestMemory }
  | {
      readonly backing: 'heap';
      readonly memory: GuestMemory;
      /** Why the memory is not mapped: what to install, or what failed. */
      readonly why: string;
    };

/**
 * Guest memory of `bytes` bytes: mapped where it can be (and `mapped` is not false), else on the
 * heap, saying why.
 */
export async function sessionGuestMemory(bytes: number, options: { readonly mapped?: boolean } = {}): Promise<SessionGuestMemory> {
  const heap = (why: string): SessionGuestMemory => ({ backing: 'heap', memory: new GuestMemory(bytes), why });
  if (options.mapped === false) return heap('mapped memory was not asked for');
  if (process.platform !== 'linux') return heap(`mmap's flags and madvise here are Linux's; this is ${process.platform}`);
  try {
    const [{ libc }, { anonymousMapping }] = await Promise.all([import('../../kvm/sys/libc.js'), import('../../kvm/memory.js')]);
    return { backing: 'mapped', memory: new MappedGuestMemory(anonymousMapping(await libc(), bytes, 'the guest memory')) };
  } catch (error) {
    return heap((error as Error).name === 'KoffiMissingError' ? 'koffi is not installed (npm install koffi)' : (error as Error).message);
  }
}
