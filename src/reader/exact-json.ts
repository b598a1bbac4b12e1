/**
 * A strict JSON parser (RFC 8259) that loses no digit.
 *
 * `JSON.parse` turns every number into a double, so a u64 counter above 2^53 − 1 comes back
 * rounded, and Node 20 has no reviver `context.source` to recover the text. This scanner reads
 * numbers itself:
 *
 * - an integer literal (`-?digits`) of at most 20 digits becomes a `number` while it is a safe
 *   integer and a `bigint` beyond, the same normal form as the metrics core's `U64`;
 * - a longer integer literal becomes a `JsonLongInteger` that keeps its source text: 20 digits
 *   is the most a u64 has (2^64 − 1 = 18446744073709551615), so a longer one can only be
 *   reported as out of range, and `BigInt()` of a text is quadratic in its length (an
 *   8-million-digit literal took 6.5 s);
 * - a literal with a fraction or an exponent becomes a `JsonDecimal` that keeps its source text.
 *
 * Objects come out as `JsonObjectNode`s, which keep every member in source order, duplicates
 * included, so that validators can check the order of keys and notice repeated ones.
 */

/** A number written with a fraction or an exponent (`1.5`, `2e3`), kept as written. */
export class JsonDecimal {
  constructor(readonly text: string) {}

  /** The nearest double. */
  toNumber(): number {
    return Number(this.text);
  }

  toString(): string {
    return this.text;
  }
}

/**
 * An integer literal of more than 20 digits (more than any u64 has), kept as written and never
 * converted unless asked: it is syntactically JSON, but no metric value.
 */
export class JsonLongInteger {
  constructor(readonly text: string) {}

  /** Whether it is written with a leading '-'. */
  get negative(): boolean {
    return this.text.charCodeAt(0) === 0x2d;
  }

  /** How many digits it has, its sign left out. */
  get digits(): number {
    return this.negative ? this.text.length - 1 : this.text.length;
  }

  /** The exact value; takes time quadratic in the number of digits. */
  toBigInt(): bigint {
    return BigInt(this.text);
  }

  /** The nearest double (±Infinity beyond about 309 digits). */
  toNumber(): number {
    return Number(this.text);
  }

  toString(): string {
    return this.text;
  }
}

/** The most digits an integer literal may have to become a `number` or `bigint`: those of 2^64 − 1. */
export const MAX_INTEGER_DIGITS = 20;

/** A JSON object as written: keys and values in source order, repeated keys kept. */
export class JsonObjectNode {
  constructor(
    readonly keys: string[],
    readonly values: JsonNode[],
  ) {}
}

/** A parsed JSON value before it becomes a plain object (`toExactJson`). */
export type JsonNode = null | boolean | string | number | bigint | JsonDecimal | JsonLongInteger | JsonNode[] | JsonObjectNode;

/** A JSON value with exact numbers, as records carry it. */
export type ExactJson =
  | null
  | boolean
  | string
  | number
  | bigint
  | JsonDecimal
  | JsonLongInteger
  | readonly ExactJson[]
  | ExactJsonObject;

export interface ExactJsonObject {
  readonly [key: string]: ExactJson;
}

export class JsonSyntaxError extends SyntaxError {
  override name = 'JsonSyntaxError';
  constructor(
    message: string,
    /** Index in the text (UTF-16 units) where the problem is. */
    readonly position: number,
  ) {
    super(message);
  }
}

/** Objects and arrays nested deeper than this are refused rather than risking the stack. */
export const MAX_DEPTH = 256;

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE_BIG = -MAX_SAFE_BIG;

/** Parses one JSON text (surrounding whitespace allowed); throws `JsonSyntaxError`. */
export function parseJsonNode(text: string): JsonNode {
  const parser = new Parser(text);
  parser.skipSpace();
  const value = parser.value(0);
  parser.skipSpace();
  if (parser.pos < text.length) parser.fail('unexpected text after the JSON value');
  return value;
}

class Parser {
  pos = 0;

  constructor(readonly text: string) {}

  fail(what: string, at: number = this.pos): never {
    const found = at < this.text.length ? describeChar(this.text, at) : 'the end of the line';
    throw new JsonSyntaxError(`${what} (found ${found} at column ${at + 1})`, at);
  }

  skipSpace(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
    this.pos = pos;
  }

  value(depth: number): JsonNode {
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b: // {
        return this.object(depth + 1);
      case 0x5b: // [
        return this.array(depth + 1);
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.literal('true', true);
      case 0x66: // f
        return this.literal('false', false);
      case 0x6e: // n
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        return this.fail('expected a JSON value');
    }
  }

  literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('expected a JSON value');
    this.pos += word.length;
    return value;
  }

  object(depth: number): JsonObjectNode {
    if (depth > MAX_DEPTH) this.fail(`objects and arrays nested more than ${MAX_DEPTH} deep`);
    const text = this.text;
    const keys: string[] = [];
    const values: JsonNode[] = [];
    this.pos++;
    this.skipSpace();
    if (text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return new JsonObjectNode(keys, values);
    }
    for (;;) {
      if (text.charCodeAt(this.pos) !== 0x22) this.fail('expected a string key');
      keys.push(this.string());
      this.skipSpace();
      if (text.charCodeAt(this.pos) !== 0x3a) this.fail("expected ':' after a key");
      this.pos++;
      this.skipSpace();
      values.push(this.value(depth));
      this.skipSpace();
      const c = text.charCodeAt(this.pos);
      if (c === 0x2c) {
        this.pos++;
        this.skipSpace();
      } else if (c === 0x7d) {
        this.pos++;
        return new JsonObjectNode(keys, values);
      } else {
        this.fail("expected ',' or '}'");
      }
    }
  }

  array(depth: number): JsonNode[] {
    if (depth > MAX_DEPTH) this.fail(`objects and arrays nested more than ${MAX_DEPTH} deep`);
    const text = this.text;
    const items: JsonNode[] = [];
    this.pos++;
    this.skipSpace();
    if (text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return items;
    }
    for (;;) {
      items.push(this.value(depth));
      this.skipSpace();
      const c = text.charCodeAt(this.pos);
      if (c === 0x2c) {
        this.pos++;
        this.skipSpace();
      } else if (c === 0x5d) {
        this.pos++;
        return items;
      } else {
        this.fail("expected ',' or ']'");
      }
    }
  }

  string(): string {
    const text = this.text;
    const start = this.pos + 1;
    let pos = start;
    // Fast path: no escape before the closing quote.
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        this.pos = pos + 1;
        return text.slice(start, pos);
      }
      if (c === 0x5c) break;
      if (c < 0x20 || Number.isNaN(c)) this.#badStringChar(pos);
      pos++;
    }
    let out = text.slice(start, pos);
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        this.pos = pos + 1;
        return out;
      }
      if (c === 0x5c) {
        out += this.#escape(pos);
        pos += text.charCodeAt(pos + 1) === 0x75 ? 6 : 2;
        continue;
      }
      if (c < 0x20 || Number.isNaN(c)) this.#badStringChar(pos);
      // Copy the run up to the next quote or backslash in one slice.
      let end = pos + 1;
      for (;;) {
        const d = text.charCodeAt(end);
        if (d === 0x22 || d === 0x5c || d < 0x20 || Number.isNaN(d)) break;
        end++;
      }
      out += text.slice(pos, end);
      pos = end;
    }
  }

  #badStringChar(pos: number): never {
    if (pos >= this.text.length) this.fail('unterminated string', pos);
    return this.fail('control character in a string (it must be escaped)', pos);
  }

  /** The character an escape sequence at `pos` stands for. */
  #escape(pos: number): string {
    const e = this.text.charCodeAt(pos + 1);
    switch (e) {
      case 0x22:
        return '"';
      case 0x5c:
        return '\\';
      case 0x2f:
        return '/';
      case 0x62:
        return '\b';
      case 0x66:
        return '\f';
      case 0x6e:
        return '\n';
      case 0x72:
        return '\r';
      case 0x74:
        return '\t';
      case 0x75: {
        const hex = this.text.slice(pos + 2, pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('expected four hex digits after \\u', pos);
        return String.fromCharCode(parseInt(hex, 16));
      }
      default:
        return this.fail('invalid escape sequence', pos);
    }
  }

  number(): number | bigint | JsonDecimal | JsonLongInteger {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    if (text.charCodeAt(pos) === 0x2d) pos++;
    const intStart = pos;
    let c = text.charCodeAt(pos);
    if (c === 0x30) {
      pos++;
    } else if (c >= 0x31 && c <= 0x39) {
      do c = text.charCodeAt(++pos);
      while (c >= 0x30 && c <= 0x39);
    } else {
      this.fail('expected a digit', pos);
    }
    const intEnd = pos;
    let integer = true;
    c = text.charCodeAt(pos);
    if (c === 0x2e) {
      integer = false;
      pos++;
      if (!isDigit(text.charCodeAt(pos))) this.fail('expected a digit after the decimal point', pos);
      while (isDigit(text.charCodeAt(pos))) pos++;
      c = text.charCodeAt(pos);
    }
    if (c === 0x65 || c === 0x45) {
      integer = false;
      pos++;
      c = text.charCodeAt(pos);
      if (c === 0x2b || c === 0x2d) pos++;
      if (!isDigit(text.charCodeAt(pos))) this.fail('expected a digit in the exponent', pos);
      while (isDigit(text.charCodeAt(pos))) pos++;
    }
    // A leading zero followed by more digits ("01") is not JSON.
    if (text.charCodeAt(intStart) === 0x30 && isDigit(text.charCodeAt(intStart + 1))) {
      this.fail('leading zeros are not allowed', intStart);
    }
    this.pos = pos;
    const literal = text.slice(start, pos);
    if (!integer) return new JsonDecimal(literal);
    // Up to 15 digits a double is exact; beyond, go through bigint and come back if safe.
    const digits = intEnd - intStart;
    if (digits <= 15) return Number(literal);
    if (digits > MAX_INTEGER_DIGITS) return new JsonLongInteger(literal);
    const big = BigInt(literal);
    return big <= MAX_SAFE_BIG && big >= MIN_SAFE_BIG ? Number(big) : big;
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function describeChar(text: string, at: number): string {
  const code = text.codePointAt(at) ?? 0;
  if (code >= 0x20 && code < 0x7f) return JSON.stringify(String.fromCharCode(code));
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Sets `object[key] = value` as an own data property, even for `__proto__`, which an
 * assignment would take as the prototype.
 */
export function defineMember(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    object[key] = value;
  }
}

/** The plain value of a node: objects become plain objects (a repeated key keeps its last value). */
export function toExactJson(node: JsonNode): ExactJson {
  if (node instanceof JsonObjectNode) {
    const object: Record<string, ExactJson> = {};
    for (let i = 0; i < node.keys.length; i++) {
      defineMember(object, node.keys[i] as string, toExactJson(node.values[i] as JsonNode));
    }
    return object;
  }
  if (Array.isArray(node)) return node.map(toExactJson);
  return node;
}

/** Compact JSON text of a value, numbers with their exact digits. */
export function formatExactJson(value: ExactJson): string {
  switch (typeof value) {
    case 'number':
      if (Object.is(value, -0)) return '-0';
      if (!Number.isFinite(value)) throw new RangeError(`not a JSON number: ${value}`);
      return String(value);
    case 'bigint':
      return value.toString();
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      break;
  }
  if (value === null) return 'null';
  if (value instanceof JsonDecimal || value instanceof JsonLongInteger) return value.text;
  if (isExactJsonArray(value)) return `[${value.map(formatExactJson).join(',')}]`;
  let json = '';
  for (const [key, member] of Object.entries(value)) {
    json += `${json === '' ? '' : ','}${JSON.stringify(key)}:${formatExactJson(member)}`;
  }
  return `{${json}}`;
}

function isExactJsonArray(value: readonly ExactJson[] | ExactJsonObject): value is readonly ExactJson[] {
  return Array.isArray(value);
}
