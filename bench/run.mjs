#!/usr/bin/env node
// Berth benchmark suite (issue 3, "Done when" → bench bullet). Run as root:
//
//   npm run bench [-- --runs 20 --concurrency 20 --containers 20 --batches 3 --strict --build --dist DIR]
//
// One run, on an isolated engine in a temp dir it creates and removes again (daemon stopped,
// containers removed, mounts unmounted, dirs gone), using a private copy of bin/ + dist/:
//   1. `berth --version` wall time beside bare `node -e 0`
//   2. `berth run --rm --network none busybox true` median beside the runc floor
//      (fresh overlay mount + `runc run` of a `runc spec` bundle + umount), beside `runc run`
//      of Berth's own config.json, and beside Docker and Podman when they are installed
//   3. C concurrent `run --rm`: wall time beside C concurrent floor runs
//   4. engine memory per idle running container (conmon RSS/PSS + berthd growth)
//   5. berthd idle RSS after startup, after the runs, at the end
//   6. `berth ps` latency, `import` beside `tar -xf`, and where the time of a run goes
//      (the CLI's API calls timed one by one, berthd's BERTH_DEBUG_TIMING phases, CPU per run)
// Prints a table and writes bench/results/latest.json. Exits 1 when the bench itself fails
// (or, with --strict, when a target is missed). Plain Node ESM, no dependencies.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let DIST = path.join(REPO, 'dist');
let DIST_CLI = path.join(DIST, 'berth.js');
let DIST_DAEMON = path.join(DIST, 'berthd.js');
// The bench runs a private copy of the build (others may rebuild dist/ meanwhile): set in main().
let BIN_BERTH;
let DAEMON_JS;
const RESULTS_DIR = path.join(REPO, 'bench', 'results');

// Reference figures from issue 3 (measured on this machine kind with Docker 20.10 / Podman 4.3).
const REF = { dockerConcurrentS: 3.8, runcConcurrentS: 0.58, podmanConmonMiB: 2.0 };

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = { runs: 20, concurrency: 20, containers: 20, build: false, batches: 3, strict: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) fail(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--runs' || a === '-n') o.runs = num();
    else if (a === '--concurrency' || a === '-c') o.concurrency = num();
    else if (a === '--containers' || a === '-k') o.containers = num();
    else if (a === '--batches') o.batches = num();
    else if (a === '--build') o.build = true;
    else if (a === '--strict') o.strict = true;
    else if (a === '--dist') {
      const d = path.resolve(argv[++i] ?? fail('--dist needs a directory'));
      DIST = d;
      DIST_CLI = path.join(d, 'berth.js');
      DIST_DAEMON = path.join(d, 'berthd.js');
      o.dist = d;
    }
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node bench/run.mjs [--runs N] [--concurrency C] [--containers K] [--batches B] [--build] [--strict] [--dist DIR]\n  --dist DIR: benchmark the berth.js/berthd.js bundles in DIR instead of dist/ (e.g. to compare two builds)\n  --strict: exit 1 when a target is missed (default: only when the bench itself fails)\n');
      process.exit(0);
    } else fail(`unknown argument: ${a}`);
  }
  return o;
}

function fail(msg, code = 2) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(code);
}

// ------------------------------------------------------------------ small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const round = (x, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

function which(name, extra = []) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...extra]) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

class BenchError extends Error {}

/**
 * Spawns a command and resolves when it has exited and its stdio closed, with
 * the wall time from just before spawn. Rejects only on spawn errors.
 */
function runCmd(cmd, args, { env, timeoutMs = 60_000, input, cwd } = {}) {
  return new Promise((resolve, reject) => {
    // Once cleanup began nothing new may start (a CLI would even start a fresh daemon).
    if (state.cleaned) return reject(new BenchError('interrupted'));
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: env ?? process.env, cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (input !== undefined) child.stdin.end(input);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        ms: performance.now() - t0,
        code: timedOut ? 'timeout' : code ?? signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

function describe(cmd, args, r) {
  return `\`${[cmd, ...args].join(' ')}\` exited ${r.code} after ${r.ms.toFixed(0)} ms\n--- stderr ---\n${r.stderr.trim() || '(empty)'}\n--- stdout ---\n${r.stdout.trim() || '(empty)'}`;
}

/** Runs a command that must succeed. */
async function must(cmd, args, opts) {
  const r = await runCmd(cmd, args, opts);
  if (r.code !== 0) throw new BenchError(describe(cmd, args, r));
  return r;
}

function readKb(file, key) {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}
const rssMiB = (pid) => readKb(`/proc/${pid}/status`, 'VmRSS') / 1024;
const pssMiB = (pid) => readKb(`/proc/${pid}/smaps_rollup`, 'Pss') / 1024;

const TICK_MS = 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100);
/**
 * CPU time (ms) of a process: own (utime+stime) and its reaped children
 * (cutime+cstime). The bench's children are the CLI and floor processes;
 * berthd's are the runc calls it waits for (conmon's runc create is reaped by conmon).
 */
function cpuMs(pid = 'self') {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    // fields after the comm: state(3) ... utime(14) stime(15) cutime(16) cstime(17) → indexes 11..14
    return { own: (Number(f[11]) + Number(f[12])) * TICK_MS, children: (Number(f[13]) + Number(f[14])) * TICK_MS };
  } catch {
    return { own: NaN, children: NaN };
  }
}
const loadavg = () => os.loadavg().map((x) => round(x, 2));

async function sampleMiB(fn, n = 5, gapMs = 150) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    xs.push(fn());
    if (i < n - 1) await sleep(gapMs);
  }
  return median(xs);
}

function procCmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs (not ours) whose command line mentions `needle` — every process of the bench engine. */
function processesMentioning(needle) {
  const hits = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const argv = procCmdline(pid);
    if (argv && argv.some((a) => a.includes(needle))) hits.push({ pid, argv });
  }
  return hits;
}

function mountsUnder(dir) {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = f[4].replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(prefix)) out.push(mp);
  }
  return out;
}

// ------------------------------------------------------------------ API client over the socket

/** One request on a fresh connection (as a fresh CLI process would); resolves when headers arrive. */
function apiRequest(socketPath, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) };
    const req = http.request({ socketPath, method, path: `/v1.45${urlPath}`, headers, agent: false }, resolve);
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
    req.end(payload);
  });
}

/** A hijacked attach (`Upgrade: tcp`), as the CLI opens it; `eof` resolves when the daemon closes the stream. */
function apiUpgrade(socketPath, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'POST', path: `/v1.45${urlPath}`, headers: { Connection: 'Upgrade', Upgrade: 'tcp' }, agent: false });
    req.on('upgrade', (_res, sock) => {
      const eof = new Promise((r) => {
        sock.on('end', () => r(performance.now()));
        sock.on('close', () => r(performance.now()));
        sock.on('error', () => r(performance.now()));
      });
      sock.resume();
      resolve({ socket: sock, eof });
    });
    req.on('response', (res) => reject(new BenchError(`attach was not upgraded: HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

function readBody(res) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

async function api(socketPath, method, urlPath, body) {
  const t0 = performance.now();
  const res = await apiRequest(socketPath, method, urlPath, body);
  const text = await readBody(res);
  const ms = performance.now() - t0;
  if (res.statusCode >= 400) throw new BenchError(`${method} ${urlPath} → ${res.statusCode}: ${text.trim()}`);
  return { status: res.statusCode, ms, json: text ? safeJson(text) : undefined };
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ------------------------------------------------------------------ the bench

const opts = parseArgs(process.argv.slice(2));
const results = {
  date: new Date().toISOString(),
  host: {},
  config: opts,
  metrics: [],
  breakdown: {},
  other: {},
  notes: [],
};
const state = { tmp: undefined, daemon: undefined, cleaned: false };

async function preflight() {
  if (process.getuid?.() !== 0) fail('must run as root (Berth mounts overlays and runs runc): sudo npm run bench', 1);
  const runc = which('runc', ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin']);
  const conmon = which('conmon', ['/usr/bin', '/usr/libexec/podman', '/usr/local/bin']);
  const missing = [!runc && 'runc', !conmon && 'conmon'].filter(Boolean);
  if (missing.length) fail(`${missing.join(' and ')} not found: install the Debian package(s) ${missing.join(' ')} (npm run setup does)`, 1);
  const busybox = process.env.BUSYBOX || '/bin/busybox';
  if (!fs.existsSync(busybox)) fail('busybox-static is not installed (apt-get install busybox-static; npm run setup does)', 1);
  for (const t of ['mount', 'umount', 'tar']) if (!which(t, ['/usr/bin', '/bin', '/sbin', '/usr/sbin'])) fail(`${t} not found`, 1);
  if (opts.build) {
    log('building (node scripts/build.mjs)');
    const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { stdio: 'inherit' });
    if (r.status !== 0) fail('build failed', 1);
  }
  // A concurrent `npm run build` empties dist/ for a few seconds: wait for it.
  for (let i = 0; i < 60 && ![DIST_CLI, DIST_DAEMON].every((f) => fs.existsSync(f)); i++) {
    if (i === 0) log(`${DIST} is incomplete (a build running?); waiting up to 30 s`);
    await sleep(500);
  }
  for (const f of [DIST_CLI, DIST_DAEMON]) if (!fs.existsSync(f)) fail(`${f} is missing: run \`npm run build\` first (or pass --build)`, 1);
  const dockerOk = which('docker') ? spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0 : false;
  const podmanPath = which('podman');
  const podmanOk = podmanPath ? spawnSync(podmanPath, ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0 : false;
  const ver = (cmd, args) => (spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '').split('\n')[0].trim();
  results.host = {
    kernel: os.release(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memTotalMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    runc: ver(runc, ['--version']),
    conmon: ver(conmon, ['--version']),
    docker: dockerOk ? ver('docker', ['version', '--format', '{{.Server.Version}}']) : 'not installed',
    podman: podmanOk ? ver(podmanPath, ['--version']) : 'not installed',
  };
  return { runc, conmon, busybox, docker: dockerOk ? 'docker' : undefined, podman: podmanOk ? podmanPath : undefined };
}

async function main() {
  const tools = await preflight();
  const tStart = performance.now();
  results.loadavg = { start: loadavg() };
  if (results.loadavg.start[0] > 1) log(`warning: load average ${results.loadavg.start.join(' ')} on ${os.cpus().length} CPUs: other work is running, figures will be inflated`);
  state.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
  const T = state.tmp;
  const root = path.join(T, 'root');
  const run = path.join(T, 'run');
  const socket = path.join(run, 'berth.sock');
  const env = { ...process.env, BERTH_ROOT: root, BERTH_RUN: run, BERTH_HOST: `unix://${socket}` };
  const nodePath = [path.join(REPO, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':');
  // BERTH_NO_AUTOSTART: a CLI that finds no daemon must fail, not start one the bench would then measure.
  const cliEnv = { ...env, NODE_PATH: nodePath, BERTH_NO_AUTOSTART: '1' };
  delete cliEnv.NODE_EXTRA_CA_CERTS; // bin/berth's shebang unsets it anyway
  log(`engine dir ${T}`);

  // Private copy of the build (bin/berth with its shebang, which unsets NODE_EXTRA_CA_CERTS, package.json,
  // the dist bundles): others may rebuild dist/ while the bench runs. Externals resolve through NODE_PATH.
  const pkg = path.join(T, 'pkg');
  fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(pkg, 'dist'));
  for (const f of fs.readdirSync(path.join(REPO, 'bin'))) {
    fs.copyFileSync(path.join(REPO, 'bin', f), path.join(pkg, 'bin', f));
    fs.chmodSync(path.join(pkg, 'bin', f), 0o755);
  }
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(pkg, 'package.json'));
  // bin/berth's code cache is made by scripts/code-cache.cjs (at build time, and again when stale).
  fs.mkdirSync(path.join(pkg, 'scripts'));
  fs.copyFileSync(path.join(REPO, 'scripts', 'code-cache.cjs'), path.join(pkg, 'scripts', 'code-cache.cjs'));
  BIN_BERTH = path.join(pkg, 'bin', 'berth');
  DAEMON_JS = path.join(pkg, 'dist', 'berthd.js');
  const build = {};
  for (const f of ['berth.js', 'berthd.js']) {
    // A build in progress can leave a half-written bundle: copy until the copy parses.
    for (let attempt = 0; ; attempt++) {
      let buf;
      try {
        buf = fs.readFileSync(path.join(DIST, f));
        fs.writeFileSync(path.join(pkg, 'dist', f), buf);
      } catch (e) {
        if (attempt >= 20) throw new BenchError(`cannot copy ${path.join(DIST, f)}: ${e.message}`);
        await sleep(500);
        continue;
      }
      if (spawnSync(process.execPath, ['--check', path.join(pkg, 'dist', f)]).status === 0) {
        build[f] = { bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex').slice(0, 16), mtime: fs.statSync(path.join(DIST, f)).mtime.toISOString(), from: DIST };
        break;
      }
      if (attempt >= 20) throw new BenchError(`${path.join(DIST, f)} does not parse (a build in progress?): run \`npm run build\``);
      await sleep(500);
    }
  }
  // The CLI's code cache for the copied bundle, made as the build makes it.
  spawnSync(process.execPath, [path.join(pkg, 'scripts', 'code-cache.cjs'), path.join(pkg, 'dist', 'berth.js')], { stdio: 'inherit' });
  results.build = build;
  results.build.gitHead = (spawnSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout ?? '').trim();
  results.build.gitDirty = (spawnSync('git', ['-C', REPO, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout ?? '').trim() !== '';

  // busybox rootfs tar
  const tarPath = path.join(T, 'busybox.tar');
  await must('bash', [path.join(REPO, 'scripts', 'busybox-rootfs.sh'), tarPath], { env: { ...process.env, BUSYBOX: tools.busybox } });

  // berthd (the daemon keeps NODE_EXTRA_CA_CERTS, as bin/berthd does: it needs the CA bundle for registries)
  const daemonLog = path.join(T, 'berthd.log');
  const logFd = fs.openSync(daemonLog, 'a');
  const td0 = performance.now();
  // Through bin/berthd as a user starts it (its shebang may carry node flags), else the bundle.
  const berthdBin = path.join(pkg, 'bin', 'berthd');
  const daemonCmd = fs.existsSync(berthdBin) ? [berthdBin, []] : [process.execPath, [DAEMON_JS]];
  // BERTH_DEBUG_TIMING=1 makes berthd log the phases of each start and exit (a few short lines per run).
  const daemon = spawn(daemonCmd[0], daemonCmd[1], { env: { ...env, NODE_PATH: nodePath, BERTH_DEBUG_TIMING: '1' }, stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  state.daemon = daemon;
  state.daemonLog = daemonLog;
  daemon.on('exit', (code, sig) => {
    state.daemonExit = { code, sig };
  });
  let up = false;
  while (performance.now() - td0 < 15_000) {
    if (state.daemonExit) break;
    try {
      await api(socket, 'GET', '/_ping');
      up = true;
      break;
    } catch {
      await sleep(10);
    }
  }
  if (!up) throw new BenchError(`berthd did not come up:\n${tail(daemonLog)}`);
  const daemonStartMs = performance.now() - td0;
  await sleep(1000);
  const berthdIdleStart = await sampleMiB(() => rssMiB(daemon.pid));

  const berth = async (args, o = {}) => {
    const r = await runCmd(BIN_BERTH, args, { env: cliEnv, ...o });
    // A CLI that finds no daemon starts one: never measure that one by accident.
    if (state.daemonExit) throw new BenchError(`\`berth ${args.join(' ')}\` exited ${r.code}; stderr: ${r.stderr.trim() || '(empty)'}\n--- berthd log (tail) ---\n${tail(daemonLog)}${daemonGone()}`);
    return r;
  };
  const daemonGone = () => {
    const x = state.daemonExit;
    if (!x) return '';
    const how = x.sig ? `killed by ${x.sig}` : `exit code ${x.code}`;
    const why =
      x.sig || x.code === 0
        ? ' — berthd exits 0 only on SIGTERM/SIGINT, and the bench signals it only in cleanup: something else on this machine signalled it (a broad pkill?)'
        : ' — it crashed: see its log above';
    return `\n!!! berthd (pid ${daemon.pid}) exited during the bench: ${how}${why}`;
  };
  const berthFailure = (what, args, r) => new BenchError(`${what}: ${describe('berth', args, r)}\n--- berthd log (tail) ---\n${tail(daemonLog)}${daemonGone()}`);
  const mustBerth = async (args, o) => {
    const r = await berth(args, o);
    if (r.code !== 0) throw berthFailure('Berth failed', args, r);
    return r;
  };
  const nodeFloor = () => runCmd('/usr/bin/env', ['-u', 'NODE_EXTRA_CA_CERTS', process.execPath, '-e', '0'], { env: cliEnv });

  // ---- 1. berth --version
  log('berth --version');
  const verB = [];
  const verF = [];
  const verD = [];
  const verP = [];
  for (let i = 0; i < opts.runs + 2; i++) {
    const b = await mustBerth(['--version']);
    const f = await nodeFloor();
    if (i >= 2) {
      verB.push(b.ms);
      verF.push(f.ms);
    }
  }
  for (const [tool, arr] of [[tools.docker, verD], [tools.podman, verP]]) {
    if (!tool) continue;
    for (let i = 0; i < opts.runs; i++) arr.push((await must(tool, ['--version'])).ms);
  }

  // ---- import (needed anyway) beside tar -xf
  log('import busybox');
  const imp = await mustBerth(['import', tarPath, 'busybox:latest']);
  const tarX = [];
  for (let i = 0; i < 3; i++) {
    const d = path.join(T, `tarx${i}`);
    fs.mkdirSync(d);
    tarX.push((await must('tar', ['-xf', tarPath, '-C', d])).ms);
    fs.rmSync(d, { recursive: true, force: true });
  }

  // warm-up: the first run unpacks the layer snapshot
  const RUN = ['run', '--rm', '--network', 'none', 'busybox', 'true'];
  const RUN_BRIDGE = ['run', '--rm', 'busybox', 'true'];
  for (let i = 0; i < 2; i++) await mustBerth(RUN);

  // Berth's own runtime config, for a second floor: `runc run` of exactly what Berth hands runc.
  const probe = (await mustBerth(['run', '-d', '--network', 'none', 'busybox', 'true'])).stdout.trim().split('\n').pop();
  const probeDir = path.join(root, 'containers', probe);
  const berthSpecText = fs.readFileSync(path.join(probeDir, 'config.json'), 'utf8');
  const probeFiles = fs.readdirSync(probeDir).filter((f) => fs.statSync(path.join(probeDir, f)).isFile() && berthSpecText.includes(`${probeDir}/${f}"`));

  // ---- runc floor setup: bundles from `runc spec`, lower = the engine's busybox snapshot
  const floorDir = path.join(T, 'floor');
  const lower = findSnapshotDir(root) ?? extractOwnLower(T, tarPath);
  results.other.floorLowerDir = path.relative(T, lower);
  const runcRoot = path.join(floorDir, 'runc');
  fs.mkdirSync(runcRoot, { recursive: true });
  const bundles = [];
  for (let i = 0; i < opts.concurrency; i++) {
    const b = path.join(floorDir, `b${i}`);
    fs.mkdirSync(path.join(b, 'rootfs'), { recursive: true });
    await must(tools.runc, ['spec'], { cwd: b });
    const spec = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    spec.process.args = ['true'];
    spec.root = { path: 'rootfs', readonly: false };
    spec.hostname = `floor${i}`;
    fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(spec));
    bundles.push(b);
  }
  let berthBundle = path.join(floorDir, 'berth-spec');
  {
    fs.mkdirSync(path.join(berthBundle, 'rootfs'), { recursive: true });
    for (const f of probeFiles) fs.copyFileSync(path.join(probeDir, f), path.join(berthBundle, f));
    const spec = JSON.parse(berthSpecText.split(`${probeDir}/`).join(`${berthBundle}/`).split(probe).join(`bench-${process.pid}`));
    spec.process.args = ['true'];
    spec.process.terminal = false;
    spec.root = { path: 'rootfs', readonly: false };
    fs.writeFileSync(path.join(berthBundle, 'config.json'), JSON.stringify(spec));
  }
  await mustBerth(['rm', '-f', probe]);
  let floorSeq = 0;
  const floorRun = async (b) => {
    const n = floorSeq++;
    const t0 = performance.now();
    const upper = path.join(floorDir, `u${n}`);
    const work = path.join(floorDir, `w${n}`);
    fs.mkdirSync(upper);
    fs.mkdirSync(work);
    const script =
      'mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4/rootfs" || exit 99; ' +
      'runc --root "$5" run --bundle "$4" "$6" </dev/null; rc=$?; umount "$4/rootfs"; exit $rc';
    const r = await runCmd('/bin/sh', ['-c', script, 'floor', lower, upper, work, b, runcRoot, `bench-${process.pid}-${n}`], {
      env: { ...process.env, PATH: `${path.dirname(tools.runc)}:${process.env.PATH}` },
    });
    const ms = performance.now() - t0;
    if (r.code !== 0) throw new BenchError(`runc floor failed: ${describe('sh', ['-c', script], r)}`);
    // Outside the timed region: the floor's scratch dirs.
    fs.rmSync(upper, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
    return ms;
  };
  await floorRun(bundles[0]); // warm-up
  // The second floor is informational: if runc refuses the copied spec, note it and go on.
  try {
    await floorRun(berthBundle);
  } catch (e) {
    results.notes.push(`runc run of Berth's own config.json failed, row skipped: ${e.message.split('\n').slice(0, 6).join(' ')}`);
    berthBundle = undefined;
  }

  /** Times fn and attributes CPU: the bench's reaped children (CLI / floor), berthd itself, berthd's reaped children (runc calls). */
  const cpu = { cli: 0, floor: 0, berthd: 0, berthdKids: 0, berthSpec: 0 };
  const metered = async (slot, fn) => {
    const a = cpuMs();
    const d = cpuMs(daemon.pid);
    const r = await fn();
    const a2 = cpuMs();
    const d2 = cpuMs(daemon.pid);
    cpu[slot] += a2.children - a.children;
    if (slot === 'cli') {
      cpu.berthd += d2.own - d.own;
      cpu.berthdKids += d2.children - d.children;
    }
    return r;
  };

  // ---- 2. sequential run --rm, interleaved with floor runs
  log(`${opts.runs} sequential \`berth ${RUN.join(' ')}\` and floor runs`);
  const seqB = [];
  const seqF = [];
  const seqBS = [];
  const logFrom = fs.statSync(daemonLog).size;
  for (let i = 0; i < opts.runs; i++) {
    seqB.push((await metered('cli', () => mustBerth(RUN))).ms);
    seqF.push(await metered('floor', () => floorRun(bundles[0])));
    if (berthBundle) seqBS.push(await metered('berthSpec', () => floorRun(berthBundle)));
  }
  const cpuPerRun = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round(v / opts.runs)]));
  // The same run on the default bridge network: what network setup (CNI bridge + host-local) adds.
  log(`${opts.runs} sequential \`berth ${RUN_BRIDGE.join(' ')}\` (default bridge network)`);
  const seqBridge = [];
  await mustBerth(RUN_BRIDGE);
  for (let i = 0; i < opts.runs; i++) seqBridge.push((await mustBerth(RUN_BRIDGE)).ms);
  const daemonPhases = parseDaemonPhases(fs.readFileSync(daemonLog, 'utf8').slice(logFrom));
  // The CLI's own phase marks (BERTH_DEBUG_TIMING=1), a few extra runs outside the measured ones.
  const cliMarks = [];
  for (let i = 0; i < 5; i++) {
    const r = await berth(RUN, { env: { ...cliEnv, BERTH_DEBUG_TIMING: '1' } });
    if (r.code !== 0) throw berthFailure('Berth failed (BERTH_DEBUG_TIMING run)', RUN, r);
    cliMarks.push(r.stderr);
  }
  const cliPhases = parseCliMarks(cliMarks);
  const seqD = [];
  const seqP = [];
  for (const [tool, arr] of [[tools.docker, seqD], [tools.podman, seqP]]) {
    if (!tool) continue;
    await otherEngine(tool, tarPath, async (img) => {
      const args = ['run', '--rm', '--network', 'none', ...hostLimits(tool), img, 'true'];
      for (let i = 0; i < 2; i++) await must(tool, args);
      for (let i = 0; i < opts.runs; i++) arr.push((await must(tool, args)).ms);
    });
  }

  // ---- breakdown: the CLI's own sequence of API calls, timed per call from this process
  log('API breakdown of a run');
  const bdN = Math.min(opts.runs, 10);
  const bd = { ping: [], create: [], attach: [], waitRegistered: [], start: [], startToAttachEof: [], startToRemoved: [], total: [] };
  for (let i = 0; i < bdN + 1; i++) {
    const t0 = performance.now();
    const p = await api(socket, 'GET', '/_ping');
    const c = await api(socket, 'POST', '/containers/create', {
      Image: 'busybox',
      Cmd: ['true'],
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: { NetworkMode: 'none', AutoRemove: true },
    });
    const id = c.json.Id;
    const ta = performance.now();
    const att = await apiUpgrade(socket, `/containers/${id}/attach?stream=1&stdout=1&stderr=1`);
    const tw = performance.now();
    const waitRes = await apiRequest(socket, 'POST', `/containers/${id}/wait?condition=removed`);
    const waited = readBody(waitRes);
    waited.catch(() => undefined);
    const tStart = performance.now();
    const s = await api(socket, 'POST', `/containers/${id}/start`);
    const tS = performance.now();
    const w = safeJson(await waited);
    const tRemoved = performance.now();
    const tEof = await att.eof;
    att.socket.destroy();
    if (w?.StatusCode !== 0) throw new BenchError(`API run exited ${JSON.stringify(w)}`);
    if (i === 0) continue; // warm-up
    bd.ping.push(p.ms);
    bd.create.push(c.ms);
    bd.attach.push(tw - ta);
    bd.waitRegistered.push(tStart - tw);
    bd.start.push(s.ms);
    bd.startToAttachEof.push(tEof - tS);
    bd.startToRemoved.push(tRemoved - tS);
    bd.total.push(tRemoved - t0);
  }
  // and the same without --rm, to split exit detection from removal
  const bd2 = { startToExitSeen: [], delete: [] };
  for (let i = 0; i < bdN; i++) {
    const c = await api(socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
    const id = c.json.Id;
    const waited = readBody(await apiRequest(socket, 'POST', `/containers/${id}/wait?condition=next-exit`));
    waited.catch(() => undefined);
    await api(socket, 'POST', `/containers/${id}/start`);
    const tS = performance.now();
    await waited;
    bd2.startToExitSeen.push(performance.now() - tS);
    bd2.delete.push((await api(socket, 'DELETE', `/containers/${id}`)).ms);
  }

  // ---- 3. concurrent runs
  log(`${opts.concurrency} concurrent runs × ${opts.batches} batches`);
  const concB = [];
  const concF = [];
  const concCpu = { berth: [], floor: [] };
  const sysBusy = () => {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: (total - f[3] - f[4]) * TICK_MS, total: total * TICK_MS };
  };
  for (let k = 0; k < opts.batches; k++) {
    let s0 = sysBusy();
    let t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: opts.concurrency }, () => berth(RUN)));
    concB.push(performance.now() - t0);
    let s1 = sysBusy();
    concCpu.berth.push((s1.busy - s0.busy) / (s1.total - s0.total));
    const bad = rs.find((r) => r.code !== 0);
    if (bad) throw berthFailure(`Berth failed in a concurrent batch (${rs.filter((r) => r.code !== 0).length}/${rs.length} failed)`, RUN, bad);
    s0 = sysBusy();
    t0 = performance.now();
    await Promise.all(bundles.map((b) => floorRun(b)));
    concF.push(performance.now() - t0);
    s1 = sysBusy();
    concCpu.floor.push((s1.busy - s0.busy) / (s1.total - s0.total));
  }
  const concD = [];
  const concP = [];
  for (const [tool, arr] of [[tools.docker, concD], [tools.podman, concP]]) {
    if (!tool) continue;
    await otherEngine(tool, tarPath, async (img) => {
      const args = ['run', '--rm', '--network', 'none', ...hostLimits(tool), img, 'true'];
      for (let k = 0; k < opts.batches; k++) {
        const t0 = performance.now();
        const rs = await Promise.all(Array.from({ length: opts.concurrency }, () => runCmd(tool, args)));
        arr.push(performance.now() - t0);
        const bad = rs.find((r) => r.code !== 0);
        if (bad) throw new BenchError(`${tool} failed: ${describe(tool, args, bad)}`);
      }
    });
  }

  // ---- 5a. berthd idle RSS after the runs
  await sleep(1500);
  const berthdIdleAfter = await sampleMiB(() => rssMiB(daemon.pid));
  const berthdPssAfter = await sampleMiB(() => pssMiB(daemon.pid));

  // ---- 4. idle running containers: conmon and berthd memory
  // --network none: the default bridge is host-global state (berth0) another engine on this host may own.
  log(`${opts.containers} idle containers (run -d --network none busybox sleep 3600)`);
  const ids = [];
  const runD = [];
  for (let i = 0; i < opts.containers; i++) {
    const r = await mustBerth(['run', '-d', '--network', 'none', 'busybox', 'sleep', '3600']);
    const id = r.stdout.trim().split('\n').pop();
    if (!/^[0-9a-f]{64}$/.test(id)) throw new BenchError(`run -d printed no container ID: ${JSON.stringify(r.stdout)}`);
    ids.push(id);
    runD.push(r.ms);
  }
  await sleep(1500);
  const conmons = [];
  for (const id of ids) {
    const pidFile = path.join(root, 'containers', id, 'conmon.pid');
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm !== 'conmon') throw new BenchError(`${pidFile} names pid ${pid}, which is ${comm}, not conmon`);
    conmons.push({ id, pid, rss: rssMiB(pid), pss: pssMiB(pid) });
  }
  // Every process of this engine that is neither berthd nor conmon would be per-container overhead too.
  const extra = processesMentioning(T).filter((p) => p.pid !== daemon.pid && !conmons.some((c) => c.pid === p.pid));
  results.other.extraEngineProcesses = extra.map((p) => p.argv.join(' ').slice(0, 200));
  const berthdWithK = await sampleMiB(() => rssMiB(daemon.pid));
  const berthdPssWithK = await sampleMiB(() => pssMiB(daemon.pid));
  // Memory per container is the total over N containers / N: a mean. (RSS samples are bimodal,
  // ±0.1 MiB with where ASLR puts each library against the kernel's 64 KiB fault-around windows,
  // so a median jumps between the modes from run to run.)
  const conmonRss = mean(conmons.map((c) => c.rss));
  const conmonPss = mean(conmons.map((c) => c.pss));
  const growth = (berthdWithK - berthdIdleAfter) / opts.containers;
  // Podman's own conmons for the same idle containers (Podman has no daemon: that is all of it).
  const podmanConmons = [];
  if (tools.podman) {
    await otherEngine(tools.podman, tarPath, async (img) => {
      const pids = [];
      try {
        for (let i = 0; i < opts.containers; i++) {
          const r = await must(tools.podman, ['run', '-d', '--network', 'none', ...hostLimits(tools.podman), img, 'sleep', '3600']);
          pids.push(r.stdout.trim().split('\n').pop());
        }
        await sleep(1500);
        for (const id of pids) {
          const p = processesMentioning(id).find((x) => path.basename(x.argv[0] ?? '') === 'conmon');
          if (p) podmanConmons.push({ pid: p.pid, rss: rssMiB(p.pid), pss: pssMiB(p.pid) });
        }
      } finally {
        if (pids.length) await runCmd(tools.podman, ['rm', '-f', '-t', '0', ...pids]).catch(() => undefined);
      }
    });
  }
  const podmanConmonRss = podmanConmons.length ? mean(podmanConmons.map((c) => c.rss)) : undefined;
  const growthPss = (berthdPssWithK - berthdPssAfter) / opts.containers;

  // ---- 6. berth ps with K containers; API call alone
  log('berth ps');
  const psB = [];
  const psF = [];
  const psApi = [];
  for (let i = 0; i < Math.min(opts.runs, 10) + 1; i++) {
    const r = await mustBerth(['ps']);
    const f = await nodeFloor();
    const a = await api(socket, 'GET', '/containers/json');
    if (i === 0) {
      const rows = r.stdout.trim().split('\n').length - 1;
      if (rows !== opts.containers) throw new BenchError(`berth ps listed ${rows} containers, expected ${opts.containers}:\n${r.stdout}`);
      continue;
    }
    psB.push(r.ms);
    psF.push(f.ms);
    psApi.push(a.ms);
  }
  const rmF = await mustBerth(['rm', '-f', ...ids]);
  ids.length = 0;
  await sleep(1500);
  const berthdIdleEnd = await sampleMiB(() => rssMiB(daemon.pid));

  // ------------------------------------------------------------------ results
  const M = results.metrics;
  const add = (m) => M.push(m);
  const mDocker = (xs) => (tools.docker ? median(xs) : 'not installed');
  const mPodman = (xs) => (tools.podman ? median(xs) : 'not installed');
  const vB = median(verB);
  add({ key: 'version', label: '`berth --version` (ms, median)', unit: 'ms', berth: vB, floor: median(verF), floorLabel: 'node -e 0', docker: mDocker(verD), podman: mPodman(verP), target: '< 80 ms', pass: vB < 80, samples: { berth: verB, floor: verF } });
  const sB = median(seqB);
  const sF = median(seqF);
  const sD = tools.docker ? median(seqD) : undefined;
  add({ key: 'run', label: '`run --rm --network none busybox true` (ms, median)', unit: 'ms', berth: sB, floor: sF, floorLabel: 'overlay mount + runc run + umount', docker: mDocker(seqD), podman: mPodman(seqP), target: `≤ 3× floor${sD ? ' and ≤ ½ Docker' : ''}`, pass: sB <= 3 * sF && (!sD || sB <= sD / 2), samples: { berth: seqB, floor: seqF, docker: seqD, podman: seqP }, p90: { berth: pct(seqB, 90), floor: pct(seqF, 90) } });
  const sBr = median(seqBridge);
  add({ key: 'runBridge', label: '`run --rm busybox true` on the default bridge (ms, median)', unit: 'ms', berth: sBr, floor: sB, floorLabel: 'Berth `--network none` run, same bench run', docker: mDocker([]), podman: mPodman([]), target: 'network setup adds ≤ 50 ms over --network none (issue 5)', pass: sBr - sB <= 50, samples: { berth: seqBridge, floor: seqB }, p90: { berth: pct(seqBridge, 90), floor: pct(seqB, 90) } });
  const sBS = median(seqBS);
  if (seqBS.length) add({ key: 'runVsOwnSpec', label: "same, beside `runc run` of Berth's own config.json (ms, median)", unit: 'ms', berth: sB, floor: sBS, floorLabel: "floor with Berth's spec: seccomp, caps, cgroups, masks", target: 'info', pass: undefined, samples: { berthSpecFloor: seqBS } });
  const cB = median(concB);
  const cD = tools.docker ? median(concD) : undefined;
  // Without Docker here, the issue's Docker figure is scaled by this run's floor: Docker took
  // 3.8 s where 20 concurrent runc runs took 0.58 s, i.e. 6.55× the floor, on the machine the
  // issue measured. A slower or busier host scales both; the absolute 3.8 s is printed too.
  const cF = median(concF);
  const dockerEst = (REF.dockerConcurrentS / REF.runcConcurrentS) * cF;
  const cTarget = cD ? cD / 2 : dockerEst / 2;
  const cTargetLabel = cD
    ? `≤ ${round(cTarget / 1000, 2)} s (½ Docker)`
    : `≤ ${round(cTarget / 1000, 2)} s (½ Docker est. ${round(dockerEst / 1000, 2)} s = ${round(REF.dockerConcurrentS / REF.runcConcurrentS, 2)}× this run's floor, as ${REF.dockerConcurrentS} s / ${REF.runcConcurrentS} s in the issue; absolute ½ × ${REF.dockerConcurrentS} s: ${cB <= (REF.dockerConcurrentS * 1000) / 2 ? 'met' : 'missed'})`;
  add({ key: 'concurrent', label: `${opts.concurrency} concurrent \`run --rm\` (wall, median of ${opts.batches})`, unit: 'ms', berth: cB, floor: cF, floorLabel: `${opts.concurrency} concurrent floor runs`, docker: mDocker(concD), podman: mPodman(concP), target: cTargetLabel, pass: cB <= cTarget, samples: { berth: concB, floor: concF, docker: concD, podman: concP }, cpuBusyFraction: { berth: concCpu.berth.map((x) => round(x, 2)), floor: concCpu.floor.map((x) => round(x, 2)) } });
  const na = (x) => (x ? 'n/m' : 'not installed');
  add({ key: 'conmonRss', label: 'conmon RSS per idle container (MiB, mean = total / N)', unit: 'MiB', berth: conmonRss, docker: na(tools.docker), podman: podmanConmonRss ?? na(tools.podman), target: `info (Podman's conmon: ${REF.podmanConmonMiB} MiB)`, pass: undefined, samples: { berth: conmons.map((c) => c.rss), podman: podmanConmons.map((c) => c.rss) } });
  add({ key: 'conmonPss', label: 'conmon PSS per idle container (MiB, mean)', unit: 'MiB', berth: conmonPss, docker: na(tools.docker), podman: na(tools.podman), target: 'info', pass: undefined, samples: { berth: conmons.map((c) => c.pss) } });
  add({ key: 'berthdGrowth', label: 'berthd RSS growth per running container (MiB)', unit: 'MiB', berth: growth, docker: na(tools.docker), podman: 'n/a (no daemon)', target: 'info', pass: undefined, extra: { berthdBeforeMiB: berthdIdleAfter, berthdWithContainersMiB: berthdWithK, pssGrowthPerContainerMiB: growthPss } });
  const perCtr = conmonRss + Math.max(0, growth);
  // Beside Podman's conmons measured in this run when Podman is here; the issue's 2.0 MiB otherwise.
  const memRef = podmanConmonRss ?? REF.podmanConmonMiB;
  add({ key: 'enginePerContainer', label: 'engine memory per idle container: conmon RSS + berthd growth (MiB)', unit: 'MiB', berth: perCtr, docker: na(tools.docker), podman: podmanConmonRss ?? na(tools.podman), target: `≤ ${round(memRef, 2)} MiB (Podman's conmon RSS${podmanConmonRss === undefined ? ', issue 3' : ', this run'})`, pass: perCtr <= memRef, extra: { pssBasedMiB: conmonPss + Math.max(0, growthPss), otherEngineProcesses: extra.length } });
  const runsSoFar = 2 + 1 + opts.runs + 5 + (bdN + 1) + bdN + opts.batches * opts.concurrency;
  add({ key: 'berthdIdleStart', label: 'berthd idle RSS after startup (MiB)', unit: 'MiB', berth: berthdIdleStart, target: '< 80 MiB', pass: berthdIdleStart < 80 });
  add({ key: 'berthdIdleAfter', label: `berthd idle RSS after ${runsSoFar} containers ran (MiB)`, unit: 'MiB', berth: berthdIdleAfter, target: '< 80 MiB', pass: berthdIdleAfter < 80 });
  add({ key: 'berthdPssAfter', label: `berthd idle PSS after ${runsSoFar} containers ran (MiB; RSS counts node's shared text)`, unit: 'MiB', berth: berthdPssAfter, target: 'info', pass: undefined });
  add({ key: 'berthdIdleEnd', label: `berthd idle RSS at the end (${opts.containers} more run -d, removed) (MiB)`, unit: 'MiB', berth: berthdIdleEnd, target: '< 80 MiB', pass: berthdIdleEnd < 80 });
  const pB = median(psB);
  add({ key: 'ps', label: `\`berth ps\` with ${opts.containers} running (ms, median)`, unit: 'ms', berth: pB, floor: median(psF), floorLabel: 'node -e 0', docker: na(tools.docker), podman: na(tools.podman), target: 'info', pass: undefined, samples: { berth: psB, floor: psF, api: psApi } });
  add({ key: 'import', label: '`import` busybox tar, cold, 1 sample (ms)', unit: 'ms', berth: imp.ms, floor: median(tarX), floorLabel: 'tar -xf', target: 'info', pass: undefined });

  results.breakdown = {
    note: "the CLI's sequence of API calls for `run --rm` (ping, create, attach hijack, wait?condition=removed, start), timed from the bench process on fresh connections: no node start-up, no commander; then create/wait next-exit/start/DELETE to split exit detection from removal",
    medianMs: { ...Object.fromEntries(Object.entries(bd).map(([k, v]) => [k, round(median(v))])), ...Object.fromEntries(Object.entries(bd2).map(([k, v]) => [k, round(median(v))])) },
    cpuMsPerSequentialRun: {
      cliProcess: cpuPerRun.cli,
      berthdJs: cpuPerRun.berthd,
      berthdChildren: cpuPerRun.berthdKids,
      floorRun: cpuPerRun.floor,
      floorRunWithBerthSpec: cpuPerRun.berthSpec,
      note: "CPU of reaped children from /proc/<pid>/stat: cliProcess = the `berth` node process; berthdChildren = runc delete/start (and conmon's first stage) that berthd waits for; runc create runs under conmon and is not counted",
    },
    samples: { ...bd, ...bd2 },
    berthdPhasesMs: daemonPhases,
    cliMarksMs: cliPhases,
  };
  results.other = {
    ...results.other,
    berthdStartToPingMs: round(daemonStartMs),
    runDetachedMedianMs: round(median(runD)),
    rmForceMs: { containers: opts.containers, ms: round(rmF.ms) },
    getContainersJsonMs: round(median(psApi)),
    apiRunMedianMs: round(median(bd.total)),
    cliOverheadMs: round(sB - median(bd.total)),
    floorSequentialP90: round(pct(seqF, 90)),
    berthSequentialP90: round(pct(seqB, 90)),
    conmons: conmons.map((c) => ({ pid: c.pid, rssMiB: round(c.rss, 2), pssMiB: round(c.pss, 2) })),
  };
  results.loadavg.end = loadavg();
  results.wallSeconds = round((performance.now() - tStart) / 1000);
}

/** Runs fn with the busybox tar imported into another engine (Docker, Podman), removing it after. */
/**
 * Podman asks runc for nofile 1048576 and a high nproc by default; where the
 * host's hard limits are lower (sandboxes), runc may not raise them and every
 * run fails with EPERM. Limits at or under the host's keep it running.
 */
function hostLimits(tool) {
  if (path.basename(tool) !== 'podman') return [];
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const hard = (what) => new RegExp(`^${what}\\s+\\S+\\s+(\\d+)`, 'm').exec(limits)?.[1];
  const args = [];
  for (const [what, name] of [['Max open files', 'nofile'], ['Max processes', 'nproc']]) {
    // Podman's runc could not take nproc at the full hard limit either (EPERM): a plain 16384 at most.
    const h = hard(what) && Math.min(Number(hard(what)), 16384);
    if (h) args.push('--ulimit', `${name}=${h}:${h}`);
  }
  return args;
}

async function otherEngine(tool, tarPath, fn) {
  const img = `berth-bench-busybox:${process.pid}`;
  await must(tool, ['import', tarPath, img]);
  try {
    await fn(img);
  } finally {
    await runCmd(tool, ['rmi', '-f', img]).catch(() => undefined);
  }
}

/** Medians of berthd's BERTH_DEBUG_TIMING lines: `start <id> <phase>: <ms> ms`, `exit <id> <phase>: <ms> ms`. */
function parseDaemonPhases(text) {
  const by = new Map();
  for (const m of text.matchAll(/^(start|exit) [0-9a-f]{12} (.+?): ([\d.]+) ms$/gm)) {
    const k = `${m[1]}: ${m[2]}`;
    if (!by.has(k)) by.set(k, []);
    by.get(k).push(Number(m[3]));
  }
  return Object.fromEntries([...by].map(([k, v]) => [k, round(median(v))]));
}

/** Medians of the CLI's BERTH_DEBUG_TIMING marks (`[<ms since run()> ms] <what>`); a mark carrying its own number (`uptime at run() 71 ms`) keeps that one. */
function parseCliMarks(outputs) {
  const by = new Map();
  for (const out of outputs) {
    for (const m of out.matchAll(/^\[(\d+) ms\] (.+)$/gm)) {
      const inner = /^(.*?)(\d+) ms$/.exec(m[2]);
      const entries = inner ? [[inner[1].trim().replace(/,$/, ''), Number(inner[2])]] : [[m[2], Number(m[1])]];
      for (const [k, v] of entries) {
        if (!by.has(k)) by.set(k, []);
        by.get(k).push(v);
      }
    }
  }
  return Object.fromEntries([...by].map(([k, v]) => [k, round(median(v))]));
}

function findSnapshotDir(root) {
  const snaps = path.join(root, 'snapshots');
  let best;
  try {
    for (const name of fs.readdirSync(snaps)) {
      const fsDir = path.join(snaps, name, 'fs');
      if (/^\d+$/.test(name) && fs.existsSync(path.join(fsDir, 'bin', 'busybox'))) best = fsDir;
    }
  } catch {
    return undefined;
  }
  return best;
}

function extractOwnLower(T, tarPath) {
  const d = path.join(T, 'floor-lower');
  fs.mkdirSync(d, { recursive: true });
  const r = spawnSync('tar', ['-xpf', tarPath, '-C', d]);
  if (r.status !== 0) throw new BenchError(`tar -xf ${tarPath}: ${r.stderr}`);
  results.notes.push("the engine's snapshot dir was not found; the floor's lower dir is the tar extracted by the bench");
  return d;
}

function tail(file, n = 30) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

// ------------------------------------------------------------------ cleanup

/** Idempotent: every caller (normal end, abort, signal) waits for the same cleanup. */
function cleanup() {
  state.cleanup ??= doCleanup();
  return state.cleanup;
}

async function doCleanup() {
  if (!state.tmp) return;
  state.cleaned = true;
  const T = state.tmp;
  const run = path.join(T, 'run');
  const socket = path.join(run, 'berth.sock');
  const problems = [];
  // 1. remove every container through the engine while it is up
  if (state.daemon && !state.daemonExit) {
    try {
      const list = await api(socket, 'GET', '/containers/json?all=1');
      await Promise.all((list.json ?? []).map((c) => api(socket, 'DELETE', `/containers/${c.Id}?force=1`).catch((e) => problems.push(`rm ${c.Id.slice(0, 12)}: ${e.message}`))));
    } catch (e) {
      problems.push(`listing containers: ${e.message}`);
    }
  }
  // 2. stop berthd (ours, and one a CLI may have auto-started with our dirs)
  const daemons = new Set();
  if (state.daemon?.pid && !state.daemonExit) daemons.add(state.daemon.pid);
  try {
    const pid = Number(fs.readFileSync(path.join(run, 'berthd.pid'), 'utf8').trim());
    if (pid > 0 && pidAlive(pid) && (procCmdline(pid) ?? []).some((a) => a.includes('berthd'))) daemons.add(pid);
  } catch {
    // no pid file
  }
  for (const pid of daemons) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  for (let i = 0; i < 50 && [...daemons].some(pidAlive); i++) await sleep(100);
  for (const pid of daemons) if (pidAlive(pid)) {
    problems.push(`berthd ${pid} ignored SIGTERM; killed`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  // 2b. the engine's networks are host-wide (bridge, iptables rules, resolvers): tear them down
  if (DAEMON_JS && fs.existsSync(path.join(T, 'root', 'networks'))) {
    const nodePath = [path.join(REPO, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':');
    const td = spawnSync(process.execPath, [DAEMON_JS, '--teardown-networks'], { env: { ...process.env, BERTH_ROOT: path.join(T, 'root'), BERTH_RUN: run, NODE_PATH: nodePath }, encoding: 'utf8' });
    if (td.status !== 0) problems.push(`network teardown: ${(td.stderr || '').trim()}`);
  }
  // 3. runc containers left behind (engine's and floor's): delete --force kills their processes
  const runc = which('runc', ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin']);
  for (const rr of [path.join(run, 'runc'), path.join(T, 'floor', 'runc')]) {
    if (!runc || !fs.existsSync(rr)) continue;
    const l = spawnSync(runc, ['--root', rr, 'list', '-q'], { encoding: 'utf8' });
    for (const id of (l.stdout ?? '').split('\n').filter(Boolean)) {
      problems.push(`runc container ${id} left behind; deleted`);
      spawnSync(runc, ['--root', rr, 'delete', '--force', id]);
    }
  }
  // 4. conmon (or anything else) still naming our dirs
  for (let i = 0; i < 20; i++) {
    const left = processesMentioning(T);
    if (!left.length) break;
    for (const p of left) {
      if (i === 0) problems.push(`process ${p.pid} (${p.argv[0]}) left behind; killed`);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(50);
  }
  // 5. mounts, deepest first
  for (const mp of mountsUnder(T).sort((a, b) => b.length - a.length)) {
    problems.push(`mount ${mp} left behind; unmounted`);
    spawnSync('umount', ['-l', mp]);
  }
  // 6. the temp dir
  try {
    fs.rmSync(T, { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    problems.push(`removing ${T}: ${e.message}`);
  }
  const leftMounts = mountsUnder(T);
  const leftProcs = processesMentioning(T);
  const ok = !fs.existsSync(T) && !leftMounts.length && !leftProcs.length;
  results.cleanup = { ok, problems };
  log(`cleanup: ${ok ? 'ok' : 'INCOMPLETE'} (daemon stopped, containers removed, mounts unmounted, ${T} removed)${problems.length ? `\n  ${problems.join('\n  ')}` : ''}`);
}

// ------------------------------------------------------------------ report

function fmt(v, unit) {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return '—';
  if (unit === 'MiB') return `${v.toFixed(2)} MiB`;
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`;
}

function report() {
  const head = ['metric', 'Berth', 'floor', 'ratio', 'Docker', 'Podman', 'target', 'pass/fail'];
  const rows = results.metrics.map((m) => {
    const ratio = typeof m.berth === 'number' && typeof m.floor === 'number' && m.floor > 0 ? m.berth / m.floor : undefined;
    m.ratio = ratio === undefined ? undefined : round(ratio, 2);
    return [
      m.label,
      fmt(m.berth, m.unit),
      m.floor === undefined ? '—' : `${fmt(m.floor, m.unit)}${m.floorLabel ? ` (${m.floorLabel})` : ''}`,
      ratio === undefined ? '—' : `${ratio.toFixed(2)}×`,
      fmt(m.docker ?? '—', m.unit),
      fmt(m.podman ?? '—', m.unit),
      m.target ?? '—',
      m.pass === undefined ? 'info' : m.pass ? 'PASS' : 'FAIL',
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  const out = [];
  out.push('');
  out.push(`Berth bench — ${results.date} — kernel ${results.host.kernel}, ${results.host.cpus} CPUs, node ${results.host.node}, ${results.host.runc?.replace(/\s+/g, ' ')}, ${results.host.conmon}`);
  out.push(`Docker: ${results.host.docker}; Podman: ${results.host.podman}`);
  out.push('');
  out.push(line(head));
  out.push(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const r of rows) out.push(line(r));
  out.push('');
  const b = results.breakdown.medianMs;
  const c = results.breakdown.cpuMsPerSequentialRun;
  const o = results.other;
  const conc = results.metrics.find((m) => m.key === 'concurrent');
  out.push('Where the time of one `run --rm` goes (medians, ms):');
  out.push(`  API calls as the CLI makes them, from this process: ping ${b.ping} + create ${b.create} + attach ${b.attach} + wait ${b.waitRegistered} + start ${b.start} + start→removed ${b.startToRemoved} (attach EOF at ${b.startToAttachEof}) = ${b.total}`);
  out.push(`  without --rm: start→exit seen ${b.startToExitSeen}, DELETE ${b.delete}`);
  out.push(`  CLI run median − API run = ${o.cliOverheadMs} ms (node start-up, bundle + commander load, process exit)`);
  const dp = results.breakdown.berthdPhasesMs ?? {};
  if (Object.keys(dp).length) out.push(`  berthd phases (BERTH_DEBUG_TIMING): ${Object.entries(dp).map(([k, v]) => `${k} ${v}`).join(' | ')}`);
  const cm = results.breakdown.cliMarksMs ?? {};
  if (Object.keys(cm).length) out.push(`  CLI marks (ms since run() unless noted): ${Object.entries(cm).map(([k, v]) => `${k} ${v}`).join(' | ')}`);
  out.push(`  CPU per run: berth CLI process ${c.cliProcess}, berthd JS ${c.berthdJs}, runc/conmon reaped by berthd ${c.berthdChildren} (runc create under conmon not counted); floor run ${c.floorRun}, floor with Berth's spec ${c.floorRunWithBerthSpec}`);
  if (conc?.cpuBusyFraction) out.push(`  concurrent batches: CPU busy ${conc.cpuBusyFraction.berth.map((x) => `${Math.round(x * 100)}%`).join(' ')} (Berth) vs ${conc.cpuBusyFraction.floor.map((x) => `${Math.round(x * 100)}%`).join(' ')} (floor) of ${results.host.cpus} CPUs`);
  out.push(`Other: berthd start→first ping ${o.berthdStartToPingMs} ms; \`run -d\` median ${o.runDetachedMedianMs} ms; GET /containers/json ${o.getContainersJsonMs} ms; \`rm -f\` of ${o.rmForceMs.containers} running ${o.rmForceMs.ms} ms`);
  if (o.extraEngineProcesses?.length) out.push(`Engine processes other than berthd/conmon: ${o.extraEngineProcesses.join('; ')}`);
  out.push(`p90: Berth run ${o.berthSequentialP90} ms, floor ${o.floorSequentialP90} ms. Load average at start ${results.loadavg.start.join(' ')}, at end ${results.loadavg.end.join(' ')}. Bench wall time ${results.wallSeconds} s`);
  for (const n of results.notes) out.push(`note: ${n}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function writeJson() {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, 'latest.json');
  fs.writeFileSync(file, `${JSON.stringify(results, (k, v) => (typeof v === 'number' ? round(v, 3) : v), 2)}\n`);
  log(`results written to ${path.relative(process.cwd(), file) || file}`);
}

// ------------------------------------------------------------------ entry

// A request left pending when a phase fails must not crash the bench before cleanup.
process.on('unhandledRejection', (e) => {
  if (!state.cleaned) void abort(e);
});

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (state.interrupted) return;
    state.interrupted = true;
    log(`${sig}: cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
  await cleanup();
  report();
  writeJson();
  fs.rmSync(path.join(RESULTS_DIR, 'berthd-aborted.log'), { force: true }); // stale: this run completed
  const failed = results.metrics.filter((m) => m.pass === false).map((m) => m.key);
  if (!results.cleanup?.ok) process.exitCode = 1;
  if (failed.length) {
    log(`targets missed: ${failed.join(', ')}`);
    if (opts.strict) process.exitCode = 1;
  }
} catch (e) {
  await abort(e);
}

async function abort(e) {
  if (state.aborting) return;
  state.aborting = true;
  if (state.interrupted) {
    // The signal handler is cleaning up; whatever failed meanwhile is a consequence.
    await cleanup();
    process.exit(130);
  }
  process.stderr.write(`\nbench: ABORTED: ${e instanceof BenchError ? e.message : e?.stack ?? e}\n`);
  if (state.daemonExit && !(e instanceof BenchError && e.message.includes('berthd log'))) {
    process.stderr.write(`--- berthd exited (${state.daemonExit.sig ?? `code ${state.daemonExit.code}`}); its log (tail) ---\n${tail(state.daemonLog)}\n`);
  }
  // Keep the daemon log: the temp dir goes away.
  if (state.daemonLog && fs.existsSync(state.daemonLog)) {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    fs.copyFileSync(state.daemonLog, path.join(RESULTS_DIR, 'berthd-aborted.log'));
    log(`berthd log kept in ${path.relative(process.cwd(), path.join(RESULTS_DIR, 'berthd-aborted.log'))}`);
  }
  await cleanup();
  process.exit(1);
}
