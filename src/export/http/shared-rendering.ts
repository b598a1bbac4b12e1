/**
 * `/metrics` rendered once for every request that wants it at the same time, and held by a
 * bounded number of responses in flight.
 *
 * - Every request that asks during a turn of the event loop joins one rendering, made in the
 *   turn's check phase (`setImmediate`): a burst of scrapes, or of attackers, is one rendering.
 * - A rendering is one `Buffer` that every response sends as it is (Node writes a `Buffer` to a
 *   socket without copying it), so slow readers of the same rendering share its memory.
 * - Responses still in flight hold their rendering; once they hold `maxHeld` renderings, a request
 *   is given the newest one instead of a fresh one. Without that, each non-reading client of a
 *   fleet that changes every millisecond would hold its own 16 MB.
 */

/** One rendering of `/metrics`, as an endpoint gives it. */
export interface Exposition {
  readonly contentType: string;
  readonly body: string | Buffer;
}

/** An exposition as the server sends it: its body as bytes. */
export interface Rendering {
  readonly contentType: string;
  readonly body: Buffer;
}

export class SharedRendering {
  readonly #render: () => Exposition | Promise<Exposition>;
  readonly #maxHeld: number;
  #pending: Promise<Rendering> | undefined;
  #newest: Rendering | undefined;
  /** Bodies held by responses in flight, with how many hold each. */
  readonly #held = new Map<Buffer, number>();

  constructor(render: () => Exposition | Promise<Exposition>, maxHeld: number) {
    this.#render = render;
    this.#maxHeld = maxHeld;
  }

  /** Renderings held by responses in flight now. */
  get held(): number {
    return this.#held.size;
  }

  /** The rendering to answer with; rejects with the renderer's error. */
  get(): Promise<Rendering> {
    if (this.#newest !== undefined && this.#held.size >= this.#maxHeld) return Promise.resolve(this.#newest);
    return (this.#pending ??= this.#renderSoon());
  }

  /** Counts `body` as held until the returned function is called (once or more). */
  hold(body: Buffer): () => void {
    this.#held.set(body, (this.#held.get(body) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const count = (this.#held.get(body) ?? 1) - 1;
      if (count === 0) this.#held.delete(body);
      else this.#held.set(body, count);
    };
  }

  async #renderSoon(): Promise<Rendering> {
    try {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const { contentType, body } = await this.#render();
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      // The same bytes again (a renderer that caches until something changes) are the same rendering.
      if (this.#newest?.body !== bytes || this.#newest.contentType !== contentType) this.#newest = { contentType, body: bytes };
      return this.#newest;
    } finally {
      this.#pending = undefined;
    }
  }
}
