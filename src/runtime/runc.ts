/** The OCI runtime: Debian's runc, driven through its CLI with Berth's own state root. */
import { ConflictError, InternalError, NotFoundError, UnavailableError } from '../errors';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { execFile, findBinary } from '../sys/exec';

export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
}

export class Runc {
  readonly bin: string;

  constructor(readonly root: string, bin?: string) {
    const found = bin ?? findBinary(['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc']);
    if (!found) throw new UnavailableError('runc not found: install the Debian package runc (npm run setup does)');
    this.bin = found;
  }

  private async run(args: string[]): Promise<string> {
    const r = await execFile(this.bin, [`--root=${this.root}`, ...args]);
    if (r.code !== 0) {
      const msg = cleanRuncError(r.stderr) || `runc ${args[0]} exited with ${r.code}`;
      if (/does not exist|not exist/.test(msg)) throw new NotFoundError(msg);
      if (/not running|not paused|cannot (start|pause|resume)/.test(msg)) throw new ConflictError(msg);
      throw new InternalError(msg);
    }
    return r.stdout;
  }

  start(id: string): Promise<string> {
    return this.run(['start', id]);
  }

  async kill(id: string, signal: string | number, all = false): Promise<void> {
    await this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  async delete(id: string, force = false): Promise<void> {
    try {
      await this.run(['delete', ...(force ? ['--force'] : []), id]);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  /**
   * Cleans up after a container whose init has exited, without spawning runc:
   * what `runc delete` does for a stopped container (remove its cgroups and
   * state dir). Falls back to `runc delete --force` when anything is left,
   * e.g. a cgroup still holding a process.
   */
  async reap(id: string): Promise<void> {
    const dir = join(this.root, id);
    let state: { cgroup_paths?: Record<string, string> } | undefined;
    try {
      state = JSON.parse(await fsp.readFile(join(dir, 'state.json'), 'utf8')) as { cgroup_paths?: Record<string, string> };
    } catch {
      return;
    }
    try {
      for (const path of Object.values(state.cgroup_paths ?? {})) {
        if (!path.startsWith('/sys/fs/cgroup/')) throw new Error('unexpected cgroup path');
        await fsp.rmdir(path).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
      }
      await fsp.rm(dir, { recursive: true, force: true });
    } catch {
      await this.delete(id, true);
    }
  }

  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  async state(id: string): Promise<RuncState | undefined> {
    try {
      return JSON.parse(await this.run(['state', id])) as RuncState;
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  /** Host PIDs of every process in the container. */
  async pids(id: string): Promise<number[]> {
    const out = await this.run(['ps', '--format', 'json', id]);
    return (JSON.parse(out) as number[] | null) ?? [];
  }

  async version(): Promise<string> {
    const r = await execFile(this.bin, ['--version']);
    return r.stdout.trim();
  }
}

/** runc prints logrus lines (`time=... level=error msg="..."`); users want the msg. */
export function cleanRuncError(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const msgs = lines.map((l) => {
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(l);
    return m ? m[1].replace(/\\"/g, '"').replace(/\\\\/g, '\\') : l;
  });
  return msgs.join('; ');
}
