/** Image verbs: images, import, tag, rmi, history, prune, save, load. */
import { createReadStream, createWriteStream } from 'node:fs';
import { connect } from '../client';
import { renderFormat } from '../format';
import { ExitError, filtersJson, goTime, humanSize, out, since } from '../util';

interface ImageSummary {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  Labels: Record<string, string>;
  Containers: number;
}

function splitTag(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return i > ref.lastIndexOf('/') ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, '<none>'];
}

export async function images(repo: string | undefined, f: { all?: boolean; quiet?: boolean; digests?: boolean; filter?: string[]; format?: string; trunc?: boolean }): Promise<void> {
  const client = await connect();
  const filters = [...(f.filter ?? []), ...(repo ? [`reference=${repo}`] : [])];
  const list = await client.json<ImageSummary[]>('GET', '/images/json', { query: { all: f.all ? 1 : undefined, filters: filtersJson(filters) } });
  const id = (i: ImageSummary) => (f.trunc === false ? i.Id : i.Id.slice(7, 19));
  if (f.quiet) {
    const seen = new Set<string>();
    for (const i of list) if (!seen.has(i.Id)) seen.add(i.Id) && out(`${id(i)}\n`);
    return;
  }
  const rows = list.flatMap((i) => {
    const tags = i.RepoTags.length ? i.RepoTags : ['<none>:<none>'];
    return tags.map((t) => {
      const [repository, tag] = splitTag(t);
      return {
        ID: id(i),
        Repository: repository,
        Tag: tag,
        Digest: (i.RepoDigests ?? []).find((d) => d.startsWith(`${repository}@`))?.split('@')[1] ?? '<none>',
        CreatedSince: since(i.Created),
        CreatedAt: goTime(new Date(i.Created * 1000)),
        Size: humanSize(i.Size),
        Containers: String(i.Containers),
        VirtualSize: humanSize(i.Size),
        SharedSize: 'N/A',
        UniqueSize: 'N/A',
      };
    });
  });
  const def = f.digests
    ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
    : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  out(renderFormat(f.format ?? '', rows, { defaultFormat: def, headers: { ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE', Containers: 'CONTAINERS' } }));
}

export async function importImage(file: string, ref: string | undefined, f: { change?: string[]; message?: string }): Promise<void> {
  const client = await connect();
  let repo: string | undefined;
  let tag: string | undefined;
  if (ref) {
    [repo, tag] = splitTag(ref);
    if (tag === '<none>') tag = undefined;
  }
  const body = file === '-' ? process.stdin : createReadStream(file);
  const res = await client.raw('POST', '/images/create', { query: { fromSrc: '-', repo, tag, changes: f.change, message: f.message }, stream: body });
  const { readBody } = await import('../client');
  const text = (await readBody(res)).toString('utf8');
  if ((res.statusCode ?? 500) >= 400) throw new ExitError(`Error response from daemon: ${(JSON.parse(text) as { message: string }).message}`, 1);
  for (const line of text.split('\n').filter(Boolean)) {
    const m = JSON.parse(line) as { status?: string; error?: string };
    if (m.error) throw new ExitError(m.error, 1);
    if (m.status) out(`${m.status}\n`);
  }
}

export async function tag(source: string, target: string): Promise<void> {
  const client = await connect();
  const [repo, t] = splitTag(target);
  await client.call('POST', `/images/${source}/tag`, { query: { repo, tag: t === '<none>' ? 'latest' : t } });
}

export async function rmi(names: string[], f: { force?: boolean; noPrune?: boolean }): Promise<number> {
  const client = await connect();
  let failed = false;
  for (const n of names) {
    try {
      const r = await client.json<Array<{ Untagged?: string; Deleted?: string }>>('DELETE', `/images/${n}`, { query: { force: f.force ? 1 : undefined, noprune: f.noPrune ? 1 : undefined } });
      for (const x of r) out(x.Untagged ? `Untagged: ${x.Untagged}\n` : `Deleted: ${x.Deleted}\n`);
    } catch (e) {
      failed = true;
      process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

export async function history(name: string, f: { quiet?: boolean; trunc?: boolean; format?: string; human?: boolean }): Promise<void> {
  const client = await connect();
  const list = await client.json<Array<{ Id: string; Created: number; CreatedBy: string; Size: number; Comment: string }>>('GET', `/images/${name}/history`);
  if (f.quiet) {
    out(list.map((h) => `${f.trunc === false ? h.Id : h.Id.startsWith('sha256:') ? h.Id.slice(7, 19) : h.Id}\n`).join(''));
    return;
  }
  const rows = list.map((h) => ({
    ID: f.trunc === false ? h.Id : h.Id.startsWith('sha256:') ? h.Id.slice(7, 19) : h.Id,
    CreatedSince: since(h.Created),
    CreatedAt: new Date(h.Created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    CreatedBy: f.trunc === false || h.CreatedBy.length <= 45 ? h.CreatedBy : `${h.CreatedBy.slice(0, 44)}…`,
    Size: humanSize(h.Size),
    Comment: h.Comment,
  }));
  out(renderFormat(f.format ?? '', rows, { defaultFormat: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}', headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' } }));
}

export async function prune(f: { all?: boolean; force?: boolean }): Promise<void> {
  const client = await connect();
  const r = await client.json<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }>('POST', '/images/prune', { query: { filters: f.all ? JSON.stringify({ dangling: ['false'] }) : undefined } });
  const del = r.ImagesDeleted ?? [];
  if (del.length) out(`Deleted Images:\n${del.map((x) => (x.Untagged ? `untagged: ${x.Untagged}` : `deleted: ${x.Deleted}`)).join('\n')}\n\n`);
  out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
}

export async function save(names: string[], f: { output?: string }): Promise<void> {
  const client = await connect();
  if (!f.output && process.stdout.isTTY) throw new ExitError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
  const res = await client.raw('GET', '/images/get', { query: { names } });
  if ((res.statusCode ?? 500) >= 400) {
    const { readBody } = await import('../client');
    throw new ExitError(`Error response from daemon: ${(JSON.parse((await readBody(res)).toString()) as { message: string }).message}`, 1);
  }
  const dest = f.output ? createWriteStream(f.output) : process.stdout;
  await new Promise<void>((resolve, reject) => {
    res.pipe(dest);
    dest.on('finish', resolve);
    if (!f.output) res.on('end', resolve);
    res.on('error', reject);
  });
}

export async function load(f: { input?: string; quiet?: boolean }): Promise<void> {
  const client = await connect();
  const body = f.input ? createReadStream(f.input) : process.stdin;
  const res = await client.raw('POST', '/images/load', { query: { quiet: f.quiet ? 1 : undefined }, stream: body });
  const { readBody } = await import('../client');
  const text = (await readBody(res)).toString('utf8');
  if ((res.statusCode ?? 500) >= 400) throw new ExitError(`Error response from daemon: ${(JSON.parse(text) as { message: string }).message}`, 1);
  for (const line of text.split('\n').filter(Boolean)) {
    const m = JSON.parse(line) as { stream?: string; error?: string };
    if (m.error) throw new ExitError(m.error, 1);
    if (m.stream) out(m.stream);
  }
}
