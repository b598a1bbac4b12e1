/**
 * The balloon's page frames, a stack (the last page in is the first deflated) in a typed array
 * sized for the whole guest when it is made: a round adds its frames in one copy, and inflating
 * allocates no memory. (Growing it as the balloon grows would make new ArrayBuffers
 * mid-inflation; each counts as external memory, and right after a guest held much of it, V8
 * answers with a full garbage collection there and then.) Like the model's own per-page arrays,
 * it takes address space for every page, host memory only for those the balloon holds. Frame
 * numbers fit 32 bits, as the model's free queue (an Int32Array) and the u32 entries of the
 * inflate buffers require.
 */
export class PageStack {
  readonly #pages: Uint32Array;
  #length = 0;

  constructor(capacity: number) {
    this.#pages = new Uint32Array(capacity);
  }

  get length(): number {
    return this.#length;
  }

  pushAll(pfns: Uint32Array): void {
    if (this.#length + pfns.length > this.#pages.length) throw new RangeError(`PageStack.pushAll: more than ${this.#pages.length} pages`);
    this.#pages.set(pfns, this.#length);
    this.#length += pfns.length;
  }

  /** Fills `into` with the pages last pushed, the last first, and takes them off. */
  popInto(into: Uint32Array): void {
    if (into.length > this.#length) throw new RangeError(`PageStack.popInto: ${into.length} pages wanted, ${this.#length} held`);
    for (let i = 0; i < into.length; i++) into[i] = this.#pages[--this.#length] ?? 0;
  }

  /** The pages, oldest first; a view, valid until the stack changes. */
  values(): Uint32Array {
    return this.#pages.subarray(0, this.#length);
  }
}
