/**
 * berthd: serves the engine as the Docker Engine API on a Unix socket.
 * Containers run under conmon, so stopping or killing berthd leaves them
 * running; the next berthd finds them from the state on disk.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH_VERSION, enginePaths } from '../config';
import { Engine } from '../engine/engine';
import { createApiServer, listenUnix } from '../api/server';
import { messageOf } from '../errors';
import { processAlive } from '../sys/proc';
import { DNS_RESOLVER_ARG, NetworkManager, runDnsResolver } from '../network';
import { mallocTrim } from '../sys/libc';

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} berthd: ${msg}\n`);
}

/**
 * After a burst of requests, give memory back: a full GC (V8 keeps a grown
 * heap otherwise) and malloc_trim for native allocations. berthd's live heap
 * is a few MB; without this its RSS stays at the burst's high-water mark.
 */
function trimWhenIdle(server: import('node:http').Server): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      gc?.();
      mallocTrim();
    }, 1000);
    timer.unref();
  };
  server.on('request', (req) => req.once('close', arm));
  server.on('upgrade', (req) => req.socket.once('close', arm));
}

/** One daemon per run dir: a pid file created with O_EXCL, stale ones replaced. */
function lockPidFile(path: string): void {
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (pid > 0 && pid !== process.pid && processAlive(pid, 'berthd')) throw new Error(`another berthd (pid ${pid}) is running with this run dir; stop it first`);
      unlinkSync(path);
    }
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--version') || process.argv.includes('-v')) {
    process.stdout.write(`berthd version ${BERTH_VERSION}\n`);
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('berthd must run as root (it mounts overlays and runs runc)');
  const paths = enginePaths();
  if (process.argv.includes('--teardown-networks')) {
    // For uninstall and benches: remove this engine's bridges, rules, leases and resolvers (berthd must be stopped).
    const nm = new NetworkManager({ root: paths.root, run: paths.run });
    await nm.init();
    await nm.destroy();
    log('networks torn down');
    return;
  }
  mkdirSync(paths.run, { recursive: true, mode: 0o711 });
  const pidFile = join(paths.run, 'berthd.pid');
  lockPidFile(pidFile);
  const engine = new Engine(paths);
  await engine.init();
  const server = createApiServer(engine);
  trimWhenIdle(server);
  await listenUnix(server, paths.socket);
  log(`version ${BERTH_VERSION} listening on ${paths.socket} (root ${paths.root})`);
  const shutdown = (sig: string) => {
    log(`${sig}: shutting down; containers keep running under conmon`);
    engine.close();
    server.close();
    try {
      unlinkSync(pidFile);
    } catch {
      // already gone
    }
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (e) => log(`unhandled: ${messageOf(e)}`));
}

if (process.argv[2] === DNS_RESOLVER_ARG) {
  // berthd re-executes itself as a user network's DNS resolver (a detached process that outlives it).
  void runDnsResolver(process.argv[3]!);
} else {
  main().catch((e) => {
    log(`fatal: ${messageOf(e)}`);
    process.exit(1);
  });
}
