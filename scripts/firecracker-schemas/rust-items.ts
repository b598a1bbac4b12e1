/**
 * The items of one Rust file that a metrics document is made of: structs with their fields (docs,
 * plain comments, attributes, types), `impl` blocks, functions, statics, `use` aliases and module
 * declarations. Item-level invocations of a `macro_rules!` macro of the same file are expanded
 * (Firecracker's `create_serialize_proxy!` declares each serialize proxy this way).
 *
 * Items under `#[cfg(test)]` are left out; any other attribute is kept for the caller to judge.
 * What this parser does not understand at item level is an error naming the file and line.
 */
import { lexRust, RustSourceError, type Token } from './rust-lexer.js';

export interface Attribute {
  /** `cfg`, `serde`, `derive`, … */
  readonly name: string;
  /** The tokens inside the parentheses (or after `=`), without them. */
  readonly args: readonly Token[];
  readonly line: number;
}

export interface TypeRef {
  /** Path segments: `std::sync::Arc` is `['std', 'sync', 'Arc']`. A reference keeps its target's path. */
  readonly path: readonly string[];
  readonly args: readonly TypeRef[];
  /** A tuple, array or other type this parser only records as text. */
  readonly text: string;
}

export interface FieldDecl {
  readonly name: string;
  readonly type: TypeRef;
  readonly attrs: readonly Attribute[];
  /** `///` lines, in order. */
  readonly docs: readonly string[];
  /** Plain `//` lines right above the field (its attributes included), when it has no doc. */
  readonly comments: readonly string[];
  readonly line: number;
}

export interface StructDecl {
  readonly name: string;
  /** Named fields; undefined for a unit or tuple struct. */
  readonly fields: readonly FieldDecl[] | undefined;
  readonly attrs: readonly Attribute[];
  readonly line: number;
}

export interface ImplDecl {
  /** The trait's last path segment (`Serialize`), or undefined for an inherent impl. */
  readonly trait: string | undefined;
  /** The implementing type's last path segment. */
  readonly target: string;
  readonly body: readonly Token[];
  readonly attrs: readonly Attribute[];
  readonly line: number;
}

export interface FnDecl {
  readonly name: string;
  readonly body: readonly Token[];
  readonly attrs: readonly Attribute[];
  readonly line: number;
}

export interface StaticDecl {
  readonly name: string;
  readonly type: TypeRef;
  readonly attrs: readonly Attribute[];
  readonly line: number;
}

export interface RustFile {
  readonly path: string;
  readonly structs: readonly StructDecl[];
  readonly impls: readonly ImplDecl[];
  /** Free functions (not methods: those are in `impls`). */
  readonly fns: readonly FnDecl[];
  readonly statics: readonly StaticDecl[];
  /** Each name a `use` brings in, with the path it stands for (`balloon_metrics` → `crate::devices::virtio::balloon::metrics`). */
  readonly uses: ReadonlyMap<string, readonly string[]>;
  /** Modules declared with `mod name;` (their code is in another file). */
  readonly mods: readonly string[];
}

interface MacroRules {
  readonly name: string;
  readonly arms: readonly { readonly matcher: readonly Token[]; readonly body: readonly Token[] }[];
  readonly line: number;
}

interface Collected {
  structs: StructDecl[];
  impls: ImplDecl[];
  fns: FnDecl[];
  statics: StaticDecl[];
  uses: Map<string, readonly string[]>;
  mods: string[];
  macros: Map<string, MacroRules>;
  invocations: { name: string; args: Token[]; line: number }[];
}

export function parseRustFile(source: string, path: string): RustFile {
  const tokens = lexRust(source, path);
  const parser = new ItemParser(tokens, path);
  const out: Collected = { structs: [], impls: [], fns: [], statics: [], uses: new Map(), mods: [], macros: new Map(), invocations: [] };
  parser.items(0, tokens.length, out);
  for (const call of out.invocations) {
    const macro = out.macros.get(call.name);
    if (macro === undefined) continue; // lazy_static!, thread_local!, …: nothing of the document's shape.
    const expanded = expandMacro(macro, call.args, path, call.line);
    new ItemParser(expanded, path).items(0, expanded.length, out);
  }
  return { path, structs: out.structs, impls: out.impls, fns: out.fns, statics: out.statics, uses: out.uses, mods: out.mods };
}

/** The methods of an `impl` block (`fn serialize` of an `impl Serialize`). */
export function implMethods(impl: ImplDecl, file: string): readonly FnDecl[] {
  const out: Collected = { structs: [], impls: [], fns: [], statics: [], uses: new Map(), mods: [], macros: new Map(), invocations: [] };
  new ItemParser(impl.body, file).items(0, impl.body.length, out);
  return out.fns;
}

/** Whether attributes gate an item on `cfg(test)` (alone or in an `all(…)`). */
export function isTestOnly(attrs: readonly Attribute[]): boolean {
  return attrs.some((a) => a.name === 'cfg' && a.args.some((t, i) => t.kind === 'ident' && t.text === 'test' && a.args[i + 1]?.text !== '='));
}

/** The index of the token that closes the group opened at `open` (`(`, `[` or `{`). */
export function closeOf(tokens: readonly Token[], open: number, file: string): number {
  const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  const stack: string[] = [];
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.kind !== 'punct') continue;
    const close = pairs[t.text];
    if (close !== undefined) stack.push(close);
    else if (t.text === ')' || t.text === ']' || t.text === '}') {
      if (stack.pop() !== t.text) throw new RustSourceError(file, t.line, `unbalanced ${JSON.stringify(t.text)}`);
      if (stack.length === 0) return i;
    }
  }
  throw new RustSourceError(file, tokens[open]?.line ?? 0, `unclosed ${JSON.stringify(tokens[open]?.text)}`);
}

/** Parses `#[name(args)]` at `at` (which is `#`); returns the attribute and the index after it. */
export function attributeAt(tokens: readonly Token[], at: number, file: string): [Attribute, number] {
  const open = at + 1;
  if (tokens[open]?.text !== '[') throw new RustSourceError(file, tokens[at]?.line ?? 0, 'expected [ after #');
  const close = closeOf(tokens, open, file);
  const inner = tokens.slice(open + 1, close);
  // The attribute's path (`cfg`, `serde`, `rustfmt::skip`), then its arguments.
  let k = 0;
  const segments: string[] = [];
  while (inner[k]?.kind === 'ident') {
    segments.push(inner[k]?.text ?? '');
    k++;
    if (inner[k]?.text !== '::') break;
    k++;
  }
  if (segments.length === 0) throw new RustSourceError(file, tokens[at]?.line ?? 0, 'expected an attribute name');
  const rest = inner.slice(k);
  const args = rest[0]?.text === '(' ? rest.slice(1, -1) : rest[0]?.text === '=' ? rest.slice(1) : rest;
  return [{ name: segments.join('::'), args, line: tokens[at]?.line ?? 0 }, close + 1];
}

/** Renders tokens back as compact text, for messages and for types this parser does not take apart. */
export function tokensText(tokens: readonly Token[]): string {
  let text = '';
  for (const t of tokens) {
    const piece = t.kind === 'string' ? JSON.stringify(t.text) : t.text;
    const glue = text !== '' && /[A-Za-z0-9_"']$/.test(text) && /^[A-Za-z0-9_"']/.test(piece);
    text += (glue ? ' ' : '') + piece;
  }
  return text;
}

class ItemParser {
  constructor(
    private readonly tokens: readonly Token[],
    private readonly file: string,
  ) {}

  private fail(at: number, reason: string): never {
    throw new RustSourceError(this.file, this.tokens[at]?.line ?? this.tokens[this.tokens.length - 1]?.line ?? 0, reason);
  }

  private is(at: number, text: string): boolean {
    const t = this.tokens[at];
    return t !== undefined && (t.kind === 'punct' || t.kind === 'ident') && t.text === text;
  }

  private ident(at: number, what: string): string {
    const t = this.tokens[at];
    if (t?.kind !== 'ident') this.fail(at, `expected ${what}, found ${t === undefined ? 'the end' : JSON.stringify(t.text)}`);
    return t.text;
  }

  private attribute(at: number): [Attribute, number] {
    return attributeAt(this.tokens, at, this.file);
  }

  /** Skips `pub`, `pub(crate)`, `pub(super)`, `pub(in path)`. */
  private visibility(at: number): number {
    if (!this.is(at, 'pub')) return at;
    return this.is(at + 1, '(') ? closeOf(this.tokens, at + 1, this.file) + 1 : at + 1;
  }

  /** Skips `<…>` generics at `at` if there are any. */
  private generics(at: number): number {
    if (!this.is(at, '<')) return at;
    let depth = 0;
    for (let i = at; i < this.tokens.length; i++) {
      const t = this.tokens[i] as Token;
      if (t.kind !== 'punct') continue;
      if (t.text === '<') depth++;
      else if (t.text === '>') {
        depth--;
        if (depth === 0) return i + 1;
      } else if (t.text === '(' || t.text === '[') i = closeOf(this.tokens, i, this.file);
    }
    return this.fail(at, 'unclosed generics');
  }

  /** The index of the first `;` at depth 0 from `at`, skipping groups. */
  private semicolon(at: number): number {
    for (let i = at; i < this.tokens.length; i++) {
      const t = this.tokens[i] as Token;
      if (t.kind !== 'punct') continue;
      if (t.text === ';') return i;
      if (t.text === '(' || t.text === '[' || t.text === '{') i = closeOf(this.tokens, i, this.file);
    }
    return this.fail(at, 'expected ;');
  }

  /** The index of the first `{` at depth 0 from `at` (or `;` first: then -1 - its index). */
  private braceOrSemicolon(at: number): number {
    for (let i = at; i < this.tokens.length; i++) {
      const t = this.tokens[i] as Token;
      if (t.kind !== 'punct') continue;
      if (t.text === '{') return i;
      if (t.text === ';') return -1 - i;
      if (t.text === '(' || t.text === '[') i = closeOf(this.tokens, i, this.file);
    }
    return this.fail(at, 'expected { or ;');
  }

  items(start: number, end: number, out: Collected): void {
    let attrs: Attribute[] = [];
    let i = start;
    while (i < end) {
      const t = this.tokens[i] as Token;
      if (t.kind === 'doc' || t.kind === 'comment') {
        i++;
        continue;
      }
      if (this.is(i, '#') && this.is(i + 1, '!')) {
        i = closeOf(this.tokens, i + 2, this.file) + 1;
        continue;
      }
      if (this.is(i, '#')) {
        const [attr, next] = this.attribute(i);
        attrs.push(attr);
        i = next;
        continue;
      }
      const itemStart = i;
      const keep = !isTestOnly(attrs);
      i = this.visibility(i);
      while (['unsafe', 'async', 'default'].some((q) => this.is(i, q)) || (this.is(i, 'const') && this.is(i + 1, 'fn')) || (this.is(i, 'extern') && this.tokens[i + 1]?.kind === 'string')) {
        i += this.is(i, 'extern') ? 2 : 1;
      }
      const keyword = this.tokens[i];
      if (keyword?.kind !== 'ident') this.fail(i, `expected an item, found ${JSON.stringify(keyword?.text)}`);
      switch (keyword.text) {
        case 'struct':
        case 'union': {
          const [decl, next] = this.struct(i, attrs);
          if (keep && keyword.text === 'struct') out.structs.push(decl);
          i = next;
          break;
        }
        case 'enum':
        case 'trait': {
          const open = this.braceOrSemicolon(i);
          i = open < 0 ? -1 - open + 1 : closeOf(this.tokens, open, this.file) + 1;
          break;
        }
        case 'impl': {
          const [decl, next] = this.impl(i, attrs);
          if (keep) out.impls.push(decl);
          i = next;
          break;
        }
        case 'fn': {
          const name = this.ident(i + 1, 'a function name');
          const open = this.braceOrSemicolon(i + 2);
          if (open < 0) {
            i = -1 - open + 1;
            break;
          }
          const close = closeOf(this.tokens, open, this.file);
          if (keep) out.fns.push({ name, body: this.tokens.slice(open + 1, close), attrs, line: keyword.line });
          i = close + 1;
          break;
        }
        case 'static': {
          let k = i + 1;
          if (this.is(k, 'mut')) k++;
          const name = this.ident(k, 'a static name');
          if (!this.is(k + 1, ':')) this.fail(k + 1, `expected : after static ${name}`);
          const [type] = this.type(k + 2);
          const semi = this.semicolon(k + 2);
          if (keep) out.statics.push({ name, type, attrs, line: keyword.line });
          i = semi + 1;
          break;
        }
        case 'const':
        case 'type':
          i = this.semicolon(i) + 1;
          break;
        case 'extern':
          if (!this.is(i + 1, 'crate')) this.fail(i, 'expected extern crate');
          i = this.semicolon(i) + 1;
          break;
        case 'use': {
          const semi = this.semicolon(i);
          if (keep) this.useTree(i + 1, semi, [], out.uses);
          i = semi + 1;
          break;
        }
        case 'mod': {
          const name = this.ident(i + 1, 'a module name');
          if (this.is(i + 2, ';')) {
            if (keep) out.mods.push(name);
            i += 3;
          } else if (this.is(i + 2, '{')) {
            const close = closeOf(this.tokens, i + 2, this.file);
            // An inline module's items join the file's: Firecracker's metrics code has none but tests.
            if (keep) this.items(i + 3, close, out);
            i = close + 1;
          } else this.fail(i + 2, `expected ; or { after mod ${name}`);
          break;
        }
        case 'macro_rules': {
          if (!this.is(i + 1, '!')) this.fail(i + 1, 'expected ! after macro_rules');
          const name = this.ident(i + 2, 'a macro name');
          const close = closeOf(this.tokens, i + 3, this.file);
          if (keep) out.macros.set(name, this.macroRules(name, i + 4, close, keyword.line));
          i = close + 1;
          if (this.is(i, ';')) i++;
          break;
        }
        default: {
          // An item-level macro invocation: `name!(…);`, `name![…];` or `name! { … }`.
          let k = i;
          while (this.is(k + 1, '::') && this.tokens[k + 2]?.kind === 'ident') k += 2;
          if (!this.is(k + 1, '!')) this.fail(itemStart, `unexpected ${JSON.stringify(keyword.text)} at item level`);
          const open = k + 2;
          if (!['(', '[', '{'].some((p) => this.is(open, p))) this.fail(open, `expected a macro's arguments after ${keyword.text}!`);
          const close = closeOf(this.tokens, open, this.file);
          if (keep) out.invocations.push({ name: this.tokens[k]?.text ?? '', args: this.tokens.slice(open + 1, close), line: keyword.line });
          i = close + 1;
          if (this.is(i, ';')) i++;
        }
      }
      attrs = [];
    }
  }

  private struct(at: number, attrs: Attribute[]): [StructDecl, number] {
    const name = this.ident(at + 1, 'a struct name');
    let i = this.generics(at + 2);
    if (this.is(i, 'where')) {
      const open = this.braceOrSemicolon(i);
      i = open < 0 ? -1 - open : open;
    }
    if (this.is(i, ';')) return [{ name, fields: undefined, attrs, line: this.tokens[at]?.line ?? 0 }, i + 1];
    if (this.is(i, '(')) {
      const close = closeOf(this.tokens, i, this.file);
      let next = close + 1;
      if (this.is(next, 'where')) next = this.semicolon(next);
      if (!this.is(next, ';')) this.fail(next, `expected ; after tuple struct ${name}`);
      return [{ name, fields: undefined, attrs, line: this.tokens[at]?.line ?? 0 }, next + 1];
    }
    if (!this.is(i, '{')) this.fail(i, `expected the fields of struct ${name}`);
    const close = closeOf(this.tokens, i, this.file);
    return [{ name, fields: this.fields(i + 1, close), attrs, line: this.tokens[at]?.line ?? 0 }, close + 1];
  }

  private fields(start: number, end: number): FieldDecl[] {
    const fields: FieldDecl[] = [];
    let docs: string[] = [];
    let comments: Token[] = [];
    let attrs: Attribute[] = [];
    let previousLine = -1;
    let i = start;
    while (i < end) {
      const t = this.tokens[i] as Token;
      if (t.kind === 'doc') {
        docs.push(t.text);
        i++;
        continue;
      }
      if (t.kind === 'comment') {
        // A comment on the line of the previous field is that field's, not the next one's.
        if (t.line !== previousLine) comments.push(t);
        i++;
        continue;
      }
      if (this.is(i, '#')) {
        const [attr, next] = this.attribute(i);
        attrs.push(attr);
        i = next;
        continue;
      }
      i = this.visibility(i);
      const name = this.ident(i, 'a field name');
      const line = this.tokens[i]?.line ?? 0;
      if (!this.is(i + 1, ':')) this.fail(i + 1, `expected : after field ${name}`);
      const [type, next] = this.type(i + 2);
      i = next;
      if (this.is(i, ',')) i++;
      else if (i !== end) this.fail(i, `expected , after field ${name}`);
      // Plain comments count only when they run up to the field without a blank line.
      const firstLine = Math.min(line, ...attrs.map((a) => a.line));
      const adjacent: string[] = [];
      for (let k = comments.length - 1, expect = firstLine - 1; k >= 0; k--, expect--) {
        const c = comments[k] as Token;
        if (c.line !== expect) break;
        adjacent.unshift(c.text);
      }
      fields.push({ name, type, attrs, docs, comments: docs.length > 0 ? [] : adjacent, line });
      previousLine = this.tokens[i - 1]?.line ?? line;
      docs = [];
      comments = [];
      attrs = [];
    }
    return fields;
  }

  /** Parses a type at `at`; returns it and the index after it. */
  type(at: number): [TypeRef, number] {
    let i = at;
    while (this.is(i, '&') || this.is(i, '&&') || this.tokens[i]?.kind === 'lifetime' || this.is(i, 'mut') || this.is(i, 'dyn')) i++;
    if (this.is(i, '(') || this.is(i, '[')) {
      const close = closeOf(this.tokens, i, this.file);
      return [{ path: [], args: [], text: tokensText(this.tokens.slice(at, close + 1)) }, close + 1];
    }
    const path: string[] = [];
    if (this.is(i, '::')) i++;
    path.push(this.ident(i, 'a type'));
    i++;
    while (this.is(i, '::') && this.tokens[i + 1]?.kind === 'ident') {
      path.push(this.tokens[i + 1]?.text ?? '');
      i += 2;
    }
    const args: TypeRef[] = [];
    if (this.is(i, '<')) {
      i++;
      while (!this.is(i, '>')) {
        if (this.tokens[i]?.kind === 'lifetime') i++;
        else {
          const [arg, next] = this.type(i);
          args.push(arg);
          i = next;
        }
        if (this.is(i, ',')) i++;
        else if (!this.is(i, '>')) this.fail(i, `expected , or > in the arguments of ${path.join('::')}`);
      }
      i++;
    }
    // A trait object's further bounds: `dyn Write + Send`, `dyn Fn() + 'static`.
    while (this.is(i, '+')) {
      i++;
      if (this.tokens[i]?.kind === 'lifetime') i++;
      else [, i] = this.type(i);
    }
    return [{ path, args, text: tokensText(this.tokens.slice(at, i)) }, i];
  }

  private impl(at: number, attrs: Attribute[]): [ImplDecl, number] {
    let i = this.generics(at + 1);
    const open = this.braceOrSemicolon(i);
    if (open < 0) this.fail(at, 'expected the body of an impl');
    const header = this.tokens.slice(i, open);
    const forAt = header.findIndex((t) => t.kind === 'ident' && t.text === 'for');
    const whereAt = header.findIndex((t) => t.kind === 'ident' && t.text === 'where');
    const targetTokens = header.slice(forAt + 1, whereAt === -1 ? header.length : whereAt);
    const traitTokens = forAt === -1 ? [] : header.slice(0, forAt);
    const lastIdent = (ts: readonly Token[]): string | undefined => {
      // The last path segment before any generic arguments: `serde::Serialize` → Serialize, `X<'a>` → X.
      let name: string | undefined;
      for (const t of ts) {
        if (t.kind === 'punct' && t.text === '<') break;
        if (t.kind === 'ident' && t.text !== 'dyn' && t.text !== 'mut') name = t.text;
      }
      return name;
    };
    const target = lastIdent(forAt === -1 ? header.slice(0, whereAt === -1 ? header.length : whereAt) : targetTokens);
    if (target === undefined) this.fail(at, 'cannot tell what this impl is for');
    const close = closeOf(this.tokens, open, this.file);
    i = close + 1;
    return [{ trait: forAt === -1 ? undefined : lastIdent(traitTokens), target, body: this.tokens.slice(open + 1, close), attrs, line: this.tokens[at]?.line ?? 0 }, i];
  }

  private useTree(start: number, end: number, prefix: string[], uses: Map<string, readonly string[]>): void {
    let i = start;
    const path = [...prefix];
    if (this.is(i, '::')) i++;
    while (i < end) {
      if (this.is(i, '{')) {
        const close = closeOf(this.tokens, i, this.file);
        let k = i + 1;
        while (k < close) {
          let stop = k;
          while (stop < close && !this.is(stop, ',')) stop = this.is(stop, '{') ? closeOf(this.tokens, stop, this.file) + 1 : stop + 1;
          if (stop > k) this.useTree(k, stop, path, uses);
          k = stop + 1;
        }
        return;
      }
      if (this.is(i, '*')) return;
      const segment = this.ident(i, 'a path segment in use');
      i++;
      if (this.is(i, '::')) {
        path.push(segment);
        i++;
        continue;
      }
      const full = segment === 'self' ? path : [...path, segment];
      let alias = segment === 'self' ? (path[path.length - 1] ?? 'self') : segment;
      if (this.is(i, 'as')) {
        alias = this.ident(i + 1, 'an alias');
        i += 2;
      }
      if (i < end) this.fail(i, 'unexpected token in use');
      if (alias !== '_') uses.set(alias, full);
      return;
    }
  }

  private macroRules(name: string, start: number, end: number, line: number): MacroRules {
    const arms: { matcher: Token[]; body: Token[] }[] = [];
    let i = start;
    while (i < end) {
      if (this.tokens[i]?.kind === 'comment' || this.tokens[i]?.kind === 'doc') {
        i++;
        continue;
      }
      if (!['(', '[', '{'].some((p) => this.is(i, p))) this.fail(i, `expected a matcher in macro ${name}`);
      const matcherClose = closeOf(this.tokens, i, this.file);
      if (!this.is(matcherClose + 1, '=>')) this.fail(matcherClose + 1, `expected => in macro ${name}`);
      const bodyOpen = matcherClose + 2;
      const bodyClose = closeOf(this.tokens, bodyOpen, this.file);
      arms.push({ matcher: this.tokens.slice(i + 1, matcherClose), body: this.tokens.slice(bodyOpen + 1, bodyClose) });
      i = bodyClose + 1;
      if (this.is(i, ';')) i++;
    }
    return { name, arms, line };
  }
}

/**
 * Expands an invocation of a `macro_rules!` macro whose arms match plain tokens and `$x:ident`
 * fragments (the only kind Firecracker's metrics macros use). Anything else is an error.
 */
function expandMacro(macro: MacroRules, args: readonly Token[], file: string, line: number): Token[] {
  const input = args.filter((t) => t.kind !== 'comment' && t.kind !== 'doc');
  for (const arm of macro.arms) {
    const matcher = arm.matcher.filter((t) => t.kind !== 'comment' && t.kind !== 'doc');
    const bound = new Map<string, Token>();
    let ok = true;
    let k = 0;
    for (let m = 0; m < matcher.length; m++) {
      const t = matcher[m] as Token;
      if (t.kind === 'punct' && t.text === '$') {
        const name = matcher[m + 1];
        const colon = matcher[m + 2];
        const fragment = matcher[m + 3];
        if (name?.kind !== 'ident' || colon?.text !== ':' || fragment?.kind !== 'ident') {
          throw new RustSourceError(file, t.line, `macro ${macro.name}: only $name:fragment matchers are understood`);
        }
        if (fragment.text !== 'ident') throw new RustSourceError(file, t.line, `macro ${macro.name}: fragment ${fragment.text} is not understood (only ident)`);
        const arg = input[k];
        if (arg?.kind !== 'ident') {
          ok = false;
          break;
        }
        bound.set(name.text, arg);
        k++;
        m += 3;
      } else {
        if (input[k]?.text !== t.text) {
          ok = false;
          break;
        }
        k++;
      }
    }
    if (!ok || k !== input.length) continue;
    const out: Token[] = [];
    for (let b = 0; b < arm.body.length; b++) {
      const t = arm.body[b] as Token;
      const next = arm.body[b + 1];
      if (t.kind === 'punct' && t.text === '$' && next?.kind === 'ident') {
        const value = bound.get(next.text);
        if (value === undefined) throw new RustSourceError(file, t.line, `macro ${macro.name}: $${next.text} is not bound`);
        out.push({ ...value, line });
        b++;
      } else out.push({ ...t, line });
    }
    return out;
  }
  throw new RustSourceError(file, line, `no arm of macro ${macro.name} matches ${macro.name}!(${tokensText(input)})`);
}
