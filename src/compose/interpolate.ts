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

/** A .env file: KEY=VALUE lines, `#` comments, optional `export `, single or double quotes. */
export function parseEnvFile(text: string, where: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, n) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new ComposeError(`${where}:${n + 1}: expected KEY=VALUE, got "${line}"`);
    let v = m[2];
    if (v.length >= 2 && ((v[0] === '"' && v.endsWith('"')) || (v[0] === "'" && v.endsWith("'")))) {
      const q = v[0];
      v = v.slice(1, -1);
      if (q === '"') v = v.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    } else {
      // An unquoted value ends at an inline comment.
      const hash = v.search(/\s#/);
      if (hash >= 0) v = v.slice(0, hash).trimEnd();
    }
    out.set(m[1], v);
  });
  return out;
}
