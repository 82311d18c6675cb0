/**
 * Reading a .dockerignore file as moby/patternmatcher's ignorefile.ReadAll does: lines
 * starting with '#' in column 0 are comments, the rest are trimmed, blank ones dropped,
 * and each pattern (after a leading '!', re-trimmed) is path-cleaned with a leading '/'
 * removed. A lone '!' is kept here; PatternMatcher rejects it.
 */
import { InvalidArgumentError } from '../../errors';
import { goClean, goTrimSpace } from './gopath';

// bufio.Scanner's default limit: a line (without its newline) must fit in 64 KiB.
const MAX_LINE_BYTES = 64 * 1024;

/** Splits like bufio.ScanLines: '\n' ends a line, one trailing '\r' is dropped, no empty last line. */
function scanLines(text: string): string[] {
  const lines = text.split('\n');
  const last = lines.pop() as string;
  if (last !== '') lines.push(last);
  return lines.map((line, i) => {
    // A terminated line needs room for its '\n' in the scanner's buffer.
    const room = i < lines.length - 1 || last === '' ? MAX_LINE_BYTES - 1 : MAX_LINE_BYTES;
    if (line.length > room / 3 && Buffer.byteLength(line, 'utf8') > room) {
      throw new InvalidArgumentError('error reading .dockerignore: bufio.Scanner: token too long');
    }
    return line.endsWith('\r') ? line.slice(0, -1) : line;
  });
}

/** The patterns of a .dockerignore file's text (null/undefined = no file = no patterns). */
export function readIgnoreFile(text: string | Buffer | null | undefined): string[] {
  if (text === null || text === undefined) return [];
  let s = typeof text === 'string' ? text : text.toString('utf8');
  if (s.startsWith('\uFEFF')) s = s.slice(1); // UTF-8 BOM on the first line
  const out: string[] = [];
  for (const line of scanLines(s)) {
    if (line.startsWith('#')) continue;
    let pattern = goTrimSpace(line);
    if (pattern === '') continue;
    const invert = pattern[0] === '!';
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern[0] === '/') pattern = pattern.slice(1);
    }
    out.push(invert ? '!' + pattern : pattern);
  }
  return out;
}
