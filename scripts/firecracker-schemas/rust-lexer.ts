/**
 * A lexer for the Rust that Firecracker's metrics sources are written in: enough of the language
 * (identifiers, literals, punctuation, comments, nested block comments, raw strings, lifetimes)
 * to find items and read their tokens, not to compile anything.
 *
 * Comments are kept as tokens because the field docs are the help text: `///` (outer doc), and
 * plain `//` comments, which Firecracker sometimes uses where a doc was meant
 * (`// Vhost-user init time in microseconds.`). Inner docs (`//!`) and block comments are dropped.
 */

export type TokenKind = 'ident' | 'lifetime' | 'string' | 'char' | 'number' | 'punct' | 'doc' | 'comment';

export interface Token {
  readonly kind: TokenKind;
  /** The identifier, the punctuation, a string literal's value (escapes resolved), or a comment's text. */
  readonly text: string;
  /** 1-based line where the token starts. */
  readonly line: number;
}

/** A source file the parser could not read, with where: `file:line: message`. */
export class RustSourceError extends Error {
  override readonly name = 'RustSourceError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

/** Punctuation of more than one character that the parser looks for as one token. */
const MULTI_PUNCT = ['::', '->', '=>', '..', '==', '!=', '&&', '||', '+=', '-='];

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;

export function lexRust(source: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const fail = (reason: string): never => {
    throw new RustSourceError(file, line, reason);
  };
  const advance = (to: number): void => {
    for (let k = i; k < to; k++) if (source.charCodeAt(k) === 10) line++;
    i = to;
  };
  while (i < source.length) {
    const c = source[i] ?? '';
    if (c === '\n' || c === ' ' || c === '\t' || c === '\r') {
      advance(i + 1);
      continue;
    }
    const start = line;
    if (c === '/' && source[i + 1] === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      const body = source.slice(i, stop);
      // `///` is an outer doc, but `////` is a plain comment (the Rust reference's rule).
      if (body.startsWith('///') && !body.startsWith('////')) tokens.push({ kind: 'doc', text: body.slice(3).trim(), line: start });
      else if (!body.startsWith('//!')) tokens.push({ kind: 'comment', text: body.replace(/^\/+/, '').trim(), line: start });
      advance(stop);
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      let depth = 0;
      let k = i;
      while (k < source.length) {
        if (source[k] === '/' && source[k + 1] === '*') {
          depth++;
          k += 2;
        } else if (source[k] === '*' && source[k + 1] === '/') {
          depth--;
          k += 2;
          if (depth === 0) break;
        } else k++;
      }
      if (depth !== 0) fail('unterminated block comment');
      const body = source.slice(i, k);
      if (body.startsWith('/**') && !body.startsWith('/***') && body !== '/**/') {
        tokens.push({ kind: 'doc', text: body.slice(3, -2).replace(/^\s*\*\s?/gm, '').trim(), line: start });
      }
      advance(k);
      continue;
    }
    // Raw strings: r"…", r#"…"#, br"…".
    const raw = /^b?r(#*)"/.exec(source.slice(i, i + 40));
    if (raw !== null) {
      const hashes = raw[1] ?? '';
      const close = `"${hashes}`;
      const bodyStart = i + raw[0].length;
      const end = source.indexOf(close, bodyStart);
      if (end === -1) fail('unterminated raw string');
      tokens.push({ kind: 'string', text: source.slice(bodyStart, end), line: start });
      advance(end + close.length);
      continue;
    }
    if (c === '"' || (c === 'b' && source[i + 1] === '"')) {
      let k = c === 'b' ? i + 2 : i + 1;
      let text = '';
      while (k < source.length && source[k] !== '"') {
        if (source[k] === '\\') {
          const e = source[k + 1] ?? '';
          if (e === '\n') {
            // A line continuation: the newline and the next line's leading whitespace go.
            k += 2;
            while (k < source.length && /\s/.test(source[k] ?? '')) k++;
            continue;
          }
          text += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === '0' ? '\0' : e;
          k += 2;
        } else {
          text += source[k] ?? '';
          k++;
        }
      }
      if (k >= source.length) fail('unterminated string literal');
      tokens.push({ kind: 'string', text, line: start });
      advance(k + 1);
      continue;
    }
    if (c === "'") {
      // A char literal ('a', '\n', '\'', '\u{1F600}') or a lifetime ('a, 'static).
      const char = /^'(?:[^'\\\n]|\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.))'/.exec(source.slice(i, i + 12));
      if (char !== null) {
        tokens.push({ kind: 'char', text: char[0], line: start });
        advance(i + char[0].length);
        continue;
      }
      const life = /^'[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i, i + 64));
      if (life === null) fail(`unexpected ' character`);
      tokens.push({ kind: 'lifetime', text: (life as RegExpExecArray)[0], line: start });
      advance(i + (life as RegExpExecArray)[0].length);
      continue;
    }
    if (IDENT_START.test(c)) {
      let k = i + 1;
      while (k < source.length && IDENT_PART.test(source[k] ?? '')) k++;
      // A raw identifier (`r#type`) is the identifier itself.
      let text = source.slice(i, k);
      if (text === 'r' && source[k] === '#' && IDENT_START.test(source[k + 1] ?? '')) {
        let m = k + 2;
        while (m < source.length && IDENT_PART.test(source[m] ?? '')) m++;
        text = source.slice(k + 1, m);
        k = m;
      }
      tokens.push({ kind: 'ident', text, line: start });
      advance(k);
      continue;
    }
    if (/[0-9]/.test(c)) {
      const num = /^(?:0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*(?:\.[0-9][0-9_]*)?(?:[eE][+-]?[0-9_]+)?)(?:[iu](?:8|16|32|64|128|size)|f32|f64)?/.exec(
        source.slice(i, i + 80),
      );
      const text = num === null ? c : num[0];
      tokens.push({ kind: 'number', text, line: start });
      advance(i + text.length);
      continue;
    }
    const multi = MULTI_PUNCT.find((p) => source.startsWith(p, i));
    if (multi !== undefined) {
      tokens.push({ kind: 'punct', text: multi, line: start });
      advance(i + multi.length);
      continue;
    }
    if ('{}()[]<>;:,.=&*!#?+-/%^|@$~'.includes(c)) {
      tokens.push({ kind: 'punct', text: c, line: start });
      advance(i + 1);
      continue;
    }
    fail(`unexpected character ${JSON.stringify(c)}`);
  }
  return tokens;
}
