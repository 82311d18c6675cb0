/**
 * berthd's side of the per-network resolvers: writes their config and hosts
 * files, starts them detached, finds them again after a restart (pid file +
 * /proc cmdline), and stops them when the network goes away.
 */
import { spawn } from 'node:child_process';
import { promises as fsp, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../../sys/proc';
import { atomicWrite } from '../../sys/fsutil';
import { InternalError } from '../../errors';
import type { HostsTable, ResolverConfig } from './server';

export interface ResolverHandle {
  pid: number;
  port: number;
}


async function readNumber(path: string): Promise<number> {
  return Number((await fsp.readFile(path, 'utf8').catch(() => '')).trim()) || 0;
}

/** The resolver's tables: rewritten by the manager on every start, so no fsync on the attach path. */
function writeHostsFile(path: string, data: string): Promise<void> {
  return atomicWrite(path, data, 0o644, { durable: false });
}

export class DnsControl {
  constructor(
    /** <root>/networks/dns */
    private readonly base: string,
    /** argv prefix that runs runDnsResolver(<dir>) when the state dir is appended. */
    private readonly command: string[],
  ) {}

  dir(networkId: string): string {
    return join(this.base, networkId);
  }

  /** The running resolver of a network, if any. */
  async running(networkId: string): Promise<ResolverHandle | undefined> {
    const dir = this.dir(networkId);
    const pid = await readNumber(join(dir, 'pid'));
    if (!pid || !processAlive(pid, dir)) return undefined;
    const port = await readNumber(join(dir, 'port'));
    return port ? { pid, port } : undefined;
  }

  /** Starts the resolver unless it runs; returns where it listens. The config is rewritten either way. */
  async ensure(networkId: string, cfg: Omit<ResolverConfig, 'port'>): Promise<ResolverHandle> {
    const dir = this.dir(networkId);
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    const prevPort = await readNumber(join(dir, 'port'));
    const config: ResolverConfig = { ...cfg, port: prevPort };
    await writeHostsFile(join(dir, 'config.json'), JSON.stringify(config));
    if (!(await fsp.stat(join(dir, 'hosts.json')).catch(() => undefined))) await this.setHosts(networkId, { names: {} });
    const live = await this.running(networkId);
    if (live) return live;
    await fsp.rm(join(dir, 'port'), { force: true });
    await fsp.rm(join(dir, 'pid'), { force: true });
    return this.start(dir);
  }

  private async start(dir: string): Promise<ResolverHandle> {
    const logFd = openSync(join(dir, 'resolver.log'), 'a', 0o600);
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS; // ~50 ms of startup for nothing
    delete env.NODE_OPTIONS;
    const [bin, ...args] = this.command;
    const child = spawn(bin!, [...args, dir], { detached: true, stdio: ['ignore', 'ignore', logFd], env, cwd: '/' });
    closeSync(logFd);
    let exited: string | undefined;
    child.on('exit', (code, sig) => (exited = sig ?? String(code)));
    child.on('error', (e) => (exited = e.message));
    child.unref();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const port = await readNumber(join(dir, 'port'));
      if (port && child.pid) return { pid: child.pid, port };
      if (exited !== undefined) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    if (exited === undefined) child.kill('SIGKILL');
    const log = await fsp.readFile(join(dir, 'resolver.log'), 'utf8').catch(() => '');
    throw new InternalError(`the DNS resolver for ${dir} did not start (${exited ?? 'timeout'}): ${log.trim().split('\n').slice(-3).join(' | ')}`);
  }

  /** Replaces the names table the resolver answers from (it notices the new inode on its next query). */
  async setHosts(networkId: string, table: HostsTable): Promise<void> {
    const dir = this.dir(networkId);
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    await writeHostsFile(join(dir, 'hosts.json'), JSON.stringify(table));
  }

  /** Stops the resolver and deletes its state directory. */
  async remove(networkId: string): Promise<void> {
    const live = await this.running(networkId);
    if (live) {
      try {
        process.kill(live.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      for (let i = 0; i < 200 && processAlive(live.pid); i++) await new Promise((r) => setTimeout(r, 5));
      if (processAlive(live.pid)) process.kill(live.pid, 'SIGKILL');
    }
    await fsp.rm(this.dir(networkId), { recursive: true, force: true });
  }

  /** IDs of networks that have a resolver state directory. */
  async known(): Promise<string[]> {
    return fsp.readdir(this.base).catch(() => []);
  }
}
