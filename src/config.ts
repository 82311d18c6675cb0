/**
 * Where an engine keeps its state. Tests run isolated engines side by side by
 * setting BERTH_ROOT, BERTH_RUN and BERTH_HOST.
 */
import { join } from 'node:path';

export interface EnginePaths {
  /** Persistent data: images, layers, containers (default /var/lib/berth). */
  root: string;
  /** Runtime state that dies with a reboot: runc state, exit files, sockets (default /run/berth). */
  run: string;
  /** The API socket path (default <run>/berth.sock). */
  socket: string;
}

export function enginePaths(env: NodeJS.ProcessEnv = process.env): EnginePaths {
  const root = env.BERTH_ROOT || '/var/lib/berth';
  const run = env.BERTH_RUN || '/run/berth';
  return { root, run, socket: socketFromHost(env.BERTH_HOST) ?? join(run, 'berth.sock') };
}

/** BERTH_HOST accepts `unix:///path` (as DOCKER_HOST does) or a bare path. */
export function socketFromHost(host: string | undefined): string | undefined {
  if (!host) return undefined;
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  return undefined;
}

import pkg from '../package.json';

export const BERTH_VERSION: string = pkg.version;
/** Docker Engine API version Berth speaks; clients negotiate down to it. */
export const API_VERSION = '1.45';
export const MIN_API_VERSION = '1.24';
