/** Signal names and numbers as `docker kill -s` and STOPSIGNAL accept them (Linux x86/arm numbering). */
import { constants } from 'node:os';
import { InvalidArgumentError } from '../errors';

export function signalNumber(sig: string | number): number {
  if (typeof sig === 'number') return sig;
  const s = sig.trim().toUpperCase();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > 64) throw new InvalidArgumentError(`Invalid signal: ${sig}`);
    return n;
  }
  const name = s.startsWith('SIG') ? s : `SIG${s}`;
  const m = /^SIGRTMIN(?:\+(\d+))?$/.exec(name);
  if (m) return 34 + Number(m[1] ?? 0);
  const n = (constants.signals as Record<string, number>)[name];
  if (n === undefined) throw new InvalidArgumentError(`Invalid signal: ${sig}`);
  return n;
}
