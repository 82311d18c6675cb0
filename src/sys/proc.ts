/** Process liveness that treats zombies as dead: a container host's init may never reap them. */
import { readFileSync } from 'node:fs';

export function processAlive(pid: number, cmdlineIncludes?: string): boolean {
  if (!(pid > 0)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) [ZX]/s.test(stat)) return false;
    return cmdlineIncludes === undefined || readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cmdlineIncludes);
  } catch {
    return false;
  }
}
