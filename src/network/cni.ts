/**
 * A CNI runtime: executes plugin binaries per the CNI spec (1.0.0) —
 * CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH in the
 * environment, the network configuration on stdin, a result or an error
 * object on stdout — and chains the plugins of a conflist with prevResult.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const CNI_VERSION = '1.0.0';
export const DEFAULT_CNI_PATH = '/usr/lib/cni';

/** One plugin entry of a conflist ("type" names the binary). */
export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface NetConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIpConfig {
  interface?: number;
  address: string;
  gateway?: string;
}

/** The ADD result (spec §5 "Success"). */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/** What identifies one attachment to the plugins. */
export interface RuntimeArgs {
  containerId: string;
  netns: string;
  ifName: string;
  /** Values for the plugins' declared capabilities, e.g. portMappings, ips. */
  capabilityArgs?: Record<string, unknown>;
}

/** A plugin failure, carrying the spec's error code (1–7, 11, 50, 51, or ≥100 plugin-specific). */
export class CniError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly cniCode: number,
    readonly msg: string,
    readonly details?: string,
  ) {
    super(`CNI ${plugin} ${command}: ${msg}${details ? ` (${details})` : ''}${cniCode ? ` [code ${cniCode}]` : ''}`);
    this.name = 'CniError';
  }
}

export interface CniOptions {
  cniPath?: string;
  /** Kills a plugin that runs longer than this (ms). */
  timeoutMs?: number;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** Runs one plugin binary once and returns its parsed stdout (undefined when empty, as DEL may be). */
export function execPlugin(command: CniCommand, conf: Record<string, unknown> & { type: string }, rt: RuntimeArgs, opts: CniOptions = {}): Promise<CniResult | undefined> {
  const cniPath = opts.cniPath ?? DEFAULT_CNI_PATH;
  if (!/^[A-Za-z0-9_.-]+$/.test(conf.type)) return Promise.reject(new CniError(conf.type, command, 7, 'invalid plugin type'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifName,
    CNI_PATH: cniPath,
  };
  const bin = join(cniPath.split(':')[0]!, conf.type);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CniError(conf.type, command, 50, `cannot run plugin ${bin}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8').trim();
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (code === 0) {
        if (!stdout) return resolve(undefined);
        try {
          return resolve(JSON.parse(stdout) as CniResult);
        } catch {
          return reject(new CniError(conf.type, command, 6, `plugin printed invalid JSON: ${stdout.slice(0, 200)}`));
        }
      }
      let parsed: { code?: number; msg?: string; details?: string } | undefined;
      try {
        parsed = JSON.parse(stdout) as typeof parsed;
      } catch {
        // not a spec error object
      }
      if (parsed && typeof parsed.msg === 'string') return reject(new CniError(conf.type, command, Number(parsed.code) || 0, parsed.msg, parsed.details || undefined));
      const why = signal ? `killed by ${signal}` : `exit status ${code}`;
      reject(new CniError(conf.type, command, 0, `${why}${stderr || stdout ? `: ${(stderr || stdout).slice(0, 500)}` : ''}`));
    });
    child.stdin.on('error', () => undefined); // a plugin may exit without reading stdin
    child.stdin.end(JSON.stringify(conf));
  });
}

/** The stdin of one plugin in a list: list name/version, the plugin's keys, runtimeConfig for its capabilities, prevResult. */
export function pluginStdin(list: NetConfList, plugin: PluginConf, rt: RuntimeArgs, prevResult: CniResult | undefined): Record<string, unknown> & { type: string } {
  const conf: Record<string, unknown> & { type: string } = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && rt.capabilityArgs && cap in rt.capabilityArgs) runtimeConfig[cap] = rt.capabilityArgs[cap];
  }
  delete conf.capabilities;
  if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

/** ADD through every plugin in order; on failure runs DEL on the whole list (spec §4) and rethrows. */
export async function addNetworkList(list: NetConfList, rt: RuntimeArgs, opts: CniOptions = {}): Promise<CniResult> {
  let result: CniResult | undefined;
  try {
    for (const p of list.plugins) {
      const r = await execPlugin('ADD', pluginStdin(list, p, rt, result), rt, opts);
      if (!r) throw new CniError(p.type, 'ADD', 0, 'plugin returned no result');
      result = r;
    }
  } catch (e) {
    await delNetworkList(list, rt, result, opts).catch(() => undefined);
    throw e;
  }
  return result!;
}

/**
 * DEL through every plugin in reverse order with the cached result as
 * prevResult. Keeps going past a failing plugin so one broken step does not
 * leak the others' state; throws the first error at the end.
 */
export async function delNetworkList(list: NetConfList, rt: RuntimeArgs, cached: CniResult | undefined, opts: CniOptions = {}): Promise<void> {
  let first: unknown;
  for (const p of [...list.plugins].reverse()) {
    try {
      await execPlugin('DEL', pluginStdin(list, p, rt, cached), rt, opts);
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
}

/** CHECK through every plugin in order (spec: prevResult required). */
export async function checkNetworkList(list: NetConfList, rt: RuntimeArgs, cached: CniResult, opts: CniOptions = {}): Promise<void> {
  for (const p of list.plugins) await execPlugin('CHECK', pluginStdin(list, p, rt, cached), rt, opts);
}

/** The spec versions a plugin supports (VERSION command). */
export async function pluginVersions(type: string, opts: CniOptions = {}): Promise<string[]> {
  const r = (await execPlugin('VERSION', { type, cniVersion: CNI_VERSION }, { containerId: '', netns: '', ifName: '' }, opts)) as unknown as
    | { supportedVersions?: string[] }
    | undefined;
  return r?.supportedVersions ?? [];
}
