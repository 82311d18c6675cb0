/**
 * BuildKit's shell word lexer (frontend/dockerfile/shell): quote removal,
 * escapes and `$VAR` / `${VAR…}` expansion for ENV, ARG, LABEL, COPY, WORKDIR,
 * USER, EXPOSE and friends. It is not a POSIX shell: no command substitution,
 * no globbing, no `${VAR:=w}`.
 */
import { InvalidArgumentError } from '../../errors';
import { goQuote, isSpace } from './text';

/** Variables: a plain object (own keys only) or a lookup returning undefined for "unset". */
export type EnvLookup = Readonly<Record<string, string>> | ((name: string) => string | undefined);

export interface ShellLexOptions {
  /** `\` (default) or `` ` `` (from `# escape=`). */
  escapeToken?: string;
  /** Leave unset variables as written (`$X`, `${X:-y}`) instead of expanding them to "". */
  skipUnsetEnv?: boolean;
  /** Keep quote characters in the output (BuildKit RawQuotes). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output (BuildKit RawEscapes). */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (used to expand heredoc bodies). */
  skipProcessQuotes?: boolean;
}

export interface ProcessWordResult {
  result: string;
  /** Referenced variables that are set (even to ""). */
  used: Set<string>;
  /** Referenced variables that are unset. */
  unmatched: Set<string>;
}

const EOF = '';

/** A lexing failure; processWord wraps it as BuildKit does ("failed to process …"). */
class LexError extends Error {}

function lookupOf(env: EnvLookup): (name: string) => string | undefined {
  if (typeof env === 'function') return env;
  return (name) => (Object.hasOwn(env, name) ? env[name] : undefined);
}

/** Words being accumulated by ProcessWords: unquoted whitespace separates them. */
class Words {
  buf = '';
  inWord = false;
  readonly list: string[] = [];

  addChar(ch: string): void {
    if (!isSpace(ch)) this.addRaw(ch);
    else if (this.inWord && this.buf !== '') {
      this.list.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
  }
  addRaw(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  done(): string[] {
    if (this.buf !== '') this.list.push(this.buf);
    this.buf = '';
    this.inWord = false;
    return this.list;
  }
}

// A name after `$`: all digits (positional, always ""), one POSIX special
// parameter (`$@ $* $# $? $- $$ $! $0`, also ""), or letters, digits and `_`.
const NAME_RE = /\p{Nd}+|[@*#?\-$!]|[\p{L}\p{Nd}_]*/uy;

// Runs of characters with no meaning to the lexer, copied in one go; keyed by escape token + stop + quotes.
const plainRuns = new Map<string, RegExp>();
function plainRun(esc: string, stop: string, quotes: boolean): RegExp {
  const key = esc + stop + (quotes ? 'q' : '');
  let re = plainRuns.get(key);
  if (!re) {
    const cls = ('$<' + (quotes ? `'"` : '') + esc + stop).replace(/[\\\]^-]/g, '\\$&');
    re = new RegExp(`[^${cls}]+`, 'y');
    plainRuns.set(key, re);
  }
  return re;
}

class Lexer {
  private pos = 0;
  private rawEscapes: boolean;
  private readonly esc: string;
  readonly used = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    private readonly src: string,
    private readonly lookup: (name: string) => string | undefined,
    private readonly opts: ShellLexOptions,
  ) {
    this.rawEscapes = !!opts.rawEscapes;
    this.esc = opts.escapeToken ?? '\\';
  }

  /** The next code point, '' at the end. */
  private peek(): string {
    const { src, pos } = this;
    if (pos >= src.length) return EOF;
    const c = src.charCodeAt(pos);
    if (c >= 0xd800 && c <= 0xdbff && pos + 1 < src.length) {
      const d = src.charCodeAt(pos + 1);
      if (d >= 0xdc00 && d <= 0xdfff) return src.slice(pos, pos + 2);
    }
    return src[pos];
  }

  private next(): string {
    const ch = this.peek();
    this.pos += ch.length;
    return ch;
  }

  private getEnv(name: string): string | undefined {
    const v = this.lookup(name);
    (v === undefined ? this.unmatched : this.used).add(name);
    return v;
  }

  /** Lex until `stop` ('' = end of input); returns the text and, if `collect`, its words. */
  processStopOn(stop: string, rawEscapes: boolean, collect = false): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = collect ? new Words() : null;
      const quotes = !this.opts.skipProcessQuotes;
      const plain = collect ? null : plainRun(this.esc, stop, quotes);
      for (let ch = this.peek(); ch !== EOF; ch = this.peek()) {
        if (plain) {
          plain.lastIndex = this.pos;
          const m = plain.exec(this.src);
          if (m) {
            result += m[0];
            this.pos += m[0].length;
            continue;
          }
        }
        if (stop !== EOF && ch === stop) {
          this.next();
          return { result, words: words?.done() ?? [] };
        }
        if (ch === '$') {
          const tmp = this.processDollar();
          result += tmp;
          words?.addString(tmp); // unquoted expansions are split into words
          continue;
        }
        if (ch === '<' || (quotes && (ch === "'" || ch === '"'))) {
          const tmp = ch === '<' ? this.processPossibleHeredoc() : ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          words?.addRaw(tmp);
          continue;
        }
        let c = this.next();
        if (c === this.esc) {
          if (this.rawEscapes) {
            words?.addRaw(c);
            result += c;
          }
          c = this.next();
          if (c === EOF) break; // an escape at the very end is dropped
          words?.addRaw(c);
        } else {
          words?.addChar(c);
        }
        result += c;
      }
      if (stop !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
      return { result, words: words?.done() ?? [] };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; ' itself cannot be escaped.
    let out = '';
    const q = this.next();
    if (this.opts.rawQuotes) out += q;
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return this.opts.rawQuotes ? out + ch : out;
      out += ch;
    }
  }

  private processDoubleQuote(): string {
    // Literal except $ expansions; the escape token only escapes " $ and itself.
    let out = '';
    const q = this.next();
    if (this.opts.rawQuotes) out += q;
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        this.next();
        return this.opts.rawQuotes ? out + p : out;
      }
      if (p === '$') {
        out += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.esc) {
        if (this.rawEscapes) out += ch;
        const n = this.peek();
        if (n === EOF) continue;
        if (n === '"' || n === '$' || n === this.esc) ch = this.next();
      }
      out += ch;
    }
  }

  private processPossibleHeredoc(): string {
    // `<<` plus following blanks stay glued to the next word, so `<< EOF` is one word.
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let out = '<<';
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === '\r') out += this.next();
    return out;
  }

  private processName(): string {
    NAME_RE.lastIndex = this.pos;
    const name = NAME_RE.exec(this.src)?.[0] ?? '';
    this.pos += name.length;
    return name;
  }

  private processDollar(): string {
    const skipUnset = !!this.opts.skipUnsetEnv;
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const v = this.getEnv(name);
      if (v === undefined && skipUnset) return '$' + name;
      return v ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let chs = ch;
    switch (ch) {
      case '}': {
        const v = this.getEnv(name);
        if (v === undefined && skipUnset) return `\${${name}}`;
        return v ?? '';
      }
      case ':':
      case '+':
      case '-':
      case '?':
      case '#':
      case '%': {
        const nullIsUnset = ch === ':';
        if (nullIsUnset) {
          ch = this.next();
          chs += ch;
        }
        // Patterns keep their escapes: `\*` must reach the pattern compiler.
        const isPattern = ch === '#' || ch === '%';
        if (nullIsUnset && isPattern) throw new LexError(`unsupported modifier (${chs}) in substitution`);
        const word = this.stopOnOr('}', isPattern, "syntax error: missing '}'");
        const value = this.getEnv(name);
        const set = value !== undefined;
        if (skipUnset && !set) return `\${${name}${chs}${word}}`;
        const empty = !set || (nullIsUnset && value === '');
        switch (ch) {
          case '-':
            return empty ? word : value ?? '';
          case '+':
            return empty ? '' : word;
          case '?':
            if (!set) throw new LexError(`${name}: ${word || 'is not allowed to be unset'}`);
            if (nullIsUnset && value === '') throw new LexError(`${name}: ${word || 'is not allowed to be empty'}`);
            return value ?? '';
          case '#':
          case '%': {
            // # / % remove the shortest match, ## / %% the longest
            const greedy = word.startsWith(ch);
            const pat = greedy ? word.slice(1) : word;
            return ch === '%' ? trimSuffix(pat, value ?? '', greedy) : trimPrefix(pat, value ?? '', greedy);
          }
          default:
            throw new LexError(`unsupported modifier (${chs}) in substitution`);
        }
      }
      case '/': {
        const all = this.peek() === '/';
        if (all) this.next();
        const pattern = this.stopOnOr('/', true, "syntax error: missing '/' in ${}");
        const replacement = this.stopOnOr('}', true, "syntax error: missing '}'");
        const value = this.getEnv(name);
        if (skipUnset && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
        const re = compilePattern(pattern, true, false, all);
        const v = value ?? '';
        if (all) return goReplaceAll(v, re, replacement);
        const m = re.exec(v);
        return m ? v.slice(0, m.index) + replacement + v.slice(m.index + m[0].length) : v;
      }
      case EOF:
        throw new LexError("syntax error: missing '}'");
      default:
        throw new LexError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  /** processStopOn, turning "ran out of input" into BuildKit's friendlier message. */
  private stopOnOr(stop: string, rawEscapes: boolean, atEof: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (e) {
      if (e instanceof LexError && this.peek() === EOF) throw new LexError(atEof);
      throw e;
    }
  }
}

/**
 * A shell pattern (`*`, `?`, `\` escapes; no brackets) as a RegExp. `.` is
 * spelled `[^\n]` because Go's `.` matches \r and U+2028 where JavaScript's does not.
 */
function compilePattern(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const cps = Array.from(pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < cps.length; i++) {
    const tok = cps[i];
    switch (tok) {
      case '*':
        out += greedy ? '[^\\n]*' : '[^\\n]*?';
        continue;
      case '?':
        out += '[^\\n]';
        continue;
      case '\\': {
        const nx = cps[i + 1];
        if (nx === '}' || nx === '/') continue; // escaped only for ${…} syntax, not part of the pattern
        i++;
        if (nx !== '*' && nx !== '?' && nx !== '\\') {
          throw new LexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${nx ?? ''}'`);
        }
        out += '\\' + nx;
        continue;
      }
      case '[': case ']': case '{': case '}': case '.': case '+': case '(': case ')': case '|': case '^': case '$':
        out += '\\' + tok;
        continue;
      default:
        out += tok;
    }
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = compilePattern(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverse a pattern but keep each `\x` escape pair in order (`a\*c` → `c\*a`). */
function reversePattern(pattern: string): string {
  const r = Array.from(pattern);
  const last = r.length - 1;
  const out = new Array<string>(r.length);
  for (let i = 0; i <= last; ) {
    if (r[i] === '\\' && i !== last) {
      out[last - i - 1] = '\\';
      out[last - i] = r[i + 1];
      i += 2;
    } else {
      out[last - i] = r[i];
      i++;
    }
  }
  return out.join('');
}

const reverse = (s: string): string => Array.from(s).reverse().join('');

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // A regexp cannot find the shortest rightmost match, so match the reversed pattern on the reversed value.
  return reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy));
}

/** Go's Regexp.ReplaceAllString: Go's empty-match rules and `$0` / `$$` template expansion. */
function goReplaceAll(src: string, re: RegExp, template: string): string {
  let out = '';
  let lastEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    re.lastIndex = searchPos;
    const m = re.exec(src);
    if (!m) break;
    const a0 = m.index;
    const a1 = a0 + m[0].length;
    out += src.slice(lastEnd, a0);
    // no replacement for an empty match right after another match
    if (a1 > lastEnd || a0 === 0) out += expandTemplate(template, m[0]);
    lastEnd = a1;
    const cp = src.codePointAt(searchPos);
    const width = cp === undefined ? 0 : cp > 0xffff ? 2 : 1;
    if (searchPos + width > a1) searchPos += width;
    else if (searchPos + 1 > a1) searchPos++;
    else searchPos = a1;
  }
  return out + src.slice(lastEnd);
}

const TEMPLATE_NAME_RE = /[\p{L}\p{Nd}_]*/uy;

/** Go's Regexp.Expand for a pattern without groups: `$0`/`${0}` is the match, `$$` a dollar, other names "". */
function expandTemplate(t: string, match: string): string {
  if (!t.includes('$')) return t;
  let out = '';
  let i = 0;
  while (i < t.length) {
    const j = t.indexOf('$', i);
    if (j < 0) return out + t.slice(i);
    out += t.slice(i, j);
    if (t[j + 1] === '$') {
      out += '$';
      i = j + 2;
      continue;
    }
    const brace = t[j + 1] === '{';
    TEMPLATE_NAME_RE.lastIndex = j + (brace ? 2 : 1);
    const name = TEMPLATE_NAME_RE.exec(t)?.[0] ?? '';
    let k = j + (brace ? 2 : 1) + name.length;
    if (name === '' || (brace && t[k] !== '}')) {
      out += '$';
      i = j + 1;
      continue;
    }
    if (brace) k++;
    if (name === '0') out += match;
    i = k;
  }
  return out;
}

const SPECIAL = /[$'"]/;

function run<T>(word: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof LexError) throw new InvalidArgumentError(`failed to process ${goQuote(word)}: ${e.message}`);
    throw e;
  }
}

/** Expand one word: quotes removed, escapes processed, variables substituted (BuildKit ProcessWordWithMatches). */
export function processWord(word: string, env: EnvLookup, opts: ShellLexOptions = {}): ProcessWordResult {
  // Nothing to expand, unquote or unescape: the common case for paths and names.
  if (!SPECIAL.test(word) && !word.includes(opts.escapeToken ?? '\\')) return { result: word, used: new Set(), unmatched: new Set() };
  const lx = new Lexer(word, lookupOf(env), opts);
  const { result } = run(word, () => lx.processStopOn(EOF, !!opts.rawEscapes));
  return { result, used: lx.used, unmatched: lx.unmatched };
}

/** Expand and split into words on unquoted whitespace, including whitespace from unquoted expansions (BuildKit ProcessWords). */
export function processWords(word: string, env: EnvLookup, opts: ShellLexOptions = {}): string[] {
  const lx = new Lexer(word, lookupOf(env), opts);
  return run(word, () => lx.processStopOn(EOF, !!opts.rawEscapes, true).words);
}

/** A lookup over `KEY=value` strings: a bare `KEY` or `KEY=` is "", the last duplicate wins. */
export function envFromList(list: readonly string[]): (name: string) => string | undefined {
  const m = new Map<string, string>();
  for (const e of list) {
    const i = e.indexOf('=');
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1));
  }
  return (name) => m.get(name);
}
