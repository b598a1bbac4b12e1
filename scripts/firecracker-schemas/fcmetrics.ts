/**
 * Firecracker's own validator lists, read from `tests/host_tools/fcmetrics.py` (v1.7 on): the
 * groups and fields its integration tests require of every metrics line, kept apart from the
 * derivation from Rust so that each can check the other.
 *
 * Read from `validate_fc_metrics`, statement by statement, with a small Python lexer:
 * - `firecracker_metrics = {…}`: each key a group, its value the list of fields, where a field is
 *   a string or `{"<name>": <members>}` (a latency aggregate, v1.8 on); a `""` value is a header
 *   key (`"utc_timestamp_ms": ""`). Names such as `block_metrics` refer to lists assigned before;
 * - `latency_agg_metrics = {"block": ["read_agg", …]}` (v1.7): fields of those groups whose
 *   values are objects; they are added to their groups (members unknown);
 * - `firecracker_metrics["rtc"] = […]` under `if platform.machine() == "aarch64":`: an aarch64
 *   group; `firecracker_metrics[metrics_name] = …` under `if metrics_name.startswith("<p>_"):`:
 *   the fields of each device of family `<p>`;
 * - `firecracker_metrics_schema["properties"]["<key>"] = …`: an optional header key.
 * Any other shape of those statements is an error naming the line.
 */

export class ValidatorSourceError extends Error {
  override readonly name = 'ValidatorSourceError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

/** A field the validator requires: a number, or an object (a latency aggregate) with its members if listed. */
export type ValidatorField = string | { readonly name: string; readonly members: readonly string[] | undefined };

export interface ValidatorLists {
  readonly header: readonly { readonly key: string; readonly required: boolean }[];
  readonly groups: readonly { readonly key: string; readonly fields: readonly ValidatorField[]; readonly arch: 'aarch64' | undefined }[];
  readonly families: readonly { readonly prefix: string; readonly fields: readonly ValidatorField[] }[];
}

interface PyToken {
  readonly kind: 'name' | 'string' | 'number' | 'op' | 'newline';
  readonly text: string;
  readonly line: number;
  readonly column: number;
}

const FUNCTION = 'validate_fc_metrics';

/** Tokens of Python source, with a `newline` token at the end of each logical line. */
export function lexPython(source: string, file: string): PyToken[] {
  const tokens: PyToken[] = [];
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  let i = 0;
  const push = (kind: PyToken['kind'], text: string, at: number, atLine: number, atLineStart: number): void => {
    tokens.push({ kind, text, line: atLine, column: at - atLineStart });
  };
  while (i < source.length) {
    const c = source[i] ?? '';
    if (c === '\n') {
      if (depth === 0 && tokens.length > 0 && tokens[tokens.length - 1]?.kind !== 'newline') push('newline', '', i, line, lineStart);
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '\\' && source[i + 1] === '\n') {
      i += 2;
      line++;
      lineStart = i;
      continue;
    }
    if (c === '#') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    const str = /^([rRbBfFuU]{0,2})("""|'''|"|')/.exec(source.slice(i, i + 5));
    if (str !== null && (str[1] === '' || /^[rRbBfFuU]+$/.test(str[1] ?? ''))) {
      const quote = str[2] ?? '"';
      const raw = /[rR]/.test(str[1] ?? '');
      const at = i;
      const atLine = line;
      const atLineStart = lineStart;
      let k = i + str[0].length;
      let text = '';
      while (!source.startsWith(quote, k)) {
        if (k >= source.length || (quote.length === 1 && source[k] === '\n')) throw new ValidatorSourceError(file, atLine, 'unterminated string');
        if (source[k] === '\\' && !raw) {
          const e = source[k + 1] ?? '';
          text += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          k += 2;
          continue;
        }
        if (source[k] === '\n') {
          line++;
          lineStart = k + 1;
        }
        text += source[k] ?? '';
        k++;
      }
      push('string', text, at, atLine, atLineStart);
      i = k + quote.length;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let k = i + 1;
      while (k < source.length && /[A-Za-z0-9_]/.test(source[k] ?? '')) k++;
      push('name', source.slice(i, k), i, line, lineStart);
      i = k;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let k = i + 1;
      while (k < source.length && /[0-9A-Za-z_.]/.test(source[k] ?? '')) k++;
      push('number', source.slice(i, k), i, line, lineStart);
      i = k;
      continue;
    }
    const two = source.slice(i, i + 2);
    const op = ['==', '!=', '<=', '>=', '**', '//', '->', ':=', '+=', '-=', '*=', '/='].includes(two) ? two : c;
    if ('([{'.includes(op)) depth++;
    if (')]}'.includes(op)) depth = Math.max(0, depth - 1);
    push('op', op, i, line, lineStart);
    i += op.length;
  }
  if (tokens.length > 0 && tokens[tokens.length - 1]?.kind !== 'newline') tokens.push({ kind: 'newline', text: '', line, column: 0 });
  return tokens;
}

interface PyStatement {
  readonly tokens: readonly PyToken[];
  readonly indent: number;
  readonly line: number;
}

function statementsOf(tokens: readonly PyToken[]): PyStatement[] {
  const out: PyStatement[] = [];
  let current: PyToken[] = [];
  for (const t of tokens) {
    if (t.kind === 'newline') {
      const first = current[0];
      if (first !== undefined) out.push({ tokens: current, indent: first.column, line: first.line });
      current = [];
    } else current.push(t);
  }
  return out;
}

/** A literal value: string, list or dict (keys in order). */
type PyValue = string | readonly PyValue[] | ReadonlyMap<string, PyValue>;

/** Parses a literal from `tokens` (names resolve through `vars`); undefined if it is not one. */
function parseLiteral(tokens: readonly PyToken[], vars: ReadonlyMap<string, PyValue>): PyValue | undefined {
  let k = 0;
  const value = (): PyValue | undefined => {
    const t = tokens[k];
    if (t === undefined) return undefined;
    if (t.kind === 'string') {
      k++;
      // Adjacent literals concatenate.
      let text = t.text;
      while (tokens[k]?.kind === 'string') text += tokens[k++]?.text ?? '';
      return text;
    }
    if (t.kind === 'name') {
      const known = vars.get(t.text);
      if (known === undefined) return undefined;
      k++;
      return known;
    }
    if (t.text === '[') {
      k++;
      const items: PyValue[] = [];
      while (tokens[k]?.text !== ']') {
        const item = value();
        if (item === undefined) return undefined;
        items.push(item);
        if (tokens[k]?.text === ',') k++;
        else if (tokens[k]?.text !== ']') return undefined;
      }
      k++;
      return items;
    }
    if (t.text === '{') {
      k++;
      const map = new Map<string, PyValue>();
      while (tokens[k]?.text !== '}') {
        const key = tokens[k];
        if (key?.kind !== 'string' || tokens[k + 1]?.text !== ':') return undefined;
        k += 2;
        const item = value();
        if (item === undefined) return undefined;
        map.set(key.text, item);
        if (tokens[k]?.text === ',') k++;
        else if (tokens[k]?.text !== '}') return undefined;
      }
      k++;
      return map;
    }
    return undefined;
  };
  const result = value();
  return result !== undefined && k === tokens.length ? result : undefined;
}

const text = (tokens: readonly PyToken[]): string => tokens.map((t) => (t.kind === 'string' ? JSON.stringify(t.text) : t.text)).join(' ');

export function parseValidatorLists(source: string, file: string): ValidatorLists {
  const all = statementsOf(lexPython(source, file));
  const defAt = all.findIndex((s) => s.tokens[0]?.text === 'def' && s.tokens[1]?.text === FUNCTION);
  if (defAt === -1) throw new ValidatorSourceError(file, 0, `no def ${FUNCTION}`);
  const defIndent = (all[defAt] as PyStatement).indent;
  const body: PyStatement[] = [];
  for (const s of all.slice(defAt + 1)) {
    if (s.indent <= defIndent) break;
    body.push(s);
  }
  const vars = new Map<string, PyValue>();
  const header: { key: string; required: boolean }[] = [];
  const groups: { key: string; fields: ValidatorField[]; arch: 'aarch64' | undefined }[] = [];
  const families: { prefix: string; fields: ValidatorField[] }[] = [];
  const blocks: { indent: number; tokens: readonly PyToken[] }[] = [];
  let table: ReadonlyMap<string, PyValue> | undefined;
  const fail = (s: PyStatement, reason: string): never => {
    throw new ValidatorSourceError(file, s.line, `${reason}: ${text(s.tokens)}`);
  };
  for (const s of body) {
    while (blocks.length > 0 && (blocks[blocks.length - 1]?.indent ?? 0) >= s.indent) blocks.pop();
    const t = s.tokens;
    if (t[t.length - 1]?.text === ':' && ['if', 'elif', 'else', 'for', 'while', 'with', 'def', 'try', 'except', 'finally'].includes(t[0]?.text ?? '')) {
      blocks.push({ indent: s.indent, tokens: t });
      continue;
    }
    if (blocks.some((b) => b.tokens[0]?.text === 'def')) continue; // a nested function's statements
    const eq = t.findIndex((tok) => tok.kind === 'op' && tok.text === '=');
    if (eq === -1) continue;
    const target = t.slice(0, eq);
    const rhs = t.slice(eq + 1);
    if (target.length === 1 && target[0]?.kind === 'name') {
      const name = target[0].text;
      const literal = parseLiteral(rhs, vars);
      if (literal === undefined) {
        vars.delete(name);
        if (name === 'firecracker_metrics' || name === 'latency_agg_metrics') fail(s, `${name} is not a literal`);
        continue;
      }
      vars.set(name, literal);
      if (name === 'firecracker_metrics') {
        if (blocks.length > 0 || !(literal instanceof Map)) fail(s, 'firecracker_metrics must be a dict assigned unconditionally');
        table = literal as ReadonlyMap<string, PyValue>;
        for (const [key, value] of table) {
          if (value === '') header.push({ key, required: true });
          else groups.push({ key, fields: fieldsOf(value, s, key, file), arch: undefined });
        }
      } else if (name === 'latency_agg_metrics') {
        if (!(literal instanceof Map)) fail(s, 'latency_agg_metrics must be a dict');
        for (const [key, names] of literal as ReadonlyMap<string, PyValue>) {
          const group = groups.find((g) => g.key === key) ?? fail(s, `latency_agg_metrics names group ${key}, which firecracker_metrics does not list`);
          if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) fail(s, `latency_agg_metrics.${key} is not a list of names`);
          for (const n of names as string[]) if (!group.fields.some((f) => (typeof f === 'string' ? f : f.name) === n)) group.fields.push({ name: n, members: undefined });
        }
      }
      continue;
    }
    if (target[0]?.text === 'firecracker_metrics' && target[1]?.text === '[' && target[target.length - 1]?.text === ']') {
      if (table === undefined) fail(s, 'firecracker_metrics[…] before firecracker_metrics');
      const key = target.slice(2, -1);
      const value = parseLiteral(rhs, vars) ?? fail(s, 'a value that is not a literal list');
      const conditions = blocks.filter((b) => b.tokens[0]?.text === 'if' || b.tokens[0]?.text === 'elif');
      if (conditions.length !== 1) fail(s, 'an addition under other than one if');
      const condition = text((conditions[0] as (typeof conditions)[number]).tokens);
      const prefix = /^(?:if|elif) ([a-z_]+) \. startswith \( "([a-z0-9_]+)_" \) :$/.exec(condition);
      if (condition === 'if platform . machine ( ) == "aarch64" :' && key.length === 1 && key[0]?.kind === 'string') {
        groups.push({ key: key[0].text, fields: fieldsOf(value, s, key[0].text, file), arch: 'aarch64' });
      } else if (prefix !== null && key.length === 1 && key[0]?.text === prefix[1]) {
        families.push({ prefix: prefix[2] ?? '', fields: fieldsOf(value, s, `${prefix[2] ?? ''}_*`, file) });
      } else fail(s, `an addition under a condition not understood (${condition})`);
      continue;
    }
    if (target[0]?.text === 'firecracker_metrics_schema' && text(target.slice(1, 5)) === '[ "properties" ] [' && target[5]?.kind === 'string' && target[6]?.text === ']' && target.length === 7) {
      header.push({ key: target[5].text, required: false });
    }
  }
  if (table === undefined) throw new ValidatorSourceError(file, (all[defAt] as PyStatement).line, `${FUNCTION} assigns no firecracker_metrics dict`);
  return { header, groups, families };
}

function fieldsOf(value: PyValue, s: PyStatement, key: string, file: string): ValidatorField[] {
  if (!Array.isArray(value)) throw new ValidatorSourceError(file, s.line, `group ${key} is not a list of fields`);
  return (value as readonly PyValue[]).map((item) => {
    if (typeof item === 'string') return item;
    if (item instanceof Map && item.size === 1) {
      const [[name, members]] = [...(item as ReadonlyMap<string, PyValue>)] as [[string, PyValue]];
      if (!Array.isArray(members) || !members.every((m) => typeof m === 'string')) throw new ValidatorSourceError(file, s.line, `${key}.${name}: members are not a list of names`);
      return { name, members };
    }
    throw new ValidatorSourceError(file, s.line, `group ${key} has a field that is neither a name nor {name: members}`);
  });
}
