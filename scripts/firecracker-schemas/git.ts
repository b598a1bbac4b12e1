/**
 * Read-only access to a Firecracker git checkout, bare or not, through `git` itself: tags, the
 * tree of a commit, blobs (cached by hash, so the many releases that share a file read it once)
 * and `git grep`. Nothing is checked out.
 */
import { execFileSync } from 'node:child_process';

export class GitError extends Error {
  override readonly name = 'GitError';
}

/** Enough for the largest source file of a release and for `ls-tree -r` of a big tree. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

export class GitRepo {
  readonly #trees = new Map<string, ReadonlyMap<string, string>>();
  readonly #blobs = new Map<string, string>();

  constructor(readonly gitDir: string) {
    const inside = this.#git(['rev-parse', '--git-dir']).trim();
    if (inside === '') throw new GitError(`${gitDir}: not a git repository`);
  }

  #git(args: readonly string[]): string {
    try {
      return execFileSync('git', ['-C', this.gitDir, ...args], { encoding: 'utf8', maxBuffer: MAX_OUTPUT_BYTES, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      const stderr = (error as { stderr?: unknown }).stderr;
      const detail = typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim().split('\n')[0] : String(error);
      throw new GitError(`git ${args.join(' ')} in ${this.gitDir}: ${detail ?? ''}`);
    }
  }

  /** Every tag with the commit it names (annotated tags peeled), in one call. */
  tagCommits(): Map<string, string> {
    const tags = new Map<string, string>();
    for (const line of this.#git(['for-each-ref', '--format=%(refname:short) %(objecttype) %(objectname) %(*objectname)', 'refs/tags']).split('\n')) {
      const [name, type, object, peeled] = line.split(' ');
      if (name === undefined || name === '') continue;
      if (type === 'commit') tags.set(name, object ?? '');
      else if (type === 'tag' && peeled !== undefined && peeled !== '') tags.set(name, peeled);
    }
    return tags;
  }

  /** The commit a ref (tag, branch, hash) names. */
  commitOf(ref: string): string {
    return this.#git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).trim();
  }

  /** Every file of the commit's tree, path → blob hash. */
  tree(commit: string): ReadonlyMap<string, string> {
    let tree = this.#trees.get(commit);
    if (tree === undefined) {
      const map = new Map<string, string>();
      for (const line of this.#git(['ls-tree', '-r', '--full-tree', commit]).split('\n')) {
        // <mode> SP <type> SP <hash> TAB <path>
        const match = /^\d+ blob ([0-9a-f]+)\t(.*)$/.exec(line);
        if (match !== null) map.set(match[2] ?? '', match[1] ?? '');
      }
      tree = map;
      this.#trees.set(commit, tree);
    }
    return tree;
  }

  /** A blob's text. */
  blob(hash: string): string {
    let text = this.#blobs.get(hash);
    if (text === undefined) {
      text = this.#git(['cat-file', 'blob', hash]);
      this.#blobs.set(hash, text);
    }
    return text;
  }

  /** Reads blobs into the cache in one `git cat-file --batch` (a release's sources are hundreds of files). */
  prefetch(hashes: Iterable<string>): void {
    const wanted = [...new Set(hashes)].filter((h) => !this.#blobs.has(h));
    if (wanted.length === 0) return;
    let out: Buffer;
    try {
      out = execFileSync('git', ['-C', this.gitDir, 'cat-file', '--batch'], { input: `${wanted.join('\n')}\n`, maxBuffer: MAX_OUTPUT_BYTES, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (error) {
      throw new GitError(`git cat-file --batch in ${this.gitDir}: ${String((error as { stderr?: unknown }).stderr ?? error)}`);
    }
    let at = 0;
    for (const hash of wanted) {
      const eol = out.indexOf(10, at);
      const header = out.toString('utf8', at, eol);
      // <hash> blob <size>, or <hash> missing (a file the snapshot lists but does not hold)
      const match = /^([0-9a-f]+) blob (\d+)$/.exec(header);
      if (match === null || match[1] !== hash) {
        if (header === `${hash} missing`) {
          at = eol + 1;
          continue;
        }
        throw new GitError(`git cat-file --batch: unexpected ${JSON.stringify(header)} for ${hash}`);
      }
      const size = Number(match[2]);
      this.#blobs.set(hash, out.toString('utf8', eol + 1, eol + 1 + size));
      at = eol + 1 + size + 1;
    }
  }

  /** The files of a commit's tree that `select` picks and whose text matches `pattern`. */
  search(commit: string, select: (path: string) => boolean, pattern: RegExp): string[] {
    const files = [...this.tree(commit)].filter(([path]) => select(path));
    this.prefetch(files.map(([, hash]) => hash));
    return files.filter(([, hash]) => this.#blobs.has(hash) && pattern.test(this.#blobs.get(hash) ?? '')).map(([path]) => path);
  }
}
