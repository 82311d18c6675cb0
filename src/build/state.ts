/** A build stage while it is being built: its image so far, its variables and its place in the cache chain. */
import type { Digest } from '../image/digest';
import type { Descriptor, HistoryEntry, ImageConfig, ImageRecord } from '../image/types';
import { platformArch } from '../image/types';
import { DEFAULT_PATH } from '../image/types';
import { type ConfigState, envValue, setEnv } from './config';

export interface StageState extends ConfigState {
  /** `AS name` (lower case) or the stage's index as a string. */
  name: string;
  index: number;
  architecture: string;
  os: string;
  variant?: string;
  history: HistoryEntry[];
  layers: Descriptor[];
  diffIds: Digest[];
  /** Cache key of the last step: every later key is chained from it. */
  key: string;
  /** A step of this stage (or of what it is built on) missed the cache in this build. */
  rebuilt: boolean;
  /** ARGs declared in this stage, in order; undefined = declared without a value. */
  args: Map<string, string | undefined>;
  /** What the stage started from: `--squash` merges everything after it. */
  base: StageBase;
}

export interface StageBase {
  /** The base image's ID; for a stage, the ID its image would have; none for scratch. */
  id?: Digest;
  layers: number;
  history: number;
}

export function cloneConfig<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** A new stage on an image (or on nothing, for `scratch`). */
export function stageFromImage(name: string, index: number, key: string, image?: ImageRecord): StageState {
  const cfg: ImageConfig | undefined = image?.config;
  const st: StageState = {
    name,
    index,
    config: cloneConfig(cfg?.config ?? {}),
    author: cfg?.author,
    cmdSet: false,
    architecture: cfg?.architecture || platformArch(),
    os: cfg?.os || 'linux',
    variant: cfg?.variant,
    history: cloneConfig(cfg?.history ?? []),
    layers: image ? image.manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })) : [],
    diffIds: image ? [...image.config.rootfs.diff_ids] : [],
    key,
    rebuilt: false,
    args: new Map(),
    base: { id: image?.id, layers: image ? image.manifest.layers.length : 0, history: cfg?.history?.length ?? 0 },
  };
  // BuildKit gives every stage a PATH.
  if (envValue(st.config.Env, 'PATH') === undefined) st.config.Env = setEnv(st.config.Env, 'PATH', DEFAULT_PATH);
  return st;
}

/** A new stage on an earlier stage of the same build (`FROM <stage>`). */
export function stageFromStage(name: string, index: number, base: StageState, baseId: Digest): StageState {
  return {
    ...cloneConfig({ ...base, args: undefined }),
    name,
    index,
    cmdSet: false,
    key: base.key,
    rebuilt: base.rebuilt,
    args: new Map(),
    base: { id: baseId, layers: base.layers.length, history: base.history.length },
  };
}

/** Variables for expansion: ENV wins over ARG (Docker's rule). */
export function stageLookup(st: StageState): (name: string) => string | undefined {
  return (name) => envValue(st.config.Env, name) ?? st.args.get(name);
}
