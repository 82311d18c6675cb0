/** /images/*, /commit: thin translation between Docker's API shapes and the image store. */
import { Readable } from 'node:stream';
import type { Engine } from '../../engine/engine';
import { InvalidArgumentError } from '../../errors';
import type { ImageRecord } from '../../image/types';
import { displayRef } from '../../image/store';
import { familiarName, parseReference } from '../../image/reference';
import type { RequestContext, Router } from '../router';
import { pump } from '../stream';
import { handlePull } from './registry';
import { loadImages, saveImages } from '../../image/archive';
import { matchLabel, parseFilters, pruneFilter } from '../filters';

export function imageSummary(img: ImageRecord, containers: number) {
  return {
    Id: img.id,
    ParentId: '',
    RepoTags: img.refs.map(displayRef),
    RepoDigests: img.repoDigests,
    Created: img.config.created ? Math.floor(Date.parse(img.config.created) / 1000) : 0,
    Size: img.size,
    SharedSize: -1,
    VirtualSize: img.size,
    Labels: img.config.config?.Labels ?? {},
    Containers: containers,
  };
}

export function imageInspect(img: ImageRecord) {
  const cfg = img.config.config ?? {};
  return {
    Id: img.id,
    RepoTags: img.refs.map(displayRef),
    RepoDigests: img.repoDigests,
    Parent: '',
    Comment: img.config.history?.[img.config.history.length - 1]?.comment ?? '',
    Created: img.config.created ?? '',
    DockerVersion: '',
    Author: img.config.author ?? '',
    Config: {
      Hostname: '',
      Domainname: '',
      User: cfg.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: cfg.ExposedPorts,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: cfg.Env ?? null,
      Cmd: cfg.Cmd ?? null,
      Healthcheck: cfg.Healthcheck,
      Image: '',
      Volumes: cfg.Volumes ?? null,
      WorkingDir: cfg.WorkingDir ?? '',
      Entrypoint: cfg.Entrypoint ?? null,
      OnBuild: cfg.OnBuild ?? null,
      Labels: cfg.Labels ?? null,
      StopSignal: cfg.StopSignal,
    },
    Architecture: img.config.architecture,
    Variant: img.config.variant,
    Os: img.config.os,
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: { Name: 'overlay', Data: null },
    RootFS: { Type: 'layers', Layers: img.config.rootfs.diff_ids },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    Descriptor: { mediaType: img.manifest.mediaType, digest: img.manifestDigest, size: Buffer.byteLength(JSON.stringify(img.manifest)) },
  };
}

function splitRepoTag(repo: string, tag: string | null): string {
  if (!repo) throw new InvalidArgumentError('repository name must have at least one component');
  if (tag) return `${repo}:${tag}`;
  return repo;
}

export function imageRoutes(r: Router, engine: Engine): void {
  r.add('GET', '/images/json', (ctx) => {
    const all = ctx.query.get('all') === '1' || ctx.query.get('all') === 'true';
    const filters = parseFilters(ctx.query.get('filters'));
    let list = engine.images.list();
    if (filters.dangling) {
      const want = filters.dangling[0] === 'true' || filters.dangling[0] === '1';
      list = list.filter((i) => (i.refs.length === 0) === want);
    }
    if (filters.label) list = list.filter((i) => filters.label.every((l) => matchLabel(i.config.config?.Labels, l)));
    // As dockerd: the reference filter also narrows RepoTags to the matching references.
    const refMatches = (ref: string) => filters.reference.some((pat) => globMatch(pat, displayRef(ref)) || globMatch(pat, familiarName(parseReference(ref))));
    if (filters.reference) list = list.filter((i) => i.refs.some(refMatches)).map((i) => ({ ...i, refs: i.refs.filter(refMatches) }));
    if (filters.before || filters.since) {
      const pivot = (s: string) => engine.images.resolve(s).config.created ?? '';
      if (filters.before) list = list.filter((i) => (i.config.created ?? '') < pivot(filters.before[0]));
      if (filters.since) list = list.filter((i) => (i.config.created ?? '') > pivot(filters.since[0]));
    }
    void all;
    const out = list
      .map((i) => imageSummary(i, engine.containers.usersOfImage(i.id).length))
      .sort((a, b) => b.Created - a.Created);
    ctx.send(200, out);
  });

  r.add('POST', '/images/create', async (ctx) => {
    const fromSrc = ctx.query.get('fromSrc');
    const fromImage = ctx.query.get('fromImage');
    if (fromSrc === null) {
      if (fromImage) return handlePull(ctx, engine);
      throw new InvalidArgumentError('fromImage or fromSrc is required');
    }
    if (fromSrc !== '-') throw new InvalidArgumentError('import from a URL is not supported; pipe the tarball: berth import - < file.tar');
    const repo = ctx.query.get('repo');
    const ref = repo ? splitRepoTag(repo, ctx.query.get('tag')) : undefined;
    const changes = ctx.query.getAll('changes').flatMap((c) => c.split('\n')).filter((c) => c.trim());
    const rec = await engine.importImage(ctx.req as unknown as Readable, { ref, changes, message: ctx.query.get('message') ?? '', source: '-' });
    const res = ctx.stream('application/json');
    res.end(JSON.stringify({ status: rec.id }) + '\n');
  });

  r.add('GET', '/images/{name}/json', (ctx) => ctx.send(200, imageInspect(engine.images.resolve(ctx.params.name))));

  r.add('GET', '/images/{name}/history', (ctx) => {
    const img = engine.images.resolve(ctx.params.name);
    const hist = img.config.history ?? [];
    let layer = img.manifest.layers.length - 1;
    const out = [];
    for (let i = hist.length - 1; i >= 0; i--) {
      const h = hist[i];
      const size = h.empty_layer ? 0 : (img.manifest.layers[layer--]?.size ?? 0);
      out.push({
        Id: i === hist.length - 1 ? img.id : '<missing>',
        Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
        CreatedBy: h.created_by ?? '',
        Tags: i === hist.length - 1 ? img.refs.map(displayRef) : null,
        Size: size,
        Comment: h.comment ?? '',
      });
    }
    ctx.send(200, out);
  });

  r.add('POST', '/images/{name}/tag', async (ctx) => {
    const repo = ctx.query.get('repo');
    if (!repo) throw new InvalidArgumentError('repository name must have at least one component');
    await engine.tagImage(ctx.params.name, splitRepoTag(repo, ctx.query.get('tag')));
    ctx.send(201);
  });

  r.add('DELETE', '/images/{name}', async (ctx) => {
    const force = ctx.query.get('force') === '1' || ctx.query.get('force') === 'true';
    ctx.send(200, await engine.removeImage(ctx.params.name, force));
  });

  r.add('POST', '/images/prune', async (ctx) => {
    const { filters, matches } = pruneFilter(ctx.query.get('filters'), ['dangling']);
    const all = filters.dangling?.[0] === 'false' || filters.dangling?.[0] === '0';
    ctx.send(200, await engine.pruneImages(all, (img) => matches(img.config.config?.Labels ?? undefined, img.config.created)));
  });

  // save: a docker-archive (+ OCI layout) tar. The first chunk is pulled before the headers go
  // out, so an unknown name is still a plain 404 rather than a truncated tar.
  const save = async (ctx: RequestContext, names: string[]) => {
    const tar = saveImages(engine.images, names);
    const first = await tar.next();
    const res = ctx.stream('application/x-tar');
    const rest = async function* () {
      if (!first.done) yield first.value;
      yield* tar;
    };
    if (await pump(res, rest())) res.end();
    else {
      await tar.return(undefined);
      res.destroy();
    }
    for (const n of names) {
      const img = engine.images.find(n);
      if (img) engine.events.emit('image', 'save', img.id, { name: n });
    }
  };
  r.add('GET', '/images/get', (ctx) => save(ctx, ctx.query.getAll('names').flatMap((n) => n.split(',')).filter(Boolean)));
  r.add('GET', '/images/{name}/get', (ctx) => save(ctx, [ctx.params.name]));

  // load: Docker's JSON message stream, one {"stream": "Loaded image: ...\n"} per image.
  r.add('POST', '/images/load', async (ctx) => {
    const lines = await loadImages(engine.images, ctx.req as AsyncIterable<Buffer>);
    for (const line of lines) {
      const name = /^Loaded image(?: ID)?: (.*)$/.exec(line)?.[1];
      const img = name ? engine.images.find(name) : undefined;
      if (img) engine.events.emit('image', 'load', img.id, { name: name! });
    }
    const res = ctx.stream('application/json');
    res.end(lines.map((l) => JSON.stringify({ stream: `${l}\n` }) + '\n').join(''));
  });

  r.add('POST', '/commit', async (ctx) => {
    const container = ctx.query.get('container');
    if (!container) throw new InvalidArgumentError('missing container parameter');
    const repo = ctx.query.get('repo');
    const ref = repo ? splitRepoTag(repo, ctx.query.get('tag')) : undefined;
    await ctx.json<unknown>().catch(() => undefined);
    const rec = await engine.commit(container, {
      ref,
      comment: ctx.query.get('comment') ?? '',
      author: ctx.query.get('author') ?? '',
      changes: ctx.query.getAll('changes').flatMap((c) => c.split('\n')).filter((c) => c.trim()),
      pause: ctx.query.get('pause') !== '0' && ctx.query.get('pause') !== 'false',
    });
    ctx.send(201, { Id: rec.id });
  });
}

/** Docker's reference filter uses path.Match-style globs. */
function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  if (re.test(s)) return true;
  // A pattern without a tag matches any tag of that repository.
  return !pattern.includes(':') && re.test(s.replace(/:[^/:]+$/, ''));
}
