/**
 * The statements of a function body, as the flush and serialize code of Firecracker's metrics
 * needs them read: each with its outer attributes (`#[cfg(target_arch = "aarch64")]` gates a
 * `serialize_entry`), `let` bindings, `for`/`if` blocks with their bodies, and the rest as
 * token runs. Comments are dropped.
 */
import { RustSourceError, type Token } from './rust-lexer.js';
import { attributeAt, closeOf, type Attribute } from './rust-items.js';

export interface Statement {
  readonly attrs: readonly Attribute[];
  /** The statement's tokens, without its attributes and its final `;`. */
  readonly tokens: readonly Token[];
  readonly line: number;
  /** For `for`, `if`, `while`, `loop`, `match` and bare blocks: the keyword, else undefined. */
  readonly block: string | undefined;
}

const BLOCK_KEYWORDS = new Set(['for', 'if', 'while', 'loop', 'match', 'unsafe']);

export function statementsOf(body: readonly Token[], file: string): Statement[] {
  const tokens = body.filter((t) => t.kind !== 'comment' && t.kind !== 'doc');
  const out: Statement[] = [];
  let attrs: Attribute[] = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i] as Token;
    if (t.kind === 'punct' && t.text === ';') {
      i++;
      continue;
    }
    if (t.kind === 'punct' && t.text === '#') {
      const [attr, next] = attributeAt(tokens, i, file);
      attrs.push(attr);
      i = next;
      continue;
    }
    const start = i;
    let end: number;
    const keyword = t.kind === 'ident' && BLOCK_KEYWORDS.has(t.text) ? t.text : t.kind === 'punct' && t.text === '{' ? '{' : undefined;
    if (keyword !== undefined) {
      end = blockEnd(tokens, i, file);
      // `if … {} else if … {} else {}`
      while (keyword === 'if' && tokens[end + 1]?.text === 'else') end = blockEnd(tokens, end + 2, file);
      end++;
    } else {
      end = i;
      while (end < tokens.length && !(tokens[end]?.kind === 'punct' && tokens[end]?.text === ';')) {
        const p = tokens[end] as Token;
        end = p.kind === 'punct' && (p.text === '(' || p.text === '[' || p.text === '{') ? closeOf(tokens, end, file) + 1 : end + 1;
      }
    }
    out.push({ attrs, tokens: tokens.slice(start, end), line: t.line, block: keyword });
    attrs = [];
    i = end;
  }
  if (attrs.length > 0) throw new RustSourceError(file, attrs[0]?.line ?? 0, 'attribute at the end of a block');
  return out;
}

/** The index of the `}` that ends the block statement starting at `at`. */
function blockEnd(tokens: readonly Token[], at: number, file: string): number {
  for (let k = at; k < tokens.length; k++) {
    const p = tokens[k] as Token;
    if (p.kind !== 'punct') continue;
    if (p.text === '{') return closeOf(tokens, k, file);
    if (p.text === '(' || p.text === '[') k = closeOf(tokens, k, file);
  }
  throw new RustSourceError(file, tokens[at]?.line ?? 0, 'expected a block');
}

/** The body of a block statement (the tokens inside its first `{ … }`). */
export function blockBody(statement: Statement, file: string): readonly Token[] {
  const open = statement.tokens.findIndex((t, k) => t.kind === 'punct' && t.text === '{' && depthAt(statement.tokens, k) === 0);
  if (open === -1) throw new RustSourceError(file, statement.line, 'expected a block');
  return statement.tokens.slice(open + 1, closeOf(statement.tokens, open, file));
}

function depthAt(tokens: readonly Token[], index: number): number {
  let depth = 0;
  for (let k = 0; k < index; k++) {
    const p = tokens[k] as Token;
    if (p.kind !== 'punct') continue;
    if (p.text === '(' || p.text === '[' || p.text === '{') depth++;
    else if (p.text === ')' || p.text === ']' || p.text === '}') depth--;
  }
  return depth;
}

/** Whether the tokens call a method or function of this name anywhere (`x.serialize_entry(`). */
export function calls(tokens: readonly Token[], name: string): boolean {
  return tokens.some((t, k) => t.kind === 'ident' && t.text === name && tokens[k + 1]?.text === '(');
}
