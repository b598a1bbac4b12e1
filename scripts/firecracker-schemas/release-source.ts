/**
 * The Rust sources of one Firecracker commit, as the derivation reads them: files parsed on
 * demand (each parse cached by blob, shared between releases), Rust module paths resolved to
 * files the way rustc does (`a/b.rs` or `a/b/mod.rs` under the crate's root), and a struct found
 * by name in its own file or, failing that, as the one definition of that name in its crate.
 *
 * It records every file it read with its blob hash: the metrics sources of the release, which
 * tell where a patch release's sources differ from its minor's.
 */
import { dirname } from 'node:path/posix';
import type { GitRepo } from './git.js';
import { RustSourceError } from './rust-lexer.js';
import { isTestOnly, parseRustFile, type RustFile, type StaticDecl, type StructDecl } from './rust-items.js';

const parsed = new Map<string, RustFile>();

export class ReleaseSource {
  /** The files read, path → blob hash, in the order first read. */
  readonly sources = new Map<string, string>();
  readonly #tree: ReadonlyMap<string, string>;
  /** Structs found in their crate, by crate root and name. */
  readonly #found = new Map<string, { decl: StructDecl; file: RustFile }>();

  constructor(
    readonly repo: GitRepo,
    /** The commit whose sources these are. */
    readonly commit: string,
  ) {
    this.#tree = repo.tree(commit);
  }

  has(path: string): boolean {
    return this.#tree.has(path);
  }

  /** Parses a file; `record` false reads it without counting it among the release's metrics sources. */
  read(path: string, record = true): RustFile {
    const blob = this.#tree.get(path);
    if (blob === undefined) throw new RustSourceError(path, 0, `no such file in ${this.commit}`);
    if (record) this.sources.set(path, blob);
    let file = parsed.get(blob);
    if (file === undefined) {
      file = parseRustFile(this.repo.blob(blob), path);
      parsed.set(blob, file);
    } else if (file.path !== path) {
      // The same blob under another name: parse again so that errors and module paths name this one.
      file = parseRustFile(this.repo.blob(blob), path);
    }
    return file;
  }

  /** The directory of the crate `path` belongs to: the nearest ancestor holding lib.rs or main.rs. */
  crateRootOf(path: string): string {
    for (let dir = dirname(path); dir !== '.' && dir !== '/'; dir = dirname(dir)) {
      if (this.has(`${dir}/lib.rs`) || this.has(`${dir}/main.rs`)) return `${dir}/`;
    }
    throw new RustSourceError(path, 0, 'no crate root (lib.rs or main.rs) above this file');
  }

  /** The directory a module's children live in: `a/mod.rs` → `a/`, `a/b.rs` → `a/b/`. */
  #moduleDir(path: string): string {
    return /(^|\/)(mod|lib|main)\.rs$/.test(path) ? `${dirname(path)}/` : `${path.slice(0, -'.rs'.length)}/`;
  }

  #child(dir: string, name: string, from: string, line: number): string {
    for (const candidate of [`${dir}${name}.rs`, `${dir}${name}/mod.rs`]) if (this.has(candidate)) return candidate;
    throw new RustSourceError(from, line, `module ${name}: neither ${dir}${name}.rs nor ${dir}${name}/mod.rs exists`);
  }

  /**
   * The file of the module a path names from `file`: `crate::devices::legacy`, `super::x`,
   * `self::x`, a module `file` declares (`mod i8042;`) or a name it imports with `use`.
   */
  moduleFile(file: RustFile, segments: readonly string[], line: number, seen: ReadonlySet<string> = new Set()): string {
    const [first, ...rest] = segments;
    if (first === undefined) throw new RustSourceError(file.path, line, 'empty module path');
    let dir: string;
    let walk: readonly string[];
    if (first === 'crate') {
      dir = this.crateRootOf(file.path);
      walk = rest;
    } else if (first === 'self') {
      dir = this.#moduleDir(file.path);
      walk = rest;
    } else if (first === 'super') {
      dir = `${dirname(this.#moduleDir(file.path).slice(0, -1))}/`;
      walk = rest;
    } else if (file.uses.has(first) && !seen.has(first)) {
      return this.moduleFile(file, [...(file.uses.get(first) ?? []), ...rest], line, new Set([...seen, first]));
    } else if (file.mods.includes(first)) {
      dir = this.#moduleDir(file.path);
      walk = segments;
    } else {
      throw new RustSourceError(file.path, line, `cannot tell which module ${segments.join('::')} is (not crate::, self::, super::, a mod or a use of this file)`);
    }
    if (walk.length === 0) throw new RustSourceError(file.path, line, `${segments.join('::')} names a crate or directory, not a module file`);
    let path = '';
    for (const segment of walk) {
      path = this.#child(dir, segment, file.path, line);
      dir = this.#moduleDir(path);
    }
    return path;
  }

  /** The one non-test `static NAME` of a file. */
  staticOf(file: RustFile, name: string, line: number): StaticDecl {
    const found = file.statics.filter((s) => s.name === name);
    if (found.length !== 1) throw new RustSourceError(file.path, line, `expected one static ${name} in ${file.path}, found ${found.length}`);
    return found[0] as StaticDecl;
  }

  /**
   * A struct by name: the one in `from` if it declares it, else the one definition of that name
   * among the non-test Rust files of `from`'s crate.
   */
  struct(name: string, from: RustFile, line: number): { decl: StructDecl; file: RustFile } {
    const local = from.structs.filter((s) => s.name === name);
    if (local.length === 1) return { decl: local[0] as StructDecl, file: from };
    if (local.length > 1) throw new RustSourceError(from.path, line, `struct ${name} is declared ${local.length} times in this file`);
    const root = this.crateRootOf(from.path);
    const known = this.#found.get(`${root}\0${name}`);
    if (known !== undefined) return known;
    const hits = this.repo.search(this.commit, (p) => p.startsWith(root) && p.endsWith('.rs'), new RegExp(`\\bstruct ${name}\\b`));
    const found: { decl: StructDecl; file: RustFile }[] = [];
    for (const path of hits) {
      const file = this.read(path, false);
      for (const decl of file.structs) if (decl.name === name && !isTestOnly(decl.attrs)) found.push({ decl, file });
    }
    if (found.length !== 1) {
      const where = found.map((f) => `${f.file.path}:${f.decl.line}`).join(', ');
      throw new RustSourceError(from.path, line, `expected one struct ${name} in ${root}, found ${found.length}${where === '' ? '' : ` (${where})`}`);
    }
    const hit = found[0] as { decl: StructDecl; file: RustFile };
    this.read(hit.file.path);
    this.#found.set(`${root}\0${name}`, hit);
    return hit;
  }
}
