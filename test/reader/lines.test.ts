import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LineSplitter } from '../../src/reader/index.js';

const LINES_MODULE = new URL('../../src/reader/lines.js', import.meta.url).href;

describe('splitting bytes into lines', () => {
  test('property: any chunking gives the same lines, cut at the limit and flagged overlong', () => {
    const line = fc.string({ unit: fc.constantFrom('a', 'é', '€', '\u{1f600}', '"'), maxLength: 30 });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 1, max: 40 }), (lines, cuts, limit) => {
        const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const splitter = new LineSplitter({ maxLineBytes: limit });
        const got: [number, string, boolean][] = [];
        let start = 0;
        for (const p of [...points, bytes.length]) {
          for (const raw of splitter.push(bytes.subarray(start, p))) got.push([raw.lineNumber, raw.bytes.toString('latin1'), raw.overlong]);
          start = p;
        }
        const expected = lines.map((l, i): [number, string, boolean] => {
          const full = Buffer.from(l);
          return [i + 1, full.subarray(0, limit).toString('latin1'), full.length > limit];
        });
        assert.deepEqual(got, expected);
        assert.equal(splitter.hasPartialLine, false);
      }),
      { numRuns: 300 },
    );
  });

  // Issue 6: a line trickled in one byte at a time was kept as one Buffer per byte, about 140
  // bytes of heap each: 4 million bytes took 450 MB. A 32 MB heap must hold a 3 MB line sent so.
  test('a line arriving one byte at a time is held in memory proportional to its length', () => {
    const script = `
      const { LineSplitter } = await import(${JSON.stringify(LINES_MODULE)});
      const splitter = new LineSplitter();
      const byte = Buffer.from('7');
      for (let i = 0; i < 3_000_000; i++) splitter.push(byte);
      const [line] = splitter.push(Buffer.from('\\n'));
      process.stdout.write(String(line.bytes.length) + ' ' + String(line.bytes.every((b) => b === 0x37)));
    `;
    const child = spawnSync(process.execPath, ['--max-old-space-size=32', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(child.signal, null, `killed by ${String(child.signal)}: ${child.stderr.slice(0, 500)}`);
    assert.equal(child.status, 0, child.stderr.slice(0, 2000));
    assert.equal(child.stdout, '3000000 true');
  });
});
