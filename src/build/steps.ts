/**
 * The filesystem steps — RUN, COPY/ADD and WORKDIR — each as a `produce`
 * function that makes the step's layer in a sandbox over the stage's layers,
 * plus what the cache key needs to know about it. The builder decides whether
 * to call `produce` (cache miss) or reuse a cached layer.
 */
import { posix } from 'node:path';
import { ForbiddenError, InvalidArgumentError } from '../errors';
import type { ContentStore } from '../image/content/store';
import type { TarWriteItem } from '../image/tar/writer';
import type { ImageRecord } from '../image/types';
import { resolveUser } from '../runtime/user';
import { mkdirInRoot } from '../sys/inroot';
import { cacheKey, type CachedLayer } from './cache';
import { DEFAULT_SHELL, envKey } from './config';
import { selectSources, type ContextEntry, type SelectedEntry } from './context';
import { applyCopy, planCopy, type CopySource, type InlineFile } from './copy';
import type { AddCommand, CopyCommand, RunCommand } from './dockerfile';
import { commitUpper } from './layer';
import { openSandbox, openView, type Sandbox } from './rootfs';
import { RunFailedError, runStep, stepNetwork } from './run-step';
import { checkMounts, mountKeyParts, openMounts, type MountEnv } from './run-mounts';
import type { StageState } from './state';
import { walkTree } from './tree';

/** What the steps need from the build around them. */
export interface StepEnv extends MountEnv {
  tmpRoot: string;
  runcRoot: string;
  /** Seconds; mtimes are clamped to it. */
  epoch: number;
  network?: string;
  signal?: AbortSignal;
  content: ContentStore;
  /** Unpacked layer dirs of a stage's layers, bottom → top. */
  dirsOf(st: Pick<StageState, 'layers' | 'diffIds'>): Promise<string[]>;
  /** Stores tar items as a layer on top of `st`'s (and keeps them unpacked for later steps); undefined for no items. */
  writeLayer(st: Pick<StageState, 'diffIds'>, items: TarWriteItem[]): Promise<CachedLayer | undefined>;
  /** Keeps a sandbox's upper dir as the unpacked form of its layer (later steps mount it as a lower). */
  adoptLayerDir(layer: CachedLayer, dir: string): Promise<void>;
  /** The build context: its directory and walked entries (with content hashes). */
  context(): Promise<{ dir: string; entries: ContextEntry[] }>;
  /** `COPY --from=` target: an earlier stage of this build, or an image. */
  fromRef(ref: string): StageState | ImageRecord;
  /** Environment (PATH, HOME, ENV, ARGs, proxy args) for a RUN in this stage. */
  runEnv(st: StageState): string[];
  output(data: Buffer): void;
  running(id: string): void;
}

export interface FsStep {
  createdBy: string;
  /** More key inputs beyond the parent key and createdBy (file digests, source stage). */
  keyParts: unknown[];
  /** For COPY/ADD: what was selected, to explain a miss. */
  sources?: { looseKey: string; digest: string; files: Array<[string, string]> };
  produce(): Promise<CachedLayer | undefined>;
}

async function inSandbox(env: StepEnv, st: StageState, fn: (sb: Sandbox) => Promise<void>): Promise<CachedLayer | undefined> {
  const sb = await openSandbox(env.tmpRoot, await env.dirsOf(st));
  try {
    await fn(sb);
    await sb.unmount();
    const layer = await commitUpper(env.content, sb.upper, env.epoch);
    if (layer) await env.adoptLayerDir(layer, sb.upper);
    return layer;
  } finally {
    await sb.remove();
  }
}

// ---------------------------------------------------------------- RUN

/** Shell-form RUN with heredocs: `RUN <<EOF` runs the body; `RUN cat <<EOF >f` hands the shell the whole text. */
function shellScript(cmd: RunCommand): string {
  const line = cmd.cmd.join(' ');
  if (cmd.heredocs.length === 0) return line;
  const only = cmd.heredocs.length === 1 && /^\d*<<-?["']?\w+["']?$/.test(line.trim());
  if (only) return cmd.heredocs[0].content;
  return [line, ...cmd.heredocs.map((h) => h.content + h.name)].join('\n');
}

export async function runStepOf(env: StepEnv, st: StageState, cmd: RunCommand): Promise<FsStep> {
  if (cmd.security === 'insecure') throw new ForbiddenError('security.insecure is not allowed for builds (RUN --security=insecure needs an entitlement Berth does not grant)');
  const mounts = checkMounts(cmd.mounts ?? [], st.config.WorkingDir || '/');
  if (cmd.devices.length > 0) throw new InvalidArgumentError('RUN --device is not supported by Berth');
  const network = stepNetwork(cmd.network !== 'default' ? cmd.network : env.network);
  const shell = st.config.Shell ?? DEFAULT_SHELL;
  const args = cmd.shell ? [...shell, shellScript(cmd)] : [...cmd.cmd];
  if (args.length === 0) throw new InvalidArgumentError('RUN requires at least one argument');
  // The build args a RUN sees are part of its history line (and so of its cache key), as BuildKit records them.
  const envKeys = new Set((st.config.Env ?? []).map(envKey));
  const argPairs = [...st.args].filter(([k, v]) => v !== undefined && !envKeys.has(k)).map(([k, v]) => `${k}=${v}`);
  const prefix = argPairs.length ? `|${argPairs.length} ${argPairs.join(' ')} ` : '';
  const createdBy = `RUN ${prefix}${args.join(' ')} # buildkit`;
  // As BuildKit: the mount options are part of the key (not of the history line), and so is what a bind shows.
  const keyParts: unknown[] = [network];
  if (mounts.length) keyParts.push(await mountKeyParts(env, mounts));
  return {
    createdBy,
    keyParts,
    produce: () =>
      inSandbox(env, st, async (sb) => {
        const open = mounts.length ? await openMounts(env, mounts) : undefined;
        try {
          await runStep({
            sandbox: sb,
            runcRoot: env.runcRoot,
            args,
            // Secrets exposed as variables reach the command only: not the image, not the key.
            env: [...env.runEnv(st), ...(open?.env ?? [])],
            user: st.config.User ?? '',
            cwd: st.config.WorkingDir || '/',
            network,
            onOutput: env.output,
            onStart: (id) => env.running(id),
            signal: env.signal,
            mounts: open?.mounts,
            mountTargets: open?.targets,
          });
        } catch (e) {
          if (!(e instanceof RunFailedError)) throw e;
          const what = `The command '${args.join(' ')}' returned a non-zero code: ${e.exitCode}`;
          throw new RunFailedError(e.message ? `${e.message}\n${what}` : what, e.exitCode);
        } finally {
          await open?.close();
        }
      }),
  };
}

// ---------------------------------------------------------------- WORKDIR


export function workdirStepOf(env: StepEnv, st: StageState, path: string): FsStep {
  return {
    createdBy: `WORKDIR ${path}`,
    keyParts: [st.config.User ?? ''],
    produce: () =>
      inSandbox(env, st, async (sb) => {
        const user = await resolveUser(sb.rootfs, st.config.User ?? '');
        mkdirInRoot(sb.rootfs, path, 0o755, { uid: user.uid, gid: user.gid });
      }),
  };
}

// ---------------------------------------------------------------- COPY / ADD

const MAX_ID = 2 ** 31 - 1;
const URL_RE = /^(https?|git|ssh):\/\/|^git@/i;

function parseChmod(s: string): number | undefined {
  if (s === '') return undefined;
  if (!/^[0-7]{3,4}$/.test(s)) throw new InvalidArgumentError(`invalid chmod parameter: '${s}'. it should be octal string and between 0 and 07777`);
  return parseInt(s, 8);
}

/** --chown=user[:group] against the image's own passwd/group; a user alone means gid = uid. */
async function resolveChown(rootfs: string, spec: string): Promise<{ uid: number; gid: number }> {
  const [u, g] = spec.split(':');
  const numeric = (s: string) => /^\d+$/.test(s);
  if (numeric(u) && (g === undefined || numeric(g))) {
    const uid = Number(u);
    const gid = g === undefined ? uid : Number(g);
    if (uid > MAX_ID || gid > MAX_ID) throw new InvalidArgumentError(`--chown=${spec}: uids and gids must be in range 0-${MAX_ID}`);
    return { uid, gid };
  }
  const r = await resolveUser(rootfs, g === undefined ? u : spec);
  return { uid: r.uid, gid: g === undefined ? r.uid : r.gid };
}

function copyHistory(cmd: CopyCommand | AddCommand, dest: string): string {
  const flags: string[] = [];
  if (cmd.kind === 'copy' && cmd.from) flags.push(`--from=${cmd.from}`);
  if (cmd.chown) flags.push(`--chown=${cmd.chown}`);
  if (cmd.chmod) flags.push(`--chmod=${cmd.chmod}`);
  if (cmd.link) flags.push('--link');
  const srcs = [...cmd.sources, ...cmd.sourceContents.map((c) => `<<${c.path}`)];
  return `${cmd.kind.toUpperCase()} ${[...flags, ...srcs, dest].join(' ')} # buildkit`;
}

export async function copyStepOf(env: StepEnv, st: StageState, cmd: CopyCommand | AddCommand): Promise<FsStep> {
  const name = cmd.kind.toUpperCase();
  if (cmd.kind === 'add') {
    const remote = cmd.sources.find((s) => URL_RE.test(s));
    if (remote) throw new InvalidArgumentError(`ADD ${remote}: remote sources are not supported (Berth builds offline); download it into the build context and COPY it`);
    if (cmd.checksum) throw new InvalidArgumentError('ADD --checksum is only for remote sources, which Berth does not fetch');
  }
  if (cmd.kind === 'copy' && cmd.parents) throw new InvalidArgumentError('COPY --parents is not supported by Berth yet');
  if (cmd.excludes.length > 0) throw new InvalidArgumentError(`${name} --exclude is not supported by Berth yet`);
  const chmod = parseChmod(cmd.chmod);
  const workdir = st.config.WorkingDir || '/';
  let dest = cmd.dest.startsWith('/') ? cmd.dest : posix.join(workdir, cmd.dest) + (cmd.dest.endsWith('/') || cmd.dest === '.' ? '/' : '');
  if (dest === '//') dest = '/';
  const createdBy = copyHistory(cmd, dest);
  const inline: InlineFile[] = cmd.sourceContents.map((c) => ({ name: c.path, data: Buffer.from(c.data) }));
  const rootSources = new Set(cmd.sources.map((s, i) => (posix.normalize('/' + s) === '/' ? i : -1)).filter((i) => i >= 0));
  const sourceCount = cmd.sources.length + inline.length;
  const inlineHash = cacheKey(inline.map((f) => [f.name, f.data.toString('base64')]));
  const base = { sourceCount, dest, chmod, epoch: env.epoch, unpack: cmd.kind === 'add' && cmd.unpack !== false };

  const from = cmd.kind === 'copy' ? cmd.from : '';
  if (from) {
    // Another stage or an image: its cache key / ID stands for its content, so nothing is read until a miss.
    const src = env.fromRef(from);
    const fromKey = 'key' in src ? `stage:${src.key}` : `image:${src.id}`;
    const layersOf = 'key' in src ? src : { layers: src.manifest.layers, diffIds: src.config.rootfs.diff_ids };
    return {
      createdBy,
      keyParts: [fromKey, inlineHash],
      produce: async () => {
        const view = await openView(env.tmpRoot, await env.dirsOf(layersOf));
        try {
          const { entries: selected } = selectSources(walkTree(view.root), cmd.sources);
          return await copyLayer(env, st, cmd.chown, { root: view.root, selected, rootSources }, (root, owner, source) => planCopy({ ...base, root, source, inline, owner }));
        } finally {
          await view.close();
        }
      },
    };
  }

  const ctx = cmd.sources.length > 0 ? await env.context() : { dir: '', entries: [] };
  let selected: SelectedEntry[] = [];
  let digest = '';
  if (cmd.sources.length > 0) ({ entries: selected, digest } = selectSources(ctx.entries, cmd.sources));
  const files = selected.map((e): [string, string] => [e.path || '.', `${e.type}:${e.mode.toString(8)}:${e.contentHash ?? e.linkTarget ?? ''}`]);
  return {
    createdBy,
    keyParts: ['context', digest, inlineHash],
    sources: { looseKey: cacheKey(['sources', st.key, createdBy]), digest, files },
    produce: () => copyLayer(env, st, cmd.chown, { root: ctx.dir, selected, rootSources }, (root, owner, source) => planCopy({ ...base, root, source, inline, owner })),
  };
}

type Planner = (root: string, owner: { uid: number; gid: number } | undefined, source: CopySource) => ReturnType<typeof planCopy>;

/** A COPY/ADD layer: planned against a read-only view of the stage; ADD of an archive goes through a sandbox. */
async function copyLayer(env: StepEnv, st: StageState, chown: string, source: CopySource, plan: Planner): Promise<CachedLayer | undefined> {
  const view = await openView(env.tmpRoot, await env.dirsOf(st));
  try {
    const owner = chown ? await resolveChown(view.root, chown) : undefined;
    const p = plan(view.root, owner, source);
    if (p.archives.length === 0) return await env.writeLayer(st, p.items);
  } finally {
    await view.close();
  }
  return inSandbox(env, st, async (sb) => {
    const owner = chown ? await resolveChown(sb.rootfs, chown) : undefined;
    await applyCopy(sb.rootfs, source.root, plan(sb.rootfs, owner, source));
  });
}
