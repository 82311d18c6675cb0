/**
 * Parser for the Go text/template subset: builds the node tree and performs
 * Go's parse-time checks (functions defined, variables declared, {{break}}
 * placement). Errors read like Go's: `template: :LINE: message`.
 */
import { lex, type Token } from './lexer';

interface At {
  pos: number;
}
export type Arg =
  | (At & { k: 'field'; ids: string[] })
  | (At & { k: 'var'; name: string; ids: string[] })
  | (At & { k: 'chain'; node: Arg; ids: string[] })
  | (At & { k: 'ident'; name: string })
  | (At & { k: 'dot' })
  | (At & { k: 'nil' })
  | (At & { k: 'bool'; v: boolean })
  | (At & { k: 'num'; v: number; text: string })
  | (At & { k: 'str'; v: string; text: string })
  | (At & { k: 'pipe'; pipe: Pipe });

export interface Cmd extends At {
  args: Arg[];
}
export interface Pipe extends At {
  decl: string[];
  assign: boolean;
  cmds: Cmd[];
}
export type Node =
  | { k: 'text'; text: string }
  | (At & { k: 'action'; pipe: Pipe })
  | (At & Control & { k: 'if' })
  | (At & Control & { k: 'with' })
  | (At & Control & { k: 'range' })
  | (At & { k: 'break' })
  | (At & { k: 'continue' });
interface Control {
  pipe: Pipe;
  list: Node[];
  elseList: Node[] | null;
}

type Item = Node | { k: 'end' } | { k: 'else' } | { k: 'comment' };

export class TemplateSyntaxError extends Error {}

export function parse(src: string, hasFunc: (name: string) => boolean): Node[] {
  return new Parser(src, hasFunc).parse();
}

class Parser {
  private toks: Token[];
  private i = 0;
  private vars = ['$'];
  private rangeDepth = 0;

  constructor(
    src: string,
    private hasFunc: (name: string) => boolean,
  ) {
    this.toks = lex(src);
  }

  parse(): Node[] {
    const root: Node[] = [];
    while (this.peek().t !== 'eof') {
      const n = this.textOrAction();
      if (n.k === 'end' || n.k === 'else') this.fail(`unexpected {{${n.k}}}`);
      if (n.k !== 'comment') root.push(n);
    }
    return root;
  }

  private fail(msg: string): never {
    const tok = this.toks[Math.max(0, Math.min(this.i, this.toks.length) - 1)];
    throw new TemplateSyntaxError(`template: :${tok.line}: ${msg}`);
  }
  private next(): Token {
    return this.toks[Math.min(this.i++, this.toks.length - 1)];
  }
  private peek(): Token {
    return this.toks[Math.min(this.i, this.toks.length - 1)];
  }
  private nextNonSpace(): Token {
    let t = this.next();
    while (t.t === 'space') t = this.next();
    return t;
  }
  private peekNonSpace(): Token {
    const t = this.nextNonSpace();
    this.i--;
    return t;
  }
  private unexpected(tok: Token, context: string): never {
    if (tok.t === 'error') this.fail(tok.v);
    const desc =
      tok.t === 'eof' ? 'EOF' : tok.t === 'kw' ? `<${tok.v}>` : tok.v.length > 10 ? `${JSON.stringify(tok.v.slice(0, 10))}...` : JSON.stringify(tok.v);
    this.fail(`unexpected ${desc} in ${context}`);
  }
  private expectRight(context: string): void {
    const t = this.nextNonSpace();
    if (t.t !== 'right') this.unexpected(t, context);
  }

  private textOrAction(): Item {
    const tok = this.nextNonSpace();
    if (tok.t === 'text') return { k: 'text', text: tok.v };
    if (tok.t === 'comment') return { k: 'comment' };
    if (tok.t === 'left') return this.action();
    this.unexpected(tok, 'input');
  }

  private itemList(): [Node[], Item] {
    const list: Node[] = [];
    while (this.peekNonSpace().t !== 'eof') {
      const n = this.textOrAction();
      if (n.k === 'end' || n.k === 'else') return [list, n];
      if (n.k !== 'comment') list.push(n);
    }
    this.fail('unexpected EOF');
  }

  private action(): Item {
    const tok = this.nextNonSpace();
    if (tok.t === 'kw') {
      switch (tok.v) {
        case 'break':
        case 'continue':
          if (this.rangeDepth === 0) this.fail(`{{${tok.v}}} outside {{range}}`);
          this.expectRight(tok.v);
          return { k: tok.v, pos: tok.pos };
        case 'else': {
          // "else if"/"else with": leave the keyword pending for control().
          const p = this.peekNonSpace();
          if (p.t !== 'kw' || (p.v !== 'if' && p.v !== 'with')) this.expectRight('else');
          return { k: 'else' };
        }
        case 'end':
          this.expectRight('end');
          return { k: 'end' };
        case 'if':
        case 'with':
        case 'range':
          return this.control(tok.v, tok.pos);
        default:
          this.fail(`{{${tok.v}}} is not supported`);
      }
    }
    this.i--;
    return { k: 'action', pos: tok.pos, pipe: this.pipeline('command', 'right') };
  }

  private control(ctx: 'if' | 'with' | 'range', pos: number): Node {
    const mark = this.vars.length;
    const pipe = this.pipeline(ctx, 'right');
    if (ctx === 'range') this.rangeDepth++;
    const [list, next] = this.itemList();
    if (ctx === 'range') this.rangeDepth--;
    let elseList: Node[] | null = null;
    if (next.k === 'else') {
      const p = this.peek();
      if (ctx !== 'range' && p.t === 'kw' && p.v === ctx) {
        // {{else if b}}…{{end}} is {{else}}{{if b}}…{{end}}{{end}}.
        this.next();
        elseList = [this.control(ctx, p.pos)];
      } else {
        let end: Item;
        [elseList, end] = this.itemList();
        if (end.k !== 'end') this.fail('expected end; found {{else}}');
      }
    }
    this.vars.length = mark;
    return { k: ctx, pos, pipe, list, elseList };
  }

  private pipeline(ctx: string, end: 'right' | 'rparen'): Pipe {
    const pipe: Pipe = { pos: this.peekNonSpace().pos, decl: [], assign: false, cmds: [] };
    for (;;) {
      const save = this.i;
      const v = this.nextNonSpace();
      if (v.t !== 'var') {
        this.i = save;
        break;
      }
      const op = this.nextNonSpace();
      if (op.t === 'declare' || op.t === 'assign') {
        pipe.assign = op.t === 'assign';
        if (pipe.assign && !this.vars.includes(v.v)) this.fail(`undefined variable "${v.v}"`);
        pipe.decl.push(v.v);
        this.vars.push(v.v);
        break;
      }
      if (op.t === 'other' && op.v === ',') {
        pipe.decl.push(v.v);
        this.vars.push(v.v);
        if (ctx === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace().t;
          if (p === 'var' || p === 'right' || p === 'rparen') continue;
          this.fail('range can only initialize variables');
        }
        this.fail(`too many declarations in ${ctx}`);
      }
      this.i = save;
      break;
    }
    for (;;) {
      const tok = this.nextNonSpace();
      if (tok.t === end) break;
      if (!OPERAND_START.has(tok.t)) this.unexpected(tok, ctx);
      this.i--;
      pipe.cmds.push(this.command());
    }
    if (pipe.cmds.length === 0) this.fail(`missing value for ${ctx}`);
    pipe.cmds.forEach((c, i) => {
      if (i > 0 && ['bool', 'dot', 'nil', 'num', 'str'].includes(c.args[0].k)) {
        this.fail(`non executable command in pipeline stage ${i + 1}`);
      }
    });
    return pipe;
  }

  private command(): Cmd {
    const cmd: Cmd = { pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const op = this.operand();
      if (op) cmd.args.push(op);
      const tok = this.next();
      if (tok.t === 'space') continue;
      if (tok.t === 'right' || tok.t === 'rparen') this.i--;
      else if (tok.t !== 'pipe') this.unexpected(tok, 'operand');
      break;
    }
    if (cmd.args.length === 0) this.fail('empty command');
    return cmd;
  }

  private operand(): Arg | null {
    const node = this.term();
    if (!node || this.peek().t !== 'field') return node;
    const pos = this.peek().pos; // Go positions a chain at its first ".Field"
    const ids: string[] = [];
    while (this.peek().t === 'field') ids.push(this.next().v.slice(1));
    switch (node.k) {
      case 'field':
        return { k: 'field', pos, ids: [...node.ids, ...ids] };
      case 'var':
        return { k: 'var', pos, name: node.name, ids };
      case 'ident':
      case 'pipe':
        return { k: 'chain', pos, node, ids };
      default:
        this.fail(`unexpected . after term ${JSON.stringify(nodeString(node))}`);
    }
  }

  private term(): Arg | null {
    const tok = this.nextNonSpace();
    const pos = tok.pos;
    switch (tok.t) {
      case 'ident':
        if (!this.hasFunc(tok.v)) this.fail(`function "${tok.v}" not defined`);
        return { k: 'ident', pos, name: tok.v };
      case 'dot':
        return { k: 'dot', pos };
      case 'nil':
        return { k: 'nil', pos };
      case 'var':
        if (!this.vars.includes(tok.v)) this.fail(`undefined variable "${tok.v}"`);
        return { k: 'var', pos, name: tok.v, ids: [] };
      case 'field':
        return { k: 'field', pos, ids: [tok.v.slice(1)] };
      case 'bool':
        return { k: 'bool', pos, v: tok.v === 'true' };
      case 'num':
      case 'char': {
        const v = tok.t === 'char' ? charValue(tok.v) : parseNumber(tok.v);
        if (v === null) this.fail(`${tok.t === 'char' ? 'malformed character constant' : 'illegal number syntax'}: ${tok.v}`);
        return { k: 'num', pos, v, text: tok.v };
      }
      case 'str':
      case 'raw': {
        const v = tok.t === 'raw' ? tok.v.slice(1, -1) : unquote(tok.v.slice(1, -1), '"');
        if (v === null) this.fail('invalid syntax');
        return { k: 'str', pos, v, text: tok.v };
      }
      case 'lparen':
        return { k: 'pipe', pos, pipe: this.pipeline('parenthesized pipeline', 'rparen') };
      default:
        this.i--;
        return null;
    }
  }
}

const OPERAND_START = new Set(['bool', 'char', 'dot', 'field', 'ident', 'num', 'nil', 'raw', 'str', 'var', 'lparen']);

function parseNumber(text: string): number | null {
  const neg = text.startsWith('-');
  const body = text.replace(/^[+-]/, '').replace(/_/g, '');
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$|^0[oO][0-7]+$|^0[bB][01]+$/.test(body)) v = Number(body);
  else if (/^0[0-7]+$/.test(body)) v = parseInt(body, 8); // Go's legacy octal
  else if (/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(body)) v = Number(body);
  else return null;
  return neg ? -v : v;
}

function charValue(text: string): number | null {
  const s = unquote(text.slice(1, -1), "'");
  const cps = s === null ? [] : [...s];
  return cps.length === 1 ? (cps[0].codePointAt(0) ?? null) : null;
}

const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** Go string-literal unescaping (strconv.Unquote); null on bad syntax. */
function unquote(s: string, quote: '"' | "'"): string | null {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = s[++i];
    if (e in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[e];
    else if (e === quote) out += e;
    else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = s.slice(i + 1, i + 1 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return null;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) return null;
      out += String.fromCodePoint(cp);
      i += n;
    } else if (e !== undefined && e >= '0' && e <= '7') {
      const oct = s.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return null;
      out += String.fromCharCode(parseInt(oct, 8));
      i += 2;
    } else return null;
  }
  return out;
}

/** Go's Node.String(), used as the context of execution errors. */
export function nodeString(n: Arg | Cmd | Pipe): string {
  if ('cmds' in n) {
    const decl = n.decl.length ? `${n.decl.join(', ')} ${n.assign ? '=' : ':='} ` : '';
    return decl + n.cmds.map(nodeString).join(' | ');
  }
  if (!('k' in n)) return n.args.map((a) => (a.k === 'pipe' ? `(${nodeString(a)})` : nodeString(a))).join(' ');
  const dots = (ids: string[]): string => ids.map((id) => `.${id}`).join('');
  switch (n.k) {
    case 'field':
      return dots(n.ids);
    case 'var':
      return n.name + dots(n.ids);
    case 'chain':
      return (n.node.k === 'pipe' ? `(${nodeString(n.node)})` : nodeString(n.node)) + dots(n.ids);
    case 'ident':
      return n.name;
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'bool':
      return String(n.v);
    case 'num':
    case 'str':
      return n.text;
    case 'pipe':
      return nodeString(n.pipe);
  }
}
