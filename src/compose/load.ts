/**
 * Loads compose files into a ComposeProject: YAML (unique keys, `<<` merges),
 * variables from the shell and the project's .env (the shell wins), `${…}`
 * interpolation of every value, later files merged over earlier ones, then
 * each field checked and normalised with its path in the error
 * ("services.web.ports[0]: …"). Keys Berth does not act on are kept as
 * warnings rather than errors: a file written for Docker still runs.
 */
import { parseDeviceSpec } from '../devices';
import { parseByteSize } from '../units';
import { existsSync, readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parseGoDuration } from '../build/config';
import { PatternMatcher } from '../build/context/patternmatcher';
import { ComposeError, interpolate, parseEnvFile } from './interpolate';
import { validateCompose } from './schema';
import type { BuildSpec, ComposeProject, Dependency, DependencyCondition, HealthcheckSpec, MountSpec, NetworkSpec, PortSpec, ServiceSpec, VolumeSpec, ResourceSpec, InjectedFile, HostSettings, WatchAction, WatchRule } from './model';

export { ComposeError } from './interpolate';

/** In docker compose's order of preference; the first found in the directory or the nearest parent wins. */
export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
/** Loaded after the default file, from the same directory, when present (as docker compose does). */
export const OVERRIDE_FILES = ['compose.override.yml', 'compose.override.yaml', 'docker-compose.override.yml', 'docker-compose.override.yaml'];

export interface LoadOptions {
  /** -f files; else COMPOSE_FILE; else the first of DEFAULT_FILES in `cwd` or its nearest parent, and its override file. */
  files?: string[];
  /** -p; else COMPOSE_PROJECT_NAME (shell or .env), the file's `name:`, the directory's name. */
  projectName?: string;
  cwd?: string;
  /** --project-directory: the base of relative paths (default: the first file's directory). */
  projectDirectory?: string;
  /** --profile; else COMPOSE_PROFILES (shell or .env, comma separated). */
  profiles?: string[];
  /** Services named on the command line: enabled even when their profiles are not active. */
  services?: string[];
  env?: NodeJS.ProcessEnv;
}

type Obj = Record<string, unknown>;

const SERVICE_KEYS = new Set([
  'image', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'volumes', 'networks', 'network_mode', 'depends_on',
  'healthcheck', 'restart', 'working_dir', 'user', 'hostname', 'container_name', 'labels', 'tty', 'stdin_open', 'init',
  'privileged', 'read_only', 'cap_add', 'cap_drop', 'extra_hosts', 'stop_signal', 'stop_grace_period', 'expose', 'build', 'profiles',
  'secrets', 'configs', 'deploy', 'scale', 'mem_limit', 'mem_reservation', 'cpus', 'pids_limit',
  'pid', 'ipc', 'shm_size', 'sysctls', 'ulimits', 'security_opt', 'dns', 'dns_search', 'dns_opt', 'tmpfs', 'group_add', 'domainname', 'logging', 'develop', 'devices',
]);

export function loadProject(o: LoadOptions = {}): ComposeProject {
  const cwd = o.cwd ?? process.cwd();
  const shell = o.env ?? process.env;
  const warnings: string[] = [];
  const baseDir = o.projectDirectory ? resolve(cwd, o.projectDirectory) : cwd;
  const files = (o.files?.length ? o.files : composeFileEnv(shell, baseDir) ?? defaultFiles(baseDir, warnings)).map((f) => resolve(cwd, f));
  const workingDir = o.projectDirectory ? resolve(cwd, o.projectDirectory) : dirname(files[0]);
  const dotEnvPath = join(workingDir, '.env');
  // .env values may use ${VAR} of the shell or of earlier lines.
  const dotEnv = existsSync(dotEnvPath) ? parseEnvFile(readFileSync(dotEnvPath, 'utf8'), dotEnvPath, (n) => shell[n]) : new Map<string, string>();
  const lookup = (name: string) => shell[name] ?? dotEnv.get(name);
  const unset = new Set<string>();
  let merged: Obj = {};
  for (const file of files) {
    const { doc, reset, override } = parseYaml(file);
    const expanded = expand(doc, (s, where) => interpolate(s, lookup, `${basename(file)}: ${where}`, (n) => unset.add(n)), '');
    // compose-spec merge: `!reset` drops what earlier files set, `!override` replaces it instead of merging.
    for (const path of [...reset, ...override]) deleteAt(merged, path);
    merged = mergeYaml(merged, asObject(expanded, basename(file)), []) as Obj;
  }
  if (merged.include !== undefined) merged = applyIncludes(merged, workingDir, (file, env) => {
    const { doc } = parseYaml(file);
    const look = (n: string) => lookup(n) ?? env.get(n);
    return expand(doc, (x, where) => interpolate(x, look, `${basename(file)}: ${where}`, (n) => unset.add(n)), '');
  }, []);
  if (isObj(merged.services)) merged.services = resolveExtends(merged.services, workingDir, (file) => {
    const { doc } = parseYaml(file);
    return expand(doc, (x, where) => interpolate(x, lookup, `${basename(file)}: ${where}`, (n) => unset.add(n)), '');
  });
  merged = unique(merged, []) as Obj;
  validateCompose(merged, files.length === 1 ? basename(files[0]) : 'compose files');
  for (const n of unset) warnings.push(`The "${n}" variable is not set. Defaulting to a blank string.`);
  if (merged.version !== undefined) warnings.push('the attribute `version` is obsolete, it will be ignored');
  for (const k of ['models']) if (merged[k] !== undefined) warnings.push(`${k} is not supported by berth compose and is ignored`);
  // As docker compose: an empty COMPOSE_PROJECT_NAME counts as unset.
  // A name given (-p, COMPOSE_PROJECT_NAME) must already be valid, as docker compose insists; one taken from the file or the directory is normalised.
  const given = o.projectName || lookup('COMPOSE_PROJECT_NAME');
  if (given && !/^[a-z0-9][a-z0-9_-]*$/.test(given)) throw new ComposeError(`invalid project name "${given}": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`);
  const name = projectNameOf(given || (typeof merged.name === 'string' && merged.name ? merged.name : undefined) || basename(workingDir));
  const ctx: Ctx = { project: name, workingDir, warnings, lookup, files: { secrets: fileObjects(merged.secrets, 'secrets', workingDir, lookup), configs: fileObjects(merged.configs, 'configs', workingDir, lookup) } };
  const networks = topNetworks(merged.networks, ctx);
  const volumes = topVolumes(merged.volumes, ctx);
  const rawServices = asObject(merged.services ?? {}, 'services');
  if (Object.keys(rawServices).length === 0) throw new ComposeError('no service is defined (services: is empty)');
  const active = new Set(o.profiles?.length ? o.profiles : (lookup('COMPOSE_PROFILES') ?? '').split(',').map((x) => x.trim()).filter(Boolean));
  const named = new Set(o.services ?? []);
  const services: Record<string, ServiceSpec> = {};
  for (const [key, raw] of Object.entries(rawServices)) {
    const s = asObject(raw ?? {}, `services.${key}`);
    // compose-spec profiles: a service with profiles runs only when one is active, or when named.
    const profiles = s.profiles === undefined ? [] : list(s.profiles, `services.${key}.profiles`);
    if (profiles.length && !active.has('*') && !profiles.some((x) => active.has(x)) && !named.has(key)) continue;
    services[key] = service(key, s, ctx, networks, volumes);
  }
  for (const s of Object.values(services)) {
    for (const [dep, d] of Object.entries(s.dependsOn)) {
      if (services[dep]) continue;
      if (d.required && rawServices[dep] !== undefined) throw new ComposeError(`service "${s.name}" depends on service "${dep}", which is disabled by its profiles (activate one with --profile)`);
      if (d.required) throw new ComposeError(`service "${s.name}" depends on undefined service "${dep}"`);
      warnings.push(`service "${s.name}": optional dependency "${dep}" is not defined`);
      delete s.dependsOn[dep];
    }
  }
  order(services);
  const disabled = Object.keys(rawServices).filter((k) => !services[k]);
  return { name, workingDir, configFiles: files, services, disabled, networks, volumes, warnings };
}

/** COMPOSE_FILE (shell, else the .env of `dir`): files separated by COMPOSE_PATH_SEPARATOR (default ":"). */
function composeFileEnv(shell: NodeJS.ProcessEnv, dir: string): string[] | undefined {
  const dotEnv = join(dir, '.env');
  const env = (n: string) => shell[n] ?? (existsSync(dotEnv) ? parseEnvFile(readFileSync(dotEnv, 'utf8'), dotEnv, (x) => shell[x]).get(n) : undefined);
  const list = env('COMPOSE_FILE');
  if (!list) return undefined;
  return list.split(env('COMPOSE_PATH_SEPARATOR') || ':').filter(Boolean).map((f) => resolve(dir, f));
}

/** The default file of `cwd` or of its nearest parent that has one, then that directory's override file. */
function defaultFiles(cwd: string, warnings: string[]): string[] {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const found = DEFAULT_FILES.filter((f) => existsSync(join(dir, f)));
    if (found.length) {
      if (found.length > 1) warnings.push(`Found multiple config files with supported names: ${found.join(', ')}; using ${found[0]}`);
      const override = OVERRIDE_FILES.find((f) => existsSync(join(dir, f)));
      return [join(dir, found[0]), ...(override ? [join(dir, override)] : [])];
    }
    if (dirname(dir) === dir) break;
  }
  throw new ComposeError(`no configuration file provided: not found (looked for ${DEFAULT_FILES.join(', ')} in ${cwd} and its parents)`);
}

type Path = string[];

/** A file's content, and the paths of values tagged `!reset` (left out of it) or `!override`. */
function parseYaml(file: string): { doc: unknown; reset: Path[]; override: Path[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ComposeError(`cannot read ${file}: ${(e as Error).message}`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require('yaml') as typeof import('yaml');
  const doc = YAML.parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) throw new ComposeError(`${basename(file)}: ${doc.errors[0].message}`);
  const reset: Path[] = [];
  const override: Path[] = [];
  const walk = (node: unknown, path: Path) => {
    if (!YAML.isMap(node)) return;
    for (const pair of node.items) {
      const key = YAML.isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const at = [...path, key];
      const tag = YAML.isNode(pair.value) ? pair.value.tag : undefined;
      if (tag === '!reset') reset.push(at);
      else if (tag === '!override') override.push(at);
      else walk(pair.value, at);
    }
  };
  walk(doc.contents, []);
  const js = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  for (const path of reset) deleteAt(js, path);
  return { doc: js, reset, override };
}

function deleteAt(v: unknown, path: Path): void {
  for (const k of path.slice(0, -1)) {
    if (!isObj(v)) return;
    v = v[k];
  }
  if (isObj(v)) delete v[path[path.length - 1]];
}

/** Interpolates every string value (never keys), depth first. */
function expand(v: unknown, f: (s: string, where: string) => string, where: string): unknown {
  if (typeof v === 'string') return f(v, where || '(top)');
  if (Array.isArray(v)) return v.map((x, i) => expand(x, f, `${where}[${i}]`));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v as Obj).map(([k, x]) => [k, expand(x, f, where ? `${where}.${k}` : k)]));
  return v;
}

/**
 * compose-spec `extends`: a service built on another one of the same file or of
 * another file, the base merged under it as a later file merges over an earlier
 * one. A base from another file has its relative paths (build context, env_file,
 * bind sources) made absolute against that file's directory first.
 */
function resolveExtends(services: Obj, dir: string, load: (file: string) => unknown): Obj {
  const done = new Map<string, Obj>();
  const fileCache = new Map<string, Obj>();
  const servicesOf = (file: string): Obj => {
    let sv = fileCache.get(file);
    if (!sv) {
      const doc = asObject(load(file), basename(file));
      sv = asObject(doc.services ?? {}, `${basename(file)}: services`);
      fileCache.set(file, sv);
    }
    return sv;
  };
  const resolveIn = (pool: Obj, poolDir: string, poolFile: string | undefined, key: string, stack: string[]): Obj => {
    const id = `${poolFile ?? ''}#${key}`;
    const cached = poolFile === undefined ? done.get(key) : undefined;
    if (cached) return cached;
    if (stack.includes(id)) throw new ComposeError(`services.${key}.extends: circular reference (${[...stack, id].map((x) => x.split('#')[1]).join(' → ')})`);
    const raw = pool[key];
    if (raw === undefined) throw new ComposeError(`services.${stack.length ? stack[stack.length - 1]!.split('#')[1] : key}.extends: no service "${key}"${poolFile ? ` in ${poolFile}` : ''}`);
    const svc = asObject(raw ?? {}, `services.${key}`);
    let out: Obj = svc;
    if (svc.extends !== undefined) {
      const ext = typeof svc.extends === 'string' ? { service: svc.extends } : asObject(svc.extends, `services.${key}.extends`);
      const base = str(ext.service, `services.${key}.extends.service`);
      let resolved: Obj;
      if (ext.file !== undefined) {
        const file = resolve(poolDir, str(ext.file, `services.${key}.extends.file`));
        if (!existsSync(file)) throw new ComposeError(`services.${key}.extends.file: ${file} not found`);
        resolved = rebase(resolveIn(servicesOf(file), dirname(file), file, base, [...stack, id]), dirname(file));
      } else resolved = resolveIn(pool, poolDir, poolFile, base, [...stack, id]);
      const own = { ...svc };
      delete own.extends;
      out = mergeYaml(structuredClone(resolved), own, ['services', key]) as Obj;
    }
    if (poolFile === undefined) done.set(key, out);
    return out;
  };
  return Object.fromEntries(Object.keys(services).map((k) => [k, resolveIn(services, dir, undefined, k, [])]));
}

const TOP_KINDS = ['services', 'networks', 'volumes', 'secrets', 'configs'] as const;

/**
 * compose-spec `include`: other compose files (each with its own directory for
 * relative paths, and optional env files for its interpolation) whose services,
 * networks, volumes, secrets and configs join this model. A name defined on both
 * sides is an error, as in docker compose.
 */
function applyIncludes(model: Obj, dir: string, load: (file: string, env: Map<string, string>) => unknown, stack: string[]): Obj {
  const out: Obj = { ...model };
  delete out.include;
  const entries = Array.isArray(model.include) ? model.include : [model.include];
  entries.forEach((entry, i) => {
    const where = `include[${i}]`;
    const e: Obj = typeof entry === 'string' ? { path: entry } : asObject(entry, where);
    const paths = (Array.isArray(e.path) ? e.path : [e.path]).map((x, j) => resolve(dir, str(x, `${where}.path[${j}]`)));
    for (const f of paths) if (!existsSync(f)) throw new ComposeError(`${where}.path: ${f} not found`);
    if (stack.includes(paths[0]!)) throw new ComposeError(`${where}: ${paths[0]} includes itself (${[...stack, paths[0]].join(' → ')})`);
    const base = e.project_directory === undefined ? dirname(paths[0]!) : resolve(dir, str(e.project_directory, `${where}.project_directory`));
    const env = new Map<string, string>();
    const envFiles = e.env_file === undefined ? (existsSync(join(base, '.env')) ? [join(base, '.env')] : []) : (Array.isArray(e.env_file) ? e.env_file : [e.env_file]).map((x, j) => resolve(dir, str(x, `${where}.env_file[${j}]`)));
    for (const f of envFiles) for (const [k, v] of parseEnvFile(readFileSync(f, 'utf8'), f)) env.set(k, v);
    let inc: Obj = {};
    for (const f of paths) inc = mergeYaml(inc, asObject(load(f, env), basename(f)), []) as Obj;
    if (inc.include !== undefined) inc = applyIncludes(inc, base, load, [...stack, paths[0]!]);
    for (const kind of TOP_KINDS) {
      if (inc[kind] === undefined || inc[kind] === null) continue;
      const theirs = asObject(inc[kind], `${basename(paths[0]!)}: ${kind}`);
      const ours: Obj = isObj(out[kind]) ? { ...out[kind] } : {};
      for (const [k, v] of Object.entries(theirs)) {
        if (Object.hasOwn(ours, k)) throw new ComposeError(`${kind}.${k} is defined both here and in the included ${paths[0]}`);
        const def = v === null ? {} : asObject(v, `${basename(paths[0]!)}: ${kind}.${k}`);
        ours[k] = kind === 'services' ? rebase(def, base) : (kind === 'secrets' || kind === 'configs') && typeof def.file === 'string' ? { ...def, file: resolve(base, def.file) } : def;
      }
      out[kind] = ours;
    }
  });
  return out;
}

/** A service from another file: its relative paths made absolute against that file's directory. */
function rebase(svc: Obj, dir: string): Obj {
  const out: Obj = structuredClone(svc);
  const abs = (p: string) => (/^[a-z]+:\/\//i.test(p) || p.startsWith('~') ? p : resolve(dir, p));
  if (typeof out.build === 'string') out.build = abs(out.build);
  else if (isObj(out.build) && typeof out.build.context === 'string') out.build = { ...out.build, context: abs(out.build.context) };
  if (isObj(out.extends) && typeof out.extends.file === 'string') out.extends = { ...out.extends, file: abs(out.extends.file) };
  if (isObj(out.develop) && Array.isArray(out.develop.watch)) out.develop = { ...out.develop, watch: out.develop.watch.map((w) => (isObj(w) && typeof w.path === 'string' ? { ...w, path: abs(w.path) } : w)) };
  if (typeof out.env_file === 'string') out.env_file = abs(out.env_file);
  else if (Array.isArray(out.env_file)) out.env_file = out.env_file.map((e) => (typeof e === 'string' ? abs(e) : isObj(e) && typeof e.path === 'string' ? { ...e, path: abs(e.path) } : e));
  if (Array.isArray(out.volumes)) {
    out.volumes = out.volumes.map((v) => {
      if (typeof v === 'string') {
        const i = v.indexOf(':');
        return i > 0 && v.startsWith('.') ? `${abs(v.slice(0, i))}${v.slice(i)}` : v;
      }
      return isObj(v) && v.type === 'bind' && typeof v.source === 'string' ? { ...v, source: abs(v.source) } : v;
    });
  }
  return out;
}

/** `services.*.environment`-style patterns against a path. */
function matches(path: Path, pattern: string): boolean {
  const parts = pattern.split('.');
  return parts.length === path.length && parts.every((x, i) => x === '*' || x === path[i]);
}

/** A mapping or a list as a list: {A: 1, B: null} → ["A=1", "B"]. */
function toSequence(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (isObj(v)) return Object.entries(v).flatMap(([k, x]) => (x === null || x === undefined ? [k] : Array.isArray(x) ? x.map((y) => `${k}=${String(y)}`) : [`${k}=${String(x)}`]));
  return v === undefined || v === null ? [] : [v];
}

/** A list of names as a mapping of each to `value` (depends_on, networks). */
function toMapping(v: unknown, value: () => unknown): Obj {
  if (Array.isArray(v)) return Object.fromEntries(v.map((x) => [String(x), value()]));
  return isObj(v) ? v : {};
}

type Merger = (base: unknown, over: unknown, path: Path) => unknown;
const appendSequences: Merger = (b, o) => [...toSequence(b), ...toSequence(o)];
const replace: Merger = (_, o) => o;

/** compose-spec's merge rules (compose-go override/merge.go) where key-by-key is not the rule. */
const MERGE_RULES: Array<[string, Merger]> = [
  ['services.*.build', (b, o, p) => mergeYaml(typeof b === 'string' ? { context: b } : b, typeof o === 'string' ? { context: o } : o, p, false)],
  ...['environment', 'labels', 'env_file', 'build.args', 'build.labels', 'dns', 'dns_opt', 'dns_search', 'sysctls', 'tmpfs', 'annotations', 'deploy.labels'].map((k): [string, Merger] => [`services.*.${k}`, appendSequences]),
  ['networks.*.labels', appendSequences],
  ['volumes.*.labels', appendSequences],
  ['services.*.command', replace],
  ['services.*.entrypoint', replace],
  ['services.*.healthcheck.test', replace],
  ['services.*.depends_on', (b, o, p) => mergeYaml(toMapping(b, () => ({ condition: 'service_started', required: true })), toMapping(o, () => ({ condition: 'service_started', required: true })), p, false)],
  ['services.*.networks', (b, o, p) => mergeYaml(toMapping(b, () => null), toMapping(o, () => null), p, false)],
  ['services.*.extra_hosts', (b, o) => {
    const base = toSequence(b);
    return [...base, ...toSequence(o).filter((x) => !base.includes(x))];
  }],
];

/**
 * A later file over an earlier one, as docker compose merges them: mappings key by key,
 * sequences appended (duplicates removed afterwards by `unique`), environment/labels/args
 * merged by key whichever form each file uses, command/entrypoint/healthcheck.test replaced.
 */
function mergeYaml(base: unknown, over: unknown, path: Path, rules = true): unknown {
  if (rules && path.length) for (const [pattern, merge] of MERGE_RULES) if (matches(path, pattern)) return merge(base, over, path);
  if (over === undefined || over === null) return base;
  if (isObj(base) && isObj(over)) {
    const out: Obj = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = Object.hasOwn(base, k) ? mergeYaml(base[k], v, [...path, k]) : v;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over)) return [...base, ...over];
  return over;
}

type Indexer = (v: unknown) => string;
const keyOf: Indexer = (v) => String(v).split('=')[0];
const mountTarget =
  (dir: string): Indexer =>
  (v) => (isObj(v) ? (v.target === undefined ? `${dir}/${String(v.source)}` : String(v.target)) : `${dir}/${String(v)}`);

/** compose-go override/uncity.go: a later entry with the same key replaces an earlier one, in its place. */
const UNIQUE: Array<[string, Indexer]> = [
  ...['environment', 'labels', 'build.args', 'build.labels', 'cap_add', 'cap_drop', 'dns', 'dns_opt', 'dns_search', 'profiles', 'sysctls', 'tmpfs', 'annotations', 'deploy.labels', 'links', 'networks.*.aliases'].map((k): [string, Indexer] => [`services.*.${k}`, keyOf]),
  ['networks.*.labels', keyOf],
  ['services.*.volumes', (v) => (isObj(v) ? String(v.target) : (String(v).split(':')[1] ?? String(v)))],
  ['services.*.ports', (v) => (isObj(v) ? `${String(v.host_ip ?? '0.0.0.0')}:${String(v.published)}:${String(v.target)}/${String(v.protocol ?? 'tcp')}` : String(v))],
  ['services.*.expose', (v) => String(v)],
  ['services.*.secrets', mountTarget('/run/secrets')],
  ['services.*.configs', mountTarget('')],
  ['services.*.env_file', (v) => (isObj(v) ? String(v.path) : String(v))],
];

function unique(v: unknown, path: Path): unknown {
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unique(x, [...path, k])]));
  if (!Array.isArray(v)) return v;
  const rule = UNIQUE.find(([pattern]) => matches(path, pattern));
  if (!rule) return v;
  const out: unknown[] = [];
  const at = new Map<string, number>();
  for (const x of v) {
    const key = rule[1](x);
    const i = at.get(key);
    if (i === undefined) at.set(key, out.push(x) - 1);
    else out[i] = x;
  }
  return out;
}

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function asObject(v: unknown, where: string): Obj {
  if (!isObj(v)) throw new ComposeError(`${where} must be a mapping`);
  return v;
}

/** Docker's rule: lowercase letters, digits, dashes and underscores, starting with a letter or digit (leading - and _ dropped). */
function projectNameOf(raw: string): string {
  const n = raw.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[-_]+/, '');
  if (!/^[a-z0-9]/.test(n)) throw new ComposeError(`invalid project name "${raw}": must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit`);
  return n;
}

interface Ctx {
  project: string;
  workingDir: string;
  warnings: string[];
  lookup: (name: string) => string | undefined;
  /** Top-level secrets and configs: name → a host file, or content (from `environment:` or `content:`). */
  files: { secrets: Map<string, FileObject>; configs: Map<string, FileObject> };
}

type FileObject = { file: string } | { content: string };

/**
 * Top-level `secrets:` / `configs:`: a host file (bound read-only), or a value from the
 * environment (`environment: VAR`) or, for configs, inline `content:`, which is written
 * into the container before it starts (as docker compose does without Swarm).
 */
function fileObjects(raw: unknown, kind: 'secrets' | 'configs', workingDir: string, lookup: (name: string) => string | undefined): Map<string, FileObject> {
  const out = new Map<string, FileObject>();
  for (const [key, v] of Object.entries(raw === undefined || raw === null ? {} : asObject(raw, kind))) {
    const o = asObject(v ?? {}, `${kind}.${key}`);
    if (o.file !== undefined) {
      const path = resolve(workingDir, str(o.file, `${kind}.${key}.file`));
      if (!existsSync(path)) throw new ComposeError(`${kind}.${key}.file: ${path} does not exist`);
      out.set(key, { file: path });
    } else if (o.environment !== undefined) {
      const name = str(o.environment, `${kind}.${key}.environment`);
      const value = lookup(name);
      if (value === undefined) throw new ComposeError(`${kind}.${key}.environment: variable ${name} is not set`);
      out.set(key, { content: value });
    } else if (kind === 'configs' && o.content !== undefined) out.set(key, { content: str(o.content, `${kind}.${key}.content`) });
    else if (o.external === true) throw new ComposeError(`${kind}.${key}: external ${kind} need Swarm; use file: or environment:`);
    else throw new ComposeError(`${kind}.${key}: needs file:${kind === 'configs' ? ', content:' : ''} or environment:`);
  }
  return out;
}

/** A service's `secrets:`/`configs:`: host files as read-only binds, values as files written at create. Secrets go under /run/secrets, configs at /<name>. */
function fileMounts(v: unknown, kind: 'secrets' | 'configs', where: string, ctx: Ctx): { mounts: MountSpec[]; injected: InjectedFile[] } {
  const mounts: MountSpec[] = [];
  const injected: InjectedFile[] = [];
  if (v === undefined || v === null) return { mounts, injected };
  if (!Array.isArray(v)) throw new ComposeError(`${where} must be a list`);
  v.forEach((x, i) => {
    const o: Obj = typeof x === 'string' ? { source: x } : asObject(x, `${where}[${i}]`);
    const source = str(o.source, `${where}[${i}].source`);
    const obj = ctx.files[kind].get(source);
    if (!obj) throw new ComposeError(`${where}[${i}]: undefined ${kind === 'secrets' ? 'secret' : 'config'} "${source}" (declare it under the top-level ${kind}:)`);
    const target = o.target === undefined ? source : str(o.target, `${where}[${i}].target`);
    const path = target.startsWith('/') ? target : kind === 'secrets' ? `/run/secrets/${target}` : `/${target}`;
    if ('file' in obj) mounts.push({ type: 'bind', source: obj.file, target: path, readOnly: true });
    else {
      // `mode: 0440` is octal in compose files (YAML 1.1 habits), but YAML 1.2 reads it as 440: digits 0-7 are taken as octal.
      const mode = o.mode === undefined ? 0o444 : typeof o.mode === 'number' && !/^[0-7]+$/.test(String(o.mode)) ? o.mode : parseInt(str(o.mode, `${where}[${i}].mode`), 8);
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new ComposeError(`${where}[${i}].mode: invalid mode ${String(o.mode)}`);
      injected.push({ target: path, content: obj.content, mode, uid: o.uid === undefined ? 0 : count(o.uid, `${where}[${i}].uid`, 0), gid: o.gid === undefined ? 0 : count(o.gid, `${where}[${i}].gid`, 0) });
    }
  });
  return { mounts, injected };
}

function topNetworks(raw: unknown, ctx: Ctx): Record<string, NetworkSpec> {
  const out: Record<string, NetworkSpec> = { default: { name: `${ctx.project}_default`, external: false, internal: false, labels: {}, options: {} } };
  for (const [key, v] of Object.entries(raw === undefined || raw === null ? {} : asObject(raw, 'networks'))) {
    const at = `networks.${key}`;
    const n = v === null ? {} : asObject(v, at);
    for (const k of Object.keys(n)) if (!k.startsWith('x-') && !['name', 'external', 'internal', 'driver', 'labels', 'driver_opts', 'ipam'].includes(k)) ctx.warnings.push(`${at}.${k} is not supported by berth compose and is ignored`);
    const external = bool(n.external, `${at}.external`);
    const driver = n.driver === undefined ? undefined : str(n.driver, `${at}.driver`);
    if (driver && driver !== 'bridge') throw new ComposeError(`${at}.driver: only "bridge" networks are supported, got "${driver}"`);
    out[key] = {
      name: n.name !== undefined ? str(n.name, `${at}.name`) : external ? key : `${ctx.project}_${key}`,
      external,
      internal: bool(n.internal, `${at}.internal`),
      ...(driver ? { driver } : {}),
      labels: labels(n.labels, `${at}.labels`),
      options: labels(n.driver_opts, `${at}.driver_opts`),
      ...ipam(n.ipam, `${at}.ipam`, ctx),
    };
  }
  return out;
}

/** `ipam:` of a network: the default driver and one IPv4 pool (subnet, gateway), as Berth's bridges take. */
function ipam(v: unknown, where: string, ctx: Ctx): Pick<NetworkSpec, 'subnet' | 'gateway'> {
  if (v === undefined || v === null) return {};
  const o = asObject(v, where);
  if (o.driver !== undefined && str(o.driver, `${where}.driver`) !== 'default') throw new ComposeError(`${where}.driver: only the "default" IPAM driver is supported`);
  const config = o.config === undefined || o.config === null ? [] : Array.isArray(o.config) ? o.config : [o.config];
  if (config.length > 1) ctx.warnings.push(`${where}.config: only the first pool is used`);
  if (!config.length) return {};
  const c = asObject(config[0], `${where}.config[0]`);
  for (const k of Object.keys(c)) if (!['subnet', 'gateway'].includes(k)) ctx.warnings.push(`${where}.config[0].${k} is not supported by berth compose and is ignored`);
  return { ...(c.subnet !== undefined ? { subnet: str(c.subnet, `${where}.config[0].subnet`) } : {}), ...(c.gateway !== undefined ? { gateway: str(c.gateway, `${where}.config[0].gateway`) } : {}) };
}

function topVolumes(raw: unknown, ctx: Ctx): Record<string, VolumeSpec> {
  const out: Record<string, VolumeSpec> = {};
  for (const [key, v] of Object.entries(raw === undefined || raw === null ? {} : asObject(raw, 'volumes'))) {
    const at = `volumes.${key}`;
    const n = v === null ? {} : asObject(v, at);
    for (const k of Object.keys(n)) if (!k.startsWith('x-') && !['name', 'external', 'driver', 'driver_opts', 'labels'].includes(k)) ctx.warnings.push(`${at}.${k} is not supported by berth compose and is ignored`);
    if (n.driver !== undefined && str(n.driver, `${at}.driver`) !== 'local') throw new ComposeError(`${at}.driver: only the "local" volume driver is supported, got "${str(n.driver, `${at}.driver`)}"`);
    const external = bool(n.external, `${at}.external`);
    out[key] = { name: n.name !== undefined ? str(n.name, `${at}.name`) : external ? key : `${ctx.project}_${key}`, external, labels: labels(n.labels, `${at}.labels`), options: labels(n.driver_opts, `${at}.driver_opts`) };
  }
  return out;
}

function service(key: string, s: Obj, ctx: Ctx, networks: Record<string, NetworkSpec>, volumes: Record<string, VolumeSpec>): ServiceSpec {
  const at = (k: string) => `services.${key}.${k}`;
  for (const k of Object.keys(s)) {
    if (k.startsWith('x-')) continue;
    if (!SERVICE_KEYS.has(k)) ctx.warnings.push(`${at(k)} is not supported by berth compose and is ignored`);
  }
  const build = s.build === undefined ? undefined : buildSpec(s.build, at('build'), ctx);
  // docker compose names a built image <project>-<service> unless `image:` says otherwise.
  const image = s.image === undefined && build ? `${ctx.project}-${key}` : s.image;
  if (typeof image !== 'string' || !image) throw new ComposeError(`${at('image')}: every service needs an image (or a build)`);
  const secrets = fileMounts(s.secrets, 'secrets', at('secrets'), ctx);
  const configs = fileMounts(s.configs, 'configs', at('configs'), ctx);
  const environment: Record<string, string> = {};
  const envFiles = s.env_file === undefined || s.env_file === null ? [] : typeof s.env_file === 'string' ? [s.env_file] : list(s.env_file, at('env_file'), true);
  for (const [i, f] of envFiles.entries()) {
    // A path, or {path, required, format}: a file that is not required may be missing.
    const e: Obj = isObj(f) ? f : { path: f };
    const where = `${at('env_file')}[${i}]`;
    const path = resolve(ctx.workingDir, str(e.path, `${where}.path`));
    if (!existsSync(path)) {
      if (e.required !== undefined && !bool(e.required, `${where}.required`)) continue;
      throw new ComposeError(`${at('env_file')}: env file ${path} not found`);
    }
    if (e.format !== undefined) ctx.warnings.push(`${where}.format is not supported by berth compose and is ignored`);
    // Values may use ${VAR}: earlier env files first, then the shell and .env, as docker compose resolves them.
    const look = (n: string) => (Object.hasOwn(environment, n) ? environment[n] : ctx.lookup(n));
    for (const [k, v] of parseEnvFile(readFileSync(path, 'utf8'), path, look)) environment[k] = v;
  }
  Object.assign(environment, envMap(s.environment, at('environment'), ctx));
  const networkMode = s.network_mode === undefined ? undefined : str(s.network_mode, at('network_mode'));
  if (networkMode !== undefined && !['none', 'host'].includes(networkMode) && !/^(service|container):.+/.test(networkMode)) throw new ComposeError(`${at('network_mode')}: expected none, host, service:<name> or container:<name>, got "${networkMode}"`);
  if (networkMode !== undefined && s.networks !== undefined) throw new ComposeError(`service ${key} declares mutually exclusive network_mode and networks`);
  return {
    name: key,
    image,
    build,
    command: s.command === undefined || s.command === null ? undefined : words(s.command, at('command')),
    entrypoint: s.entrypoint === undefined || s.entrypoint === null ? undefined : words(s.entrypoint, at('entrypoint')),
    environment,
    ports: s.ports === undefined ? [] : list(s.ports, at('ports'), true).flatMap((p, i) => port(p, `${at('ports')}[${i}]`)),
    expose: s.expose === undefined ? [] : list(s.expose, at('expose')).flatMap((p, i) => {
      const where = `${at('expose')}[${i}]`;
      if (!/^\d+(-\d+)?(\/(tcp|udp))?$/.test(p)) throw new ComposeError(`${where}: invalid port "${p}"`);
      return port(p, where).map(({ target, protocol }) => ({ target, protocol }));
    }),
    volumes: [...(s.volumes === undefined ? [] : list(s.volumes, at('volumes'), true).map((v, i) => mount(v, `${at('volumes')}[${i}]`, ctx, volumes))), ...secrets.mounts, ...configs.mounts],
    injected: [...secrets.injected, ...configs.injected],
    ...(networkMode ? { networks: {} } : serviceNetworks(s.networks, at('networks'), networks, ctx.warnings)),
    networkMode,
    // network_mode: service:<name> joins that service's namespace, so it must start first (as docker compose adds).
    dependsOn: {
      ...Object.fromEntries(
        [networkMode, s.pid, s.ipc]
          .filter((m): m is string => typeof m === 'string' && m.startsWith('service:'))
          .map((m) => [m.slice(8), { condition: 'service_started' as const, required: true }]),
      ),
      ...dependencies(s.depends_on, at('depends_on')),
    },
    healthcheck: s.healthcheck === undefined ? undefined : healthcheck(asObject(s.healthcheck, at('healthcheck')), at('healthcheck')),
    restart: s.restart === undefined ? undefined : restart(s.restart, at('restart')),
    workingDir: optStr(s.working_dir, at('working_dir')),
    user: s.user === undefined ? undefined : String(s.user),
    hostname: optStr(s.hostname, at('hostname')),
    containerName: optStr(s.container_name, at('container_name')),
    labels: labels(s.labels, at('labels')),
    tty: bool(s.tty, at('tty')),
    stdinOpen: bool(s.stdin_open, at('stdin_open')),
    init: bool(s.init, at('init')),
    privileged: bool(s.privileged, at('privileged')),
    readOnly: bool(s.read_only, at('read_only')),
    capAdd: s.cap_add === undefined ? [] : list(s.cap_add, at('cap_add')),
    capDrop: s.cap_drop === undefined ? [] : list(s.cap_drop, at('cap_drop')),
    extraHosts: extraHosts(s.extra_hosts, at('extra_hosts')),
    stopSignal: optStr(s.stop_signal, at('stop_signal')),
    stopGracePeriod: s.stop_grace_period === undefined ? undefined : Math.round(duration(s.stop_grace_period, at('stop_grace_period')) / 1e9),
    ...deployment(s, at, ctx),
    host: { ...hostSettings(s, at), ...logging(s.logging, at('logging'), ctx) },
    watch: develop(s.develop, at('develop'), ctx),
  };
}

const WATCH_ACTIONS: readonly WatchAction[] = ['sync', 'rebuild', 'restart', 'sync+restart', 'sync+exec'];

/**
 * `develop.watch` rules, checked when the file loads (as compose-go does) so `watch` and
 * `up --watch` never start on a rule they cannot carry out.
 */
function develop(v: unknown, where: string, ctx: Ctx): WatchRule[] {
  if (v === undefined || v === null) return [];
  const d = asObject(v, where);
  if (d.watch === undefined || d.watch === null) return [];
  return list(d.watch, `${where}.watch`, true).map((x, i) => {
    const at = `${where}.watch[${i}]`;
    const w = asObject(x, at);
    const action = str(w.action, `${at}.action`) as WatchAction;
    if (!WATCH_ACTIONS.includes(action)) throw new ComposeError(`${at}.action: must be one of ${WATCH_ACTIONS.join(', ')}, got "${action}"`);
    if (w.path === undefined || w.path === '') throw new ComposeError(`${at}.path is required`);
    const target = optStr(w.target, `${at}.target`);
    if (action.startsWith('sync') && !target) throw new ComposeError(`${at}: target is required for the ${action} action`);
    if (target !== undefined && !target.startsWith('/')) throw new ComposeError(`${at}.target: the container path "${target}" must be absolute`);
    const patterns = (k: string) => {
      const p = w[k] === undefined || w[k] === null ? [] : typeof w[k] === 'string' ? [w[k] as string] : list(w[k], `${at}.${k}`);
      try {
        new PatternMatcher(p);
      } catch (e) {
        throw new ComposeError(`${at}.${k}: ${(e as Error).message}`);
      }
      return p;
    };
    let exec: WatchRule['exec'];
    if (action === 'sync+exec') {
      const e = w.exec === undefined || w.exec === null ? {} : asObject(w.exec, `${at}.exec`);
      if (e.command === undefined || e.command === null) throw new ComposeError(`${at}: exec.command is required for the sync+exec action`);
      exec = { command: words(e.command, `${at}.exec.command`), user: optStr(e.user, `${at}.exec.user`), privileged: bool(e.privileged, `${at}.exec.privileged`), workingDir: optStr(e.working_dir, `${at}.exec.working_dir`), environment: envMap(e.environment, `${at}.exec.environment`, ctx) };
    } else if (w.exec !== undefined) ctx.warnings.push(`${at}.exec is ignored: only the sync+exec action runs a command`);
    return { action, path: resolve(ctx.workingDir, str(w.path, `${at}.path`)), target: target?.replace(/(.)\/+$/, '$1'), ignore: patterns('ignore'), include: patterns('include'), exec, initialSync: bool(w.initial_sync, `${at}.initial_sync`) };
  });
}

/** `logging:`: the engine's file drivers with their rotation options; other drivers are reported and the default kept. */
function logging(v: unknown, where: string, ctx: Ctx): Pick<HostSettings, 'logging'> {
  if (v === undefined || v === null) return {};
  const o = asObject(v, where);
  const driver = o.driver === undefined ? 'json-file' : str(o.driver, `${where}.driver`);
  if (!['json-file', 'local', 'k8s-file'].includes(driver)) {
    ctx.warnings.push(`${where}.driver "${driver}" is not supported by berth compose; the container logs to a file`);
    return {};
  }
  const options = o.options === undefined || o.options === null ? {} : Object.fromEntries(Object.entries(asObject(o.options, `${where}.options`)).map(([k, x]) => [k, str(x, `${where}.options.${k}`)]));
  return { logging: { driver, options } };
}

/** Keys the engine takes as they are (HostConfig fields), checked here so errors name the key. */
function hostSettings(s: Obj, at: (k: string) => string): HostSettings {
  const joinable = (v: unknown, where: string, plain: string[]): string => {
    const x = str(v, where);
    if (!plain.includes(x) && !/^(service|container):.+/.test(x)) throw new ComposeError(`${where}: expected ${plain.join(', ')}, service:<name> or container:<name>, got "${x}"`);
    return x;
  };
  const strings = (v: unknown, where: string) => (v === undefined || v === null ? undefined : typeof v === 'string' ? [v] : list(v, where));
  const h: HostSettings = {
    pid: s.pid === undefined || s.pid === null ? undefined : joinable(s.pid, at('pid'), ['host']),
    ipc: s.ipc === undefined || s.ipc === null ? undefined : joinable(s.ipc, at('ipc'), ['host', 'none', 'private', 'shareable']),
    shmSize: s.shm_size === undefined ? undefined : byteSize(s.shm_size, at('shm_size')),
    sysctls: s.sysctls === undefined ? undefined : labels(s.sysctls, at('sysctls')),
    ulimits: s.ulimits === undefined ? undefined : Object.entries(asObject(s.ulimits, at('ulimits'))).map(([name, v]) => {
      if (typeof v === 'number' || typeof v === 'string') return { name, soft: count(v, `${at('ulimits')}.${name}`, -1), hard: count(v, `${at('ulimits')}.${name}`, -1) };
      const o = asObject(v, `${at('ulimits')}.${name}`);
      return { name, soft: count(o.soft, `${at('ulimits')}.${name}.soft`, -1), hard: count(o.hard, `${at('ulimits')}.${name}.hard`, -1) };
    }),
    securityOpt: strings(s.security_opt, at('security_opt')),
    dns: strings(s.dns, at('dns')),
    dnsSearch: strings(s.dns_search, at('dns_search')),
    dnsOpt: strings(s.dns_opt, at('dns_opt')),
    tmpfs: s.tmpfs === undefined ? undefined : Object.fromEntries((strings(s.tmpfs, at('tmpfs')) ?? []).map((t) => {
      const i = t.indexOf(':');
      return i < 0 ? [t, ''] : [t.slice(0, i), t.slice(i + 1)];
    })),
    groupAdd: s.group_add === undefined ? undefined : list(s.group_add, at('group_add'), true).map(String),
    domainname: optStr(s.domainname, at('domainname')),
    devices: s.devices === undefined ? undefined : devices(s.devices, at('devices')),
  };
  return Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as HostSettings;
}

/** `devices:` as `host[:container[:perms]]` strings or compose-spec's {source, target, permissions}. */
function devices(v: unknown, where: string): NonNullable<HostSettings['devices']> {
  if (!Array.isArray(v)) throw new ComposeError(`${where} must be a list`);
  return v.map((d, i) => {
    const at = `${where}[${i}]`;
    if (typeof d === 'string') {
      const spec = parseDeviceSpec(d);
      if (!spec || !spec.source.startsWith('/') || !spec.target.startsWith('/')) throw new ComposeError(`${at}: "${d}" is not host-path[:container-path[:permissions]]`);
      return spec;
    }
    const o = asObject(d, at);
    const source = str(o.source, `${at}.source`);
    return { source, target: o.target === undefined ? source : str(o.target, `${at}.target`), permissions: o.permissions === undefined ? 'rwm' : str(o.permissions, `${at}.permissions`) };
  });
}

/** Replicas and resource limits: the service keys, then `deploy:` over them (what docker compose applies without Swarm). */
function deployment(s: Obj, at: (k: string) => string, ctx: Ctx): { scale: number; resources: ResourceSpec } {
  const resources: ResourceSpec = {
    memory: s.mem_limit === undefined ? undefined : byteSize(s.mem_limit, at('mem_limit')),
    memoryReservation: s.mem_reservation === undefined ? undefined : byteSize(s.mem_reservation, at('mem_reservation')),
    nanoCpus: s.cpus === undefined ? undefined : cpus(s.cpus, at('cpus')),
    pidsLimit: s.pids_limit === undefined ? undefined : count(s.pids_limit, at('pids_limit'), -1),
  };
  let scale = s.scale === undefined ? 1 : count(s.scale, at('scale'), 0);
  if (s.deploy !== undefined && s.deploy !== null) {
    const d = asObject(s.deploy, at('deploy'));
    for (const k of Object.keys(d)) if (!['replicas', 'resources', 'mode', 'labels'].includes(k) && !k.startsWith('x-')) ctx.warnings.push(`${at('deploy')}.${k} is not supported by berth compose and is ignored`);
    if (d.mode !== undefined && d.mode !== 'replicated') throw new ComposeError(`${at('deploy')}.mode: only "replicated" is supported, got "${String(d.mode)}"`);
    if (d.replicas !== undefined) scale = count(d.replicas, `${at('deploy')}.replicas`, 0);
    const r = d.resources === undefined || d.resources === null ? {} : asObject(d.resources, `${at('deploy')}.resources`);
    const limits = r.limits === undefined || r.limits === null ? {} : asObject(r.limits, `${at('deploy')}.resources.limits`);
    const reservations = r.reservations === undefined || r.reservations === null ? {} : asObject(r.reservations, `${at('deploy')}.resources.reservations`);
    if (limits.memory !== undefined) resources.memory = byteSize(limits.memory, `${at('deploy')}.resources.limits.memory`);
    if (limits.cpus !== undefined) resources.nanoCpus = cpus(limits.cpus, `${at('deploy')}.resources.limits.cpus`);
    if (limits.pids !== undefined) resources.pidsLimit = count(limits.pids, `${at('deploy')}.resources.limits.pids`, -1);
    if (reservations.memory !== undefined) resources.memoryReservation = byteSize(reservations.memory, `${at('deploy')}.resources.reservations.memory`);
    for (const k of Object.keys(reservations)) if (k !== 'memory') ctx.warnings.push(`${at('deploy')}.resources.reservations.${k} is not supported by berth compose and is ignored`);
  }
  if (scale > 1 && s.container_name !== undefined) throw new ComposeError(`${at('container_name')}: a service with a fixed container name cannot have ${scale} replicas (container names are unique)`);
  return { scale, resources: Object.fromEntries(Object.entries(resources).filter(([, v]) => v !== undefined)) as ResourceSpec };
}

/** compose-spec byte values: an integer, or a size with a unit (binary, as Docker's). */
function byteSize(v: unknown, where: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  const n = parseByteSize(str(v, where));
  if (n === undefined) throw new ComposeError(`${where}: invalid size "${String(v)}"`);
  return n;
}

function cpus(v: unknown, where: string): number {
  const n = Number(str(v, where));
  if (!Number.isFinite(n) || n <= 0) throw new ComposeError(`${where}: invalid number of CPUs "${String(v)}"`);
  return Math.round(n * 1e9);
}

function count(v: unknown, where: string, min: number): number {
  const n = typeof v === 'number' ? v : Number(str(v, where));
  if (!Number.isInteger(n) || n < min) throw new ComposeError(`${where} must be an integer of at least ${min}`);
  return n;
}

function str(v: unknown, where: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ComposeError(`${where} must be a string`);
}

function optStr(v: unknown, where: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, where);
}

function bool(v: unknown, where: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new ComposeError(`${where} must be a boolean`);
}

function list(v: unknown, where: string, mixed = false): string[] {
  if (!Array.isArray(v)) throw new ComposeError(`${where} must be a list`);
  return v.map((x, i) => (mixed && isObj(x) ? (x as unknown as string) : str(x, `${where}[${i}]`)));
}

/** A command as a list, or a string split as a shell would (quotes, backslashes), as compose does. */
export function words(v: unknown, where: string): string[] {
  if (Array.isArray(v)) return v.map((x, i) => str(x, `${where}[${i}]`));
  const text = str(v, where);
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else cur += c;
  }
  if (quote) throw new ComposeError(`${where}: unterminated quote in "${text}"`);
  if (has || cur) out.push(cur);
  return out;
}

function envMap(v: unknown, where: string, ctx: Ctx): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      const kv = str(x, `${where}[${i}]`);
      const eq = kv.indexOf('=');
      if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
      else {
        // A bare name takes its value from the shell or .env, and is left out without one.
        const val = ctx.lookup(kv);
        if (val !== undefined) out[kv] = val;
      }
    });
    return out;
  }
  for (const [k, x] of Object.entries(asObject(v, where))) {
    if (x === null || x === undefined) {
      const val = ctx.lookup(k);
      if (val !== undefined) out[k] = val;
    } else out[k] = str(x, `${where}.${k}`);
  }
  return out;
}

function labels(v: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      const kv = str(x, `${where}[${i}]`);
      const eq = kv.indexOf('=');
      out[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? '' : kv.slice(eq + 1);
    }
    return out;
  }
  for (const [k, x] of Object.entries(asObject(v, where))) out[k] = x === null ? '' : str(x, `${where}.${k}`);
  return out;
}

function extraHosts(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((x, i) => str(x, `${where}[${i}]`).replace('=', ':'));
  return Object.entries(asObject(v, where)).map(([h, ip]) => `${h}:${str(ip, `${where}.${h}`)}`);
}

/** "[host_ip:][published:]target[/protocol]" or the long form; ranges of equal length expand. */
function port(v: unknown, where: string): PortSpec[] {
  if (isObj(v)) {
    const target = Number(v.target);
    if (!Number.isInteger(target) || target < 1 || target > 65535) throw new ComposeError(`${where}.target must be a port number`);
    const protocol = v.protocol === undefined ? 'tcp' : str(v.protocol, `${where}.protocol`);
    if (protocol !== 'tcp' && protocol !== 'udp') throw new ComposeError(`${where}.protocol must be tcp or udp`);
    return [{ target, published: v.published === undefined ? undefined : str(v.published, `${where}.published`), hostIp: optStr(v.host_ip, `${where}.host_ip`), protocol }];
  }
  const text = str(v, where);
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):)?(?:(\d+(?:-\d+)?)?:)?(\d+(?:-\d+)?)(?:\/(tcp|udp))?$/.exec(text);
  if (!m) throw new ComposeError(`${where}: invalid port "${text}"`);
  const hostIp = m[1] ?? m[2];
  const range = (r: string) => {
    const [a, b = a] = r.split('-').map(Number);
    if (a < 1 || b > 65535 || b < a) throw new ComposeError(`${where}: invalid port range "${r}"`);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  };
  const targets = range(m[4]);
  const published = m[3] === undefined ? undefined : range(m[3]);
  // A host range for one container port: the engine takes the first free port of it.
  if (published && published.length > 1 && targets.length === 1) return [{ target: targets[0]!, published: m[3], hostIp, protocol: (m[5] ?? 'tcp') as 'tcp' | 'udp' }];
  if (published && published.length !== targets.length) throw new ComposeError(`${where}: "${text}" maps ${published.length} host ports to ${targets.length} container ports`);
  return targets.map((target, i) => ({ target, published: published ? String(published[i]) : undefined, hostIp, protocol: (m[5] ?? 'tcp') as 'tcp' | 'udp' }));
}

const PROPAGATION = ['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'];
/** docker compose's short-syntax modes; cached, delegated and consistent are Docker Desktop hints that do nothing on Linux. */
const VOLUME_MODES = ['ro', 'rw', 'z', 'Z', 'nocopy', 'cached', 'delegated', 'consistent', ...PROPAGATION];

/** Short "source:target[:mode]" or long form; a source starting with . / ~ is a bind, else a named volume. */
function mount(v: unknown, where: string, ctx: Ctx, volumes: Record<string, VolumeSpec>): MountSpec {
  let m: MountSpec;
  if (isObj(v)) {
    const type = str(v.type ?? 'volume', `${where}.type`);
    if (type !== 'volume' && type !== 'bind' && type !== 'tmpfs') throw new ComposeError(`${where}.type: unsupported mount type "${type}"`);
    m = { type, source: optStr(v.source, `${where}.source`), target: str(v.target, `${where}.target`), readOnly: bool(v.read_only, `${where}.read_only`) };
  } else {
    const text = str(v, where);
    const parts = text.split(':');
    if (parts.length > 3 || parts.some((p) => p === '')) throw new ComposeError(`${where}: invalid volume "${text}"`);
    const [a, b, mode] = parts;
    if (mode !== undefined && !mode.split(',').every((x) => VOLUME_MODES.includes(x))) throw new ComposeError(`${where}: invalid mode "${mode}"`);
    const propagation = (mode ?? '').split(',').filter((x) => PROPAGATION.includes(x));
    if (propagation.length) ctx.warnings.push(`${where}: bind propagation "${propagation.join(',')}" is not supported by berth compose and is ignored`);
    if (b === undefined) m = { type: 'volume', target: a, readOnly: false };
    else m = { type: /^[./~]/.test(a) ? 'bind' : 'volume', source: a, target: b, readOnly: (mode ?? '').split(',').includes('ro') };
  }
  if (!m.target.startsWith('/')) throw new ComposeError(`${where}: the container path "${m.target}" must be absolute`);
  if (m.type === 'bind') {
    if (!m.source) throw new ComposeError(`${where}: a bind mount needs a source`);
    const home = process.env.HOME ?? '/root';
    m.source = m.source.startsWith('~') ? join(home, m.source.slice(1)) : isAbsolute(m.source) ? m.source : resolve(ctx.workingDir, m.source);
  } else if (m.type === 'volume' && m.source !== undefined && !volumes[m.source]) {
    throw new ComposeError(`${where}: service uses undefined volume "${m.source}" (declare it under the top-level volumes:)`);
  }
  return m;
}

function serviceNetworks(v: unknown, where: string, networks: Record<string, NetworkSpec>, warnings: string[]): Pick<ServiceSpec, 'networks' | 'addresses'> {
  const out: Record<string, string[]> = {};
  const addresses: Record<string, string> = {};
  if (v === undefined || v === null) return { networks: { default: [] } };
  const entries: Array<[string, unknown]> = Array.isArray(v) ? v.map((n, i) => [str(n, `${where}[${i}]`), null]) : Object.entries(asObject(v, where));
  for (const [n, cfg] of entries) {
    if (!networks[n]) throw new ComposeError(`${where}: service refers to undefined network ${n}`);
    const c = cfg === null || cfg === undefined ? {} : asObject(cfg, `${where}.${n}`);
    for (const k of Object.keys(c)) if (k !== 'aliases' && k !== 'ipv4_address' && !k.startsWith('x-')) warnings.push(`${where}.${n}.${k} is not supported by berth compose and is ignored`);
    const aliases = c.aliases;
    out[n] = aliases === undefined || aliases === null ? [] : list(aliases, `${where}.${n}.aliases`);
    if (c.ipv4_address !== undefined && c.ipv4_address !== null) {
      const ip = str(c.ipv4_address, `${where}.${n}.ipv4_address`);
      if (!isIPv4(ip)) throw new ComposeError(`${where}.${n}.ipv4_address: "${ip}" is not an IPv4 address`);
      addresses[n] = ip;
    }
  }
  return Object.keys(addresses).length ? { networks: out, addresses } : { networks: out };
}

const CONDITIONS = new Set<DependencyCondition>(['service_started', 'service_healthy', 'service_completed_successfully']);

function dependencies(v: unknown, where: string): Record<string, Dependency> {
  const out: Record<string, Dependency> = {};
  if (v === undefined || v === null) return out;
  if (Array.isArray(v)) {
    for (const [i, n] of v.entries()) out[str(n, `${where}[${i}]`)] = { condition: 'service_started', required: true };
    return out;
  }
  for (const [n, cfg] of Object.entries(asObject(v, where))) {
    const c = cfg === null ? {} : asObject(cfg, `${where}.${n}`);
    const condition = (c.condition === undefined ? 'service_started' : str(c.condition, `${where}.${n}.condition`)) as DependencyCondition;
    if (!CONDITIONS.has(condition)) throw new ComposeError(`${where}.${n}.condition: must be one of ${[...CONDITIONS].join(', ')}, got "${condition}"`);
    out[n] = { condition, required: c.required === undefined ? true : bool(c.required, `${where}.${n}.required`) };
  }
  return out;
}

function duration(v: unknown, where: string): number {
  const text = str(v, where);
  const ns = parseGoDuration(text);
  if (ns === undefined) throw new ComposeError(`${where}: invalid duration "${text}"`);
  return ns;
}

function healthcheck(h: Obj, where: string): HealthcheckSpec {
  if (bool(h.disable, `${where}.disable`)) return { test: ['NONE'] };
  let test: string[] | undefined;
  if (typeof h.test === 'string') test = ['CMD-SHELL', h.test];
  else if (Array.isArray(h.test)) {
    test = h.test.map((x, i) => str(x, `${where}.test[${i}]`));
    if (!['CMD', 'CMD-SHELL', 'NONE'].includes(test[0] ?? '')) throw new ComposeError(`${where}.test: a list must start with CMD, CMD-SHELL or NONE`);
  } else if (h.test !== undefined) throw new ComposeError(`${where}.test must be a string or a list`);
  const d = (k: string) => (h[k] === undefined ? undefined : duration(h[k], `${where}.${k}`));
  const retries = h.retries === undefined ? undefined : Number(h.retries);
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) throw new ComposeError(`${where}.retries must be a whole number`);
  return { test, interval: d('interval'), timeout: d('timeout'), startPeriod: d('start_period'), startInterval: d('start_interval'), retries };
}

/** `build: <context>` or `build: {context, dockerfile, args, target}`. */
function buildSpec(v: unknown, where: string, ctx: Ctx): BuildSpec {
  const b: Obj = typeof v === 'string' ? { context: v } : asObject(v, where);
  for (const k of Object.keys(b)) if (!['context', 'dockerfile', 'args', 'target'].includes(k)) ctx.warnings.push(`${where}.${k} is not supported by berth compose and is ignored`);
  const context = resolve(ctx.workingDir, b.context === undefined ? '.' : str(b.context, `${where}.context`));
  if (!existsSync(context)) throw new ComposeError(`${where}.context: ${context} does not exist`);
  return { context, dockerfile: optStr(b.dockerfile, `${where}.dockerfile`), args: envMap(b.args, `${where}.args`, ctx), target: optStr(b.target, `${where}.target`) };
}

function restart(v: unknown, where: string): string {
  const r = str(v, where);
  if (!/^(no|always|unless-stopped|on-failure(:\d+)?)$/.test(r)) throw new ComposeError(`${where}: invalid restart policy "${r}"`);
  return r;
}

/** Services ordered so each comes after what it depends on; a cycle is an error. */
export function order(services: Record<string, ServiceSpec>): string[] {
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string, path: string[]) => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting') throw new ComposeError(`dependency cycle detected: ${[...path, n].join(' -> ')}`);
    state.set(n, 'visiting');
    for (const d of Object.keys(services[n].dependsOn)) visit(d, [...path, n]);
    state.set(n, 'done');
    out.push(n);
  };
  for (const n of Object.keys(services).sort()) visit(n, []);
  return out;
}
