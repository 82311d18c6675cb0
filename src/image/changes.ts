/**
 * `--change` instructions for import and commit (CMD, ENTRYPOINT, ENV,
 * WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL, ONBUILD), applied to an
 * image's run config the way Docker does.
 */
import { InvalidArgumentError } from '../errors';
import type { RunConfig } from './types';

/** JSON array form if it parses as an array of strings, else shell form (`/bin/sh -c`). */
function execOrShell(arg: string): string[] {
  const t = arg.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    } catch {
      // shell form
    }
  }
  return ['/bin/sh', '-c', t];
}

/** Splits `K=V K2="a b"` or the legacy `K V` form into pairs. */
function keyValues(arg: string, what: string): Array<[string, string]> {
  const t = arg.trim();
  const words: string[] = [];
  let cur = '';
  let quote = '';
  let any = false;
  for (let i = 0; i < t.length; i++) {
    const ch = t[i];
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === '\\' && quote === '"' && i + 1 < t.length) cur += t[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (ch === '\\' && i + 1 < t.length) {
      cur += t[++i];
    } else if (/\s/.test(ch)) {
      if (cur || any) words.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (quote) throw new InvalidArgumentError(`${what}: unterminated quote in ${JSON.stringify(arg)}`);
  if (cur || any) words.push(cur);
  if (words.length > 0 && !words[0].includes('=')) {
    // Legacy form: ENV KEY value with spaces
    const sp = t.search(/\s/);
    if (sp < 0) throw new InvalidArgumentError(`${what} names must be followed by a value: ${arg}`);
    return [[t.slice(0, sp), t.slice(sp).trim()]];
  }
  return words.map((w) => {
    const i = w.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`${what}: expected KEY=VALUE, got ${JSON.stringify(w)}`);
    return [w.slice(0, i), w.slice(i + 1)];
  });
}

export function applyChanges(base: RunConfig, changes: string[]): RunConfig {
  const cfg: RunConfig = { ...base };
  for (const change of changes) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(change);
    if (!m) throw new InvalidArgumentError(`invalid change: ${JSON.stringify(change)}`);
    const instr = m[1].toUpperCase();
    const arg = m[2];
    switch (instr) {
      case 'CMD':
        cfg.Cmd = execOrShell(arg);
        break;
      case 'ENTRYPOINT':
        cfg.Entrypoint = execOrShell(arg);
        break;
      case 'ENV': {
        const env = [...(cfg.Env ?? [])];
        for (const [k, v] of keyValues(arg, 'ENV')) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        cfg.Env = env;
        break;
      }
      case 'LABEL': {
        cfg.Labels = { ...(cfg.Labels ?? {}) };
        for (const [k, v] of keyValues(arg, 'LABEL')) cfg.Labels[k] = v;
        break;
      }
      case 'WORKDIR':
        cfg.WorkingDir = arg.trim();
        break;
      case 'USER':
        cfg.User = arg.trim();
        break;
      case 'STOPSIGNAL':
        cfg.StopSignal = arg.trim();
        break;
      case 'EXPOSE': {
        cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of arg.trim().split(/\s+/).filter(Boolean)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(p)) throw new InvalidArgumentError(`invalid port for EXPOSE: ${p}`);
          cfg.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {};
        }
        break;
      }
      case 'VOLUME': {
        cfg.Volumes = { ...(cfg.Volumes ?? {}) };
        const t = arg.trim();
        const list = t.startsWith('[') ? (JSON.parse(t) as string[]) : t.split(/\s+/).filter(Boolean);
        for (const v of list) cfg.Volumes[v] = {};
        break;
      }
      case 'ONBUILD':
        cfg.OnBuild = [...(cfg.OnBuild ?? []), arg.trim()];
        break;
      default:
        throw new InvalidArgumentError(`${instr} is not a valid change command`);
    }
  }
  return cfg;
}
