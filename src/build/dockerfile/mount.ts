/** RUN --mount=… and --device=… values (BuildKit's commands_runmount.go / commands_rundevice.go). */
import { withSuggestion } from './text';

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type ShareMode = 'shared' | 'private' | 'locked';

export interface Mount {
  type: MountType;
  from?: string;
  source?: string;
  target?: string;
  readOnly: boolean;
  /** tmpfs size in bytes (0 = unlimited). */
  sizeLimit: number;
  /** cache/secret `id`. */
  cacheId?: string;
  cacheSharing?: ShareMode;
  required: boolean;
  /** secret: the environment variable to expose it as. */
  env?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface Device {
  name: string;
  required: boolean;
}

const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARE_MODES: readonly ShareMode[] = ['shared', 'private', 'locked'];
const MOUNT_KEYS = [
  'type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid',
  'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env',
];

/** One CSV record as Go's encoding/csv reads it: `"…"` fields with `""` for a quote. */
export function csvFields(line: string): string[] {
  let s = line.endsWith('\r\n') ? line.slice(0, -2) : line.endsWith('\n') ? line.slice(0, -1) : line;
  if (s === '') throw new Error('EOF');
  const out: string[] = [];
  for (;;) {
    if (!s.startsWith('"')) {
      const i = s.indexOf(',');
      const field = i < 0 ? s : s.slice(0, i);
      if (field.includes('"')) throw new Error('bare " in non-quoted-field');
      out.push(field);
      if (i < 0) return out;
      s = s.slice(i + 1);
      continue;
    }
    let field = '';
    s = s.slice(1);
    for (;;) {
      const i = s.indexOf('"');
      if (i < 0) throw new Error('extraneous or missing " in quoted-field');
      field += s.slice(0, i);
      s = s.slice(i + 1);
      if (s.startsWith('"')) {
        field += '"';
        s = s.slice(1);
      } else if (s.startsWith(',')) {
        out.push(field);
        s = s.slice(1);
        break;
      } else if (s === '') {
        out.push(field);
        return out;
      } else throw new Error('extraneous or missing " in quoted-field');
    }
  }
}

/** Go's strconv.ParseBool. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** docker/go-units RAMInBytes: `64m`, `1.5GiB`, `100` (binary multiples). */
export function ramInBytes(size: string): number {
  const sep = Math.max(...Array.from('0123456789. ', (c) => size.lastIndexOf(c)));
  if (sep < 0) throw new Error(`invalid size: '${size}'`);
  const num = size[sep] === ' ' ? size.slice(0, sep) : size.slice(0, sep + 1);
  const sfx = size.slice(sep + 1);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(num)) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(num)}: invalid syntax`);
  const n = Number(num);
  if (n < 0) throw new Error(`invalid size: '${size}'`);
  if (sfx === '') return Math.trunc(n);
  const s = sfx.toLowerCase();
  const bad = new Error(`invalid suffix: '${s}'`);
  if (s.length > 3) throw new Error(`invalid suffix: '${sfx}'`);
  if (s[0] === 'b') {
    if (s.length > 1) throw bad;
    return Math.trunc(n);
  }
  const power = 'kmgtp'.indexOf(s[0]);
  if (power < 0 || (s.length === 2 && s[1] !== 'b') || (s.length === 3 && s.slice(1) !== 'ib')) throw bad;
  return Math.trunc(n * 1024 ** (power + 1));
}

function parseUint(v: string, radix: 8 | 10, what: string): number {
  const ok = radix === 8 ? /^[0-7]+$/.test(v) : /^\d+$/.test(v);
  const n = ok ? parseInt(v, radix) : NaN;
  if (!ok || n > 0xffffffff) throw new Error(`invalid value ${v} for ${what}`);
  return n;
}

/**
 * Parse one --mount value. `expand` is applied to every value, as BuildKit does
 * at build time; without it only the "no variables in from=" rule is checked
 * and the remaining fields are taken as written.
 */
export function parseMount(spec: string, expand?: (word: string) => string): Mount {
  let fields: string[];
  try {
    fields = csvFields(spec);
  } catch (e) {
    throw new Error(`failed to parse csv mounts: ${e instanceof Error ? e.message : String(e)}`);
  }
  const m: Mount = { type: 'bind', readOnly: false, sizeLimit: 0, required: false };
  let roAuto = true;
  const bool = (key: string, value: string): boolean => {
    const b = parseGoBool(value);
    if (b === undefined) throw new Error(`invalid value for ${key}: ${value}`);
    return b;
  };
  const onlyFor = (key: string, ok: boolean): void => {
    if (!ok) throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
  };
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    let value = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0) {
      if (!expand) continue;
      if (key === 'readonly' || key === 'ro' || key === 'readwrite' || key === 'rw') {
        m.readOnly = key === 'readonly' || key === 'ro';
        roAuto = false;
        continue;
      }
      if (key === 'required') {
        onlyFor(key, m.type === 'secret' || m.type === 'ssh');
        m.required = true;
        continue;
      }
      throw new Error(`invalid field '${field}' must be a key=value pair`);
    }
    if (expand) value = expand(value);
    else if (key === 'from') {
      const i = value.indexOf('$');
      if (i !== -1 && i !== value.length - 1) throw new Error(`'${key}' doesn't support variable expansion, define alias stage instead`);
    }
    if (!expand && key !== 'from') continue;
    switch (key) {
      case 'type': {
        const t = value.toLowerCase() as MountType;
        if (!MOUNT_TYPES.includes(t)) throw new Error(withSuggestion(`unsupported mount type ${JSON.stringify(value)}`, value, MOUNT_TYPES, true));
        m.type = t;
        break;
      }
      case 'from':
        m.from = value;
        break;
      case 'source':
      case 'src':
        m.source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = value;
        break;
      case 'readonly':
      case 'ro':
        m.readOnly = bool(key, value);
        roAuto = false;
        break;
      case 'readwrite':
      case 'rw':
        m.readOnly = !bool(key, value);
        roAuto = false;
        break;
      case 'required':
        onlyFor(key, m.type === 'secret' || m.type === 'ssh');
        m.required = bool(key, value);
        break;
      case 'size':
        onlyFor(key, m.type === 'tmpfs');
        try {
          m.sizeLimit = ramInBytes(value);
        } catch {
          throw new Error(`invalid value for ${key}: ${value}`);
        }
        break;
      case 'id':
        m.cacheId = value;
        break;
      case 'sharing': {
        const s = value.toLowerCase() as ShareMode;
        if (!SHARE_MODES.includes(s)) throw new Error(withSuggestion(`unsupported sharing value ${JSON.stringify(value)}`, value, SHARE_MODES, true));
        m.cacheSharing = s;
        break;
      }
      case 'mode':
        m.mode = parseUint(value, 8, 'mode');
        break;
      case 'uid':
        m.uid = parseUint(value, 10, 'uid');
        break;
      case 'gid':
        m.gid = parseUint(value, 10, 'gid');
        break;
      case 'env':
        m.env = value;
        break;
      default:
        throw new Error(withSuggestion(`unexpected key '${key}' in '${field}'`, key, MOUNT_KEYS, true));
    }
  }
  if (m.type !== 'secret' && m.type !== 'ssh' && m.type !== 'cache') {
    for (const k of ['mode', 'uid', 'gid'] as const) {
      if (m[k] !== undefined) throw new Error(`${k} not allowed for ${JSON.stringify(m.type)} type mounts`);
    }
  }
  if (roAuto) m.readOnly = m.type !== 'cache' && m.type !== 'tmpfs';
  if (m.type === 'secret') {
    if (m.from) throw new Error('secret mount should not have a from');
    if (m.cacheSharing) throw new Error('secret mount should not define sharing');
    if (!m.source && !m.target && !m.cacheId) throw new Error('invalid secret mount. one of source, target required');
    if (m.source && m.cacheId) throw new Error("both source and id can't be set");
  }
  if (m.cacheSharing && m.type !== 'cache') throw new Error(`invalid cache sharing set for ${m.type} mount`);
  return m;
}

/** Parse one --device value: `name[,required]` or `name=…,required=…`. */
export function parseDevice(spec: string): Device {
  let fields: string[];
  try {
    fields = csvFields(spec);
  } catch (e) {
    throw new Error(`failed to parse csv devices: ${e instanceof Error ? e.message : String(e)}`);
  }
  const d: Device = { name: '', required: false };
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0 && key === 'required') d.required = true;
    else if (key === 'name' && eq >= 0) {
      if (d.name) throw new Error(`device name already set to ${d.name}`);
      d.name = value;
    } else if (key === 'required') {
      const b = parseGoBool(value);
      if (b === undefined) throw new Error(`invalid value for ${key}: ${value}`);
      d.required = b;
    } else if (!d.name) d.name = field;
    else if (eq < 0) throw new Error(`invalid field '${field}' must be a key=value pair`);
    else throw new Error(withSuggestion(`unexpected key '${key}' in '${field}'`, key, ['name', 'required'], true));
  }
  return d;
}
