/**
 * The emulator given to `vmm-metrics/v86` does not have the v86 internals this module reaches
 * into (they are not v86's public API), or is not at the stage where they can be used. The
 * message names the v86 version this module was written against and the one found.
 */
export class V86InternalsError extends Error {
  override name = 'V86InternalsError';
}

/**
 * The v86 emulator panicked — an error thrown out of it, mostly a WebAssembly `unreachable` where
 * v86's Rust code panics ("Unimplemented: #GP handler" when a guest's interrupt tables are gone):
 * the guest crashed its emulator. The emulator was stopped; `cause` is what v86 threw.
 */
export class V86PanicError extends Error {
  override name = 'V86PanicError';
  constructor(options: { cause: unknown }) {
    const cause = options.cause;
    super(`The v86 emulator panicked and was stopped: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`, options);
  }
}
