/** Heredoc detection (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) in RUN / COPY / ADD lines. */
import type { Heredoc } from './node';
import { processWords } from './shell';

// Go's \s is [\t\n\f\r ]
const HEREDOC_RE = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const NO_ENV = (): undefined => undefined;
const countQuotes = (s: string): number => {
  let n = 0;
  for (const c of s) if (c === "'" || c === '"') n++;
  return n;
};

/**
 * One word → a heredoc (content still empty) or null. Throws on unbalanced
 * quotes in the terminator. The body is expanded only if no part of the
 * terminator was quoted.
 */
export function parseHeredoc(word: string): Heredoc | null {
  const m = HEREDOC_RE.exec(word);
  if (!m || m[3] === '') return null;
  const rest = m[3];
  const words = processWords(rest, NO_ENV, { skipUnsetEnv: true });
  if (words.length !== 1) return null;
  const raw = processWords(rest, NO_ENV, { skipUnsetEnv: true, rawQuotes: true });
  if (raw.length !== 1) throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  const fd = m[1] === '' ? 0 : Number(m[1]);
  return {
    name: words[0],
    content: '',
    expand: countQuotes(words[0]) === countQuotes(raw[0]),
    chomp: m[2] === '-',
    fileDescriptor: Number.isSafeInteger(fd) ? fd : 0,
  };
}

/** The heredocs a whole instruction line opens, in order. A line that does not lex has none. */
export function heredocsFromLine(line: string): Heredoc[] {
  let words: string[];
  try {
    words = processWords(line, NO_ENV, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  } catch {
    return [];
  }
  const docs: Heredoc[] = [];
  for (const w of words) {
    const h = parseHeredoc(w);
    if (h) docs.push(h);
  }
  return docs;
}

/** `<<-` bodies: drop leading tabs from every line (only after \n, unlike JS's multiline ^). */
export function chompHeredocContent(src: string): string {
  return src.replace(/(^|\n)\t+/g, '$1');
}
