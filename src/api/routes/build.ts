/**
 * POST /build and POST /build/prune, as Docker's classic builder serves them:
 * the body is the context as a tar (plain or gzip), the query carries the
 * options, and the answer is a JSON message stream (`{"stream":"Step 1/4 : …"}`,
 * `{"aux":{"ID":…}}`, `{"errorDetail":…}`) that `DOCKER_BUILDKIT=0 docker build`
 * prints. Errors before the first message are plain HTTP errors (moby does the
 * same), so a bad Dockerfile or a refused entitlement gets a 4xx.
 *
 * Berth's own CLI adds `berthprogress=1` for structured step events, and
 * `berthcontextdir=<abs dir>` to have a local daemon read the context in place
 * (no tar, and file hashes cached by inode/mtime between builds).
 */
import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Readable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { Engine } from '../../engine/engine';
import { InvalidArgumentError, messageOf } from '../../errors';
import { BuildError, builderOf, type BuildOptions } from '../../build/builder';
import type { BuildEvent } from '../../build/progress';
import { stepNetwork } from '../../build/run-step';
import { extractContext } from '../../build/upload';
import { displayRef, normalizeRef } from '../../image/store';
import type { RequestContext, Router } from '../router';
import { errorBody } from '../errors';

const truthy = (v: string | null): boolean => v === '1' || v === 'true' || v === 'True';

function jsonParam<T extends Record<string, unknown>>(q: URLSearchParams, name: string): T | undefined {
  const raw = q.get(name);
  if (!raw) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new InvalidArgumentError(`invalid ${name} parameter: ${messageOf(e)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError(`invalid ${name} parameter: not a JSON object`);
  for (const [k, x] of Object.entries(v)) {
    if (x !== null && typeof x !== 'string') throw new InvalidArgumentError(`invalid ${name} parameter: value of ${k} is not a string`);
  }
  return v as T;
}

/** Docker's classic stream text for one event ('' = nothing to say). */
function classicText(ev: BuildEvent): string {
  switch (ev.type) {
    case 'step':
      return `Step ${ev.index}/${ev.total} : ${ev.text}\n`;
    case 'cached':
      return ' ---> Using cache\n';
    case 'running':
      return ` ---> Running in ${ev.id.replace(/^berth-build-/, '')}\n`;
    case 'output':
      return ev.data;
    case 'done':
      return ev.id ? ` ---> ${ev.id}\n` : '';
    case 'warning':
      return `[Warning] ${ev.message}\n`;
    default:
      return '';
  }
}

function options(ctx: RequestContext, engine: Engine): Omit<BuildOptions, 'contextDir' | 'signal'> & { quiet: boolean; structured: boolean; inPlace?: string } {
  const q = ctx.query;
  if (q.get('version') === '2') {
    throw new InvalidArgumentError('BuildKit API builds (version=2) are not supported by Berth: use DOCKER_BUILDKIT=0 docker build, or berth build');
  }
  if (q.get('remote')) throw new InvalidArgumentError('remote build contexts are not supported by Berth: send the context as a tar');
  const network = q.get('networkmode') || undefined;
  stepNetwork(network); // entitlement check before the context is read
  const tags = q.getAll('t').filter(Boolean);
  for (const t of tags) normalizeRef(t);
  const inPlace = q.get('berthcontextdir') || undefined;
  return {
    dockerfile: q.get('dockerfile') || 'Dockerfile',
    tags,
    buildArgs: jsonParam<Record<string, string | null>>(q, 'buildargs'),
    labels: Object.fromEntries(Object.entries(jsonParam<Record<string, string | null>>(q, 'labels') ?? {}).map(([k, v]) => [k, v ?? ''])),
    target: q.get('target') || undefined,
    noCache: truthy(q.get('nocache')),
    squash: truthy(q.get('squash')),
    network,
    quiet: truthy(q.get('q')),
    structured: q.get('berthprogress') === '1',
    inPlace,
    hashCachePath: inPlace ? builderOf(engine).hashCachePath(inPlace) : undefined,
    secrets: secretsOf(ctx),
  };
}

/**
 * `berth build --secret`: a header of base64 JSON {id: base64 value}. The
 * classic build API has no secrets (BuildKit sends them over its session).
 */
function secretsOf(ctx: RequestContext): Map<string, Buffer> | undefined {
  const h = ctx.req.headers['x-berth-build-secrets'];
  if (typeof h !== 'string' || !h) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(h, 'base64').toString('utf8'));
  } catch {
    throw new InvalidArgumentError('X-Berth-Build-Secrets: not base64 JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError('X-Berth-Build-Secrets: expected an object of IDs');
  const out = new Map<string, Buffer>();
  for (const [id, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new InvalidArgumentError(`X-Berth-Build-Secrets: secret ${id} is not a base64 string`);
    out.set(id, Buffer.from(v, 'base64'));
  }
  return out;
}

export function buildRoutes(r: Router, engine: Engine): void {
  r.add('POST', '/build', async (ctx) => {
    const o = options(ctx, engine);
    const builder = builderOf(engine);
    await builder.init();
    let context: { dir: string; remove(): Promise<void> };
    if (o.inPlace) {
      if (!isAbsolute(o.inPlace) || !statSync(o.inPlace, { throwIfNoEntry: false })?.isDirectory()) {
        throw new InvalidArgumentError(`berthcontextdir ${o.inPlace} is not an absolute path to a directory on the daemon's host`);
      }
      ctx.req.resume();
      context = { dir: o.inPlace, remove: async () => undefined };
    } else {
      context = await extractContext(builder.tmpRoot, ctx.req as unknown as Readable);
    }
    let res: ServerResponse | undefined;
    const abort = new AbortController();
    const write = (msg: unknown) => {
      if (!res) {
        res = ctx.stream('application/json');
        res.on('close', () => {
          if (!res?.writableFinished) abort.abort(new Error('build canceled: the client went away'));
        });
      }
      if (!res.writableEnded) res.write(JSON.stringify(msg) + '\n');
    };
    const sink = (ev: BuildEvent) => {
      if (o.quiet && ev.type !== 'warning') return;
      if (ev.type === 'output') return write({ stream: ev.data });
      if (o.structured) return write({ berth: ev });
      const text = classicText(ev);
      if (text) write({ stream: text });
    };
    try {
      const result = await builder.build({ ...o, contextDir: context.dir, signal: abort.signal }, sink);
      write({ aux: { ID: result.id } });
      if (!o.quiet && !o.structured) {
        write({ stream: `Successfully built ${result.id.slice(7, 19)}\n` });
        for (const t of result.tags) write({ stream: `Successfully tagged ${displayRef(normalizeRef(t))}\n` });
      }
    } catch (e) {
      if (!res) throw e; // nothing sent yet: a plain HTTP error
      const detail = { ...errorBody(e), ...(e instanceof BuildError && e.exitCode !== undefined ? { code: e.exitCode } : {}) };
      write({ errorDetail: detail, error: detail.message });
    } finally {
      if (res && !res.writableEnded) res.end();
      // After the answer: deleting an uploaded context (thousands of files) is no part of the client's wait.
      await context.remove().catch(() => undefined);
    }
  });

  r.add('POST', '/build/prune', async (ctx) => {
    ctx.send(200, await builderOf(engine).prune());
  });
}
