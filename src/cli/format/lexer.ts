/**
 * Lexer for the Go text/template subset (states after text/template/parse/lex.go).
 * Lexes eagerly into an array; a lexing error becomes an 'error' token so the
 * parser reports errors in source order, as Go does.
 */

export type TokenType =
  | 'text' | 'left' | 'right' | 'comment' | 'space' | 'ident' | 'field' | 'var' | 'dot'
  | 'str' | 'raw' | 'char' | 'num' | 'bool' | 'nil' | 'kw' | 'pipe' | 'lparen' | 'rparen'
  | 'declare' | 'assign' | 'other' | 'error' | 'eof';

export interface Token {
  t: TokenType;
  /** Source text of the token (the message for 'error'). */
  v: string;
  pos: number;
  line: number;
}

const KEYWORDS = new Set(['block', 'break', 'continue', 'define', 'else', 'end', 'if', 'range', 'template', 'with']);

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isAlnum = (c: string | undefined): boolean => c !== undefined && /[\p{L}\p{Nd}_]/u.test(c);

export function lex(src: string): Token[] {
  const toks: Token[] = [];
  let pos = 0;
  let linePos = 0;
  let line = 1;
  const lineAt = (p: number): number => {
    for (; linePos < p; linePos++) if (src[linePos] === '\n') line++;
    return line;
  };
  const emit = (t: TokenType, start: number, end: number): void => {
    toks.push({ t, v: src.slice(start, end), pos: start, line: lineAt(start) });
  };
  const fail = (msg: string): Token[] => {
    toks.push({ t: 'error', v: msg, pos, line: lineAt(pos) });
    toks.push({ t: 'eof', v: '', pos: src.length, line: lineAt(pos) });
    return toks;
  };
  // " -}}" (space, dash, delimiter) ends an action and trims following spaces.
  const atRightTrim = (p: number): boolean => isSpace(src[p]) && src.startsWith('-}}', p + 1);
  const skipSpaces = (p: number): number => {
    while (isSpace(src[p])) p++;
    return p;
  };

  while (pos < src.length) {
    const open = src.indexOf('{{', pos);
    if (open < 0) {
      emit('text', pos, src.length);
      pos = src.length;
      break;
    }
    const trimLeft = src[open + 2] === '-' && isSpace(src[open + 3]);
    let textEnd = open;
    if (trimLeft) while (textEnd > pos && isSpace(src[textEnd - 1])) textEnd--;
    if (textEnd > pos) emit('text', pos, textEnd);
    pos = open + 2 + (trimLeft ? 2 : 0);

    if (src.startsWith('/*', pos)) {
      const close = src.indexOf('*/', pos + 2);
      if (close < 0) return fail('unclosed comment');
      let p = close + 2;
      const trimRight = atRightTrim(p);
      if (trimRight) p += 2;
      if (!src.startsWith('}}', p)) {
        pos = p;
        return fail('comment ends before closing delimiter');
      }
      emit('comment', open, p + 2);
      pos = trimRight ? skipSpaces(p + 2) : p + 2;
      continue;
    }

    emit('left', open, open + 2);
    let depth = 0;
    for (;;) {
      const trimRight = atRightTrim(pos);
      if (trimRight || src.startsWith('}}', pos)) {
        if (depth > 0) return fail('unclosed left paren');
        const start = trimRight ? pos + 2 : pos;
        emit('right', start, start + 2);
        pos = trimRight ? skipSpaces(start + 2) : start + 2;
        break;
      }
      if (pos >= src.length) return fail('unclosed action');
      const c = src[pos];
      const start = pos;
      if (isSpace(c)) {
        let p = skipSpaces(pos);
        // The space right before "-}}" belongs to the trim marker.
        if (src.startsWith('-}}', p)) p--;
        if (p > pos) emit('space', pos, p);
        pos = p;
      } else if (c === '=') {
        emit('assign', pos, ++pos);
      } else if (c === ':') {
        if (src[pos + 1] !== '=') return fail('expected :=');
        pos += 2;
        emit('declare', start, pos);
      } else if (c === '|') {
        emit('pipe', pos, ++pos);
      } else if (c === '"' || c === "'") {
        pos++;
        for (;;) {
          const d = src[pos++];
          if (d === '\\' && pos < src.length) pos++;
          else if (d === undefined || d === '\n') {
            pos = start;
            return fail(c === '"' ? 'unterminated quoted string' : 'unterminated character constant');
          } else if (d === c) break;
        }
        emit(c === '"' ? 'str' : 'char', start, pos);
      } else if (c === '`') {
        const close = src.indexOf('`', pos + 1);
        if (close < 0) return fail('unterminated raw quote');
        pos = close + 1;
        emit('raw', start, pos);
      } else if (c === '(') {
        depth++;
        emit('lparen', pos, ++pos);
      } else if (c === ')') {
        if (--depth < 0) return fail('unexpected right paren');
        emit('rparen', pos, ++pos);
      } else if (c === '$' || (c === '.' && !/[0-9]/.test(src[pos + 1] ?? ''))) {
        pos++;
        while (isAlnum(src[pos])) pos++;
        if (!atTerminator(pos)) return fail(`bad character ${goRune(src.codePointAt(pos) ?? 0)}`);
        emit(c === '$' ? 'var' : pos - start === 1 ? 'dot' : 'field', start, pos);
      } else if (/[0-9+\-.]/.test(c)) {
        pos = scanNumber(src, pos);
        if (isAlnum(src[pos])) return fail(`bad number syntax: ${JSON.stringify(src.slice(start, pos + 1))}`);
        emit('num', start, pos);
      } else if (isAlnum(c)) {
        while (isAlnum(src[pos])) pos++;
        if (!atTerminator(pos)) return fail(`bad character ${goRune(src.codePointAt(pos) ?? 0)}`);
        const word = src.slice(start, pos);
        emit(KEYWORDS.has(word) ? 'kw' : word === 'true' || word === 'false' ? 'bool' : word === 'nil' ? 'nil' : 'ident', start, pos);
      } else if (c >= ' ' && c <= '~') {
        emit('other', pos, ++pos);
      } else {
        return fail(`unrecognized character in action: ${goRune(src.codePointAt(pos) ?? 0)}`);
      }
    }
  }
  toks.push({ t: 'eof', v: '', pos: src.length, line: lineAt(src.length) });
  return toks;

  function atTerminator(p: number): boolean {
    const c = src[p];
    return c === undefined || isSpace(c) || '.,|:()'.includes(c) || src.startsWith('}}', p);
  }
}

function scanNumber(src: string, pos: number): number {
  if (src[pos] === '+' || src[pos] === '-') pos++;
  const hex = /^0[xX]/.test(src.slice(pos, pos + 2));
  for (;;) {
    const c = src[pos];
    if (c !== undefined && /[0-9a-zA-Z_.]/.test(c)) pos++;
    // Exponent signs: e/E for decimal, p/P for hex floats.
    else if ((c === '+' || c === '-') && (hex ? /[pP]/ : /[eE]/).test(src[pos - 1])) pos++;
    else return pos;
  }
}

/** Go's %#U rendering of a rune, used in lexer messages. */
function goRune(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')} '${String.fromCodePoint(cp)}'`;
}
