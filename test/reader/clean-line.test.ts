/**
 * The fast path (`clean-line.ts`) against the exact path: `readMetricsLine` must give the very
 * reading `readMetricsLineExact` gives, for lines the writer wrote and for every way of bending
 * them, including the ones `JSON.parse` cannot see (repeated keys, `1e2` for 100, digits past
 * 2^53) and the ones made to keep the line's length.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { defineGroup, EntryDocument, FirecrackerMetrics, groupEntry, inc, Metrics, type MetricsInitOptions } from '../../src/index.js';
import { hundredsRoundTo, MAX_CLEAN_LINE_CHARS, shortestDigits } from '../../src/reader/clean-line.js';
import {
  formatExactJson,
  JsonDecimal,
  JsonLongInteger,
  JsonObjectNode,
  MetricsSchema,
  parseJsonNode,
  type ExactJson,
  type JsonNode,
  type MetricsReading,
  type ValidateOptions,
} from '../../src/reader/index.js';
import { readMetricsLineExact, readMetricsLineTraced } from '../../src/reader/validate.js';
import { makeDocument } from './helpers.js';

const NOW = Date.UTC(2026, 10, 27, 12);
/** Not a multiple of 100, so that the timestamp alone does not make the walk look for exponents. */
const TIMESTAMP = NOW - 60_001;

/** Text written into a line as it is: a number's or a key's spelling, with any whitespace. */
class Raw {
  constructor(readonly text: string) {}
}

/** A line as a tree that keeps members in order, repeated keys included, and raw spellings. */
class Obj {
  constructor(readonly members: [string | Raw, Node][]) {}
}

type Node = null | boolean | string | number | bigint | JsonDecimal | JsonLongInteger | Raw | Obj | Node[];

function toTree(node: JsonNode): Node {
  if (node instanceof JsonObjectNode) return new Obj(node.keys.map((key, i) => [key, toTree(node.values[i] as JsonNode)]));
  if (Array.isArray(node)) return node.map(toTree);
  return node;
}

function write(node: Node): string {
  if (node instanceof Obj) return `{${node.members.map(([key, value]) => `${key instanceof Raw ? key.text : JSON.stringify(key)}:${write(value)}`).join(',')}}`;
  if (node instanceof Raw) return node.text;
  if (Array.isArray(node)) return `[${node.map(write).join(',')}]`;
  if (node === null || typeof node === 'boolean' || typeof node === 'string') return JSON.stringify(node);
  if (node instanceof JsonDecimal || node instanceof JsonLongInteger) return node.text;
  return formatExactJson(node);
}

/** Every object of the tree, the line itself first. */
function objects(node: Node, out: Obj[] = []): Obj[] {
  if (node instanceof Obj) {
    out.push(node);
    for (const [, value] of node.members) objects(value, out);
  } else if (Array.isArray(node)) {
    for (const item of node) objects(item, out);
  }
  return out;
}

/** Every number-valued member of the groups (not the timestamp), as [object, member index]. */
function numberSlots(line: Obj): [Obj, number][] {
  const slots: [Obj, number][] = [];
  for (const object of objects(line).slice(1)) {
    object.members.forEach(([, value], i) => {
      if (typeof value === 'number' || typeof value === 'bigint') slots.push([object, i]);
    });
  }
  return slots;
}

/** The line the writer would write, stamped by the same clock the readings are checked with. */
function render(document: EntryDocument, options: MetricsInitOptions): string {
  const metrics = new Metrics(document);
  metrics.init(new PassThrough(), { flushIntervalMs: 0, now: () => TIMESTAMP, ...options });
  try {
    return metrics.render();
  } finally {
    metrics.close();
  }
}

/** Firecracker's whole document with devices, as the writer writes it, and its schema. */
function firecrackerLine(ids: readonly string[], options: MetricsInitOptions): { readonly line: string; readonly schema: MetricsSchema } {
  const document = new FirecrackerMetrics({ rtc: true });
  for (const id of ids) {
    document.block.alloc(id);
    document.net.alloc(id);
  }
  return { line: render(document, options), schema: MetricsSchema.of(document.entries) };
}

function smallLine(ids: readonly string[], options: MetricsInitOptions): { readonly line: string; readonly schema: MetricsSchema } {
  const doc = makeDocument({ diskIds: ids, vhostIds: ids.slice(0, 1) });
  return { line: render(doc.document, options), schema: doc.schema };
}

const U64_MAX = 2n ** 64n - 1n;

/**
 * u64 values, weighted towards the edges that matter: 0, multiples of 100, around 2^53, 20
 * digits. 10^16 to 10^19 are there too, though a line holding one always goes to the exact path
 * (one digit fewer, all nines, is the same double).
 */
const u64 = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<number | bigint>(0, 0, 0, 1, 9, 10, 99, 100, 1500, 2 ** 31, 2 ** 53 - 1, 10 ** 15, 999_999_999_999_999) },
  { weight: 2, arbitrary: fc.constantFrom<number | bigint>(2n ** 53n, 2n ** 53n + 1n, 9_999_999_999_999_999n, U64_MAX, U64_MAX - 1n, 12_345_678_901_234_567_890n) },
  { weight: 1, arbitrary: fc.constantFrom<number | bigint>(10n ** 16n, 10n ** 17n, 10n ** 19n, 10n ** 19n + 1n) },
  { weight: 2, arbitrary: fc.nat().map((n) => n * 100) },
  { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }).map((n) => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n)) },
);

/**
 * Device ids, id and property keys and values: mostly what operators use, then characters that
 * need escapes, integer-like keys, `__proto__`, surrogates and anything at all.
 */
const text = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_.-]{0,7}$/) },
  { weight: 2, arbitrary: fc.constantFrom('a"b', 'x\\y', 'tab\there', 'é', 'a/b', '1e5', 'x 1.5', 'constructor', '', '\u2028', '\u007f') },
  { weight: 1, arbitrary: fc.constantFrom('0', '10', '9', '__proto__', '😀', '\ud800', '\udc00x') },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 6 }) },
);

const whitespace = fc.constantFrom(' ', '\n', '\t', '\r', '  ');

/** Other spellings of an integer's digits: each means the same number to `JSON.parse`. */
function respellings(digits: string): string[] {
  const k = digits.length - 1;
  const out = [`${digits}.0`, `${digits}e0`, `${digits}E+0`, `${digits}.00e-0`, `-${digits}`, `0${digits}`, ` ${digits}`];
  if (digits === '0') out.push('-0', '0e5', '-0.0');
  // Trailing zeros make room for an exponent: 1000 as 1e3, 10e2, 100e1.
  for (let j = 0; j < k && digits.slice(j + 1).replace(/0/g, '') === ''; j++) out.push(`${digits.slice(0, j + 1)}e${k - j}`);
  if (digits.length > 1) out.push(`${digits[0] ?? ''}.${digits.slice(1)}e${k}`);
  return out;
}

/** `\u0041` for the character at `i` of `key`: the same key, five characters longer per escape. */
function escapeAt(key: string, i: number): Raw {
  const at = i % Math.max(key.length, 1);
  const code = key.charCodeAt(at);
  if (Number.isNaN(code)) return new Raw('""');
  const quoted = JSON.stringify(key.slice(0, at)).slice(0, -1) + `\\u${code.toString(16).padStart(4, '0')}` + JSON.stringify(key.slice(at + 1)).slice(1);
  return new Raw(quoted);
}

type Mutation = (line: Obj, pick: (n: number) => number) => void;

const UNKNOWN_KEYS = ['zz', '0', '7', '__proto__', 'constructor', 'toString', 'disk_', 'block_', 'extra', 'id', 'properties', 'utc_timestamp_ms'];
const ODD_VALUES: Node[] = [-1, -0, 1.5, new JsonDecimal('1.0'), new JsonDecimal('2e3'), new JsonLongInteger('100000000000000000000'), 18446744073709551616n, '7', null, true, [], new Obj([]), [1], new Raw('1e2')];

/** One change to a line, given as a function of a few random numbers (`pick(n)` is in 0..n−1). */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>((line, pick) => {
    // Repeat a member, before or after itself, with the same or another value.
    const object = pickOf(objects(line), pick);
    if (object.members.length === 0) return;
    const i = pick(object.members.length);
    const [key, value] = object.members[i] as [string | Raw, Node];
    const other = pick(2) === 0 ? value : (ODD_VALUES[pick(ODD_VALUES.length)] ?? 0);
    object.members.splice(i + pick(2), 0, [key, other]);
  }),
  fc.constant<Mutation>((line, pick) => {
    const object = pickOf(objects(line), pick);
    if (object.members.length < 2) return;
    const i = pick(object.members.length - 1);
    const [a, b] = object.members.slice(i, i + 2) as [[string | Raw, Node], [string | Raw, Node]];
    object.members.splice(i, 2, b, a);
  }),
  fc.constant<Mutation>((line, pick) => {
    const object = pickOf(objects(line), pick);
    if (object.members.length > 0) object.members.splice(pick(object.members.length), 1);
  }),
  fc.constant<Mutation>((line, pick) => {
    const object = pickOf(objects(line), pick);
    const key = UNKNOWN_KEYS[pick(UNKNOWN_KEYS.length)] ?? 'zz';
    object.members.splice(pick(object.members.length + 1), 0, [key, ODD_VALUES[pick(ODD_VALUES.length)] ?? 1]);
  }),
  fc.constant<Mutation>((line, pick) => {
    // Rename a member.
    const object = pickOf(objects(line), pick);
    if (object.members.length === 0) return;
    const member = object.members[pick(object.members.length)] as [string | Raw, Node];
    member[0] = UNKNOWN_KEYS[pick(UNKNOWN_KEYS.length)] ?? 'zz';
  }),
  fc.constant<Mutation>((line, pick) => {
    const slots = numberSlots(line);
    if (slots.length === 0) return;
    const [object, i] = pickOf(slots, pick);
    (object.members[i] as [string | Raw, Node])[1] = ODD_VALUES[pick(ODD_VALUES.length)] ?? 0;
  }),
  fc.constant<Mutation>((line, pick) => {
    // Spell a value, or the timestamp, another way.
    const slots: [Obj, number][] = [[line, 0], ...numberSlots(line)];
    const [object, i] = pickOf(slots, pick);
    const member = object.members[i] as [string | Raw, Node];
    const value = member[1];
    if (typeof value !== 'number' && typeof value !== 'bigint') return;
    const spellings = respellings(formatExactJson(value));
    member[1] = new Raw(spellings[pick(spellings.length)] ?? '');
  }),
  fc.constant<Mutation>((line, pick) => {
    // Escape a character of a key.
    const object = pickOf(objects(line), pick);
    if (object.members.length === 0) return;
    const member = object.members[pick(object.members.length)] as [string | Raw, Node];
    if (typeof member[0] === 'string') member[0] = escapeAt(member[0], pick(64));
  }),
  fc.constant<Mutation>((line, pick) => {
    // Whitespace around a key or a value.
    const object = pickOf(objects(line), pick);
    if (object.members.length === 0) return;
    const member = object.members[pick(object.members.length)] as [string | Raw, Node];
    const space = [' ', '\n', '\t', '\r'][pick(4)] ?? ' ';
    if (pick(2) === 0) member[0] = new Raw(`${space}${member[0] instanceof Raw ? member[0].text : JSON.stringify(member[0])}`);
    else member[1] = new Raw(`${write(member[1])}${space}`);
  }),
  fc.constant<Mutation>((line, pick) => {
    const timestamps = [0, 12, 946_684_799_999, 946_684_800_000, NOW, NOW + 86_400_000, NOW + 86_400_001, 2 ** 53, 2n ** 53n + 1n, 1e16, -TIMESTAMP, TIMESTAMP - (TIMESTAMP % 100), -0];
    const member = line.members[0];
    if (member !== undefined) member[1] = timestamps[pick(timestamps.length)] ?? 0;
  }),
);

/** Most lines get no change or one, so that the fast path meets lines it must accept as often as lines it must refuse. */
const mutations = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Mutation[]>([]) },
  { weight: 2, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.array(mutation, { minLength: 2, maxLength: 3 }) },
);

function pickOf<T>(items: readonly T[], pick: (n: number) => number): T {
  return items[pick(items.length)] as T;
}

/** A line as a tree, with the values set from `values` and a fixed timestamp. */
function tree(line: string, values: readonly (number | bigint)[]): Obj {
  const root = toTree(parseJsonNode(line)) as Obj;
  (root.members[0] as [string, Node])[1] = TIMESTAMP;
  numberSlots(root).forEach(([object, i], n) => {
    (object.members[i] as [string | Raw, Node])[1] = values[n % values.length] ?? 0;
  });
  return root;
}

/** Keys in the order the record lists them, values with their exact type: what `deepStrictEqual` leaves out. */
function order(reading: MetricsReading): string {
  const record = reading.record;
  if (record === undefined) return '';
  const props = record.properties;
  return `${Object.keys(record).join(',')} ${props === undefined ? '' : Object.keys(props).join(',')} ${formatExactJson(record.groups)}`;
}

/** How many lines `assertSame` saw the fast path take: a property must not pass by never reaching it. */
let fastLines = 0;

/** How many lines `readMetricsLine` sent to the exact path in this file's tests, as its hook tells. */
let exactLines = 0;
const exactPathLines = (): number => exactLines;

/** `readMetricsLine` with the hook that counts the lines it sends to the exact path. */
function readCounting(text: string, lineNumber: number, schema: MetricsSchema, options: ValidateOptions = {}): MetricsReading {
  return readMetricsLineTraced(text, lineNumber, schema, options, () => {
    exactLines++;
  });
}

/** A clock at NOW that moves an hour at each call, and counts the calls. */
function movingClock(): { readonly now: () => number; readonly calls: () => number } {
  let calls = 0;
  return { now: () => NOW + 3_600_000 * calls++, calls: () => calls };
}

/**
 * The fast and the exact path give the same reading, each with a clock of its own that moves at
 * each call: a line must call `now()` as often, and see the same times, either way.
 */
function assertSame(line: string, schema: MetricsSchema, options: ValidateOptions): MetricsReading {
  const before = exactPathLines();
  const fastClock = movingClock();
  const fast = readCounting(line, 5, schema, { ...options, now: fastClock.now });
  if (exactPathLines() === before) fastLines++;
  const exactClock = movingClock();
  const exact = readMetricsLineExact(line, 5, schema, { ...options, now: exactClock.now });
  assert.deepStrictEqual(fast, exact, line);
  assert.equal(order(fast), order(exact), line);
  assert.equal(fastClock.calls(), exactClock.calls(), `calls of now(): ${line}`);
  return fast;
}

/** Checks a property and returns how many of the lines it saw took the fast path. */
function countFast<T>(property: fc.IProperty<T>, numRuns: number): number {
  const before = fastLines;
  fc.assert(property, { numRuns });
  return fastLines - before;
}

const validateOptions: fc.Arbitrary<ValidateOptions> = fc
  .record({
    strict: fc.boolean(),
    maxProblemsPerLine: fc.constantFrom(1, 3, 100),
    earliest: fc.constantFrom<number | undefined>(undefined, undefined, 0, -Infinity, NOW),
    future: fc.constantFrom<number | undefined>(undefined, undefined, 0, Infinity),
  })
  .map(({ strict, maxProblemsPerLine, earliest, future }) => ({
    strict,
    maxProblemsPerLine,
    ...(earliest === undefined ? {} : { earliestTimestampMs: earliest }),
    ...(future === undefined ? {} : { maxFutureMs: future }),
  }));

const lineOptions = fc.record({
  ids: fc.uniqueArray(text.filter((s) => s !== ''), { maxLength: 3 }),
  id: fc.option(text, { nil: undefined }),
  properties: fc.option(fc.dictionary(text, text, { maxKeys: 3 }), { nil: undefined }),
});

function initOptions(options: { id: string | undefined; properties: Record<string, string> | undefined }): MetricsInitOptions {
  return { ...(options.id === undefined ? {} : { id: options.id }), ...(options.properties === undefined ? {} : { properties: options.properties }) };
}

describe('the fast path gives what the exact path gives', () => {
  test('lines of the small document, bent every way', () => {
    const taken = countFast(
      fc.property(
        lineOptions,
        fc.array(u64, { minLength: 1, maxLength: 8 }),
        mutations,
        fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
        // Now and then, the line cut short.
        fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() }),
        validateOptions,
        (given, values, mutations, seeds, cut, options) => {
          const { line, schema } = smallLine(given.ids, initOptions(given));
          const root = tree(line, values);
          let n = 0;
          const pick = (k: number): number => (seeds[n++ % seeds.length] ?? 0) % k;
          for (const change of mutations) change(root, pick);
          const written = write(root);
          const text = cut === undefined ? written : written.slice(0, cut % (written.length + 1));
          assertSame(text, schema, options);
        },
      ),
      1500,
    );
    // About one line in seven takes it (clean lines, ids and options).
    assert.ok(taken >= 100, `only ${taken} of 1500 lines took the fast path`);
  });

  test("Firecracker's whole document with devices, values past 2^53, bent a little", () => {
    const taken = countFast(
      fc.property(
        lineOptions,
        fc.array(u64, { minLength: 1, maxLength: 8 }),
        mutations,
        fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
        (given, values, mutations, seeds) => {
          const { line, schema } = firecrackerLine(given.ids, initOptions(given));
          const root = tree(line, values);
          let n = 0;
          const pick = (k: number): number => (seeds[n++ % seeds.length] ?? 0) % k;
          for (const change of mutations) change(root, pick);
          assertSame(write(root), schema, {});
        },
      ),
      150,
    );
    assert.ok(taken >= 10, `only ${taken} of 150 lines took the fast path`);
  });

  // The line keeps its length: what one change adds, exponents elsewhere take away, so only
  // what the walk does besides counting can tell.
  test('changes that keep the length of the line', () => {
    const powers = [10n ** 19n, 10n ** 17n, 10n ** 15n, 10n ** 3n];
    fc.assert(
      fc.property(
        fc.array(u64, { minLength: 1, maxLength: 20 }),
        fc.constantFrom('space', 'repeat', 'escape', 'fraction', 'minus zero'),
        fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
        whitespace,
        (values, kind, seeds, space) => {
          const { line, schema } = smallLine(['a', 'b'], {});
          const root = tree(line, values);
          const slots = numberSlots(root);
          let n = 0;
          const pick = (k: number): number => (seeds[n++ % seeds.length] ?? 0) % k;
          // Four values that an exponent can shorten by 0 to 16 characters, the others plain.
          const spendable = slots.slice(0, powers.length);
          spendable.forEach(([object, i], k) => ((object.members[i] as [string | Raw, Node])[1] = powers[k] ?? 0n));
          const rest = slots.slice(powers.length);
          let surplus: number;
          const [object, i] = pickOf(rest, pick);
          const member = object.members[i] as [string | Raw, Node];
          switch (kind) {
            case 'space':
              member[1] = new Raw(`${space}${write(member[1])}`);
              surplus = space.length;
              break;
            case 'repeat': {
              // A member before the one kept: JSON.parse keeps the later value in the first place.
              const extra: [string | Raw, Node] = [member[0], 7];
              object.members.splice(i, 0, extra);
              surplus = write(new Obj([extra])).length - 1;
              break;
            }
            case 'escape':
              member[0] = escapeAt(member[0] as string, pick(8));
              surplus = 5;
              break;
            case 'fraction':
              member[1] = new Raw(`${write(member[1])}.0`);
              surplus = 2;
              break;
            default:
              // Counted as 0, one character longer.
              member[1] = new Raw('-0');
              surplus = 1;
              break;
          }
          // Take the surplus back with exponents: 10^k written as 1, j zeros, e, k − j.
          for (const [k, [holder, at]] of spendable.entries()) {
            const digits = (powers[k] ?? 1n).toString();
            const exponent = digits.length - 1;
            let best: string | undefined;
            for (let j = exponent - 1; j >= 0; j--) {
              const spelled = `${digits.slice(0, j + 1)}e${exponent - j}`;
              const saved = digits.length - spelled.length;
              if (saved > 0 && saved <= surplus) best = spelled;
            }
            if (best === undefined) continue;
            surplus -= digits.length - best.length;
            (holder.members[at] as [string | Raw, Node])[1] = new Raw(best);
          }
          assert.equal(surplus, 0);
          const mutated = write(root);
          const reading = assertSame(mutated, schema, {});
          assert.equal(reading.valid, false, mutated);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('each thing JSON.parse cannot see, most in a line of the right length', () => {
    const { line, schema } = smallLine(['a'], {});
    const base = tree(line, [0]);
    const set = (values: Record<number, string>): string => {
      const root = tree(line, [0]);
      numberSlots(root).forEach(([object, i], n) => {
        const spelled = values[n];
        if (spelled !== undefined) (object.members[i] as [string | Raw, Node])[1] = new Raw(spelled);
      });
      return write(root);
    };
    const canonical = write(base);
    const cases: [string, string][] = [
      ['100 as 1e2, same length', set({ 0: '1e2' })],
      ['1000 as 1e3 after a space', set({ 0: ' 1e3' })],
      ['a repeated key paid for by exponents', canonical.replace('"requests":0', '"requests":1,"requests":0').replace('"read_count":0', '"read_count":1e15').replace('"read_bytes":0', '"read_bytes":1e3')],
      ['a value near 2^64 as 1844674407370955e4 after two spaces', set({ 0: '  1844674407370955e4' })],
      ['10^19 as 1e19 and 16 spaces', set({ 0: '1e19', 1: `${' '.repeat(16)}0` })],
      ['-0', set({ 0: '-0' })],
      ['a value above 2^53 one character to the right, 1000 as 1e3', set({ 0: ' 9007199254740993', 1: '1e3' })],
      // Above 2^53 an exponent is as short as the digits when a multiple of 100 rounds to the value.
      ['9007199254741000 as 90071992547410e2', set({ 0: '90071992547410e2' })],
      ['2^60 (a double 1152921504606847000 rounds to) as 11529215046068470e2', set({ 0: '11529215046068470e2' })],
      ['18446744073709551600 as 184467440737095516e2', set({ 0: '184467440737095516e2' })],
      ['2^64, one more than a u64 holds, as the same double as 2^64 - 1', set({ 0: '18446744073709551616' })],
      ['the timestamp as 13 characters with an exponent', canonical.replace(`"utc_timestamp_ms":${TIMESTAMP}`, `"utc_timestamp_ms":${String(TIMESTAMP - (TIMESTAMP % 100)).slice(0, -2)}e2`)],
      // JSON.parse lists "1" first: in its order the keys look sorted.
      ['properties out of order, one integer-like', canonical.replace(',"api":', ',"properties":{"b":"x","1":"y"},"api":')],
      ['id after properties', canonical.replace(',"api":', ',"properties":{},"id":"x","api":')],
      ['properties after a group', canonical.replace(',"disk_a":', ',"properties":{},"disk_a":')],
      // Each raw lone surrogate is five characters shorter than JSON.stringify writes it.
      ['two raw lone surrogates and a repeated key of ten characters', canonical.replace(',"api":', ',"id":"\ud800\ud800","api":').replace('"level":0', '"level":5,"level":0')],
    ];
    for (const [what, mutated] of cases) {
      const reading = assertSame(mutated, schema, {});
      assert.equal(reading.valid, false, `${what}: ${mutated}`);
    }
  });
});

test('a group without fields: an object, not an array', () => {
  const Empty = defineGroup('empty', {});
  const Other = defineGroup('other', { ticks: inc('Ticks.') });
  const document = new EntryDocument([groupEntry(Empty, Empty.create()), groupEntry(Other, Other.create())]);
  const schema = MetricsSchema.of(document.entries);
  const line = render(document, {});
  assert.equal(assertSame(line, schema, {}).valid, true);
  assert.equal(assertSame(line.replace('"empty":{}', '"empty":[]'), schema, {}).valid, false);
});

// What the count rests on above 2^53 (see clean-line.ts), against BigInt arithmetic.
describe('integers above 2^53 as doubles', () => {
  const TWO_53 = 2n ** 53n;
  /** Integers from 2^53 to 2^64 − 1, many near powers of ten and of two, where doubles thin out. */
  const large = fc.oneof(
    fc.bigInt({ min: TWO_53, max: U64_MAX }),
    fc.tuple(fc.integer({ min: 16, max: 19 }), fc.bigInt({ min: -5000n, max: 5000n })).map(([k, d]) => 10n ** BigInt(k) + d),
    fc.tuple(fc.integer({ min: 53, max: 63 }), fc.bigInt({ min: -5000n, max: 5000n })).map(([k, d]) => 2n ** BigInt(k) + d),
  ).filter((n) => n >= TWO_53 && n <= U64_MAX);

  /** The least integer that rounds to the double `value`, found by bisection. */
  function leastRoundingTo(value: number): bigint {
    let low = BigInt(value) - 4096n;
    let high = BigInt(value);
    while (low + 1n < high) {
      const mid = (low + high) / 2n;
      if (Number(mid) === value) high = mid;
      else low = mid;
    }
    return high;
  }

  test('shortestDigits is the length of the shortest integer that rounds to the double', () => {
    fc.assert(
      fc.property(large, (n) => {
        const value = Number(n);
        assert.equal(shortestDigits(value), leastRoundingTo(value).toString().length, n.toString());
      }),
      { numRuns: 2000 },
    );
    assert.equal(shortestDigits(1e16), 16);
    assert.equal(shortestDigits(2 ** 64), 20);
  });

  test('hundredsRoundTo holds whenever a multiple of 100 rounds to the double', () => {
    fc.assert(
      fc.property(large, (n) => {
        const value = Number(n);
        const below = (BigInt(value) / 100n) * 100n;
        // If any multiple of 100 rounds to it, so does the nearest on that side.
        const some = Number(below) === value || Number(below + 100n) === value;
        if (some) assert.ok(hundredsRoundTo(value), n.toString());
      }),
      { numRuns: 5000 },
    );
    assert.equal(hundredsRoundTo(9_007_199_254_741_000), true);
    assert.equal(hundredsRoundTo(9_007_199_254_740_992), false);
    assert.equal(hundredsRoundTo(2 ** 60), true);
  });
});

test('keys out of the writer\'s order, which JSON.parse keeps as they come', () => {
  const { line, schema } = smallLine(['a', 'b'], {});
  const root = tree(line, [0]);
  /** The line with members `a` and `b` of `object` swapped (the tree is left as it was). */
  const swapped = (object: Obj, a: string, b: string): string => {
    const members = object.members;
    const i = members.findIndex(([key]) => key === a);
    const j = members.findIndex(([key]) => key === b);
    const swap = (): void => {
      const first = members[i] as [string | Raw, Node];
      members[i] = members[j] as [string | Raw, Node];
      members[j] = first;
    };
    swap();
    const text = write(root);
    swap();
    return text;
  };
  const member = (object: Obj, key: string): Obj => object.members.find(([k]) => k === key)?.[1] as Obj;
  const api = member(root, 'api');
  for (const text of [
    swapped(root, 'disk_a', 'disk_b'),
    swapped(root, 'disk_b', 'disk'),
    swapped(root, 'api', 'disk_a'),
    swapped(root, 'extra', 'last'),
    swapped(api, 'requests', 'level'),
    swapped(member(api, 'wait_agg'), 'min_us', 'sum_us'),
  ]) {
    assert.equal(assertSame(text, schema, {}).valid, false, text);
  }
  assert.equal(assertSame(write(root), schema, {}).valid, true);
});

describe('the fast path is taken', () => {
  test('for lines the writer wrote, and not for others', () => {
    const document = new FirecrackerMetrics({ rtc: true });
    const drive = document.block.alloc('rootfs');
    document.block.alloc('scratch');
    const iface = document.net.alloc('eth0');
    drive.read_bytes.add(2n ** 64n - 1n);
    drive.read_agg.recordUs(1500);
    iface.tx_bytes_count.add(2n ** 53n + 1n);
    iface.rx_bytes_count.add(9_007_199_254_740_991);
    const schema = MetricsSchema.of(document.entries);
    const line = render(document, { id: 'vm-1', properties: { zone: 'b', app: 'x\n"y"' } });
    const before = exactPathLines();
    const atNow = { now: () => NOW };
    const reading = readCounting(line, 1, schema, atNow);
    assert.equal(exactPathLines(), before, 'the line took the exact path');
    assert.deepStrictEqual(reading, readMetricsLineExact(line, 1, schema, atNow));
    assert.equal(reading.valid, true);
    assert.equal((reading.record?.groups.block_rootfs as Record<string, ExactJson>).read_bytes, 2n ** 64n - 1n);
    assert.equal((reading.record?.groups.net_eth0 as Record<string, ExactJson>).tx_bytes_count, 2n ** 53n + 1n);
    assert.equal((reading.record?.groups.net_eth0 as Record<string, ExactJson>).rx_bytes_count, 9_007_199_254_740_991);

    readCounting(` ${line}`, 2, schema, atNow);
    assert.equal(exactPathLines(), before + 1, 'a line with a leading space took the fast path');
  });

  test('deep nesting, which JSON.parse builds before the walk refuses it, gives the exact problem', () => {
    const { schema } = smallLine(['a'], {});
    for (const depth of [300, (MAX_CLEAN_LINE_CHARS >> 1) - 20, MAX_CLEAN_LINE_CHARS]) {
      const line = `{"utc_timestamp_ms":${TIMESTAMP},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const reading = assertSame(line, schema, {});
      assert.match(reading.problems[0]?.message ?? '', /nested more than 256 deep/);
    }
  });

  test('lines longer than MAX_CLEAN_LINE_CHARS go to the exact path, with the same result', () => {
    const { line, schema } = smallLine(['a'], { properties: { pad: 'x'.repeat(MAX_CLEAN_LINE_CHARS) } });
    const before = exactPathLines();
    assert.equal(assertSame(line, schema, {}).valid, true);
    assert.equal(exactPathLines(), before + 1);
  });
});
