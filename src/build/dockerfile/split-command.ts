/** Splitting an instruction line into keyword, `--flags` and the rest. */
import { isSpace, splitFirstWhitespace, trimSpace } from './text';

export interface SplitCommand {
  cmd: string;
  flags: string[];
  args: string;
}

export function splitCommand(line: string, escapeToken: string): SplitCommand {
  const parts = splitFirstWhitespace(trimSpace(line));
  if (parts.length === 1) return { cmd: parts[0], flags: [], args: '' };
  const { rest, flags } = extractBuilderFlags(parts[1], escapeToken);
  return { cmd: parts[0], flags, args: trimSpace(rest) };
}

/**
 * Leading words that start with `--` are flags (quotes removed, escapes
 * applied); a bare `--` ends them and is dropped. Character-wise where BuildKit
 * goes byte-wise: it mangles non-ASCII flag values, which we do not copy.
 */
export function extractBuilderFlags(line: string, escapeToken: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  const n = line.length;
  let phase: 'space' | 'word' | 'quote' = 'space';
  let quote = '';
  let blankOK = false;
  let word = '';
  for (let pos = 0; pos <= n; pos++) {
    let ch = pos < n ? line[pos] : '';
    if (phase === 'space') {
      if (pos === n) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || line[pos + 1] !== '-') return { rest: line.slice(pos), flags };
      phase = 'word';
    }
    if (pos === n) {
      if (word !== '--' && (blankOK || word)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'space';
        if (word === '--') return { rest: line.slice(pos), flags };
        if (blankOK || word) flags.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === escapeToken) {
        if (pos + 1 === n) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === escapeToken) {
      if (pos + 1 === n) {
        phase = 'word';
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return { rest: '', flags };
}
