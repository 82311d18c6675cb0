/**
 * Executor for parsed templates (semantics of Go's text/template/exec.go).
 * Values are untyped JS: plain objects and Maps act as Go maps, arrays as
 * slices, functions found as fields as methods. `undefined` plays Go's
 * "invalid value" (a missing key, printed "<no value>"), `null` a nil.
 */
import { ArgError, isTrue, type TemplateFunc } from './funcs';
import { nodeString, type Arg, type Cmd, type Node, type Pipe } from './parser';
import { fmtValue, goType, mapEntries } from './printf';

export class TemplateExecError extends Error {}

export interface ExecEnv {
  src: string;
  funcs: Record<string, TemplateFunc>;
  /** Argument counts to enforce, for the builtins only. */
  arity: Record<string, [number, number]>;
  /** Go's Option("missingkey=error"). */
  missingKeyError: boolean;
}

/** No final (piped-in) argument; distinct from undefined, which is a value. */
const NOARG: unique symbol = Symbol('noarg');
const BREAK = { signal: 'break' };
const CONTINUE = { signal: 'continue' };

type Ctx = Arg | Cmd | Pipe;

/** Appends output to `out` as it goes, so callers can keep partial output on error. */
export function execute(env: ExecEnv, root: Node[], data: unknown, out: string[]): void {
  new State(env, out, data).walkList(data, root);
}

class State {
  private vars: { name: string; value: unknown }[];

  constructor(
    private env: ExecEnv,
    private out: string[],
    data: unknown,
  ) {
    this.vars = [{ name: '$', value: data }];
  }

  private fail(node: Ctx, msg: string): never {
    const before = this.env.src.slice(0, node.pos);
    const nl = before.lastIndexOf('\n');
    const line = before.split('\n').length;
    let ctx = nodeString(node);
    if (ctx.length > 20) ctx = ctx.slice(0, 20) + '...';
    throw new TemplateExecError(`template: :${line}:${nl < 0 ? node.pos : node.pos - nl - 1}: executing "" at <${ctx}>: ${msg}`);
  }

  walkList(dot: unknown, list: Node[]): void {
    for (const n of list) this.walk(dot, n);
  }

  private walk(dot: unknown, n: Node): void {
    switch (n.k) {
      case 'text':
        this.out.push(n.text);
        return;
      case 'action': {
        const v = this.evalPipeline(dot, n.pipe);
        if (n.pipe.decl.length === 0) this.out.push(v === undefined ? '<no value>' : fmtValue(v));
        return;
      }
      case 'if':
      case 'with': {
        const mark = this.vars.length;
        const v = this.evalPipeline(dot, n.pipe);
        if (isTrue(v)) this.walkList(n.k === 'with' ? v : dot, n.list);
        else if (n.elseList) this.walkList(dot, n.elseList);
        this.vars.length = mark;
        return;
      }
      case 'range':
        return this.walkRange(dot, n);
      case 'break':
        throw BREAK;
      case 'continue':
        throw CONTINUE;
    }
  }

  private walkRange(dot: unknown, n: Extract<Node, { k: 'range' }>): void {
    const mark = this.vars.length;
    const val = this.evalPipeline(dot, n.pipe);
    const top = this.vars.length;
    const decl = n.pipe.decl;
    let count = 0;
    // Returns false on {{break}}.
    const one = (key: unknown, elem: unknown): boolean => {
      count++;
      if (n.pipe.assign) {
        if (decl.length > 1) this.setVar(n.pipe, decl[0], key);
        this.setVar(n.pipe, decl[decl.length - 1], elem);
      } else if (decl.length > 0) {
        // With two variables the index comes first, the element second.
        this.vars[top - 1].value = elem;
        if (decl.length > 1) this.vars[top - 2].value = key;
      }
      try {
        this.walkList(elem, n.list);
      } catch (e) {
        if (e === BREAK) return false;
        if (e !== CONTINUE) throw e;
      } finally {
        this.vars.length = top;
      }
      return true;
    };
    if (Array.isArray(val)) {
      for (let i = 0; i < val.length && one(i, val[i]); i++);
    } else if (typeof val === 'number' && Number.isInteger(val)) {
      if (decl.length > 1) this.fail(n.pipe, `can't use ${val} to iterate over more than one variable`);
      for (let i = 0; i < val && one(i, i); i++);
    } else if (val !== null && typeof val === 'object') {
      for (const [k, v] of mapEntries(val)) if (!one(k, v)) break;
    } else if (val !== null && val !== undefined) {
      this.fail(n.pipe, `range can't iterate over ${fmtValue(val)}`);
    }
    if (count === 0 && n.elseList) this.walkList(dot, n.elseList);
    this.vars.length = mark;
  }

  private evalPipeline(dot: unknown, pipe: Pipe): unknown {
    let v: unknown = NOARG;
    for (const cmd of pipe.cmds) v = this.evalCommand(dot, cmd, v);
    for (const name of pipe.decl) {
      if (pipe.assign) this.setVar(pipe, name, v);
      else this.vars.push({ name, value: v });
    }
    return v;
  }

  private evalCommand(dot: unknown, cmd: Cmd, final: unknown): unknown {
    const first = cmd.args[0];
    switch (first.k) {
      case 'field':
        return this.evalFieldChain(dot, dot, first, first.ids, cmd.args, final);
      case 'chain':
        return this.evalFieldChain(dot, this.evalArg(dot, first.node), first, first.ids, cmd.args, final);
      case 'var':
        if (first.ids.length) return this.evalFieldChain(dot, this.varValue(first), first, first.ids, cmd.args, final);
        break;
      case 'ident':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'nil':
        this.fail(first, 'nil is not a command');
    }
    if (cmd.args.length > 1 || final !== NOARG) this.fail(first, `can't give argument to non-function ${nodeString(first)}`);
    return this.evalArg(dot, first);
  }

  private evalArg(dot: unknown, a: Arg): unknown {
    switch (a.k) {
      case 'dot':
        return dot;
      case 'nil':
        return null;
      case 'bool':
      case 'num':
      case 'str':
        return a.v;
      case 'pipe':
        return this.evalPipeline(dot, a.pipe);
      case 'ident':
        return this.evalFunction(dot, a, a, [a], NOARG);
      case 'var':
        return a.ids.length ? this.evalFieldChain(dot, this.varValue(a), a, a.ids, [a], NOARG) : this.varValue(a);
      default:
        return this.evalCommand(dot, { pos: a.pos, args: [a] }, NOARG);
    }
  }

  private evalFieldChain(dot: unknown, recv: unknown, node: Arg, ids: string[], args: Arg[], final: unknown): unknown {
    for (let i = 0; i < ids.length - 1; i++) recv = this.evalField(dot, ids[i], node, [], NOARG, recv);
    return this.evalField(dot, ids[ids.length - 1], node, args, final, recv);
  }

  private evalField(dot: unknown, name: string, node: Arg, args: Arg[], final: unknown, recv: unknown): unknown {
    if (recv === undefined || recv === null) {
      // Go yields "no value" for a field of a missing value; for a field of
      // nil it errors, but we stay lenient there too: JSON data has nulls
      // where Docker's structs have omitted fields.
      if (!this.env.missingKeyError) return undefined;
      this.fail(node, recv === undefined ? `nil data; no entry for key "${name}"` : `nil pointer evaluating interface {}.${name}`);
    }
    if (typeof recv !== 'object' || Array.isArray(recv)) this.fail(node, `can't evaluate field ${name} in type ${goType(recv)}`);
    let has: boolean;
    let v: unknown;
    if (recv instanceof Map) {
      has = recv.has(name);
      v = recv.get(name);
    } else {
      // Prototype members count (getters, methods), Object.prototype's do not.
      has = name in recv && (Object.hasOwn(recv, name) || !(name in Object.prototype));
      v = has ? (recv as Record<string, unknown>)[name] : undefined;
    }
    if (typeof v === 'function') {
      const argv = args.slice(1).map((a) => this.evalArg(dot, a));
      if (final !== NOARG) argv.push(final);
      try {
        return (v as TemplateFunc).apply(recv, argv);
      } catch (e) {
        this.fail(node, `error calling ${name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (args.length > 1 || final !== NOARG) this.fail(node, `${name} is not a method but has arguments`);
    if (!has && this.env.missingKeyError) this.fail(node, `map has no entry for key "${name}"`);
    return v;
  }

  private evalFunction(dot: unknown, ident: Extract<Arg, { k: 'ident' }>, cmd: Ctx, args: Arg[], final: unknown): unknown {
    const name = ident.name;
    const got = args.length - 1 + (final === NOARG ? 0 : 1);
    const ar = this.env.arity[name];
    if (ar && (got < ar[0] || (ar[1] >= 0 && got > ar[1]))) {
      this.fail(ident, `wrong number of args for ${name}: want ${ar[1] < 0 ? 'at least ' : ''}${ar[0]} got ${got}`);
    }
    if (name === 'and' || name === 'or') {
      // Short-circuit: later arguments are not evaluated.
      let v: unknown;
      for (const a of args.slice(1)) {
        v = this.evalArg(dot, a);
        if (isTrue(v) === (name === 'or')) return v;
      }
      return final === NOARG ? v : final;
    }
    const argv = args.slice(1).map((a) => this.evalArg(dot, a));
    if (final !== NOARG) argv.push(final);
    try {
      return this.env.funcs[name](...argv);
    } catch (e) {
      if (e instanceof TemplateExecError) throw e;
      if (e instanceof ArgError) this.fail(ident, e.message);
      this.fail(cmd, `error calling ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private varValue(node: Extract<Arg, { k: 'var' }>): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i].name === node.name) return this.vars[i].value;
    this.fail(node, `undefined variable: ${node.name}`);
  }

  private setVar(pipe: Pipe, name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i].name === name) {
        this.vars[i].value = value;
        return;
      }
    }
    this.fail(pipe, `undefined variable: ${name}`);
  }
}
