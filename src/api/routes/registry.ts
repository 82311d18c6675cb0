/**
 * Registry endpoints of the Engine API: pull (`POST /images/create?fromImage=`),
 * push (`POST /images/{name}/push`), search (`GET /images/search`) and `POST /auth`. Progress is Docker's JSON
 * message stream, so the docker CLI draws its own bars. The stream starts with
 * the first progress line: failures before it (auth, unknown tag) are plain
 * HTTP errors, later ones arrive in-band as `errorDetail`.
 */
import type { ServerResponse } from 'node:http';
import type { Engine } from '../../engine/engine';
import { InvalidArgumentError } from '../../errors';
import { parseReference } from '../../image/reference';
import type { ProgressEvent } from '../../registry/client/progress';
import { pullImage } from '../../registry/client/pull';
import { pushImage } from '../../registry/client/push';
import { checkLogin } from '../../registry/client/login';
import { parseSearchFilters, searchImages } from '../../registry/client/search';
import { parseFilters } from '../filters';
import { decodeRegistryAuth, normalizeServer } from '../../registry/credentials';
import type { RequestContext, Router } from '../router';

function progressBar(current: number, total: number): string {
  const width = 50;
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  const bar = filled >= width ? '='.repeat(width) : `${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}`;
  const mb = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}MB` : `${(n / 1e3).toFixed(1)}kB`);
  return `[${bar}] ${mb(current)}/${mb(total)}`;
}

/** Docker's jsonmessage.JSONMessage for one event. */
export function toJsonMessage(e: ProgressEvent): Record<string, unknown> {
  const m: Record<string, unknown> = { status: e.status };
  if (e.id !== undefined) m.id = e.id;
  if (e.current !== undefined && e.total !== undefined) {
    m.progressDetail = { current: e.current, total: e.total };
    m.progress = progressBar(e.current, e.total);
  } else if (e.id !== undefined) {
    m.progressDetail = {};
  }
  return m;
}

function lazyStream(ctx: RequestContext): { write: (m: Record<string, unknown>) => void; res: () => ServerResponse } {
  let res: ServerResponse | undefined;
  const open = () => (res ??= ctx.stream('application/json'));
  return { write: (m) => open().write(JSON.stringify(m) + '\n'), res: open };
}

/** POST /images/create?fromImage=…&tag=…&platform=… (the lead routes fromImage requests here). */
export async function handlePull(ctx: RequestContext, engine: Engine): Promise<void> {
  const fromImage = ctx.query.get('fromImage');
  if (!fromImage) throw new InvalidArgumentError('fromImage is required');
  const tag = ctx.query.get('tag');
  let ref = fromImage;
  if (tag) ref = tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
  parseReference(ref);
  const out = lazyStream(ctx);
  const pulled = await pullImage(engine.images, ref, {
    credentials: decodeRegistryAuth(header(ctx, 'x-registry-auth')),
    platform: ctx.query.get('platform') || undefined,
    progress: (e) => out.write(toJsonMessage(e)),
  });
  await engine.images.addRepoDigest(pulled.image.id, pulled.repoDigest);
  engine.events.emit('image', 'pull', ref, { name: ref });
  out.res().end();
}

/** POST /images/{name}/push?tag=… with X-Registry-Auth. */
export async function handlePush(ctx: RequestContext, engine: Engine): Promise<void> {
  const tag = ctx.query.get('tag');
  const ref = tag ? `${ctx.params.name}:${tag}` : ctx.params.name;
  const rec = engine.images.resolve(ref);
  const out = lazyStream(ctx);
  const r = await pushImage(engine.images, ref, {
    credentials: decodeRegistryAuth(header(ctx, 'x-registry-auth')),
    progress: (e) => out.write(toJsonMessage(e)),
  });
  await engine.images.addRepoDigest(rec.id, r.repoDigest);
  engine.events.emit('image', 'push', ref, { name: ref });
  out.write({ progressDetail: {}, aux: { Tag: r.tag, Digest: r.digest, Size: r.size } });
  out.res().end();
}

/** GET /images/search?term=&limit=&filters= (X-Registry-Auth optional). */
export async function handleSearch(ctx: RequestContext): Promise<void> {
  const term = ctx.query.get('term');
  if (!term) throw new InvalidArgumentError('term is required');
  const rawLimit = ctx.query.get('limit');
  const limit = rawLimit ? Number(rawLimit) : undefined;
  if (limit !== undefined && !Number.isInteger(limit)) throw new InvalidArgumentError(`invalid limit "${rawLimit}"`);
  const results = await searchImages(term, {
    credentials: decodeRegistryAuth(header(ctx, 'x-registry-auth')),
    limit,
    filters: parseSearchFilters(parseFilters(ctx.query.get('filters'))),
  });
  ctx.send(200, results);
}

/** POST /auth: checks credentials against the registry; the CLI stores them. */
export async function handleAuth(ctx: RequestContext): Promise<void> {
  const body = (await ctx.json<{ username?: string; password?: string; serveraddress?: string; identitytoken?: string }>()) ?? {};
  await checkLogin(normalizeServer(body.serveraddress), { username: body.username, password: body.password, identitytoken: body.identitytoken });
  ctx.send(200, { Status: 'Login Succeeded', IdentityToken: '' });
}

function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Registers push, search and auth; pull shares /images/create with import, so images.ts calls handlePull. */
export function registryRoutes(r: Router, engine: Engine): void {
  r.add('POST', '/images/{name}/push', (ctx) => handlePush(ctx, engine));
  r.add('POST', '/auth', (ctx) => handleAuth(ctx));
  r.add('GET', '/images/search', (ctx) => handleSearch(ctx));
}
