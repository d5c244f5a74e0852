/**
 * plotly.js, delivered to the notebook page once per kernel session.
 *
 * How charts get plotly.js with no network:
 *  - The library is read at runtime from the installed npm package `plotly.js-dist-min` (plotly.js 4,
 *    the line plotly.py 7 bundles; `LEPTON_PLOTLY_JS=/path/to/plotly.js` overrides) — never from a
 *    CDN. Every figure's JSON is normalised (./normalize) so that plotly.js 2.35 and 3.x draw it the
 *    same, for frontends and pages that bring their own copy.
 *  - Not embedding it: `setLibraryMode("none")` (this kernel session) or `LEPTON_PLOTLY=none` (the
 *    environment) sends no library output at all; charts keep their Plotly JSON and text, and their
 *    HTML says how to get plotly.js. For frontends that draw the Plotly JSON themselves (JupyterLab
 *    with the plotly extension, VS Code) and for notebooks kept in git (a few kB per chart instead of
 *    4.8 MB per notebook). There is deliberately no CDN mode: it would break the offline promise,
 *    and a `<script src>` next to require.js (classic Notebook) needs the loader dance plotly.py does.
 *  - The first chart shown in a kernel session (kernel process) is preceded by one separate
 *    `display_data` output whose HTML holds the whole library. Every chart's own HTML only waits for
 *    `window.Plotly` and draws; so a notebook with ten charts carries the library once, and live
 *    updates (which replace a chart's output) never touch or repeat it.
 *  - Keeping the library in its own output (not inside the first chart) means a live chart or a
 *    re-run chart never deletes it. After a kernel restart the first chart shown carries it again,
 *    so re-running any single cell works; "Restart & Run All" leaves exactly one copy.
 *  - Running the cell that carried it again clears it from the page: the kernel reports each cell
 *    it starts (../cells), and the next chart sends the library again, so "Run All" without a
 *    restart also saves exactly one copy. Only clearing that output by hand needs
 *    `includeLibrary()`. A restart keeps the old copy on the page and the new session sends its
 *    own: two copies until the old cell is re-run or its output cleared.
 *  - require.js (classic Notebook, nbconvert pages): the library runs inside a function whose
 *    `module`/`exports` are local, so its UMD header never calls an anonymous `define()` (which
 *    require.js rejects). It then sets `window.Plotly` and, where require.js is present, also
 *    defines the AMD module "plotly" — as plotly.py does.
 */
import { readFileSync } from "fs";
import { currentCell, ranAgainSince, type CellRun } from "../cells";
import { display, inKernel, mime, type MimeBundle } from "../display";

export interface PlotlyLibrary {
  /** The file read. */
  path: string;
  /** plotly.js version, from its package.json. */
  version: string;
  /** The JavaScript source. */
  source: string;
}

let cached: PlotlyLibrary | undefined;

/** The npm package lepton embeds plotly.js from. */
export const PLOTLY_PACKAGE = "plotly.js-dist-min";

/** Find and read plotly.js from node_modules (once per process). */
export function plotlyLibrary(): PlotlyLibrary {
  if (cached) return cached;
  const override = process.env.LEPTON_PLOTLY_JS;
  if (override) {
    try {
      cached = { path: override, version: "custom", source: readFileSync(override, "utf8") };
    } catch (e) {
      throw new Error(`lepton.plot: LEPTON_PLOTLY_JS is ${override}, which cannot be read (${(e as Error).message}). Point it at a plotly.js file, or unset it to use the installed ${PLOTLY_PACKAGE}.`);
    }
    return cached;
  }
  const file = `${PLOTLY_PACKAGE}/plotly.min.js`;
  let path: string;
  try {
    path = require.resolve(file);
  } catch {
    throw new Error(
      `lepton.plot: plotly.js is not installed (looked for ${file}). Run \`npm install ${PLOTLY_PACKAGE}\` in the project, ` +
        "set LEPTON_PLOTLY_JS to the path of a plotly.js file, or stop embedding it with LEPTON_PLOTLY=none " +
        "(for frontends that draw Plotly JSON themselves).",
    );
  }
  const version = (require(`${PLOTLY_PACKAGE}/package.json`) as { version?: string }).version ?? "unknown";
  cached = { path, version, source: readFileSync(path, "utf8") };
  return cached;
}

/**
 * Whether executed notebooks carry plotly.js: "embed" (the default: one copy per kernel session,
 * charts draw offline everywhere) or "none" (no copy: for frontends that draw the Plotly JSON
 * themselves, and small notebooks in git).
 */
export type LibraryMode = "embed" | "none";

export const LIBRARY_MODES: readonly LibraryMode[] = ["embed", "none"];

const MODE_KEY = Symbol.for("lepton.plot.libraryMode");

function checkMode(value: unknown, where: string): LibraryMode {
  if (typeof value === "string" && (LIBRARY_MODES as readonly string[]).includes(value.trim().toLowerCase())) {
    return value.trim().toLowerCase() as LibraryMode;
  }
  throw new Error(
    `lepton.plot: ${where} is ${JSON.stringify(value)}; valid values are ${LIBRARY_MODES.map((m) => `"${m}"`).join(" and ")} ` +
      '("embed": executed notebooks carry plotly.js once and draw offline; "none": no plotly.js, for frontends that draw Plotly JSON themselves).',
  );
}

/**
 * Choose for this kernel session (this notebook) whether plotly.js is embedded: `"embed"` or
 * `"none"`. `undefined` goes back to LEPTON_PLOTLY (default "embed"). Switching to "embed" after
 * charts were shown without it sends the library with the next chart.
 */
export function setLibraryMode(mode: LibraryMode | undefined): void {
  (globalThis as any)[MODE_KEY] = mode === undefined ? undefined : checkMode(mode, "setLibraryMode's mode");
}

/** The library mode in force: setLibraryMode's, else LEPTON_PLOTLY's, else "embed". */
export function libraryMode(): LibraryMode {
  const chosen = (globalThis as any)[MODE_KEY] as LibraryMode | undefined;
  if (chosen) return chosen;
  const env = process.env.LEPTON_PLOTLY;
  if (env === undefined || env.trim() === "") return "embed";
  return checkMode(env, "LEPTON_PLOTLY");
}

/** Make a string safe inside an HTML <script> element (no early `</script>`, no `<!--` state). */
export function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

let cachedHtml: { lib: PlotlyLibrary; html: string } | undefined;

/** The HTML that loads plotly.js into the page (once; later copies do nothing). */
export function libraryHtml(lib: PlotlyLibrary = plotlyLibrary()): string {
  if (cachedHtml?.lib !== lib) cachedHtml = { lib, html: buildLibraryHtml(lib) };
  return cachedHtml.html;
}

function buildLibraryHtml(lib: PlotlyLibrary): string {
  return (
    `<div class="lepton-plotly-library" data-plotly-version="${lib.version}" style="display:none"></div>\n` +
    `<script type="text/javascript">\n` +
    `(function () {\n` +
    `  if (!(window.Plotly && window.Plotly.newPlot)) {\n` +
    `    var module = { exports: {} };\n` +
    `    (function (module, exports, define) {\n` +
    scriptSafe(lib.source) +
    `\n    })(module, module.exports, undefined);\n` +
    `    window.Plotly = module.exports;\n` +
    `  }\n` +
    `  try {\n` +
    `    var rjs = window.requirejs;\n` +
    `    if (typeof window.define === "function" && window.define.amd && rjs && !(rjs.specified && rjs.specified("plotly"))) {\n` +
    `      window.define("plotly", [], function () { return window.Plotly; });\n` +
    `    }\n` +
    `  } catch (e) { /* require.js refused; window.Plotly is enough for lepton's charts */ }\n` +
    `})();\n` +
    `</script>`
  );
}

/** The mime bundle of the library output. */
export function libraryBundle(): MimeBundle {
  const lib = plotlyLibrary();
  return {
    "text/html": libraryHtml(lib),
    "text/plain": `plotly.js ${lib.version} (loaded once per kernel session for the charts below; keep this output)`,
  };
}

const SENT_KEY = Symbol.for("lepton.plot.librarySent");

/** Where this kernel session's copy of the library went: sent or not, and in which cell run. */
interface LibraryState {
  sent: boolean;
  /** The cell run whose outputs carry the library (unknown outside the Lepton kernel's cell log). */
  carrier?: CellRun;
}

/**
 * A kernel session is a kernel process: the state lives on globalThis so that every loaded copy of
 * lepton agrees, whatever sink objects the kernel installs per cell.
 */
function libraryState(): LibraryState {
  return ((globalThis as any)[SENT_KEY] as LibraryState | undefined) ?? { sent: false };
}

function markLibrarySent(sent: boolean): void {
  (globalThis as any)[SENT_KEY] = { sent, carrier: sent ? currentCell() : undefined } satisfies LibraryState;
}

/**
 * True when the page has the library output: it was sent in this session and the cell that carried
 * it has not run again since (running a cell clears its outputs, library included, so "Run All"
 * without a restart would otherwise save a notebook whose charts never draw).
 */
function librarySent(): boolean {
  const state = libraryState();
  if (!state.sent) return false;
  return !(state.carrier && ranAgainSince(state.carrier));
}

/** Forget that the library was sent, as after a kernel restart. For tests and in-process kernels. */
export function resetLibrarySession(): void {
  markLibrarySent(false);
}

/**
 * In a kernel, display the library output unless the page already has this session's copy. Returns
 * true when it was displayed now. Outside a kernel it does nothing (there is no page).
 */
export function ensureLibraryShown(): boolean {
  if (!inKernel() || libraryMode() === "none" || librarySent()) return false;
  markLibrarySent(true);
  display(mime(libraryBundle()));
  return true;
}

/**
 * Display the plotly.js library output now, even if this session already sent it. Use it when the
 * output that carried the library was cleared by hand (Cell > Clear Output) and the notebook must be
 * saved with working charts. It sends the library even when the library mode is "none".
 */
export function includeLibrary(): void {
  if (inKernel()) markLibrarySent(true);
  display(mime(libraryBundle()));
}
