/**
 * The metrics document one Firecracker commit writes, derived from its Rust sources.
 *
 * Where it starts: the one non-test `struct FirecrackerMetrics` of the tree (in
 * `src/logger/src/metrics.rs` up to v1.4, `src/vmm/src/logger/metrics.rs` after). Its fields, in
 * declaration order, are what serde writes:
 * - a field of a `#[derive(Serialize)]` struct of metrics is a group, under the field's name (or
 *   its `#[serde(rename)]`);
 * - a `#[serde(flatten)]` field whose type's `Serialize` impl calls `<module>::flush_metrics`
 *   (the serialize proxies of v1.6 on) writes what that function writes: read statement by
 *   statement, each `serialize_entry("key", &…)` is a group, and a `for` loop over a device map
 *   writing `format!("<prefix>_{}", id)` keys is a family of devices, with its aggregate when the
 *   loop is followed by `serialize_entry("<prefix>", …)` of the same type;
 * - a `#[serde(flatten)]` field whose `Serialize` impl writes map entries under `if` is an
 *   optional header key (`id`, `properties`); a field whose impl writes one scalar is a required
 *   header key (`utc_timestamp_ms`).
 * `#[cfg(target_arch = "…")]` on a field or on a flush statement makes the entry that
 * architecture's (`rtc`, aarch64). A group's fields are `SharedIncMetric` (inc, a delta),
 * `SharedStoreMetric` (store) or a struct of exactly `min_us`/`max_us` stores and a `sum_us` inc
 * (latency, Firecracker's `LatencyAggregateMetrics`).
 *
 * Anything else, a serde attribute, a cfg or a statement this does not understand, is an error
 * naming the file and line: a release this cannot read must be looked at, not guessed.
 */
import type { MetricUnit } from '../../src/metrics/units.js';
import type { GitRepo } from './git.js';
import { helpOf, unitOf } from './help.js';
import { ReleaseSource } from './release-source.js';
import { RustSourceError, type Token } from './rust-lexer.js';
import { closeOf, implMethods, isTestOnly, tokensText, type Attribute, type RustFile, type StructDecl, type TypeRef } from './rust-items.js';
import { blockBody, calls, statementsOf, type Statement } from './rust-statements.js';

export type FieldKind = 'inc' | 'store' | 'latency';
export type Arch = 'aarch64' | 'x86_64';

export interface DerivedField {
  readonly name: string;
  readonly kind: FieldKind;
  readonly unit: MetricUnit;
  readonly help: string;
}

export interface DerivedGroup {
  /** The Rust struct, for messages. */
  readonly type: string;
  readonly fields: readonly DerivedField[];
}

export type DerivedEntry =
  | { readonly kind: 'group'; readonly key: string; readonly group: DerivedGroup; readonly arch: Arch | undefined }
  | { readonly kind: 'devices'; readonly prefix: string; readonly group: DerivedGroup; readonly aggregate: boolean; readonly arch: Arch | undefined };

export interface DerivedHeaderKey {
  readonly key: string;
  /** false for a key written only when configured (`id`, `properties`). */
  readonly required: boolean;
}

export interface DerivedDocument {
  readonly header: readonly DerivedHeaderKey[];
  readonly entries: readonly DerivedEntry[];
  /** The files the derivation read, path → blob hash. */
  readonly sources: ReadonlyMap<string, string>;
}

const ROOT_STRUCT = 'FirecrackerMetrics';
const INC_METRIC = 'SharedIncMetric';
const STORE_METRIC = 'SharedStoreMetric';
/** The members of a latency aggregate, in the order `LatencyAggregateMetrics` declares and writes them. */
const LATENCY_MEMBERS: readonly (readonly [string, 'inc' | 'store'])[] = [
  ['min_us', 'store'],
  ['max_us', 'store'],
  ['sum_us', 'inc'],
];
/** Types that serialize as what they hold. */
const TRANSPARENT = new Set(['Arc', 'Box', 'Rc']);

export function deriveDocument(repo: GitRepo, commit: string): DerivedDocument {
  return new Derivation(new ReleaseSource(repo, commit)).document();
}

interface Local {
  readonly type: TypeRef | undefined;
  readonly init: readonly Token[];
  readonly line: number;
}

class Derivation {
  constructor(private readonly src: ReleaseSource) {}

  document(): DerivedDocument {
    const { decl, file } = this.rootStruct();
    if (!derivesSerialize(decl.attrs)) throw new RustSourceError(file.path, decl.line, `${ROOT_STRUCT} does not derive Serialize`);
    const header: DerivedHeaderKey[] = [];
    const entries: DerivedEntry[] = [];
    for (const field of decl.fields ?? []) {
      const arch = archOf(field.attrs, file.path);
      const serde = serdeOf(field.attrs, file.path);
      if (serde.skip) continue;
      const key = serde.rename ?? field.name;
      const type = unwrap(field.type);
      const at = `${ROOT_STRUCT}.${field.name}`;
      const { decl: typeDecl, file: typeFile } = this.src.struct(lastOf(type, file.path, field.line), file, field.line);
      const serialize = serializeBody(typeDecl, typeFile);
      const pushHeader = (h: DerivedHeaderKey, line: number): void => {
        if (entries.length > 0) throw new RustSourceError(file.path, line, `${at}: header key ${h.key} after the metric groups`);
        if (arch !== undefined) throw new RustSourceError(file.path, line, `${at}: a header key gated on ${arch}`);
        header.push(h);
      };
      if (serde.flatten) {
        if (serialize === undefined) throw new RustSourceError(file.path, field.line, `${at}: flattened ${typeDecl.name} has no Serialize impl of its own`);
        const proxy = flushCall(serialize.body);
        if (proxy !== undefined) {
          const module = this.src.read(this.src.moduleFile(serialize.file, proxy, serialize.line));
          entries.push(...this.flushEntries(module, arch));
        } else {
          for (const h of optionalKeys(serialize.body, serialize.file.path, serialize.line, at)) pushHeader(h, field.line);
        }
      } else if (derivesSerialize(typeDecl.attrs)) {
        entries.push({ kind: 'group', key, group: this.group(typeDecl, typeFile), arch });
      } else if (serialize !== undefined && writesScalar(serialize.body)) {
        pushHeader({ key, required: true }, field.line);
      } else {
        throw new RustSourceError(file.path, field.line, `${at}: ${typeDecl.name} is neither a group of metrics, a proxy, nor a scalar`);
      }
    }
    return { header, entries, sources: this.src.sources };
  }

  private rootStruct(): { decl: StructDecl; file: RustFile } {
    const hits = this.src.repo.search(this.src.commit, (p) => p.endsWith('.rs'), new RegExp(`\\bstruct ${ROOT_STRUCT}\\b`));
    const found: { decl: StructDecl; file: RustFile }[] = [];
    for (const path of hits) {
      const file = this.src.read(path, false);
      for (const decl of file.structs) if (decl.name === ROOT_STRUCT && !isTestOnly(decl.attrs)) found.push({ decl, file });
    }
    if (found.length !== 1) {
      throw new RustSourceError(this.src.commit, 0, `expected one struct ${ROOT_STRUCT}, found ${found.length}: ${found.map((f) => f.file.path).join(', ')}`);
    }
    const root = found[0] as { decl: StructDecl; file: RustFile };
    this.src.read(root.file.path);
    return root;
  }

  /** A `#[derive(Serialize)]` struct of metrics as a group. */
  group(decl: StructDecl, file: RustFile): DerivedGroup {
    if (!derivesSerialize(decl.attrs)) throw new RustSourceError(file.path, decl.line, `${decl.name} does not derive Serialize`);
    if (decl.fields === undefined) throw new RustSourceError(file.path, decl.line, `${decl.name} has no named fields`);
    const fields: DerivedField[] = [];
    for (const field of decl.fields) {
      const serde = serdeOf(field.attrs, file.path);
      if (serde.skip) continue;
      if (field.attrs.some((a) => a.name === 'cfg')) {
        throw new RustSourceError(file.path, field.line, `${decl.name}.${field.name}: a field under #[cfg] cannot be described per release`);
      }
      if (serde.flatten) throw new RustSourceError(file.path, field.line, `${decl.name}.${field.name}: a flattened field inside a group`);
      const name = serde.rename ?? field.name;
      const kind = this.fieldKind(field.type, file, field.line, `${decl.name}.${field.name}`);
      const help = helpOf(field);
      fields.push({ name, kind, unit: unitOf(name, kind, help), help });
    }
    return { type: decl.name, fields };
  }

  private fieldKind(type: TypeRef, file: RustFile, line: number, at: string): FieldKind {
    const name = lastOf(unwrap(type), file.path, line);
    if (name === INC_METRIC) return 'inc';
    if (name === STORE_METRIC) return 'store';
    const notMetric = `${at}: type ${name} is not ${INC_METRIC}, ${STORE_METRIC} nor a {min_us, max_us, sum_us} latency aggregate`;
    let found: { decl: StructDecl; file: RustFile };
    try {
      found = this.src.struct(name, file, line);
    } catch (error) {
      if (!(error instanceof RustSourceError)) throw error;
      throw new RustSourceError(file.path, line, `${notMetric} (${error.reason})`);
    }
    const { decl, file: typeFile } = found;
    const members = decl.fields ?? [];
    const isLatency =
      derivesSerialize(decl.attrs) &&
      members.length === LATENCY_MEMBERS.length &&
      members.every((m, i) => {
        const [memberName, memberKind] = LATENCY_MEMBERS[i] as readonly [string, string];
        const memberType = lastOf(unwrap(m.type), typeFile.path, m.line);
        return m.name === memberName && m.attrs.length === 0 && memberType === (memberKind === 'inc' ? INC_METRIC : STORE_METRIC);
      });
    if (!isLatency) throw new RustSourceError(file.path, line, notMetric);
    return 'latency';
  }

  /** What a module's `flush_metrics` writes, in order. */
  private flushEntries(module: RustFile, arch: Arch | undefined): DerivedEntry[] {
    const fns = module.fns.filter((f) => f.name === 'flush_metrics');
    if (fns.length !== 1) throw new RustSourceError(module.path, 0, `expected one fn flush_metrics, found ${fns.length}`);
    const fn = fns[0] as (typeof fns)[number];
    const locals = new Map<string, Local>();
    const entries: DerivedEntry[] = [];
    let lastFamily: (DerivedEntry & { kind: 'devices' }) | undefined;
    for (const st of statementsOf(fn.body, module.path)) {
      const stArch = combineArch(arch, archOf(st.attrs, module.path), module.path, st.line);
      const justAfterLoop = lastFamily;
      lastFamily = undefined;
      if (st.block === 'for') {
        const family = this.family(st, module, locals, stArch);
        entries.push(family);
        lastFamily = family;
        continue;
      }
      if (st.block !== undefined) {
        if (serializes(st.tokens)) throw new RustSourceError(module.path, st.line, `flush_metrics: a ${st.block} block that writes entries is not understood`);
        continue;
      }
      if (st.tokens[0]?.text === 'let') {
        if (serializes(st.tokens, ['serialize_map'])) throw new RustSourceError(module.path, st.line, 'flush_metrics: a let that writes entries');
        const [name, local] = parseLet(st, module.path);
        locals.set(name, local);
        continue;
      }
      if (calls(st.tokens, 'serialize_entry')) {
        const [keyArg, valueArg] = entryArgs(st, module.path);
        const key = keyArg.length === 1 && keyArg[0]?.kind === 'string' ? keyArg[0].text : undefined;
        if (key === undefined) throw new RustSourceError(module.path, st.line, `flush_metrics: an entry whose key is ${tokensText(keyArg)}, not a string literal`);
        const value = this.valueType(valueArg, module, locals, st.line);
        const group = this.group(value.decl, value.file);
        if (justAfterLoop !== undefined && key === justAfterLoop.prefix) {
          if (value.decl.name !== justAfterLoop.group.type) {
            throw new RustSourceError(module.path, st.line, `flush_metrics: aggregate ${key} is a ${value.decl.name}, its devices are ${justAfterLoop.group.type}`);
          }
          if (stArch !== justAfterLoop.arch) throw new RustSourceError(module.path, st.line, `flush_metrics: aggregate ${key} gated otherwise than its devices`);
          entries[entries.length - 1] = { ...justAfterLoop, aggregate: true };
        } else {
          entries.push({ kind: 'group', key, group, arch: stArch });
        }
        continue;
      }
      if (serializes(st.tokens, ['serialize_map'])) throw new RustSourceError(module.path, st.line, `flush_metrics: statement not understood: ${tokensText(st.tokens)}`);
    }
    return entries;
  }

  /** `for (id, metrics) in <map>.iter() { … serialize_entry(&format!("<prefix>_{}", id), metrics) … }` */
  private family(st: Statement, module: RustFile, outer: ReadonlyMap<string, Local>, arch: Arch | undefined): DerivedEntry & { kind: 'devices' } {
    const t = st.tokens;
    const fail = (reason: string, line = st.line): never => {
      throw new RustSourceError(module.path, line, `flush_metrics: ${reason}`);
    };
    if (!(t[1]?.text === '(' && t[2]?.kind === 'ident' && t[3]?.text === ',' && t[4]?.kind === 'ident' && t[5]?.text === ')' && t[6]?.text === 'in')) {
      fail('a for loop other than `for (id, metrics) in …` ');
    }
    const idVar = t[2]?.text ?? '';
    const metricsVar = t[4]?.text ?? '';
    const open = t.findIndex((tok, k) => k > 6 && tok.text === '{');
    const element = this.iterated(t.slice(7, open), module, outer, st.line);
    const locals = new Map(outer);
    let prefix: string | undefined;
    let keyVar: string | undefined;
    for (const inner of statementsOf(blockBody(st, module.path), module.path)) {
      if (inner.attrs.length > 0 || inner.block !== undefined) {
        if (serializes(inner.tokens)) fail('a device entry under an attribute or a block', inner.line);
        continue;
      }
      if (inner.tokens[0]?.text === 'let') {
        const [name, local] = parseLet(inner, module.path);
        const init = local.init;
        if (init[0]?.text === 'format' && init[1]?.text === '!') {
          const args = splitArgs(init.slice(3, closeOf(init, 2, module.path)));
          const pattern = args[0]?.length === 1 && args[0][0]?.kind === 'string' ? args[0][0].text : undefined;
          const match = pattern === undefined ? null : /^([a-z][a-z0-9_]*)_\{\}$/.exec(pattern);
          if (match === null || args.length !== 2 || tokensText(args[1] ?? []) !== idVar) fail(`device key ${tokensText(init)} is not format!("<prefix>_{}", ${idVar})`, inner.line);
          prefix = match?.[1];
          keyVar = name;
        }
        if (local.type !== undefined && tokensText(init) === metricsVar && lastOf(unwrap(local.type), module.path, inner.line) !== element.decl.name) {
          fail(`${name} is declared a ${local.type.text}, but the map holds ${element.decl.name}`, inner.line);
        }
        locals.set(name, local);
        continue;
      }
      if (calls(inner.tokens, 'serialize_entry')) {
        const [keyArg, valueArg] = entryArgs(inner, module.path);
        if (tokensText(keyArg) !== `&${keyVar ?? '\0'}`) fail(`a device entry keyed ${tokensText(keyArg)}, not by the format!ed id`, inner.line);
        const value = tokensText(valueArg).replace(/^&/, '');
        const local = locals.get(value);
        if (value !== metricsVar && tokensText(local?.init ?? []) !== metricsVar) fail(`a device entry of ${value}, not of the map's ${metricsVar}`, inner.line);
      } else if (serializes(inner.tokens)) fail(`statement not understood: ${tokensText(inner.tokens)}`, inner.line);
    }
    if (prefix === undefined) return fail('a loop over devices with no format!("<prefix>_{}", id) key');
    return { kind: 'devices', prefix, group: this.group(element.decl, element.file), aggregate: false, arch };
  }

  /** The element type of `<expr>.iter()` over a `BTreeMap<String, V>` reached through locks, fields and `Arc`s. */
  private iterated(expr: readonly Token[], module: RustFile, locals: ReadonlyMap<string, Local>, line: number): { decl: StructDecl; file: RustFile } {
    const fail = (reason: string): never => {
      throw new RustSourceError(module.path, line, `flush_metrics: ${reason} in ${tokensText(expr)}`);
    };
    const chain = parseChain(expr) ?? fail('an expression other than a chain of fields and calls');
    const last = chain.ops[chain.ops.length - 1];
    if (last?.kind !== 'call' || last.name !== 'iter') fail('a loop over something other than .iter()');
    const { type, file } = this.chainType({ base: chain.base, ops: chain.ops.slice(0, -1) }, module, locals, line);
    const map = unwrap(type);
    const mapName = lastOf(map, file.path, line);
    if (mapName !== 'BTreeMap') fail(`a loop over a ${mapName}, whose order is not its keys' (only BTreeMap is understood)`);
    const value = map.args[1] ?? fail('a BTreeMap without a value type');
    return this.src.struct(lastOf(unwrap(value), file.path, line), file, line);
  }

  /** The type a chain such as `METRICS.read().unwrap().metrics` evaluates to, with the file that names it. */
  private chainType(chain: Chain, module: RustFile, locals: ReadonlyMap<string, Local>, line: number): { type: TypeRef; file: RustFile } {
    const fail = (reason: string): never => {
      throw new RustSourceError(module.path, line, `flush_metrics: ${reason}`);
    };
    let current: { type: TypeRef; file: RustFile };
    const local = locals.get(chain.base);
    if (local !== undefined) {
      if (local.type !== undefined) current = { type: local.type, file: module };
      else {
        const inner = parseChain(local.init) ?? fail(`cannot tell the type of ${chain.base}`);
        current = this.chainType(inner, module, locals, local.line);
      }
    } else {
      current = { type: this.src.staticOf(module, chain.base, line).type, file: module };
    }
    for (const op of chain.ops) {
      const type = unwrap(current.type);
      const name = lastOf(type, current.file.path, line);
      if (op.kind === 'call') {
        if ((op.name === 'read' || op.name === 'write') && name === 'RwLock') current = { type: type.args[0] ?? fail('RwLock<?>'), file: current.file };
        else if (op.name === 'lock' && name === 'Mutex') current = { type: type.args[0] ?? fail('Mutex<?>'), file: current.file };
        else if (op.name !== 'unwrap') fail(`.${op.name}() on ${name} is not understood`);
      } else {
        const { decl, file } = this.src.struct(name, current.file, line);
        const field = (decl.fields ?? []).find((f) => f.name === op.name) ?? fail(`${name} has no field ${op.name}`);
        current = { type: field.type, file };
      }
    }
    return current;
  }

  /** The struct an entry's value is: `&METRICS`, `&i8042::METRICS`, or a local of a declared type. */
  private valueType(value: readonly Token[], module: RustFile, locals: ReadonlyMap<string, Local>, line: number): { decl: StructDecl; file: RustFile } {
    const tokens = value[0]?.text === '&' ? value.slice(1) : value;
    const path: string[] = [];
    for (let k = 0; k < tokens.length; k += 2) {
      const t = tokens[k];
      if (t?.kind !== 'ident' || (k + 1 < tokens.length && tokens[k + 1]?.text !== '::')) {
        throw new RustSourceError(module.path, line, `flush_metrics: an entry of ${tokensText(value)}, not a static or a local`);
      }
      path.push(t.text);
    }
    const name = path[path.length - 1] ?? '';
    if (path.length === 1) {
      const local = locals.get(name);
      if (local !== undefined) {
        if (local.type === undefined) throw new RustSourceError(module.path, line, `flush_metrics: ${name} has no declared type`);
        return this.src.struct(lastOf(unwrap(local.type), module.path, line), module, line);
      }
      return this.src.struct(lastOf(unwrap(this.src.staticOf(module, name, line).type), module.path, line), module, line);
    }
    const owner = this.src.read(this.src.moduleFile(module, path.slice(0, -1), line));
    const declared = this.src.staticOf(owner, name, line);
    return this.src.struct(lastOf(unwrap(declared.type), owner.path, declared.line), owner, declared.line);
  }
}

interface Chain {
  readonly base: string;
  readonly ops: readonly ({ readonly kind: 'field'; readonly name: string } | { readonly kind: 'call'; readonly name: string })[];
}

/** `a.b.c().d` as a base and field/no-argument call steps; undefined for anything else. */
function parseChain(tokens: readonly Token[]): Chain | undefined {
  const base = tokens[0];
  if (base?.kind !== 'ident') return undefined;
  const ops: Chain['ops'][number][] = [];
  let k = 1;
  while (k < tokens.length) {
    const name = tokens[k + 1];
    if (tokens[k]?.text !== '.' || name?.kind !== 'ident') return undefined;
    if (tokens[k + 2]?.text === '(') {
      if (tokens[k + 3]?.text !== ')') return undefined;
      ops.push({ kind: 'call', name: name.text });
      k += 4;
    } else {
      ops.push({ kind: 'field', name: name.text });
      k += 2;
    }
  }
  return { base: base.text, ops };
}

function parseLet(st: Statement, file: string): [string, Local] {
  const t = st.tokens;
  let k = 1;
  if (t[k]?.text === 'mut') k++;
  const name = t[k];
  if (name?.kind !== 'ident') throw new RustSourceError(file, st.line, `a let this does not understand: ${tokensText(t)}`);
  k++;
  let type: TypeRef | undefined;
  if (t[k]?.text === ':') {
    const eq = t.findIndex((tok, i) => i > k && tok.text === '=');
    if (eq === -1) throw new RustSourceError(file, st.line, `a let without a value: ${tokensText(t)}`);
    type = typeOfTokens(t.slice(k + 1, eq), file, st.line);
    k = eq;
  }
  if (t[k]?.text !== '=') throw new RustSourceError(file, st.line, `a let without a value: ${tokensText(t)}`);
  return [name.text, { type, init: t.slice(k + 1), line: st.line }];
}

/** A type written as tokens (`&BlockDeviceMetrics`, `Arc<X>`), parsed the way struct fields are. */
function typeOfTokens(tokens: readonly Token[], file: string, line: number): TypeRef {
  const path: string[] = [];
  let k = 0;
  while (tokens[k]?.text === '&' || tokens[k]?.kind === 'lifetime' || tokens[k]?.text === 'mut') k++;
  const args: TypeRef[] = [];
  for (; k < tokens.length; k++) {
    const t = tokens[k] as Token;
    if (t.kind === 'ident') path.push(t.text);
    else if (t.text === '<') {
      args.push(typeOfTokens(tokens.slice(k + 1, tokens.length - 1), file, line));
      break;
    } else if (t.text !== '::') throw new RustSourceError(file, line, `a type this does not understand: ${tokensText(tokens)}`);
  }
  return { path, args, text: tokensText(tokens) };
}

/** The two arguments of `x.serialize_entry(key, value)?`. */
function entryArgs(st: Statement, file: string): [readonly Token[], readonly Token[]] {
  const t = st.tokens;
  const at = t.findIndex((tok, k) => tok.text === 'serialize_entry' && t[k + 1]?.text === '(');
  if (at !== 2 || t[1]?.text !== '.' || t[0]?.kind !== 'ident') {
    throw new RustSourceError(file, st.line, `an entry written otherwise than <map>.serialize_entry(…): ${tokensText(t)}`);
  }
  const close = closeOf(t, at + 1, file);
  const rest = tokensText(t.slice(close + 1));
  if (rest !== '?' && rest !== '') throw new RustSourceError(file, st.line, `an entry followed by ${rest}`);
  const args = splitArgs(t.slice(at + 2, close));
  if (args.length !== 2) throw new RustSourceError(file, st.line, `serialize_entry with ${args.length} arguments`);
  return [args[0] as Token[], args[1] as Token[]];
}

/** Splits call arguments at their top-level commas. */
function splitArgs(tokens: readonly Token[]): Token[][] {
  const args: Token[][] = [];
  let current: Token[] = [];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === 'punct' && (t.text === '(' || t.text === '[' || t.text === '{')) depth++;
    if (t.kind === 'punct' && (t.text === ')' || t.text === ']' || t.text === '}')) depth--;
    if (depth === 0 && t.kind === 'punct' && t.text === ',') {
      args.push(current);
      current = [];
    } else current.push(t);
  }
  if (current.length > 0) args.push(current);
  return args;
}

/** Whether tokens call any serde serializer method (`serialize_entry`, `serialize_field`, …) but the allowed ones. */
function serializes(tokens: readonly Token[], allowed: readonly string[] = []): boolean {
  return tokens.some((t, k) => t.kind === 'ident' && /^serialize_/.test(t.text) && !allowed.includes(t.text) && tokens[k + 1]?.text === '(');
}

/** The body of a type's own `impl Serialize` `fn serialize`, if it has one. */
function serializeBody(decl: StructDecl, file: RustFile): { body: readonly Token[]; file: RustFile; line: number } | undefined {
  const impls = file.impls.filter((i) => i.trait === 'Serialize' && i.target === decl.name);
  if (impls.length === 0) return undefined;
  if (impls.length > 1) throw new RustSourceError(file.path, decl.line, `${decl.name} has ${impls.length} Serialize impls`);
  const impl = impls[0] as (typeof impls)[number];
  const fn = implMethods(impl, file.path).find((f) => f.name === 'serialize');
  if (fn === undefined) throw new RustSourceError(file.path, impl.line, `impl Serialize for ${decl.name} has no fn serialize`);
  return { body: fn.body, file, line: fn.line };
}

/** `<module path>::flush_metrics(serializer)` as the whole body: the module path, else undefined. */
function flushCall(body: readonly Token[]): string[] | undefined {
  const tokens = body.filter((t) => t.kind !== 'comment' && t.kind !== 'doc');
  const at = tokens.findIndex((t) => t.text === 'flush_metrics');
  if (at === -1) return undefined;
  const path: string[] = [];
  for (let k = 0; k < at; k += 2) {
    if (tokens[k]?.kind !== 'ident' || tokens[k + 1]?.text !== '::') return undefined;
    path.push(tokens[k]?.text ?? '');
  }
  const rest = tokensText(tokens.slice(at + 1));
  return path.length > 0 && /^\(\w+\);?$/.test(rest) ? path : undefined;
}

/** The map entries a custom `Serialize` writes: each under `if` is optional, any other required. */
function optionalKeys(body: readonly Token[], file: string, line: number, at: string): DerivedHeaderKey[] {
  const keys: DerivedHeaderKey[] = [];
  const visit = (tokens: readonly Token[], conditional: boolean): void => {
    for (const st of statementsOf(tokens, file)) {
      if (st.block === 'if') visit(blockBody(st, file), true);
      else if (st.block !== undefined) {
        if (serializes(st.tokens)) throw new RustSourceError(file, st.line, `${at}: entries written in a ${st.block} block`);
      } else if (calls(st.tokens, 'serialize_entry')) {
        const [key] = entryArgs(st, file);
        if (key.length !== 1 || key[0]?.kind !== 'string') throw new RustSourceError(file, st.line, `${at}: a key that is not a string literal`);
        keys.push({ key: key[0].text, required: !conditional });
      } else if (serializes(st.tokens, ['serialize_map'])) {
        throw new RustSourceError(file, st.line, `${at}: statement not understood: ${tokensText(st.tokens)}`);
      }
    }
  };
  visit(body, false);
  if (keys.length === 0) throw new RustSourceError(file, line, `${at}: a flattened Serialize impl that writes no entry`);
  return keys;
}

/** Whether a `Serialize` body writes one scalar (`serializer.serialize_i64(…)`). */
function writesScalar(body: readonly Token[]): boolean {
  const called = body.filter((t, k) => t.kind === 'ident' && /^serialize_/.test(t.text) && body[k + 1]?.text === '(').map((t) => t.text);
  return called.length === 1 && /^serialize_[iu](8|16|32|64)$/.test(called[0] ?? '');
}

function derivesSerialize(attrs: readonly Attribute[]): boolean {
  return attrs.some((a) => a.name === 'derive' && a.args.some((t) => t.kind === 'ident' && t.text === 'Serialize'));
}

/** `#[cfg(target_arch = "…")]` on an item: that architecture; any other cfg is an error. */
export function archOf(attrs: readonly Attribute[], file: string): Arch | undefined {
  let arch: Arch | undefined;
  for (const a of attrs) {
    if (a.name !== 'cfg') continue;
    const text = tokensText(a.args);
    const match = /^target_arch="(aarch64|x86_64)"$/.exec(text);
    if (match === null) throw new RustSourceError(file, a.line, `#[cfg(${text})] is not understood (only target_arch = "aarch64" | "x86_64")`);
    if (arch !== undefined && arch !== match[1]) throw new RustSourceError(file, a.line, 'two different target_arch cfgs');
    arch = match[1] as Arch;
  }
  return arch;
}

function combineArch(outer: Arch | undefined, inner: Arch | undefined, file: string, line: number): Arch | undefined {
  if (outer !== undefined && inner !== undefined && outer !== inner) throw new RustSourceError(file, line, `an ${inner} entry inside an ${outer} one`);
  return outer ?? inner;
}

export interface SerdeField {
  readonly flatten: boolean;
  readonly skip: boolean;
  readonly rename: string | undefined;
}

/** A field's `#[serde(…)]`: flatten, skip, skip_serializing, rename = "…"; anything else is an error. */
export function serdeOf(attrs: readonly Attribute[], file: string): SerdeField {
  let flatten = false;
  let skip = false;
  let rename: string | undefined;
  for (const a of attrs) {
    if (a.name !== 'serde') continue;
    for (const item of splitArgs(a.args)) {
      const text = tokensText(item);
      if (text === 'flatten') flatten = true;
      else if (text === 'skip' || text === 'skip_serializing') skip = true;
      else if (item.length === 3 && item[0]?.text === 'rename' && item[1]?.text === '=' && item[2]?.kind === 'string') rename = item[2].text;
      else throw new RustSourceError(file, a.line, `#[serde(${text})] is not understood`);
    }
  }
  return { flatten, skip, rename };
}

function unwrap(type: TypeRef): TypeRef {
  let t = type;
  while (TRANSPARENT.has(t.path[t.path.length - 1] ?? '') && t.args.length === 1) t = t.args[0] as TypeRef;
  return t;
}

function lastOf(type: TypeRef, file: string, line: number): string {
  const name = type.path[type.path.length - 1];
  if (name === undefined) throw new RustSourceError(file, line, `type ${type.text} is not a named type`);
  return name;
}
