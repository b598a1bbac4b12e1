/**
 * The fast path of `readMetricsLine`: `JSON.parse`, then a walk that accepts a line only when
 * the exact path (`exact-json.ts`, then the checks of `validate.ts`) would find nothing to report,
 * and then gives the very record the exact path would give. Every other line, and every line
 * this module cannot vouch for, goes to the exact path, which stays the one source of problems.
 *
 * `JSON.parse` hides what the exact path looks at: a repeated key (the last value is kept, in
 * the first one's place), a number's spelling (`1e3`, `1000.0` and `1000` are all 1000) and the
 * digits past 2^53 (rounded). The walk recovers them by counting. Going through the parsed
 * values, it counts the length the line has if written the way the writer writes it — compact,
 * each key and string as `JSON.stringify` writes it, each number as its digits — and accepts
 * only a line of exactly that length. No token of a JSON text is shorter than the walk counts
 * it, and only the writer's spelling is as short:
 *
 * - a string: `JSON.stringify` gives each character its shortest form. Strings holding a
 *   surrogate go to the exact path: a lone one is escaped by `JSON.stringify` but may be raw in
 *   a JS string;
 * - an integer up to 2^53 − 1: nothing shorter than its digits rounds to it; `-0` is one
 *   character longer than `0`; a fraction adds two characters or more;
 * - an integer above 2^53 − 1 is counted as the shortest integer that rounds to the same
 *   double: its digits, or one fewer when that many nines round to it too (10^16 and sixteen
 *   nines are one double, so a line holding 10^16 takes the exact path); a fraction is longer;
 * - whitespace, and the members a repeated key dropped, only add characters;
 * - but an exponent may be shorter: it takes at least two characters, so it is no longer than
 *   the digits only for a multiple of 100 (`1e2`, `15e2`); that is, for a nonzero multiple of
 *   100 up to 2^53 − 1, and above for a double that some multiple of 100 rounds to
 *   (`hundredsRoundTo`: all of them from 2^59, few just above 2^53). A line holding such a value
 *   is also searched for exponents (`EXPONENT`). The search costs about a quarter of a
 *   `JSON.parse`, hence only then; it also finds `1e5` in a string, which sends such a line to
 *   the exact path.
 *
 * So an accepted line is exactly what the writer would write for the parsed values: no
 * whitespace, no repeated key, every number a plain integer, every token where the count puts
 * it; the digits of values above 2^53 − 1 are then read from the line at those places.
 *
 * Key order is kept too: objects list integer-like keys (`"0"`, `"17"`) first, whatever their
 * place in the text, so a key that starts with a digit, unless the walk knows it, sends the
 * line to the exact path; so does `__proto__`, which the exact path sets as a plain member.
 */
import { compareKeys } from '../metrics/key-order.js';
import type { GroupFields, GroupSchema } from '../metrics/group.js';
import { U64_MAX } from '../metrics/u64.js';
import type { MetricsRecord } from './record.js';
import { compareKeyRanks, entryRank, HEADER_RANKS, type KeyRank } from './order.js';
import { groupLayout, type MetricsSchema } from './schema.js';
import type { LineClock } from './timestamps.js';

/**
 * Longer lines go straight to the exact path. `JSON.parse` builds all a line holds before the
 * walk can refuse it, which makes some hostile lines cost far more than in the exact parser,
 * which stops at the 257th level of nesting: 2 MB of `[` took 370 ms and 58 MB of heap
 * (Node 20). At 256 Ki characters (`[` all through: 30 ms, 8 MB) the waste stays about what the
 * exact path spends on a flat line as long, and lines of up to about 90 devices of each kind
 * at their longest (2.8 kB for a block, a net, a pmem and a vhost-user entry with 20-digit
 * values and 64-character ids) still take the fast path.
 */
export const MAX_CLEAN_LINE_CHARS = 1 << 18;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** 2^64, the double 2^64 − 1 rounds to; any greater double is out of range. */
const TWO_TO_64 = 2 ** 64;
/** The digits of 2^64 − 1, the most a u64 has. */
const MAX_DIGITS = 20;
const SURROGATE = /[\uD800-\uDFFF]/;
/** An exponent, as in every number token that has one (`1e3`, `2.5E+4`); also matches some strings. */
const EXPONENT = /\d[eE][-+]?\d/;
/** Powers of ten, exact as doubles, for counting digits. */
const POWERS_OF_TEN = Array.from({ length: MAX_DIGITS }, (_, i) => 10 ** i);
/** For n, the double nearest to n nines (10^n − 1); above 2^53 it may be 10^n itself. */
const NINES = POWERS_OF_TEN.map((_, n) => Number('9'.repeat(Math.max(n, 1))));

/** A group's layout as the walk needs it. */
interface CleanLayout {
  readonly names: readonly string[];
  /** Per field: the characters before its value, `,` (but for the first), the quoted name and `:`. */
  readonly before: readonly number[];
  /** Per field: for a latency field its members' names, else undefined. */
  readonly members: readonly (readonly string[] | undefined)[];
  /** Per latency field: the characters before each member's value, as `before`. */
  readonly membersBefore: readonly (readonly number[] | undefined)[];
}

/** What the walk needs of a top-level key that names a group, a device or an aggregate. */
interface TopKey {
  /** Where the writer puts it. */
  readonly rank: KeyRank;
  readonly layout: CleanLayout;
  /** The quoted key and its colon. */
  readonly keyLength: number;
  /** Counts towards the groups and aggregates a line must carry. */
  readonly required: boolean;
}

interface CleanSchema {
  /** Top-level keys met so far; bounded, since device ids come from outside. */
  readonly keys: Map<string, TopKey>;
  /** How many groups and aggregates a line must carry. */
  readonly required: number;
  /** Whether lines may carry `id`, and `properties`. */
  readonly id: boolean;
  readonly properties: boolean;
  /** The group keys of the last accepted line, and an object with those keys to copy for a record. */
  last: { readonly keys: readonly string[]; readonly template: Readonly<Record<string, unknown>> } | undefined;
}

/** Far more devices than a VMM has; past it the cache starts over rather than grow with hostile input. */
const MAX_CACHED_KEYS = 16_384;

const cleanSchemas = new WeakMap<MetricsSchema, CleanSchema>();
/** `null`: a group whose names the walk cannot compare as they are (left to the exact path). */
const cleanLayouts = new WeakMap<GroupSchema<GroupFields>, CleanLayout | null>();

function cleanSchema(schema: MetricsSchema): CleanSchema {
  let clean = cleanSchemas.get(schema);
  if (clean === undefined) {
    let required = 0;
    for (const entry of schema.entries) if (entry.kind === 'group' ? entry.required : entry.aggregate) required++;
    clean = { keys: new Map(), required, id: schema.header.has('id'), properties: schema.header.has('properties'), last: undefined };
    cleanSchemas.set(schema, clean);
  }
  return clean;
}

function startsWithDigit(name: string): boolean {
  const first = name.charCodeAt(0);
  return first >= 0x30 && first <= 0x39;
}

/** A name the walk can compare and count as it is: see the module doc. */
function plainName(name: string): boolean {
  return !startsWithDigit(name) && name !== '__proto__' && !SURROGATE.test(name);
}

function quotedLength(name: string): number {
  return JSON.stringify(name).length;
}

function cleanLayout(schema: GroupSchema<GroupFields>): CleanLayout | undefined {
  let clean = cleanLayouts.get(schema);
  if (clean === undefined) {
    const fields = groupLayout(schema).fields;
    const usable = fields.every((f) => plainName(f.name) && (f.members ?? []).every((m) => plainName(m.member ?? '')));
    clean = usable
      ? {
          names: fields.map((f) => f.name),
          before: fields.map((f, i) => (i > 0 ? 1 : 0) + quotedLength(f.name) + 1),
          members: fields.map((f) => f.members?.map((m) => m.member ?? '')),
          membersBefore: fields.map((f) => f.members?.map((m, i) => (i > 0 ? 1 : 0) + quotedLength(m.member ?? '') + 1)),
        }
      : null;
    cleanLayouts.set(schema, clean);
  }
  return clean ?? undefined;
}

function topKey(clean: CleanSchema, schema: MetricsSchema, key: string): TopKey | undefined {
  let found = clean.keys.get(key);
  if (found !== undefined) return found;
  if (!plainName(key)) return undefined;
  const role = schema.roleOf(key);
  if (role === undefined) return undefined;
  const layout = cleanLayout(role.schema);
  if (layout === undefined) return undefined;
  const entry = role.entry;
  found = {
    rank: entryRank(role),
    layout,
    keyLength: quotedLength(key) + 1,
    required: role.role === 'aggregate' || (entry.kind === 'group' && entry.required),
  };
  if (clean.keys.size >= MAX_CACHED_KEYS) clean.keys.clear();
  clean.keys.set(key, found);
  return found;
}

/** Digits of an integer from 0 to 10^20 − 1. */
function digitCount(value: number): number {
  let digits = 1;
  while (digits < MAX_DIGITS && value >= (POWERS_OF_TEN[digits] as number)) digits++;
  return digits;
}

/**
 * A fresh object with `keys` in order, to set a record's groups in. Adding them one by one would
 * turn it into a dictionary past 16 (V8 does that to objects grown by keyed stores), which
 * costs about a sixth of a `JSON.parse` for a whole document; a copy of an object built by
 * `JSON.parse` keeps fast properties. Lines repeat their keys, so the last template is kept.
 */
function groupsObject(clean: CleanSchema, keys: readonly string[]): Record<string, unknown> {
  const last = clean.last;
  if (last?.keys.length === keys.length) {
    let same = true;
    for (let i = 0; i < keys.length && same; i++) same = last.keys[i] === keys[i];
    if (same) return { ...last.template };
  }
  const template = JSON.parse(`{${keys.map((key) => `${JSON.stringify(key)}:0`).join(',')}}`) as Record<string, unknown>;
  clean.last = { keys, template };
  return { ...template };
}

/**
 * The digits of the shortest integer that rounds to `value`, a double from 2^53 to 2^64: its
 * own, or one fewer when that many nines round to it too. Exported for tests.
 */
export function shortestDigits(value: number): number {
  const digits = digitCount(value);
  return value === NINES[digits - 1] ? digits - 1 : digits;
}

/**
 * Whether a multiple of 100 rounds to `value`, a double from 2^53 to 2^64: whether the integers
 * within half its spacing (ulp) either side, ends included, hold one. Exported for tests.
 */
export function hundredsRoundTo(value: number): boolean {
  let half = 1;
  for (let next = 2 ** 54; value >= next; next *= 2) half *= 2;
  const rest = value % 100;
  return rest <= half || 100 - rest <= half;
}

/** A value above 2^53 − 1 and where its digits are, to be made a bigint once the line is accepted. */
interface Large {
  readonly holder: Record<string, unknown>;
  readonly key: string;
  readonly start: number;
  readonly length: number;
}

class Walk {
  /** Where the count stands: the next token starts here if the line is written the writer's way. */
  pos = 1;
  /** Some value might be written with an exponent in no more characters than counted. */
  exponentPossible = false;
  large: Large[] | undefined;

  constructor(readonly text: string) {}

  /**
   * The length `value`, at `pos`, takes in the line if it is a u64 the exact path takes as it
   * is; 0 otherwise.
   */
  u64(value: unknown, holder: Record<string, unknown>, key: string): number {
    if (typeof value !== 'number' || !(value >= 0) || value > TWO_TO_64 || Math.floor(value) !== value) return 0;
    if (value <= MAX_SAFE) {
      if (value % 100 === 0 && value !== 0) this.exponentPossible = true;
      return digitCount(value);
    }
    if (hundredsRoundTo(value)) this.exponentPossible = true;
    const length = shortestDigits(value);
    (this.large ??= []).push({ holder, key, start: this.pos, length });
    return length;
  }

  /** Checks a group's object against its layout and counts it; false if the exact path must see it. */
  group(value: unknown, layout: CleanLayout): boolean {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    const object = value as Record<string, unknown>;
    const { names, before, members, membersBefore } = layout;
    let i = 0;
    let pos = this.pos + 1;
    for (const key in object) {
      if (key !== names[i]) return false;
      pos += before[i] as number;
      const member = object[key];
      const latency = members[i];
      // Most values of a line are small: they skip the calls.
      if (latency === undefined && typeof member === 'number' && member >= 0 && member < 10 && (member | 0) === member) {
        pos += 1;
      } else {
        this.pos = pos;
        if (latency === undefined) {
          const length = this.u64(member, object, key);
          if (length === 0) return false;
          pos += length;
        } else {
          if (!this.latency(member, latency, membersBefore[i] as readonly number[])) return false;
          pos = this.pos;
        }
      }
      i++;
    }
    if (i !== names.length) return false;
    this.pos = pos + 1;
    return true;
  }

  latency(value: unknown, names: readonly string[], before: readonly number[]): boolean {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    const object = value as Record<string, unknown>;
    let i = 0;
    this.pos += 1;
    for (const key in object) {
      if (key !== names[i]) return false;
      this.pos += before[i] as number;
      const length = this.u64(object[key], object, key);
      if (length === 0) return false;
      this.pos += length;
      i++;
    }
    if (i !== names.length) return false;
    this.pos += 1;
    return true;
  }

  /** Counts a string that is not a known name; false if it holds a surrogate. */
  string(value: string): boolean {
    if (SURROGATE.test(value)) return false;
    this.pos += JSON.stringify(value).length;
    return true;
  }

  properties(value: unknown): boolean {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    const object = value as Record<string, unknown>;
    let previous: string | undefined;
    this.pos += 1;
    for (const key in object) {
      const member = object[key];
      if (startsWithDigit(key) || key === '__proto__' || typeof member !== 'string') return false;
      if (previous !== undefined) {
        if (compareKeys(previous, key) >= 0) return false;
        this.pos += 1;
      }
      if (!this.string(key)) return false;
      this.pos += 1;
      if (!this.string(member)) return false;
      previous = key;
    }
    this.pos += 1;
    return true;
  }

  /**
   * Makes each value above 2^53 − 1 a bigint of its digits in the line, once the line is known
   * to be as counted; false if one is out of range.
   */
  readLarge(): boolean {
    const text = this.text;
    for (const { holder, key, start, length } of this.large ?? []) {
      // An integer literal is there (see the module doc); checked all the same, since a wrong
      // value would go unnoticed.
      const after = text.charCodeAt(start + length);
      if (text.charCodeAt(start - 1) !== 0x3a || (after !== 0x2c && after !== 0x7d)) return false;
      for (let i = start; i < start + length; i++) {
        const c = text.charCodeAt(i);
        if (c < 0x30 || c > 0x39) return false;
      }
      const value = BigInt(text.slice(start, start + length));
      if (value > U64_MAX) return false;
      holder[key] = value;
    }
    return true;
  }
}

/** `{"utc_timestamp_ms":`, `"id":` and `"properties":`. */
const TIMESTAMP_KEY_LENGTH = 20;
const ID_KEY_LENGTH = 5;
const PROPERTIES_KEY_LENGTH = 13;

/**
 * The record of a line the exact path would find nothing to report on, or undefined: then the
 * line must go to the exact path. Never throws for bad input.
 */
export function readCleanLine(text: string, schema: MetricsSchema, clock: LineClock): MetricsRecord | undefined {
  const top = parseCleanLine(text);
  return top === undefined ? undefined : walkCleanLine(text, top, schema, clock);
}

/**
 * `readCleanLine` against several schemas, the line parsed once: the first that takes it,
 * trying `schemas[first]` before the others (a source's lines are usually its last line's
 * writer's), and its record; undefined when none does. Each schema that does not take the line
 * costs a walk, which stops at the first key it does not expect.
 */
export function readCleanLineAmong(
  text: string,
  schemas: readonly MetricsSchema[],
  first: number,
  clock: LineClock,
): { readonly index: number; readonly record: MetricsRecord } | undefined {
  const top = parseCleanLine(text);
  if (top === undefined) return undefined;
  for (let n = 0; n < schemas.length; n++) {
    const index = n === 0 ? first : n <= first ? n - 1 : n;
    const record = walkCleanLine(text, top, schemas[index] as MetricsSchema, clock);
    if (record !== undefined) return { index, record };
  }
  return undefined;
}

/** The line as `JSON.parse` reads it, when it may be one the writer wrote: an object, not too long. */
function parseCleanLine(text: string): Record<string, unknown> | undefined {
  // A line the writer wrote starts with '{' (the count starts there).
  if (text.length > MAX_CLEAN_LINE_CHARS || text.charCodeAt(0) !== 0x7b) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
}

/**
 * The walk of a parsed line against a schema. It changes nothing it was given until it takes
 * the line (then the values above 2^53 − 1 become bigints), so a line it refuses can be walked
 * against another schema.
 */
function walkCleanLine(text: string, top: Record<string, unknown>, schema: MetricsSchema, clock: LineClock): MetricsRecord | undefined {
  const clean = cleanSchema(schema);
  const walk = new Walk(text);
  /** The rank of the last key walked: each key must come after it in the writer's order. */
  let previous: KeyRank | undefined;
  let timestamp = 0;
  let id: string | undefined;
  let properties: Record<string, string> | undefined;
  const keys: string[] = [];
  const values: unknown[] = [];
  let required = 0;
  for (const key in top) {
    const value = top[key];
    if (previous === undefined) {
      // Exact and counted as digits; whether it is plausible is asked last (see below).
      if (key !== 'utc_timestamp_ms' || typeof value !== 'number' || !(value > 0) || value > MAX_SAFE || Math.floor(value) !== value) return undefined;
      if (value % 100 === 0) walk.exponentPossible = true;
      walk.pos = TIMESTAMP_KEY_LENGTH + digitCount(value);
      timestamp = value;
      previous = HEADER_RANKS.utc_timestamp_ms;
      continue;
    }
    walk.pos += 1;
    if (key === 'id') {
      if (!clean.id || compareKeyRanks(previous, HEADER_RANKS.id) >= 0 || typeof value !== 'string') return undefined;
      walk.pos += ID_KEY_LENGTH;
      if (!walk.string(value)) return undefined;
      id = value;
      previous = HEADER_RANKS.id;
      continue;
    }
    if (key === 'properties') {
      if (!clean.properties || compareKeyRanks(previous, HEADER_RANKS.properties) >= 0) return undefined;
      walk.pos += PROPERTIES_KEY_LENGTH;
      if (!walk.properties(value)) return undefined;
      properties = value as Record<string, string>;
      previous = HEADER_RANKS.properties;
      continue;
    }
    const role = topKey(clean, schema, key);
    if (role === undefined || compareKeyRanks(previous, role.rank) > 0) return undefined;
    previous = role.rank;
    walk.pos += role.keyLength;
    if (!walk.group(value, role.layout)) return undefined;
    if (role.required) required++;
    keys.push(key);
    values.push(value);
  }
  if (previous === undefined || required !== clean.required || walk.pos + 1 !== text.length) return undefined;
  if (walk.exponentPossible && EXPONENT.test(text)) return undefined;
  // Only now is the line known to be one the exact path reads to its timestamp: `now()` is
  // called here or not at all, as often as the exact path alone would call it.
  const { earliest, latest } = clock.readAndKeep();
  if (timestamp < earliest || timestamp > latest || !walk.readLarge()) return undefined;
  const groups = groupsObject(clean, keys);
  for (let i = 0; i < keys.length; i++) groups[keys[i] as string] = values[i];
  const record: { -readonly [K in keyof MetricsRecord]: MetricsRecord[K] } = { utc_timestamp_ms: timestamp, groups: groups as MetricsRecord['groups'] };
  if (id !== undefined) record.id = id;
  if (properties !== undefined) record.properties = properties;
  return record;
}
