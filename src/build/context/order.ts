/**
 * The order of context entries: component-wise ('/' sorts before any other character, so a
 * directory's contents follow it directly) and by code point, which is Go's UTF-8 byte order.
 */
function sortKey(c: number): number {
  if (c === 0x2f) return -1;
  return c >= 0xd800 && c <= 0xdfff ? c + 0x10000 : c; // astral chars sort above the BMP
}

export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = sortKey(a.charCodeAt(i)) - sortKey(b.charCodeAt(i));
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
