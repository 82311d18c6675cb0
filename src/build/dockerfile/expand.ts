/**
 * Build-time variable expansion, where BuildKit does it: ENV, LABEL, ARG
 * defaults, WORKDIR, USER, COPY/ADD (paths, --chown, --chmod, ADD --checksum,
 * unquoted heredoc bodies), EXPOSE (split into words), VOLUME, STOPSIGNAL,
 * RUN --mount values, and FROM (image and --platform, with the meta ARGs).
 * RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK/ONBUILD text is left to the shell.
 */
import { DockerfileParseError, type SourceRef } from './errors';
import type { Command, Stage } from './instructions';
import { parseMount } from './mount';
import { processWord, processWords, type EnvLookup } from './shell';

export interface ExpandOptions {
  /** The Dockerfile's escape token (ParseResult.escapeToken). */
  escapeToken?: string;
  /** Collects the referenced variables that are set. */
  used?: Set<string>;
  /** Collects the referenced variables that are unset (BuildKit's UndefinedVar check). */
  unmatched?: Set<string>;
  /** The Dockerfile, for error snippets; defaults to the instruction's own text. */
  source?: SourceRef;
}

interface Located {
  code: string;
  startLine: number;
  endLine: number;
}

function fail(e: unknown, at: Located, opts: ExpandOptions): never {
  if (e instanceof DockerfileParseError) throw e;
  const reason = e instanceof Error ? e.message : String(e);
  const lines = opts.source?.lines.length ? opts.source.lines : [...Array<string>(Math.max(at.startLine - 1, 0)).fill(''), at.code];
  throw new DockerfileParseError(reason, at.startLine, at.endLine, { filename: opts.source?.filename ?? 'Dockerfile', lines });
}

function expander(env: EnvLookup, opts: ExpandOptions): { word: (w: string) => string; raw: (w: string) => string; words: (w: string) => string[] } {
  const escapeToken = opts.escapeToken ?? '\\';
  const track = (r: { result: string; used: Set<string>; unmatched: Set<string> }): string => {
    for (const n of r.used) opts.used?.add(n);
    for (const n of r.unmatched) opts.unmatched?.add(n);
    return r.result;
  };
  return {
    word: (w) => track(processWord(w, env, { escapeToken })),
    // heredoc bodies: quotes are content, and the escape token is always `\`
    raw: (w) => track(processWord(w, env, { skipProcessQuotes: true })),
    words: (w) => processWords(w, env, { escapeToken }),
  };
}

/** A copy of `cmd` with variables expanded from `env` (the stage's ENV and ARG values). */
export function expandCommand<T extends Command>(cmd: T, env: EnvLookup, opts: ExpandOptions = {}): T {
  try {
    return expandUnchecked(cmd, env, opts) as T;
  } catch (e) {
    return fail(e, cmd, opts);
  }
}

/** A changed copy (Object.assign: V8's `{ ...o, k }` is far slower once shapes vary). */
const change = <T extends object>(o: T, changes: Partial<T>): T => Object.assign({}, o, changes);

function expandUnchecked(cmd: Command, env: EnvLookup, opts: ExpandOptions): Command {
  const x = expander(env, opts);
  switch (cmd.kind) {
    case 'env':
    case 'label':
      return change(cmd, { pairs: cmd.pairs.map((p) => ({ key: x.word(p.key), value: x.word(p.value), noDelim: p.noDelim })) });
    case 'arg':
      // Only defaults are expanded; a --build-arg value replaces them verbatim.
      return change(cmd, { pairs: cmd.pairs.map((p) => (p.value === undefined ? { key: p.key } : { key: p.key, value: x.word(p.value) })) });
    case 'workdir':
      return change(cmd, { path: x.word(cmd.path) });
    case 'user':
      return change(cmd, { user: x.word(cmd.user) });
    case 'stopsignal':
      return change(cmd, { signal: x.word(cmd.signal) });
    case 'volume':
      return change(cmd, { paths: cmd.paths.map(x.word) });
    case 'expose':
      return change(cmd, { ports: cmd.ports.flatMap(x.words) });
    case 'copy':
    case 'add': {
      if (cmd.kind === 'copy' && cmd.from !== '' && processWord(cmd.from, {}, { escapeToken: opts.escapeToken }).result !== cmd.from) {
        throw new Error('variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround');
      }
      const common = {
        chown: x.word(cmd.chown),
        chmod: x.word(cmd.chmod),
        sources: cmd.sources.map(x.word),
        dest: x.word(cmd.dest),
        sourceContents: cmd.sourceContents.map((c) => ({ path: c.path, data: c.expand ? x.raw(c.data) : c.data, expand: c.expand })),
      };
      return cmd.kind === 'add' ? change(cmd, Object.assign(common, { checksum: x.word(cmd.checksum) })) : change(cmd, common);
    }
    case 'run':
      return change(cmd, { mounts: cmd.mountSpecs.map((s) => parseMount(s, x.word)) });
    default:
      return cmd;
  }
}

/** FROM's image and --platform, expanded with the meta ARGs (ARGs before the first FROM). */
export function expandFrom(stage: Stage, globalArgs: EnvLookup, opts: ExpandOptions = {}): { baseName: string; platform: string } {
  const x = expander(globalArgs, opts);
  let baseName = '';
  let platform = '';
  try {
    baseName = x.word(stage.baseName);
    if (baseName === '') throw new Error(`base name (${stage.baseName}) should not be blank`);
    if (stage.platform !== '') {
      try {
        platform = x.word(stage.platform);
      } catch (e) {
        throw new Error(`failed to process arguments for platform ${stage.platform}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (platform === '') throw new Error(`empty platform value from expression ${stage.platform}`);
    }
  } catch (e) {
    fail(e, stage, opts);
  }
  return { baseName, platform };
}
