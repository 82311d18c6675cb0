/**
 * conmon: one monitor process per container (and per exec session). It runs
 * `runc create`/`runc exec`, holds the container's stdio, writes its log and
 * its exit code to a file, and outlives berthd, so containers keep running
 * across a daemon restart.
 */
import { spawn } from 'node:child_process';
import { InternalError, UnavailableError } from '../errors';
import { findBinary } from '../sys/exec';
import { cleanRuncError } from './runc';

export interface ConmonOptions {
  /** Container ID (runc's ID; for exec the target container). */
  cid: string;
  /** Unique ID of this monitor (container or exec session); names its attach socket dir. */
  uuid: string;
  name: string;
  bundle: string;
  runtime: string;
  runtimeRoot: string;
  logPath: string;
  logSizeMax: number;
  exitDir: string;
  socketDir: string;
  pidFile: string;
  conmonPidFile: string;
  terminal: boolean;
  stdin: boolean;
  leaveStdinOpen: boolean;
  /** For `exec`: path of the runtime-spec process JSON. */
  execProcessSpec?: string;
  /** false: skip conmon's fsync of the log at exit (for logs deleted with their container). */
  syncLog?: boolean;
}

export class RuntimeStartError extends InternalError {}

let conmonBin: string | undefined;
export function conmonPath(): string {
  conmonBin ??= findBinary(['/usr/bin/conmon', '/usr/libexec/podman/conmon', '/usr/local/bin/conmon']);
  if (!conmonBin) throw new UnavailableError('conmon not found: install the Debian package conmon (npm run setup does)');
  return conmonBin;
}

export function conmonArgs(o: ConmonOptions): string[] {
  const args = [
    '--api-version', '1',
    '-c', o.cid,
    '-u', o.uuid,
    '-n', o.name,
    '-r', o.runtime,
    '-b', o.bundle,
    '-p', o.pidFile,
    '-P', o.conmonPidFile,
    '-l', `k8s-file:${o.logPath}`,
    '--log-size-max', String(o.logSizeMax),
    '--exit-dir', o.exitDir,
    '--socket-dir-path', o.socketDir,
    '--persist-dir', o.bundle,
    '--log-level', 'error',
    '--runtime-arg', `--root=${o.runtimeRoot}`,
  ];
  if (o.terminal) args.push('-t');
  if (o.stdin) args.push('-i');
  if (o.leaveStdinOpen) args.push('--leave-stdin-open');
  if (o.execProcessSpec) args.push('--exec', '--exec-process-spec', o.execProcessSpec);
  if (o.syncLog === false) args.push('--no-sync-log');
  return args;
}

/**
 * conmon (and the runc it runs) needs only PATH: the daemon's own variables
 * (NODE_OPTIONS, BERTH_*) stay out. conmon forks into the monitor, and the
 * monitor's RSS counts only the library pages it touches after that fork:
 * with lazy binding, its first calls into glib and libc resolve symbols then
 * (ld.so and libsystemd's symbol tables, ~0.45 MiB more per conmon in the C
 * locale). LD_BIND_NOW resolves them before the fork, and the C locale maps
 * no locale file (a UTF-8 one costs 64 KiB). Measured over 24 conmons each:
 * 1.98 MiB vs 2.03 with LC_ALL=C.UTF-8, 2.43 with neither. G_SLICE=always-malloc
 * keeps glib 2.74's slice magazines off the heap: 12 KiB less per conmon.
 */
function conmonEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LD_BIND_NOW: '1', G_SLICE: 'always-malloc', _OCI_SYNCPIPE: '3' };
}

/**
 * Starts conmon and resolves with the container (or exec) process PID once
 * runc has created it; rejects with runc's own error message otherwise.
 */
export function startConmon(o: ConmonOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(conmonPath(), conmonArgs(o), {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: conmonEnv(),
      cwd: o.bundle,
    });
    let sync = '';
    let stderr = '';
    let settled = false;
    const done = (err: Error | undefined, pid?: number) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(pid!);
    };
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    pipe.on('data', (d: Buffer) => {
      sync += d.toString('utf8');
      let nl: number;
      while ((nl = sync.indexOf('\n')) >= 0) {
        const line = sync.slice(0, nl).trim();
        sync = sync.slice(nl + 1);
        if (!line) continue;
        let msg: { data?: number; message?: string };
        try {
          msg = JSON.parse(line) as { data?: number; message?: string };
        } catch {
          continue;
        }
        if (typeof msg.data === 'number' && msg.data > 0 && !msg.message) done(undefined, msg.data);
        else done(new RuntimeStartError(cleanRuncError(msg.message ?? '') || `runtime failed to start the container (code ${msg.data})`));
        pipe.removeAllListeners('data');
        (pipe as unknown as { destroy(): void }).destroy();
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', (e) => done(new UnavailableError(`cannot run conmon: ${e.message}`)));
    pipe.on('close', () => {
      // conmon's parent exits right after daemonizing; the sync pipe closing without a PID means failure.
      setTimeout(() => done(new RuntimeStartError(cleanRuncError(stderr) || 'conmon exited before the container was created')), 50);
    });
  });
}
