/**
 * BuildKit's Dockerfile parser (frontend/dockerfile/parser): lines → AST of
 * instructions with raw arguments, flags, heredoc bodies and line ranges.
 * Instruction names are not checked here (see instructions.ts), so the output
 * can be compared with BuildKit's `Node.Dump()`.
 */
import { DirectiveParser } from './directives';
import { DockerfileParseError, sourceOf } from './errors';
import { heredocsFromLine } from './heredoc';
import * as lp from './line-parsers';
import { newNode, type Node } from './node';
import { splitCommand } from './split-command';
import { trimLeftSpace, trimNewline } from './text';

export type { Heredoc, Node } from './node';
export { dumpNode } from './node';
export { chompHeredocContent, heredocsFromLine, parseHeredoc } from './heredoc';
export { detectSyntax, findDirectiveValue, DirectiveParser } from './directives';
export { parseJSON, parseNameVal, parseWords } from './line-parsers';
export { DockerfileParseError } from './errors';

export interface ParseWarning {
  /** BuildKit's short text, e.g. `Empty continuation line found in: RUN a b`. */
  message: string;
  detail: string;
  url: string;
  /** 1-based line where the instruction ends. */
  line: number;
}

export interface ParseResult {
  /** Root node: one child per instruction, spanning the first to the last instruction line. */
  ast: Node;
  /** `\` or `` ` `` (from `# escape=`). */
  escapeToken: string;
  warnings: ParseWarning[];
}

export interface ParseOptions {
  /** Name used in error messages (default `Dockerfile`). */
  filename?: string;
}

/** BuildKit reads lines with Go's bufio.Scanner, whose limit is 64 KiB including the newline. */
const MAX_LINE_BYTES = 65535;

class LineScanner {
  private pos = 0;
  tooLong = false;

  constructor(private readonly text: string) {}

  /** The next line with its newline, or null at the end or at a line over the limit. */
  next(): string | null {
    const { text } = this;
    if (this.tooLong || this.pos >= text.length) return null;
    const i = text.indexOf('\n', this.pos);
    const end = i < 0 ? text.length : i + 1;
    const contentEnd = i < 0 ? end : i;
    // Only long lines can be over the limit: a UTF-16 unit is at most 3 UTF-8 bytes.
    if (contentEnd - this.pos > MAX_LINE_BYTES / 3 && Buffer.byteLength(text.slice(this.pos, contentEnd)) > MAX_LINE_BYTES) {
      this.tooLong = true;
      return null;
    }
    const line = text.slice(this.pos, end);
    this.pos = end;
    return line;
  }
}

/** `…x\` (escape token, then only blanks) continues; `…\\` does not. */
function continuationRegex(escapeToken: string): RegExp {
  const e = escapeToken === '\\' ? '\\\\' : escapeToken;
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

const isComment = (line: string): boolean => trimLeftSpace(line).startsWith('#');
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function dispatch(cmd: string, rest: string, esc: string): lp.LineParse {
  switch (cmd) {
    case 'add':
    case 'copy':
    case 'volume':
      return lp.parseMaybeJSONToList(rest);
    case 'arg':
      return lp.parseNameOrNameVal(rest, esc);
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell':
      return lp.parseMaybeJSON(rest);
    case 'env':
      return { next: lp.parseNameVal(rest, 'ENV', esc) };
    case 'label':
      return { next: lp.parseNameVal(rest, 'LABEL', esc) };
    case 'expose':
    case 'from':
      return lp.parseStringsWhitespaceDelimited(rest);
    case 'healthcheck':
      return lp.parseHealthConfig(rest);
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return lp.parseString(rest);
    case 'onbuild':
      return lp.parseSubCommand(rest, (line) => nodeFromLine(line, esc));
    default:
      return lp.parseIgnore();
  }
}

/** One joined instruction line → its node (without line numbers or heredoc bodies). */
export function nodeFromLine(line: string, escapeToken: string): Node {
  const { cmd, flags, args } = splitCommand(line, escapeToken);
  const r = dispatch(cmd.toLowerCase(), args, escapeToken);
  const node = newNode(cmd, r.next);
  node.original = line;
  node.flags = flags;
  if (r.json) node.attributes.json = true;
  return node;
}

/** Only RUN, COPY and ADD (also under ONBUILD) in shell form read heredoc bodies. */
function canContainHeredoc(node: Node): boolean {
  let n = node;
  if (n.value.toLowerCase() === 'onbuild' && n.next && n.next.children.length > 0) n = n.next.children[0];
  const v = n.value.toLowerCase();
  return (v === 'run' || v === 'copy' || v === 'add') && !n.attributes.json;
}

export function parseDockerfile(input: string | Uint8Array, opts: ParseOptions = {}): ParseResult {
  const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
  const fail = (reason: string, line: number, endLine = line): never => {
    throw new DockerfileParseError(reason, line, endLine, sourceOf(text, opts.filename));
  };
  const sc = new LineScanner(text);
  const directives = new DirectiveParser();
  let escapeToken = '\\';
  let contRe = continuationRegex(escapeToken);
  const root = newNode();
  root.startLine = -1;
  const warnings: ParseWarning[] = [];
  let currentLine = 0;

  // Strip the newline (and leading blanks on an instruction's first line), let
  // the directive parser see the line, and blank out comments.
  const processLine = (raw: string, stripLeft: boolean): string => {
    let t = trimNewline(raw);
    if (stripLeft) t = trimLeftSpace(t);
    let d = null;
    try {
      d = directives.parseLine(t);
    } catch (e) {
      fail(messageOf(e), currentLine + 1);
    }
    if (d?.name === 'escape') {
      if (d.value !== '`' && d.value !== '\\') fail(`invalid escape token '${d.value}' does not match \` or \\`, currentLine + 1);
      escapeToken = d.value;
      contRe = continuationRegex(escapeToken);
    }
    return isComment(t) ? '' : t;
  };
  const trimContinuation = (s: string): [string, boolean] => (contRe.test(s) ? [s.replace(contRe, '$1'), false] : [s, true]);

  for (let raw = sc.next(); raw !== null; raw = sc.next()) {
    if (currentLine === 0 && raw.startsWith('\uFEFF')) raw = raw.slice(1);
    const first = processLine(raw, true);
    currentLine++;
    const startLine = currentLine;
    let [line, eol] = trimContinuation(first);
    if (eol && line === '') continue; // blank line, comment or directive

    let hasEmptyContinuation = false;
    while (!eol) {
      const r = sc.next();
      if (r === null) break;
      const t = processLine(r, false);
      currentLine++;
      if (isComment(r)) continue; // comments inside a continuation are dropped silently
      if (trimLeftSpace(t) === '') {
        hasEmptyContinuation = true;
        continue;
      }
      const [piece, end] = trimContinuation(t);
      line += piece;
      eol = end;
    }
    if (hasEmptyContinuation) {
      warnings.push({
        message: 'Empty continuation line found in: ' + line,
        detail: 'Empty continuation lines will become errors in a future release',
        url: 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/',
        line: currentLine,
      });
    }

    let child = newNode();
    try {
      child = nodeFromLine(line, escapeToken);
    } catch (e) {
      fail(messageOf(e), startLine, currentLine);
    }

    if (canContainHeredoc(child) && line.includes('<<')) {
      let docs: ReturnType<typeof heredocsFromLine> = [];
      try {
        docs = heredocsFromLine(line);
      } catch (e) {
        fail(messageOf(e), startLine, currentLine);
      }
      // Bodies follow in order; a body line equal to another heredoc's name is content.
      for (const h of docs) {
        let terminated = false;
        let content = '';
        for (let r = sc.next(); r !== null; r = sc.next()) {
          currentLine++;
          let t = trimNewline(r);
          if (h.chomp) t = t.replace(/^\t+/, '');
          if (t === h.name) {
            terminated = true;
            break;
          }
          content += r;
        }
        if (!terminated) fail('unterminated heredoc', startLine, currentLine);
        h.content = content;
        child.heredocs.push(h);
      }
    }

    child.startLine = startLine;
    child.endLine = currentLine;
    if (root.startLine < 0) root.startLine = startLine;
    root.endLine = currentLine;
    root.children.push(child);
  }

  if (root.startLine < 0) fail('file with no instructions', 0);
  if (sc.tooLong) fail(`dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`, currentLine + 1);
  return { ast: root, escapeToken, warnings };
}
