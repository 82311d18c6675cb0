/**
 * Test harness: an isolated berthd per test file (own BERTH_ROOT, BERTH_RUN,
 * socket), the berth CLI and the real docker CLI pointed at it, a busybox
 * image made from Debian's busybox-static, and a reaper that leaves nothing
 * behind (containers, conmon processes, mounts, files).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { request } from 'node:http';
import { randomBytes, randomInt } from 'node:crypto';
import { NetworkManager } from '../../src/network';

export const REPO = resolve(__dirname, '..', '..');
// The real entry point: bin/berth loads the bundle through its code cache, as users run it.
export const BERTH_BIN = join(REPO, 'bin', 'berth');
export const BERTHD_BIN = join(REPO, 'dist', 'berthd.js');
export const DOCKER_BIN = '/usr/local/bin/docker';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export class TestEngine {
  readonly dir: string;
  readonly root: string;
  readonly run: string;
  readonly socket: string;
  /** Each engine gets its own default bridge and subnets: several run side by side on one host. */
  readonly bridge = `bt${randomBytes(3).toString('hex')}`;
  readonly bridgeSubnet = `10.${150 + randomInt(50)}.${randomInt(256)}.0/24`;
  readonly subnetPool = `10.${200 + randomInt(50)}.0.0/16`;
  daemon?: ChildProcess;

  /** @param daemonEnv extra environment for berthd only (its tuning knobs). */
  constructor(private readonly daemonEnv: Record<string, string> = {}) {
    this.dir = mkdtempSync('/tmp/bt-');
    this.root = join(this.dir, 'root');
    this.run = join(this.dir, 'run');
    this.socket = join(this.run, 'berth.sock');
  }

  get env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      BERTH_ROOT: this.root,
      BERTH_RUN: this.run,
      BERTH_HOST: `unix://${this.socket}`,
      BERTH_NO_AUTOSTART: '1',
      BERTH_BRIDGE: this.bridge,
      BERTH_BRIDGE_SUBNET: this.bridgeSubnet,
      BERTH_SUBNET_POOL: this.subnetPool,
    };
    delete env.NODE_EXTRA_CA_CERTS;
    return env;
  }

  async start(): Promise<void> {
    this.daemon = spawn(process.execPath, ['--max-semi-space-size=2', BERTHD_BIN], { env: { ...this.env, ...this.daemonEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    this.daemon.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (process.env.BERTH_TEST_DEBUG) process.stderr.write(d);
    });
    for (let i = 0; i < 200; i++) {
      if (await this.ping()) return;
      if (this.daemon.exitCode !== null) throw new Error(`berthd exited: ${log}`);
      await sleep(25);
    }
    throw new Error(`berthd did not start: ${log}`);
  }

  ping(): Promise<boolean> {
    return new Promise((resolvePing) => {
      if (!existsSync(this.socket)) return resolvePing(false);
      const req = request({ socketPath: this.socket, path: '/_ping' }, (res) => {
        res.resume();
        resolvePing(res.statusCode === 200);
      });
      req.on('error', () => resolvePing(false));
      req.end();
    });
  }

  /** GET of an Engine API path on this engine's socket, parsed as JSON. */
  apiGet(path: string): Promise<Record<string, unknown>> {
    return new Promise((resolveGet, reject) => {
      const req = request({ socketPath: this.socket, path, headers: { Host: 'berth' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolveGet(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** Stops berthd (SIGTERM, or SIGKILL to simulate a crash); containers keep running. */
  async stopDaemon(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const d = this.daemon;
    if (!d || d.exitCode !== null) return;
    const exited = new Promise((r) => d.once('exit', r));
    d.kill(signal);
    await exited;
  }

  /** Runs the berth CLI against this engine. */
  berth(args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
    return runProcess(process.execPath, [BERTH_BIN, ...args], this.env, opts);
  }

  /** Runs the real docker CLI against this engine. */
  docker(args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
    const env = { ...this.env, DOCKER_HOST: `unix://${this.socket}`, DOCKER_CONFIG: join(this.dir, 'docker-config') };
    return runProcess(DOCKER_BIN, args, env, opts);
  }

  /** Imports the busybox base image (built from Debian's busybox-static) as busybox:latest. */
  async busybox(ref = 'busybox:latest'): Promise<void> {
    const tar = busyboxTar();
    const r = await this.berth(['import', '--change', 'CMD ["sh"]', tar, ref]);
    if (r.code !== 0) throw new Error(`import failed: ${r.stderr}`);
  }

  /** Removes everything: containers, daemon, leftover monitors and mounts, files. */
  async cleanup(): Promise<void> {
    if (this.daemon && this.daemon.exitCode === null) {
      const ids = await this.berth(['ps', '-aq']).catch(() => ({ stdout: '' }) as RunResult);
      for (const id of ids.stdout.split('\n').filter(Boolean)) await this.berth(['rm', '-f', id]).catch(() => undefined);
      await this.stopDaemon();
    }
    // Anything a crashed test left: conmon monitors of this root, runc containers, mounts.
    spawnSync('pkill', ['-9', '-f', `conmon.*${this.dir}`]);
    // Networks are host-wide: bridges, iptables rules, DNS resolvers, leases.
    if (existsSync(join(this.root, 'networks'))) {
      const nm = new NetworkManager({ root: this.root, run: this.run, defaultBridge: { bridgeName: this.bridge, subnet: this.bridgeSubnet }, subnetPool: this.subnetPool });
      await nm.init().then(() => nm.destroy()).catch(() => undefined);
    }
    spawnSync('pkill', ['-9', '-f', `${this.dir}/`]);
    const runcRoot = join(this.run, 'runc');
    if (existsSync(runcRoot)) for (const id of readdirSync(runcRoot)) spawnSync('runc', [`--root=${runcRoot}`, 'delete', '--force', id]);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m && m.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let cachedTar: string | undefined;
/** The busybox rootfs tar, built once per test process. */
export function busyboxTar(): string {
  if (cachedTar && existsSync(cachedTar)) return cachedTar;
  const dir = mkdtempSync('/tmp/bt-bb-');
  cachedTar = join(dir, 'busybox.tar');
  const r = spawnSync('bash', [join(REPO, 'scripts', 'busybox-rootfs.sh'), cachedTar], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`busybox-rootfs.sh failed: ${r.stderr}`);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return cachedTar;
}

export function runProcess(bin: string, args: string[], env: NodeJS.ProcessEnv, opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(bin, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timeout: ${bin} ${args.join(' ')}\nstdout: ${Buffer.concat(out)}\nstderr: ${Buffer.concat(err)}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** GET http://127.0.0.1:<port>/ and return the body (published-port checks). */
export function httpGet(port: number): Promise<string> {
  return new Promise((resolveGet, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolveGet(body));
    });
    req.on('error', reject);
    req.end();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until fn returns truthy or the timeout passes. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(50);
  }
}

/** Writes `files` (relative, '/'-separated paths) under `dir`, making parent dirs; returns `dir`. */
export function writeTree(dir: string, files: Record<string, string>): string {
  for (const [p, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), data);
  }
  return dir;
}
