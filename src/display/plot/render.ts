/**
 * A figure's mime bundle: the Plotly JSON (for renderers that draw it themselves: JupyterLab with
 * the plotly extension, VS Code), HTML that draws it with the page's plotly.js (classic Notebook,
 * JupyterLab, nbconvert HTML), and a one-line text summary. The chart HTML never contains plotly.js.
 * Every figure goes through `normalizeFigure` here, so the JSON draws the same in plotly.js 2, 3 and 4.
 */
import { randomUUID } from "crypto";
import type { MimeBundle } from "../display";
import { libraryHtml, libraryMode, plotlyLibrary, type LibraryMode } from "./library";
import { normalizeFigure } from "./normalize";
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
export function chartHtml(fig: FigureJSON, summary: string, key: string = randomUUID(), mode: LibraryMode = libraryMode()): string {
  return drawHtml(normalizeFigure(fig), summary, key, mode);
}

/**
 * What the chart's HTML shows until plotly.js draws it: all a page that runs no scripts shows (an
 * untrusted notebook: JupyterLab and Notebook sanitise its HTML, keeping a span's text). Plain text.
 */
export function placeholderText(summary: string, mode: LibraryMode): string {
  if (mode === "none") {
    return (
      `${summary}. Not drawn: plotly.js was not embedded in this notebook (LEPTON_PLOTLY=none or lepton.plot.setLibraryMode("none")). ` +
      "Open it where Plotly JSON is drawn (JupyterLab with the plotly extension, VS Code), or run " +
      'lepton.plot.setLibraryMode("embed") (or unset LEPTON_PLOTLY) and re-run the notebook.'
    );
  }
  return (
    `${summary}. Not drawn: this page ran no scripts. Trust the notebook (jupyter trust file.ipynb, or "Trust Notebook" ` +
    "in JupyterLab's command palette; lepton run and lepton course sign what they write), re-run the cell, or open it where " +
    "Plotly JSON is drawn (JupyterLab with the plotly extension, VS Code)."
  );
}

function drawHtml(fig: FigureJSON, summary: string, key: string, mode: LibraryMode): string {
  const id = `lepton-plot-${randomUUID()}`;
  const width = cssSize(fig.layout.width, "100%");
  const height = cssSize(fig.layout.height, "450px");
  const placeholder =
    `<span class="lepton-plot-placeholder" style="color:#888;font:12px sans-serif">${escapeHtml(placeholderText(summary, mode))}</span>`;
  const waiting =
    mode === "none"
      ? placeholderText(summary, mode)
      : "Waiting for plotly.js: the output that carries it is not on this page. " +
        "Run lepton.plot.includeLibrary() in a cell (or re-run the notebook from the top).";
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
    `      el.firstChild && (el.firstChild.textContent = ${scriptJSON(waiting)});\n` +
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

/** The full mime bundle of a figure (without the library), its JSON normalised (./normalize). */
export function chartBundle(fig: FigureJSON, summary: string, key: string = randomUUID()): MimeBundle {
  const json = normalizeFigure(fig);
  return {
    [PLOTLY_MIME]: json,
    "text/html": drawHtml(json, summary, key, libraryMode()),
    "text/plain": summary,
  };
}

/** A standalone HTML page (library included, whatever the library mode) that draws the figure from a file, offline. */
export function pageHtml(fig: FigureJSON, summary: string): string {
  const title = escapeHtml(summary);
  return (
    `<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>${title}</title>\n</head>\n<body>\n` +
    libraryHtml(plotlyLibrary()) +
    "\n" +
    chartHtml(fig, summary, randomUUID(), "embed") +
    "\n</body>\n</html>\n"
  );
}
