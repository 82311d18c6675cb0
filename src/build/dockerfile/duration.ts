/** Go's time.ParseDuration (HEALTHCHECK --interval=1m30s), in nanoseconds. */

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const MAX_NS = 9223372036854775807;

export function parseGoDuration(s: string): number {
  const quoted = JSON.stringify(s);
  const invalid = (): Error => new Error(`time: invalid duration ${quoted}`);
  let rest = s;
  let neg = false;
  if (rest[0] === '-' || rest[0] === '+') {
    neg = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid();
  let total = 0;
  while (rest !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(rest);
    const int = m?.[1] ?? '';
    const frac = m?.[2];
    if (!m || (int === '' && (frac === undefined || frac === ''))) throw invalid();
    rest = rest.slice(m[0].length);
    const u = /^[^\d.]*/.exec(rest)?.[0] ?? '';
    if (u === '') throw new Error(`time: missing unit in duration ${quoted}`);
    const scale = UNITS[u];
    if (scale === undefined) throw new Error(`time: unknown unit ${JSON.stringify(u)} in duration ${quoted}`);
    rest = rest.slice(u.length);
    total += Number(int || '0') * scale + (frac ? Number(`0.${frac}`) * scale : 0);
    if (total > MAX_NS) throw invalid();
  }
  return Math.round(neg ? -total : total);
}
