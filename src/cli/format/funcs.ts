/**
 * Template functions: Go's text/template builtins and Docker CLI's extras
 * (docker/cli templates/templates.go), over untyped JS values.
 */
import { fmtValue, goType, sprint, sprintf, sprintln } from './printf';

export type TemplateFunc = (...args: unknown[]) => unknown;

/** Argument type/count errors, which Go reports without "error calling X:". */
export class ArgError extends Error {}

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false. */
export function isTrue(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (v instanceof Map || v instanceof Set) return v.size > 0;
  if (typeof v !== 'object') return true;
  // Plain objects are Go maps (empty = false); class instances are structs (always true).
  const proto: unknown = Object.getPrototypeOf(v);
  return proto !== Object.prototype && proto !== null ? true : Object.keys(v).length > 0;
}

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) throw new ArgError('invalid value; expected string');
  throw new ArgError(`wrong type for value; expected string; got ${goType(v)}`);
}

function int(v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (v === null || v === undefined) throw new ArgError('invalid value; expected int');
  throw new ArgError(`wrong type for value; expected int; got ${goType(v)}`);
}

/** Go's indexArg: an int index in [0, len] (callers reject len where needed). */
function indexArg(key: unknown, len: number): number {
  if (key === null || key === undefined) throw new Error('cannot index slice/array with nil');
  if (typeof key !== 'number' || !Number.isInteger(key)) throw new Error(`cannot index slice/array with type ${goType(key)}`);
  if (key < 0 || key > len) throw new Error(`index out of range: ${key}`);
  return key;
}

/**
 * Zero value for a missing map key. Go returns the zero of the map's element
 * type; JSON has no types, so infer it from the other values. Empty or string
 * maps (labels, options — the usual `index` targets) give "" as Docker does.
 */
function zeroOf(values: Iterable<unknown>): unknown {
  const all = [...values];
  if (all.every((v) => typeof v === 'string')) return '';
  if (all.every((v) => typeof v === 'number')) return 0;
  if (all.every((v) => typeof v === 'boolean')) return false;
  return null;
}

function index(item: unknown, ...keys: unknown[]): unknown {
  for (const key of keys) {
    if (typeof item === 'string' || Array.isArray(item)) {
      const x = indexArg(key, item.length);
      if (x === item.length) throw new Error(`index out of range: ${x}`);
      item = typeof item === 'string' ? item.charCodeAt(x) : item[x];
    } else if (item instanceof Map) {
      item = item.has(key) ? item.get(key) : zeroOf(item.values());
    } else if (item === null || item === undefined || typeof item === 'object') {
      // A nil map indexes to its zero value; a nil slice or untyped nil does not.
      if (typeof key !== 'string') {
        if (item == null) throw new Error('index of untyped nil');
        throw new Error(`value has type ${goType(key)}; should be string`);
      }
      const obj = (item ?? {}) as Record<string, unknown>;
      item = Object.hasOwn(obj, key) ? obj[key] : zeroOf(Object.values(obj));
    } else {
      throw new Error(`can't index item of type ${goType(item)}`);
    }
  }
  return item;
}

function slice(item: unknown, ...idx: unknown[]): unknown {
  if (item === null || item === undefined) throw new Error('slice of untyped nil');
  if (idx.length > 3) throw new Error(`too many slice indexes: ${idx.length}`);
  if (typeof item !== 'string' && !Array.isArray(item)) throw new Error(`can't slice item of type ${goType(item)}`);
  if (typeof item === 'string' && idx.length === 3) throw new Error('cannot 3-index slice a string');
  const x = [0, item.length, item.length];
  idx.forEach((v, i) => (x[i] = indexArg(v, item.length)));
  if (x[0] > x[1]) throw new Error(`invalid slice index: ${x[0]} > ${x[1]}`);
  if (idx.length === 3 && x[1] > x[2]) throw new Error(`invalid slice index: ${x[1]} > ${x[2]}`);
  return item.slice(x[0], x[1]);
}

function len(v: unknown): number {
  // Lenient: a null/missing collection is Go's nil slice or map, of length 0.
  if (v === null || v === undefined) return 0;
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (Array.isArray(v)) return v.length;
  if (v instanceof Map || v instanceof Set) return v.size;
  if (typeof v === 'object') return Object.keys(v).length;
  throw new Error(`len of type ${goType(v)}`);
}

type Kind = 'nil' | 'bool' | 'num' | 'string' | 'other';
function kind(v: unknown): Kind {
  if (v === null || v === undefined) return 'nil';
  const t = typeof v;
  return t === 'boolean' ? 'bool' : t === 'number' ? 'num' : t === 'string' ? 'string' : 'other';
}

function eq(a: unknown, ...bs: unknown[]): boolean {
  if (bs.length === 0) throw new Error('missing argument for comparison');
  const ka = kind(a);
  for (const b of bs) {
    const kb = kind(b);
    if (ka === 'nil' || kb === 'nil') {
      if (ka === kb) return true;
    } else if (ka !== kb) {
      throw new Error('incompatible types for comparison');
    } else if (ka === 'other') {
      throw new Error(`non-comparable type ${fmtValue(a)}: ${goType(a)}`);
    } else if (a === b) {
      return true;
    }
  }
  return false;
}

function lt(a: unknown, b: unknown): boolean {
  const ka = kind(a);
  const kb = kind(b);
  if (ka === 'nil' || ka === 'other' || kb === 'nil' || kb === 'other') throw new Error('invalid type for comparison');
  if (ka !== kb) throw new Error('incompatible types for comparison');
  if (ka === 'bool') throw new Error('invalid type for comparison');
  return (a as number | string) < (b as number | string);
}

/** The string form Go's html/js/urlquery escape: a lone string, else Sprint. */
const evalArgs = (args: unknown[]): string => (args.length === 1 && typeof args[0] === 'string' ? args[0] : sprint(args));

const HTML_ESC: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&#34;', '\0': '\uFFFD' };
const JS_ESC: Record<string, string> = { '\\': '\\\\', "'": "\\'", '"': '\\"', '<': '\\u003C', '>': '\\u003E', '&': '\\u0026', '=': '\\u003D' };

/** Go's json.Encoder with SetEscapeHTML(false), as docker's `json` uses. */
export function goJSON(v: unknown): string {
  const s = JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? Object.fromEntries(x) : x));
  return (s ?? 'null').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** strings.Title: upper-case letters that follow a separator. */
function title(s: string): string {
  let prevSep = true;
  let out = '';
  for (const ch of s) {
    out += prevSep ? ch.toUpperCase() : ch;
    prevSep = ch <= '\x7f' ? !/[0-9A-Za-z_]/.test(ch) : !/[\p{L}\p{Nd}]/u.test(ch) && /\s/u.test(ch);
  }
  return out;
}

export const builtins: Record<string, TemplateFunc> = {
  // Placeholders: the executor evaluates and/or itself, lazily.
  and: () => undefined,
  or: () => undefined,
  not: (a) => !isTrue(a),
  len,
  index,
  slice,
  eq,
  ne: (a, b) => !eq(a, b),
  lt,
  le: (a, b) => lt(a, b) || eq(a, b),
  gt: (a, b) => !(lt(a, b) || eq(a, b)),
  ge: (a, b) => !lt(a, b),
  print: (...a) => sprint(a),
  println: (...a) => sprintln(a),
  printf: (f, ...a) => sprintf(str(f), a),
  html: (...a) => evalArgs(a).replace(/[<>&'"\0]/g, (c) => HTML_ESC[c]),
  js: (...a) =>
    evalArgs(a).replace(/[\\'"<>&=]|[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/gu, (c) =>
      JS_ESC[c] ?? `\\u${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`,
    ),
  urlquery: (...a) =>
    encodeURIComponent(evalArgs(a))
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replace(/%20/g, '+'),
  json: (v) => goJSON(v),
  split: (s, sep) => (str(sep) === '' ? [...str(s)] : str(s).split(str(sep))),
  join: (a, sep) => {
    if (a === null || a === undefined) return '';
    if (!Array.isArray(a)) throw new ArgError(`wrong type for value; expected []string; got ${goType(a)}`);
    return a.map((e) => (typeof e === 'string' ? e : fmtValue(e))).join(str(sep));
  },
  title: (s) => title(str(s)),
  lower: (s) => str(s).toLowerCase(),
  upper: (s) => str(s).toUpperCase(),
  pad: (s, l, r) => (str(s) === '' ? '' : ' '.repeat(Math.max(0, int(l))) + str(s) + ' '.repeat(Math.max(0, int(r)))),
  truncate: (s, n) => [...str(s)].slice(0, Math.max(0, int(n))).join(''),
};

/** [min, max] argument counts of the functions above (max -1: variadic). */
export const ARITY: Record<string, [number, number]> = {
  and: [1, -1], or: [1, -1], not: [1, 1], len: [1, 1], index: [1, -1], slice: [1, -1],
  eq: [1, -1], ne: [2, 2], lt: [2, 2], le: [2, 2], gt: [2, 2], ge: [2, 2],
  print: [0, -1], println: [0, -1], printf: [1, -1], html: [0, -1], js: [0, -1], urlquery: [0, -1],
  json: [1, 1], split: [2, 2], join: [2, 2], title: [1, 1], lower: [1, 1], upper: [1, 1], pad: [3, 3], truncate: [2, 2],
};

/** Docker's HeaderFunctions: when rendering table headers, its functions pass the header through. */
export const headerFuncs: Record<string, TemplateFunc> = Object.fromEntries(
  ['json', 'split', 'join', 'title', 'lower', 'upper', 'pad', 'truncate'].map((n) => [n, (v: unknown) => v]),
);
