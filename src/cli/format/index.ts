/**
 * `--format` support: a subset of Go's text/template plus Docker CLI's
 * formatting conventions (table/json modes, extra functions).
 */
import { InvalidArgumentError } from '../../errors';
import { execute, TemplateExecError, type ExecEnv } from './exec';
import { ARITY, builtins, goJSON, headerFuncs, type TemplateFunc } from './funcs';
import { parse, TemplateSyntaxError, type Arg, type Node } from './parser';
import { tabwrite } from './tabwriter';

export interface Template {
  execute(data: unknown): string;
}

export interface TemplateOptions {
  /** 'error' = Go's Option("missingkey=error"): a missing map key fails instead of printing "<no value>". */
  missingKey?: 'default' | 'error';
}

class Compiled implements Template {
  constructor(
    readonly root: Node[],
    private env: ExecEnv,
  ) {}

  execute(data: unknown): string {
    const out: string[] = [];
    try {
      this.run(data, out);
    } catch (e) {
      if (e instanceof TemplateExecError) throw new InvalidArgumentError(e.message);
      throw e;
    }
    return out.join('');
  }

  /** Throws TemplateExecError; output produced before an error stays in `out`. */
  run(data: unknown, out: string[], funcs?: Record<string, TemplateFunc>): void {
    execute(funcs ? { ...this.env, funcs: { ...this.env.funcs, ...funcs } } : this.env, this.root, data, out);
  }
}

function compile(src: string, funcs?: Record<string, TemplateFunc>, opts?: TemplateOptions): Compiled {
  const all = funcs ? { ...builtins, ...funcs } : builtins;
  const arity = { ...ARITY };
  for (const name of Object.keys(funcs ?? {})) delete arity[name];
  const root = parse(src, (name) => Object.hasOwn(all, name));
  return new Compiled(root, { src, funcs: all, arity, missingKeyError: opts?.missingKey === 'error' });
}

/** Parses a template with Go's builtins and Docker's functions (json, join, split, title, lower, upper, pad, truncate) plus `funcs`. */
export function parseTemplate(src: string, funcs?: Record<string, (...args: unknown[]) => unknown>, opts?: TemplateOptions): Template {
  try {
    return compile(src, funcs, opts);
  } catch (e) {
    if (e instanceof TemplateSyntaxError) throw new InvalidArgumentError(e.message);
    throw e;
  }
}

/** Docker CLI wraps both parse and execution errors this way. */
function dockerError(e: unknown): never {
  if (e instanceof TemplateSyntaxError || e instanceof TemplateExecError) {
    throw new InvalidArgumentError(`template parsing error: ${e.message}`);
  }
  throw e;
}

/**
 * Docker CLI --format semantics over many rows (ps, images, ...):
 * '' or 'table' → opts.defaultFormat; 'json' → one JSON object per line;
 * 'table <tmpl>' → a header row (the template run over header names with
 * Docker's pass-through header functions) plus rows, aligned by a tabwriter;
 * otherwise the template per row, each followed by '\n'. As Docker does, the
 * two-character sequences `\t` and `\n` in the format become tab and newline.
 */
export function renderFormat(format: string, rows: unknown[], opts: { defaultFormat: string; headers?: Record<string, string> }): string {
  let f = format === '' || format === 'table' ? opts.defaultFormat : format;
  if (f === 'json') return rows.map((r) => goJSON(r) + '\n').join('');
  const table = f.startsWith('table');
  if (table) f = f.slice('table'.length);
  f = f.replace(/^ +| +$/g, '').replace(/\\([tn])/g, (_m, c: string) => (c === 't' ? '\t' : '\n'));
  let tmpl: Compiled;
  const out: string[] = [];
  try {
    tmpl = compile(f);
    for (const row of rows) {
      tmpl.run(row, out);
      out.push('\n');
    }
  } catch (e) {
    dockerError(e);
  }
  if (!table) return out.join('');
  const headerData: Record<string, string> = {};
  for (const name of fieldNames(tmpl.root)) headerData[name] = opts.headers?.[name] ?? defaultHeader(name);
  const header: string[] = [];
  try {
    tmpl.run(headerData, header, headerFuncs);
  } catch {
    // Docker ignores header errors (e.g. `.A.B` on a header string) and keeps what was printed.
  }
  // docker/cli: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
  return tabwrite(header.join('') + '\n' + out.join(''), 10, 3);
}

/** Single object (inspect -f): executes once and appends '\n'; 'json' → JSON of the object. */
export function renderOne(format: string, data: unknown, opts?: TemplateOptions): string {
  if (format === 'json') return goJSON(data) + '\n';
  const out: string[] = [];
  try {
    compile(format, undefined, opts).run(data, out);
  } catch (e) {
    dockerError(e);
  }
  return out.join('') + '\n';
}

/** "CreatedAt" → "CREATED AT", "ID" → "ID". */
function defaultHeader(field: string): string {
  return field.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();
}

/** First names of every `.Field` in the template, for the header row. */
function fieldNames(list: Node[], names = new Set<string>()): Set<string> {
  const arg = (a: Arg): void => {
    if (a.k === 'field') names.add(a.ids[0]);
    else if (a.k === 'chain') arg(a.node);
    else if (a.k === 'pipe') a.pipe.cmds.forEach((c) => c.args.forEach(arg));
  };
  for (const n of list) {
    if (n.k === 'text' || n.k === 'break' || n.k === 'continue') continue;
    n.pipe.cmds.forEach((c) => c.args.forEach(arg));
    if (n.k !== 'action') {
      fieldNames(n.list, names);
      if (n.elseList) fieldNames(n.elseList, names);
    }
  }
  return names;
}
