/**
 * Byte sizes as Docker writes them (`512m`, `1g`, `64MiB`, `100000`): binary
 * units, an optional `b`/`ib`. One parser for flags, log options and compose
 * files; each caller words its own error. Undefined when `s` is not a size.
 */
export function parseByteSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$/i.exec(s.trim());
  if (!m) return undefined;
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as 'k'];
  return Math.round(Number(m[1]) * mult);
}
