/**
 * Go's text/tabwriter with padchar ' ' and flags 0: tab-terminated cells are
 * aligned per column block (consecutive lines that have that column); a
 * column is max(minwidth, widest cell + padding) wide; the text after a
 * line's last tab is not a cell and is never padded.
 */
export function tabwrite(text: string, minwidth: number, padding: number): string {
  const rows = text.split('\n').map((line) => line.split('\t'));
  const widths = rows.map(() => [] as number[]);
  const runes = (s: string): number => [...s].length;
  for (let col = 0; ; col++) {
    let any = false;
    for (let i = 0; i < rows.length; ) {
      if (rows[i].length - 1 <= col) {
        i++;
        continue;
      }
      any = true;
      let j = i;
      let w = minwidth;
      for (; j < rows.length && rows[j].length - 1 > col; j++) w = Math.max(w, runes(rows[j][col]) + padding);
      for (; i < j; i++) widths[i][col] = w;
    }
    if (!any) break;
  }
  return rows
    .map((cells, i) => cells.map((c, j) => (j < cells.length - 1 ? c + ' '.repeat(widths[i][j] - runes(c)) : c)).join(''))
    .join('\n');
}
