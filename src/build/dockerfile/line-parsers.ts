/**
 * Per-instruction argument parsers (BuildKit's line_parsers.go): each turns the
 * text after the keyword and flags into the `next` chain of argument nodes.
 * No variable expansion or quote removal happens here.
 */
import { newNode, type Node } from './node';
import { goQuote, isSpace, RE_WHITESPACE, splitFirstWhitespace, trimLeftSpace } from './text';

export const ERR_NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

export interface LineParse {
  next?: Node;
  json?: boolean;
}

/** Parses the instruction text that follows the keyword; supplied by the parser (needed by ONBUILD). */
export type SubParser = (line: string) => Node;

/** Build a `next` chain from values. */
export function chain(values: readonly string[]): Node | undefined {
  let head: Node | undefined;
  for (let i = values.length - 1; i >= 0; i--) head = newNode(values[i], head);
  return head;
}

/**
 * Split on unquoted whitespace, keeping quotes and escapes in the words
 * (they are removed later by the shell lexer). Used by ENV, LABEL and ARG.
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  const cs = Array.from(rest);
  const n = cs.length;
  let phase: 'space' | 'word' | 'quote' = 'space';
  let quote = '';
  let blankOK = false; // a quoted empty string ('') is still a word
  let word = '';
  for (let i = 0; i <= n; i++) {
    let ch = i < n ? cs[i] : '';
    if (phase === 'space') {
      if (i === n) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (i === n) {
      if (blankOK || word) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'space';
        if (blankOK || word) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escapeToken) {
        if (i + 1 === n) continue; // a trailing escape is dropped
        // an escaped character (even a quote) is kept with its escape
        word += ch;
        ch = cs[++i];
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = 'word';
    // the escape token escapes nothing inside single quotes
    if (ch === escapeToken && quote !== "'") {
      if (i + 1 === n) {
        phase = 'word';
        continue;
      }
      word += ch;
      ch = cs[++i];
    }
    word += ch;
  }
  return words;
}

/** ENV / LABEL: `key value` (old form, sep "") or `k=v k2=v2` (sep "="), as key/value/sep triples. */
export function parseNameVal(rest: string, key: string, escapeToken: string): Node | undefined {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return undefined;
  if (!words[0].includes('=')) {
    const [name, value] = splitFirstWhitespace(rest);
    if (value === undefined) throw new Error(`${key} must have two arguments`);
    return chain([name, value, '']);
  }
  const values: string[] = [];
  for (const w of words) {
    const i = w.indexOf('=');
    if (i < 0) throw new Error(`Syntax error - can't find = in ${goQuote(w)}. Must be of the form: name=value`);
    values.push(w.slice(0, i), w.slice(i + 1), '=');
  }
  return chain(values);
}

/** ARG: the words as written (`name`, `name=value`). */
export function parseNameOrNameVal(rest: string, escapeToken: string): LineParse {
  return { next: chain(parseWords(rest, escapeToken)) };
}

/** FROM, EXPOSE: whitespace-separated words. */
export function parseStringsWhitespaceDelimited(rest: string): LineParse {
  return rest === '' ? {} : { next: chain(rest.split(RE_WHITESPACE)) };
}

/** MAINTAINER, USER, WORKDIR, STOPSIGNAL: the whole text as one argument. */
export function parseString(rest: string): LineParse {
  return rest === '' ? {} : { next: newNode(rest) };
}

/** A JSON array of strings; null when the text is not a JSON array at all. Throws on non-string elements. */
export function parseJSON(rest: string): string[] | null {
  const t = trimLeftSpace(rest);
  if (!t.startsWith('[')) return null;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return null;
  }
  if (!Array.isArray(v)) return null;
  if (!v.every((x): x is string => typeof x === 'string')) throw new Error(ERR_NOT_STRING_ARRAY);
  return v;
}

/** CMD, ENTRYPOINT, RUN, SHELL: exec form if valid JSON, else the whole text as one argument (shell form). */
export function parseMaybeJSON(rest: string): LineParse {
  if (rest === '') return {};
  const arr = parseJSON(rest);
  return arr ? { next: chain(arr), json: true } : { next: newNode(rest) };
}

/** ADD, COPY, VOLUME: exec form if valid JSON, else whitespace-separated words. */
export function parseMaybeJSONToList(rest: string): LineParse {
  const arr = parseJSON(rest);
  return arr ? { next: chain(arr), json: true } : parseStringsWhitespaceDelimited(rest);
}

/** HEALTHCHECK: a type word (CMD, NONE, …) then a command in either form. */
export function parseHealthConfig(rest: string): LineParse {
  let sep = 0;
  while (sep < rest.length && !isSpace(rest[sep])) sep++;
  if (sep === 0) return {};
  let next = sep;
  while (next < rest.length && isSpace(rest[next])) next++;
  const cmd = parseMaybeJSON(rest.slice(next));
  return { next: newNode(rest.slice(0, sep), cmd.next), json: cmd.json };
}

/** ONBUILD: the rest is an instruction of its own, nested as a child. */
export function parseSubCommand(rest: string, sub: SubParser): LineParse {
  if (rest === '') return {};
  const holder = newNode();
  holder.children.push(sub(rest));
  return { next: holder };
}

/** Unknown instructions keep an empty argument node (they fail later, in instructions.ts). */
export function parseIgnore(): LineParse {
  return { next: newNode() };
}
