/**
 * The engine library: one object that the API server (and embedders) drive.
 * It composes the image store, the container manager and the event bus.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import { cpus, totalmem, release, hostname } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { API_VERSION, BERTH_VERSION, MIN_API_VERSION, type EnginePaths } from '../config';
import { ensureDir } from '../sys/fsutil';
import { ImageStore } from '../image/store';
import { importImage, type ImportOptions } from '../image/import';
import { applyChanges } from '../image/changes';
import { type ImageConfig, type ImageRecord, MEDIA_OCI_LAYER, platformArch } from '../image/types';
import type { Digest } from '../image/digest';
import { ContainerManager, initBinary } from '../runtime/containers';
import { packDirectory } from '../image/snapshot/pack';
import { writeTar, type TarWriteItem } from '../image/tar/writer';
import { EventBus } from './events';
import { VolumeStore, type VolumeRecord } from '../volume/store';
import { NetworkManager } from '../network';
import { conmonPath } from '../runtime/conmon';
import { execFile } from '../sys/exec';

export interface CommitOptions {
  ref?: string;
  comment?: string;
  author?: string;
  changes?: string[];
  pause?: boolean;
}

export interface FileChange {
  Path: string;
  /** 0 modified, 1 added, 2 deleted (Docker's ChangeType). */
  Kind: 0 | 1 | 2;
}

export class Engine {
  readonly images: ImageStore;
  readonly containers: ContainerManager;
  readonly volumes: VolumeStore;
  readonly networks: NetworkManager;
  readonly events = new EventBus();
  readonly startedAt = new Date();
  /** BERTH_EXPERIMENTAL=1: report experimental features, as `dockerd --experimental` (the docker CLI sends `build --squash` only then). */
  readonly experimental = /^(1|true)$/i.test(process.env.BERTH_EXPERIMENTAL ?? '');

  constructor(readonly paths: EnginePaths) {
    this.images = new ImageStore(paths.root);
    this.volumes = new VolumeStore(paths.root);
    const env = process.env;
    this.networks = new NetworkManager({
      root: paths.root,
      run: paths.run,
      // Tests (and hosts running several engines) give each engine its own default bridge and pool.
      ...(env.BERTH_BRIDGE || env.BERTH_BRIDGE_SUBNET ? { defaultBridge: { bridgeName: env.BERTH_BRIDGE || undefined, subnet: env.BERTH_BRIDGE_SUBNET || undefined } } : {}),
      ...(env.BERTH_SUBNET_POOL ? { subnetPool: env.BERTH_SUBNET_POOL } : {}),
    });
    this.containers = new ContainerManager(paths, this.images, this.events, this.volumes, this.networks);
  }

  async init(): Promise<void> {
    await ensureDir(this.paths.root, 0o711);
    await ensureDir(this.paths.run, 0o711);
    await this.images.init();
    await this.volumes.init();
    await this.networks.init();
    await this.containers.init();
    // Endpoints of containers that died while no berthd ran: leases, rules and namespaces go.
    await this.networks.reap(new Set(this.containers.list().filter((c) => c.state.Running).map((c) => c.rec.Id)));
  }

  close(): void {
    this.containers.close();
  }

  async importImage(source: Readable, opts: ImportOptions): Promise<ImageRecord> {
    const rec = await importImage(this.images, source, opts);
    this.events.emit('image', 'import', rec.id, { name: opts.ref ?? '' });
    return rec;
  }

  async tagImage(image: string, ref: string): Promise<void> {
    const rec = this.images.resolve(image);
    await this.images.tag(image, ref);
    this.events.emit('image', 'tag', rec.id, { name: ref });
  }

  async removeImage(image: string, force: boolean): Promise<Array<{ Untagged?: string; Deleted?: string }>> {
    const res = await this.images.remove(image, { force, usedBy: (id) => this.containers.usersOfImage(id) });
    if (res.deleted.length) await this.images.collectGarbage();
    for (const u of res.untagged) this.events.emit('image', 'untag', u, { name: u });
    for (const d of res.deleted) this.events.emit('image', 'delete', d, {});
    return [...res.untagged.map((u) => ({ Untagged: u })), ...res.deleted.map((d) => ({ Deleted: d }))];
  }

  /** image prune: dangling images (or all unused with `all`), never ones containers use. */
  async pruneImages(all: boolean, which?: (img: ImageRecord) => boolean): Promise<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }>; SpaceReclaimed: number }> {
    const deleted: Array<{ Untagged?: string; Deleted?: string }> = [];
    let space = 0;
    const doomed: Digest[] = [];
    for (const img of this.images.list()) {
      if (this.containers.usersOfImage(img.id).length > 0) continue;
      if (!all && img.refs.length > 0) continue;
      if (which && !which(img)) continue;
      for (const r of img.refs) deleted.push({ Untagged: r });
      deleted.push({ Deleted: img.id });
      doomed.push(img.id);
      space += img.size;
    }
    await this.images.forget(doomed);
    await this.images.collectGarbage();
    return { ImagesDeleted: deleted, SpaceReclaimed: space };
  }

  /** The container's writable layer as a tar stream (overlay whiteouts become OCI whiteouts). */
  layerOf(container: string): Readable {
    const c = this.containers.get(container);
    return Readable.from(writeTar(withoutRuntimeFiles(packDirectory(join(c.dir, 'upper'), { mode: 'upper' }))));
  }

  /** commit: the container's upper dir becomes a new layer on top of its image. */
  async commit(container: string, opts: CommitOptions): Promise<ImageRecord> {
    const c = this.containers.get(container);
    const base = this.images.byId(c.rec.Image as Digest);
    if (!base) throw new Error(`image of container ${c.rec.Name} no longer exists`);
    const paused = opts.pause !== false && c.state.Running && !c.state.Paused;
    if (paused) await this.containers.pause(c.rec.Id);
    let layer;
    try {
      layer = await this.images.content.putStream(this.layerOf(c.rec.Id));
    } finally {
      if (paused) await this.containers.unpause(c.rec.Id);
    }
    const created = new Date().toISOString();
    const cc = c.rec.Config;
    const runConfig = applyChanges(
      {
        ...(base.config.config ?? {}),
        Env: cc.Env,
        Cmd: cc.Cmd ?? undefined,
        Entrypoint: cc.Entrypoint ?? undefined,
        WorkingDir: cc.WorkingDir,
        User: cc.User,
        Labels: cc.Labels,
        ExposedPorts: cc.ExposedPorts,
        Volumes: cc.Volumes ?? undefined,
        StopSignal: cc.StopSignal,
      },
      opts.changes ?? [],
    );
    const config: ImageConfig = {
      ...base.config,
      created,
      author: opts.author || base.config.author,
      architecture: base.config.architecture || platformArch(),
      os: 'linux',
      config: runConfig,
      rootfs: { type: 'layers', diff_ids: [...base.config.rootfs.diff_ids, layer.digest] },
      history: [...(base.config.history ?? []), { created, created_by: [c.rec.Path, ...c.rec.Args].join(' '), ...(opts.comment ? { comment: opts.comment } : {}), ...(opts.author ? { author: opts.author } : {}) }],
    };
    const layers = [...base.manifest.layers, { mediaType: MEDIA_OCI_LAYER, digest: layer.digest, size: layer.size }];
    const rec = await this.images.create(config, layers, opts.ref);
    this.events.emit('container', 'commit', c.rec.Id, { comment: opts.comment ?? '', imageID: rec.id });
    return rec;
  }

  /** diff: what changed in the container's writable layer, Docker's A/C/D list. */
  async changes(container: string): Promise<FileChange[]> {
    const c = this.containers.get(container);
    const upper = join(c.dir, 'upper');
    const out: FileChange[] = [];
    const image = this.images.byId(c.rec.Image as Digest);
    // Unpacked once for the whole walk, not once per changed path.
    const lowers = image ? await this.images.layerDirs(image) : [];
    const walk = async (rel: string) => {
      const entries = await fsp.readdir(join(upper, rel), { withFileTypes: true }).catch(() => []);
      for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const p = `${rel}/${e.name}`;
        if (RUNTIME_FILES.has(p.slice(1))) continue;
        const st = await fsp.lstat(join(upper, p));
        if (st.isCharacterDevice() && st.rdev === 0) {
          out.push({ Path: p, Kind: 2 });
          continue;
        }
        out.push({ Path: p, Kind: (await inLowers(lowers, p)) ? 0 : 1 });
        if (e.isDirectory()) await walk(p);
      }
    };
    await walk('');
    // A directory that shows up only because runc created a mount point in it is no change.
    return out.filter((ch) => ch.Kind !== 0 || !RUNTIME_PARENTS.has(ch.Path) || out.some((o) => o.Path.startsWith(`${ch.Path}/`)));
  }

  async createVolume(o: { Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> }) {
    const v = await this.volumes.create({ name: o.Name, driver: o.Driver, options: o.DriverOpts ?? {}, labels: o.Labels ?? {} });
    this.events.emit('volume', 'create', v.Name, { driver: 'local' });
    return v;
  }

  async removeVolume(name: string, force: boolean): Promise<void> {
    await this.volumes.remove(name, (n) => this.containers.usersOfVolume(n), force);
    this.events.emit('volume', 'destroy', name, { driver: 'local' });
  }

  pruneVolumes(all: boolean, which?: (v: VolumeRecord) => boolean) {
    return this.volumes.prune((n) => this.containers.usersOfVolume(n), all, which);
  }

  async version(): Promise<Record<string, unknown>> {
    const runcVersion = (await this.containers.runc.version().catch(() => 'unknown')).split('\n')[0];
    return {
      Platform: { Name: 'Berth' },
      Components: [
        {
          Name: 'Engine',
          Version: BERTH_VERSION,
          Details: {
            ApiVersion: API_VERSION,
            MinAPIVersion: MIN_API_VERSION,
            Os: 'linux',
            Arch: platformArch(),
            GoVersion: `node ${process.version}`,
            GitCommit: 'berth',
            BuildTime: this.startedAt.toISOString(),
            KernelVersion: release(),
            Experimental: String(this.experimental),
          },
        },
        { Name: 'runc', Version: runcVersion.replace(/^runc version /, ''), Details: {} },
      ],
      Version: BERTH_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: 'berth',
      GoVersion: `node ${process.version}`,
      Os: 'linux',
      Arch: platformArch(),
      KernelVersion: release(),
      BuildTime: this.startedAt.toISOString(),
      ...(this.experimental ? { Experimental: true } : {}),
    };
  }

  async info(): Promise<Record<string, unknown>> {
    const list = this.containers.list();
    const runcVersion = (await this.containers.runc.version().catch(() => 'unknown')).split('\n');
    const warnings: string[] = [];
    // Debian 12's runc carries the CVE-2024-21626 fix but not the Nov-2025 ones.
    if (/1\.1\.5\+ds1/.test(runcVersion.join(' ')))
      warnings.push('WARNING: runc 1.1.5 (Debian 12) lacks the fixes for CVE-2025-31133, CVE-2025-52565 and CVE-2025-52881; run only trusted images');
    const conmonVersion = await execFile(conmonPath(), ['--version']).then((r) => r.stdout.split('\n')[0]).catch(() => 'unknown');
    return {
      ID: hostname(),
      Containers: list.length,
      ContainersRunning: list.filter((c) => c.state.Running && !c.state.Paused).length,
      ContainersPaused: list.filter((c) => c.state.Paused).length,
      ContainersStopped: list.filter((c) => !c.state.Running).length,
      Images: this.images.list().length,
      Driver: 'overlay',
      DriverStatus: [['Backing Filesystem', 'extfs']],
      DockerRootDir: this.paths.root,
      LoggingDriver: 'k8s-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: readCgroupVersion(),
      KernelVersion: release(),
      OperatingSystem: readOsName(),
      OSType: 'linux',
      Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
      NCPU: cpus().length,
      MemTotal: totalmem(),
      Name: hostname(),
      ServerVersion: BERTH_VERSION,
      DefaultRuntime: 'runc',
      Runtimes: { runc: { path: this.containers.runc.bin } },
      RuncCommit: { ID: runcVersion[1]?.replace(/^commit: /, '') ?? '' },
      ContainerdCommit: { ID: '' },
      InitBinary: initBinary() ?? '',
      InitCommit: { ID: '' },
      Berth: { Conmon: conmonVersion, Runc: runcVersion[0] },
      SecurityOptions: ['name=seccomp,profile=builtin'],
      ExperimentalBuild: this.experimental,
      Warnings: warnings,
    };
  }
}

/**
 * Mount points runc creates in the writable layer for the files Berth
 * bind-mounts (Docker keeps these in its init layer): never part of diff or commit.
 */
const RUNTIME_FILES = new Set(['etc/hosts', 'etc/hostname', 'etc/resolv.conf']);
const RUNTIME_PARENTS = new Set(['/etc']);

async function* withoutRuntimeFiles(items: AsyncIterable<TarWriteItem>): AsyncGenerator<TarWriteItem> {
  for await (const item of items) {
    const name = typeof item.entry.name === 'string' ? item.entry.name : item.entry.name.toString('latin1');
    if (RUNTIME_FILES.has(name.replace(/^\.?\//, ''))) continue;
    yield item;
  }
}

async function inLowers(lowers: string[], path: string): Promise<boolean> {
  for (const dir of lowers) {
    try {
      await fsp.lstat(join(dir, path));
      return true;
    } catch {
      // not in this layer
    }
  }
  return false;
}

function readCgroupVersion(): string {
  try {
    return readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8') ? '2' : '1';
  } catch {
    return '1';
  }
}

function readOsName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m ? m[1] : 'Linux';
  } catch {
    return 'Linux';
  }
}
