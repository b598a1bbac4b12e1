/**
 * `memhog`, the guest program that makes a guest's memory the host's: it maps N MiB, writes
 * every page of it, says so on its standard output, and gives it back (munmap) before it exits.
 * Built at fetch time with the machine's `gcc -static` (Debian's gcc and libc6-dev), so the
 * initramfs needs nothing but busybox besides.
 *
 * Output: `VMM-GUEST-MEMHOG mib=N touched_kb=K` after the writes, `VMM-GUEST-MEMHOG-DONE mib=N`
 * once it unmapped them; `VMM-GUEST-ERROR memhog: …` if it could not.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AptError, run, which } from './apt.js';

export const MEMHOG_SOURCE = `/* memhog: touch N MiB, report, free (vmm-metrics guest fixtures). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  if (mib <= 0) { printf("VMM-GUEST-ERROR memhog: usage: memhog MIB\\n"); return 2; }
  size_t bytes = (size_t)mib << 20;
  long page = sysconf(_SC_PAGESIZE);
  unsigned char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { printf("VMM-GUEST-ERROR memhog: mmap %ld MiB failed\\n", mib); return 1; }
  /* A nonzero byte in every page: the host cannot share or skip it. */
  for (size_t at = 0; at < bytes; at += (size_t)page) p[at] = (unsigned char)(1 + at / (size_t)page);
  printf("VMM-GUEST-MEMHOG mib=%ld touched_kb=%zu\\n", mib, bytes >> 10);
  fflush(stdout);
  munmap(p, bytes);
  printf("VMM-GUEST-MEMHOG-DONE mib=%ld\\n", mib);
  return 0;
}
`;

/** Compiles memhog for the machine's own architecture (amd64 here), statically. */
export function buildMemhog(): Uint8Array {
  const gcc = which('gcc');
  if (gcc === undefined) throw new AptError('gcc is not installed (apt-get install gcc libc6-dev): memhog is built with it');
  const dir = mkdtempSync(join(tmpdir(), 'memhog-'));
  try {
    writeFileSync(join(dir, 'memhog.c'), MEMHOG_SOURCE);
    const result = run(gcc, ['-static', '-O2', '-s', '-o', join(dir, 'memhog'), join(dir, 'memhog.c')]);
    if (result.status !== 0) throw new AptError(`gcc -static memhog.c failed (is libc6-dev installed?):\n${result.stderr}`);
    return readFileSync(join(dir, 'memhog'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
