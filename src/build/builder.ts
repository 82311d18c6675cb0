/**
 * The builder: a Dockerfile and a context directory → an image, step by step
 * with a content-addressed cache (cache.ts), RUN steps in ephemeral runc
 * containers (run-step.ts), COPY/ADD through the hardened extractor (copy.ts).
 *
 * Reproducible by default: layer tars are packed sorted with every mtime
 * clamped to the build's epoch, and the config's `created` and history times
 * are that epoch too — SOURCE_DATE_EPOCH (build arg, else the daemon's
 * environment), else 0 (1970-01-01, where Docker would use "now"). No
 * hostname or random ID reaches the image, so the same context built twice
 * gives the same image ID.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, promises as fsp, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Engine } from '../engine/engine';
import { InvalidArgumentError, NotFoundError, messageOf } from '../errors';
import type { ContentStore } from '../image/content/store';
import { sha256, type Digest } from '../image/digest';
import { removeTree } from '../image/snapshot/snapshotter';
import { normalizeRef, type Lease, type LeaseRefs } from '../image/store';
import { DEFAULT_PATH, type ImageConfig, type ImageRecord, platformArch } from '../image/types';
import type { TarWriteItem } from '../image/tar/writer';
import { BuildLayers } from './layer';
import { openView, spreadNewDirs } from './rootfs';
import { squashLayers } from './squash';
import { Runc } from '../runtime/runc';
import { openInRoot } from '../sys/inroot';
import { MNT_DETACH, SysError, umount2 } from '../sys/libc';
import { CacheMounts } from './cache-mounts';
import { BuildCache, cacheKey, describeFileChanges, type CacheRecord, type CachedLayer } from './cache';
import { applyConfigCommand, envValue, normalizeRunConfig } from './config';
import { walkContext, type ContextEntry } from './context';
import { DockerfileParseError, expandCommand, expandFrom, parseInstructions, parseMount, type ArgCommand, type Command, type Instructions, type Stage } from './dockerfile';
import { sourceOf, type SourceRef } from './dockerfile/errors';
import type { ProgressSink } from './progress';
import { RunFailedError } from './run-step';
import { stageFromImage, stageFromStage, stageLookup, type StageState } from './state';
import { copyStepOf, runStepOf, workdirStepOf, type FsStep, type StepEnv } from './steps';

export interface BuildOptions {
  /** The context on disk (an uploaded tar extracted, or the user's directory). */
  contextDir: string;
  /** Relative to the context; default `Dockerfile`. */
  dockerfile?: string;
  tags?: string[];
  /** `--build-arg`; null = named without a value (ignored, as Docker). */
  buildArgs?: Record<string, string | null>;
  /** `--label`, applied to the final image. */
  labels?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  /** `--network`: default/none, or host when the daemon allows it. */
  network?: string;
  /** Persistent hash cache for a context that is read in place. */
  hashCachePath?: string;
  /** `--secret`: what RUN --mount=type=secret shows, by ID; never in a layer or a cache key. */
  secrets?: ReadonlyMap<string, Buffer>;
  /** `--squash`: the final stage's own layers become one. */
  squash?: boolean;
  signal?: AbortSignal;
}

export interface BuildResult {
  id: Digest;
  tags: string[];
}

/** A failed build, pointing at its Dockerfile line; `exitCode` when a RUN command failed. */
export class BuildError extends InvalidArgumentError {
  constructor(
    message: string,
    readonly exitCode?: number,
  ) {
    super(message);
  }
}

const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

/** BuildKit's automatic platform args (build platform = target platform here). */
function platformArgs(): Record<string, string> {
  const arch = platformArch();
  const platform = `linux/${arch}`;
  return {
    BUILDPLATFORM: platform, BUILDOS: 'linux', BUILDARCH: arch, BUILDVARIANT: '',
    TARGETPLATFORM: platform, TARGETOS: 'linux', TARGETARCH: arch, TARGETVARIANT: '',
  };
}

/** RFC 3339 as Go prints it: no fraction for whole seconds. */
function rfc3339(sec: number): string {
  return new Date(sec * 1000).toISOString().replace('.000Z', 'Z');
}

const builders = new WeakMap<Engine, Builder>();

/** The engine's builder (one per engine: it owns the cache and the temp dirs). */
export function builderOf(engine: Engine): Builder {
  let b = builders.get(engine);
  if (!b) {
    b = new Builder(engine);
    builders.set(engine, b);
  }
  return b;
}

export class Builder {
  readonly cache: BuildCache;
  readonly cacheMounts: CacheMounts;
  readonly tmpRoot: string;
  readonly runcRoot: string;
  private ready?: Promise<void>;

  constructor(readonly engine: Engine) {
    const root = join(engine.paths.root, 'builder');
    this.cache = new BuildCache(join(root, 'cache'));
    this.cacheMounts = new CacheMounts(join(root, 'cache-mounts'));
    this.tmpRoot = join(root, 'tmp');
    this.runcRoot = join(engine.paths.run, 'runc-build');
  }

  /** Where file hashes of a context read in place are remembered between builds. */
  hashCachePath(contextDir: string): string {
    return join(this.engine.paths.root, 'builder', 'hashcache', `${createHash('sha256').update(contextDir).digest('hex')}.json`);
  }

  /** Once per daemon: cache dirs, and whatever a crashed build left (containers, mounts, temp dirs). */
  init(): Promise<void> {
    this.ready ??= (async () => {
      await this.cache.init();
      await this.cacheMounts.init();
      await fsp.mkdir(this.runcRoot, { recursive: true, mode: 0o700 });
      const runc = new Runc(this.runcRoot);
      for (const id of await fsp.readdir(this.runcRoot)) await runc.delete(id, true).catch(() => undefined);
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((m) => m?.startsWith(this.tmpRoot + '/'))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) {
        try {
          umount2(m, MNT_DETACH);
        } catch {
          // already gone
        }
      }
      await removeTree(this.tmpRoot);
      await fsp.mkdir(this.tmpRoot, { recursive: true, mode: 0o700 });
      await spreadNewDirs(this.tmpRoot);
    })();
    return this.ready;
  }

  async build(opts: BuildOptions, progress: ProgressSink): Promise<BuildResult> {
    await this.init();
    return new BuildRun(this, opts, progress).run();
  }

  /** `builder prune`: every cache entry and cache mount goes (as Docker's); layers no image uses are then collected. */
  async prune(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    await this.init();
    const { keys, layers } = await this.cache.prune();
    const mounts = await this.cacheMounts.prune();
    await removeTree(dirname(this.hashCachePath('/')));
    const inImages = new Set(this.engine.images.list().flatMap((i) => i.manifest.layers.map((l) => l.digest)));
    const candidates = new Map(layers.filter((l) => !inImages.has(l.digest)).map((l) => [l.digest, l.size]));
    await this.engine.images.collectGarbage();
    let reclaimed = mounts.size;
    for (const [d, size] of candidates) if (!(await this.engine.images.content.has(d))) reclaimed += size;
    return { CachesDeleted: [...keys, ...mounts.ids.map((id) => `cache mount ${id}`)], SpaceReclaimed: reclaimed };
  }
}

/** Reads the Dockerfile inside the context (in-root: a symlink cannot point it at a host file). */
function readDockerfile(dir: string, name: string): string {
  const tryRead = (n: string): Buffer | undefined => {
    let fd: number;
    try {
      fd = openInRoot(dir, n, constants.O_RDONLY);
    } catch (e) {
      if (e instanceof SysError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return undefined;
      throw e;
    }
    try {
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  };
  const data = tryRead(name) ?? (name === 'Dockerfile' ? tryRead('dockerfile') : undefined);
  if (data === undefined) throw new NotFoundError(`Cannot locate specified Dockerfile: ${name}`);
  return data.toString('utf8');
}

interface Located {
  code: string;
  startLine: number;
  endLine: number;
}

class BuildRun implements StepEnv {
  readonly tmpRoot: string;
  readonly runcRoot: string;
  readonly content: ContentStore;
  readonly cacheMounts: CacheMounts;
  readonly signal?: AbortSignal;
  readonly network?: string;
  readonly secrets?: ReadonlyMap<string, Buffer>;
  epoch = 0;
  private instr!: Instructions;
  private source!: SourceRef;
  private readonly buildArgs: Record<string, string>;
  /** Meta ARGs (before the first FROM) with their values, plus the platform args. */
  private readonly globals: Record<string, string> = platformArgs();
  private readonly metaArgs = new Map<string, string | undefined>();
  /** Every ARG name declared in a built part of the Dockerfile (for the unused build-arg warning). */
  private readonly declared = new Set<string>();
  private readonly states: StageState[] = [];
  private current = -1;
  private stepNo = 0;
  private total = 0;
  private contextWalk?: Promise<{ dir: string; entries: ContextEntry[] }>;
  private readonly layers: BuildLayers;
  /** The layer a --no-cache rebuild of the current step gave last time (reproducible: likely again). */
  private expectedLayer?: Digest;
  private decoder = new StringDecoder('utf8');
  /** Keeps what this build uses (base layers, cache hits, its own layers) from a concurrent GC. */
  private readonly lease: Lease;

  constructor(
    private readonly b: Builder,
    private readonly opts: BuildOptions,
    private readonly emit: ProgressSink,
  ) {
    this.tmpRoot = b.tmpRoot;
    this.runcRoot = b.runcRoot;
    this.content = b.engine.images.content;
    this.cacheMounts = b.cacheMounts;
    this.lease = b.engine.images.lease();
    this.layers = new BuildLayers(b.engine.images, b.tmpRoot);
    this.signal = opts.signal;
    this.network = opts.network;
    this.secrets = opts.secrets;
    this.buildArgs = Object.fromEntries(Object.entries(opts.buildArgs ?? {}).filter((kv): kv is [string, string] => typeof kv[1] === 'string'));
  }

  private get expandOpts() {
    return { escapeToken: this.instr.escapeToken, source: this.source };
  }

  async run(): Promise<BuildResult> {
    try {
      return await this.runStages();
    } finally {
      await this.layers.remove();
      this.lease.release();
    }
  }

  private pin(refs: LeaseRefs): Promise<void> {
    return this.b.engine.images.pin(this.lease, refs);
  }

  private pinImage(rec: ImageRecord): Promise<void> {
    return this.pin({ blobs: [rec.manifestDigest, rec.manifest.config.digest, ...rec.manifest.layers.map((l) => l.digest)], diffIds: rec.config.rootfs.diff_ids });
  }

  private async runStages(): Promise<BuildResult> {
    const tags = this.opts.tags ?? [];
    for (const t of tags) normalizeRef(t); // a bad -t fails before any work
    const name = this.opts.dockerfile || 'Dockerfile';
    const text = readDockerfile(this.opts.contextDir, name);
    this.source = sourceOf(text, posix.basename(name));
    this.instr = parseInstructions(text, { filename: posix.basename(name) });
    for (const w of this.instr.warnings) this.emit({ type: 'warning', message: `${w.message} (line ${w.line})` });
    this.epoch = this.sourceDateEpoch();
    this.resolveMetaArgs();
    const target = this.targetStage();
    const needed = this.neededStages(target);
    this.total = needed.reduce((n, i) => n + 1 + this.instr.stages[i].commands.length, 0);
    for (const i of needed) {
      this.current = i;
      this.states[i] = await this.buildStage(i);
    }
    const unused = Object.keys(this.buildArgs).filter((k) => !this.declared.has(k) && !PROXY_ARGS.includes(k) && !(k in this.globals) && k !== 'SOURCE_DATE_EPOCH');
    if (unused.length) this.emit({ type: 'warning', message: `One or more build-args [${unused.join(' ')}] were not consumed` });
    const final = this.opts.squash ? await this.squash(this.states[target]) : this.states[target];
    const rec = await this.commit(final);
    for (const t of tags) await this.b.engine.tagImage(rec.id, t);
    return { id: rec.id, tags };
  }

  private sourceDateEpoch(): number {
    const raw = this.buildArgs.SOURCE_DATE_EPOCH ?? process.env.SOURCE_DATE_EPOCH ?? '0';
    if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`invalid SOURCE_DATE_EPOCH: ${raw}`);
    return Number(raw.trim());
  }

  // ---------------------------------------------------------------- args and stages

  private resolveMetaArgs(): void {
    for (const cmd of this.instr.metaArgs) {
      const x = expandCommand(cmd, { ...this.globals }, this.expandOpts);
      for (const p of x.pairs) {
        this.declared.add(p.key);
        const v = this.buildArgs[p.key] ?? p.value ?? platformArgs()[p.key];
        this.metaArgs.set(p.key, v);
        if (v === undefined) delete this.globals[p.key];
        else this.globals[p.key] = v;
      }
    }
  }

  /** A stage named `ref` (or numbered, where allowed) before stage `before`. */
  private stageIndex(ref: string, before: number, allowNumber: boolean): number | undefined {
    const lower = ref.toLowerCase();
    for (let i = 0; i < before; i++) if (this.instr.stages[i].name !== '' && this.instr.stages[i].name === lower) return i;
    if (allowNumber && /^\d+$/.test(ref) && Number(ref) < before) return Number(ref);
    return undefined;
  }

  private targetStage(): number {
    const stages = this.instr.stages;
    if (!this.opts.target) return stages.length - 1;
    const i = stages.findIndex((s) => s.name === this.opts.target!.toLowerCase());
    if (i < 0) throw new InvalidArgumentError(`failed to reach build target ${this.opts.target} in Dockerfile`);
    return i;
  }

  /** The target and the stages it builds on (FROM <stage>, COPY --from=<stage>), in Dockerfile order. */
  private neededStages(target: number): number[] {
    const need = new Set<number>();
    const visit = (i: number) => {
      if (need.has(i)) return;
      need.add(i);
      const s = this.instr.stages[i];
      const dep = this.stageIndex(expandFrom(s, this.globals, this.expandOpts).baseName, i, false);
      if (dep !== undefined) visit(dep);
      for (const c of s.commands) {
        const froms = c.kind === 'copy' && c.from ? [c.from] : c.kind === 'run' ? c.mountSpecs.map((m) => parseMount(m).from ?? '') : [];
        for (const f of froms) {
          const d = f ? this.stageIndex(f, i, true) : undefined;
          if (d !== undefined) visit(d);
        }
      }
    };
    visit(target);
    return [...need].sort((a, b) => a - b);
  }

  private async buildStage(i: number): Promise<StageState> {
    const stage = this.instr.stages[i];
    const name = stage.name || String(i);
    let st: StageState | undefined;
    await this.step(undefined, stage, false, async () => {
      const base = await this.baseOf(stage, name, i);
      st = base.state;
      return base.shownId;
    });
    const state = st as StageState;
    // ONBUILD triggers of the base run first, then are cleared (Docker).
    const triggers = state.config.OnBuild ?? [];
    state.config.OnBuild = null;
    this.total += triggers.length;
    for (const t of triggers) {
      let cmds: Command[];
      try {
        cmds = parseInstructions(`FROM scratch\n${t}`).stages[0].commands;
      } catch (e) {
        throw this.located(new InvalidArgumentError(`ONBUILD trigger of ${stage.baseName}: ${messageOf(e)}`), stage);
      }
      for (const cmd of cmds) await this.command(state, { ...cmd, startLine: stage.startLine, endLine: stage.endLine, code: `ONBUILD ${t}` });
    }
    for (const cmd of stage.commands) await this.command(state, cmd);
    return state;
  }

  private async baseOf(stage: Stage, name: string, index: number): Promise<{ state: StageState; shownId: string }> {
    const { baseName, platform } = expandFrom(stage, this.globals, this.expandOpts);
    const prior = this.stageIndex(baseName, index, false);
    if (prior !== undefined) {
      const base = this.states[prior];
      return { state: stageFromStage(name, index, base, sha256(JSON.stringify(this.imageConfig(base, base.config.Labels)))), shownId: base.key };
    }
    if (baseName.toLowerCase() === 'scratch') {
      return { state: stageFromImage(name, index, cacheKey(['FROM', 'scratch', this.epoch, platform])), shownId: 'scratch' };
    }
    const rec = this.b.engine.images.find(baseName);
    if (!rec) throw new NotFoundError(`pull access denied for ${baseName}: no such image here, and Berth builds use local images only (pull, load or import it first)`);
    await this.pinImage(rec);
    return { state: stageFromImage(name, index, cacheKey(['FROM', rec.id, this.epoch, platform]), rec), shownId: rec.id };
  }

  // ---------------------------------------------------------------- steps

  /** Reports one step around `fn`; errors get the Dockerfile line. `fn` returns the short ID to show. */
  private async step(st: StageState | undefined, at: Located, layer: boolean, fn: () => Promise<string | undefined>): Promise<void> {
    this.signal?.throwIfAborted();
    this.emit({ type: 'step', index: ++this.stepNo, total: Math.max(this.total, this.stepNo), text: at.code, stage: st?.name ?? '', layer });
    const t0 = Date.now();
    this.decoder = new StringDecoder('utf8');
    let id: string | undefined;
    try {
      id = await fn();
    } catch (e) {
      throw this.located(e, at);
    }
    this.emit({ type: 'done', ms: Date.now() - t0, id: (id ?? st?.key ?? '').replace(/^sha256:/, '').slice(0, 12) });
  }

  private located(e: unknown, at: Located): Error {
    if (e instanceof DockerfileParseError || this.signal?.aborted) return e as Error;
    const reason = messageOf(e);
    const lines = this.source.lines.length ? this.source : { ...this.source, lines: [at.code] };
    const msg = new DockerfileParseError(reason, at.startLine, at.endLine, lines).message;
    return new BuildError(msg, e instanceof RunFailedError ? e.exitCode : undefined);
  }

  private async command(st: StageState, cmd: Command): Promise<void> {
    const layer = cmd.kind === 'run' || cmd.kind === 'copy' || cmd.kind === 'add' || cmd.kind === 'workdir';
    await this.step(st, cmd, layer, async () => {
      if (cmd.kind === 'arg') return this.finish(st, this.declareArgs(st, cmd), []);
      const x = expandCommand(cmd, stageLookup(st), this.expandOpts);
      switch (x.kind) {
        case 'run':
          return this.fsStep(st, await runStepOf(this, st, x));
        case 'copy':
        case 'add':
          return this.fsStep(st, await copyStepOf(this, st, x));
        case 'workdir': {
          const path = posix.resolve(st.config.WorkingDir || '/', x.path);
          st.config.WorkingDir = path;
          return this.fsStep(st, workdirStepOf(this, st, path));
        }
        default:
          return this.finish(st, applyConfigCommand(st, x), []);
      }
    });
  }

  /** ARG: the value is --build-arg, else the default, else the meta ARG's value. Returns the history line. */
  private declareArgs(st: StageState, cmd: ArgCommand): string {
    const x = expandCommand(cmd, stageLookup(st), this.expandOpts);
    const parts: string[] = [];
    for (const p of x.pairs) {
      this.declared.add(p.key);
      const v = this.buildArgs[p.key] ?? p.value ?? (this.metaArgs.has(p.key) ? this.metaArgs.get(p.key) : platformArgs()[p.key]);
      st.args.set(p.key, v);
      parts.push(v === undefined ? p.key : `${p.key}=${v}`);
    }
    return `ARG ${parts.join(' ')}`;
  }

  private fsStep(st: StageState, s: FsStep): Promise<string | undefined> {
    return this.finish(st, s.createdBy, s.keyParts, s.produce, s.sources);
  }

  /**
   * The cache decision for one step: reuse the cached result, or produce it
   * (a layer, or nothing for config-only steps) and record it.
   */
  private async finish(
    st: StageState,
    createdBy: string,
    keyParts: unknown[],
    produce?: () => Promise<CachedLayer | undefined>,
    sources?: FsStep['sources'],
  ): Promise<string | undefined> {
    const key = cacheKey([st.key, createdBy, ...keyParts]);
    const hit = await this.lookup(st, key, sources);
    let layer: CachedLayer | undefined;
    if (hit) {
      layer = hit.layer;
    } else {
      st.rebuilt = true;
      this.expectedLayer = this.opts.noCache && produce ? (await this.b.cache.get(key))?.layer?.digest : undefined;
      try {
        layer = produce ? await produce() : undefined;
      } finally {
        this.expectedLayer = undefined;
      }
      const rec: CacheRecord = { v: 1, createdBy, ...(layer ? { layer } : {}) };
      await this.b.cache.put(key, rec);
      if (sources) await this.b.cache.putSources(sources.looseKey, sources.digest, sources.files);
    }
    const created = rfc3339(this.epoch);
    if (layer) {
      await this.pin({ blobs: [layer.digest] });
      st.layers.push({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size });
      st.diffIds.push(layer.digest);
      st.history.push({ created, created_by: createdBy, comment: 'buildkit.dockerfile.v0' });
    } else {
      st.history.push({ created, created_by: createdBy, comment: 'buildkit.dockerfile.v0', empty_layer: true });
    }
    st.key = key;
    return key;
  }

  private async lookup(st: StageState, key: string, sources?: FsStep['sources']): Promise<CacheRecord | undefined> {
    let reason: string | undefined;
    if (this.opts.noCache) reason = '--no-cache';
    else {
      const rec = await this.b.cache.get(key);
      if (rec?.layer) await this.pin({ blobs: [rec.layer.digest] }); // before the check: a GC cannot slip in between
      if (rec && (!rec.layer || (await this.content.has(rec.layer.digest)))) {
        this.emit({ type: 'cached' });
        return rec;
      }
      if (rec) reason = 'its cached layer was garbage-collected';
    }
    if (!reason && st.rebuilt) reason = 'an earlier step was rebuilt';
    if (!reason && sources) {
      const before = await this.b.cache.getSources(sources.looseKey);
      if (before && before.digest !== sources.digest) reason = `files changed: ${describeFileChanges(before, sources.files) ?? 'content differs'}`;
    }
    this.emit({ type: 'miss', reason: reason ?? 'no cache entry (a new instruction, or changed instruction, base image or build args)' });
    return undefined;
  }

  private commit(st: StageState): Promise<ImageRecord> {
    return this.b.engine.images.create(this.imageConfig(st, this.finalLabels(st)), st.layers);
  }

  /** `--label` applies to the final image only. */
  private finalLabels(st: StageState): Record<string, string> {
    return { ...(st.config.Labels ?? {}), ...(this.opts.labels ?? {}) };
  }

  private imageConfig(st: StageState, labels: Record<string, string> | undefined): ImageConfig {
    return {
      created: rfc3339(this.epoch),
      ...(st.author ? { author: st.author } : {}),
      architecture: st.architecture,
      os: st.os,
      ...(st.variant ? { variant: st.variant } : {}),
      config: normalizeRunConfig({ ...st.config, Labels: labels }),
      rootfs: { type: 'layers', diff_ids: st.diffIds },
      history: st.history,
    };
  }

  /**
   * `--squash`: the stage's own layers merged into one on top of its base's,
   * and its history as Docker's SquashImage leaves it: every entry after the
   * base's marked empty_layer, then one entry for the merged layer. The merge
   * is cached by the layers it reads (reproducible, so the same bytes again).
   */
  private async squash(st: StageState): Promise<StageState> {
    const { base } = st;
    if (st.layers.length === base.layers) return st;
    const key = cacheKey(['squash', st.diffIds, base.layers, this.epoch]);
    let layer = this.opts.noCache ? undefined : (await this.b.cache.get(key))?.layer;
    if (layer) await this.pin({ blobs: [layer.digest] });
    if (!layer || !(await this.content.has(layer.digest))) {
      const dirs = await this.dirsOf(st);
      const view = await openView(this.tmpRoot, dirs.slice(0, base.layers));
      try {
        layer = await squashLayers({ content: this.content, tmpRoot: this.tmpRoot, epoch: this.epoch, baseRoot: view.root, layerDirs: dirs.slice(base.layers) });
      } finally {
        await view.close();
      }
      await this.pin({ blobs: [layer.digest] });
      await this.b.cache.put(key, { v: 1, createdBy: 'squash', layer });
    }
    const id = sha256(JSON.stringify(this.imageConfig(st, this.finalLabels(st))));
    return {
      ...st,
      layers: [...st.layers.slice(0, base.layers), { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
      diffIds: [...st.diffIds.slice(0, base.layers), layer.digest],
      history: [
        ...st.history.map((h, i) => (i < base.history ? h : { ...h, empty_layer: true })),
        { created: rfc3339(this.epoch), comment: base.id ? `merge ${id} to ${base.id}` : `create new from ${id}` },
      ],
    };
  }

  // ---------------------------------------------------------------- StepEnv

  async dirsOf(st: Pick<StageState, 'layers' | 'diffIds'>): Promise<string[]> {
    await this.pin({ blobs: st.layers.map((l) => l.digest), diffIds: st.diffIds });
    return this.layers.dirsOf(st);
  }

  writeLayer(st: Pick<StageState, 'diffIds'>, items: TarWriteItem[]): Promise<CachedLayer | undefined> {
    return this.layers.write(st.diffIds, items, this.expectedLayer);
  }

  adoptLayerDir(layer: CachedLayer, dir: string): Promise<void> {
    return this.layers.adopt(layer, dir, this.epoch);
  }

  context(): Promise<{ dir: string; entries: ContextEntry[] }> {
    const dir = this.opts.contextDir;
    this.contextWalk ??= walkContext(dir, { dockerfile: this.opts.dockerfile || 'Dockerfile', hashCachePath: this.opts.hashCachePath }).then((entries) => ({ dir, entries }));
    return this.contextWalk;
  }

  fromRef(ref: string): StageState | ImageRecord {
    const i = this.stageIndex(ref, this.current, true);
    if (i !== undefined) return this.states[i];
    const rec = this.b.engine.images.find(ref);
    if (!rec) throw new NotFoundError(`--from=${ref}: no such build stage or image (Berth builds use local images only)`);
    return rec;
  }

  runEnv(st: StageState): string[] {
    const env = [...(st.config.Env ?? [])];
    if (envValue(env, 'PATH') === undefined) env.unshift(`PATH=${DEFAULT_PATH}`);
    for (const [k, v] of st.args) if (v !== undefined && envValue(env, k) === undefined) env.push(`${k}=${v}`);
    for (const k of PROXY_ARGS) if (this.buildArgs[k] !== undefined && envValue(env, k) === undefined) env.push(`${k}=${this.buildArgs[k]}`);
    return env;
  }

  output = (data: Buffer): void => {
    const text = this.decoder.write(data);
    if (text) this.emit({ type: 'output', data: text });
  };

  running(id: string): void {
    this.emit({ type: 'running', id });
  }
}
