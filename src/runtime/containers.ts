/**
 * The container lifecycle: create → start → (pause ⇄ unpause) → exit → remove,
 * on runc under conmon. State lives on disk (`<root>/containers/<id>/`), so a
 * restarted berthd finds running containers again and reads the exit codes of
 * those that ended while it was away (conmon writes them to `<run>/exits/`).
 */
import { closeSync, constants, existsSync, promises as fsp, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { hostname as hostHostname, release } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { ConflictError, InvalidArgumentError, NotFoundError, NotModifiedError, messageOf } from '../errors';
import type { EnginePaths } from '../config';
import type { EventBus } from '../engine/events';
import type { ImageStore } from '../image/store';
import type { Digest } from '../image/digest';
import { atomicWriteJson, ensureDir, KeyedMutex, readJson, treeSize } from '../sys/fsutil';
import { mountAsync, umount2Async, MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT, O_PATH } from '../sys/libc';
import { mkdirInRoot } from '../sys/inroot';
import { findBinary } from '../sys/exec';
import { processAlive } from '../sys/proc';
import { removeTree } from '../image/snapshot/snapshotter';
import { startConmon, RuntimeStartError } from './conmon';
import { readLogs, type LogRecord, type ReadLogsOptions } from './logs';
import { randomName, NAME_RE } from './names';
import { containerEnv, joinedContainer, mergeEnv, mergeImageConfig, networkName, parseLink, parseSecurityOpts, portMappings, validateHostConfig } from './config';
import { openAttachSocket, writeCtl, writeCtlMessage } from './conmon-io';
import { LOG_MAX_SIZE, logMaxFiles, logMaxSize, rotateLogFiles } from './logfiles';
import { ociMounts, resolveMounts } from './mounts';
import { HealthMonitor, initialHealth, probeCommand, type HealthState } from './health';
import { emptyStats, sampleStats, type ContainerStats } from './stats';
import { applyVolumeOwner, type VolumeOwner, type VolumeStore, volumeOwner } from '../volume/store';
import { type AttachResult, type NamespaceSpec, type NetworkManager, renderHosts, renderResolvConf } from '../network';
import { applyLayer } from '../image/snapshot/apply';
import { packDirectory } from '../image/snapshot/pack';
import { writeTar } from '../image/tar/writer';
import { openInRoot } from '../sys/inroot';
import { Runc } from './runc';
import { buildRuntimeSpec, DEFAULT_SHM_SIZE, probeHost, serializeRuntimeSpec, type RuntimeSpecInput } from './spec';
import { resolveUser } from './user';
import { signalNumber } from './signals';
import {
  type ContainerConfig,
  type ContainerRecord,
  type ContainerState,
  type ContainerUpdate,
  type ExecConfig,
  type ExecRecord,
  type HostConfig,
  type NetworkingConfig,
  initialState,
} from './types';


/** How long an ended exec stays inspectable; BERTH_EXEC_RETENTION_MS overrides (tests). */
function execRetentionMs(): number {
  const v = Number(process.env.BERTH_EXEC_RETENTION_MS);
  return Number.isFinite(v) && v > 0 ? v : 5 * 60_000;
}

/** Container dirs being deleted in the background are renamed to this prefix first. */
const TRASH_PREFIX = '.trash-';
/** How long a runtime made at create waits for its start (the client that asked starts at once). */
const PRESTART_TTL_MS = Number(process.env.BERTH_PRESTART_TTL_MS) || 5000;

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface Container {
  rec: ContainerRecord;
  state: ContainerState;
  dir: string;
  /** Network attachment while running (IPs, published ports). */
  net?: AttachResult;
}

interface Waiter {
  condition: WaitCondition;
  resolve: (r: { StatusCode: number; Error?: { Message: string } }) => void;
}

/** Exit codes Docker gives when the container's command cannot be started. */
function startFailureCode(msg: string): number {
  if (/executable file not found|no such file or directory/i.test(msg)) return 127;
  if (/permission denied|is a directory|exec format error/i.test(msg)) return 126;
  return 125;
}

export class ContainerStartError extends InvalidArgumentError {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export class ContainerManager {
  private containers = new Map<string, Container>();
  private names = new Map<string, string>();
  private waiters = new Map<string, Waiter[]>();
  private execs = new Map<string, ExecRecord>();
  private healthMonitors = new Map<string, HealthMonitor>();
  private execWaiters = new Map<string, Array<() => void>>();
  private lock = new KeyedMutex();
  private watcher?: FSWatcher;
  private pollTimer?: NodeJS.Timeout;
  private logTimer?: NodeJS.Timeout;
  private logWatchers = new Map<string, FSWatcher>();
  private restartTimers = new Map<string, NodeJS.Timeout>();
  private readers = new Map<string, Set<Promise<void>>>();
  /** Runtimes made at create (prestart), waiting for their start. */
  private prepared = new Map<string, { pid: number; expires: NodeJS.Timeout }>();
  readonly runc: Runc;
  private readonly dirs: { containers: string; exits: string; sockets: string; runcRoot: string };

  constructor(
    private readonly paths: EnginePaths,
    private readonly images: ImageStore,
    private readonly events: EventBus,
    readonly volumes: VolumeStore,
    readonly networks: NetworkManager,
  ) {
    this.dirs = {
      containers: join(paths.root, 'containers'),
      exits: join(paths.run, 'exits'),
      sockets: join(paths.run, 's'),
      runcRoot: join(paths.run, 'runc'),
    };
    this.runc = new Runc(this.dirs.runcRoot);
  }

  async init(): Promise<void> {
    for (const d of Object.values(this.dirs)) await ensureDir(d);
    for (const id of await fsp.readdir(this.dirs.containers)) {
      // Left by a removal the daemon did not live to finish.
      if (id.startsWith(TRASH_PREFIX)) void removeTree(join(this.dirs.containers, id));
      if (!/^[a-f0-9]{64}$/.test(id)) continue;
      const dir = join(this.dirs.containers, id);
      // Unreadable files are what a power loss can leave of writes that were not fsynced
      // (--rm containers, run state): treat them as absent rather than refuse to start.
      const rec = await readJson<ContainerRecord>(join(dir, 'container.json')).catch(() => undefined);
      if (!rec) {
        await removeTree(dir);
        continue;
      }
      const state = (await readJson<ContainerState>(join(dir, 'state.json')).catch(() => undefined)) ?? initialState();
      const net = state.Running ? await readJson<AttachResult>(join(dir, 'network.json')).catch(() => undefined) : undefined;
      this.containers.set(id, { rec, state, dir, net });
      this.names.set(rec.Name, id);
    }
    // A runtime made at create whose start never came (the daemon stopped first): take it down.
    for (const c of this.containers.values()) {
      if (!c.state.Running && existsSync(join(this.dirs.runcRoot, c.rec.Id))) await this.takeDownWaitingRuntime(c);
    }
    this.watcher = watch(this.dirs.exits, (_ev, name) => {
      if (name) void this.onExitFile(String(name));
    });
    // inotify can miss events under load; a slow poll is the safety net.
    this.pollTimer = setInterval(() => void this.reconcile(), 2000);
    this.pollTimer.unref();
    this.logTimer = setInterval(() => void this.rotateRunningLogs(), 250);
    this.logTimer.unref();
    await this.reconcile();
    for (const c of this.containers.values()) {
      if (!c.state.Running) continue;
      this.watchLog(c);
      this.startHealth(c, c.state.Health ?? initialHealth());
    }
    for (const c of this.containers.values()) if (!c.state.Running && this.shouldRestartOnBoot(c)) void this.start(c.rec.Id).catch(() => undefined);
  }

  close(): void {
    // Runtimes made at create stay behind a stopping daemon; the next one's init takes them down.
    for (const p of this.prepared.values()) clearTimeout(p.expires);
    this.watcher?.close();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.logTimer) clearInterval(this.logTimer);
    for (const w of this.logWatchers.values()) w.close();
    for (const m of this.healthMonitors.values()) m.stop();
    for (const t of this.restartTimers.values()) clearTimeout(t);
  }

  /** Finds containers whose conmon died or whose exit file appeared while nobody watched. */
  private async reconcile(): Promise<void> {
    for (const c of this.containers.values()) {
      if (!c.state.Running) continue;
      if (existsSync(join(this.dirs.exits, c.rec.Id))) {
        await this.onExitFile(c.rec.Id);
        continue;
      }
      let conmonPid = 0;
      try {
        conmonPid = Number(readFileSync(join(c.dir, 'conmon.pid'), 'utf8').trim());
      } catch {
        continue;
      }
      if (conmonPid > 0 && !processAlive(conmonPid, 'conmon') && !existsSync(join(this.dirs.exits, c.rec.Id))) await this.handleExit(c, 255, 'container monitor (conmon) died');
    }
  }

  private shouldRestartOnBoot(c: Container): boolean {
    const p = c.rec.HostConfig.RestartPolicy?.Name;
    // `always` comes back with the daemon even after a manual stop; `unless-stopped` does not.
    return (p === 'always' || (p === 'unless-stopped' && !stoppedByUser(c))) && c.state.Status === 'exited' && !c.state.FinishedAt.startsWith('0001');
  }

  // ---------------------------------------------------------------- lookup

  list(): Container[] {
    return [...this.containers.values()].sort((a, b) => b.rec.Created.localeCompare(a.rec.Created));
  }

  /** Docker's lookup order: exact ID, exact name, unique ID prefix (CVE-2014-5278). */
  get(idOrName: string): Container {
    const s = idOrName.startsWith('/') ? idOrName.slice(1) : idOrName;
    const exact = this.containers.get(s);
    if (exact) return exact;
    const byName = this.names.get(`/${s}`);
    if (byName) return this.containers.get(byName)!;
    if (/^[a-f0-9]+$/.test(s)) {
      const hits = [...this.containers.keys()].filter((id) => id.startsWith(s));
      if (hits.length === 1) return this.containers.get(hits[0])!;
      if (hits.length > 1) throw new InvalidArgumentError(`multiple IDs found with provided prefix: ${s}`);
    }
    throw new NotFoundError(`No such container: ${idOrName}`);
  }

  usersOfImage(imageId: Digest): { id: string; running: boolean }[] {
    return this.list()
      .filter((c) => c.rec.Image === imageId)
      .map((c) => ({ id: c.rec.Id, running: c.state.Running }));
  }

  /**
   * Run state is atomic (rename) but not fsynced: a SIGKILLed daemon still
   * finds a whole file, and after a power loss nothing is running anyway, so
   * the ~2 fsyncs per start/exit would only buy latency. container.json, the
   * user's configuration, stays durable.
   */
  private async save(c: Container): Promise<void> {
    await atomicWriteJson(join(c.dir, 'state.json'), c.state, 0o600, { durable: false });
  }

  /**
   * The container's configuration is fsynced, except for --rm containers: they
   * are gone once they exit, and under I/O load that fsync (file + dir) cost
   * 7–140 ms of every `run --rm` (measured).
   */
  private async saveRecord(c: Container): Promise<void> {
    await atomicWriteJson(join(c.dir, 'container.json'), c.rec, 0o600, { durable: !c.rec.HostConfig.AutoRemove });
  }

  // ---------------------------------------------------------------- create

  async create(config: ContainerConfig, hostConfig: HostConfig = {}, name?: string, networking?: NetworkingConfig): Promise<{ Id: string; Warnings: string[] }> {
    if (!config.Image) throw new InvalidArgumentError('no image specified');
    const t = timer('create');
    const image = this.images.resolve(config.Image);
    const merged = mergeImageConfig(config, image);
    const args = [...(merged.Entrypoint ?? []), ...(merged.Cmd ?? [])];
    if (args.length === 0) throw new InvalidArgumentError('no command specified');
    validateHostConfig(hostConfig, config);
    const netMode = networkName(hostConfig.NetworkMode);
    const joined = joinedContainer(netMode);
    if (joined !== undefined) this.get(joined);
    else this.networks.get(netMode);
    const joinedPid = joinedContainer(hostConfig.PidMode);
    if (joinedPid !== undefined) this.get(joinedPid);
    const joinedIpc = joinedContainer(hostConfig.IpcMode);
    if (joinedIpc !== undefined) this.get(joinedIpc);
    const endpoints = networking?.EndpointsConfig ?? {};
    for (const n of Object.keys(endpoints)) this.networks.get(networkName(n));
    for (const l of hostConfig.Links ?? []) this.get(parseLink(l).name);
    // A unicast MAC (the multicast bit of the first octet clear), as Docker checks at create.
    for (const mac of [config.MacAddress, ...Object.values(endpoints).map((e) => e?.MacAddress)]) {
      if (mac && (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac) || parseInt(mac.slice(0, 2), 16) & 1)) throw new InvalidArgumentError(`invalid MAC address: ${mac}`);
    }
    if (hostConfig.Init && !initBinary()) throw new InvalidArgumentError('--init needs a static init binary: install the Debian package tini');
    return this.lock.run('names', async () => {
      let full: string;
      if (name) {
        if (!NAME_RE.test(name)) throw new InvalidArgumentError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
        full = name.startsWith('/') ? name : `/${name}`;
        const other = this.names.get(full);
        if (other)
          throw new ConflictError(`Conflict. The container name "${full}" is already in use by container "${other}". You have to remove (or rename) that container to be able to reuse that name.`);
      } else {
        full = `/${randomName((n) => this.names.has(`/${n}`))}`;
      }
      const mountPoints = await resolveMounts(hostConfig, {
        volumes: this.volumes,
        mountsOf: (n) => this.get(n).rec.MountPoints ?? [],
        imageVolumes: Object.keys(merged.Volumes ?? {}),
      });
      t('checks');
      const id = randomBytes(32).toString('hex');
      const dir = join(this.dirs.containers, id);
      await fsp.mkdir(dir, { mode: 0o700 });
      await Promise.all([fsp.mkdir(join(dir, 'upper'), { mode: 0o755 }), fsp.mkdir(join(dir, 'work')), fsp.mkdir(join(dir, 'rootfs'))]);
      t('dirs');
      merged.Hostname ||= id.slice(0, 12);
      const rec: ContainerRecord = {
        Id: id,
        Name: full,
        Created: new Date().toISOString(),
        Image: image.id,
        Path: args[0],
        Args: args.slice(1),
        Config: merged,
        HostConfig: {
          NetworkMode: 'default',
          RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
          ...hostConfig,
          // An empty driver (what the docker CLI sends) means the default one, options kept.
          LogConfig: hostConfig.LogConfig?.Type ? hostConfig.LogConfig : { Type: 'k8s-file', Config: hostConfig.LogConfig?.Config ?? {} },
          // Docker's daemon default (since 20.10), as inspect shows it.
          IpcMode: hostConfig.IpcMode || 'private',
        },
        RestartCount: 0,
        LogPath: join(dir, 'ctr.log'),
        MountPoints: mountPoints,
        NetworkingConfig: networking,
      };
      const c: Container = { rec, state: initialState(), dir };
      await Promise.all([this.saveRecord(c), this.save(c)]);
      t('saved');
      this.containers.set(id, c);
      this.names.set(full, id);
      this.events.emit('container', 'create', id, { name: full.slice(1), image: config.Image });
      return { Id: id, Warnings: [] };
    });
  }

  // ---------------------------------------------------------------- start

  async start(idOrName: string): Promise<void> {
    const c = this.get(idOrName);
    await this.lock.run(c.rec.Id, async () => {
      if (c.state.Running) {
        if (c.state.Paused) throw new ConflictError(`cannot start a paused container, try unpause instead`);
        throw new NotModifiedError(`container ${c.rec.Id} is already running`);
      }
      if (c.state.Status === 'removing') throw new ConflictError(`container ${c.rec.Id} is marked for removal and cannot be started`);
      await this.startLocked(c);
    });
  }

  private async startLocked(c: Container): Promise<void> {
    const id = c.rec.Id;
    const t = timer(`start ${id.slice(0, 12)}`);
    const ahead = this.takePrepared(id);
    if (c.rec.StoppedByUser) {
      delete c.rec.StoppedByUser;
      await this.saveRecord(c);
    }
    try {
      const pid = ahead?.pid ?? (await this.prepareRuntime(c, t));
      await this.runc.startFast(id);
      t(ahead ? 'runc start (runtime made at create)' : 'runc start');
      c.state = { ...initialState(), Status: 'running', Running: true, Pid: pid, StartedAt: new Date().toISOString() };
      await this.save(c);
      this.watchLog(c);
      this.startHealth(c, initialHealth());
      t('saved');
      this.events.emit('container', 'start', id, { name: c.rec.Name.slice(1), image: c.rec.Config.Image });
    } catch (e) {
      await this.teardownRuntime(c);
      const msg = messageOf(e);
      const code = e instanceof RuntimeStartError ? startFailureCode(msg) : 125;
      c.state = { ...c.state, Status: c.state.StartedAt.startsWith('0001') ? 'created' : 'exited', Running: false, Pid: 0, ExitCode: code === 125 ? 128 : code, Error: msg };
      await this.save(c);
      if (e instanceof RuntimeStartError) throw new ContainerStartError(`failed to create task for container: ${msg}`, code);
      throw e;
    }
    // The command may have exited before we recorded it as running; its exit event was skipped.
    if (existsSync(join(this.dirs.exits, id))) void this.onExitFile(id);
  }

  /**
   * Everything a start does before `runc start`: rootfs, network, config.json,
   * and conmon with `runc create` (the container's init then waits to exec
   * the command). Resolves with the init's PID; on failure the caller tears down.
   */
  private async prepareRuntime(c: Container, t: (phase: string) => void = () => undefined): Promise<number> {
    const id = c.rec.Id;
    await Promise.all([fsp.rm(join(this.dirs.exits, id), { force: true }), fsp.rm(join(c.dir, 'oom'), { force: true })]);
    if (existsSync(join(this.dirs.runcRoot, id))) await this.runc.delete(id, true).catch(() => undefined);
    const rootfs = join(c.dir, 'rootfs');
    await this.mountRootfs(c);
    await this.populateVolumes(c, rootfs);
    await this.mountShm(c);
    t('mount');
    // The CNI plugins (~40 ms of execs) make the interfaces while conmon and `runc create` make
    // the container in the already pinned namespace: its command runs only at `runc start`,
    // after both. Not with net.* sysctls, which runc writes at create and which may name eth0.
    let early: NamespaceSpec | undefined;
    let namespaceReady!: () => void;
    const nsReady = new Promise<void>((resolve) => (namespaceReady = resolve));
    const overlap = !Object.keys(c.rec.HostConfig.Sysctls ?? {}).some((k) => k.replace(/\//g, '.').startsWith('net.'));
    const attaching = this.attachNetwork(
      c,
      overlap
        ? (ns) => {
            early = ns;
            namespaceReady();
          }
        : undefined,
    );
    attaching.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    await Promise.race([nsReady, attaching]);
    let net = early ? undefined : await attaching;
    t(early ? 'network namespace' : 'network');
    const namespace = net?.namespace ?? early!;
    // The files runc binds must exist at create; written in place later, the binds show the content.
    if (net) await this.writeEtcFiles(c, net);
    else await Promise.all(['hostname', 'hosts', 'resolv.conf'].map((f) => fsp.writeFile(join(c.dir, f), '', { flag: 'a' })));
    const spec = await this.runtimeSpec(c, rootfs, namespace);
    t('spec');
    await fsp.writeFile(join(c.dir, 'config.json'), serializeRuntimeSpec(spec));
    await this.rotateLogs(c);
    const creating = this.createRuntime(c);
    creating.catch(() => undefined); // awaited below, as attaching
    if (!net) {
      const [made, attached] = await Promise.allSettled([creating, attaching]);
      if (attached.status === 'rejected') {
        // conmon is up: wait for it and drop its exit file, or a retry would read that file as its own exit.
        if (made.status === 'fulfilled') await this.takeDownWaitingRuntime(c).catch(() => undefined);
        throw attached.reason;
      }
      if (made.status === 'rejected') throw made.reason;
      net = attached.value;
      await this.writeEtcFiles(c, net);
      t('conmon+runc create ‖ network');
    }
    // network.json lets a restarted daemon show (and detach) this container's networks.
    await atomicWriteJson(join(c.dir, 'network.json'), net, 0o600, { durable: false });
    const pid = await creating;
    t('conmon+runc create');
    return pid;
  }

  /** Whether a running container joined this one's network namespace (`--network container:<this>`). */
  private hasNetworkJoiners(c: Container): boolean {
    for (const o of this.containers.values()) {
      if (o === c || !o.state.Running) continue;
      const j = joinedContainer(networkName(o.rec.HostConfig.NetworkMode));
      if (j === undefined) continue;
      try {
        if (this.get(j).rec.Id === c.rec.Id) return true;
      } catch {
        // its donor is gone or ambiguous: not this one
      }
    }
    return false;
  }

  /** conmon, which runs `runc create`: resolves with the container init's PID. */
  private createRuntime(c: Container): Promise<number> {
    const id = c.rec.Id;
    const cfg = c.rec.Config;
    return startConmon({
      cid: id,
      uuid: id.slice(0, 12),
      name: c.rec.Name.slice(1),
      bundle: c.dir,
      runtime: this.runc.bin,
      runtimeRoot: this.dirs.runcRoot,
      logPath: c.rec.LogPath,
      // conmon 2.1.6 truncates (and loses the current file) at its bound and does not reset its
      // count when asked to reopen, so berthd alone rotates; see rotateRunningLogs.
      logSizeMax: -1,
      exitDir: this.dirs.exits,
      socketDir: this.dirs.sockets,
      pidFile: join(c.dir, 'pidfile'),
      conmonPidFile: join(c.dir, 'conmon.pid'),
      terminal: !!cfg.Tty,
      stdin: !!cfg.OpenStdin,
      // StdinOnce closes stdin when the attached client goes, but not on a terminal (Docker's rule):
      // a `run -it` left with the detach keys stays usable for the next attach.
      leaveStdinOpen: !!cfg.OpenStdin && (!cfg.StdinOnce || !!cfg.Tty),
      // A --rm container's log goes with it: its exit need not wait for an fsync.
      syncLog: !c.rec.HostConfig.AutoRemove,
    });
  }

  /** Undoes prepareRuntime (or what of it happened): runtime, network, rootfs mount. */
  private async teardownRuntime(c: Container): Promise<void> {
    await this.runc.delete(c.rec.Id, true).catch(() => undefined);
    await this.networks.detach(c.rec.Id).catch(() => undefined);
    c.net = undefined;
    await Promise.all([this.unmountRootfs(c), this.unmountShm(c)]);
  }

  // ---------------------------------------------------------------- runtime made at create

  /**
   * Makes the runtime of a just-created container (prepareRuntime) before its
   * start arrives, for a client that says it starts at once (`berth run` sends
   * X-Berth-Start): the start then only runs `runc start`, and the client's
   * round trip between create and start overlaps conmon and `runc create`.
   * The container stays "created" to every API meanwhile. A failure is dropped
   * quietly (the start does it all again and reports it); a runtime that no
   * start takes within PRESTART_TTL_MS, or that anything but a start would
   * invalidate (update, network changes, file access, rename, removal), is
   * taken down first.
   */
  prestart(idOrName: string): void {
    const c = this.get(idOrName);
    const id = c.rec.Id;
    void this.lock
      .run(id, async () => {
        if (c.state.Running || c.state.Status !== 'created' || this.prepared.has(id) || !this.containers.has(id)) return;
        let pid: number;
        try {
          pid = await this.prepareRuntime(c, timer(`prestart ${id.slice(0, 12)}`));
        } catch {
          await this.teardownRuntime(c);
          return;
        }
        const expires = setTimeout(() => void this.lock.run(id, () => this.discardPrepared(c)).catch(() => undefined), PRESTART_TTL_MS);
        expires.unref();
        this.prepared.set(id, { pid, expires });
      })
      .catch(() => undefined);
  }

  private takePrepared(id: string): { pid: number } | undefined {
    const p = this.prepared.get(id);
    if (!p) return undefined;
    clearTimeout(p.expires);
    this.prepared.delete(id);
    return p;
  }

  /**
   * Takes down a runtime made at create that no start used. Call under the
   * container's lock. conmon exits once runc has killed the waiting init; its
   * exit file must not outlive it, or the next start would read it as its own.
   */
  private async discardPrepared(c: Container): Promise<void> {
    if (this.takePrepared(c.rec.Id)) await this.takeDownWaitingRuntime(c);
  }

  private async takeDownWaitingRuntime(c: Container): Promise<void> {
    let conmonPid = 0;
    try {
      conmonPid = Number(readFileSync(join(c.dir, 'conmon.pid'), 'utf8').trim());
    } catch {
      conmonPid = 0;
    }
    await this.teardownRuntime(c);
    for (let i = 0; i < 100 && conmonPid > 0 && processAlive(conmonPid, 'conmon'); i++) await sleep(10);
    await fsp.rm(join(this.dirs.exits, c.rec.Id), { force: true });
  }

  /**
   * A new, empty volume mounted over a non-empty image directory gets that
   * content (with ownership) once, as Docker does. The image side is resolved
   * inside the rootfs by the kernel, so image symlinks cannot point the copy at
   * host files (CVE-2022-23648 class).
   */
  private async populateVolumes(c: Container, rootfs: string): Promise<void> {
    for (const m of c.rec.MountPoints ?? []) {
      if (m.Type !== 'volume' || !m.Name) continue;
      const vol = this.volumes.find(m.Name);
      if (!vol) continue;
      await this.volumes.ensureMounted(vol);
      if (m.NoCopy || vol.Populated) continue;
      if ((await fsp.readdir(vol.Mountpoint)).length === 0) {
        let fd: number | undefined;
        try {
          fd = openInRoot(rootfs, m.Destination, O_PATH | constants.O_DIRECTORY);
        } catch {
          fd = undefined;
        }
        if (fd !== undefined) {
          try {
            const src = `/proc/self/fd/${fd}`;
            await applyLayer(vol.Mountpoint, writeTar(packDirectory(src, { mode: 'plain' })));
            const st = await fsp.stat(src);
            // An owner the volume was created with wins over the image directory's. A volume made
            // before these options were checked may hold an `o=` they refuse: it has no owner then.
            let asked: VolumeOwner = {};
            try {
              asked = volumeOwner(vol.Options);
            } catch {
              asked = {};
            }
            await applyVolumeOwner(vol.Mountpoint, { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, ...asked });
          } finally {
            closeSync(fd);
          }
        }
      }
      await this.volumes.markPopulated(vol);
    }
  }

  /** `network connect`: a running container joins now; a stopped one on its next start. */
  async connectNetwork(idOrName: string, network: string, aliases: string[], ip?: string): Promise<void> {
    const c = this.get(idOrName);
    await this.lock.run(c.rec.Id, () => this.discardPrepared(c));
    const net = this.networks.get(network);
    const eps = { ...(c.rec.NetworkingConfig?.EndpointsConfig ?? {}) };
    const reattach = !c.state.Running && !!c.rec.PrimaryNetworkDetached && networkName(c.rec.HostConfig.NetworkMode) === net.Name;
    if (!reattach && (eps[net.Name] || networkName(c.rec.HostConfig.NetworkMode) === net.Name)) throw new ConflictError(`endpoint with name ${c.rec.Name.slice(1)} already exists in network ${net.Name}`);
    if (reattach) delete c.rec.PrimaryNetworkDetached;
    if (c.state.Running) {
      const ep = await this.networks.connect(c.rec.Id, { network: net.Name, aliases, ip });
      if (c.net) {
        c.net.networks[net.Name] = ep;
        await atomicWriteJson(join(c.dir, 'network.json'), c.net, 0o600, { durable: false });
      }
    }
    eps[net.Name] = { Aliases: aliases, IPAMConfig: ip ? { IPv4Address: ip } : null };
    c.rec.NetworkingConfig = { EndpointsConfig: eps };
    await this.saveRecord(c);
    this.events.emit('network', 'connect', net.Id, { container: c.rec.Id, name: net.Name });
  }

  async disconnectNetwork(idOrName: string, network: string): Promise<void> {
    const c = this.get(idOrName);
    await this.lock.run(c.rec.Id, () => this.discardPrepared(c));
    const net = this.networks.get(network);
    const eps = { ...(c.rec.NetworkingConfig?.EndpointsConfig ?? {}) };
    const primary = networkName(c.rec.HostConfig.NetworkMode) === net.Name;
    if (!eps[net.Name] && !primary) throw new NotFoundError(`container ${c.rec.Id} is not connected to network ${net.Name}`);
    if (c.state.Running) {
      await this.networks.disconnect(c.rec.Id, net.Name);
      if (c.net) {
        delete c.net.networks[net.Name];
        await atomicWriteJson(join(c.dir, 'network.json'), c.net, 0o600, { durable: false });
      }
    }
    if (primary && !eps[net.Name] && c.rec.PrimaryNetworkDetached) throw new NotFoundError(`container ${c.rec.Id} is not connected to network ${net.Name}`);
    delete eps[net.Name];
    c.rec.NetworkingConfig = { EndpointsConfig: eps };
    // As Docker: a container that is not running keeps its NetworkMode and starts without the network
    // (docker-compose 1.x disconnects and reconnects every network of a created container).
    if (primary && !c.state.Running) c.rec.PrimaryNetworkDetached = true;
    else if (primary) c.rec.HostConfig.NetworkMode = Object.keys(eps)[0] ?? 'none';
    await this.saveRecord(c);
    this.events.emit('network', 'disconnect', net.Id, { container: c.rec.Id, name: net.Name });
  }

  /** IDs of containers whose mounts use a volume. */
  usersOfVolume(name: string): string[] {
    return this.list()
      .filter((c) => (c.rec.MountPoints ?? []).some((m) => m.Type === 'volume' && m.Name === name))
      .map((c) => c.rec.Id);
  }

  private async mountRootfs(c: Container): Promise<void> {
    const image = this.images.byId(c.rec.Image as Digest);
    if (!image) throw new NotFoundError(`image ${c.rec.Image} of container ${c.rec.Name.slice(1)} is gone`);
    const rootfs = join(c.dir, 'rootfs');
    await this.unmountRootfs(c);
    let lowers = (await this.images.layerDirs(image)).reverse();
    if (lowers.length === 0) {
      await ensureDir(join(c.dir, 'empty'), 0o755);
      lowers = [join(c.dir, 'empty')];
    }
    let opts = `lowerdir=${lowers.join(':')},upperdir=${join(c.dir, 'upper')},workdir=${join(c.dir, 'work')}`;
    // As Podman does for --rm: no syncs to the upper dir, whose content dies with the container.
    // Without it, the unmount syncs the whole host filesystem, which under I/O load is slow.
    if (c.rec.HostConfig.AutoRemove && overlayVolatile()) {
      opts += ',volatile';
      // A volatile mount leaves <workdir>/work/incompat/volatile, and overlayfs refuses (EINVAL) to mount
      // over it again: that is its warning that the upper dir may be torn after a crash. A --rm
      // container's upper dir is disposable, so a second mount (a start retried) just clears it.
      await fsp.rm(join(c.dir, 'work', 'work', 'incompat'), { recursive: true, force: true });
    }
    if (opts.length > 4000) throw new InvalidArgumentError('image has too many layers for one overlay mount');
    await mountAsync('overlay', rootfs, 'overlay', 0, opts);
  }

  private async unmountRootfs(c: Container): Promise<void> {
    const rootfs = join(c.dir, 'rootfs');
    try {
      while (await umount2Async(rootfs, MNT_DETACH));
    } catch {
      // nothing mounted
    }
  }

  /** Mounts the rootfs if the container is not running (for cp, export, diff of stopped containers). */
  async withRootfs<T>(idOrName: string, fn: (rootfs: string, c: Container) => Promise<T>): Promise<T> {
    const c = this.get(idOrName);
    if (c.state.Running) return fn(join(c.dir, 'rootfs'), c);
    return this.lock.run(c.rec.Id, async () => {
      await this.discardPrepared(c);
      await this.mountRootfs(c);
      try {
        return await fn(join(c.dir, 'rootfs'), c);
      } finally {
        await this.unmountRootfs(c);
      }
    });
  }

  /**
   * The container's filesystem as its processes see it, volumes and binds
   * included (`cp`, the archive API; `export` and `diff` use the rootfs
   * alone, as Docker's do). A running container's is its root in its own
   * mount namespace (/proc/<pid>/root); a stopped one's is its rootfs with
   * its volume and bind sources bind-mounted over their destinations for
   * the call (read-only ones read-only), as dockerd mounts them for `cp`.
   */
  async withContainerView<T>(idOrName: string, fn: (root: string, c: Container) => Promise<T>): Promise<T> {
    const c = this.get(idOrName);
    if (c.state.Running && c.state.Pid) return fn(`/proc/${c.state.Pid}/root`, c);
    return this.withRootfs(c.rec.Id, async (rootfs) => {
      // Outermost first, so a mount inside another volume lands on top of it.
      const mounts = (c.rec.MountPoints ?? []).filter((m) => m.Type !== 'tmpfs').sort((a, b) => a.Destination.length - b.Destination.length);
      for (const m of mounts) {
        if (m.Type === 'volume' && m.Name) {
          const vol = this.volumes.find(m.Name);
          if (!vol) continue;
          await this.volumes.ensureMounted(vol);
        }
        let fd: number;
        try {
          // Resolved in the rootfs: an image symlink cannot aim the mount at a host path. A
          // destination runc would create at start does not exist yet: nothing to show there.
          fd = openInRoot(rootfs, m.Destination, O_PATH);
        } catch {
          continue;
        }
        try {
          await mountAsync(m.Source, `/proc/self/fd/${fd}`, '', MS_BIND | MS_REC, null);
        } finally {
          closeSync(fd);
        }
        if (m.RW) continue;
        // The fd names the directory under the new mount: the remount needs a fresh lookup.
        const top = openInRoot(rootfs, m.Destination, O_PATH);
        try {
          await mountAsync('none', `/proc/self/fd/${top}`, '', MS_REMOUNT | MS_BIND | MS_RDONLY, null);
        } finally {
          closeSync(top);
        }
      }
      // unmountRootfs detaches the rootfs with everything mounted on it.
      return fn(rootfs, c);
    });
  }

  /** Connects the container to its networks (CNI), pinning a network namespace for runc. */
  private async attachNetwork(c: Container, onNamespace?: (ns: NamespaceSpec) => void): Promise<AttachResult> {
    const hc = c.rec.HostConfig;
    const mode = networkName(hc.NetworkMode);
    // Clients key endpoint settings by the network's name, `default` meaning the bridge.
    const eps = Object.fromEntries(Object.entries(c.rec.NetworkingConfig?.EndpointsConfig ?? {}).map(([k, v]) => [networkName(k), v]));
    const joined = joinedContainer(mode);
    if (joined !== undefined) {
      // The other container's namespace, for as long as its processes (or ours) live.
      const pid = this.runningPid(joined, 'network');
      c.net = { nsPath: '', namespace: { mode: 'path', nsPath: `/proc/${pid}/ns/net` }, networks: {}, ports: [], dnsServers: [], dnsSearch: [], dnsOptions: [], hosts: [] };
      return c.net;
    }
    const named = [...(c.rec.PrimaryNetworkDetached ? [] : [mode]), ...Object.keys(eps).filter((n) => n !== mode)];
    // Every network disconnected: loopback only.
    const names = named.length ? named : ['none'];
    const endpoints = names.map((n) => ({ network: n, aliases: eps[n]?.Aliases ?? [], ip: eps[n]?.IPAMConfig?.IPv4Address || undefined, mac: eps[n]?.MacAddress || (n === mode ? c.rec.Config.MacAddress : undefined) || undefined }));
    const res = await this.networks.attach(c.rec.Id, c.rec.Name.slice(1), c.rec.Config.Hostname ?? c.rec.Id.slice(0, 12), endpoints, portMappings(c.rec), onNamespace);
    c.net = res;
    return res;
  }

  /** PID of a running container whose namespace another one joins (`container:<name>` modes). */
  /**
   * `--ipc`: host, none, private, shareable (a host tmpfs at <dir>/shm that others
   * may join), or container:<donor>, which takes the donor's namespace and /dev/shm.
   * As Docker, only a shareable (or host) donor can be joined.
   */
  private ipcOf(c: Container): Pick<RuntimeSpecInput, 'ipc' | 'shmSource'> {
    const mode = c.rec.HostConfig.IpcMode ?? '';
    if (mode === 'host' || mode === 'none') return { ipc: mode };
    if (mode === 'shareable') return { ipc: 'private', shmSource: join(c.dir, 'shm') };
    const donor = joinedContainer(mode);
    if (donor === undefined) return { ipc: 'private' };
    const d = this.get(donor);
    const pid = this.runningPid(donor, 'IPC namespace');
    if (d.rec.HostConfig.IpcMode === 'host') return { ipc: 'host' };
    if (d.rec.HostConfig.IpcMode !== 'shareable') throw new InvalidArgumentError(`container ${d.rec.Id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
    return { ipc: { path: `/proc/${pid}/ns/ipc` }, shmSource: join(d.dir, 'shm') };
  }

  /** A shareable container's /dev/shm: a tmpfs on the host, so joiners can bind the same one. */
  private async mountShm(c: Container): Promise<void> {
    if (c.rec.HostConfig.IpcMode !== 'shareable') return;
    const dir = join(c.dir, 'shm');
    await this.unmountShm(c);
    await ensureDir(dir, 0o700);
    const size = c.rec.HostConfig.ShmSize && c.rec.HostConfig.ShmSize > 0 ? c.rec.HostConfig.ShmSize : DEFAULT_SHM_SIZE;
    await mountAsync('shm', dir, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, `mode=1777,size=${size}`);
  }

  private async unmountShm(c: Container): Promise<void> {
    if (c.rec.HostConfig.IpcMode !== 'shareable') return;
    try {
      while (await umount2Async(join(c.dir, 'shm'), MNT_DETACH));
    } catch {
      // nothing mounted
    }
  }

  private runningPid(nameOrId: string, what: string): number {
    const t = this.get(nameOrId);
    if (!t.state.Running || !t.state.Pid) throw new ConflictError(`cannot join ${what} of a non running container: ${t.rec.Id}`);
    return t.state.Pid;
  }

  /**
   * `--link name[:alias]` (legacy, Docker's default-bridge way to find a container): the
   * alias, the name and the short ID of each linked container resolve to its address on a
   * network both share (else its first). Docker's link environment variables are not set.
   */
  private linkedHosts(c: Container, net: AttachResult): Array<{ ip: string; names: string[] }> {
    const out: Array<{ ip: string; names: string[] }> = [];
    for (const link of c.rec.HostConfig.Links ?? []) {
      const { name, alias } = parseLink(link);
      const t = this.get(name);
      if (!t.state.Running) throw new ConflictError(`Cannot link to a non running container: ${t.rec.Name} AS /${c.rec.Name.slice(1)}/${alias}`);
      const theirs = t.net?.networks ?? {};
      const shared = Object.keys(net.networks).find((n) => theirs[n]?.IPAddress);
      const ip = shared ? theirs[shared]!.IPAddress : Object.values(theirs).find((e) => e.IPAddress)?.IPAddress;
      if (!ip) throw new ConflictError(`cannot link to ${t.rec.Name.slice(1)}: it has no network address`);
      out.push({ ip, names: [...new Set([alias, t.rec.Name.slice(1), t.rec.Id.slice(0, 12)])] });
    }
    return out;
  }

  private async writeEtcFiles(c: Container, net: AttachResult): Promise<void> {
    const cfg = c.rec.Config;
    const hc = c.rec.HostConfig;
    const joined = joinedContainer(hc.NetworkMode);
    if (joined !== undefined) {
      // Same network, same names: the other container's hostname, hosts and resolv.conf (as Docker).
      const t = this.get(joined);
      await Promise.all(['hostname', 'hosts', 'resolv.conf'].map((f) => fsp.copyFile(join(t.dir, f), join(c.dir, f))));
      return;
    }
    const host = net.namespace.mode === 'host';
    const name = host ? hostHostname() : cfg.Hostname!;
    const extra = (hc.ExtraHosts ?? []).map((e) => {
      const i = e.lastIndexOf(':') > e.indexOf(':') && e.includes('::') ? e.indexOf(':') : e.indexOf(':');
      return { ip: e.slice(i + 1), names: [e.slice(0, i)] };
    });
    extra.push(...this.linkedHosts(c, net));
    const hosts = host ? await fsp.readFile('/etc/hosts', 'utf8').catch(() => renderHosts([], extra)) : renderHosts(net.hosts, extra);
    let resolv: string;
    if (host) resolv = await fsp.readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    else
      resolv = renderResolvConf({
        nameservers: hc.Dns?.length ? hc.Dns : net.dnsServers,
        search: hc.DnsSearch?.length ? hc.DnsSearch : net.dnsSearch,
        options: hc.DnsOptions?.length ? hc.DnsOptions : net.dnsOptions,
      });
    await Promise.all([
      fsp.writeFile(join(c.dir, 'hostname'), `${name}\n`),
      fsp.writeFile(join(c.dir, 'hosts'), hosts),
      fsp.writeFile(join(c.dir, 'resolv.conf'), resolv),
    ]);
  }

  private async runtimeSpec(c: Container, rootfs: string, netns: NamespaceSpec): Promise<ReturnType<typeof buildRuntimeSpec>> {
    const cfg = c.rec.Config;
    const hc = c.rec.HostConfig;
    const user = await resolveUser(rootfs, cfg.User ?? '', hc.GroupAdd ?? undefined);
    const cwd = cfg.WorkingDir || '/';
    if (cwd !== '/') mkdirInRoot(rootfs, cwd);
    const env = containerEnv(cfg, user.home);
    const sec = parseSecurityOpts(hc.SecurityOpt ?? []);
    const joinedNet = joinedContainer(hc.NetworkMode);
    const joinedPid = joinedContainer(hc.PidMode);
    const input: RuntimeSpecInput = {
      rootfs,
      readonlyRootfs: !!hc.ReadonlyRootfs,
      args: [c.rec.Path, ...c.rec.Args],
      env,
      cwd,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      hostname: netns.mode === 'host' ? hostHostname() : joinedNet !== undefined ? this.get(joinedNet).rec.Config.Hostname! : cfg.Hostname!,
      domainname: cfg.Domainname || undefined,
      terminal: !!cfg.Tty,
      privileged: !!hc.Privileged,
      oomScoreAdj: hc.OomScoreAdj || undefined,
      devices: (hc.Devices ?? []).map((d) => ({ pathOnHost: d.PathOnHost, pathInContainer: d.PathInContainer || d.PathOnHost, permissions: d.CgroupPermissions || 'rwm' })),
      capAdd: hc.CapAdd ?? [],
      capDrop: hc.CapDrop ?? [],
      noNewPrivileges: sec.noNewPrivileges,
      seccomp: sec.seccomp,
      resources: {
        memory: hc.Memory || undefined,
        memorySwap: hc.MemorySwap || undefined,
        memoryReservation: hc.MemoryReservation || undefined,
        cpuShares: hc.CpuShares || undefined,
        cpuQuota: hc.NanoCpus ? Math.round((hc.NanoCpus / 1e9) * 100000) : hc.CpuQuota || undefined,
        cpuPeriod: hc.NanoCpus ? 100000 : hc.CpuPeriod || undefined,
        cpusetCpus: hc.CpusetCpus || undefined,
        pidsLimit: hc.PidsLimit && hc.PidsLimit > 0 ? hc.PidsLimit : undefined,
        oomKillDisable: hc.OomKillDisable || undefined,
      },
      network: netns,
      ...this.ipcOf(c),
      pid: hc.PidMode === 'host' ? 'host' : joinedPid !== undefined ? { path: `/proc/${this.runningPid(joinedPid, 'PID namespace')}/ns/pid` } : 'private',
      uts: hc.UTSMode === 'host' || netns.mode === 'host' ? 'host' : 'private',
      mounts: ociMounts(c.rec.MountPoints ?? []),
      hostsFile: join(c.dir, 'hosts'),
      resolvConf: join(c.dir, 'resolv.conf'),
      hostnameFile: join(c.dir, 'hostname'),
      shmSize: hc.ShmSize || undefined,
      cgroupsPath: `/berth/${c.rec.Id}`,
      init: hc.Init ? { hostPath: initBinary()! } : undefined,
      sysctls: hc.Sysctls,
      ulimits: (hc.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
    };
    return buildRuntimeSpec(input);
  }

  // ---------------------------------------------------------------- exit

  private async onExitFile(name: string): Promise<void> {
    const c = this.containers.get(name);
    if (!c || !c.state.Running) return;
    let text = '';
    try {
      text = readFileSync(join(this.dirs.exits, name), 'utf8').trim();
    } catch {
      return;
    }
    if (text === '') {
      // conmon creates the file, then writes: wait for the content.
      setTimeout(() => void this.onExitFile(name), 20);
      return;
    }
    await this.handleExit(c, Number(text), '');
  }

  private async handleExit(c: Container, code: number, error: string): Promise<void> {
    // Exit can be reported twice (inotify, the poll, the post-start check): only the first counts.
    const first = await this.lock.run(c.rec.Id, async () => {
      if (!c.state.Running) return false;
      const t = timer(`exit ${c.rec.Id.slice(0, 12)}`);
      this.unwatchLog(c);
      this.stopHealth(c.rec.Id);
      const oom = existsSync(join(c.dir, 'oom'));
      c.state = { ...c.state, Status: 'exited', Running: false, Paused: false, Pid: 0, ExitCode: code, OOMKilled: oom, Error: error, FinishedAt: new Date().toISOString() };
      // runc's cleanup (cgroups, state dir), the unmount and the state write are independent.
      await Promise.all([
        this.runc.reap(c.rec.Id).catch(() => undefined),
        this.networks.release(c.rec.Id, { namespaceShared: this.hasNetworkJoiners(c) }).catch(() => undefined),
        this.unmountRootfs(c),
        this.unmountShm(c),
        this.save(c),
        c.rec.StoppedByUser ? this.saveRecord(c) : undefined,
      ]);
      c.net = undefined;
      t('cleaned up');
      return true;
    });
    const t0 = timer(`exit ${c.rec.Id.slice(0, 12)}`);
    if (!first) return;
    this.events.emit('container', 'die', c.rec.Id, { name: c.rec.Name.slice(1), image: c.rec.Config.Image, exitCode: String(code) });
    this.notify(c, 'next-exit');
    this.notify(c, 'not-running');
    if (c.rec.HostConfig.AutoRemove) {
      const pending = [...(this.readers.get(c.rec.Id) ?? [])];
      if (pending.length) await Promise.race([Promise.all(pending), sleep(5000)]);
      t0('readers drained');
      await this.remove(c.rec.Id, { force: true, volumes: true }).catch(() => undefined);
      return;
    }
    this.maybeRestart(c);
  }

  private maybeRestart(c: Container): void {
    const p = c.rec.HostConfig.RestartPolicy ?? { Name: 'no' };
    const code = c.state.ExitCode;
    if (stoppedByUser(c)) return;
    const want =
      p.Name === 'always' ||
      p.Name === 'unless-stopped' ||
      (p.Name === 'on-failure' && code !== 0 && (!p.MaximumRetryCount || c.rec.RestartCount < p.MaximumRetryCount));
    if (!want) return;
    // Docker's back-off: 100 ms doubling, capped at a minute.
    const delay = Math.min(100 * 2 ** Math.min(c.rec.RestartCount, 10), 60_000);
    c.state = { ...c.state, Restarting: true, Status: 'restarting' };
    const t = setTimeout(() => {
      this.restartTimers.delete(c.rec.Id);
      if (!this.containers.has(c.rec.Id) || !c.state.Restarting) return;
      c.rec.RestartCount++;
      void this.saveRecord(c)
        .then(() => this.lock.run(c.rec.Id, () => this.startLocked(c)))
        .catch(() => {
          c.state = { ...c.state, Restarting: false, Status: 'exited' };
          void this.save(c);
        });
    }, delay);
    this.restartTimers.set(c.rec.Id, t);
  }

  private notify(c: Container, cond: WaitCondition): void {
    const list = this.waiters.get(c.rec.Id) ?? [];
    const keep: Waiter[] = [];
    for (const w of list) {
      if (w.condition === cond) w.resolve({ StatusCode: c.state.ExitCode, ...(c.state.Error ? { Error: { Message: c.state.Error } } : {}) });
      else keep.push(w);
    }
    this.waiters.set(c.rec.Id, keep);
  }

  /** Resolves with the exit code once `condition` holds (Docker's POST /containers/{id}/wait). */
  wait(idOrName: string, condition: WaitCondition = 'not-running'): Promise<{ StatusCode: number; Error?: { Message: string } }> {
    const c = this.get(idOrName);
    if (condition === 'not-running' && !c.state.Running && !c.state.Restarting) return Promise.resolve({ StatusCode: c.state.ExitCode });
    return new Promise((resolve) => {
      const list = this.waiters.get(c.rec.Id) ?? [];
      list.push({ condition, resolve });
      this.waiters.set(c.rec.Id, list);
    });
  }

  // ---------------------------------------------------------------- stop / kill

  async kill(idOrName: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.get(idOrName);
    const sig = signalNumber(signal);
    if (!c.state.Running) throw new ConflictError(`Cannot kill container: ${idOrName}: Container ${c.rec.Id} is not running`);
    markStopped(c, sig === 9 || sig === 15);
    await this.runc.kill(c.rec.Id, sig, false).catch((e) => {
      if (c.state.Running) throw e;
    });
  }

  async stop(idOrName: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = this.get(idOrName);
    if (c.state.Restarting) {
      const t = this.restartTimers.get(c.rec.Id);
      if (t) clearTimeout(t);
      c.state = { ...c.state, Restarting: false, Status: 'exited' };
      markStopped(c, true);
      await this.save(c);
      return;
    }
    if (!c.state.Running) throw new NotModifiedError(`container ${c.rec.Id} is not running`);
    markStopped(c, true);
    const timeout = timeoutSec ?? c.rec.Config.StopTimeout ?? 10;
    const sig = signalNumber(signal || c.rec.Config.StopSignal || 'SIGTERM');
    const exited = this.wait(c.rec.Id, 'not-running');
    if (c.state.Paused) await this.runc.resume(c.rec.Id).catch(() => undefined);
    if (timeout !== 0) await this.runc.kill(c.rec.Id, sig).catch(() => undefined);
    const done = timeout < 0 ? await exited.then(() => true) : await Promise.race([exited.then(() => true), sleep(timeout * 1000).then(() => false)]);
    if (!done) {
      await this.runc.kill(c.rec.Id, 9, true).catch(() => undefined);
      await exited;
    }
    this.events.emit('container', 'stop', c.rec.Id, { name: c.rec.Name.slice(1), image: c.rec.Config.Image });
  }

  async restart(idOrName: string, timeoutSec?: number): Promise<void> {
    const c = this.get(idOrName);
    if (c.state.Running) await this.stop(c.rec.Id, timeoutSec);
    await this.start(c.rec.Id);
    this.events.emit('container', 'restart', c.rec.Id, { name: c.rec.Name.slice(1), image: c.rec.Config.Image });
  }

  /**
   * `docker update`: new limits for a container, applied at once to a running
   * one (`runc update`) and kept for its next starts; a new restart policy;
   * new published ports (a running container's portmap rules are swapped).
   */
  async update(idOrName: string, u: ContainerUpdate): Promise<{ Warnings: string[] }> {
    const c = this.get(idOrName);
    return this.lock.run(c.rec.Id, async () => {
      await this.discardPrepared(c);
      const hc: HostConfig = { ...c.rec.HostConfig };
      if (u.RestartPolicy?.Name) {
        if (hc.AutoRemove && u.RestartPolicy.Name !== 'no') throw new ConflictError('Restart policy cannot be updated because AutoRemove is enabled for the container');
        hc.RestartPolicy = { Name: u.RestartPolicy.Name, MaximumRetryCount: u.RestartPolicy.MaximumRetryCount ?? 0 };
      }
      const flags: string[] = [];
      const set = <K extends 'Memory' | 'MemorySwap' | 'MemoryReservation' | 'CpuShares' | 'CpuPeriod' | 'CpuQuota'>(k: K, flag: string) => {
        const v = u[k];
        if (!v) return; // Docker: zero means "leave as it is"
        hc[k] = v;
        flags.push(flag, String(v));
      };
      set('Memory', '--memory');
      set('MemorySwap', '--memory-swap');
      set('MemoryReservation', '--memory-reservation');
      set('CpuShares', '--cpu-share');
      if (u.NanoCpus) {
        if (u.CpuQuota || u.CpuPeriod) throw new InvalidArgumentError('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
        hc.NanoCpus = u.NanoCpus;
        flags.push('--cpu-period', '100000', '--cpu-quota', String(Math.round((u.NanoCpus / 1e9) * 100000)));
      } else {
        set('CpuPeriod', '--cpu-period');
        set('CpuQuota', '--cpu-quota');
      }
      if (u.CpusetCpus) {
        hc.CpusetCpus = u.CpusetCpus;
        flags.push('--cpuset-cpus', u.CpusetCpus);
      }
      if (u.PidsLimit) {
        hc.PidsLimit = u.PidsLimit;
        flags.push('--pids-limit', String(u.PidsLimit > 0 ? u.PidsLimit : -1));
      }
      const config = { ...c.rec.Config };
      if (u.PortBindings !== undefined) {
        hc.PortBindings = u.PortBindings ?? {};
        // Published ports are exposed ones, as at create.
        config.ExposedPorts = { ...(config.ExposedPorts ?? {}), ...Object.fromEntries(Object.keys(hc.PortBindings).map((k) => [k.includes('/') ? k : `${k}/tcp`, {}])) };
      }
      validateHostConfig(hc);
      // All or nothing: the ports swap (it undoes itself on failure), then the kernel has its say
      // on the limits (e.g. a memory limit below current use); if it refuses, the old ports return.
      const net = c.state.Running && u.PortBindings !== undefined ? c.net : undefined;
      if (net) {
        if (!net.nsPath) throw new ConflictError(`cannot publish ports of container ${c.rec.Name.slice(1)}: it is not on a bridge network of its own`);
        net.ports = await this.networks.updatePorts(c.rec.Id, portMappings({ ...c.rec, Config: config, HostConfig: hc }));
        await atomicWriteJson(join(c.dir, 'network.json'), net, 0o600, { durable: false });
      }
      if (c.state.Running && flags.length) {
        try {
          await this.runc.update(c.rec.Id, flags);
        } catch (e) {
          if (net) {
            net.ports = await this.networks.updatePorts(c.rec.Id, portMappings(c.rec)).catch(() => net.ports);
            await atomicWriteJson(join(c.dir, 'network.json'), net, 0o600, { durable: false });
          }
          throw e;
        }
      }
      c.rec.HostConfig = hc;
      c.rec.Config = config;
      await this.saveRecord(c);
      this.events.emit('container', 'update', c.rec.Id, { name: c.rec.Name.slice(1), image: c.rec.Config.Image });
      return { Warnings: [] };
    });
  }

  async pause(idOrName: string): Promise<void> {
    const c = this.get(idOrName);
    if (!c.state.Running) throw new ConflictError(`Container ${c.rec.Id} is not running`);
    if (c.state.Paused) throw new ConflictError(`Container ${c.rec.Id} is already paused`);
    await this.runc.pause(c.rec.Id);
    c.state = { ...c.state, Paused: true, Status: 'paused' };
    await this.save(c);
    this.events.emit('container', 'pause', c.rec.Id, { name: c.rec.Name.slice(1) });
  }

  async unpause(idOrName: string): Promise<void> {
    const c = this.get(idOrName);
    if (!c.state.Paused) throw new ConflictError(`Container ${c.rec.Id} is not paused`);
    await this.runc.resume(c.rec.Id);
    c.state = { ...c.state, Paused: false, Status: 'running' };
    await this.save(c);
    this.events.emit('container', 'unpause', c.rec.Id, { name: c.rec.Name.slice(1) });
  }

  // ---------------------------------------------------------------- remove

  async remove(idOrName: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const c = this.get(idOrName);
    let removed = false;
    if (c.state.Running && !opts.force) {
      if (c.state.Paused) throw new ConflictError(`cannot remove container "${c.rec.Name}": container is paused - unpause the container before stopping or removing`);
      throw new ConflictError(`cannot remove container "${c.rec.Name}": container is running: stop the container before removing or force remove`);
    }
    if (c.state.Running) {
      const exited = this.wait(c.rec.Id, 'not-running');
      markStopped(c, true);
      await this.runc.kill(c.rec.Id, 9, true).catch(() => undefined);
      await Promise.race([exited, sleep(10_000)]);
    }
    await this.lock.run(c.rec.Id, async () => {
      if (!this.containers.has(c.rec.Id)) return;
      const mark = timer(`remove ${c.rec.Id.slice(0, 12)}`);
      await this.discardPrepared(c);
      const t = this.restartTimers.get(c.rec.Id);
      if (t) clearTimeout(t);
      c.state = { ...c.state, Status: 'removing', Restarting: false };
      // Exit handling already ran `runc delete`; only leftovers need another one.
      if (existsSync(join(this.dirs.runcRoot, c.rec.Id))) await this.runc.delete(c.rec.Id, true).catch(() => undefined);
      await Promise.all([
        this.networks.detach(c.rec.Id).catch(() => undefined),
        this.unmountRootfs(c),
        this.unmountShm(c),
        fsp.rm(join(this.dirs.exits, c.rec.Id), { force: true }),
        fsp.rm(join(this.dirs.sockets, c.rec.Id.slice(0, 12)), { force: true, recursive: true }),
      ]);
      this.containers.delete(c.rec.Id);
      this.names.delete(c.rec.Name);
      for (const e of this.execs.values()) if (e.ContainerID === c.rec.Id) this.execs.delete(e.ID);
      // One rename makes the removal final; the tree (a whole upper dir) goes in the background.
      const trash = join(this.dirs.containers, `${TRASH_PREFIX}${c.rec.Id}`);
      await fsp.rename(c.dir, trash).then(() => void removeTree(trash), () => removeTree(c.dir));
      removed = true;
      mark('done');
    });
    if (!removed) return;
    if (opts.volumes) {
      // Anonymous volumes go with their container (`rm -v`, `run --rm`); named ones stay.
      for (const m of c.rec.MountPoints ?? []) {
        if (m.Type !== 'volume' || !m.Name || !this.volumes.find(m.Name)?.Anonymous) continue;
        await this.volumes.remove(m.Name, (n) => this.usersOfVolume(n)).catch(() => undefined);
      }
    }
    this.events.emit('container', 'destroy', c.rec.Id, { name: c.rec.Name.slice(1), image: c.rec.Config.Image });
    this.notify(c, 'removed');
    this.notify(c, 'not-running');
    this.notify(c, 'next-exit');
  }

  async rename(idOrName: string, newName: string): Promise<void> {
    const c = this.get(idOrName);
    if (!NAME_RE.test(newName)) throw new InvalidArgumentError(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const full = newName.startsWith('/') ? newName : `/${newName}`;
    // The name is in a runtime made at create (conmon's, the network's DNS entry).
    await this.lock.run(c.rec.Id, () => this.discardPrepared(c));
    await this.lock.run('names', async () => {
      if (this.names.has(full)) throw new ConflictError(`Conflict. The container name "${full}" is already in use by container "${this.names.get(full)}". You have to remove (or rename) that container to be able to reuse that name.`);
      this.names.delete(c.rec.Name);
      c.rec.Name = full;
      this.names.set(full, c.rec.Id);
      await this.saveRecord(c);
    });
    this.events.emit('container', 'rename', c.rec.Id, { name: newName });
  }

  /** Removes stopped containers (those `which` accepts, when given). */
  async prune(which?: (c: Container) => boolean): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const c of this.list()) {
      if (c.state.Running || c.state.Restarting || (which && !which(c))) continue;
      const size = await this.sizeRw(c);
      if (!(await this.remove(c.rec.Id).then(() => true, () => false))) continue;
      deleted.push(c.rec.Id);
      space += size;
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: space };
  }

  /** Bytes a container wrote: its overlay upper dir (`ps -s`, `system df`). */
  sizeRw(c: Container): Promise<number> {
    return treeSize(join(c.dir, 'upper'));
  }

  // ---------------------------------------------------------------- io

  /**
   * Registers a reader of a container's output; --rm removal waits (briefly)
   * until every reader has drained the log, so `run --rm` loses no output.
   */
  readerDone(c: Container): () => void {
    let release!: () => void;
    const p = new Promise<void>((r) => (release = r));
    const set = this.readers.get(c.rec.Id) ?? new Set<Promise<void>>();
    set.add(p);
    this.readers.set(c.rec.Id, set);
    return () => {
      set.delete(p);
      release();
    };
  }

  /** Output for attach: from now (or the whole log with `logs`) until the container's next exit. */
  attachOutput(c: Container, o: { logs: boolean; stream: boolean; signal: AbortSignal }): AsyncGenerator<LogRecord> {
    if (!o.stream) return readLogs(c.rec.LogPath, o.logs ? {} : { until: 0n });
    // A container that never ran has no old output: reading from the start loses nothing even
    // if its start overtakes this attach (the CLI sends both without waiting, as a run does).
    const fresh = c.state.StartedAt.startsWith('0001') && !c.state.Running;
    return readLogs(c.rec.LogPath, { follow: true, fromEnd: !o.logs && !fresh, signal: o.signal, stopWhen: this.wait(c.rec.Id, 'next-exit').then(() => undefined) });
  }

  logs(idOrName: string, opts: ReadLogsOptions): AsyncGenerator<LogRecord> {
    const c = this.get(idOrName);
    const stopWhen = opts.follow ? this.exitPromise(c) : undefined;
    return readLogs(c.rec.LogPath, { ...opts, stopWhen });
  }

  /** Resolves when the container is (or becomes) not running. */
  exitPromise(c: Container): Promise<void> {
    if (!c.state.Running) return Promise.resolve();
    return this.wait(c.rec.Id, 'next-exit').then(() => undefined);
  }

  /**
   * A writable stream into the container's stdin, through conmon's attach
   * socket. Ending it closes the container's stdin when StdinOnce is set.
   */
  attachStdin(idOrName: string): Socket {
    const c = this.get(idOrName);
    if (!c.state.Running) throw new ConflictError(`container ${c.rec.Id} is not running`);
    return openAttachSocket(join(this.dirs.sockets, c.rec.Id.slice(0, 12), 'attach'));
  }

  async resize(idOrName: string, height: number, width: number): Promise<void> {
    const c = this.get(idOrName);
    if (!c.state.Running) throw new ConflictError(`container ${c.rec.Id} is not running`);
    await writeCtl(join(c.dir, 'ctl'), height, width);
  }

  async top(idOrName: string, psArgs = '-ef'): Promise<{ Titles: string[]; Processes: string[][] }> {
    const c = this.get(idOrName);
    if (!c.state.Running) throw new ConflictError(`Container ${c.rec.Id} is not running`);
    const pids = new Set(await this.runc.pids(c.rec.Id));
    const { execFile } = await import('../sys/exec');
    const r = await execFile('/bin/ps', psArgs.split(/\s+/).filter(Boolean));
    if (r.code !== 0) throw new InvalidArgumentError(`ps: ${r.stderr.trim()}`);
    const lines = r.stdout.trimEnd().split('\n');
    const titles = lines[0].trim().split(/\s+/);
    const pidCol = titles.indexOf('PID');
    if (pidCol < 0) throw new InvalidArgumentError(`Couldn't find PID field in ps output`);
    const procs: string[][] = [];
    for (const line of lines.slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (!pids.has(Number(fields[pidCol]))) continue;
      const row = fields.slice(0, titles.length - 1);
      row.push(fields.slice(titles.length - 1).join(' '));
      procs.push(row);
    }
    return { Titles: titles, Processes: procs };
  }

  /**
   * Rotates logs past their size bound: rename ctr.log → ctr.log.1 … then ask
   * conmon to reopen (ctl message 2), so no line is lost. While no berthd
   * runs the current file grows until the next berthd rotates it.
   */
  private async rotateRunningLogs(): Promise<void> {
    for (const c of this.containers.values()) if (c.state.Running) await this.rotateIfFull(c);
  }

  private async rotateIfFull(c: Container): Promise<void> {
    const st = await fsp.stat(c.rec.LogPath).catch(() => undefined);
    if (!st || st.size < logMaxSize(c.rec.HostConfig)) return;
    await this.lock.run(`log:${c.rec.Id}`, async () => {
      const again = await fsp.stat(c.rec.LogPath).catch(() => undefined);
      if (!again || again.ino !== st.ino) return;
      await rotateLogFiles(c.rec.LogPath, logMaxFiles(c.rec.HostConfig));
      await writeCtlMessage(join(c.dir, 'ctl'), `2 0 0\n`);
    });
  }

  /** Rotates as soon as a write crosses the bound (inotify on the container dir), not only on the tick. */
  private watchLog(c: Container): void {
    this.logWatchers.get(c.rec.Id)?.close();
    let pending = false;
    try {
      const w = watch(c.dir, { persistent: false }, (_ev, name) => {
        if (pending || String(name) !== 'ctr.log') return;
        pending = true;
        setTimeout(() => {
          pending = false;
          void this.rotateIfFull(c);
        }, 10);
      });
      w.on('error', () => undefined);
      this.logWatchers.set(c.rec.Id, w);
    } catch {
      // the tick still rotates
    }
  }

  private unwatchLog(c: Container): void {
    this.logWatchers.get(c.rec.Id)?.close();
    this.logWatchers.delete(c.rec.Id);
  }

  private async rotateLogs(c: Container): Promise<void> {
    const st = await fsp.stat(c.rec.LogPath).catch(() => undefined);
    if (!st || st.size < logMaxSize(c.rec.HostConfig)) return;
    await rotateLogFiles(c.rec.LogPath, logMaxFiles(c.rec.HostConfig));
  }

  // ---------------------------------------------------------------- stats

  /** One resource-usage sample (zeros when not running); `prev` gives the CPU deltas' base. */
  async stats(idOrName: string, prev?: ContainerStats): Promise<ContainerStats> {
    const c = this.get(idOrName);
    if (!c.state.Running) return emptyStats(c.rec.Id, c.rec.Name);
    return sampleStats({ id: c.rec.Id, name: c.rec.Name, pid: c.state.Pid, cgroup: `/berth/${c.rec.Id}`, cgroupV2: probeHost().cgroupV2 }, prev);
  }

  // ---------------------------------------------------------------- health

  /** Starts probing a running container that has a healthcheck (on start, and on daemon restart). */
  private startHealth(c: Container, state: HealthState): void {
    this.stopHealth(c.rec.Id);
    const cfg = c.rec.Config;
    const argv = probeCommand(cfg.Healthcheck, cfg.Shell?.length ? cfg.Shell : undefined);
    if (!argv || !cfg.Healthcheck) {
      delete c.state.Health;
      return;
    }
    c.state.Health = state;
    const m = new HealthMonitor(cfg.Healthcheck, argv, (cmd, ms) => this.runProbe(c.rec.Id, cmd, ms), state, (h, changed) => {
      if (!c.state.Running) return;
      c.state = { ...c.state, Health: h };
      void this.save(c).catch(() => undefined);
      if (changed) this.events.emit('container', `health_status: ${h.Status}`, c.rec.Id, { name: c.rec.Name.slice(1), image: c.rec.Config.Image });
    });
    this.healthMonitors.set(c.rec.Id, m);
    m.start();
  }

  private stopHealth(id: string): void {
    this.healthMonitors.get(id)?.stop();
    this.healthMonitors.delete(id);
  }

  /** One probe: an exec session whose output is kept, killed at the timeout (exit code -1, as Docker). */
  private async runProbe(id: string, argv: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    const execId = this.createExec(id, { Cmd: argv, AttachStdout: true, AttachStderr: true });
    const e = this.getExec(execId);
    try {
      await this.startExec(execId);
      const done = this.execDone(execId).then(() => true);
      const inTime = await Promise.race([done, sleep(timeoutMs).then(() => false)]);
      if (!inTime) {
        if (e.Pid) {
          try {
            process.kill(e.Pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        return { exitCode: -1, output: `Health check exceeded timeout (${goDuration(timeoutMs)})` };
      }
      const chunks: Buffer[] = [];
      for await (const r of readLogs(join(e.dir, 'exec.log'))) chunks.push(r.data);
      return { exitCode: e.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
    } catch (err) {
      return { exitCode: -1, output: messageOf(err) };
    } finally {
      // Probes run every few seconds for the container's life: keep no record of them.
      void this.execDone(execId).then(() => {
        this.execs.delete(execId);
        return fsp.rm(e.dir, { recursive: true, force: true });
      });
    }
  }

  // ---------------------------------------------------------------- exec

  createExec(idOrName: string, config: ExecConfig): string {
    const c = this.get(idOrName);
    if (!c.state.Running) throw new ConflictError(`container ${c.rec.Id} is not running`);
    if (c.state.Paused) throw new ConflictError(`container ${c.rec.Id} is paused, unpause the container before exec`);
    if (!config.Cmd?.length) throw new InvalidArgumentError('No exec command specified');
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, { ID: id, ContainerID: c.rec.Id, Config: config, Running: false, ExitCode: null, Pid: 0, dir: join(c.dir, 'exec', id.slice(0, 12)) });
    return id;
  }

  getExec(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw new NotFoundError(`No such exec instance: ${id}`);
    return e;
  }

  /** Starts an exec session; its output is read with execLogs, its end awaited with execDone. */
  async startExec(id: string): Promise<ExecRecord> {
    const e = this.getExec(id);
    if (e.Running || e.ExitCode !== null) throw new ConflictError(`exec ${id} has already run`);
    const c = this.get(e.ContainerID);
    if (!c.state.Running) throw new ConflictError(`container ${c.rec.Id} is not running`);
    const spec = JSON.parse(await fsp.readFile(join(c.dir, 'config.json'), 'utf8')) as { process: Record<string, unknown> & { env: string[]; user: unknown } };
    const proc = { ...spec.process };
    proc.args = e.Config.Cmd;
    proc.terminal = !!e.Config.Tty;
    proc.cwd = e.Config.WorkingDir || c.rec.Config.WorkingDir || '/';
    proc.env = mergeEnv(spec.process.env, [...(e.Config.Tty ? ['TERM=xterm'] : []), ...(e.Config.Env ?? [])]);
    if (e.Config.User) {
      const u = await resolveUser(join(c.dir, 'rootfs'), e.Config.User);
      proc.user = { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
    }
    await ensureDir(join(e.dir, 'exits'));
    await fsp.writeFile(join(e.dir, 'process.json'), JSON.stringify(proc));
    e.Running = true;
    try {
      e.Pid = await startConmon({
        cid: c.rec.Id,
        uuid: id.slice(0, 12),
        name: c.rec.Name.slice(1),
        bundle: e.dir,
        runtime: this.runc.bin,
        runtimeRoot: this.dirs.runcRoot,
        logPath: join(e.dir, 'exec.log'),
        logSizeMax: LOG_MAX_SIZE,
        exitDir: join(e.dir, 'exits'),
        socketDir: this.dirs.sockets,
        pidFile: join(e.dir, 'pidfile'),
        conmonPidFile: join(e.dir, 'conmon.pid'),
        terminal: !!e.Config.Tty,
        stdin: !!e.Config.AttachStdin,
        leaveStdinOpen: false,
        execProcessSpec: join(e.dir, 'process.json'),
        // The exec's output goes to its client and the log is dropped later: no fsync at exit.
        syncLog: false,
      });
    } catch (err) {
      e.Running = false;
      const msg = messageOf(err);
      e.ExitCode = err instanceof RuntimeStartError ? startFailureCode(msg) : 126;
      this.finishExec(e);
      throw new ContainerStartError(`OCI runtime exec failed: ${msg}`, e.ExitCode);
    }
    void this.watchExecExit(e, c.rec.Id);
    return e;
  }

  private async watchExecExit(e: ExecRecord, cid: string): Promise<void> {
    const file = join(e.dir, 'exits', cid);
    for (;;) {
      const text = await fsp.readFile(file, 'utf8').catch(() => '');
      if (text.trim() !== '') {
        e.ExitCode = Number(text.trim());
        break;
      }
      const c = this.containers.get(cid);
      if (!c || !c.state.Running) {
        e.ExitCode = e.ExitCode ?? 137;
        break;
      }
      await sleep(25);
    }
    e.Running = false;
    this.finishExec(e);
  }

  private finishExec(e: ExecRecord): void {
    for (const fn of this.execWaiters.get(e.ID) ?? []) fn();
    this.execWaiters.delete(e.ID);
    this.events.emit('container', `exec_die`, e.ContainerID, { execID: e.ID, exitCode: String(e.ExitCode) });
    // A container exec'd into every few seconds must not pile up records and log dirs forever:
    // an ended exec stays inspectable for a while (its exit code), then goes.
    setTimeout(() => this.forgetExec(e), execRetentionMs()).unref();
  }

  private forgetExec(e: ExecRecord): void {
    if (this.execs.get(e.ID) !== e || e.Running) return;
    this.execs.delete(e.ID);
    void fsp.rm(e.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  execDone(id: string): Promise<void> {
    const e = this.getExec(id);
    if (!e.Running && e.ExitCode !== null) return Promise.resolve();
    return new Promise((r) => this.execWaiters.set(id, [...(this.execWaiters.get(id) ?? []), r]));
  }

  execLogs(id: string): AsyncGenerator<LogRecord> {
    const e = this.getExec(id);
    return readLogs(join(e.dir, 'exec.log'), { follow: true, stopWhen: this.execDone(id) });
  }

  execStdin(id: string): Socket {
    this.getExec(id);
    return openAttachSocket(join(this.dirs.sockets, id.slice(0, 12), 'attach'));
  }

  async resizeExec(id: string, height: number, width: number): Promise<void> {
    const e = this.getExec(id);
    await writeCtl(join(e.dir, 'ctl'), height, width);
  }
}

// ------------------------------------------------------------------ helpers


let volatileOk: boolean | undefined;
/** overlayfs `volatile` came in Linux 5.10. */
function overlayVolatile(): boolean {
  if (volatileOk === undefined) {
    const [major, minor] = release().split('.').map((n) => parseInt(n, 10));
    volatileOk = major > 5 || (major === 5 && minor >= 10);
  }
  return volatileOk;
}

/** Phase timer for BERTH_DEBUG_TIMING=1: where a start spends its time. */
function timer(label: string): (phase: string) => void {
  if (!process.env.BERTH_DEBUG_TIMING) return () => undefined;
  let last = process.hrtime.bigint();
  return (phase) => {
    const now = process.hrtime.bigint();
    process.stderr.write(`${(Date.now() % 100_000) / 1000} ${label} ${phase}: ${(Number(now - last) / 1e6).toFixed(1)} ms\n`);
    last = now;
  };
}

/** Go's time.Duration text for a whole number of ms (200ms, 30s, 1.5s, 1m30s), as Docker's messages print it. */
function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = `${Number(((ms % 60_000) / 1000).toFixed(3))}s`;
  return h ? `${h}h${m}m${s}` : m ? `${m}m${s}` : s;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/**
 * Docker does not restart a container its user stopped; for `unless-stopped`
 * that holds across daemon restarts, so the mark lives in the record.
 */
function markStopped(c: Container, byUser: boolean): void {
  if (byUser) c.rec.StoppedByUser = true;
}
function stoppedByUser(c: Container): boolean {
  return c.rec.StoppedByUser === true;
}

let initPath: string | null | undefined;
export function initBinary(): string | undefined {
  if (initPath === undefined) initPath = findBinary(['/usr/bin/tini-static', '/usr/bin/docker-init', '/usr/libexec/podman/catatonit']) ?? null;
  return initPath ?? undefined;
}
















