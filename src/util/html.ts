/**
 * Small HTML and number-formatting helpers shared by the display layer and the data layer (which
 * builds its own rich views without importing src/display).
 */

/** The method name a value implements to choose how Jupyter shows it (same symbol as display.ts). */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as any;

/** Text made safe inside HTML elements and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);
}

/** A float32 value in the fewest digits that read back as the same float32 (at most 8), e.g. 0.1, 2, 1e-7. */
export function formatFloat32(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return String(v);
  const f = Math.fround(v);
  for (let p = 1; p < 8; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === f) return String(s);
  }
  return String(Number(v.toPrecision(8)));
}

/** A statistic (mean, std, quantile) in at most 6 significant digits: 5.84333, 0.5, 1200. */
export function formatStat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  return String(Number(v.toPrecision(6)));
}

/** Right-align strings to the same width. */
export function padAll(parts: string[]): string[] {
  const width = parts.reduce((w, p) => Math.max(w, p.length), 0);
  return parts.map((p) => p.padStart(width));
}

/** Style of a compact monospace table cell. */
export const CELL_STYLE = "text-align:right;font-family:monospace;padding:1px 6px";
