/**
 * Errors of `vmm-metrics/kvm`, one class each with a stable `name`; their messages say what is
 * missing or wrong and where (tests pin them).
 */

/** The base of every error this VMM throws. */
export class KvmError extends Error {
  override name = 'KvmError';
}

/** koffi, the optional peer dependency through which this VMM calls the kernel, is not installed. */
export class KoffiMissingError extends KvmError {
  override name = 'KoffiMissingError';
  constructor(options?: ErrorOptions) {
    super("vmm-metrics/kvm: the 'koffi' package is not installed (npm install koffi); the VMM calls ioctl, mmap and madvise through it", options);
  }
}

/** /dev/kvm is not there, or cannot be opened. */
export class KvmUnavailableError extends KvmError {
  override name = 'KvmUnavailableError';
  constructor(
    readonly path: string,
    /** errno's name: ENOENT (no KVM here), EACCES or EPERM (no permission), … */
    readonly code: string,
  ) {
    super(
      code === 'ENOENT' || code === 'ENXIO' || code === 'ENODEV'
        ? `${path} does not exist (${code}): this machine offers no KVM (no virtualization extensions, or the kvm module is not loaded)`
        : code === 'EACCES' || code === 'EPERM'
          ? `${path}: permission denied (${code}): run as root or as a member of the group that owns ${path} (usually kvm)`
          : `${path} cannot be opened (${code})`,
    );
  }
}

/** KVM is there but lacks what this VMM needs (its API version, or a capability). */
export class KvmCapabilityError extends KvmError {
  override name = 'KvmCapabilityError';
  constructor(
    /** What is missing, each with what it is needed for. */
    readonly missing: readonly string[],
  ) {
    super(`KVM on this kernel lacks what this VMM needs: ${missing.join('; ')}`);
  }
}

/** A system call failed. */
export class SystemCallError extends KvmError {
  override name = 'SystemCallError';
  constructor(
    readonly call: string,
    readonly what: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(`${call} failed with ${code} (${what})`);
  }
}

/** The kernel image, the initramfs, the memory size or the command line cannot make a guest. */
export class GuestImageError extends KvmError {
  override name = 'GuestImageError';
}
