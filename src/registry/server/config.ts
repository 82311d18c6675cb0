/**
 * Settings for `berth registry serve` and `registry gc`: a config file in
 * distribution's shape (YAML, so JSON too), overridden by flags. The subset
 * read: `http.addr`, `http.tls.{certificate,key}`, `http.draintimeout`,
 * `storage.filesystem.rootdirectory`, `storage.s3.{bucket,region,
 * regionendpoint,accesskey,secretkey,forcepathstyle,rootdirectory,chunksize}`,
 * `auth.htpasswd.{realm,path}`, `auth.token.{realm,service,issuer,
 * rootcertbundle}`, `log.formatter`, `log.accesslog.disabled`. Keys
 * distribution has and Berth does not need (storage.delete, storage.cache,
 * …) are ignored; a storage driver or auth backend Berth lacks is an error.
 *
 * @example
 * // config.yml
 * // http: { addr: ":5000" }
 * // storage: { s3: { bucket: images, regionendpoint: "http://127.0.0.1:9000", forcepathstyle: true } }
 * const s = await resolveServeSettings({ config: 'config.yml', addr: '127.0.0.1:5001' });
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../../errors';
import type { RegistryStorage } from './storage';
import { FsStorage } from './storage-fs';
import type { S3StorageConfig } from './storage-s3';
import type { TokenAuthOptions } from './token';

export type StorageSettings = { driver: 'filesystem'; root: string } | { driver: 's3'; s3: S3StorageConfig };

export interface ServeSettings {
  addr: string;
  storage: StorageSettings;
  htpasswd?: { path: string; realm?: string };
  token?: TokenAuthOptions;
  tls?: { cert: string; key: string };
  log: { access: boolean; format: 'combined' | 'json' };
  /** How long in-flight requests may run after SIGINT/SIGTERM before connections are cut. */
  drainTimeoutMs: number;
}

/** The command-line flags (commander's camelCase names); each one overrides the file. */
export interface ServeFlags {
  config?: string;
  addr?: string;
  root?: string;
  quiet?: boolean;
  logFormat?: string;
  htpasswd?: string;
  tlsCert?: string;
  tlsKey?: string;
  s3Bucket?: string;
  s3Region?: string;
  s3Endpoint?: string;
  s3AccessKey?: string;
  s3SecretKey?: string;
  s3ForcePathStyle?: boolean;
  s3Prefix?: string;
  authTokenRealm?: string;
  authTokenService?: string;
  authTokenIssuer?: string;
  authTokenRootcertbundle?: string;
}

export const DEFAULT_ADDR = '127.0.0.1:5000';
export const DEFAULT_ROOT = '/var/lib/berth-registry';
const DEFAULT_DRAIN_MS = 60_000;
const STORAGE_IGNORED = new Set(['delete', 'cache', 'maintenance', 'redirect', 'tag']);

type Obj = Record<string, unknown>;

class ConfigReader {
  constructor(private readonly file: string) {}

  fail(path: string, want: string): never {
    throw new InvalidArgumentError(`${this.file}: ${path} must be ${want}`);
  }

  obj(v: unknown, path: string): Obj | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'a mapping');
    return v as Obj;
  }

  str(o: Obj | undefined, key: string, path: string): string | undefined {
    const v = o?.[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' && typeof v !== 'number') this.fail(`${path}.${key}`, 'a string');
    return String(v);
  }

  bool(o: Obj | undefined, key: string, path: string): boolean | undefined {
    const v = o?.[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    return this.fail(`${path}.${key}`, 'true or false');
  }

  /** Go durations as distribution writes them: "60s", "1m30s", "500ms"; a bare number is seconds. */
  duration(o: Obj | undefined, key: string, path: string): number | undefined {
    const v = o?.[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number') return v * 1000;
    const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    let total = 0;
    const s = String(v);
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
    let m: RegExpExecArray | null;
    let end = 0;
    while ((m = re.exec(s))) {
      total += Number(m[1]) * units[m[2]];
      end = re.lastIndex;
    }
    if (end !== s.length || s.length === 0) this.fail(`${path}.${key}`, 'a duration like "60s"');
    return total;
  }
}

/** A partial ServeSettings from the file; flags fill in and override. */
async function readConfigFile(file: string): Promise<Partial<ServeSettings> & { s3?: Partial<S3StorageConfig> }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  // require, not import(): yaml is external to the bundle (see scripts/build.mjs).
  const { parse } = require('yaml') as typeof import('yaml');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`${file}: ${(e as Error).message}`);
  }
  const r = new ConfigReader(file);
  const top = r.obj(doc ?? {}, '(top level)') ?? {};
  const out: Partial<ServeSettings> & { s3?: Partial<S3StorageConfig> } = {};

  const http = r.obj(top.http, 'http');
  const addr = r.str(http, 'addr', 'http');
  if (addr) out.addr = addr;
  const tls = r.obj(http?.tls, 'http.tls');
  const cert = r.str(tls, 'certificate', 'http.tls');
  const key = r.str(tls, 'key', 'http.tls');
  if (!!cert !== !!key) r.fail('http.tls', 'both certificate and key');
  if (cert && key) out.tls = { cert, key };
  const drain = r.duration(http, 'draintimeout', 'http');
  if (drain !== undefined) out.drainTimeoutMs = drain;

  const storage = r.obj(top.storage, 'storage');
  const drivers = Object.keys(storage ?? {}).filter((k) => !STORAGE_IGNORED.has(k));
  if (drivers.length > 1) r.fail('storage', `one driver, not ${drivers.join(' and ')}`);
  if (drivers[0] === 'filesystem') {
    const fs = r.obj(storage!.filesystem, 'storage.filesystem');
    out.storage = { driver: 'filesystem', root: r.str(fs, 'rootdirectory', 'storage.filesystem') ?? DEFAULT_ROOT };
  } else if (drivers[0] === 's3') {
    const s3 = r.obj(storage!.s3, 'storage.s3');
    const p = 'storage.s3';
    const chunk = r.str(s3, 'chunksize', p);
    out.s3 = {
      bucket: r.str(s3, 'bucket', p),
      region: r.str(s3, 'region', p),
      endpoint: r.str(s3, 'regionendpoint', p),
      accessKey: r.str(s3, 'accesskey', p),
      secretKey: r.str(s3, 'secretkey', p),
      forcePathStyle: r.bool(s3, 'forcepathstyle', p),
      prefix: r.str(s3, 'rootdirectory', p),
      partSize: chunk !== undefined ? Number(chunk) : undefined,
    };
    if (out.s3.partSize !== undefined && !Number.isInteger(out.s3.partSize)) r.fail(`${p}.chunksize`, 'a number of bytes');
  } else if (drivers[0] !== undefined) {
    throw new InvalidArgumentError(`${file}: storage driver "${drivers[0]}" is not supported by Berth (filesystem, s3)`);
  }

  const auth = r.obj(top.auth, 'auth');
  for (const k of Object.keys(auth ?? {})) if (k !== 'htpasswd' && k !== 'token') throw new InvalidArgumentError(`${file}: auth backend "${k}" is not supported by Berth (htpasswd, token)`);
  const hp = r.obj(auth?.htpasswd, 'auth.htpasswd');
  if (hp) {
    const path = r.str(hp, 'path', 'auth.htpasswd') ?? r.fail('auth.htpasswd.path', 'set');
    out.htpasswd = { path, realm: r.str(hp, 'realm', 'auth.htpasswd') };
  }
  const tok = r.obj(auth?.token, 'auth.token');
  if (tok) {
    const p = 'auth.token';
    out.token = {
      realm: r.str(tok, 'realm', p) ?? r.fail(`${p}.realm`, 'set'),
      service: r.str(tok, 'service', p) ?? r.fail(`${p}.service`, 'set'),
      issuer: r.str(tok, 'issuer', p) ?? r.fail(`${p}.issuer`, 'set'),
      rootCertBundle: r.str(tok, 'rootcertbundle', p) ?? r.fail(`${p}.rootcertbundle`, 'set'),
    };
  }

  const log = r.obj(top.log, 'log');
  const formatter = r.str(log, 'formatter', 'log');
  const access = r.obj(log?.accesslog, 'log.accesslog');
  out.log = { access: !r.bool(access, 'disabled', 'log.accesslog'), format: formatter === 'json' || formatter === 'logstash' ? 'json' : 'combined' };
  return out;
}

export async function resolveServeSettings(f: ServeFlags): Promise<ServeSettings> {
  const file = f.config ? await readConfigFile(f.config) : {};
  if (f.root && f.s3Bucket) throw new InvalidArgumentError('--root and --s3-bucket choose different storage drivers; give one');
  let storage: StorageSettings;
  const s3Flags: Partial<S3StorageConfig> = {
    bucket: f.s3Bucket,
    region: f.s3Region,
    endpoint: f.s3Endpoint,
    accessKey: f.s3AccessKey,
    secretKey: f.s3SecretKey,
    forcePathStyle: f.s3ForcePathStyle,
    prefix: f.s3Prefix,
  };
  const anyS3Flag = Object.values(s3Flags).some((v) => v !== undefined);
  if (f.root) storage = { driver: 'filesystem', root: f.root };
  else if (anyS3Flag || file.s3) {
    const merged: Partial<S3StorageConfig> = { ...file.s3 };
    for (const [k, v] of Object.entries(s3Flags)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    if (!merged.bucket) throw new InvalidArgumentError('the s3 storage driver needs a bucket (--s3-bucket or storage.s3.bucket)');
    storage = { driver: 's3', s3: merged as S3StorageConfig };
  } else storage = file.storage ?? { driver: 'filesystem', root: DEFAULT_ROOT };

  let htpasswd = file.htpasswd;
  let token = file.token;
  if (f.htpasswd) {
    htpasswd = { path: f.htpasswd, realm: htpasswd?.realm };
    token = undefined;
  }
  const tokenFlags = [f.authTokenRealm, f.authTokenService, f.authTokenIssuer, f.authTokenRootcertbundle];
  if (tokenFlags.some((v) => v !== undefined)) {
    if (f.htpasswd) throw new InvalidArgumentError('--htpasswd and --auth-token-* choose different auth backends; give one');
    const t = {
      realm: f.authTokenRealm ?? token?.realm,
      service: f.authTokenService ?? token?.service,
      issuer: f.authTokenIssuer ?? token?.issuer,
      rootCertBundle: f.authTokenRootcertbundle ?? token?.rootCertBundle,
    };
    const missing = Object.entries({ realm: t.realm, service: t.service, issuer: t.issuer, rootcertbundle: t.rootCertBundle }).filter(([, v]) => !v).map(([k]) => `--auth-token-${k}`);
    if (missing.length) throw new InvalidArgumentError(`token auth also needs ${missing.join(', ')}`);
    token = t as TokenAuthOptions;
    htpasswd = undefined;
  }
  if (htpasswd && token) throw new InvalidArgumentError(`${f.config}: auth.htpasswd and auth.token are exclusive`);

  if (!!f.tlsCert !== !!f.tlsKey) throw new InvalidArgumentError('--tls-cert and --tls-key go together');
  const tls = f.tlsCert && f.tlsKey ? { cert: f.tlsCert, key: f.tlsKey } : file.tls;

  const format = f.logFormat ?? file.log?.format ?? 'combined';
  if (format !== 'combined' && format !== 'json') throw new InvalidArgumentError(`--log-format must be combined or json, not "${format}"`);
  return {
    addr: f.addr ?? file.addr ?? DEFAULT_ADDR,
    storage,
    htpasswd,
    token,
    tls,
    log: { access: f.quiet ? false : (file.log?.access ?? true), format },
    drainTimeoutMs: file.drainTimeoutMs ?? DEFAULT_DRAIN_MS,
  };
}

/** Opens (but does not init) the configured driver; the S3 SDK is loaded only here. */
export async function openStorage(s: StorageSettings): Promise<RegistryStorage> {
  if (s.driver === 'filesystem') return new FsStorage(s.root);
  const { S3Storage } = await import('./storage-s3');
  return new S3Storage(s.s3);
}

/** `HOST:PORT`, `:PORT` (all interfaces, as distribution's `:5000`) or `[::1]:PORT`. */
export function parseAddr(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  const host = addr.slice(0, colon).replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = Number(addr.slice(colon + 1));
  if (colon < 0 || addr.slice(colon + 1) === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`invalid listen address "${addr}": want HOST:PORT`);
  return { host, port };
}
