/**
 * Order of device ids and property keys: by Unicode code point, which for well-formed strings is
 * the UTF-8 byte order of the Rust `BTreeMap<String, _>` Firecracker iterates. Unlike a compare
 * of UTF-8 bytes, it keeps lone surrogates apart (both would encode as U+FFFD), so two distinct
 * ids never compare equal.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(i) as number;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
