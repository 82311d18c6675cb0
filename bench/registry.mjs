#!/usr/bin/env node
// Registry benchmark (issue 6, "Done when" → bench bullet). Run as root:
//
//   npm run bench:registry [-- --runs N --layer-mb M --seconds S]      BENCH_QUICK=1 for a short run
//
// One run, in a temp dir it creates and removes again, with a private copy of dist/:
//   1. push of an image of 4 incompressible layers (4 × 50 MB) to a fresh loopback Debian
//      distribution registry (/usr/bin/docker-registry) per run: `berth push` through an isolated
//      berthd vs `skopeo copy docker-archive:` (compresses too) and `skopeo copy oci:` (already
//      compressed), beside a floor: curl uploads of the same compressed blobs (4 in parallel)
//   2. pull of that image (the blobs skopeo pushed) into a fresh berthd (pull includes unpack) vs
//      `skopeo copy docker:// oci:` (no unpack), beside floors: curl downloads of the blobs and
//      `tar -xzf` of the 4 layers (in parallel)
//   3. registry serve throughput: `berth registry serve` vs docker-registry, GETs of a 1 MiB
//      blob and of a manifest at 1, 16 and 64 keep-alive connections, from a load generator
//      in its own process
// Docker and Podman are measured when their daemons/binaries work. Figures are medians of
// --runs; MB/s = image bytes (compressed for push/pull) / wall time. Prints a table and writes
// bench/results/registry.json. Plain Node ESM, no dependencies.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { promisify } from 'node:util';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = path.join(REPO, 'bench', 'results');
const QUICK = process.env.BENCH_QUICK === '1';
const LAYERS = 4;

// Issue 6's reference figures, measured elsewhere on this machine kind.
const REF = { dockerPush: 48, podmanPush: 109, curlPush: 151, dockerPull: 107, podmanPull: 131, tarXzf: 196, distBlob16: 485, distManifest16: 1346 };

function parseArgs(argv) {
  const o = { runs: QUICK ? 1 : 3, layerMb: QUICK ? 10 : 50, seconds: QUICK ? 1 : 2.5, conns: [1, 16, 64] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0)) fail(`${a} needs a positive number`);
      return v;
    };
    if (a === '--runs') o.runs = Math.round(num());
    else if (a === '--layer-mb') o.layerMb = Math.round(num());
    else if (a === '--seconds') o.seconds = num();
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node bench/registry.mjs [--runs N] [--layer-mb M] [--seconds S]   (BENCH_QUICK=1: 1 run, 10 MB layers, 1 s per load point)\n');
      process.exit(0);
    } else fail(`unknown argument: ${a}`);
  }
  return o;
}

function fail(msg, code = 2) {
  process.stderr.write(`bench/registry: ${msg}\n`);
  process.exit(code);
}

const log = (msg) => process.stderr.write(`bench/registry: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);

function which(name) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
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

/** Spawns a command; resolves with its wall time and output, rejects when it fails. */
function sh(cmd, args, { env = process.env, timeoutMs = 300_000, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    state.children.add(child);
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      state.children.delete(child);
      reject(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      state.children.delete(child);
      const r = { ms: performance.now() - t0, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (code === 0) resolve(r);
      else reject(new Error(`\`${cmd} ${args.join(' ')}\` failed (${code ?? sig}): ${r.stderr.trim().slice(-2000) || r.stdout.trim().slice(-2000)}`));
    });
  });
}

async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function waitHttp(url, ms = 15_000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      return;
    } catch {
      if (Date.now() > end) throw new Error(`${url} did not come up`);
      await sleep(50);
    }
  }
}

const state = { tmp: undefined, children: new Set(), daemon: undefined, cleaned: false };

// ------------------------------------------------------------------ registries

/** A loopback registry process with its own storage: docker-registry or `berth registry serve`. */
class Registry {
  constructor(kind, T, berthCmd) {
    this.kind = kind;
    this.T = T;
    this.berthCmd = berthCmd;
  }

  async start() {
    this.port = await freePort();
    this.dir = fs.mkdtempSync(path.join(this.T, `${this.kind}-`));
    if (this.kind === 'distribution') {
      const cfg = path.join(this.dir, 'config.yml');
      fs.writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(this.dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${this.port}\n`);
      this.proc = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: 'ignore' });
    } else {
      const [cmd, args, env] = this.berthCmd;
      this.proc = spawn(cmd, [...args, 'registry', 'serve', '-q', '--addr', `127.0.0.1:${this.port}`, '--root', path.join(this.dir, 'data')], { env, stdio: 'ignore' });
    }
    state.children.add(this.proc);
    this.host = `127.0.0.1:${this.port}`;
    await waitHttp(`http://${this.host}/v2/`);
    return this;
  }

  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([gone, sleep(5000)]);
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    state.children.delete(p);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Monolithic upload of one blob (POST then PUT ?digest), as curl's floor and the serve setup use. */
async function putBlob(host, repo, digest, data) {
  const r = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await r.body?.cancel();
  if (r.status !== 202) throw new Error(`POST upload to ${host}: ${r.status}`);
  const loc = new URL(r.headers.get('location'), `http://${host}`);
  loc.searchParams.set('digest', digest);
  const p = await fetch(loc, { method: 'PUT', body: data, headers: { 'Content-Type': 'application/octet-stream' } });
  await p.body?.cancel();
  if (p.status !== 201) throw new Error(`PUT blob to ${host}: ${p.status}`);
}

// ------------------------------------------------------------------ the image

const sha = (buf) => `sha256:${createHash('sha256').update(buf).digest('hex')}`;
function shaFile(file) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    fs.createReadStream(file, { highWaterMark: 1 << 20 }).on('data', (c) => h.update(c)).on('end', () => resolve(`sha256:${h.digest('hex')}`)).on('error', reject);
  });
}

/** 4 layers of one random file each: layer tars, their gzip forms, a docker-archive. */
async function makeImage(T, layerMb) {
  const dir = path.join(T, 'image');
  fs.mkdirSync(dir);
  const layers = [];
  const gzip = promisify(zlib.gzip);
  await Promise.all(
    Array.from({ length: LAYERS }, async (_, i) => {
      const src = path.join(dir, `src${i}`);
      fs.mkdirSync(path.join(src, `layer${i}`), { recursive: true });
      fs.writeFileSync(path.join(src, `layer${i}`, 'data.bin'), randomBytes(layerMb << 20));
      const tar = path.join(dir, `layer${i}.tar`);
      await sh('tar', ['-C', src, '--owner=0', '--group=0', '--numeric-owner', '-cf', tar, `layer${i}`]);
      fs.rmSync(src, { recursive: true });
      const raw = fs.readFileSync(tar);
      const gz = await gzip(raw, { level: 1 });
      const tgz = path.join(dir, `layer${i}.tar.gz`);
      fs.writeFileSync(tgz, gz);
      layers[i] = { tar, tgz, diffId: sha(raw), digest: sha(gz), size: gz.length, rawSize: raw.length };
    }),
  );
  const config = {
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: '2026-01-01T00:00:00Z', created_by: `layer ${i}` })),
  };
  const cfgBuf = Buffer.from(JSON.stringify(config));
  const cfgName = `${sha(cfgBuf).slice(7)}.json`;
  const arch = path.join(dir, 'archive');
  fs.mkdirSync(arch);
  fs.writeFileSync(path.join(arch, cfgName), cfgBuf);
  for (let i = 0; i < LAYERS; i++) fs.linkSync(layers[i].tar, path.join(arch, `layer${i}.tar`));
  fs.writeFileSync(path.join(arch, 'manifest.json'), JSON.stringify([{ Config: cfgName, RepoTags: ['bench/img:latest'], Layers: layers.map((_, i) => `layer${i}.tar`) }]));
  const archive = path.join(dir, 'image.tar');
  await sh('tar', ['-C', arch, '-cf', archive, '.']);
  fs.rmSync(arch, { recursive: true });
  const bytes = layers.reduce((a, l) => a + l.size, 0);
  return { layers, archive, bytes, rawBytes: layers.reduce((a, l) => a + l.rawSize, 0) };
}

// ------------------------------------------------------------------ berthd

function berthEnv(T) {
  const env = {
    ...process.env,
    BERTH_ROOT: path.join(T, 'berth', 'root'),
    BERTH_RUN: path.join(T, 'berth', 'run'),
    BERTH_HOST: `unix://${path.join(T, 'berth', 'run', 'berth.sock')}`,
    BERTH_NO_AUTOSTART: '1',
    BERTH_BRIDGE: `rb${randomBytes(3).toString('hex')}`,
    BERTH_BRIDGE_SUBNET: `10.${150 + randomInt(50)}.${randomInt(256)}.0/24`,
    BERTH_SUBNET_POOL: `10.${200 + randomInt(50)}.0.0/16`,
    NODE_PATH: [path.join(REPO, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':'),
  };
  return env;
}

async function startDaemon(T, pkg, env, fresh) {
  await stopDaemon();
  if (fresh && fs.existsSync(path.join(T, 'berth'))) {
    teardownNetworks(pkg, env);
    fs.rmSync(path.join(T, 'berth'), { recursive: true, force: true });
  }
  const logFd = fs.openSync(path.join(T, 'berthd.log'), 'a');
  // berthd keeps NODE_EXTRA_CA_CERTS (as bin/berthd does); flags as bin/berthd.
  const d = spawn(process.execPath, ['--max-semi-space-size=2', '--expose-gc', path.join(pkg, 'berthd.js')], { env: { ...env, MALLOC_ARENA_MAX: '2' }, stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  state.daemon = d;
  const sock = env.BERTH_HOST.slice('unix://'.length);
  for (let i = 0; i < 400; i++) {
    if (d.exitCode !== null) throw new Error(`berthd exited: ${tail(path.join(T, 'berthd.log'))}`);
    if (fs.existsSync(sock)) {
      const ok = await new Promise((resolve) => {
        import('node:http').then(({ request }) => {
          const req = request({ socketPath: sock, path: '/_ping' }, (res) => {
            res.resume();
            resolve(res.statusCode === 200);
          });
          req.on('error', () => resolve(false));
          req.end();
        });
      });
      if (ok) return d;
    }
    await sleep(25);
  }
  throw new Error(`berthd did not come up: ${tail(path.join(T, 'berthd.log'))}`);
}

/** Removes whatever network state the bench engine made (berthd must be stopped). */
function teardownNetworks(pkg, env) {
  spawnSync(process.execPath, [path.join(pkg, 'berthd.js'), '--teardown-networks'], { env, stdio: 'ignore', timeout: 20_000 });
}

async function stopDaemon() {
  const d = state.daemon;
  state.daemon = undefined;
  if (!d || d.exitCode !== null || d.signalCode !== null) return;
  const gone = new Promise((r) => d.once('exit', r));
  d.kill('SIGTERM');
  await Promise.race([gone, sleep(10_000)]);
  if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
}

function tail(file, n = 30) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

// ------------------------------------------------------------------ load generator

// Runs in its own process so the generator does not share an event loop with anything measured.
const LOADGEN = `
import http from 'node:http';
const [url, conns, seconds, warm, accept] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), process.argv[6]];
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: conns, maxFreeSockets: conns });
let done = 0, bytes = 0, errors = 0, counting = false, stop = false;
function one() {
  return new Promise((resolve) => {
    const req = http.request({ agent, host: u.hostname, port: u.port, path: u.pathname, headers: { Accept: accept } }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => { if (counting) { if (res.statusCode === 200) { done++; bytes += n; } else errors++; } resolve(); });
    });
    req.on('error', () => { if (counting) errors++; resolve(); });
    req.end();
  });
}
async function loop() { while (!stop) await one(); }
const loops = Array.from({ length: conns }, loop);
await new Promise((r) => setTimeout(r, warm * 1000));
counting = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
counting = false;
const ms = performance.now() - t0;
stop = true;
await Promise.all(loops);
agent.destroy();
process.stdout.write(JSON.stringify({ rps: done / (ms / 1000), mbps: bytes / 1e6 / (ms / 1000), errors, cpuMs: process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000 }));
`;

// ------------------------------------------------------------------ phases

function cpuOf(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(x[11]) + Number(x[12])) * 10;
  } catch {
    return NaN;
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) fail('must run as root (berthd unpacks layers as root): sudo npm run bench:registry', 1);
  if (!fs.existsSync('/usr/bin/docker-registry')) fail('/usr/bin/docker-registry not found: apt-get install docker-registry', 1);
  for (const f of ['berth.js', 'berthd.js', 'registry-server.js']) if (!fs.existsSync(path.join(REPO, 'dist', f))) fail(`dist/${f} missing: run npm run build first`, 1);
  const skopeo = which('skopeo');
  const curl = which('curl');
  const podman = which('podman') && spawnSync('podman', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0 ? 'podman' : undefined;
  const docker = which('docker') && spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0 ? 'docker' : undefined;
  const ver = (cmd, args) => (cmd ? (spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '').split('\n')[0].trim() : 'not installed');

  const T = (state.tmp = fs.mkdtempSync('/tmp/reg-bench-'));
  log(`work dir ${T}; ${opts.runs} run(s), ${LAYERS} × ${opts.layerMb} MB layers`);
  // Private copy of the bundles: others may rebuild dist/ meanwhile.
  const pkg = path.join(T, 'pkg');
  fs.mkdirSync(pkg);
  for (const f of ['berth.js', 'berthd.js', 'registry-server.js']) fs.copyFileSync(path.join(REPO, 'dist', f), path.join(pkg, f));
  const env = (state.env = berthEnv(T));
  const cliEnv = { ...env };
  delete cliEnv.NODE_EXTRA_CA_CERTS; // as bin/berth's shebang does
  const berth = (...args) => sh(process.execPath, [path.join(pkg, 'berth.js'), ...args], { env: cliEnv });
  const results = {
    date: new Date().toISOString(),
    host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, kernel: os.release(), node: process.version, loadavgStart: os.loadavg().map((x) => round(x, 2)), skopeo: ver(skopeo, ['--version']), distribution: ver('/usr/bin/docker-registry', ['--version']), docker: docker ? ver('docker', ['version', '--format', '{{.Server.Version}}']) : 'not running', podman: podman ? ver('podman', ['--version']) : 'not installed' },
    config: { ...opts, quick: QUICK },
    push: {},
    pull: {},
    serve: {},
    notes: [],
  };
  if (results.host.loadavgStart[0] > 1) log(`warning: load average ${results.host.loadavgStart.join(' ')} on ${os.cpus().length} CPUs: other work is running, figures are noisy`);

  log('making the image');
  const img = await makeImage(T, opts.layerMb);
  const MB = img.bytes / 1e6;
  results.image = { layers: LAYERS, compressedBytes: img.bytes, uncompressedBytes: img.rawBytes };
  const mbps = (ms) => round(MB / (ms / 1000));

  await startDaemon(T, pkg, env, true);
  await berth('load', '-q', '-i', img.archive);

  // An OCI layout with the compressed layers, for skopeo's upload-only push.
  let ociSrc;
  if (skopeo) {
    ociSrc = path.join(T, 'oci-src');
    await sh(skopeo, ['copy', '-q', `docker-archive:${img.archive}`, `oci:${ociSrc}:latest`]);
  }

  // ---------------- push: a fresh registry per measurement, so nothing is skipped or mounted
  log('push');
  const push = { berth: [], skopeoArchive: [], skopeoOci: [], curl: [], podman: [], docker: [] };
  const fresh = async (fn) => {
    const reg = await new Registry('distribution', T).start();
    try {
      return await fn(reg);
    } finally {
      await reg.stop();
    }
  };
  for (let r = 0; r < opts.runs; r++) {
    await fresh(async (reg) => {
      const ref = `${reg.host}/bench/img:r${r}`;
      await berth('tag', 'bench/img:latest', ref);
      const d0 = cpuOf(state.daemon.pid);
      push.berth.push((await berth('push', '-q', ref)).ms);
      results.push.berthdCpuMs = (results.push.berthdCpuMs ?? 0) + (cpuOf(state.daemon.pid) - d0) / opts.runs;
      await berth('rmi', ref);
    });
    if (skopeo) {
      await fresh(async (reg) => push.skopeoArchive.push((await sh(skopeo, ['copy', '-q', '--dest-tls-verify=false', `docker-archive:${img.archive}`, `docker://${reg.host}/bench/img:r${r}`])).ms));
      await fresh(async (reg) => push.skopeoOci.push((await sh(skopeo, ['copy', '-q', '--dest-tls-verify=false', `oci:${ociSrc}:latest`, `docker://${reg.host}/bench/img:r${r}`])).ms));
    }
    if (curl) {
      await fresh(async (reg) => {
        const t0 = performance.now();
        await Promise.all(
          img.layers.map(async (l) => {
            const loc = (await sh(curl, ['-sf', '-X', 'POST', '-o', '/dev/null', '-w', '%header{location}', `http://${reg.host}/v2/bench/curl/blobs/uploads/`])).stdout.trim();
            const u = new URL(loc, `http://${reg.host}`);
            u.searchParams.set('digest', l.digest);
            await sh(curl, ['-sf', '-o', '/dev/null', '-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${l.tgz}`, u.toString()]);
          }),
        );
        push.curl.push(performance.now() - t0);
      });
    }
    if (podman) {
      await sh(podman, ['load', '-q', '-i', img.archive]);
      await fresh(async (reg) => push.podman.push((await sh(podman, ['push', '-q', '--tls-verify=false', 'bench/img:latest', `${reg.host}/bench/img:r${r}`])).ms));
    }
    if (docker) {
      await sh(docker, ['load', '-q', '-i', img.archive]);
      await fresh(async (reg) => {
        await sh(docker, ['tag', 'bench/img:latest', `${reg.host}/bench/img:r${r}`]);
        push.docker.push((await sh(docker, ['push', '-q', `${reg.host}/bench/img:r${r}`])).ms);
      });
    }
  }
  results.push.ms = Object.fromEntries(Object.entries(push).filter(([, v]) => v.length).map(([k, v]) => [k, v.map((x) => round(x))]));
  results.push.mbps = Object.fromEntries(Object.entries(results.push.ms).map(([k, v]) => [k, mbps(median(v))]));

  // ---------------- pull: one registry holding the image (blobs as skopeo compressed them; Berth's push when no skopeo)
  log('pull');
  const reg = await new Registry('distribution', T).start();
  const src = `${reg.host}/bench/img:src`;
  if (skopeo) await sh(skopeo, ['copy', '-q', '--dest-tls-verify=false', `oci:${ociSrc}:latest`, `docker://${src}`]);
  else {
    await berth('tag', 'bench/img:latest', src);
    await berth('push', '-q', src);
  }
  const pull = { berth: [], skopeo: [], skopeoStore: [], curl: [], tarXzf: [], podman: [], docker: [] };
  // The compressed blobs as they sit in the registry (for the curl floor).
  const man = await (await fetch(`http://${reg.host}/v2/bench/img/manifests/src`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } })).json();
  const pulledBytes = man.layers.reduce((a, l) => a + l.size, 0) / 1e6;
  for (let r = 0; r < opts.runs; r++) {
    // A fresh engine each time: no layer or snapshot left from the load or an earlier pull.
    await startDaemon(T, pkg, env, true);
    const d0 = cpuOf(state.daemon.pid);
    pull.berth.push((await berth('pull', '-q', src)).ms);
    results.pull.berthdCpuMs = (results.pull.berthdCpuMs ?? 0) + (cpuOf(state.daemon.pid) - d0) / opts.runs;
    if (skopeo) {
      const dest = path.join(T, 'oci-pull');
      fs.rmSync(dest, { recursive: true, force: true });
      pull.skopeo.push((await sh(skopeo, ['copy', '-q', '--src-tls-verify=false', `docker://${src}`, `oci:${dest}:latest`])).ms);
      fs.rmSync(dest, { recursive: true, force: true });
      // The same work as a pull: into containers/storage (Podman's store, overlay), which unpacks each layer.
      const root = path.join(T, `skopeo-store-${r}`);
      try {
        const r2 = await sh(skopeo, ['copy', '-q', '--src-tls-verify=false', `docker://${src}`, `containers-storage:[overlay@${root}/root+${root}/run]${src}`]).catch(() => undefined);
        if (r2) pull.skopeoStore.push(r2.ms);
      } finally {
        if (podman) spawnSync(podman, ['--root', `${root}/root`, '--runroot', `${root}/run`, 'rmi', '-a', '-f'], { stdio: 'ignore' });
        fs.rmSync(root, { recursive: true, force: true });
      }
    }
    if (curl) {
      const t0 = performance.now();
      await Promise.all(man.layers.map((l) => sh(curl, ['-sf', '-o', '/dev/null', `http://${reg.host}/v2/bench/img/blobs/${l.digest}`])));
      pull.curl.push(performance.now() - t0);
    }
    const x = path.join(T, 'tar-x');
    fs.rmSync(x, { recursive: true, force: true });
    fs.mkdirSync(x);
    const t0 = performance.now();
    await Promise.all(img.layers.map((l, i) => fs.promises.mkdir(path.join(x, String(i))).then(() => sh('tar', ['-C', path.join(x, String(i)), '-xzf', l.tgz]))));
    pull.tarXzf.push(performance.now() - t0);
    fs.rmSync(x, { recursive: true, force: true });
    if (podman) {
      // A store of its own, as each Berth pull gets a fresh engine: the push above left these layers in Podman's.
      const store = ['--root', path.join(T, `podman-${r}`, 'root'), '--runroot', path.join(T, `podman-${r}`, 'run')];
      try {
        pull.podman.push((await sh(podman, [...store, 'pull', '-q', '--tls-verify=false', src])).ms);
      } finally {
        spawnSync(podman, [...store, 'rmi', '-a', '-f'], { stdio: 'ignore' });
        fs.rmSync(path.join(T, `podman-${r}`), { recursive: true, force: true });
      }
    }
    if (docker) {
      spawnSync(docker, ['rmi', '-f', src], { stdio: 'ignore' });
      pull.docker.push((await sh(docker, ['pull', '-q', src])).ms);
      spawnSync(docker, ['rmi', '-f', src], { stdio: 'ignore' });
    }
  }
  await reg.stop();
  await stopDaemon();
  results.pull.ms = Object.fromEntries(Object.entries(pull).filter(([, v]) => v.length).map(([k, v]) => [k, v.map((x) => round(x))]));
  results.pull.mbps = Object.fromEntries(Object.entries(results.pull.ms).map(([k, v]) => [k, round(pulledBytes / (median(v) / 1000))]));

  // ---------------- serve throughput
  log('serve');
  const loadgen = path.join(T, 'loadgen.mjs');
  fs.writeFileSync(loadgen, LOADGEN);
  // wrk (C, epoll) when installed: the Node load generator copies every body chunk into fresh
  // memory, and on this VM its page faults made it the bottleneck at 1 connection (~1 core
  // receiving ~100 MiB/s), so ×1 measured the client, not the server.
  const wrk = which('wrk');
  results.loadGenerator = wrk ? `wrk (${ver(wrk, ['--version']).split('\n')[0]}), 1 thread` : 'node http client (bench/registry.mjs LOADGEN)';
  log(`  load generator: ${results.loadGenerator}`);
  const warm = wrk ? 1 : Math.min(0.5, opts.seconds / 2);
  const measured = wrk ? Math.max(1, Math.round(opts.seconds)) : opts.seconds;
  const loadPoint = async (url, c, accept) => {
    if (!wrk) return JSON.parse((await sh(process.execPath, [loadgen, url, String(c), String(opts.seconds), String(warm), accept])).stdout);
    // wrk takes whole seconds.
    const args = ['-t1', `-c${c}`, '--timeout', '10s', '-H', `Accept: ${accept}`, url];
    await sh(wrk, ['-d1s', ...args]);
    const out = (await sh(wrk, [`-d${measured}s`, ...args])).stdout;
    const num = (re) => Number(out.match(re)?.[1] ?? NaN);
    const rps = num(/Requests\/sec:\s+([\d.]+)/);
    const [, amount, unit] = out.match(/Transfer\/sec:\s+([\d.]+)([KMG]?B)/) ?? [];
    const mbps = Number(amount) * ({ B: 1e-6, KB: 1024 / 1e6, MB: 1048576 / 1e6, GB: 1073741824 / 1e6 }[unit] ?? NaN);
    const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
    const errors = (num(/Non-2xx or 3xx responses: (\d+)/) || 0) + (sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0);
    if (!(rps >= 0)) throw new Error(`wrk printed no rate:\n${out}`);
    return { rps, mbps, errors, cpuMs: null };
  };
  const blob = randomBytes(1 << 20);
  const blobDigest = sha(blob);
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(cfg), size: cfg.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blobDigest, size: blob.length }] }));
  const servers = [['distribution', new Registry('distribution', T)], ['berth', new Registry('berth', T, [process.execPath, [path.join(pkg, 'berth.js')], cliEnv])]];
  // Both serve at once and take turns per load point, 3 samples each (median): one sample of one
  // server after the other swung ×1 results by ±40% on a 2-core host where the load generator
  // itself is CPU-bound.
  const REPS = QUICK ? 1 : 3;
  try {
    for (const [name, srv] of servers) {
      await srv.start();
      await putBlob(srv.host, 'bench/serve', blobDigest, blob);
      await putBlob(srv.host, 'bench/serve', sha(cfg), cfg);
      const m = await fetch(`http://${srv.host}/v2/bench/serve/manifests/latest`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
      await m.body?.cancel();
      if (m.status !== 201) throw new Error(`${name}: manifest PUT answered ${m.status}`);
      results.serve[name] = {};
    }
    // distribution answers 404 to a GET of an OCI manifest that does not Accept the OCI type.
    for (const [what, urlPath, accept] of [['blob', `/v2/bench/serve/blobs/${blobDigest}`, '*/*'], ['manifest', '/v2/bench/serve/manifests/latest', 'application/vnd.oci.image.manifest.v1+json']]) {
      for (const c of opts.conns) {
        const samples = Object.fromEntries(servers.map(([name]) => [name, []]));
        for (let rep = 0; rep < REPS; rep++) {
          for (const [name, srv] of servers) {
            const s0 = cpuOf(srv.proc.pid);
            const r = await loadPoint(`http://${srv.host}${urlPath}`, c, accept);
            const serverCpu = (cpuOf(srv.proc.pid) - s0) / ((measured + warm) * 1000);
            samples[name].push({ rps: r.rps, mbps: r.mbps, errors: r.errors, serverCpu, cpuMs: r.cpuMs });
          }
        }
        for (const [name] of servers) {
          const xs = samples[name];
          const mid = [...xs].sort((a, b) => a.rps - b.rps)[Math.floor(xs.length / 2)];
          const errors = xs.reduce((a, x) => a + x.errors, 0);
          results.serve[name][`${what}@${c}`] = { rps: round(mid.rps), rpsSamples: xs.map((x) => round(x.rps)), mbps: round(mid.mbps), errors, serverCpuCores: round(mid.serverCpu, 2), loadgenCpuMs: round(mid.cpuMs) };
          log(`  ${name} ${what} ×${c}: ${round(mid.rps)} req/s (${xs.map((x) => round(x.rps)).join(', ')})${errors ? ` (${errors} errors)` : ''}, server ${round(mid.serverCpu, 2)} cores`);
        }
      }
    }
  } finally {
    for (const [, srv] of servers) await srv.stop().catch(() => undefined);
  }

  results.host.loadavgEnd = os.loadavg().map((x) => round(x, 2));
  report(results, MB, pulledBytes);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, 'registry.json'), `${JSON.stringify(results, null, 1)}\n`);
  log(`wrote ${path.relative(REPO, path.join(RESULTS_DIR, 'registry.json'))}`);
}

function report(r, pushMB, pullMB) {
  const p = (x) => (x === null || x === undefined ? 'n/a' : `${x} MB/s`);
  const lines = [];
  lines.push(`\nBerth registry bench — ${r.date} — ${r.host.cpus} CPUs, load ${r.host.loadavgStart.join(' ')} → ${r.host.loadavgEnd.join(' ')}`);
  lines.push(`image: ${LAYERS} incompressible layers, ${round(pushMB)} MB compressed; median of ${r.config.runs} run(s); loopback docker-registry (${r.host.distribution})`);
  lines.push('\n| push | MB/s | ref (issue 6) |');
  lines.push('|---|---|---|');
  const pu = r.push.mbps;
  lines.push(`| berth push (via berthd; compresses) | ${p(pu.berth)} | |`);
  if (pu.skopeoArchive) lines.push(`| skopeo copy docker-archive: → registry (compresses) | ${p(pu.skopeoArchive)} | |`);
  if (pu.skopeoOci) lines.push(`| skopeo copy oci: → registry (already compressed) | ${p(pu.skopeoOci)} | |`);
  lines.push(`| podman push | ${p(pu.podman)} | ${REF.podmanPush} MB/s |`);
  lines.push(`| docker push | ${p(pu.docker)} | ${REF.dockerPush} MB/s |`);
  if (pu.curl) lines.push(`| floor: curl upload of the compressed blobs (4 parallel) | ${p(pu.curl)} | ${REF.curlPush} MB/s |`);
  lines.push('\n| pull | MB/s | ref (issue 6) |');
  lines.push('|---|---|---|');
  const pl = r.pull.mbps;
  lines.push(`| berth pull (via berthd; verify + unpack) | ${p(pl.berth)} | |`);
  if (pl.skopeoStore) lines.push(`| skopeo copy → containers-storage: (verify + unpack, as Podman's store) | ${p(pl.skopeoStore)} | |`);
  if (pl.skopeo) lines.push(`| skopeo copy → oci: (verify, no unpack: a download floor, info) | ${p(pl.skopeo)} | |`);
  lines.push(`| podman pull | ${p(pl.podman)} | ${REF.podmanPull} MB/s |`);
  lines.push(`| docker pull | ${p(pl.docker)} | ${REF.dockerPull} MB/s |`);
  if (pl.curl) lines.push(`| floor: curl download of the blobs (4 parallel) | ${p(pl.curl)} | |`);
  lines.push(`| floor: tar -xzf of the 4 layers (parallel) | ${p(pl.tarXzf)} | ${REF.tarXzf} MB/s |`);
  const pushOk = pu.berth >= Math.max(pu.skopeoArchive ?? 0, pu.podman ?? 0);
  // Pull is measured against the tools doing the same work (verify + unpack into a store); without
  // containers-storage support in skopeo, its oci: copy (no unpack) stands in.
  const pullRef = pl.skopeoStore ?? pl.skopeo ?? 0;
  const pullOk = pl.berth >= Math.max(pullRef, pl.podman ?? 0);
  lines.push(`targets: push ≥ skopeo and Podman (same work: compress + upload) ${pushOk ? 'PASS' : 'FAIL'}; pull ≥ skopeo${pl.skopeoStore ? ' → containers-storage' : ' → oci:'} and Podman (${pl.skopeoStore ? 'same work: verify + unpack' : 'skopeo without unpack'}) ${pullOk ? 'PASS' : 'FAIL'}`);
  lines.push(`(berthd CPU per push ${round(r.push.berthdCpuMs)} ms, per pull ${round(r.pull.berthdCpuMs)} ms; pulled ${round(pullMB)} MB)`);
  lines.push('\n| serve (req/s) | blob ×1 | blob ×16 | blob ×64 | manifest ×1 | manifest ×16 | manifest ×64 |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const [name, v] of Object.entries(r.serve)) {
    const cell = (k) => (v[k] ? `${v[k].rps}` : 'n/a');
    lines.push(`| ${name === 'berth' ? 'berth registry serve' : 'docker-registry'} | ${cell('blob@1')} | ${cell('blob@16')} | ${cell('blob@64')} | ${cell('manifest@1')} | ${cell('manifest@16')} | ${cell('manifest@64')} |`);
  }
  lines.push(`| ref: distribution (issue 6, ×16) | | ${REF.distBlob16} | | | ${REF.distManifest16} | |`);
  lines.push(`load generator: ${r.loadGenerator}`);
  const b = r.serve.berth ?? {};
  const d = r.serve.distribution ?? {};
  const serveOk = Object.keys(d).every((k) => (b[k]?.rps ?? 0) >= d[k].rps);
  lines.push(`target: serve ≥ docker-registry at every point: ${serveOk ? 'PASS' : 'FAIL'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function cleanup() {
  if (state.cleaned) return;
  state.cleaned = true;
  await stopDaemon().catch(() => undefined);
  for (const c of state.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (state.tmp) {
    if (state.env && fs.existsSync(path.join(state.tmp, 'berth'))) teardownNetworks(path.join(state.tmp, 'pkg'), state.env);
    for (const m of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(state.tmp)).sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', m]);
    fs.rmSync(state.tmp, { recursive: true, force: true });
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => cleanup().finally(() => process.exit(130)));
main()
  .catch((e) => {
    process.stderr.write(`bench/registry: ${e.stack ?? e.message}\n`);
    if (state.tmp) process.stderr.write(`--- berthd log (tail) ---\n${tail(path.join(state.tmp, 'berthd.log'))}\n`);
    process.exitCode = 1;
  })
  .finally(cleanup);
