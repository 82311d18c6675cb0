/**
 * Compose's variable interpolation (compose-spec "Interpolation"): $VAR,
 * ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
 * ${VAR:+replacement}, ${VAR+replacement}, and $$ for a literal $. A default
 * or replacement may itself hold ${...}.
 */
import { InvalidArgumentError } from '../errors';

export class ComposeError extends InvalidArgumentError {}

export type Lookup = (name: string) => string | undefined;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Expands one string. `unset` is told of variables used without a value
 * (docker compose warns and substitutes an empty string).
 */
export function interpolate(text: string, env: Lookup, where: string, unset: (name: string) => void = () => undefined): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new ComposeError(`${where}: invalid interpolation format for "${text}": missing "}"`);
      out += braced(text.slice(i + 2, end), env, where, unset, text);
      i = end + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (!m) {
      out += '$';
      i++;
      continue;
    }
    const v = env(m[0]);
    if (v === undefined) unset(m[0]);
    out += v ?? '';
    i += 1 + m[0].length;
  }
  return out;
}

/** Index of the "}" that closes a "${" whose body starts at `from`, or -1. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let j = from; j < text.length; j++) {
    if (text[j] === '$' && text[j + 1] === '{') {
      depth++;
      j++;
    } else if (text[j] === '}' && --depth === 0) return j;
  }
  return -1;
}

function braced(body: string, env: Lookup, where: string, unset: (name: string) => void, whole: string): string {
  const m = NAME.exec(body);
  if (!m) throw new ComposeError(`${where}: invalid interpolation format for "${whole}": "\${${body}}" needs a variable name`);
  const name = m[0];
  const rest = body.slice(name.length);
  const value = env(name);
  if (rest === '') {
    if (value === undefined) unset(name);
    return value ?? '';
  }
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest);
  if (!op) throw new ComposeError(`${where}: invalid interpolation format for "${whole}"`);
  const arg = () => interpolate(rest.slice(op[0].length), env, where, unset);
  const empty = value === undefined || value === '';
  switch (op[0]) {
    case ':-':
      return empty ? arg() : value;
    case '-':
      return value === undefined ? arg() : value;
    case ':?':
    case '?':
      if (op[0] === ':?' ? empty : value === undefined) {
        const msg = arg();
        throw new ComposeError(`${where}: required variable ${name} is missing a value${msg ? `: ${msg}` : ''}`);
      }
      return value!;
    case ':+':
      return empty ? '' : arg();
    default:
      return value === undefined ? '' : arg();
  }
}

/**
 * A .env (or env_file) file as compose reads it: KEY=VALUE or KEY: VALUE, `#` comments,
 * optional `export `, single or double quotes (which may span lines), `\n`-style escapes in
 * double quotes, an inline ` #` comment after an unquoted or quoted value, and `${VAR}`
 * expanded in unquoted and double-quoted values from `lookup`, then from the file's earlier
 * lines. A bare KEY line takes its value from `lookup`, and is left out without one.
 */
export function parseEnvFile(text: string, where: string, lookup: Lookup = () => undefined): Map<string, string> {
  const out = new Map<string, string>();
  const env: Lookup = (name) => lookup(name) ?? out.get(name);
  let i = 0;
  const lineAt = (at: number) => text.slice(0, at).split('\n').length;
  const eol = (from: number) => {
    const n = text.indexOf('\n', from);
    return n < 0 ? text.length : n;
  };
  while (i < text.length) {
    // Blank space and comment lines between statements.
    if (/\s/.test(text[i])) {
      i++;
      continue;
    }
    if (text[i] === '#') {
      i = eol(i);
      continue;
    }
    const start = i;
    const exp = /^export[ \t]+/.exec(text.slice(i, eol(i)));
    if (exp) i += exp[0].length;
    const m = /^([^=:\n]*?)[ \t]*(=|:|\n|$)/.exec(text.slice(i));
    const key = m ? m[1].trim() : '';
    if (!m || !/^[A-Za-z0-9_.\-[\]]+$/.test(key)) throw new ComposeError(`${where}:${lineAt(start)}: expected KEY=VALUE, got "${text.slice(start, eol(start)).trim()}"`);
    i += m[0].length;
    if (m[2] !== '=' && m[2] !== ':') {
      const v = lookup(key);
      if (v !== undefined) out.set(key, v);
      continue;
    }
    while (text[i] === ' ' || text[i] === '\t') i++;
    const q = text[i];
    if (q !== '"' && q !== "'") {
      const end = eol(i);
      let v = text.slice(i, end);
      const hash = v.indexOf(' #');
      if (hash >= 0) v = v.slice(0, hash);
      out.set(key, interpolate(v.trimEnd(), env, `${where}:${lineAt(start)}`));
      i = end;
      continue;
    }
    // A quoted value runs to the next unescaped quote, across lines; \<quote> is the quote.
    let raw = '';
    let j = i + 1;
    for (; j < text.length && text[j] !== q; j++) {
      if (text[j] === '\\' && j + 1 < text.length) {
        if (text[j + 1] !== q) raw += '\\';
        raw += text[++j];
      } else raw += text[j];
    }
    if (j >= text.length) throw new ComposeError(`${where}:${lineAt(start)}: unterminated quoted value ${text.slice(i, eol(i))}`);
    out.set(key, q === "'" ? raw : interpolate(unescape(raw), env, `${where}:${lineAt(start)}`));
    i = j + 1;
    // After the closing quote: blanks, then an optional comment, on the same line.
    while (text[i] === ' ' || text[i] === '\t' || text[i] === '\r') i++;
    if (text[i] === '#') i = eol(i);
  }
  return out;
}

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '"': '"', '\\': '\\', $: '$$' };

/** A double-quoted value's escapes, in one pass (`\\n` stays a backslash and an n); `\$` stays a literal dollar. */
function unescape(s: string): string {
  return s.replace(/\\(0[0-7]{3}|[abfnrtv"\\$])/g, (_, c: string) => (c.length === 4 ? String.fromCharCode(parseInt(c.slice(1), 8)) : ESCAPES[c]));
}
