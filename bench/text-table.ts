/** Plain-text table with aligned columns: numbers right-aligned, text left-aligned. */
export type Cell = string | number;

export function textTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, col) => Math.max(...text.map((row) => (row[col] ?? '').length)));
  const numeric = header.map((_, col) => rows.length > 0 && rows.every((row) => typeof row[col] === 'number' || /^[\d.,×x%-]+$/.test(String(row[col]))));
  const line = (row: readonly string[]) =>
    row
      .map((cell, col) => (numeric[col] ? cell.padStart(widths[col] ?? 0) : cell.padEnd(widths[col] ?? 0)))
      .join(' | ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(header), rule, ...text.slice(1).map(line)].join('\n');
}
