/** BuildKit's low-level Dockerfile AST (parser.Node) and its S-expression dump. */
import { goQuote } from './text';

export interface Heredoc {
  /** Terminator word after quote removal (`<<"EOF"` → `EOF`). */
  name: string;
  /** Lines between the instruction and the terminator, each with its newline; leading tabs kept even for `<<-`. */
  content: string;
  /** False when any part of the terminator word was quoted: the body is then not variable-expanded. */
  expand: boolean;
  /** `<<-`: strip leading tabs when the body is used (see chompHeredocContent). */
  chomp: boolean;
  /** Digits before `<<` (`3<<EOF` → 3), else 0. */
  fileDescriptor: number;
}

/**
 * One instruction (a child of the root) or one argument (a link of `next`).
 * `value` is the instruction keyword as written, or the argument text;
 * ONBUILD's argument node carries the sub-instruction in `children`.
 */
export interface Node {
  value: string;
  next?: Node;
  children: Node[];
  heredocs: Heredoc[];
  flags: string[];
  attributes: { json?: boolean };
  /** The instruction line, continuations joined (heredoc bodies not included). */
  original: string;
  /** 1-based lines the instruction spans, continuation and heredoc lines included. */
  startLine: number;
  endLine: number;
}

export function newNode(value = '', next?: Node): Node {
  return { value, next, children: [], heredocs: [], flags: [], attributes: {}, original: '', startLine: 0, endLine: 0 };
}

/** Node.Dump(): `(run "a" "b")` per instruction, flags as a quoted list, ONBUILD nested. */
export function dumpNode(node: Node): string {
  let s = node.value.toLowerCase();
  if (node.flags.length > 0) s += ` [${node.flags.map(goQuote).join(' ')}]`;
  for (const c of node.children) s += `(${dumpNode(c)})\n`;
  for (let n = node.next; n; n = n.next) s += ' ' + (n.children.length > 0 ? dumpNode(n) : goQuote(n.value));
  return s.trim();
}
