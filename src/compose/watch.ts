/**
 * `compose watch` and `up --watch` (compose-spec develop.watch), as docker compose does
 * them: the rules' paths are watched recursively; changes are batched per service over a
 * quiet period, then the service's running containers get the changed files (a tar through
 * the archive API) and lose the deleted ones (`rm -rf` by exec), are restarted, run a
 * command, or the image is rebuilt and the containers recreated. `.git`, editor temp
 * files, the rule's `ignore` and the build context's .dockerignore never trigger anything.
 */
import { closeSync, constants, createReadStream, watch as fsWatch, existsSync, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, statSync, type FSWatcher, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { PatternMatcher } from '../build/context/patternmatcher';
import { readContextIgnore } from '../build/context/walk';
import { writeTar, type TarWriteItem } from '../image/tar';
import { ComposeError } from './interpolate';
import type { ComposeProject, ServiceSpec, WatchRule } from './model';
import { LABEL_ONEOFF, LABEL_SERVICE, projectContainers, up, type ContainerSummary, type EngineApi, type Report } from './project';

/** What docker compose never syncs: VCS metadata and the temp files editors write beside a file. */
export const DEFAULT_IGNORES = ['.git', '**/.git', '**/*~', '**/*.sw[px]', '**/4913', '**/.#*', '**/#*#', '**/*___jb_tmp___', '**/*___jb_old___', '**/.*.kate-swp', '**/.goutputstream-*', '**/.DS_Store'];

/** Quiet period before a batch is acted on: an editor's save or a `git checkout` arrives as one. */
export const DEBOUNCE_MS = 300;

export interface CompiledRule {
  rule: WatchRule;
  ignore: PatternMatcher;
  include?: PatternMatcher;
  /** The service's build context and its .dockerignore, for paths inside it. */
  context?: { dir: string; ignore: PatternMatcher };
}

const defaults = new PatternMatcher(DEFAULT_IGNORES);

/** '/'-separated path of `abs` below `base`, '' for base itself, undefined outside it. */
function below(base: string, abs: string): string | undefined {
  const rel = relative(base, abs);
  if (rel === '') return '';
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

function matcher(patterns: string[], where: string): PatternMatcher {
  try {
    return new PatternMatcher(patterns);
  } catch (e) {
    throw new ComposeError(`${where}: ${(e as Error).message}`);
  }
}

export function compileRules(s: ServiceSpec): CompiledRule[] {
  const context = s.build ? { dir: s.build.context, ignore: matcher(readContextIgnore(s.build.context, s.build.dockerfile), `${s.build.context}/.dockerignore`) } : undefined;
  return s.watch.map((rule, i) => ({
    rule,
    ignore: matcher(rule.ignore, `services.${s.name}.develop.watch[${i}].ignore`),
    include: rule.include.length ? matcher(rule.include, `services.${s.name}.develop.watch[${i}].include`) : undefined,
    context,
  }));
}

/** Whether a change at `abs` concerns this rule (inside its path, not ignored, included). */
export function accepts(c: CompiledRule, abs: string): boolean {
  const rel = below(c.rule.path, abs);
  if (rel === undefined) return false;
  if (rel !== '') {
    if (defaults.matchesOrParentMatches(rel) || c.ignore.matchesOrParentMatches(rel)) return false;
    if (c.include && !c.include.matchesOrParentMatches(rel)) return false;
  }
  if (c.context) {
    const inContext = below(c.context.dir, abs);
    if (inContext && c.context.ignore.matchesOrParentMatches(inContext)) return false;
  }
  return true;
}

/** The container path a sync rule copies `abs` to. */
export function containerPath(rule: WatchRule, abs: string): string {
  const rel = below(rule.path, abs) ?? '';
  const target = rule.target ?? '/';
  return rel === '' ? target : `${target === '/' ? '' : target}/${rel}`;
}

export interface Batch {
  rebuild: boolean;
  restart: boolean;
  /** Host path → container path; a path whose parent directory is also listed is left to it. */
  sync: Map<string, string>;
  exec: NonNullable<WatchRule['exec']>[];
  /** How many changed paths some rule took. */
  changes: number;
}

/** What a set of changed paths asks of a service: a rebuild wins over everything else, as in docker compose. */
export function planBatch(rules: CompiledRule[], paths: Iterable<string>): Batch {
  const b: Batch = { rebuild: false, restart: false, sync: new Map(), exec: [], changes: 0 };
  for (const abs of paths) {
    let taken = false;
    for (const c of rules) {
      if (!accepts(c, abs)) continue;
      taken = true;
      const a = c.rule.action;
      if (a === 'rebuild') b.rebuild = true;
      if (a === 'restart' || a === 'sync+restart') b.restart = true;
      if (a.startsWith('sync')) b.sync.set(abs, containerPath(c.rule, abs));
      if (c.rule.exec && !b.exec.includes(c.rule.exec)) b.exec.push(c.rule.exec);
    }
    if (taken) b.changes++;
  }
  for (const abs of [...b.sync.keys()]) for (let d = dirname(abs); d !== dirname(d); d = dirname(d)) if (b.sync.has(d)) b.sync.delete(abs);
  return b;
}

/** Tar entries for the host paths that exist (directories with what the rules let through), and the container paths of those gone. */
function collect(rules: CompiledRule[], sync: Map<string, string>): { items: Array<{ abs: string; name: string; st: Stats }>; gone: string[] } {
  const items: Array<{ abs: string; name: string; st: Stats }> = [];
  const gone: string[] = [];
  const add = (abs: string, dest: string) => {
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch {
      gone.push(dest);
      return;
    }
    items.push({ abs, name: dest.replace(/^\/+/, ''), st });
    if (!st.isDirectory()) return;
    for (const n of readdirSync(abs)) {
      const child = join(abs, n);
      if (rules.some((c) => c.rule.action.startsWith('sync') && accepts(c, child))) add(child, `${dest === '/' ? '' : dest}/${n}`);
    }
  };
  for (const [abs, dest] of sync) add(abs, dest);
  return { items, gone };
}

/** A tar read lazily, one file at a time: a directory of many files is never held in memory whole. */
async function* tarItems(items: Array<{ abs: string; name: string; st: Stats }>): AsyncGenerator<TarWriteItem> {
  for (const { abs, name, st } of items) {
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) yield { entry: { ...base, name: `${name}/`, type: 'directory' } };
    else if (st.isSymbolicLink()) yield { entry: { ...base, name, type: 'symlink', linkname: readlinkSync(abs) } };
    else if (st.isFile()) {
      // Opened now and measured on the open file (O_NONBLOCK: a FIFO swapped in meanwhile cannot
      // hang the watch; O_NOFOLLOW: nor can a symlink), then streamed: a big file is never held whole.
      let fd: number;
      try {
        fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch {
        continue;
      }
      const now = fstatSync(fd);
      if (!now.isFile()) {
        closeSync(fd);
        continue;
      }
      if (now.size === 0) {
        closeSync(fd);
        yield { entry: { ...base, name, type: 'file', size: 0 } };
        continue;
      }
      yield { entry: { ...base, name, type: 'file', size: now.size }, body: createReadStream('', { fd, start: 0, end: now.size - 1 }) };
    }
  }
}

/** Runs a command in a container and waits for its exit code (detached: nothing to stream). */
export async function execIn(api: EngineApi, id: string, cmd: string[], o: { user?: string; privileged?: boolean; workingDir?: string; env?: string[] } = {}): Promise<number> {
  const ex = await api.json<{ Id: string }>('POST', `/containers/${id}/exec`, { body: { Cmd: cmd, User: o.user, Privileged: o.privileged, WorkingDir: o.workingDir, Env: o.env, AttachStdout: false, AttachStderr: false } });
  await api.call('POST', `/exec/${ex.Id}/start`, { body: { Detach: true } });
  for (;;) {
    const st = await api.json<{ Running: boolean; ExitCode: number | null }>('GET', `/exec/${ex.Id}/json`);
    if (!st.Running && st.ExitCode !== null) return st.ExitCode;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Copies what exists into every container and removes what is gone, as docker compose's sync does. */
export async function syncInto(api: EngineApi, ids: string[], rules: CompiledRule[], sync: Map<string, string>): Promise<void> {
  const { items, gone } = collect(rules, sync);
  for (const id of ids) {
    if (items.length) await api.call('PUT', `/containers/${id}/archive`, { query: { path: '/' }, stream: Readable.from(writeTar(tarItems(items))), headers: { 'Content-Type': 'application/x-tar' } });
    if (gone.length) {
      const code = await execIn(api, id, ['rm', '-rf', ...gone]);
      if (code !== 0) throw new ComposeError(`removing ${gone.join(', ')} in container ${id.slice(0, 12)} failed (exit ${code})`);
    }
  }
}

export interface WatchOptions {
  /** Services named on the command line (default: all with develop.watch). */
  services?: string[];
  /** A line for the user (docker compose's "Syncing service …"). */
  log: (line: string) => void;
  warn: (msg: string) => void;
  report: Report;
  /** Builds a service's image (rebuild rules). */
  build?: (s: ServiceSpec) => Promise<void>;
  /** Told of a service's containers after a rebuild recreated them (`up --watch` follows their logs). */
  recreated?: (service: string, ids: string[]) => void;
  /** Watching ends when it aborts. */
  signal: AbortSignal;
}

/** The services `watch` acts on; an error when none has develop.watch, or a rebuild rule cannot build. */
export function watchedServices(p: ComposeProject, services: string[] = []): ServiceSpec[] {
  for (const n of services) if (!p.services[n]) throw new ComposeError(`no such service: ${n}`);
  const list = (services.length ? services : Object.keys(p.services)).map((n) => p.services[n]!).filter((s) => s.watch.length);
  if (!list.length) throw new ComposeError("none of the selected services is configured for watch, consider setting a 'develop' section");
  for (const s of list) if (s.watch.some((w) => w.action === 'rebuild') && !s.build) throw new ComposeError(`can't watch service "${s.name}" with action rebuild without a build context`);
  return list;
}

async function runningIds(api: EngineApi, p: ComposeProject, service: string): Promise<string[]> {
  const list: ContainerSummary[] = await projectContainers(api, p.name, false);
  return list.filter((c) => c.Labels[LABEL_SERVICE] === service && c.Labels[LABEL_ONEOFF] !== 'True' && c.State === 'running').map((c) => c.Id);
}

/** The directories to watch: each rule's path, or its nearest existing parent (it may appear later); none below another. */
function roots(paths: string[]): string[] {
  const dirs = paths.map((x) => {
    let d = x;
    while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
    return statSync(d).isDirectory() ? d : dirname(d);
  });
  return [...new Set(dirs)].sort().filter((d, _, all) => !all.some((o) => o !== d && below(o, d) !== undefined));
}

/** Watches until the signal aborts; a failed action is reported and watching goes on. */
export async function watchProject(api: EngineApi, p: ComposeProject, o: WatchOptions): Promise<void> {
  const services = watchedServices(p, o.services);
  const compiled = new Map(services.map((s) => [s.name, compileRules(s)]));
  for (const s of services) {
    const rules = compiled.get(s.name)!.filter((c) => c.rule.initialSync && c.rule.action.startsWith('sync'));
    if (rules.length) await syncInto(api, await runningIds(api, p, s.name), rules, new Map(rules.map((c) => [c.rule.path, containerPath(c.rule, c.rule.path)])));
  }
  const pending = new Map<string, Set<string>>();
  const timers = new Map<string, NodeJS.Timeout>();
  // One batch at a time per service; changes arriving meanwhile wait for the next.
  const busy = new Map<string, Promise<void>>();
  const flush = (name: string) => {
    timers.delete(name);
    const prev = busy.get(name) ?? Promise.resolve();
    const next = prev.then(async () => {
      const paths = pending.get(name);
      pending.delete(name);
      if (!paths?.size || o.signal.aborted) return;
      await act(api, p, p.services[name]!, compiled.get(name)!, paths, o).catch((e: Error) => o.warn(`${name}: ${e.message}`));
    });
    busy.set(name, next);
  };
  const changed = (abs: string) => {
    for (const s of services) {
      if (!compiled.get(s.name)!.some((c) => accepts(c, abs))) continue;
      let set = pending.get(s.name);
      if (!set) pending.set(s.name, (set = new Set()));
      set.add(abs);
      clearTimeout(timers.get(s.name));
      timers.set(s.name, setTimeout(() => flush(s.name), DEBOUNCE_MS));
    }
  };
  const watchers: FSWatcher[] = [];
  for (const root of roots(services.flatMap((s) => s.watch.map((w) => w.path)))) {
    const w = fsWatch(root, { recursive: true }, (_event, file) => {
      if (file) changed(join(root, file.toString()));
    });
    w.on('error', (e) => o.warn(`watching ${root}: ${e.message}`));
    watchers.push(w);
  }
  o.log('Watch enabled');
  await new Promise<void>((resolve) => {
    if (o.signal.aborted) resolve();
    else o.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  for (const w of watchers) w.close();
  for (const t of timers.values()) clearTimeout(t);
  await Promise.all(busy.values());
}

/** One batch for one service. */
async function act(api: EngineApi, p: ComposeProject, s: ServiceSpec, rules: CompiledRule[], paths: Set<string>, o: WatchOptions): Promise<void> {
  const b = planBatch(rules, paths);
  if (!b.changes) return;
  if (b.rebuild) {
    o.log(`Rebuilding service "${s.name}" after changes were detected...`);
    const ids = await up(api, p, { services: [s.name], noDeps: true, build: o.build, alwaysBuild: true, recreate: 'always', report: o.report, warn: o.warn });
    o.log(`service "${s.name}" successfully built`);
    o.recreated?.(s.name, ids);
    return;
  }
  const ids = await runningIds(api, p, s.name);
  if (!ids.length) return o.warn(`service "${s.name}" has no running container to update`);
  if (b.sync.size) {
    o.log(`Syncing service "${s.name}" after ${b.changes} ${b.changes === 1 ? 'change was' : 'changes were'} detected`);
    await syncInto(api, ids, rules, b.sync);
  }
  if (b.restart) {
    for (const id of ids) await api.call('POST', `/containers/${id}/restart`, { query: { t: s.stopGracePeriod } });
    o.log(`service "${s.name}" restarted`);
  }
  for (const e of b.exec) {
    for (const id of ids) {
      const code = await execIn(api, id, e.command, { user: e.user, privileged: e.privileged, workingDir: e.workingDir, env: Object.entries(e.environment).map(([k, v]) => `${k}=${v}`) });
      if (code !== 0) o.warn(`service "${s.name}": ${e.command.join(' ')} exited with ${code}`);
    }
  }
}
