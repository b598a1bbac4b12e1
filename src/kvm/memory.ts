/**
 * Guest memory of a KVM VM: anonymous memory this process maps (`mmap`, private, no swap
 * reservation) and registers with KVM as slot 0 from guest physical address 0 — a
 * `MappedGuestMemory` (vstate/mapped-memory.ts: the checked accessors, `discardRange` by
 * `madvise(MADV_DONTNEED)`, `residentBytes()` by `mincore`) over a mapping made here, through
 * koffi. `anonymousMapping` makes that mapping for any guest memory that should give its pages
 * back to the host (`npm start`'s simulated guest uses it too).
 */
import { MappedGuestMemory, type HostMapping } from '../vstate/mapped-memory.js';
import { PAGE_SIZE } from '../vstate/memory.js';
import { check, MADV_DONTNEED, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE, type Libc } from './sys/libc.js';

export class KvmGuestMemory extends MappedGuestMemory {
  /** Maps `size` bytes (a positive multiple of the page size) of zeros. */
  static map(c: Libc, size: number): KvmGuestMemory {
    return new KvmGuestMemory(anonymousMapping(c, size, 'KvmGuestMemory'));
  }
}

/**
 * An anonymous private mapping of `size` bytes (a positive multiple of the page size) of zeros,
 * and the calls on it; a failed call throws a `SystemCallError` that names it. `owner` names
 * the caller in the RangeError of a bad size.
 */
interface Unmapping {
  readonly c: Libc;
  readonly address: bigint;
  readonly size: number;
}

/**
 * Unmaps a mapping whose view was collected: a VM its host dropped without closing its memory
 * would otherwise keep its pages for the life of the process. The view is what is watched (not
 * the memory that holds it) because any view handed out keeps it alive, so nothing can touch the
 * pages once they are gone; the held value names the mapping without holding the view.
 */
const COLLECTED_VIEWS = new FinalizationRegistry<Unmapping>(({ c, address, size }) => {
  c.munmap(address, size);
});

export function anonymousMapping(c: Libc, size: number, owner = 'anonymousMapping'): HostMapping {
  if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) {
    throw new RangeError(`${owner}: the size must be a positive multiple of ${PAGE_SIZE} bytes, got ${size}`);
  }
  const { address, bytes } = c.mmap(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (address === -1n) check(c, -1, `mmap(${size} bytes, anonymous)`, 'guest memory');
  const token = {};
  COLLECTED_VIEWS.register(bytes.buffer, { c, address, size }, token);
  return {
    address,
    bytes,
    discard(at, length) {
      // The message is made only on failure: this is the path of every page a balloon takes.
      if (c.madvise(at, length, MADV_DONTNEED) < 0) check(c, -1, `madvise(0x${at.toString(16)}, ${length}, MADV_DONTNEED)`, 'releasing guest pages');
    },
    residency(at, length, vector) {
      if (c.mincore(at, length, vector) < 0) check(c, -1, `mincore(0x${at.toString(16)}, ${length})`, 'counting resident guest pages');
    },
    unmap() {
      COLLECTED_VIEWS.unregister(token);
      c.munmap(address, size);
    },
  };
}
