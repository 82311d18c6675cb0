/**
 * A small typed route table for the Docker Engine API: method + regex with
 * named groups; the optional `/v1.NN` prefix is stripped once. Image names
 * contain '/' and ':', so `{name}` patterns match greedily up to the verb.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export interface Hijacked {
  /** The raw connection after the response head was written. */
  socket: Duplex;
  /** Bytes the client sent after its request head (stdin for attach). */
  head: Buffer;
  /** True when the client asked for `Upgrade: tcp` (docker CLI); false for plain streaming. */
  upgraded: boolean;
}

export interface RequestContext {
  req: IncomingMessage;
  /** Present for ordinary requests; absent on upgraded connections. */
  res?: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  apiVersion: string;
  /** The request body, parsed as JSON (undefined if empty). */
  json<T>(): Promise<T | undefined>;
  /** Sends a JSON response. */
  send(status: number, body?: unknown, headers?: Record<string, string>): void;
  /** Takes over the connection for a raw stream (attach, exec start). */
  hijack(contentType: string): Hijacked;
  /** Starts a streamed (chunked) response and returns a writer. */
  stream(contentType: string, status?: number, headers?: Record<string, string>): ServerResponse;
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  method: string;
  re: RegExp;
  handler: Handler;
}

export class Router {
  private routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    // `{name}` matches anything including '/', `{id}` one path segment.
    const src = pattern.replace(/\{(\w+)\}/g, (_m, n: string) => (n === 'name' ? `(?<${n}>.+)` : `(?<${n}>[^/]+)`));
    this.routes.push({ method, re: new RegExp(`^${src}$`), handler });
    return this;
  }

  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'method-not-allowed' | undefined {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) continue;
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.groups ?? {})) params[k] = decodeURIComponent(v);
      return { handler: r.handler, params };
    }
    return pathMatched ? 'method-not-allowed' : undefined;
  }
}

/** Splits `/v1.45/containers/json` into version and path. */
export function splitVersion(pathname: string): { version?: string; path: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(pathname);
  return m ? { version: m[1], path: m[2] } : { path: pathname };
}
