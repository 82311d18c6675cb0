/**
 * Go-compatible text helpers. BuildKit's parser is written against Go's
 * `unicode.IsSpace`, `strings.TrimSpace` and `strconv.Quote`, whose edges differ
 * from JavaScript's `\s` / `trim()` / `JSON.stringify` (U+0085, U+FEFF,
 * non-printable runes), so the parser uses these instead.
 */

/** Go's unicode.IsSpace, for one character (one code point). */
export function isSpace(c: string): boolean {
  switch (c) {
    case ' ': case '\t': case '\n': case '\v': case '\f': case '\r': case '\u0085': case '\u00a0':
      return true;
  }
  return c > '\u00ff' && /^[\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/.test(c);
}

/** Go's strings.TrimLeftFunc(s, unicode.IsSpace). */
export function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length && isSpace(s[i])) i++;
  return i === 0 ? s : s.slice(i);
}

/** Go's strings.TrimSpace. */
export function trimSpace(s: string): string {
  let j = s.length;
  while (j > 0 && isSpace(s[j - 1])) j--;
  return trimLeftSpace(j === s.length ? s : s.slice(0, j));
}

/** BuildKit's `[\t\v\f\r ]+` separator (ASCII only, unlike isSpace). */
export const RE_WHITESPACE = /[\t\v\f\r ]+/;

/** Go's regexp.Split(s, 2) with RE_WHITESPACE: the first word and everything after the first gap. */
export function splitFirstWhitespace(s: string): [string] | [string, string] {
  const m = RE_WHITESPACE.exec(s);
  return m ? [s.slice(0, m.index), s.slice(m.index + m[0].length)] : [s];
}

/** Go's bytes.TrimRight(s, "\r\n"). */
export function trimNewline(s: string): string {
  let j = s.length;
  while (j > 0 && (s[j - 1] === '\n' || s[j - 1] === '\r')) j--;
  return j === s.length ? s : s.slice(0, j);
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/** Go's strconv.Quote (what `%q` prints): used by Node.Dump(). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if ((cp >= 0x20 && cp < 0x7f) || (cp >= 0x80 && PRINTABLE.test(ch))) out += ch;
    else {
      switch (ch) {
        case '\x07': out += '\\a'; break;
        case '\b': out += '\\b'; break;
        case '\f': out += '\\f'; break;
        case '\n': out += '\\n'; break;
        case '\r': out += '\\r'; break;
        case '\t': out += '\\t'; break;
        case '\v': out += '\\v'; break;
        default:
          if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex(cp, 2);
          else if (cp < 0x10000) out += '\\u' + hex(cp, 4);
          else out += '\\U' + hex(cp, 8);
      }
    }
  }
  return out + '"';
}

/** Levenshtein distance, for BuildKit's "(did you mean X?)" suggestions. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** BuildKit's suggest.WrapError: append " (did you mean X?)" when an option is within distance 2. */
export function withSuggestion(message: string, value: string, options: readonly string[], caseSensitive: boolean): string {
  const val = caseSensitive ? value : value.toLowerCase();
  let match = '';
  let min = 3;
  for (const o of options) {
    const opt = caseSensitive ? o : o.toLowerCase();
    if (opt === val) return message; // an exact match means the error is about something else
    const d = distance(val, opt);
    if (d < min) {
      min = d;
      // Go's matchCase: follow the case the user typed (all lower / all upper).
      match = caseSensitive || value === value.toLowerCase() ? opt : value === value.toUpperCase() ? opt.toUpperCase() : opt;
    }
  }
  return match ? `${message} (did you mean ${match}?)` : message;
}
