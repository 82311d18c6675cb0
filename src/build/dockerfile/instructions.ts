/**
 * Typed instructions from the AST, as BuildKit's instructions/parse.go builds
 * them: stages (FROM …) with their commands, and the meta ARGs before the
 * first FROM. Arguments are still unexpanded here; see expand.ts.
 */
import { parseGoDuration } from './duration';
import { DockerfileParseError, sourceOf, type SourceRef } from './errors';
import { BFlags } from './flags';
import { chompHeredocContent, parseHeredoc } from './heredoc';
import { parseDevice, parseMount, type Device, type Mount } from './mount';
import type { Heredoc, Node } from './node';
import { parseDockerfile, type ParseOptions, type ParseWarning } from './parser';
import { processWord } from './shell';
import { goQuote, trimSpace, withSuggestion } from './text';

export type { Device, Mount } from './mount';

export interface KeyValuePair {
  key: string;
  value: string;
  /** Old `ENV key value` form (no `=`). */
  noDelim: boolean;
}

export interface ArgPair {
  key: string;
  /** Undefined when the ARG has no default. */
  value?: string;
}

interface Base {
  /** The keyword as written (`run`, `RUN`). */
  instruction: string;
  /** The instruction line, trimmed (BuildKit's String()); used in history and cache keys. */
  code: string;
  startLine: number;
  endLine: number;
}

export interface SourceContent {
  /** The heredoc name, used as the file name. */
  path: string;
  data: string;
  /** Expand variables in `data` (the heredoc terminator was unquoted). */
  expand: boolean;
}

interface ShellDependent {
  /** Shell form: `cmd` is one string to run with the stage's SHELL. */
  shell: boolean;
  cmd: string[];
  heredocs: Heredoc[];
}

export interface RunCommand extends Base, ShellDependent {
  kind: 'run';
  /** The raw --mount values, for re-parsing with variables expanded (expandCommand does this). */
  mountSpecs: string[];
  /** Parsed --mount values; undefined while a value still holds a variable (then see expandCommand). */
  mounts: Mount[] | undefined;
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
  devices: Device[];
  flagsUsed: string[];
}

interface CopyBase extends Base {
  sources: string[];
  /** Heredoc sources (`COPY <<EOF /dest`). */
  sourceContents: SourceContent[];
  dest: string;
  chown: string;
  chmod: string;
  link: boolean;
  excludes: string[];
  heredocs: Heredoc[];
}

export interface CopyCommand extends CopyBase {
  kind: 'copy';
  /** --from: a stage name or index, or an image. */
  from: string;
  parents: boolean;
}

export interface AddCommand extends CopyBase {
  kind: 'add';
  keepGitDir?: boolean;
  checksum: string;
  unpack?: boolean;
}

export interface EnvCommand extends Base { kind: 'env'; pairs: KeyValuePair[] }
export interface LabelCommand extends Base { kind: 'label'; pairs: KeyValuePair[] }
export interface ArgCommand extends Base { kind: 'arg'; pairs: ArgPair[] }
export interface WorkdirCommand extends Base { kind: 'workdir'; path: string }
export interface UserCommand extends Base { kind: 'user'; user: string }
export interface CmdCommand extends Base, ShellDependent { kind: 'cmd' }
export interface EntrypointCommand extends Base, ShellDependent { kind: 'entrypoint' }
export interface ExposeCommand extends Base { kind: 'expose'; ports: string[] }
export interface VolumeCommand extends Base { kind: 'volume'; paths: string[] }
export interface StopSignalCommand extends Base { kind: 'stopsignal'; signal: string }
export interface ShellCommand extends Base { kind: 'shell'; shell: string[] }
export interface OnbuildCommand extends Base { kind: 'onbuild'; expression: string }
export interface MaintainerCommand extends Base { kind: 'maintainer'; maintainer: string }

export interface HealthcheckCommand extends Base {
  kind: 'healthcheck';
  /** `["NONE"]`, `["CMD", …exec]` or `["CMD-SHELL", command]`. */
  test: string[];
  /** Durations in nanoseconds, 0 = inherit the default. */
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

export type Command =
  | RunCommand | CopyCommand | AddCommand | EnvCommand | LabelCommand | ArgCommand | WorkdirCommand | UserCommand
  | CmdCommand | EntrypointCommand | ExposeCommand | VolumeCommand | StopSignalCommand | HealthcheckCommand
  | ShellCommand | OnbuildCommand | MaintainerCommand;

export interface Stage {
  /** `AS name`, lower-cased; "" when unnamed. */
  name: string;
  /** The image (or stage) to build on, unexpanded. */
  baseName: string;
  /** --platform, unexpanded; "" when not given. */
  platform: string;
  code: string;
  instruction: string;
  startLine: number;
  endLine: number;
  commands: Command[];
}

export interface Instructions {
  stages: Stage[];
  /** ARGs before the first FROM: usable in FROM lines. */
  metaArgs: ArgCommand[];
  warnings: ParseWarning[];
  escapeToken: string;
}

const INSTRUCTIONS = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK',
  'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
];

const VALID_STAGE_NAME = /^[a-z][a-z0-9\-_.]*$/;
const MIN_INTERVAL_NS = 1e6;

/** The argument values of a node; ONBUILD's sub-instruction is flattened into its keyword and arguments. */
function nodeArgs(node: Node): string[] {
  const out: string[] = [];
  for (let n = node.next; n; n = n.next) {
    if (n.children.length === 0) out.push(n.value);
    else if (n.children.length === 1) out.push(n.children[0].value, ...nodeArgs(n.children[0]));
  }
  return out;
}

/** Shell form collapses to one string; exec form keeps the list. */
const jsonArgs = (args: string[], json: boolean): string[] => (args.length === 0 ? [] : json ? args : [args.join(' ')]);

const atLeastOne = (cmd: string): Error => new Error(`${cmd} requires at least one argument`);
const exactlyOne = (cmd: string): Error => new Error(`${cmd} requires exactly one argument`);

function keyValuePairs(args: string[], cmd: string): KeyValuePair[] {
  if (args.length === 0) throw atLeastOne(cmd);
  if (args.length % 3 !== 0) throw new Error(`Bad input to ${cmd}, too many arguments`);
  const out: KeyValuePair[] = [];
  for (let i = 0; i < args.length; i += 3) {
    if (args[i] === '') throw new Error(`${cmd} names can not be blank`);
    out.push({ key: args[i], value: args[i + 1], noDelim: args[i + 2] === '' });
  }
  return out;
}

function durationFlag(name: string, value: string): number {
  if (value === '') return 0;
  const d = parseGoDuration(value);
  if (d !== 0 && d < MIN_INTERVAL_NS) throw new Error(`Interval ${goQuote(name)} cannot be less than 1ms`);
  return d;
}

function sourcesAndDest(args: string[], heredocs: Heredoc[], cmd: string): Pick<CopyBase, 'sources' | 'sourceContents' | 'dest'> {
  const dest = args[args.length - 1];
  if (parseHeredocQuiet(dest)) throw new Error(`${cmd} cannot accept a heredoc as a destination`);
  const byName = new Map(heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const sourceContents: SourceContent[] = [];
  for (const src of args.slice(0, -1)) {
    const h = parseHeredocQuiet(src);
    if (!h) {
      sources.push(src);
      continue;
    }
    const content = byName.get(h.name)?.content ?? '';
    sourceContents.push({ path: h.name, data: h.chomp ? chompHeredocContent(content) : content, expand: h.expand });
  }
  return { sources, sourceContents, dest };
}

/** BuildKit's MustParseHeredoc: a word that is not a valid heredoc is just a path. */
function parseHeredocQuiet(word: string): Heredoc | null {
  try {
    return parseHeredoc(word);
  } catch {
    return null;
  }
}

/** Mounts are parsed now when no variable is involved; variables wait for expandCommand. */
function parseMountsNow(specs: string[], escapeToken: string): Mount[] | undefined {
  for (const s of specs) parseMount(s); // BuildKit's parse-time check (`from=` without variables)
  if (specs.some((s) => s.includes('$'))) return undefined;
  return specs.map((s) => parseMount(s, (w) => processWord(w, {}, { escapeToken }).result));
}

/** One instruction node → a stage start (FROM) or a command. Throws plain Errors with BuildKit's wording. */
function parseNode(node: Node, escapeToken: string): Stage | Command {
  const args = nodeArgs(node);
  const flags = new BFlags(node.flags);
  const json = !!node.attributes.json;
  const base: Base = { instruction: node.value, code: trimSpace(node.original), startLine: node.startLine, endLine: node.endLine };
  // Object.assign, not `{ ...base, … }`: V8 makes spread-plus-keys ~50x slower once shapes vary.
  const make = <T extends Command>(fields: Omit<T, keyof Base>): T => Object.assign(base, fields) as T;

  switch (node.value.toLowerCase()) {
    case 'env':
      flags.parse();
      return make<EnvCommand>({ kind: 'env', pairs: keyValuePairs(args, 'ENV') });
    case 'label':
      flags.parse();
      return make<LabelCommand>({ kind: 'label', pairs: keyValuePairs(args, 'LABEL') });
    case 'maintainer':
      if (args.length !== 1) throw exactlyOne('MAINTAINER');
      flags.parse();
      return make<MaintainerCommand>({ kind: 'maintainer', maintainer: args[0] });
    case 'from': {
      let name = '';
      if (args.length === 3 && args[1].toLowerCase() === 'as') {
        name = args[2].toLowerCase();
        if (!VALID_STAGE_NAME.test(name)) {
          throw new Error(`invalid name for build stage: ${goQuote(args[2])}, name can't start with a number or contain symbols`);
        }
      } else if (args.length !== 1) throw new Error('FROM requires either one or three arguments');
      const platform = flags.addString('platform');
      flags.parse();
      return Object.assign(base, { name, baseName: args[0], platform: platform.value, commands: [] });
    }
    case 'add':
    case 'copy': {
      const cmd = node.value.toLowerCase() === 'add' ? 'ADD' : 'COPY';
      if (args.length < 2) {
        throw new Error(`${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`);
      }
      const chown = flags.addString('chown');
      if (cmd === 'COPY') {
        const from = flags.addString('from');
        const chmod = flags.addString('chmod');
        const link = flags.addBool('link');
        const excludes = flags.addStrings('exclude');
        const parents = flags.addBool('parents');
        flags.parse();
        const { sources, sourceContents, dest } = sourcesAndDest(args, node.heredocs, cmd);
        return make<CopyCommand>({
          kind: 'copy', sources, sourceContents, dest, heredocs: node.heredocs, from: from.value, chown: chown.value,
          chmod: chmod.value, link: link.value === 'true', parents: parents.value === 'true', excludes: excludes.values,
        });
      }
      const chmod = flags.addString('chmod');
      const link = flags.addBool('link');
      const keepGitDir = flags.addBool('keep-git-dir');
      const checksum = flags.addString('checksum');
      const unpack = flags.addBool('unpack');
      const excludes = flags.addStrings('exclude');
      flags.parse();
      const { sources, sourceContents, dest } = sourcesAndDest(args, node.heredocs, cmd);
      return make<AddCommand>({
        kind: 'add', sources, sourceContents, dest, heredocs: node.heredocs, chown: chown.value, chmod: chmod.value,
        link: link.value === 'true', checksum: checksum.value,
        keepGitDir: flags.used.has('keep-git-dir') ? keepGitDir.value === 'true' : undefined,
        unpack: flags.used.has('unpack') ? unpack.value === 'true' : undefined,
        excludes: excludes.values,
      });
    }
    case 'onbuild': {
      if (args.length === 0) throw atLeastOne('ONBUILD');
      flags.parse();
      const trigger = args[0].trim().toUpperCase();
      if (trigger === 'ONBUILD') throw new Error('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trigger === 'MAINTAINER' || trigger === 'FROM') throw new Error(`${trigger} isn't allowed as an ONBUILD trigger`);
      let expression = node.original.replace(/^[\t\n\f\r ]*onbuild[\t\n\f\r ]*/i, '');
      for (const h of node.heredocs) expression += '\n' + h.content + h.name;
      return make<OnbuildCommand>({ kind: 'onbuild', expression });
    }
    case 'workdir':
      if (args.length !== 1) throw exactlyOne('WORKDIR');
      flags.parse();
      return make<WorkdirCommand>({ kind: 'workdir', path: args[0] });
    case 'run': {
      const devices = flags.addStrings('device');
      const mounts = flags.addStrings('mount');
      const network = flags.addString('network', 'default');
      const security = flags.addString('security', 'sandbox');
      flags.parse();
      const parsedDevices = devices.values.map(parseDevice);
      const parsedMounts = parseMountsNow(mounts.values, escapeToken);
      const net = network.value;
      if (net !== 'default' && net !== 'none' && net !== 'host') throw new Error(`invalid network mode ${goQuote(net)}`);
      const sec = security.value;
      if (sec !== 'sandbox' && sec !== 'insecure') throw new Error(`security ${goQuote(sec)} is not valid`);
      return make<RunCommand>({
        kind: 'run', shell: !json, cmd: jsonArgs(args, json), heredocs: node.heredocs, mountSpecs: mounts.values,
        mounts: parsedMounts, network: net, security: sec, devices: parsedDevices, flagsUsed: [...flags.used],
      });
    }
    case 'cmd':
      flags.parse();
      return make<CmdCommand>({ kind: 'cmd', shell: !json, cmd: jsonArgs(args, json), heredocs: node.heredocs });
    case 'entrypoint':
      flags.parse();
      return make<EntrypointCommand>({ kind: 'entrypoint', shell: !json, cmd: jsonArgs(args, json), heredocs: node.heredocs });
    case 'healthcheck':
      return parseHealthcheck(base, args, flags, json);
    case 'expose':
      if (args.length === 0) throw atLeastOne('EXPOSE');
      flags.parse();
      return make<ExposeCommand>({ kind: 'expose', ports: [...args].sort() });
    case 'user':
      if (args.length !== 1) throw exactlyOne('USER');
      flags.parse();
      return make<UserCommand>({ kind: 'user', user: args[0] });
    case 'volume': {
      if (args.length === 0) throw atLeastOne('VOLUME');
      flags.parse();
      const paths = args.map((v) => v.trim());
      if (paths.includes('')) throw new Error('VOLUME specified can not be an empty string');
      return make<VolumeCommand>({ kind: 'volume', paths });
    }
    case 'stopsignal':
      // BuildKit never checks STOPSIGNAL's flags.
      if (args.length !== 1) throw exactlyOne('STOPSIGNAL');
      return make<StopSignalCommand>({ kind: 'stopsignal', signal: args[0] });
    case 'arg': {
      // Nor ARG's.
      if (args.length === 0) throw atLeastOne('ARG');
      const pairs = args.map((a): ArgPair => {
        const i = a.indexOf('=');
        if (i < 0) return { key: a };
        if (i === 0) throw new Error('ARG names can not be blank');
        return { key: a.slice(0, i), value: a.slice(i + 1) };
      });
      return make<ArgCommand>({ kind: 'arg', pairs });
    }
    case 'shell': {
      flags.parse();
      const shell = jsonArgs(args, json);
      if (shell.length === 0) throw atLeastOne('SHELL');
      if (!json) throw new Error('SHELL requires the arguments to be in JSON form');
      return make<ShellCommand>({ kind: 'shell', shell });
    }
    default:
      throw new Error(withSuggestion(`unknown instruction: ${node.value}`, node.value, INSTRUCTIONS, false));
  }
}

function parseHealthcheck(base: Base, args: string[], flags: BFlags, json: boolean): HealthcheckCommand {
  if (args.length === 0) throw atLeastOne('HEALTHCHECK');
  const type = args[0].toUpperCase();
  const rest = args.slice(1);
  const hc: HealthcheckCommand = Object.assign(base, {
    kind: 'healthcheck' as const, test: [type], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0,
  });
  if (type === 'NONE') {
    // BuildKit does not look at flags here either.
    if (rest.length !== 0) throw new Error('HEALTHCHECK NONE takes no arguments');
    return hc;
  }
  const interval = flags.addString('interval');
  const timeout = flags.addString('timeout');
  const startPeriod = flags.addString('start-period');
  const startInterval = flags.addString('start-interval');
  const retries = flags.addString('retries');
  flags.parse();
  if (type !== 'CMD') throw new Error(`Unknown type ${goQuote(type)} in HEALTHCHECK (try CMD)`);
  const cmd = jsonArgs(rest, json);
  if (cmd.length === 0) throw new Error('Missing command after HEALTHCHECK CMD');
  hc.test = [json ? 'CMD' : 'CMD-SHELL', ...cmd];
  hc.interval = durationFlag('interval', interval.value);
  hc.timeout = durationFlag('timeout', timeout.value);
  hc.startPeriod = durationFlag('start-period', startPeriod.value);
  hc.startInterval = durationFlag('start-interval', startInterval.value);
  if (retries.value !== '') {
    const r = retries.value;
    if (!/^[+-]?\d+$/.test(r)) throw new Error(`strconv.ParseInt: parsing ${goQuote(r)}: invalid syntax`);
    const n = Number(r);
    if (n > 2147483647 || n < -2147483648) throw new Error(`strconv.ParseInt: parsing ${goQuote(r)}: value out of range`);
    if (n < 0) throw new Error(`--retries cannot be negative (${n})`);
    hc.retries = n;
  }
  return hc;
}

function located(e: unknown, node: Node, src: SourceRef): DockerfileParseError {
  if (e instanceof DockerfileParseError) return e;
  const reason = e instanceof Error ? e.message : String(e);
  return new DockerfileParseError(reason, node.startLine, node.endLine, src);
}

/**
 * One parsed instruction node → a Stage (FROM) or a Command. Used for ONBUILD
 * triggers at build time too. Errors are DockerfileParseError at the node's lines.
 */
export function parseInstruction(node: Node, escapeToken = '\\', src: SourceRef = { filename: 'Dockerfile', lines: [] }): Stage | Command {
  try {
    return parseNode(node, escapeToken);
  } catch (e) {
    // Without the file, show the instruction text itself at its line.
    const lines = src.lines.length || node.startLine < 1 ? src.lines : [...Array<string>(node.startLine - 1).fill(''), node.original];
    throw located(e, node, { ...src, lines });
  }
}

export function isStage(x: Stage | Command): x is Stage {
  return !('kind' in x);
}

/** Parse a whole Dockerfile into stages and meta ARGs. */
export function parseInstructions(text: string | Uint8Array, opts: ParseOptions = {}): Instructions {
  const str = typeof text === 'string' ? text : new TextDecoder('utf-8', { ignoreBOM: true }).decode(text);
  const { ast, escapeToken, warnings } = parseDockerfile(str, opts);
  const src = sourceOf(str, opts.filename);
  const stages: Stage[] = [];
  const metaArgs: ArgCommand[] = [];
  for (const node of ast.children) {
    const x = parseInstruction(node, escapeToken, src);
    if (isStage(x)) stages.push(x);
    else if (stages.length === 0 && x.kind === 'arg') metaArgs.push(x);
    else if (stages.length === 0) throw new DockerfileParseError('no build stage in current context', node.startLine, node.endLine, src);
    else stages[stages.length - 1].commands.push(x);
  }
  return { stages, metaArgs, warnings, escapeToken };
}
