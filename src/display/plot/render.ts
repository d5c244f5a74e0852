/**
 * A figure's mime bundle: the Plotly JSON (for renderers that draw it themselves: JupyterLab with
 * the plotly extension, VS Code), HTML that draws it with the page's plotly.js (classic Notebook,
 * JupyterLab, nbconvert HTML), and a one-line text summary. The chart HTML never contains plotly.js.
 */
import { randomUUID } from "crypto";
import type { MimeBundle } from "../display";
import { libraryHtml, plotlyLibrary } from "./library";
import type { FigureJSON } from "./types";

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** JSON that may sit inside a <script>: `<`, U+2028 and U+2029 escaped. */
export function scriptJSON(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function cssSize(value: unknown, fallback: string): string {
  return typeof value === "number" && value > 0 ? `${value}px` : fallback;
}

/**
 * The HTML that draws one figure. It waits (polling) until both its element is in the page and
 * `window.Plotly` exists — classic Notebook runs output scripts before attaching the output, and
 * the library output may come later in the page — then calls Plotly.newPlot. `key` names the
 * chart across live updates, so the replaced plot is purged.
 */
export function chartHtml(fig: FigureJSON, summary: string, key: string = randomUUID()): string {
  const id = `lepton-plot-${randomUUID()}`;
  const width = cssSize(fig.layout.width, "100%");
  const height = cssSize(fig.layout.height, "450px");
  const placeholder =
    `<span class="lepton-plot-placeholder" style="color:#888;font:12px sans-serif">` +
    `${escapeHtml(summary)} — drawn by plotly.js when the page runs scripts (trust the notebook if this stays blank)</span>`;
  return (
    `<div id="${id}" class="lepton-plot" data-lepton-key="${escapeHtml(key)}" style="width:${width};height:${height};max-width:100%">` +
    placeholder +
    `</div>\n` +
    `<script type="text/javascript">\n` +
    `(function () {\n` +
    `  var id = ${JSON.stringify(id)}, key = ${JSON.stringify(key)};\n` +
    `  var figure = ${scriptJSON(fig)};\n` +
    `  var waited = 0;\n` +
    `  function draw() {\n` +
    `    var el = document.getElementById(id), P = window.Plotly;\n` +
    `    if (el && P && P.newPlot) {\n` +
    `      var plots = window.__leptonPlots = window.__leptonPlots || {};\n` +
    `      if (plots[key] && plots[key] !== el) { try { P.purge(plots[key]); } catch (e) {} }\n` +
    `      plots[key] = el;\n` +
    `      el.innerHTML = "";\n` +
    `      var failed = function (e) { el.textContent = "lepton.plot: plotly.js could not draw this figure: " + (e && e.message || e); };\n` +
    `      try { var p = P.newPlot(el, figure); if (p && p.catch) p.catch(failed); } catch (e) { failed(e); }\n` +
    `      return;\n` +
    `    }\n` +
    `    if (el && waited > 10000 && !el.getAttribute("data-waiting")) {\n` +
    `      el.setAttribute("data-waiting", "1");\n` +
    `      el.firstChild && (el.firstChild.textContent = "Waiting for plotly.js: the output that carries it is not on this page. " +\n` +
    `        "Run lepton.plot.includeLibrary() in a cell (or re-run the notebook from the top).");\n` +
    `    }\n` +
    `    var delay = waited < 200 ? 0 : waited < 10000 ? 50 : 1000;\n` +
    `    waited += Math.max(delay, 5);\n` +
    `    setTimeout(draw, delay);\n` +
    `  }\n` +
    `  draw();\n` +
    `})();\n` +
    `</script>`
  );
}

/** The full mime bundle of a figure (without the library). */
export function chartBundle(fig: FigureJSON, summary: string, key?: string): MimeBundle {
  return {
    [PLOTLY_MIME]: fig,
    "text/html": chartHtml(fig, summary, key),
    "text/plain": summary,
  };
}

/** A standalone HTML page (library included) that draws the figure from a file, offline. */
export function pageHtml(fig: FigureJSON, summary: string): string {
  const title = escapeHtml(summary);
  return (
    `<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>${title}</title>\n</head>\n<body>\n` +
    libraryHtml(plotlyLibrary()) +
    "\n" +
    chartHtml(fig, summary) +
    "\n</body>\n</html>\n"
  );
}
