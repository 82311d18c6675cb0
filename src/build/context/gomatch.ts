/**
 * Go's `path/filepath.Match` on Unix, ported over UTF-8 bytes so that its quirks (byte-wise
 * star skipping, RuneError handling, whole-pattern syntax checking) are the same as Docker's.
 * Used to validate .dockerignore patterns (as patternmatcher.New does) and to resolve
 * COPY/ADD wildcards (as BuildKit's copy does).
 */
import { InvalidArgumentError } from '../../errors';

/** Go's filepath.ErrBadPattern text. */
export const BAD_PATTERN = 'syntax error in pattern';

export class BadPatternError extends InvalidArgumentError {
  constructor() {
    super(BAD_PATTERN);
  }
}

const SEP = 0x2f;
const BACKSLASH = 0x5c;
const RUNE_ERROR = 0xfffd;

/** utf8.DecodeRune: [rune, width]; invalid or empty input gives RuneError (width 1, or 0 when empty). */
export function decodeRune(b: Uint8Array, i: number): [number, number] {
  const n = b.length - i;
  if (n <= 0) return [RUNE_ERROR, 0];
  const c0 = b[i];
  if (c0 < 0x80) return [c0, 1];
  const cont = (k: number): number => (k < n && (b[i + k] & 0xc0) === 0x80 ? b[i + k] & 0x3f : -1);
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    const c1 = cont(1);
    return c1 < 0 ? [RUNE_ERROR, 1] : [((c0 & 0x1f) << 6) | c1, 2];
  }
  if (c0 >= 0xe0 && c0 <= 0xef) {
    const c1 = cont(1);
    const c2 = cont(2);
    if (c1 < 0 || c2 < 0) return [RUNE_ERROR, 1];
    const r = ((c0 & 0x0f) << 12) | (c1 << 6) | c2;
    if (r < 0x800 || (r >= 0xd800 && r <= 0xdfff)) return [RUNE_ERROR, 1];
    return [r, 3];
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    const c1 = cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    if (c1 < 0 || c2 < 0 || c3 < 0) return [RUNE_ERROR, 1];
    const r = ((c0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
    if (r < 0x10000 || r > 0x10ffff) return [RUNE_ERROR, 1];
    return [r, 4];
  }
  return [RUNE_ERROR, 1];
}

type Bytes = Uint8Array;

/** scanChunk: leading stars, then the chunk up to the next '*' outside a class. */
function scanChunk(p: Bytes): { star: boolean; chunk: Bytes; rest: Bytes } {
  let star = false;
  while (p.length > 0 && p[0] === 0x2a) {
    p = p.subarray(1);
    star = true;
  }
  let inrange = false;
  let i = 0;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case BACKSLASH:
        if (i + 1 < p.length) i++;
        break;
      case 0x5b:
        inrange = true;
        break;
      case 0x5d:
        inrange = false;
        break;
      case 0x2a:
        if (!inrange) break scan;
        break;
    }
  }
  return { star, chunk: p.subarray(0, i), rest: p.subarray(i) };
}

/** getEsc: one class character (possibly escaped); throws on '-', ']', end, or bad UTF-8. */
function getEsc(chunk: Bytes): [number, Bytes] {
  if (chunk.length === 0 || chunk[0] === 0x2d || chunk[0] === 0x5d) throw new BadPatternError();
  if (chunk[0] === BACKSLASH) {
    chunk = chunk.subarray(1);
    if (chunk.length === 0) throw new BadPatternError();
  }
  const [r, w] = decodeRune(chunk, 0);
  if (r === RUNE_ERROR && w === 1) throw new BadPatternError();
  const next = chunk.subarray(w);
  if (next.length === 0) throw new BadPatternError();
  return [r, next];
}

/** matchChunk: the rest of s after the chunk, or null; keeps scanning after a mismatch to report bad syntax. */
function matchChunk(chunk: Bytes, s: Bytes): Bytes | null {
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    switch (chunk[0]) {
      case 0x5b: {
        let r = 0;
        if (!failed) {
          const [rr, n] = decodeRune(s, 0);
          r = rr;
          s = s.subarray(n);
        }
        chunk = chunk.subarray(1);
        let negated = false;
        if (chunk.length > 0 && chunk[0] === 0x5e) {
          negated = true;
          chunk = chunk.subarray(1);
        }
        let match = false;
        let nrange = 0;
        for (;;) {
          if (chunk.length > 0 && chunk[0] === 0x5d && nrange > 0) {
            chunk = chunk.subarray(1);
            break;
          }
          const [lo, afterLo] = getEsc(chunk);
          chunk = afterLo;
          let hi = lo;
          if (chunk[0] === 0x2d) {
            const [h, afterHi] = getEsc(chunk.subarray(1));
            hi = h;
            chunk = afterHi;
          }
          if (lo <= r && r <= hi) match = true;
          nrange++;
        }
        if (match === negated) failed = true;
        break;
      }
      case 0x3f:
        if (!failed) {
          if (s[0] === SEP) failed = true;
          const [, n] = decodeRune(s, 0);
          s = s.subarray(n);
        }
        chunk = chunk.subarray(1);
        break;
      case BACKSLASH:
        chunk = chunk.subarray(1);
        if (chunk.length === 0) throw new BadPatternError();
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.subarray(1);
        }
        chunk = chunk.subarray(1);
        break;
      default:
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.subarray(1);
        }
        chunk = chunk.subarray(1);
    }
  }
  return failed ? null : s;
}

function matchBytes(pattern: Bytes, name: Bytes): boolean {
  pattern: while (pattern.length > 0) {
    const { star, chunk, rest } = scanChunk(pattern);
    pattern = rest;
    if (star && chunk.length === 0) return !name.includes(SEP);
    // Look for a match at the current position (a syntax error throws, as Go returns it).
    const t = matchChunk(chunk, name);
    if (t !== null && (t.length === 0 || pattern.length > 0)) {
      name = t;
      continue;
    }
    if (star) {
      for (let i = 0; i < name.length && name[i] !== SEP; i++) {
        const t2 = matchChunk(chunk, name.subarray(i + 1));
        if (t2 !== null) {
          if (pattern.length === 0 && t2.length > 0) continue;
          name = t2;
          continue pattern;
        }
      }
    }
    // Before reporting no match, check that the rest of the pattern is well formed.
    while (pattern.length > 0) {
      const next = scanChunk(pattern);
      pattern = next.rest;
      matchChunk(next.chunk, new Uint8Array(0));
    }
    return false;
  }
  return name.length === 0;
}

/** filepath.Match(pattern, name); throws BadPatternError like Go's ErrBadPattern. */
export function goMatch(pattern: string, name: string): boolean {
  return matchBytes(Buffer.from(pattern, 'utf8'), Buffer.from(name, 'utf8'));
}
