/** `1 line`, `3 lines`; `2 directories` with the plural given. */
export function plural(n: number, word: string, words = `${word}s`): string {
  return `${String(n)} ${n === 1 ? word : words}`;
}
