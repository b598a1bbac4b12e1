/**
 * The `vm` label of each followed source, unique whatever the lines' ids are.
 *
 * A source's label is its lines' `id` (else what its glob's `*` matched, else its file's name),
 * and two sources may say the same id. The second and later ones, in the order they were followed, are told apart by their path:
 * `vm="<id> (<path>)"`. An id is any text a writer chooses, so it may already be that text (ids
 * `x`, `x (/run/fc/c.json)`, then `x` from `/run/fc/c.json`): a label already taken gets a number
 * after its path, `vm="<id> (<path> #2)"`, `#3`, … until it is free. No two sources ever share a
 * label, so no two series of a scrape do.
 */

export interface LabelledSource {
  /** The label the source asks for: its lines' id, else what its glob's `*` matched, else its file's name. */
  readonly vm: string;
  /** Unique among the sources. */
  readonly path: string;
}

/** Each source's `vm` label value (unescaped), in the order of `sources`. */
export function uniqueVmLabels(sources: readonly LabelledSource[]): string[] {
  const taken = new Set<string>();
  return sources.map(({ vm, path }) => {
    let label = vm;
    if (taken.has(label)) label = `${vm} (${path})`;
    for (let n = 2; taken.has(label); n++) label = `${vm} (${path} #${String(n)})`;
    taken.add(label);
    return label;
  });
}
