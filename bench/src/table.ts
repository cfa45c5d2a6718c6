export type Align = 'left' | 'right';

export interface Column {
  readonly title: string;
  readonly align: Align;
}

/** Renders rows under their column titles, each column as wide as its widest cell. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, i) =>
    Math.max(column.title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return column.align === 'left' ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(columns.map((column) => column.title)), rule, ...rows.map(line)].join('\n');
}

/** A fixed number of decimals, with thousands grouped so wide numbers stay readable. */
export function formatNumber(value: number, decimals: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function verdict(pass: boolean): 'PASS' | 'MISS' {
  return pass ? 'PASS' : 'MISS';
}

/** The columns of a benchmark's closing table: each measured figure against its target. */
export const VERDICT_COLUMNS: readonly Column[] = [
  { title: 'comparison', align: 'left' },
  { title: 'value', align: 'right' },
  { title: 'target', align: 'right' },
  { title: 'verdict', align: 'left' },
];
