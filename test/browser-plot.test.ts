/**
 * Real-browser test of lepton.plot: classic Notebook 6.4 (Debian) in headless Chromium, and the
 * same notebook exported by nbconvert to HTML and opened from file:// with the network off.
 *
 * The notebook's outputs are the exact mime bundles lepton sends in a kernel session (recorded from
 * the display sink), so this checks what the page does with them: plotly.js arrives once, from the
 * first output, and every chart draws, with require.js on the page (classic Notebook) and without
 * it (nbconvert's page, whose CDN require.js is blocked).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, statSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import * as tf from "@tensorflow/tfjs";
import { setDisplaySink, toMimeBundle, type DisplaySink, type MimeBundle } from "../src/display/display";
import * as plot from "../src/display/plot";
import { CHART_CELLS } from "./fixtures/plot/charts";
import {
  PYTHON, artifactsDir, blockNetwork, dismissKernelDialog, fullScreenshot, browserTestsUnavailable, jupyterEnv, launchChromium, notebook,
  startNotebookServer, waitForCharts, writeJSON, type NotebookServer,
} from "./fixtures/plot/harness";

const unavailable = browserTestsUnavailable();
if (unavailable) console.warn(`browser-plot tests skipped: ${unavailable}`);

/** Run the chart cells in one simulated kernel session and build the executed notebook. */
function executedNotebook(): { nb: object; libraryCopies: number } {
  const outputs: MimeBundle[][] = [];
  let current: MimeBundle[] = [];
  const sink: DisplaySink = { display: (b) => current.push(b), update: () => undefined };
  setDisplaySink(sink);
  try {
    CHART_CELLS.forEach((source) => {
      current = [];
      const fig = new Function("plot", "tf", `return (${source});`)(plot, tf);
      const result = toMimeBundle(fig); // the cell's value, as the kernel asks for it
      outputs.push([...current, result]);
    });
  } finally {
    setDisplaySink(undefined);
  }
  const lib = plot.plotlyLibrary().source.slice(0, 200).split("\n").find((l) => /plotly\.js v\d/.test(l))!;
  const libraryCopies = outputs.flat().filter((b) => String(b["text/html"]).includes(lib)).length;
  const cells = CHART_CELLS.map((source, i) => ({
    cell_type: "code",
    id: `chart-${i}`,
    metadata: {},
    execution_count: i + 1,
    source: source,
    outputs: outputs[i].map((data, j) =>
      j === outputs[i].length - 1
        ? { output_type: "execute_result", execution_count: i + 1, data, metadata: {} }
        : { output_type: "display_data", data, metadata: {} },
    ),
  }));
  return { nb: notebook(cells, { name: "lepton", display_name: "Lepton (TypeScript)", language: "typescript" }), libraryCopies };
}

describe.skipIf(!!unavailable)("charts in a real browser", () => {
  const root = mkdtempSync(join(tmpdir(), "lepton-plot-browser-"));
  const nbDir = join(root, "notebooks");
  const nbPath = join(nbDir, "charts.ipynb");
  let env: NodeJS.ProcessEnv;
  let server: NotebookServer | undefined;

  beforeAll(() => {
    env = jupyterEnv(join(root, "jupyter"));
    spawnSync("mkdir", ["-p", nbDir]);
    const { nb, libraryCopies } = executedNotebook();
    expect(libraryCopies).toBe(1);
    writeJSON(nbPath, nb);
    // `jupyter trust` (Debian ships it as nbformat.sign), into this run's own trust database.
    const trust = spawnSync(PYTHON, ["-m", "nbformat.sign", nbPath], { env, encoding: "utf8" });
    expect(trust.status, trust.stderr).toBe(0);
    const size = statSync(nbPath).size;
    console.log(`notebook with ${CHART_CELLS.length} charts: ${(size / 1e6).toFixed(2)} MB ` +
      `(plotly.js ${plot.plotlyLibrary().version} = ${(plot.plotlyLibrary().source.length / 1e6).toFixed(2)} MB, once)`);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("classic Notebook draws every chart from a trusted executed notebook, offline", async () => {
    server = await startNotebookServer(nbDir, env);
    const context = await launchChromium();
    try {
      const blocked = await blockNetwork(context, [server.url]);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      const t0 = Date.now();
      await page.goto(`${server.url}/notebooks/charts.ipynb?token=${server.token}`);
      const charts = await waitForCharts(page, CHART_CELLS.length);
      const ms = Date.now() - t0;
      console.log(`classic Notebook: ${charts.length} charts drawn ${ms} ms after opening the notebook`);
      expect(charts).toHaveLength(CHART_CELLS.length);
      expect(charts.map((c) => c.title)).toContain("Loss");
      // require.js is on this page, and lepton's library also registered the AMD module "plotly".
      const amd = await page.evaluate(() => {
        const w = window as any;
        return { requirejs: typeof w.requirejs === "function", plotly: !!(w.requirejs && w.requirejs.defined && w.requirejs.specified("plotly")) };
      });
      expect(amd).toEqual({ requirejs: true, plotly: true });
      expect(errors.filter((e) => /plotly|lepton|define/i.test(e))).toEqual([]);
      await dismissKernelDialog(page);
      await fullScreenshot(page, join(artifactsDir(), "plot-classic-notebook.png"));
      expect(blocked.filter((u) => /plotly|cdn/i.test(u))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("nbconvert's HTML export draws every chart from file:// with the network off", async () => {
    const conv = spawnSync(PYTHON, ["-m", "nbconvert", "--to", "html", nbPath, "--output-dir", join(root, "html")], { env, encoding: "utf8" });
    expect(conv.status, conv.stderr).toBe(0);
    const htmlPath = join(root, "html", "charts.html");
    const html = readFileSync(htmlPath, "utf8");
    expect(html.split("lepton-plotly-library").length - 1).toBe(1);
    const context = await launchChromium();
    try {
      const blocked = await blockNetwork(context, []);
      await context.setOffline(true);
      const page = await context.newPage();
      const t0 = Date.now();
      await page.goto(pathToFileURL(htmlPath).href);
      const charts = await waitForCharts(page, CHART_CELLS.length);
      console.log(`nbconvert HTML (file://, offline): ${charts.length} charts drawn ${Date.now() - t0} ms after opening; blocked: ${blocked.join(" ")}`);
      expect(charts).toHaveLength(CHART_CELLS.length);
      await fullScreenshot(page, join(artifactsDir(), "plot-nbconvert-offline.png"));
    } finally {
      await context.close();
    }
  });
});
