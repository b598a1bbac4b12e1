import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { lexRust, RustSourceError } from '../../scripts/firecracker-schemas/rust-lexer.js';
import { implMethods, parseRustFile, tokensText, type StructDecl } from '../../scripts/firecracker-schemas/rust-items.js';
import { statementsOf } from '../../scripts/firecracker-schemas/rust-statements.js';
import { archOf, serdeOf } from '../../scripts/firecracker-schemas/derive.js';
import { helpOf, unitOf } from '../../scripts/firecracker-schemas/help.js';

describe('lexRust', () => {
  test('doc comments, plain comments and four-slash comments', () => {
    const tokens = lexRust('/// A doc.\n// A note.\n//// Not a doc.\n//! Inner, dropped.\n/** Block doc. */ x', 'a.rs');
    assert.deepEqual(
      tokens.map((t) => [t.kind, t.text, t.line]),
      [
        ['doc', 'A doc.', 1],
        ['comment', 'A note.', 2],
        ['comment', 'Not a doc.', 3],
        ['doc', 'Block doc.', 5],
        ['ident', 'x', 5],
      ],
    );
  });

  test('strings, raw strings, chars and lifetimes', () => {
    const tokens = lexRust(String.raw`"a\"b" r#"raw "q""# 'c' '\n' &'a str b"bytes" r#type`, 'a.rs');
    assert.deepEqual(
      tokens.map((t) => [t.kind, t.text]),
      [
        ['string', 'a"b'],
        ['string', 'raw "q"'],
        ['char', "'c'"],
        ['char', String.raw`'\n'`],
        ['punct', '&'],
        ['lifetime', "'a"],
        ['ident', 'str'],
        ['string', 'bytes'],
        ['ident', 'type'],
      ],
    );
  });

  test('nested block comments are skipped whole; lines are counted through them', () => {
    const tokens = lexRust('/* a /* b */ c\n */ x\ny', 'a.rs');
    assert.deepEqual(
      tokens.map((t) => [t.text, t.line]),
      [
        ['x', 2],
        ['y', 3],
      ],
    );
  });

  test('what it cannot read is an error naming the file and line', () => {
    assert.throws(() => lexRust('fn a() {}\n"open', 'src/x.rs'), { name: 'RustSourceError', message: 'src/x.rs:2: unterminated string literal' });
    assert.throws(() => lexRust('a\n/* open', 'src/x.rs'), { message: 'src/x.rs:2: unterminated block comment' });
    assert.throws(() => lexRust('a \u00e9', 'src/x.rs'), { message: 'src/x.rs:1: unexpected character "\u00e9"' });
  });

  test('any text lexes or fails with a RustSourceError, nothing else', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '_', '1', '"', "'", '/', '*', '\\', '\n', ' ', '#', 'r', '{', '}', '<', ':', 'é') }), (text) => {
        try {
          lexRust(text, 'gen.rs');
        } catch (error) {
          assert.ok(error instanceof RustSourceError, String(error));
        }
      }),
    );
  });
});

describe('parseRustFile', () => {
  test('struct fields in order, with docs, plain comments right above, attributes and types', () => {
    const file = parseRustFile(
      `
/// Metrics of a disk.
#[derive(Debug, Default, Serialize)]
pub struct DiskMetrics {
    /// Number of reads.
    /// Successful ones only.
    pub read_count: SharedIncMetric,
    // Time the last read took, in microseconds.
    #[serde(rename = "last_read")]
    pub(crate) last: SharedStoreMetric, // not the next field's
    // A comment away from its field.

    pub agg: Arc<LatencyAggregateMetrics>,
    map: BTreeMap<String, Arc<Dev<'static>>>,
    writer: Mutex<Option<Box<dyn Write + Send>>>,
}
struct Unit;
struct Tuple(AtomicU64, AtomicU64);
`,
      'disk.rs',
    );
    const [disk, unit, tuple] = file.structs as [StructDecl, StructDecl, StructDecl];
    assert.equal(disk.name, 'DiskMetrics');
    assert.deepEqual(disk.attrs.map((a) => `${a.name}(${tokensText(a.args)})`), ['derive(Debug,Default,Serialize)']);
    assert.deepEqual(
      disk.fields?.map((f) => [f.name, f.type.path.join('::'), f.docs, f.comments, f.attrs.map((a) => a.name), f.line]),
      [
        ['read_count', 'SharedIncMetric', ['Number of reads.', 'Successful ones only.'], [], [], 7],
        ['last', 'SharedStoreMetric', [], ['Time the last read took, in microseconds.'], ['serde'], 10],
        ['agg', 'Arc', [], [], [], 13],
        ['map', 'BTreeMap', [], [], [], 14],
        ['writer', 'Mutex', [], [], [], 15],
      ],
    );
    assert.equal(disk.fields[2]?.type.args[0]?.path[0], 'LatencyAggregateMetrics');
    assert.equal(disk.fields[3]?.type.args[1]?.args[0]?.path[0], 'Dev');
    assert.equal(unit.fields, undefined);
    assert.equal(tuple.name, 'Tuple');
  });

  test('items under #[cfg(test)] are left out; uses, mods, statics, fns and impls are found', () => {
    const file = parseRustFile(
      `
use std::sync::{Arc, RwLock};
use crate::devices::virtio::net::metrics as net_metrics;
use crate::devices::{legacy, virtio::{self}};
mod i8042;
#[cfg(target_arch = "aarch64")]
pub mod rtc_pl031;
pub(super) static METRICS: RwLock<Pool> = RwLock::new(Pool { metrics: BTreeMap::new() });
const N: usize = { 1 + 2 };
enum E { A { x: u8 }, B }
impl<'a> Serialize for Proxy<'a> where 'a: 'static {
    fn serialize<S>(&self, serializer: S) -> Result<S::Ok, S::Error> where S: Serializer, { net_metrics::flush_metrics(serializer) }
}
pub fn flush_metrics<S: Serializer>(serializer: S) -> Result<S::Ok, S::Error> { seq.end() }
#[cfg(test)]
mod tests { struct FirecrackerMetrics {} }
`,
      'm.rs',
    );
    assert.deepEqual(file.uses.get('net_metrics'), ['crate', 'devices', 'virtio', 'net', 'metrics']);
    assert.deepEqual(file.uses.get('legacy'), ['crate', 'devices', 'legacy']);
    assert.deepEqual(file.uses.get('virtio'), ['crate', 'devices', 'virtio']);
    assert.deepEqual(file.uses.get('RwLock'), ['std', 'sync', 'RwLock']);
    assert.deepEqual(file.mods, ['i8042', 'rtc_pl031']);
    assert.deepEqual(file.statics.map((s) => [s.name, s.type.text]), [['METRICS', 'RwLock<Pool>']]);
    assert.deepEqual(file.structs, []);
    assert.deepEqual(file.fns.map((f) => f.name), ['flush_metrics']);
    const [impl] = file.impls;
    assert.deepEqual([impl?.trait, impl?.target], ['Serialize', 'Proxy']);
    const [serialize] = implMethods(impl as NonNullable<typeof impl>, 'm.rs');
    assert.equal(tokensText(serialize?.body ?? []), 'net_metrics::flush_metrics(serializer)');
  });

  test('an item-level macro_rules! invocation is expanded; other macros are passed over', () => {
    const file = parseRustFile(
      `
lazy_static! { pub static ref METRICS: Metrics = Metrics::new(); }
macro_rules! create_serialize_proxy {
    // A comment inside the macro.
    ($proxy_struct:ident, $metric_mod:ident) => {
        #[derive(Default, Debug)]
        pub struct $proxy_struct;
        impl Serialize for $proxy_struct {
            fn serialize<S>(&self, serializer: S) -> Result<S::Ok, S::Error> { $metric_mod::flush_metrics(serializer) }
        }
    };
}
create_serialize_proxy!(BlockProxy, block_metrics);
create_serialize_proxy!(NetProxy, net_metrics);
`,
      'p.rs',
    );
    assert.deepEqual(file.structs.map((s) => [s.name, s.line]), [
      ['BlockProxy', 13],
      ['NetProxy', 14],
    ]);
    assert.deepEqual(
      file.impls.map((i) => [i.target, tokensText(implMethods(i, 'p.rs')[0]?.body ?? [])]),
      [
        ['BlockProxy', 'block_metrics::flush_metrics(serializer)'],
        ['NetProxy', 'net_metrics::flush_metrics(serializer)'],
      ],
    );
    assert.throws(() => parseRustFile('macro_rules! m { ($x:expr) => { struct A; }; }\nm!(1 + 2);', 'p.rs'), {
      message: 'p.rs:1: macro m: fragment expr is not understood (only ident)',
    });
    assert.throws(() => parseRustFile('macro_rules! m { ($x:ident) => { struct $x; }; }\nm!(a, b);', 'p.rs'), { message: /^p\.rs:2: no arm of macro m matches/ });
  });

  test('what is not an item is an error naming the line', () => {
    assert.throws(() => parseRustFile('struct A {\n  a: u8\n  b: u8,\n}', 'x.rs'), { name: 'RustSourceError', message: 'x.rs:3: expected , after field a' });
    assert.throws(() => parseRustFile('\n\nlet x = 1;', 'x.rs'), { message: 'x.rs:3: unexpected "let" at item level' });
    assert.throws(() => parseRustFile('fn a() { (]', 'x.rs'), { message: 'x.rs:1: unbalanced "]"' });
  });

  test('generated struct declarations come back field by field, in order', () => {
    const ident = fc.stringMatching(/^[a-z][a-z0-9_]{0,12}$/).filter((s) => !['fn', 'as', 'in', 'if', 'for', 'let', 'mut', 'pub', 'use', 'mod', 'ref', 'dyn', 'impl', 'type', 'self', 'super', 'crate', 'struct', 'where', 'static', 'const', 'enum', 'match', 'loop', 'while', 'return', 'true', 'false', 'unsafe', 'async', 'await', 'move', 'trait', 'extern', 'break', 'continue', 'else', 'box', 'macro_rules', 'r'].includes(s));
    const field = fc.record({
      name: ident,
      type: fc.constantFrom('SharedIncMetric', 'SharedStoreMetric', 'LatencyAggregateMetrics', 'Arc<SharedIncMetric>'),
      doc: fc.option(fc.stringMatching(/^[A-Za-z0-9 ,.()"'-]{1,40}$/), { nil: undefined }),
      pub: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.uniqueArray(field, { selector: (f) => f.name, maxLength: 12 }), (fields) => {
        const source = `#[derive(Serialize)]\npub struct G {\n${fields.map((f) => `${f.doc === undefined ? '' : `    /// ${f.doc}\n`}    ${f.pub ? 'pub ' : ''}${f.name}: ${f.type},\n`).join('')}}\n`;
        const [decl] = parseRustFile(source, 'g.rs').structs;
        assert.deepEqual(
          decl?.fields?.map((f) => [f.name, tokensText([...lexRust(f.type.text, 'g.rs')]), f.docs.join()]),
          fields.map((f) => [f.name, f.type, f.doc?.trim() ?? '']),
        );
      }),
    );
  });
});

describe('attributes, statements, help and units', () => {
  const attrsOf = (source: string) => parseRustFile(`struct A {\n${source}\n  f: X,\n}`, 'a.rs').structs[0]?.fields?.[0]?.attrs ?? [];

  test('cfg: target_arch only; anything else is an error naming the line', () => {
    assert.equal(archOf(attrsOf('#[cfg(target_arch = "aarch64")]'), 'a.rs'), 'aarch64');
    assert.equal(archOf(attrsOf('#[cfg(target_arch = "x86_64")]'), 'a.rs'), 'x86_64');
    assert.equal(archOf(attrsOf('#[allow(dead_code)]'), 'a.rs'), undefined);
    assert.throws(() => archOf(attrsOf('#[cfg(feature = "gdb")]'), 'a.rs'), { message: 'a.rs:2: #[cfg(feature="gdb")] is not understood (only target_arch = "aarch64" | "x86_64")' });
  });

  test('serde: flatten, skip, rename; anything else is an error', () => {
    assert.deepEqual(serdeOf(attrsOf('#[serde(flatten)]'), 'a.rs'), { flatten: true, skip: false, rename: undefined });
    assert.deepEqual(serdeOf(attrsOf('#[serde(skip)]'), 'a.rs'), { flatten: false, skip: true, rename: undefined });
    assert.deepEqual(serdeOf(attrsOf('#[serde(rename = "x_y")]'), 'a.rs'), { flatten: false, skip: false, rename: 'x_y' });
    assert.throws(() => serdeOf(attrsOf('#[serde(skip_serializing_if = "is_zero")]'), 'a.rs'), { message: 'a.rs:2: #[serde(skip_serializing_if="is_zero")] is not understood' });
  });

  test('statements keep their attributes; if/else and for are one statement each', () => {
    const body = lexRust(
      `let mut seq = serializer.serialize_map(Some(1))?;
       #[cfg(target_arch = "aarch64")]
       seq.serialize_entry("rtc", &rtc::METRICS)?;
       if a { b(); } else if c { d(); } else { e(); }
       for (name, metrics) in m.metrics.iter() { f(name); }
       seq.end()`,
      'f.rs',
    );
    assert.deepEqual(
      statementsOf(body, 'f.rs').map((s) => [s.block ?? '', s.attrs.map((a) => tokensText(a.args)).join(), s.line]),
      [
        ['', '', 1],
        ['', 'target_arch="aarch64"', 3],
        ['if', '', 4],
        ['for', '', 5],
        ['', '', 6],
      ],
    );
  });

  test('help is the doc, else the comment above; units from the name, then from what the doc states', () => {
    assert.equal(helpOf({ docs: ['Number of', '  reads. '], comments: ['ignored'] }), 'Number of reads.');
    assert.equal(helpOf({ docs: [], comments: ['Vhost-user init time in microseconds.'] }), 'Vhost-user init time in microseconds.');
    assert.equal(helpOf({ docs: [], comments: [] }), '');
    assert.equal(unitOf('read_bytes', 'inc', ''), 'bytes');
    assert.equal(unitOf('rx_bytes_count', 'inc', ''), 'bytes');
    assert.equal(unitOf('init_time_us', 'store', ''), 'microseconds');
    assert.equal(unitOf('utc_timestamp_ms', 'store', ''), 'milliseconds');
    assert.equal(unitOf('read_agg', 'latency', 'Duration of all read operations.'), 'microseconds');
    assert.equal(unitOf('load_snapshot', 'store', 'Measures the snapshot load time, at the VMM level, in microseconds.'), 'microseconds');
    assert.equal(unitOf('read_count', 'inc', 'Bytes read by this device.'), 'count');
    assert.equal(unitOf('free_page_report_freed', 'inc', 'Total memory freed by the reporting driver'), 'count');
  });
});
