/**
 * Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity):
 * a decimal number with a binary suffix (Ki Mi Gi Ti Pi Ei), a decimal one
 * (n u m k M G T P E) or an exponent (1e3). Docker's sizes (`512m` = 512 MiB)
 * read differently, so these have their own parser: `500m` here is half a unit.
 */
const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/;

/** The quantity's value in base units (bytes, cores), or undefined when it is not a quantity. */
export function parseQuantity(q: string | number): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  const m = QUANTITY.exec(q.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  return m[2] ? base * 10 ** Number(m[2].slice(1)) : base * SUFFIX[m[3] ?? '']!;
}

/** A memory quantity as whole bytes (rounded up, as Kubernetes does). */
export function memoryBytes(q: string | number): number | undefined {
  const v = parseQuantity(q);
  return v === undefined || v < 0 ? undefined : Math.ceil(v);
}

/** A CPU quantity as the Engine API's NanoCpus (`500m` → 5e8); Kubernetes' finest CPU unit is 1m. */
export function nanoCpus(q: string | number): number | undefined {
  const v = parseQuantity(q);
  return v === undefined || v < 0 ? undefined : Math.round(v * 1000) * 1e6;
}
