/**
 * The emulator given to `vmm-metrics/v86` does not have the v86 internals this module reaches
 * into (they are not v86's public API), or is not at the stage where they can be used. The
 * message names the v86 version this module was written against and the one found.
 */
export class V86InternalsError extends Error {
  override name = 'V86InternalsError';
}
