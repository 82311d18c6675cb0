/**
 * The few iptables operations the network module does itself (per-network
 * NAT, DNS redirection and isolation; leftovers sweeping). Per-container rules
 * are the CNI plugins' business. Every rule Berth adds carries a comment tag
 * so it can be found and removed again without touching anyone else's.
 */
import { execFile } from '../sys/exec';
import { InternalError } from '../errors';

const IPTABLES = '/usr/sbin/iptables';
const IPTABLES_RESTORE = '/usr/sbin/iptables-restore';

export type Table = 'filter' | 'nat';

export async function iptables(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execFile(IPTABLES, ['-w', '5', ...args]);
}

/** Adds a rule unless an identical one exists; `insert` puts it first in the chain. */
export async function ensureRule(table: Table, chain: string, spec: string[], insert = false): Promise<void> {
  const c = await iptables(['-t', table, '-C', chain, ...spec]);
  if (c.code === 0) return;
  const r = await iptables(['-t', table, insert ? '-I' : '-A', chain, ...(insert ? ['1'] : []), ...spec]);
  if (r.code !== 0) throw new InternalError(`iptables -t ${table} ${insert ? '-I' : '-A'} ${chain} ${spec.join(' ')}: ${r.stderr.trim()}`);
}

/** Deletes one rule; a rule already gone is fine. */
export async function deleteRule(table: Table, chain: string, spec: string[]): Promise<void> {
  await iptables(['-t', table, '-D', chain, ...spec]);
}

/** The `-A ...` lines of a table as iptables -S prints them. */
export async function listRules(table: Table): Promise<string[]> {
  const r = await iptables(['-t', table, '-S']);
  if (r.code !== 0) return [];
  return r.stdout.split('\n').filter((l) => l.startsWith('-A '));
}

/**
 * Deletes every rule of `table` for which `match` is true (lines as
 * iptables -S prints them), in one iptables-restore --noflush batch, then
 * line by line if the batch fails (a rule removed meanwhile). Returns how
 * many were deleted.
 */
export async function deleteRulesWhere(table: Table, match: (line: string) => boolean): Promise<number> {
  const lines = (await listRules(table)).filter(match).map((l) => `-D ${l.slice(3)}`);
  if (!lines.length) return 0;
  const batch = (ls: string[]) => execFile(IPTABLES_RESTORE, ['-w', '5', '--noflush'], { input: `*${table}\n${ls.join('\n')}\nCOMMIT\n` });
  if ((await batch(lines)).code === 0) return lines.length;
  let n = 0;
  for (const l of lines) if ((await batch([l])).code === 0) n++;
  return n;
}

/** Deletes user chains that are empty and that no rule jumps to, among `names`. */
export async function deleteEmptyChains(table: Table, names: (chain: string) => boolean): Promise<void> {
  const r = await iptables(['-t', table, '-S']);
  if (r.code !== 0) return;
  const lines = r.stdout.split('\n');
  const chains = lines.filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim());
  for (const ch of chains) {
    if (!names(ch)) continue;
    const used = lines.some((l) => l.startsWith(`-A ${ch} `) || l.endsWith(` -j ${ch}`) || l.includes(` -j ${ch} `) || l.includes(` -g ${ch}`));
    if (!used) await iptables(['-t', table, '-X', ch]);
  }
}

/** The default policy of a built-in chain ("ACCEPT", "DROP"), or undefined if unreadable. */
export async function chainPolicy(table: Table, chain: string): Promise<string | undefined> {
  const r = await iptables(['-t', table, '-S', chain]);
  const m = /^-P \S+ (\S+)/m.exec(r.stdout);
  return m?.[1];
}

/** Whether an iptables -S line carries `--comment <tag>` (iptables quotes comments, some versions always). */
export function hasComment(line: string, tag: string): boolean {
  return line.includes(`--comment ${tag} `) || line.includes(`--comment "${tag}"`) || line.endsWith(`--comment ${tag}`);
}
