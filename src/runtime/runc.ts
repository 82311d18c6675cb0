/** The OCI runtime: Debian's runc, driven through its CLI with Berth's own state root. */
import { ConflictError, InternalError, NotFoundError, UnavailableError } from '../errors';
import { closeSync, constants as fsConstants, openSync, promises as fsp, readSync } from 'node:fs';
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

  /**
   * What `runc start` does for a created container, without spawning runc
   * (~10 ms and a Go runtime's start-up per container): read the exec fifo,
   * which lets `runc init` exec the user's process, then remove the fifo so
   * runc reports the container as running. Falls back to `runc start`.
   */
  async startFast(id: string): Promise<void> {
    const fifo = join(this.root, id, 'exec.fifo');
    let fd: number;
    try {
      // Non-blocking: never parks a thread if runc init died before opening its end.
      fd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | 0o2000000 /* O_CLOEXEC */);
    } catch {
      await this.start(id);
      return;
    }
    try {
      const buf = Buffer.alloc(16);
      const deadline = Date.now() + 2000;
      for (;;) {
        let n = 0;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        }
        if (n > 0) break;
        if (Date.now() > deadline) throw new InternalError(`container ${id} did not start: its init never signalled`);
        await new Promise((r) => setTimeout(r, 1));
      }
    } catch (e) {
      closeSync(fd);
      if (e instanceof InternalError) throw e;
      await this.start(id);
      return;
    }
    closeSync(fd);
    await fsp.rm(fifo, { force: true });
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
      const paths = Object.values(state.cgroup_paths ?? {});
      if (paths.some((p) => !p.startsWith('/sys/fs/cgroup/'))) throw new Error('unexpected cgroup path');
      // One cgroup per v1 hierarchy (a dozen here), removed side by side.
      await Promise.all([
        ...paths.map((p) =>
          fsp.rmdir(p).catch((e: NodeJS.ErrnoException) => {
            if (e.code !== 'ENOENT') throw e;
          }),
        ),
        fsp.rm(dir, { recursive: true, force: true }),
      ]);
    } catch {
      await this.delete(id, true);
    }
  }

  /** Changes a running container's cgroup limits (`runc update` flags, e.g. ['--memory', '67108864']). */
  async update(id: string, flags: string[]): Promise<void> {
    await this.run(['update', ...flags, id]);
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
