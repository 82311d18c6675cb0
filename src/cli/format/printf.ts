/**
 * Go fmt semantics for untyped JS values: %v printing, Sprint/Sprintln and
 * Sprintf. JS numbers are ints when integral (Go's int64 fields) and float64
 * otherwise; objects and Maps print as Go maps, arrays as slices.
 */

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  zero: boolean;
  space: boolean;
  width: number;
  prec: number; // -1: none
}
const NO_SPEC: Spec = { minus: false, plus: false, sharp: false, zero: false, space: false, width: 0, prec: -1 };

/** Go type name of a value, for %!verb(type=value) and error messages. */
export function goType(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'function') return 'func';
  return 'map[string]interface {}';
}

/** Entries of a map-like value in Go's printing order (sorted keys). */
export function mapEntries(v: object): [unknown, unknown][] {
  const entries: [unknown, unknown][] = v instanceof Map ? [...v.entries()] : Object.entries(v);
  return entries.sort(([a], [b]) => compareKeys(a, b));
}

function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** fmt.Sprint(v) — Go's %v. */
export function fmtValue(v: unknown): string {
  return fmtArg(v, 'v', NO_SPEC);
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function sprint(args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += fmtValue(a);
  });
  return out;
}

export function sprintln(args: unknown[]): string {
  return args.map(fmtValue).join(' ') + '\n';
}

export function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  let i = 0;
  const takeInt = (): number | null => {
    const a = args[argi++];
    return typeof a === 'number' && Number.isInteger(a) ? a : null;
  };
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const spec: Spec = { ...NO_SPEC };
    for (; i < format.length; i++) {
      const c = format[i];
      if (c === '-') spec.minus = true;
      else if (c === '+') spec.plus = true;
      else if (c === '#') spec.sharp = true;
      else if (c === '0') spec.zero = true;
      else if (c === ' ') spec.space = true;
      else break;
    }
    let badWidth = false;
    if (format[i] === '*') {
      i++;
      const w = takeInt();
      if (w === null) badWidth = true;
      else if (w < 0) [spec.minus, spec.width] = [true, -w];
      else spec.width = w;
    } else {
      const m = /^\d+/.exec(format.slice(i));
      if (m) [spec.width, i] = [Number(m[0]), i + m[0].length];
    }
    if (format[i] === '.') {
      i++;
      if (format[i] === '*') {
        i++;
        const p = takeInt();
        spec.prec = p === null || p < 0 ? -1 : p;
        if (p === null) badWidth = true;
      } else {
        const m = /^\d*/.exec(format.slice(i))?.[0] ?? '';
        [spec.prec, i] = [Number(m || 0), i + m.length];
      }
    }
    if (badWidth) out += '%!(BADWIDTH)';
    if (i >= format.length) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i) ?? 0);
    i += verb.length;
    if (verb === '%') out += '%';
    else if (argi >= args.length) out += `%!${verb}(MISSING)`;
    else out += fmtArg(args[argi++], verb, spec);
  }
  if (argi < args.length) {
    const extra = args.slice(argi).map((a) => (a == null ? '<nil>' : `${goType(a)}=${fmtValue(a)}`));
    out += `%!(EXTRA ${extra.join(', ')})`;
  }
  return out;
}

function badVerb(v: unknown, verb: string): string {
  return v == null ? `%!${verb}(<nil>)` : `%!${verb}(${goType(v)}=${fmtValue(v)})`;
}

function pad(s: string, spec: Spec, zeroOk = false): string {
  const n = spec.width - [...s].length;
  if (n <= 0) return s;
  if (spec.minus) return s + ' '.repeat(n);
  if (spec.zero && zeroOk) {
    const sign = /^[+\- ]/.test(s) ? s[0] : '';
    return sign + '0'.repeat(n) + s.slice(sign.length);
  }
  return ' '.repeat(n) + s;
}

function fmtArg(v: unknown, verb: string, spec: Spec): string {
  if (v === null || v === undefined) return verb === 'v' ? pad('<nil>', spec) : badVerb(v, verb);
  if (typeof v === 'boolean') return verb === 'v' || verb === 't' ? pad(String(v), spec) : badVerb(v, verb);
  if (typeof v === 'string') return fmtString(v, verb, spec);
  if (typeof v === 'number') {
    if (Number.isInteger(v) && 'bcdoOqxXUv'.includes(verb)) return fmtInt(v, verb, spec);
    if ('eEfFgGv'.includes(verb)) return fmtFloat(v, verb, spec);
    return badVerb(v, verb);
  }
  if (Array.isArray(v)) return `[${v.map((e) => fmtArg(e, verb, spec)).join(' ')}]`;
  if (typeof v === 'object') {
    const parts = mapEntries(v).map(([k, e]) => `${fmtArg(k, verb, spec)}:${fmtArg(e, verb, spec)}`);
    return `map[${parts.join(' ')}]`;
  }
  return pad(String(v), spec);
}

function fmtString(s: string, verb: string, spec: Spec): string {
  if (verb === 's' || verb === 'v') return pad(spec.prec >= 0 ? [...s].slice(0, spec.prec).join('') : s, spec);
  if (verb === 'q') {
    const q = spec.sharp && !/[`\x00-\x08\x0a-\x1f\x7f]/.test(s) ? `\`${s}\`` : goQuote(s, '"');
    return pad(q, spec);
  }
  if (verb === 'x' || verb === 'X') {
    const bytes = [...Buffer.from(s, 'utf8')].map((b) => b.toString(16).padStart(2, '0'));
    const pre = spec.sharp ? '0x' : '';
    const out = spec.space ? bytes.map((b) => pre + b).join(' ') : pre + bytes.join('');
    return pad(verb === 'X' ? out.toUpperCase() : out, spec);
  }
  return badVerb(s, verb);
}

function fmtInt(n: number, verb: string, spec: Spec): string {
  if (verb === 'c') return pad(String.fromCodePoint(n), spec);
  if (verb === 'q') return pad(goQuote(String.fromCodePoint(n), "'"), spec);
  if (verb === 'U') {
    const u = `U+${n.toString(16).toUpperCase().padStart(4, '0')}`;
    return pad(spec.sharp ? `${u} '${String.fromCodePoint(n)}'` : u, spec);
  }
  const big = BigInt(n);
  const neg = big < 0n;
  const base = verb === 'b' ? 2 : verb === 'o' || verb === 'O' ? 8 : verb === 'x' || verb === 'X' ? 16 : 10;
  let digits = (neg ? -big : big).toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  if (spec.prec >= 0) digits = spec.prec === 0 && n === 0 ? '' : digits.padStart(spec.prec, '0');
  let prefix = '';
  if (verb === 'O' || (spec.sharp && verb === 'o')) prefix = '0o'.slice(verb === 'O' ? 0 : 1);
  else if (spec.sharp && base === 16) prefix = verb === 'X' ? '0X' : '0x';
  else if (spec.sharp && base === 2) prefix = '0b';
  const sign = neg ? '-' : spec.plus ? '+' : spec.space ? ' ' : '';
  if (spec.zero && !spec.minus && spec.prec < 0) {
    digits = digits.padStart(spec.width - sign.length - prefix.length, '0');
  }
  return pad(sign + prefix + digits, spec);
}

function fmtFloat(x: number, verb: string, spec: Spec): string {
  const sign = x < 0 || Object.is(x, -0) ? '-' : spec.plus ? '+' : spec.space ? ' ' : '';
  if (!Number.isFinite(x)) {
    // Go keeps the sign of infinities and never zero-pads non-numbers.
    const inf = (x < 0 ? '-' : spec.space && !spec.plus ? ' ' : '+') + 'Inf';
    const s = Number.isNaN(x) ? (spec.plus ? '+NaN' : spec.space ? ' NaN' : 'NaN') : inf;
    return pad(s, { ...spec, zero: false });
  }
  const a = Math.abs(x);
  let body: string;
  const lower = verb.toLowerCase();
  if (lower === 'f') body = toFixedEven(a, spec.prec < 0 ? 6 : spec.prec);
  else if (lower === 'e') body = expForm(a.toExponential(spec.prec < 0 ? 6 : spec.prec));
  else body = fmtG(a, verb === 'v' ? -1 : spec.prec);
  if (verb === 'E' || verb === 'G') body = body.toUpperCase();
  return pad(sign + body, spec, true);
}

/** toFixed, but ties round half to even like Go (JS rounds them up). */
function toFixedEven(a: number, prec: number): string {
  const s = a.toFixed(prec);
  if (prec + 30 > 100) return s;
  const exact = a.toFixed(prec + 30);
  const cut = exact.length - 30;
  if (/^50*$/.test(exact.slice(cut))) {
    const kept = exact.slice(0, cut).replace(/\.$/, '');
    if (Number(kept.slice(-1)) % 2 === 0) return kept;
  }
  return s;
}

/** JS "1.5e+0" → Go "1.5e+00" (at least two exponent digits). */
function expForm(s: string): string {
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** strconv 'g' formatting; prec -1 = shortest representation. */
function fmtG(a: number, prec: number): string {
  const shortest = prec < 0;
  if (prec === 0) prec = 1;
  const [mant, e] = (shortest ? a.toExponential() : a.toExponential(prec - 1)).split('e');
  const digits = mant.replace('.', '').replace(/(?<=.)0+$/, '');
  const exp = Number(e);
  const nd = digits.length;
  let eprec = shortest ? 6 : prec;
  if (!shortest && eprec > nd && nd >= exp + 1) eprec = nd;
  if (exp < -4 || exp >= eprec) {
    return expForm(`${digits[0]}${nd > 1 ? '.' + digits.slice(1) : ''}e${exp < 0 ? '-' : '+'}${Math.abs(exp)}`);
  }
  const dp = exp + 1;
  if (dp <= 0) return `0.${'0'.repeat(-dp)}${digits}`;
  const int = digits.slice(0, dp).padEnd(dp, '0');
  return nd > dp ? `${int}.${digits.slice(dp)}` : int;
}

/** strconv.Quote (or QuoteRune with quote "'"). */
export function goQuote(s: string, quote: '"' | "'"): string {
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp > 0xa0 && /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch)) out += ch;
    else if (GO_ESCAPES[ch]) out += GO_ESCAPES[ch];
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + quote;
}
const GO_ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
