/**
 * `berth registry serve` token auth, config file and shutdown: a tiny token
 * server in the test issues JWTs (RS256 by `kid`, ES256 by `x5c` chain) and
 * Berth's client pulls and pushes through the bearer flow; forged, expired
 * and under-scoped tokens are refused with the right challenge. Debian's
 * distribution registry, when installed, checks that our libtrust key IDs
 * are the ones it computes. The CLI is run for the config file and for
 * SIGTERM draining.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { sha256 } from '../../src/image/digest';
import { ImageStore } from '../../src/image/store';
import { writeTar } from '../../src/image/tar';
import { type ImageConfig, type ImageRecord, MEDIA_OCI_LAYER, platformArch } from '../../src/image/types';
import { pullImage } from '../../src/registry/client/pull';
import { pushImage } from '../../src/registry/client/push';
import { createRegistryServer } from '../../src/registry/server/server';
import { libtrustKeyId } from '../../src/registry/server/token';
import { freePort, run, tempDirs } from '../helpers/net';

const tmpdir = tempDirs();

const root = process.getuid?.() === 0;


async function openssl(...args: string[]): Promise<void> {
  const r = await run('openssl', args);
  assert.equal(r.status, 0, r.stderr);
}


async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function makeImage(store: ImageStore, ref: string): Promise<ImageRecord> {
  const chunks: Buffer[] = [];
  for await (const c of writeTar([{ entry: { name: 'f.bin', type: 'file' as const, size: 4096 }, body: randomBytes(4096) }])) chunks.push(c);
  const l = await store.content.put(Buffer.concat(chunks));
  const config: ImageConfig = { architecture: platformArch(), os: 'linux', created: '2024-01-01T00:00:00Z', config: {}, rootfs: { type: 'layers', diff_ids: [l.digest] }, history: [{ created_by: 'x' }] };
  return store.create(config, [{ mediaType: MEDIA_OCI_LAYER, digest: l.digest, size: l.size }], ref);
}

async function newStore(): Promise<ImageStore> {
  const s = new ImageStore(tmpdir('bauthstore-'));
  await s.init();
  return s;
}

interface Signer {
  alg: 'RS256' | 'ES256';
  key: KeyObject;
  header: Record<string, unknown>;
}

function jwt(s: Signer, claims: Record<string, unknown>): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const data = `${enc({ typ: 'JWT', alg: s.alg, ...s.header })}.${enc(claims)}`;
  const sig = sign('sha256', Buffer.from(data), s.alg === 'ES256' ? { key: s.key, dsaEncoding: 'ieee-p1363' } : s.key);
  return `${data}.${sig.toString('base64url')}`;
}

const ISSUER = 'test-issuer';
const SERVICE = 'berth-test-registry';

/** Grants alice pull+push on rw/*, pull only on ro/*; bob nothing. */
function policy(user: string, scope: string): { type: string; name: string; actions: string[] } | undefined {
  const [type, name, actions] = scope.split(':');
  if (type !== 'repository' || user !== 'alice') return undefined;
  const allowed = name.startsWith('rw/') ? ['pull', 'push'] : name.startsWith('ro/') ? ['pull'] : [];
  return { type, name, actions: actions.split(',').filter((a) => allowed.includes(a)) };
}

describe('Berth registry server: token auth', { skip: existsSync('/usr/bin/openssl') ? false : 'openssl not installed' }, () => {
  const dir = tmpdir('btoken-');
  let rsa: Signer;
  let ec: Signer;
  let tokenServer: Server;
  let realm = '';
  let registry: Server;
  let port = 0;
  let signer: () => Signer;
  const issued: string[] = [];

  before(async () => {
    // RS256: a self-signed certificate in the bundle, tokens name its key by libtrust kid.
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'rsa.key'), '-out', join(dir, 'rsa.pem'), '-days', '1', '-subj', '/CN=token-rsa');
    // ES256: a CA in the bundle; tokens carry the leaf it signed in x5c.
    await openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=token-ca');
    await openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'leaf.key'), '-out', join(dir, 'leaf.csr'), '-subj', '/CN=token-leaf');
    await openssl('x509', '-req', '-in', join(dir, 'leaf.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-out', join(dir, 'leaf.pem'), '-days', '1');
    writeFileSync(join(dir, 'bundle.pem'), readFileSync(join(dir, 'rsa.pem'), 'utf8') + readFileSync(join(dir, 'ca.pem'), 'utf8'));
    const rsaCert = new X509Certificate(readFileSync(join(dir, 'rsa.pem')));
    rsa = { alg: 'RS256', key: createPrivateKey(readFileSync(join(dir, 'rsa.key'))), header: { kid: libtrustKeyId(rsaCert.publicKey) } };
    const leaf = new X509Certificate(readFileSync(join(dir, 'leaf.pem')));
    ec = { alg: 'ES256', key: createPrivateKey(readFileSync(join(dir, 'leaf.key'))), header: { x5c: [leaf.raw.toString('base64')] } };
    signer = () => rsa;

    tokenServer = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
      const user = basic === 'alice:wonderland' ? 'alice' : basic === 'bob:builder' ? 'bob' : undefined;
      if (!user) {
        res.writeHead(401).end();
        return;
      }
      const access = u.searchParams.getAll('scope').map((s) => policy(user, s)).filter((a) => a !== undefined);
      const now = Math.floor(Date.now() / 1000);
      const token = jwt(signer(), { iss: ISSUER, sub: user, aud: u.searchParams.get('service'), exp: now + 300, nbf: now - 1, iat: now, jti: randomBytes(8).toString('hex'), access });
      issued.push(u.searchParams.getAll('scope').join(' '));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
    });
    realm = `http://127.0.0.1:${await listen(tokenServer)}/token`;
    registry = await createRegistryServer({ root: join(dir, 'data'), token: { realm, service: SERVICE, issuer: ISSUER, rootCertBundle: join(dir, 'bundle.pem') } });
    port = await listen(registry);
  });
  after(() => {
    registry.close();
    registry.closeAllConnections();
    tokenServer.close();
    tokenServer.closeAllConnections();
  });

  const url = (p: string) => `http://127.0.0.1:${port}${p}`;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (extra: Record<string, unknown> = {}) => ({ iss: ISSUER, aud: SERVICE, exp: now() + 60, access: [{ type: 'repository', name: 'rw/app', actions: ['pull'] }], ...extra });
  const bearer = (t: string) => ({ headers: { Authorization: `Bearer ${t}` } });

  test('challenges: realm and service on /v2/, the needed scope per route', async () => {
    const base = await fetch(url('/v2/'));
    assert.equal(base.status, 401);
    assert.equal(base.headers.get('www-authenticate'), `Bearer realm="${realm}",service="${SERVICE}"`);
    const blob = await fetch(url(`/v2/rw/app/blobs/${sha256('x')}`));
    assert.equal(blob.headers.get('www-authenticate'), `Bearer realm="${realm}",service="${SERVICE}",scope="repository:rw/app:pull"`);
    const up = await fetch(url('/v2/rw/app/blobs/uploads/'), { method: 'POST' });
    assert.equal(up.headers.get('www-authenticate'), `Bearer realm="${realm}",service="${SERVICE}",scope="repository:rw/app:pull,push"`);
    assert.equal(((await up.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'UNAUTHORIZED');
  });

  test('Berth client pushes and pulls through the token flow (RS256, kid)', { skip: root ? false : 'needs root to unpack layers' }, async () => {
    const a = await newStore();
    const ref = `127.0.0.1:${port}/rw/app:v1`;
    const img = await makeImage(a, ref);
    const creds = { username: 'alice', password: 'wonderland' };
    await assert.rejects(pushImage(a, ref), /unauthori|401|credentials|login/i);
    const pushed = await pushImage(a, ref, { credentials: creds });
    assert.ok(issued.some((s) => s.includes('repository:rw/app:pull,push')), issued.join('\n'));
    const b = await newStore();
    const res = await pullImage(b, ref, { credentials: creds });
    assert.equal(res.image.id, img.id);
    assert.equal(res.digest, pushed.digest);
    // Pull-only repository: pull of nothing is "unknown", push is refused.
    await a.tag(ref, `127.0.0.1:${port}/ro/app:v1`);
    await assert.rejects(pushImage(a, `127.0.0.1:${port}/ro/app:v1`, { credentials: creds }), /denied|unauthori|401|insufficient/i);
    // bob gets a token without access: pulling rw/app fails. The daemon-wide token cache holds
    // alice's token for this very scope; it must not be handed to bob.
    await assert.rejects(pullImage(await newStore(), ref, { credentials: { username: 'bob', password: 'builder' } }), /denied|unauthori|401|insufficient/i);
  });

  test('ES256 tokens verified through an x5c chain to a bundle CA', { skip: root ? false : 'needs root to unpack layers' }, async () => {
    signer = () => ec;
    try {
      const a = await newStore();
      const ref = `127.0.0.1:${port}/rw/ec:v1`;
      await makeImage(a, ref);
      const creds = { username: 'alice', password: 'wonderland' };
      const pushed = await pushImage(a, ref, { credentials: creds });
      const res = await pullImage(await newStore(), ref, { credentials: creds });
      assert.equal(res.digest, pushed.digest);
    } finally {
      signer = () => rsa;
    }
  });

  test('refused tokens: forged, expired, not yet valid, wrong issuer or audience, unknown key, alg none, too little access', async () => {
    const ok = await fetch(url('/v2/rw/app/tags/list'), bearer(jwt(rsa, claims())));
    assert.notEqual(ok.status, 401, 'a valid token passes');
    const cases: Array<[string, string]> = [
      ['expired', jwt(rsa, claims({ exp: now() - 3600 }))],
      ['not yet valid', jwt(rsa, claims({ nbf: now() + 3600 }))],
      ['wrong issuer', jwt(rsa, claims({ iss: 'mallory' }))],
      ['wrong audience', jwt(rsa, claims({ aud: 'other-registry' }))],
      ['no expiry', jwt(rsa, claims({ exp: undefined }))],
      ['unknown kid', jwt({ ...rsa, header: { kid: 'AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL' } }, claims())],
      ['self-made x5c', jwt({ ...ec, header: { x5c: [new X509Certificate(readFileSync(join(dir, 'ca.pem'))).raw.toString('base64').replace(/A/, 'B')] } }, claims())],
      ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`],
      ['garbage', 'not.a.token'],
    ];
    const forged = jwt(rsa, claims()).split('.');
    forged[1] = Buffer.from(JSON.stringify(claims({ access: [{ type: 'repository', name: 'rw/app', actions: ['pull', 'push'] }] }))).toString('base64url');
    cases.push(['tampered claims', forged.join('.')]);
    for (const [what, t] of cases) {
      const r = await fetch(url('/v2/rw/app/tags/list'), bearer(t));
      assert.equal(r.status, 401, what);
      assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/, what);
    }
    const narrow = await fetch(url('/v2/rw/app/blobs/uploads/'), { method: 'POST', ...bearer(jwt(rsa, claims())) });
    assert.equal(narrow.status, 401);
    assert.match(narrow.headers.get('www-authenticate') ?? '', /scope="repository:rw\/app:pull,push",error="insufficient_scope"/);
    const other = await fetch(url('/v2/rw/other/tags/list'), bearer(jwt(rsa, claims())));
    assert.equal(other.status, 401, 'access to one repository is not access to another');
    const catalog = await fetch(url('/v2/_catalog'), bearer(jwt(rsa, claims({ access: [{ type: 'registry', name: 'catalog', actions: ['*'] }] }))));
    assert.equal(catalog.status, 200);
  });

  test('key IDs match what the distribution registry computes', { skip: existsSync('/usr/bin/docker-registry') ? false : 'docker-registry not installed' }, async () => {
    const p = await freePort();
    const cfg = join(dir, 'dist.yml');
    writeFileSync(
      cfg,
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'dist')}\nhttp:\n  addr: 127.0.0.1:${p}\nauth:\n  token:\n    realm: ${realm}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${join(dir, 'bundle.pem')}\n`,
    );
    const proc: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: 'ignore' });
    try {
      const end = Date.now() + 10_000;
      for (;;) {
        const up = await fetch(`http://127.0.0.1:${p}/v2/`).then((r) => r.status, () => 0);
        if (up === 401) break;
        if (Date.now() > end) throw new Error('docker-registry did not come up');
        await new Promise((r) => setTimeout(r, 50));
      }
      const good = await fetch(`http://127.0.0.1:${p}/v2/rw/app/tags/list`, bearer(jwt(rsa, claims())));
      assert.notEqual(good.status, 401, 'distribution accepts our libtrust kid');
      const wrongKid = await fetch(`http://127.0.0.1:${p}/v2/rw/app/tags/list`, bearer(jwt({ ...rsa, header: { kid: 'AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL' } }, claims())));
      assert.equal(wrongKid.status, 401, 'and refuses another');
    } finally {
      proc.kill('SIGTERM');
    }
  });
});

describe('berth registry serve (CLI): config file, request log, SIGTERM drain', () => {
  const bin = join(__dirname, '..', '..', 'bin', 'berth');

  test('serves from a distribution-style config file; flags override it; drains an in-flight upload on SIGTERM', async () => {
    const dir = tmpdir('bcli-');
    const port = await freePort();
    const cfg = join(dir, 'config.yml');
    writeFileSync(cfg, `version: 0.1\nlog:\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'from-file')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:1\n  draintimeout: 20s\n`);
    const proc = spawn(bin, ['registry', 'serve', '--config', cfg, '--addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => proc.on('close', r));
    try {
      const end = Date.now() + 10_000;
      while (!stderr.includes('listening')) {
        if (Date.now() > end) throw new Error(`serve did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.match(stderr, new RegExp(`listening on http://127\\.0\\.0\\.1:${port} \\(filesystem ${join(dir, 'from-file').replace(/\//g, '\\/')}\\)`));
      // An upload whose body is still arriving when SIGTERM comes must complete.
      const body = Buffer.alloc(256 << 10, 7);
      const d = sha256(body);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/v2/drain/test/blobs/uploads/?digest=${d}`, headers: { 'Content-Length': body.length } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write(body.subarray(0, 1000));
        setTimeout(() => {
          proc.kill('SIGTERM');
          setTimeout(() => req.end(body.subarray(1000)), 300);
        }, 200);
      });
      assert.equal(status, 201);
      assert.equal(await exited, 0, stderr);
      assert.match(stderr, /SIGTERM, draining in-flight requests \(up to 20s\)/);
      assert.match(stderr, /berth registry: stopped/);
      assert.ok(existsSync(join(dir, 'from-file', 'blobs', 'sha256', d.slice(7, 9), d.slice(7), 'data')), 'the blob was committed');
      // One combined-log-format line per request.
      assert.match(stdout, new RegExp(`^127\\.0\\.0\\.1 - - \\[\\d\\d/\\w{3}/\\d{4}:\\d\\d:\\d\\d:\\d\\d [+-]\\d{4}\\] "POST /v2/drain/test/blobs/uploads/\\?digest=${d} HTTP/1\\.1" 201 0 "-" "-"$`, 'm'));
      // After the drain nothing listens.
      assert.equal(await fetch(`http://127.0.0.1:${port}/v2/`).then(() => 'up', () => 'down'), 'down');
    } finally {
      proc.kill('SIGKILL');
    }
  });

  test('config errors are clear', async () => {
    const dir = tmpdir('bcli-');
    const cfg = join(dir, 'bad.yml');
    writeFileSync(cfg, 'storage:\n  azure:\n    accountname: x\n');
    const r = await run(bin, ['registry', 'serve', '--config', cfg]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /storage driver "azure" is not supported by Berth \(filesystem, s3\)/);
    writeFileSync(cfg, 'storage:\n  s3:\n    region: us-east-1\n');
    const r2 = await run(bin, ['registry', 'gc', '--config', cfg]);
    assert.match(r2.stderr, /s3 storage driver needs a bucket/);
    const r3 = await run(bin, ['registry', 'serve', '--root', dir, '--s3-bucket', 'b']);
    assert.match(r3.stderr, /--root and --s3-bucket choose different storage drivers/);
  });
});
