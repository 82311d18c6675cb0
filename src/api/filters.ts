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
