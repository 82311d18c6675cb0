/** Dockerfile errors that point at the offending lines, like `docker build` does. */
import { InvalidArgumentError } from '../../errors';

export interface SourceRef {
  /** Shown in messages: `Dockerfile:7: …`. */
  filename: string;
  /** The file's lines, for the snippet; empty when only the instruction text is known. */
  lines: readonly string[];
}

const MAX_SNIPPET = 6;

/**
 * A Dockerfile that cannot be parsed. `reason` is BuildKit's wording alone
 * (e.g. `unknown instruction: RUNN`); `message` adds `<file>:<line>: ` in front
 * and the offending lines below, numbered.
 */
export class DockerfileParseError extends InvalidArgumentError {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly endLine: number,
    source: SourceRef,
  ) {
    super(formatMessage(reason, line, endLine, source));
  }
}

function formatMessage(reason: string, line: number, endLine: number, src: SourceRef): string {
  if (line < 1) return `${src.filename}: ${reason}`;
  let msg = `${src.filename}:${line}: ${reason}`;
  const last = Math.min(Math.max(endLine, line), src.lines.length);
  const width = String(last).length;
  for (let n = line; n <= last && n < line + MAX_SNIPPET; n++) {
    msg += `\n ${String(n).padStart(width)} | ${src.lines[n - 1].replace(/\r$/, '')}`;
  }
  if (last >= line + MAX_SNIPPET) msg += `\n ${' '.repeat(width)} | …`;
  return msg;
}

export function sourceOf(text: string, filename = 'Dockerfile'): SourceRef {
  return { filename, lines: text.split('\n') };
}
