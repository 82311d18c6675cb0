/**
 * Go's path helpers with their exact results (Unix): `filepath.Clean`, `filepath.Dir`
 * and `strings.TrimSpace`. Node's path.normalize and String#trim differ in corner cases
 * ("" → ".", trailing slashes, U+FEFF/U+0085) that .dockerignore matching depends on.
 */

/** filepath.Clean: lexical shortest path; "" → ".", no trailing slash, ".." kept when relative. */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.charCodeAt(0) === 0x2f;
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const body = out.join('/');
  if (rooted) return '/' + body;
  return body === '' ? '.' : body;
}

/** filepath.Dir: everything before the last '/', cleaned ("a" → ".", "a/" → "a", "/" → "/"). */
export function goDir(p: string): string {
  const i = p.lastIndexOf('/');
  return goClean(p.slice(0, i + 1));
}

// unicode.IsSpace: ASCII/Latin-1 spaces plus the Unicode White_Space separators.
const GO_SPACE = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
  0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** strings.TrimSpace (unlike String#trim it keeps U+FEFF and strips U+0085). */
export function goTrimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && GO_SPACE.has(s.charCodeAt(a))) a++;
  while (b > a && GO_SPACE.has(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}
