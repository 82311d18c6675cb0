/** Docker's `filters` query parameter: JSON map of name → list (or legacy name → {value: true}). */
import { InvalidArgumentError } from '../errors';

export type Filters = Record<string, string[]>;

export function parseFilters(raw: string | null): Filters {
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new InvalidArgumentError(`invalid filter: ${raw}`);
  }
  const out: Filters = {};
  if (!v || typeof v !== 'object') throw new InvalidArgumentError(`invalid filter: ${raw}`);
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(val)) out[k] = val.map(String);
    else if (val && typeof val === 'object') out[k] = Object.keys(val as object).filter((x) => (val as Record<string, unknown>)[x]);
    else throw new InvalidArgumentError(`invalid filter '${k}'`);
  }
  return out;
}

/** `label=key` or `label=key=value` against a label map. */
export function matchLabel(labels: Record<string, string> | undefined, filter: string): boolean {
  const i = filter.indexOf('=');
  if (i < 0) return labels !== undefined && filter in labels;
  return labels?.[filter.slice(0, i)] === filter.slice(i + 1);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Docker's `until`: a Go duration before now ("24h", "1h30m"), a Unix timestamp, or a date (RFC 3339); seconds since the epoch. */
export function untilSeconds(v: string, nowMs = Date.now()): number {
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) {
    let secs = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) secs += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    return nowMs / 1000 - secs;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`invalid filter 'until=${v}'`);
  return t / 1000;
}

/**
 * A prune's filters, as dockerd reads them: `label` (all must match),
 * `label!` (excluded when all match), `until` (created before), plus the
 * route's own keys in `extra`. Any other key is refused: a filter ignored
 * would make the prune remove more than it was asked to.
 */
export function pruneFilter(raw: string | null, extra: string[] = [], kinds: string[] = ['label', 'label!', 'until']): { filters: Filters; matches: (labels: Record<string, string> | undefined, created: string | undefined) => boolean } {
  const filters = parseFilters(raw);
  for (const k of Object.keys(filters)) if (![...kinds, ...extra].includes(k)) throw new InvalidArgumentError(`invalid filter '${k}'`);
  const until = (filters.until ?? []).map((v) => untilSeconds(v));
  if (until.length > 1) throw new InvalidArgumentError('more than one until filter specified');
  const labels = filters.label ?? [];
  const notLabels = filters['label!'] ?? [];
  return {
    filters,
    matches: (l, created) => {
      if (!labels.every((x) => matchLabel(l, x))) return false;
      if (notLabels.length && notLabels.every((x) => matchLabel(l, x))) return false;
      if (until.length) {
        const t = created ? Date.parse(created) / 1000 : NaN;
        if (!(t < until[0]!)) return false;
      }
      return true;
    },
  };
}
