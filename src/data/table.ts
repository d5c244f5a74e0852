/**
 * A small table of values with named columns and a row index, as `head()` and `describe()` return:
 * shown in a notebook as an HTML table, and as aligned text (pandas style) elsewhere.
 */
import { CELL_STYLE, JUPYTER_DISPLAY, escapeHtml, formatStat } from "../util/html";

export type Cell = string | number;

export class DataTable {
  constructor(
    /** Column names. */
    readonly columns: readonly string[],
    /** One array of cells per row, in column order. */
    readonly rows: readonly (readonly Cell[])[],
    /** The label of each row (sample numbers for head(), statistic names for describe()). */
    readonly index: readonly Cell[],
    /** Shown above the HTML table. */
    readonly title?: string,
  ) {}

  /** The cells of one column, top to bottom. */
  column(name: string): Cell[] {
    const c = this.columns.indexOf(name);
    if (c < 0) throw new Error(`DataTable: no column "${name}"; the columns are ${this.columns.join(", ")}.`);
    return this.rows.map((r) => r[c]);
  }

  /** The cell in the row labelled `row` (e.g. "mean") and column `column`. */
  get(row: Cell, column: string): Cell {
    const r = this.index.indexOf(row);
    if (r < 0) throw new Error(`DataTable: no row "${row}"; the rows are ${this.index.join(", ")}.`);
    return this.column(column)[r];
  }

  /** Rows as objects `{ column: value }`. */
  toJSON(): Record<string, Cell>[] {
    return this.rows.map((r) => Object.fromEntries(this.columns.map((c, i) => [c, r[i]])));
  }

  /** Aligned text: the index on the left, each column right-aligned under its name. */
  toString(): string {
    const text = (v: Cell) => (typeof v === "number" ? formatStat(v) : v);
    const index = this.index.map((v) => String(v));
    const indexWidth = index.reduce((w, s) => Math.max(w, s.length), 0);
    const cols = this.columns.map((name, c) => {
      const cells = this.rows.map((r) => text(r[c]));
      const width = cells.reduce((w, s) => Math.max(w, s.length), name.length);
      return { name: name.padStart(width), cells: cells.map((s) => s.padStart(width)) };
    });
    const lines = [" ".repeat(indexWidth) + cols.map((c) => "  " + c.name).join("")];
    index.forEach((label, r) => lines.push(label.padEnd(indexWidth) + cols.map((c) => "  " + c.cells[r]).join("")));
    return (this.title ? this.title + "\n" : "") + lines.map((l) => l.trimEnd()).join("\n");
  }

  toHtml(): string {
    const text = (v: Cell) => escapeHtml(typeof v === "number" ? formatStat(v) : v);
    const th = `style="${CELL_STYLE}"`;
    const head = `<tr><th ${th}></th>${this.columns.map((c) => `<th ${th}>${escapeHtml(c)}</th>`).join("")}</tr>`;
    const body = this.rows
      .map((r, i) => `<tr><th ${th}>${escapeHtml(String(this.index[i]))}</th>${r.map((v) => `<td style="${CELL_STYLE}">${text(v)}</td>`).join("")}</tr>`)
      .join("");
    const caption = this.title ? `<caption style="text-align:left">${escapeHtml(this.title)}</caption>` : "";
    return `<table class="lepton-table" style="border-collapse:collapse">${caption}<thead>${head}</thead><tbody>${body}</tbody></table>`;
  }

  [JUPYTER_DISPLAY](): { "text/plain": string; "text/html": string } {
    return { "text/plain": this.toString(), "text/html": this.toHtml() };
  }
}

/** Linear-interpolation quantile of sorted values (NumPy's and pandas' default). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** count, mean, std (n - 1), min, 25%, 50%, 75%, max of each column (NaN left out), as pandas' describe(). */
export function describeColumns(columns: readonly { name: string; values: ArrayLike<number> }[], title?: string): DataTable {
  const index = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"];
  const stats = columns.map(({ values }) => {
    const v = Float64Array.from(values).filter((x) => !Number.isNaN(x)).sort();
    const n = v.length;
    let sum = 0;
    for (const x of v) sum += x;
    const mean = n ? sum / n : NaN;
    let ss = 0;
    for (const x of v) ss += (x - mean) * (x - mean);
    const std = n > 1 ? Math.sqrt(ss / (n - 1)) : NaN;
    return [n, mean, std, n ? v[0] : NaN, quantile(v, 0.25), quantile(v, 0.5), quantile(v, 0.75), n ? v[n - 1] : NaN];
  });
  const rows = index.map((_, r) => stats.map((s) => s[r]));
  return new DataTable(columns.map((c) => c.name), rows, index, title);
}
