/**
 * Compiles a Go `regexp` (RE2 syntax, Perl flags as regexp.Compile uses them) into an
 * equivalent JavaScript RegExp. moby/patternmatcher turns .dockerignore patterns into Go
 * regexps and passes `[...]` classes and `\x` escapes through, so `\d`, `[[:alpha:]]`,
 * `\Q..\E` or an out-of-order range `[l-O]` behave as Go defines them, not as JS would.
 * Every literal and class is re-emitted in escaped form, so JS syntax never leaks through.
 */

export class GoRegexpError extends Error {}

type Range = [number, number];
const MAX_RUNE = 0x10ffff;

const hex = (c: number): string => `\\u{${c.toString(16)}}`;

function complement(rs: Range[]): Range[] {
  const sorted = [...rs].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}

const r = (a: string, b = a): Range => [a.codePointAt(0) ?? 0, b.codePointAt(0) ?? 0];

// Go's perlGroup and posixGroup tables (ASCII only).
const PERL: Record<string, Range[]> = {
  d: [r('0', '9')],
  s: [r('\t', '\n'), r('\f', '\r'), r(' ')],
  w: [r('0', '9'), r('A', 'Z'), r('_'), r('a', 'z')],
};
const POSIX: Record<string, Range[]> = {
  alnum: [r('0', '9'), r('A', 'Z'), r('a', 'z')],
  alpha: [r('A', 'Z'), r('a', 'z')],
  ascii: [[0, 0x7f]],
  blank: [r('\t'), r(' ')],
  cntrl: [[0, 0x1f], [0x7f, 0x7f]],
  digit: [r('0', '9')],
  graph: [r('!', '~')],
  lower: [r('a', 'z')],
  print: [r(' ', '~')],
  punct: [r('!', '/'), r(':', '@'), r('[', '`'), r('{', '~')],
  space: [r('\t', '\r'), r(' ')],
  upper: [r('A', 'Z')],
  word: [r('0', '9'), r('A', 'Z'), r('_'), r('a', 'z')],
  xdigit: [r('0', '9'), r('A', 'F'), r('a', 'f')],
};
// Go's unicode.Categories names; scripts are checked against the JS engine's tables.
const CATEGORIES = new Set(
  'C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs'.split(' '),
);

/** A class item as JS class-body source (inside [...]). */
function rangesSource(rs: Range[]): string {
  return rs.map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`)).join('');
}

function unicodeProperty(name: string, negate: boolean): string {
  const p = negate ? 'P' : 'p';
  if (name === 'Any') return negate ? '' : `${hex(0)}-${hex(MAX_RUNE)}`;
  if (CATEGORIES.has(name)) return `\\${p}{gc=${name}}`;
  const src = `\\${p}{sc=${name}}`;
  try {
    new RegExp(`[${src}]`, 'u');
  } catch {
    throw new GoRegexpError(`invalid character class range: \\p{${name}}`);
  }
  return src;
}

const isOctal = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x37;
const isAlnum = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
function unhex(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** JS source for one Go atom; `prefix` holds literals before it (from \Q..\E) that a quantifier skips. */
interface Atom {
  src: string;
  prefix?: string;
  assertion: boolean;
}

class Parser {
  private i = 0;
  constructor(private readonly s: number[]) {}

  private peek(k = 0): number | undefined {
    return this.s[this.i + k];
  }

  private fail(what: string): never {
    throw new GoRegexpError(what);
  }

  parse(): string {
    const out = this.alternation();
    if (this.i < this.s.length) this.fail('unexpected )');
    return out;
  }

  private alternation(): string {
    const alts = [this.concat()];
    while (this.peek() === 0x7c) {
      this.i++;
      alts.push(this.concat());
    }
    return alts.join('|');
  }

  private concat(): string {
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x7c || c === 0x29) return out;
      if (this.repeatOp() !== null) this.fail('missing argument to repetition operator');
      const atom = this.atom();
      if (atom === null) continue; // \Q\E with nothing inside
      out += this.quantified(atom);
    }
  }

  /** The repetition operator at the cursor (*, +, ?, or a well-formed {n}, {n,}, {n,m}) and its length. */
  private repeatOp(): { op: string; len: number; min: number; max: number } | null {
    const c = this.peek();
    if (c === 0x2a || c === 0x2b || c === 0x3f) return { op: String.fromCodePoint(c), len: 1, min: 0, max: -1 };
    if (c !== 0x7b) return null;
    // Go's parseRepeat: digits without leading zeros, optional ',' and digits, then '}'.
    const m = /^\{(0|[1-9][0-9]*)(?:(,)(0|[1-9][0-9]*)?)?\}/.exec(String.fromCodePoint(...this.s.slice(this.i, this.i + 40)));
    if (m === null) return null; // then '{' is a literal
    const num = (d: string): number => (d.length > 9 ? Infinity : Number(d));
    const min = num(m[1]);
    const max = m[2] === undefined ? min : m[3] === undefined ? -1 : num(m[3]);
    return { op: m[0], len: m[0].length, min, max };
  }

  /** Applies a repetition (and a lazy ?) to an atom; Go rejects stacked operators like `a**`. */
  private quantified(atom: Atom): string {
    let src = atom.src;
    const prefix = atom.prefix ?? '';
    const rep = this.repeatOp();
    if (rep === null) return prefix + src;
    if (rep.op.startsWith('{') && (rep.min > 1000 || rep.max > 1000 || (rep.max >= 0 && rep.min > rep.max))) {
      this.fail('invalid repeat count');
    }
    this.i += rep.len;
    let op = rep.op;
    if (this.peek() === 0x3f) {
      this.i++;
      op += '?';
    }
    if (this.repeatOp() !== null) this.fail('invalid nested repetition operator');
    // JS refuses to repeat an assertion; Go allows it. A group makes both agree.
    if (atom.assertion) src = `(?:${src})`;
    return prefix + src + op;
  }

  private atom(): Atom | null {
    const c = this.s[this.i++];
    switch (c) {
      case 0x28: {
        if (this.peek() === 0x3f) this.fail('unsupported group syntax'); // never produced by patternmatcher
        const inner = this.alternation();
        if (this.peek() !== 0x29) this.fail('missing closing )');
        this.i++;
        return { src: `(?:${inner})`, assertion: false };
      }
      case 0x5e:
        return { src: '^', assertion: true };
      case 0x24:
        return { src: '$', assertion: true };
      case 0x2e:
        return { src: '[^\\n]', assertion: false }; // Go's '.' excludes only \n
      case 0x5b:
        return { src: this.charClass(), assertion: false };
      case 0x5c:
        return this.escapeAtom();
      default:
        return { src: hex(c), assertion: false };
    }
  }

  private escapeAtom(): Atom | null {
    const c = this.peek();
    switch (c) {
      case 0x41: // \A
        this.i++;
        return { src: '^', assertion: true };
      case 0x7a: // \z
        this.i++;
        return { src: '$', assertion: true };
      case 0x62: // \b, \B: ASCII word boundaries in both engines
        this.i++;
        return { src: '\\b', assertion: true };
      case 0x42:
        this.i++;
        return { src: '\\B', assertion: true };
      case 0x43:
        return this.fail('invalid escape sequence: \\C');
      case 0x51: {
        // \Q...\E: everything up to \E (or the end) is literal.
        this.i++;
        const lits: string[] = [];
        while (this.i < this.s.length && !(this.s[this.i] === 0x5c && this.s[this.i + 1] === 0x45)) {
          lits.push(hex(this.s[this.i++]));
        }
        if (this.i < this.s.length) this.i += 2;
        const last = lits.pop();
        // Go pushes each literal on its own, so a following '*' repeats only the last one.
        return last === undefined ? null : { src: last, prefix: lits.join(''), assertion: false };
      }
    }
    const uni = this.unicodeClass();
    if (uni !== null) return { src: `[${uni}]`, assertion: false };
    const perl = this.perlClass();
    if (perl !== null) return { src: `[${rangesSource(perl)}]`, assertion: false };
    return { src: hex(this.escapeRune()), assertion: false };
  }

  /** After a backslash: \p{Name}, \pN, \P..., with ^ negation inside braces; gives class-body source. */
  private unicodeClass(): string | null {
    const c = this.peek();
    if (c !== 0x70 && c !== 0x50) return null;
    let negate = c === 0x50;
    this.i++;
    let name: string;
    const n = this.s[this.i++];
    if (n === undefined) this.fail('invalid character class range');
    if (n !== 0x7b) {
      name = String.fromCodePoint(n);
    } else {
      const end = this.s.indexOf(0x7d, this.i);
      if (end < 0) this.fail('invalid character class range');
      name = String.fromCodePoint(...this.s.slice(this.i, end));
      this.i = end + 1;
    }
    if (name.startsWith('^')) {
      negate = !negate;
      name = name.slice(1);
    }
    return unicodeProperty(name, negate);
  }

  /** After a backslash: \d \D \s \S \w \W as ranges. */
  private perlClass(): Range[] | null {
    const c = this.peek();
    if (c === undefined) return null;
    const key = String.fromCodePoint(c);
    if (!'dDsSwW'.includes(key)) return null;
    const lower = key.toLowerCase();
    this.i++;
    return key === lower ? PERL[lower] : complement(PERL[lower]);
  }

  /** Go's parseEscape, after the backslash: one rune or an error. */
  private escapeRune(): number {
    const c = this.s[this.i++];
    if (c === undefined) this.fail('trailing backslash at end of expression');
    if (c < 0x80 && !isAlnum(c)) return c;
    if (c >= 0x31 && c <= 0x37 && !isOctal(this.peek())) this.fail('invalid escape sequence'); // backreference
    if (c >= 0x30 && c <= 0x37) {
      let v = c - 0x30;
      for (let k = 1; k < 3 && isOctal(this.peek()); k++) v = v * 8 + (this.s[this.i++] - 0x30);
      return v;
    }
    switch (c) {
      case 0x78: {
        const x = this.s[this.i++];
        if (x === undefined) this.fail('invalid escape sequence');
        if (x === 0x7b) {
          let v = 0;
          let digits = 0;
          for (;;) {
            const d = this.s[this.i++];
            if (d === undefined) this.fail('invalid escape sequence');
            if (d === 0x7d) break;
            const h = unhex(d);
            if (h < 0) this.fail('invalid escape sequence');
            v = v * 16 + h;
            if (v > MAX_RUNE) this.fail('invalid escape sequence');
            digits++;
          }
          if (digits === 0) this.fail('invalid escape sequence');
          return v;
        }
        const y = this.s[this.i++];
        const hx = unhex(x);
        const hy = unhex(y);
        if (hx < 0 || hy < 0) this.fail('invalid escape sequence');
        return hx * 16 + hy;
      }
      case 0x61:
        return 0x07;
      case 0x66:
        return 0x0c;
      case 0x6e:
        return 0x0a;
      case 0x72:
        return 0x0d;
      case 0x74:
        return 0x09;
      case 0x76:
        return 0x0b;
    }
    return this.fail('invalid escape sequence');
  }

  /** Go's parseClass (PerlX: '-' allowed anywhere; ClassNL: [^..] also matches \n). */
  private charClass(): string {
    let negated = false;
    if (this.peek() === 0x5e) {
      negated = true;
      this.i++;
    }
    const parts: string[] = [];
    let first = true;
    while (this.peek() !== 0x5d || first) {
      first = false;
      const c = this.peek();
      if (c === undefined) this.fail('missing closing ]');
      // POSIX [:name:] / [:^name:]
      if (c === 0x5b && this.peek(1) === 0x3a) {
        const rest = String.fromCodePoint(...this.s.slice(this.i + 2));
        const end = rest.indexOf(':]');
        if (end >= 0) {
          let name = rest.slice(0, end);
          const neg = name.startsWith('^');
          if (neg) name = name.slice(1);
          const group = Object.prototype.hasOwnProperty.call(POSIX, name) ? POSIX[name] : undefined;
          if (!group) this.fail('invalid character class range');
          parts.push(rangesSource(neg ? complement(group) : group));
          this.i += 2 + [...rest.slice(0, end)].length + 2;
          continue;
        }
      }
      if (c === 0x5c) {
        this.i++;
        const uni = this.unicodeClass();
        if (uni !== null) {
          parts.push(uni);
          continue;
        }
        const perl = this.perlClass();
        if (perl !== null) {
          parts.push(rangesSource(perl));
          continue;
        }
        this.i--;
      }
      const lo = this.classChar();
      let hi = lo;
      if (this.peek() === 0x2d && this.peek(1) !== undefined && this.peek(1) !== 0x5d) {
        this.i++;
        hi = this.classChar();
        if (hi < lo) this.fail('invalid character class range');
      }
      parts.push(rangesSource([[lo, hi]]));
    }
    this.i++; // ]
    return `[${negated ? '^' : ''}${parts.join('')}]`;
  }

  private classChar(): number {
    const c = this.s[this.i++];
    if (c === undefined) this.fail('missing closing ]');
    return c === 0x5c ? this.escapeRune() : c;
  }
}

/** Compiles Go regexp syntax to a JS RegExp with the same meaning; throws GoRegexpError when Go would. */
export function compileGoRegexp(src: string): RegExp {
  const js = new Parser(Array.from(src, (ch) => ch.codePointAt(0) ?? 0)).parse();
  try {
    return new RegExp(js, 'u');
  } catch (e) {
    throw new GoRegexpError(`cannot translate regexp ${JSON.stringify(src)}: ${String(e)}`);
  }
}
