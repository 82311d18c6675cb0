/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`): only at the very
 * top of the file, one per name, ended by the first line that is not one.
 */
import { trimLeftSpace } from './text';

export interface Directive {
  name: string;
  value: string;
  /** 1-based line. */
  line: number;
}

const KNOWN = new Set(['syntax', 'escape', 'check']);
// Go's \s is [\t\n\f\r ]; `.` is anything but \n.
const DIRECTIVE_RE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;

export class DirectiveParser {
  private done = false;
  private readonly seen = new Set<string>();

  constructor(
    private line = 0,
    private readonly comment = '#',
  ) {}

  /** The directive on this line, or null; throws on a repeated directive. */
  parseLine(text: string): Directive | null {
    this.line++;
    if (this.done) return null;
    if (!text.startsWith(this.comment)) {
      this.done = true;
      return null;
    }
    const m = DIRECTIVE_RE.exec(trimLeftSpace(text.slice(this.comment.length)));
    const name = m?.[1].toLowerCase();
    if (!m || !name || !KNOWN.has(name)) {
      this.done = true;
      return null;
    }
    if (this.seen.has(name)) throw new Error(`only one ${name} parser directive can be used`);
    this.seen.add(name);
    return { name, value: m[2], line: this.line };
  }

  /** All directives at the top of `text` (errors end the scan, as in BuildKit's ParseAll). */
  parseAll(text: string): Directive[] {
    const out: Directive[] = [];
    for (const raw of splitLines(text)) {
      if (this.done) break;
      try {
        const d = this.parseLine(raw);
        if (d) out.push(d);
      } catch {
        break;
      }
    }
    return out;
  }
}

/** Go's bufio.ScanLines: split on \n, drop one trailing \r, no empty last line. */
function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

export interface DetectedDirective {
  /** The value up to its first space (for syntax: the frontend image reference). */
  ref: string;
  /** The whole value. */
  cmdline: string;
  startLine: number;
  endLine: number;
}

/**
 * BuildKit's DetectSyntax: a `syntax` directive as `# syntax=`, `// syntax=`
 * or a JSON document `{"syntax": …}`; a UTF-8 BOM and a `#!` first line are skipped.
 */
export function detectSyntax(text: string): DetectedDirective | null {
  return findDirective('syntax', text, true);
}

/** BuildKit's ParseDirective: like detectSyntax for any key, `#` comments only. */
export function findDirectiveValue(key: string, text: string): DetectedDirective | null {
  return findDirective(key, text, false);
}

function findDirective(key: string, text: string, anyFormat: boolean): DetectedDirective | null {
  let dt = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let line = 0;
  const nl = dt.indexOf('\n');
  if (dt.startsWith('#!')) {
    dt = nl < 0 ? '' : dt.slice(nl + 1);
    line = 1;
  }
  for (const prefix of anyFormat ? ['#', '//'] : ['#']) {
    const d = new DirectiveParser(line, prefix).parseAll(dt).find((x) => x.name === key);
    if (d) return { ref: d.value.split(' ')[0], cmdline: d.value, startLine: d.line, endLine: d.line };
  }
  if (!anyFormat) return null;
  try {
    const doc: unknown = JSON.parse(dt);
    if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
      const v = (doc as Record<string, unknown>)[key];
      if (typeof v === 'string' && Object.prototype.hasOwnProperty.call(doc, key)) {
        return { ref: v, cmdline: v, startLine: line, endLine: line };
      }
    }
  } catch {
    // not JSON: no directive
  }
  return null;
}
