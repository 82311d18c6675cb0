/**
 * Credentials in ~/.docker/config.json form (or $DOCKER_CONFIG): `auths`
 * with base64 `auth`, and `credsStore` / `credHelpers` honoured by running
 * docker-credential-<name> (get/store/erase) as the docker CLI does.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../errors';
import { atomicWriteJson, readJson } from '../sys/fsutil';
import type { Credentials } from './client/auth';

const HUB_KEY = 'https://index.docker.io/v1/';

interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

export function dockerConfigPath(): string {
  return join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

/** 'https://index.docker.io/v1/', 'index.docker.io', 'http://localhost:5000/' → the reference domain. */
export function normalizeServer(server: string | undefined): string {
  if (!server) return 'docker.io';
  const host = server.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'docker.io' ? 'docker.io' : host;
}

function configKey(domain: string): string {
  return domain === 'docker.io' ? HUB_KEY : domain;
}

function helper(name: string, action: 'get' | 'store' | 'erase', input: string): Promise<string> {
  if (!/^[\w.-]+$/.test(name)) return Promise.reject(new InvalidArgumentError(`invalid credential helper name "${name}"`));
  return new Promise((resolve, reject) => {
    const p = spawn(`docker-credential-${name}`, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', (e) => reject(new UnavailableError(`credential helper docker-credential-${name}: ${e.message}`)));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new UnavailableError(`credential helper docker-credential-${name} ${action} failed: ${out.trim()}`))));
    p.stdin.end(input);
  });
}

export async function loadCredentials(domain: string): Promise<Credentials> {
  const cfg = (await readJson<DockerConfig>(dockerConfigPath()).catch(() => undefined)) ?? {};
  const key = configKey(domain);
  const helperName = cfg.credHelpers?.[domain] ?? cfg.credHelpers?.[key] ?? cfg.credsStore;
  if (helperName) {
    try {
      const r = JSON.parse(await helper(helperName, 'get', key)) as { Username?: string; Secret?: string };
      if (r.Username === '<token>') return { identitytoken: r.Secret };
      return { username: r.Username, password: r.Secret };
    } catch {
      // Not found in the helper: fall back to the file, as the docker CLI does.
    }
  }
  const entry = cfg.auths?.[key] ?? cfg.auths?.[domain] ?? cfg.auths?.[`https://${domain}`];
  if (!entry) return {};
  if (entry.auth) {
    const dec = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = dec.indexOf(':');
    if (i < 0) return {};
    return { username: dec.slice(0, i), password: dec.slice(i + 1), ...(entry.identitytoken ? { identitytoken: entry.identitytoken } : {}) };
  }
  return { username: entry.username, password: entry.password, identitytoken: entry.identitytoken };
}

export async function saveCredentials(domain: string, username: string, password: string): Promise<void> {
  const path = dockerConfigPath();
  const cfg = (await readJson<DockerConfig>(path)) ?? {};
  const key = configKey(domain);
  const helperName = cfg.credHelpers?.[domain] ?? cfg.credsStore;
  if (helperName) {
    await helper(helperName, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: password }));
    (cfg.auths ??= {})[key] = {};
  } else {
    (cfg.auths ??= {})[key] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  }
  await fsp.mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  await atomicWriteJson(path, cfg, 0o600);
}

/** Returns false when there was nothing stored for the server. */
export async function removeCredentials(domain: string): Promise<boolean> {
  const path = dockerConfigPath();
  const cfg = await readJson<DockerConfig>(path);
  if (!cfg) return false;
  const key = configKey(domain);
  const helperName = cfg.credHelpers?.[domain] ?? cfg.credsStore;
  if (helperName) await helper(helperName, 'erase', key).catch(() => undefined);
  const had = !!cfg.auths?.[key];
  if (cfg.auths) delete cfg.auths[key];
  await atomicWriteJson(path, cfg, 0o600);
  return had;
}

/** The API's X-Registry-Auth: base64url JSON {username,password,serveraddress,identitytoken,registrytoken}. */
export function decodeRegistryAuth(header: string | undefined): Credentials {
  if (!header) return {};
  try {
    const v = JSON.parse(Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as Credentials & { serveraddress?: string };
    const out: Credentials = {};
    if (v.username) out.username = v.username;
    if (v.password) out.password = v.password;
    if (v.identitytoken) out.identitytoken = v.identitytoken;
    if (v.registrytoken) out.registrytoken = v.registrytoken;
    return out;
  } catch {
    return {};
  }
}

export function encodeRegistryAuth(c: Credentials, serveraddress: string): string {
  return Buffer.from(JSON.stringify({ ...c, serveraddress })).toString('base64url');
}
