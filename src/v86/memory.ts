/**
 * The guest memory of a v86 emulator, for a device: `FlatGuestMemory` over v86's RAM
 * (`cpu.mem8`, physical address 0 up), each write reported to v86's JIT (`cpu.jit_dirty_cache`)
 * so that code translated from those bytes is dropped.
 *
 * "Reclaimed" here: a range the balloon discards (an inflated page, a reported or hinted range) is
 * zeroed and its translated code dropped — the guest reads zeros there, as after Firecracker's
 * `madvise(MADV_DONTNEED)` — but the host keeps the memory: v86's RAM is one WebAssembly memory,
 * which can neither shrink nor unmap a page. `residentBytes()` is always the whole RAM.
 */
import { FlatGuestMemory } from '../vstate/flat-memory.js';
import { v86Cpu, type V86Cpu } from './internals.js';

/** The guest memory of a loaded v86 emulator; throws `V86InternalsError` if its internals are not there. */
export function v86GuestMemory(emulator: unknown): FlatGuestMemory {
  return guestMemoryOf(v86Cpu(emulator));
}

export function guestMemoryOf(cpu: V86Cpu): FlatGuestMemory {
  return new FlatGuestMemory({
    bytes: () => {
      // `mem8` hands out a view of the memory's current buffer on each access (a Proxy in v86's
      // builds); one plain view is kept, and fetched again if the memory grows.
      const ram = cpu.mem8;
      return new Uint8Array(ram.buffer, ram.byteOffset, ram.length);
    },
    written: (start, end) => {
      cpu.jit_dirty_cache(start, end);
    },
  });
}
