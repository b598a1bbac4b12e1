/**
 * A strict reader of metrics lines for tests: objects keep their members in order (duplicates are
 * an error), numbers must be non-negative integers and are read exactly as bigints, strings are
 * decoded by JSON.parse. Anything else a metrics line never holds (arrays, fractions, negative
 * numbers, literals) is rejected with the offset where it was found.
 */

export type JsonValue = bigint | string | JsonObject;

export class JsonObject {
  constructor(readonly members: ReadonlyMap<string, JsonValue>) {}

  keys(): string[] {
    return [...this.members.keys()];
  }

  get(key: string): JsonValue {
    const value = this.members.get(key);
    if (value === undefined) throw new Error(`no member ${JSON.stringify(key)}`);
    return value;
  }

  object(key: string): JsonObject {
    const value = this.get(key);
    if (!(value instanceof JsonObject)) throw new Error(`member ${JSON.stringify(key)} is not an object`);
    return value;
  }

  integer(key: string): bigint {
    const value = this.get(key);
    if (typeof value !== 'bigint') throw new Error(`member ${JSON.stringify(key)} is not an integer`);
    return value;
  }
}

const U64_MAX = (1n << 64n) - 1n;

export function parseLine(text: string): JsonObject {
  let at = 0;

  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${at}: ${JSON.stringify(text.slice(at, at + 24))}`);
  };

  const value = (): JsonValue => {
    const c = text[at];
    if (c === '{') return object();
    if (c === '"') return string();
    if (c !== undefined && c >= '0' && c <= '9') return integer();
    return fail('expected an object, a string or a non-negative integer');
  };

  const integer = (): bigint => {
    const match = /^(?:0|[1-9][0-9]*)(?![0-9.eE])/.exec(text.slice(at, at + 32));
    if (match === null) return fail('expected a non-negative integer without fraction or exponent');
    at += match[0].length;
    const result = BigInt(match[0]);
    if (result > U64_MAX) return fail('integer above 2^64-1');
    return result;
  };

  const string = (): string => {
    const start = at;
    at++;
    for (;;) {
      const c = text[at];
      if (c === undefined) return fail('unterminated string');
      if (c === '\\') at += 2;
      else if (c === '"') break;
      else if (c < ' ') return fail('raw control character in a string');
      else at++;
    }
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };

  const object = (): JsonObject => {
    const members = new Map<string, JsonValue>();
    at++;
    if (text[at] === '}') {
      at++;
      return new JsonObject(members);
    }
    for (;;) {
      if (text[at] !== '"') fail('expected a member name');
      const key = string();
      if (members.has(key)) fail(`duplicate member ${JSON.stringify(key)}`);
      if (text[at] !== ':') fail('expected ":"');
      at++;
      members.set(key, value());
      if (text[at] === ',') {
        at++;
        continue;
      }
      if (text[at] === '}') {
        at++;
        return new JsonObject(members);
      }
      fail('expected "," or "}"');
    }
  };

  if (text[0] !== '{') fail('a line must be an object');
  const line = object();
  if (at !== text.length) fail('text after the line');
  return line;
}

/** Sorted as Firecracker's `BTreeMap<String, _>` iterates: by UTF-8 bytes. */
export function byUtf8(ids: Iterable<string>): string[] {
  return [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
