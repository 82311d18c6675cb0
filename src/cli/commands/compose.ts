/** `berth compose`: docker compose's up/down/ps/logs/config over the Engine API (src/compose). */
import { connect, readBody, type Client } from '../client';
import { ExitError, humanSize, out, since, table } from '../util';
import { BERTH_VERSION } from '../../config';
import { ComposeError, loadProject, words } from '../../compose/load';
import type { ComposeProject, ServiceSpec } from '../../compose/model';
import { chmodSync, existsSync, mkdirSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { watchedServices, watchProject } from '../../compose/watch';
import { createBody, down as composeDown, ensureResources, imageExists, injectFiles, LABEL_ONEOFF, LABEL_SERVICE, replicaNumber, projectContainers, shortName, up as composeUp, waitDependencies, type ContainerSummary, type Report } from '../../compose/project';

export interface ProjectFlags {
  file?: string[];
  projectName?: string;
  projectDirectory?: string;
  profile?: string[];
}

function load(g: ProjectFlags, services: string[] = []): ComposeProject {
  let p: ComposeProject;
  try {
    p = loadProject({ files: g.file, projectName: g.projectName, projectDirectory: g.projectDirectory, profiles: g.profile, services });
  } catch (e) {
    if (e instanceof ComposeError) throw new ExitError(e.message, 1);
    throw e;
  }
  for (const w of p.warnings) process.stderr.write(`WARN[0000] ${w}\n`);
  return p;
}

const report: Report = (kind, name, status) => process.stderr.write(` ${kind} ${name}  ${status}\n`);

async function run<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ComposeError) throw new ExitError(e.message, 1);
    throw e;
  }
}

export interface UpFlags {
  detach?: boolean;
  wait?: boolean;
  waitTimeout?: string;
  removeOrphans?: boolean;
  build?: boolean;
  abortOnContainerExit?: boolean;
  exitCodeFrom?: string;
  /** `--scale SERVICE=NUM`, over the file's scale/deploy.replicas. */
  scale?: string[];
  forceRecreate?: boolean;
  /** `compose create`: no start, no attach. */
  noStart?: boolean;
  /** Commander's --no-recreate: false when given. */
  recreate?: boolean;
  /** Commander's --no-deps: false when given. */
  deps?: boolean;
  /** --watch: develop.watch while attached. */
  watch?: boolean;
}

export async function up(services: string[], g: ProjectFlags, f: UpFlags): Promise<number> {
  const p = load(g, services);
  const abort = !!f.abortOnContainerExit || f.exitCodeFrom !== undefined;
  if (f.forceRecreate && f.recreate === false) throw new ExitError('--force-recreate and --no-recreate are incompatible', 1);
  if (abort && (f.detach || f.wait)) throw new ExitError('--abort-on-container-exit and --exit-code-from are incompatible with --detach and --wait', 1);
  if (f.exitCodeFrom !== undefined && !p.services[f.exitCodeFrom]) throw new ExitError(`no such service: ${f.exitCodeFrom}`, 1);
  // A rebuild stops a container on purpose: that must not end the up.
  if (f.watch && (f.detach || f.wait || f.noStart || abort)) throw new ExitError('--watch cannot be combined with --detach, --wait or --abort-on-container-exit', 1);
  if (f.watch) await run(async () => watchedServices(p, services));
  for (const spec of f.scale ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(spec);
    if (!m) throw new ExitError(`invalid --scale "${spec}": expected SERVICE=NUM`, 1);
    const s = p.services[m[1]!];
    if (!s) throw new ExitError(`no such service: ${m[1]}`, 1);
    if (Number(m[2]) > 1 && s.containerName) throw new ExitError(`service "${s.name}" has a fixed container name and cannot be scaled`, 1);
    s.scale = Number(m[2]);
  }
  const client = await connect();
  const ids = await run(() =>
    composeUp(client, p, {
      services,
      wait: !!f.wait,
      waitTimeoutS: f.waitTimeout ? Number(f.waitTimeout) : undefined,
      removeOrphans: !!f.removeOrphans,
      report,
      warn: (m) => process.stderr.write(`WARN[0000] ${m}\n`),
      build: buildService,
      alwaysBuild: !!f.build,
      recreate: f.forceRecreate ? 'always' : f.recreate === false ? 'never' : 'changed',
      noDeps: f.deps === false,
      noStart: !!f.noStart,
    }),
  );
  if (f.detach || f.wait || f.noStart) return 0;
  // Attached: every container's output, prefixed, until all have stopped; Ctrl-C stops them,
  // and so does the first container to stop with --abort-on-container-exit (as docker compose).
  let interrupted = false;
  let stopping = false;
  const watching = new AbortController();
  const stopAll = () => {
    stopping = true;
    watching.abort();
    for (const id of ids) void client.call('POST', `/containers/${id}/stop`).catch(() => undefined);
  };
  process.once('SIGINT', () => {
    interrupted = true;
    process.stderr.write('Gracefully stopping... (press Ctrl+C again to force)\n');
    process.once('SIGINT', () => process.exit(130));
    stopAll();
  });
  const started = (await projectContainers(client, p.name)).filter((c) => ids.includes(c.Id));
  const list = attached(started, services);
  const width = Math.max(...list.map((c) => shortName(c).length));
  let first: ContainerSummary | undefined;
  const followers = list.map(async (c) => {
    await follow(client, c, width, true);
    if (!abort || stopping) return;
    first = c;
    process.stderr.write(`Aborting on container exit...\n`);
    stopAll();
  });
  if (f.watch) {
    // Watching lasts until Ctrl-C, not until the containers stop: a rebuild replaces them, and
    // the replacements are followed too.
    await run(() =>
      watchProject(client, p, {
        services,
        log: (l) => process.stderr.write(`${l}\n`),
        warn: (m) => process.stderr.write(`WARN[0000] ${m}\n`),
        report,
        build: buildService,
        signal: watching.signal,
        recreated: (_service, fresh) => {
          ids.push(...fresh);
          void projectContainers(client, p.name).then((all) => {
            for (const c of all.filter((x) => fresh.includes(x.Id))) followers.push(follow(client, c, width, true));
          });
        },
      }),
    );
  }
  await Promise.all(followers);
  if (interrupted) return 130;
  const from = f.exitCodeFrom !== undefined ? started.find((c) => c.Labels[LABEL_SERVICE] === f.exitCodeFrom) : first;
  if (!abort || !from) return 0;
  const st = await client.json<{ State: { ExitCode: number } }>('GET', `/containers/${from.Id}/json`);
  return st.State.ExitCode;
}

/**
 * `compose watch`: up (unless --no-up, detached), then develop.watch until Ctrl-C or SIGTERM,
 * which ends the watching and leaves the containers running, as docker compose does.
 */
export async function watch(services: string[], g: ProjectFlags, f: { up?: boolean }): Promise<number> {
  const p = load(g, services);
  await run(async () => watchedServices(p, services));
  const client = await connect();
  const warn = (m: string) => process.stderr.write(`WARN[0000] ${m}\n`);
  if (f.up !== false) await run(() => composeUp(client, p, { services, report, warn, build: buildService }));
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await run(() => watchProject(client, p, { services, log: (l) => process.stderr.write(`${l}\n`), warn, report, build: buildService, signal: stop.signal }));
  return 0;
}

/**
 * The containers `up` attaches to and watches for --abort-on-container-exit: as docker compose,
 * only the services named on the command line when there are any (a dependency that completes,
 * a migration say, then stops nothing), else all.
 */
export function attached(started: ContainerSummary[], services: string[]): ContainerSummary[] {
  return services.length ? started.filter((c) => services.includes(c.Labels[LABEL_SERVICE] ?? '')) : started;
}

async function buildService(s: ServiceSpec): Promise<void> {
  const { runBuild } = await import('./build');
  process.stderr.write(` Service ${s.name}  Building\n`);
  const r = await runBuild(s.build!.context, {
    tag: [s.image],
    file: s.build!.dockerfile ? resolve(s.build!.context, s.build!.dockerfile) : undefined,
    buildArg: Object.entries(s.build!.args).map(([k, v]) => `${k}=${v}`),
    target: s.build!.target,
    progress: 'plain',
  });
  if (r.code !== 0) throw new ExitError(`failed to build service "${s.name}"`, r.code);
  process.stderr.write(` Service ${s.name}  Built\n`);
}

/** The service container numbered `index` (a replica, not a one-off), or the lowest-numbered one. */
function replica(list: ContainerSummary[], index?: string): ContainerSummary | undefined {
  const own = list.filter((c) => c.Labels[LABEL_ONEOFF] !== 'True').sort((a, b) => replicaNumber(a) - replicaNumber(b));
  return index === undefined ? own[0] : own.find((c) => String(replicaNumber(c)) === index);
}

/** The running (or any, with `all`) container of each named service; every service when none is named. */
async function serviceContainers(client: Client, p: ComposeProject, services: string[], all = true): Promise<ContainerSummary[]> {
  for (const s of services) if (!p.services[s]) throw new ExitError(`no such service: ${s}`, 1);
  const list = await projectContainers(client, p.name, all);
  return list.filter((c) => (services.length ? services : Object.keys(p.services)).includes(c.Labels[LABEL_SERVICE] ?? ''));
}

export async function exec(service: string, command: string[], g: ProjectFlags, f: { detach?: boolean; tty?: boolean; env?: string[]; workdir?: string; user?: string; privileged?: boolean; index?: string }): Promise<number> {
  const p = load(g, [service]);
  const client = await connect();
  const running = (await serviceContainers(client, p, [service], false)).filter((x) => x.State === 'running');
  // --index picks a replica; without it, the first running one.
  const c = replica(running, f.index);
  if (!c) throw new ExitError(f.index === undefined ? `service "${service}" is not running` : `service "${service}" has no running container number ${f.index}`, 1);
  const { exec: containerExec } = await import('./container');
  // docker compose exec: a TTY and stdin when we have a terminal, unless -T.
  const tty = f.tty !== false && !!process.stdin.isTTY;
  return containerExec(c.Id, command, { interactive: !f.detach, tty, env: f.env, workdir: f.workdir, user: f.user, detach: f.detach, privileged: f.privileged });
}

/** start, stop, restart: one API call per service container, with docker compose's progress lines. */
export type Verb = 'start' | 'stop' | 'restart' | 'kill' | 'pause' | 'unpause' | 'rm';

/** One API call per service container, with docker compose's progress lines. */
export async function lifecycle(verb: Verb, services: string[], g: ProjectFlags, f: { timeout?: string; signal?: string; stop?: boolean; volumes?: boolean }): Promise<void> {
  const p = load(g, services);
  const client = await connect();
  const done = { start: 'Started', stop: 'Stopped', restart: 'Started', kill: 'Killed', pause: 'Paused', unpause: 'Unpaused', rm: 'Removed' }[verb];
  let list = await serviceContainers(client, p, services);
  // rm: stopped containers only, unless -s stops them first (as docker compose rm).
  if (verb === 'rm') {
    if (f.stop) for (const c of list.filter((x) => x.State === 'running')) await client.call('POST', `/containers/${c.Id}/stop`).catch(() => undefined);
    else list = list.filter((x) => x.State !== 'running');
  }
  for (const c of list) {
    if (verb === 'rm') await client.call('DELETE', `/containers/${c.Id}`, { query: { force: true, v: f.volumes ? true : undefined } });
    else if (verb === 'kill') await client.call('POST', `/containers/${c.Id}/kill`, { query: { signal: f.signal } });
    else await client.call('POST', `/containers/${c.Id}/${verb}`, { query: { t: verb === 'stop' || verb === 'restart' ? f.timeout : undefined } });
    report('Container', shortName(c), done);
  }
}

/**
 * `compose docker-plugin`: installs a docker CLI plugin so that `docker compose …` runs
 * `berth compose …` (the plugin protocol: answer `docker-cli-plugin-metadata`, then take the
 * plugin's name as the first argument). It points at this berth; an existing plugin stays unless --force.
 */
export async function dockerPlugin(f: { dir?: string; force?: boolean }): Promise<void> {
  const dir = f.dir ?? join(process.env.DOCKER_CONFIG || join(homedir(), '.docker'), 'cli-plugins');
  const target = join(dir, 'docker-compose');
  if (existsSync(target) && !f.force) throw new ExitError(`${target} exists (another compose plugin?): use --force to replace it`, 1);
  const berth = realpathSync(join(__dirname, '..', 'bin', 'berth'));
  const { BERTH_VERSION } = await import('../../config');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    '#!/bin/sh',
    '# docker CLI plugin installed by `berth compose docker-plugin`: `docker compose …` runs `berth compose …`.',
    'if [ "$1" = docker-cli-plugin-metadata ]; then',
    `  echo '{"SchemaVersion":"0.1.0","Vendor":"Berth","Version":"${BERTH_VERSION}","ShortDescription":"Docker Compose, run by Berth"}'`,
    '  exit 0',
    'fi',
    'shift',
    '# The daemon the docker CLI was pointed at, unless Berth is told otherwise.',
    'if [ -z "$BERTH_HOST" ] && [ -n "$DOCKER_HOST" ]; then BERTH_HOST=$DOCKER_HOST; export BERTH_HOST; fi',
    `exec ${q(berth)} compose "$@"`,
    '',
  ].join('\n');
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${target}.tmp`, script);
  chmodSync(`${target}.tmp`, 0o755);
  renameSync(`${target}.tmp`, target);
  process.stderr.write(`installed ${target}: \`docker compose\` now runs ${berth} compose\n`);
}

/** `compose ls`: projects with containers on this engine, from their labels. */
export async function ls(f: { all?: boolean; quiet?: boolean }): Promise<void> {
  const client = await connect();
  const list = await client.json<ContainerSummary[]>('GET', '/containers/json', { query: { all: true, filters: JSON.stringify({ label: ['com.docker.compose.project'] }) } });
  const projects = new Map<string, { states: Map<string, number>; dirs: Set<string> }>();
  for (const c of list) {
    const name = c.Labels['com.docker.compose.project'];
    const pr = projects.get(name) ?? { states: new Map<string, number>(), dirs: new Set<string>() };
    pr.states.set(c.State, (pr.states.get(c.State) ?? 0) + 1);
    const files = c.Labels['com.docker.compose.project.config_files'] || c.Labels['com.docker.compose.project.working_dir'];
    if (files) pr.dirs.add(files);
    projects.set(name, pr);
  }
  const rows = [...projects].filter(([, pr]) => f.all || pr.states.has('running')).sort(([a], [b]) => a.localeCompare(b));
  if (f.quiet) {
    out(rows.map(([n]) => `${n}\n`).join(''));
    return;
  }
  const table = rows.map(([n, pr]) => [n, [...pr.states].map(([s, k]) => `${s}(${k})`).join(', '), [...pr.dirs].join(',')]);
  const head = ['NAME', 'STATUS', 'CONFIG FILES'];
  const w = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  out([head, ...table].map((r) => `${r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(w[i]))).join('   ')}\n`).join(''));
}

/** `compose port SERVICE PRIVATE_PORT`: the public address of a published port. */
export async function port(service: string, privatePort: string, g: ProjectFlags, f: { protocol?: string }): Promise<number> {
  const p = load(g, [service]);
  const client = await connect();
  const [c] = await serviceContainers(client, p, [service], false);
  const proto = f.protocol ?? 'tcp';
  const m = c?.Ports.find((x) => String(x.PrivatePort) === privatePort && x.Type === proto && x.PublicPort);
  if (!m) throw new ExitError(`no port ${privatePort}/${proto} for container ${c ? shortName(c) : service}`, 1);
  out(`${m.IP ?? '0.0.0.0'}:${m.PublicPort}\n`);
  return 0;
}

export async function build(services: string[], g: ProjectFlags): Promise<void> {
  const p = load(g, services);
  const names = services.length ? services : Object.keys(p.services);
  for (const n of names) if (!p.services[n]) throw new ExitError(`no such service: ${n}`, 1);
  for (const n of names) if (p.services[n].build) await buildService(p.services[n]);
}

export async function pull(services: string[], g: ProjectFlags, f: { quiet?: boolean }): Promise<void> {
  const p = load(g, services);
  const names = services.length ? services : Object.keys(p.services);
  for (const n of names) if (!p.services[n]) throw new ExitError(`no such service: ${n}`, 1);
  const { pull: pullImage } = await import('./registry');
  // Services built here have nothing to pull (docker compose skips them too).
  for (const n of names) if (!p.services[n]?.build) await pullImage(p.services[n].image, { quiet: f.quiet });
}

export interface RunOneOffFlags {
  detach?: boolean;
  rm?: boolean;
  name?: string;
  entrypoint?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  /** commander's -T/--no-TTY. */
  tty?: boolean;
  /** commander's --no-deps. */
  deps?: boolean;
  servicePorts?: boolean;
}

/** `compose run`: a one-off container of a service (its dependencies started first), attached unless -d. */
export async function runOneOff(service: string, command: string[], g: ProjectFlags, f: RunOneOffFlags): Promise<number> {
  const p = load(g, [service]);
  const s = p.services[service];
  if (!s) throw new ExitError(`no such service: ${service}`, 1);
  const client = await connect();
  const deps = Object.keys(s.dependsOn);
  await run(async () => {
    if (f.deps !== false && deps.length) await composeUp(client, p, { services: deps, report, warn: (m) => process.stderr.write(`WARN[0000] ${m}\n`), build: buildService });
    await ensureResources(client, p, [service], report);
    if (s.build && !(await imageExists(client, s.image))) await buildService(s);
    // docker compose run waits for the service's depends_on conditions (healthy, completed) too.
    if (f.deps !== false && deps.length) await waitDependencies(client, p, s, report, (m) => process.stderr.write(`WARN[0000] ${m}\n`));
  });
  const tty = f.tty !== false && !!process.stdin.isTTY;
  const body = await run(async () => oneOffBody(p, s, command, f, tty));
  const name = f.name ?? `${p.name}-${service}-run-${randomBytes(6).toString('hex')}`;
  // With values to write in first, the runtime is not made ahead (a write discards it anyway).
  const created = await client.json<{ Id: string }>('POST', '/containers/create', { query: { name }, body, headers: s.injected.length ? {} : { 'X-Berth-Start': 'now' } });
  await injectFiles(client, created.Id, s);
  const { runCreated } = await import('./container');
  return runCreated(client, created.Id, { detach: f.detach, rm: f.rm, interactive: !f.detach, tty });
}

/** The create body of a `compose run` container: the service's, with the command line's overrides. */
export function oneOffBody(p: ComposeProject, s: ServiceSpec, command: string[], f: RunOneOffFlags, tty: boolean, shell: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const body = createBody(p, s);
  if (command.length) body.Cmd = command;
  if (f.entrypoint !== undefined) {
    // As docker compose: the entrypoint is split as a shell would, and replaces the service's command too.
    body.Entrypoint = f.entrypoint === '' ? [''] : words(f.entrypoint, '--entrypoint');
    if (!command.length) body.Cmd = undefined;
  }
  if (f.workdir) body.WorkingDir = f.workdir;
  if (f.user) body.User = f.user;
  // -e overrides the service's environment; a bare NAME takes the shell's value, and is left out without one.
  const env = new Map(Object.entries(s.environment));
  for (const kv of f.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq >= 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
    else if (shell[kv] !== undefined) env.set(kv, shell[kv]!);
  }
  body.Env = [...env].map(([k, v]) => `${k}=${v}`);
  body.Tty = tty;
  body.OpenStdin = !f.detach;
  body.StdinOnce = !f.detach;
  (body.Labels as Record<string, string>)['com.docker.compose.oneoff'] = 'True';
  const hc = body.HostConfig as Record<string, unknown>;
  // As docker compose: the service's published ports only with --service-ports (they would clash with it).
  if (!f.servicePorts) hc.PortBindings = {};
  hc.AutoRemove = !!f.rm;
  // A one-off container never restarts, --rm or not (docker compose drops the service's restart policy).
  hc.RestartPolicy = { Name: 'no', MaximumRetryCount: 0 };
  return body;
}

export async function down(g: ProjectFlags, f: { volumes?: boolean; timeout?: string; removeOrphans?: boolean }): Promise<void> {
  const p = load(g);
  const client = await connect();
  await run(() => composeDown(client, p, { volumes: !!f.volumes, timeoutS: f.timeout !== undefined ? Number(f.timeout) : undefined, removeOrphans: !!f.removeOrphans, report, warn: (m) => process.stderr.write(`WARN[0000] ${m}\n`) }));
}

export async function ps(services: string[], g: ProjectFlags, f: { all?: boolean; quiet?: boolean; services?: boolean }): Promise<void> {
  const p = load(g);
  const client = await connect();
  let list = await projectContainers(client, p.name, !!f.all);
  if (services.length) list = list.filter((c) => services.includes(c.Labels[LABEL_SERVICE] ?? ''));
  if (f.services) {
    out([...new Set(list.map((c) => c.Labels[LABEL_SERVICE]))].map((s) => `${s}\n`).join(''));
    return;
  }
  if (f.quiet) {
    out(list.map((c) => `${c.Id}\n`).join(''));
    return;
  }
  const { portsText } = await import('./container');
  const rows = list.map((c) => [shortName(c), c.Image, JSON.stringify(c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command), c.Labels[LABEL_SERVICE] ?? '', since(c.Created), c.Status, portsText(c.Ports)]);
  const head = ['NAME', 'IMAGE', 'COMMAND', 'SERVICE', 'CREATED', 'STATUS', 'PORTS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  out([head, ...rows].map((r) => `${r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]))).join('   ')}\n`).join(''));
}

export async function logs(services: string[], g: ProjectFlags, f: { follow?: boolean; noLogPrefix?: boolean; tail?: string }): Promise<void> {
  const p = load(g);
  const client = await connect();
  let list = await projectContainers(client, p.name);
  if (services.length) list = list.filter((c) => services.includes(c.Labels[LABEL_SERVICE] ?? ''));
  const width = Math.max(0, ...list.map((c) => shortName(c).length));
  await Promise.all(list.map((c) => follow(client, c, width, !!f.follow, !f.noLogPrefix, f.tail)));
}

export async function config(g: ProjectFlags, f: { services?: boolean; quiet?: boolean }): Promise<void> {
  const p = load(g);
  if (f.quiet) return;
  if (f.services) {
    out(Object.keys(p.services).map((s) => `${s}\n`).join(''));
    return;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require('yaml') as typeof import('yaml');
  const { renderProject } = await import('../../compose/render');
  out(YAML.stringify(renderProject(p), { aliasDuplicateObjects: false }));
}

/** `compose kube`: the application as Kubernetes YAML on stdout; what does not translate on stderr. */
export async function kube(g: ProjectFlags): Promise<void> {
  const p = load(g);
  const { toKubernetes } = await import('../../compose/kube');
  const { objects, warnings } = toKubernetes(p);
  for (const w of warnings) process.stderr.write(`WARN[0000] ${w}\n`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require('yaml') as typeof import('yaml');
  // No anchors: the same probe twice is written out twice, as hand-written manifests are.
  out(objects.map((o) => YAML.stringify(o, { aliasDuplicateObjects: false })).join('---\n'));
}

/** One container's log, each line prefixed with its name (docker compose's "web-1  | …"). */
async function follow(client: Client, c: ContainerSummary, width: number, followLogs: boolean, prefix = true, tail?: string): Promise<void> {
  const info = await client.json<{ Config: { Tty: boolean } }>('GET', `/containers/${c.Id}/json`);
  const res = await client.raw('GET', `/containers/${c.Id}/logs`, { query: { stdout: 1, stderr: 1, follow: followLogs ? 1 : undefined, tail } });
  if ((res.statusCode ?? 500) >= 400) throw new ExitError(`Error response from daemon: ${(await readBody(res)).toString('utf8')}`, 1);
  const head = prefix ? `${shortName(c).padEnd(width)}  | ` : '';
  const partial: Record<number, string> = { 1: '', 2: '' };
  const emit = (stream: number, data: Buffer) => {
    const text = partial[stream] + data.toString('utf8');
    const lines = text.split('\n');
    partial[stream] = lines.pop() ?? '';
    const w = stream === 2 ? process.stderr : process.stdout;
    for (const l of lines) w.write(`${head}${l}\n`);
  };
  const { Demuxer } = await import('../../api/stdcopy');
  const demux = new Demuxer(emit);
  await new Promise<void>((resolve) => {
    res.on('data', (d: Buffer) => (info.Config.Tty ? emit(1, d) : demux.push(d)));
    res.on('end', resolve);
    res.on('error', () => resolve());
  });
  for (const s of [1, 2]) if (partial[s]) process.stdout.write(`${head}${partial[s]}\n`);
}



/** `compose images`: the image of each service container, as docker compose lists them. */
export async function images(services: string[], g: ProjectFlags, f: { quiet?: boolean }): Promise<void> {
  const p = load(g, services);
  const client = await connect();
  const list = await serviceContainers(client, p, services);
  const rows: string[][] = [];
  const ids = new Set<string>();
  for (const c of list) {
    const img = await client.json<{ Id: string; RepoTags: string[] | null; Size: number }>('GET', `/images/${encodeURIComponent(c.ImageID ?? c.Image)}/json`).catch(() => undefined);
    if (!img) continue;
    ids.add(img.Id);
    const tagged = img.RepoTags?.[0] ?? '<none>:<none>';
    const at = tagged.lastIndexOf(':');
    rows.push([shortName(c), tagged.slice(0, at), tagged.slice(at + 1), img.Id.replace(/^sha256:/, '').slice(0, 12), humanSize(img.Size)]);
  }
  if (f.quiet) return out([...ids].map((i) => `${i}\n`).join(''));
  out(table([['CONTAINER', 'REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE'], ...rows]));
}

/** `compose top`: the processes of each running service container, under its name. */
export async function top(services: string[], g: ProjectFlags): Promise<void> {
  const p = load(g, services);
  const client = await connect();
  const parts: string[] = [];
  for (const c of (await serviceContainers(client, p, services, false)).filter((x) => x.State === 'running')) {
    const r = await client.json<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${c.Id}/top`);
    parts.push(`${shortName(c)}\n${table([r.Titles, ...r.Processes])}`);
  }
  out(parts.join('\n'));
}

/** `compose push`: the images of services that are built here and named by `image:` (as docker compose). */
export async function push(services: string[], g: ProjectFlags, f: { quiet?: boolean; ignorePushFailures?: boolean }): Promise<void> {
  const p = load(g, services);
  const names = services.length ? services : Object.keys(p.services);
  for (const n of names) if (!p.services[n]) throw new ExitError(`no such service: ${n}`, 1);
  const { push: pushImage } = await import('./registry');
  for (const n of names) {
    const s = p.services[n]!;
    if (!s.build || s.image === `${p.name}-${s.name}`) continue;
    try {
      await pushImage(s.image, { quiet: f.quiet });
    } catch (e) {
      if (!f.ignorePushFailures) throw e;
      process.stderr.write(`WARN[0000] pushing ${s.image}: ${(e as Error).message}\n`);
    }
  }
}

/** `compose cp`: `SERVICE:SRC DEST` or `SRC SERVICE:DEST`, through the service's (first, or --index) container. */
export async function cp(src: string, dest: string, g: ProjectFlags, f: { index?: string }): Promise<void> {
  const { cp: containerCp, cpSide } = await import('./container');
  const from = cpSide(src);
  const to = cpSide(dest);
  if ((from && to) || (!from && !to)) throw new ExitError('copying between services is not supported; one of source or destination must be a local path', 1);
  const svc = (from ?? to)!.container;
  const p = load(g, [svc]);
  const client = await connect();
  const c = replica(await serviceContainers(client, p, [svc]), f.index ?? '1');
  if (!c) throw new ExitError(`service "${svc}" has no container number ${f.index ?? '1'}`, 1);
  await containerCp(from ? `${c.Id}:${from.path}` : src, to ? `${c.Id}:${to.path}` : dest);
}

/** `compose wait`: blocks until the services' containers stop, printing each exit code. */
export async function wait(services: string[], g: ProjectFlags, f: { downProject?: boolean }): Promise<number> {
  const p = load(g, services);
  const client = await connect();
  const list = await serviceContainers(client, p, services);
  let code = 0;
  await Promise.all(
    list.map(async (c) => {
      const r = await client.json<{ StatusCode: number }>('POST', `/containers/${c.Id}/wait`);
      out(`${r.StatusCode}\n`);
      code ||= r.StatusCode;
    }),
  );
  if (f.downProject) await composeDown(client, p, { report, warn: (m) => process.stderr.write(`WARN[0000] ${m}\n`) });
  return code;
}

/** `compose version`: as docker compose prints its own. */
export function version(f: { short?: boolean; format?: string }): void {
  if (f.format === 'json') return out(`${JSON.stringify({ version: `v${BERTH_VERSION}` })}\n`);
  out(f.short ? `${BERTH_VERSION}\n` : `Berth Compose version v${BERTH_VERSION}\n`);
}

/** `compose stats`: `berth stats` over the project's (running, or all with -a) service containers. */
export async function stats(services: string[], g: ProjectFlags, f: { all?: boolean; stream?: boolean; format?: string; trunc?: boolean }): Promise<number> {
  const p = load(g, services);
  const client = await connect();
  const list = (await serviceContainers(client, p, services, !!f.all)).filter((c) => f.all || c.State === 'running');
  if (!list.length) return 0;
  const { stats: containerStats } = await import('./stats');
  return containerStats(list.map(shortName), f);
}

/** `compose attach`: the service's (first, or --index) container's streams. */
export async function attach(service: string, g: ProjectFlags, f: { index?: string; noStdin?: boolean }): Promise<number> {
  const p = load(g, [service]);
  const client = await connect();
  const c = replica((await serviceContainers(client, p, [service], false)).filter((x) => x.State === 'running'), f.index ?? '1');
  if (!c) throw new ExitError(`service "${service}" has no running container number ${f.index ?? '1'}`, 1);
  const { attach: containerAttach } = await import('./container');
  return containerAttach(c.Id, { noStdin: f.noStdin });
}

/** `compose scale SERVICE=NUM...`: `up -d --no-deps --scale` for those services. */
export async function scale(specs: string[], g: ProjectFlags, f: { deps?: boolean }): Promise<number> {
  const names = specs.map((s) => s.split('=')[0]!);
  return up(names, g, { detach: true, scale: specs, deps: f.deps });
}
