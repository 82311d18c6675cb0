/** The OCI runtime: Debian's runc, driven through its CLI with Berth's own state root. */
import { ConflictError, InternalError, NotFoundError, UnavailableError } from '../errors';
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
