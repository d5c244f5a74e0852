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
import { resetLibrarySession } from "../src/display/plot/library";
import { CHART_CELLS } from "./fixtures/plot/charts";
import { runCommand } from "./kernel_helpers";
import {
  PYTHON, artifactsDir, blockNetwork, dismissKernelDialog, fullScreenshot, browserTestsUnavailable, jupyterEnv, launchChromium, notebook,
  startNotebookServer, waitForCharts, writeJSON, type NotebookServer,
} from "./fixtures/plot/harness";

const unavailable = browserTestsUnavailable();
if (unavailable) console.warn(`browser-plot tests skipped: ${unavailable}`);

/** Run the chart cells in one simulated kernel session and build the executed notebook. */
function executedNotebook(mode?: plot.LibraryMode): { nb: object; libraryCopies: number } {
  const outputs: MimeBundle[][] = [];
  let current: MimeBundle[] = [];
  const sink: DisplaySink = { display: (b) => current.push(b), update: () => undefined };
  setDisplaySink(sink);
  resetLibrarySession(); // a fresh kernel session
  plot.setLibraryMode(mode);
  try {
    CHART_CELLS.forEach((source) => {
      current = [];
      const fig = new Function("plot", "tf", `return (${source});`)(plot, tf);
      const result = toMimeBundle(fig); // the cell's value, as the kernel asks for it
      outputs.push([...current, result]);
    });
  } finally {
    setDisplaySink(undefined);
    plot.setLibraryMode(undefined);
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
      // The loss surface's slider replays the descent: its frames cut the path at each step.
      const replay = await page.evaluate(async () => {
        const gd = Array.from(document.querySelectorAll(".js-plotly-plot")).find((g: any) => g._fullLayout?.title?.text === "Gradient descent") as any;
        const steps = gd.layout.sliders[0].steps.map((s: any) => s.args[0][0]);
        await (window as any).Plotly.animate(gd, [steps[2]], { mode: "immediate", frame: { duration: 0, redraw: false }, transition: { duration: 0 } });
        return { steps: steps.length, pathAtStep2: gd.data[1].x.length };
      });
      expect(replay).toEqual({ steps: 5, pathAtStep2: 3 });
      await dismissKernelDialog(page);
      await fullScreenshot(page, join(artifactsDir(), "plot-classic-notebook.png"));
      expect(blocked.filter((u) => /plotly|cdn/i.test(u))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("an untrusted copy draws nothing and each chart's placeholder tells how to trust it or get charts without trust", async () => {
    // The same outputs, not signed: classic Notebook sanitises their HTML (no scripts run).
    const untrusted = JSON.parse(readFileSync(nbPath, "utf8"));
    untrusted.metadata.copied = true; // other content than the signed notebook's
    writeJSON(join(nbDir, "untrusted.ipynb"), untrusted);
    server ??= await startNotebookServer(nbDir, env);
    const context = await launchChromium();
    try {
      await blockNetwork(context, [server.url]);
      const page = await context.newPage();
      await page.goto(`${server.url}/notebooks/untrusted.ipynb?token=${server.token}`);
      await page.waitForFunction(() => (window as any).Jupyter?.notebook?._fully_loaded === true);
      await dismissKernelDialog(page);
      await page.waitForFunction((n) => document.querySelectorAll(".output_html").length >= n, CHART_CELLS.length);
      const shown = await page.evaluate(() => ({
        trusted: (window as any).Jupyter.notebook.trusted,
        charts: document.querySelectorAll(".js-plotly-plot").length,
        texts: Array.from(document.querySelectorAll(".output_html")).map((o) => (o as HTMLElement).innerText.replace(/\s+/g, " ").trim()),
      }));
      expect(shown.trusted).toBe(false);
      expect(shown.charts).toBe(0);
      const chartTexts = shown.texts.filter((t) => t.includes("Not drawn: this page ran no scripts"));
      expect(chartTexts).toHaveLength(CHART_CELLS.length);
      expect(chartTexts[0]).toMatch(/^line chart "Loss": train \(5 points\), val \(5 points\)\. Not drawn: this page ran no scripts\. Trust the notebook \(jupyter trust file\.ipynb, or "Trust Notebook" in JupyterLab's command palette; lepton run and lepton course sign what they write\), re-run the cell, or open it where Plotly JSON is drawn \(JupyterLab with the plotly extension, VS Code\)\.$/);
      await fullScreenshot(page, join(artifactsDir(), "plot-untrusted-notebook.png"));
    } finally {
      await context.close();
    }
  });

  it("with setLibraryMode(\"none\") the notebook is small, carries no plotly.js, and each chart says so and how to get it", async () => {
    const { nb, libraryCopies } = executedNotebook("none");
    expect(libraryCopies).toBe(0);
    const path = join(nbDir, "no-library.ipynb");
    writeJSON(path, nb);
    // The 14 charts' own JSON (the decision boundary's grid, images and surfaces carry their values) vs. that plus plotly.js.
    console.log(`the same notebook without plotly.js: ${(statSync(path).size / 1e6).toFixed(2)} MB (embedded: ${(statSync(nbPath).size / 1e6).toFixed(2)} MB)`);
    expect(statSync(path).size).toBeLessThan(1e6);
    expect(statSync(nbPath).size).toBeGreaterThan(4.5e6);
    const trust = spawnSync(PYTHON, ["-m", "nbformat.sign", path], { env, encoding: "utf8" });
    expect(trust.status, trust.stderr).toBe(0);
    server ??= await startNotebookServer(nbDir, env);
    const context = await launchChromium();
    try {
      await blockNetwork(context, [server.url]);
      const page = await context.newPage();
      await page.goto(`${server.url}/notebooks/no-library.ipynb?token=${server.token}`);
      await page.waitForFunction(() => (window as any).Jupyter?.notebook?._fully_loaded === true);
      await dismissKernelDialog(page);
      await page.waitForFunction((n) => document.querySelectorAll(".lepton-plot").length >= n, CHART_CELLS.length);
      const shown = await page.evaluate(() => ({
        trusted: (window as any).Jupyter.notebook.trusted,
        charts: document.querySelectorAll(".js-plotly-plot").length,
        plotly: typeof (window as any).Plotly,
        texts: Array.from(document.querySelectorAll(".lepton-plot")).map((o) => (o as HTMLElement).innerText.replace(/\s+/g, " ").trim()),
      }));
      expect(shown).toMatchObject({ trusted: true, charts: 0, plotly: "undefined" });
      expect(shown.texts).toHaveLength(CHART_CELLS.length);
      for (const t of shown.texts) {
        expect(t).toContain("plotly.js was not embedded in this notebook");
        expect(t).toContain('run lepton.plot.setLibraryMode("embed") (or unset LEPTON_PLOTLY) and re-run the notebook');
      }
    } finally {
      await context.close();
    }
  });

  it("classic Notebook redraws a live chart in place from display/update messages, plotly.js once", async () => {
    // The messages a kernel session sends for a live chart: library, chart, then updates.
    const sent: { type: string; bundle: MimeBundle; displayId?: string }[] = [];
    resetLibrarySession(); // a fresh kernel session
    setDisplaySink({
      display: (bundle, _m, displayId) => sent.push({ type: "display_data", bundle, displayId }),
      update: (bundle, _m, displayId) => sent.push({ type: "update_display_data", bundle, displayId }),
    });
    try {
      const live = plot.live(plot.line({ y: [], name: "loss" }, { title: "live" }), { maxUpdatesPerSecond: 1e6 });
      for (let i = 0; i < 20; i++) {
        live.extend(0, i, 1 / (i + 1));
        live.flush();
      }
    } finally {
      setDisplaySink(undefined);
    }
    expect(sent.map((m) => m.type)).toEqual(["display_data", "display_data", ...Array(20).fill("update_display_data")]);
    writeJSON(join(nbDir, "live.ipynb"), notebook(
      [{ cell_type: "code", id: "live", metadata: {}, execution_count: null, source: "// live chart", outputs: [] }],
      { name: "lepton", display_name: "Lepton (TypeScript)", language: "typescript" },
    ));
    server ??= await startNotebookServer(nbDir, env);
    const context = await launchChromium();
    try {
      await blockNetwork(context, [server.url]);
      const page = await context.newPage();
      await page.goto(`${server.url}/notebooks/live.ipynb?token=${server.token}`);
      await page.waitForFunction(() => (window as any).Jupyter?.notebook?._fully_loaded === true);
      await dismissKernelDialog(page);
      // What running the cell does first: clear its outputs (which also marks them trusted).
      await page.evaluate(() => (window as any).Jupyter.notebook.get_cell(0).output_area.clear_output());
      const drawMs: number[] = [];
      let libraryMs = 0;
      for (const [i, m] of sent.entries()) {
        const t0 = Date.now();
        await page.evaluate((msg) => {
          const cell = (window as any).Jupyter.notebook.get_cell(0);
          cell.output_area.handle_output({
            header: { msg_type: msg.type },
            content: { data: msg.bundle, metadata: {}, transient: msg.displayId ? { display_id: msg.displayId } : {} },
          });
        }, m);
        if (i === 0) {
          libraryMs = Date.now() - t0; // the library output draws nothing; this is plotly.js's evaluation
          continue;
        }
        const points = Math.max(0, i - 1);
        await page.waitForFunction((n) => {
          const plots = document.querySelectorAll<HTMLElement>(".js-plotly-plot");
          if (plots.length !== 1) return false;
          const gd = plots[0] as any;
          return !!gd.querySelector(".main-svg") && !!gd.data && gd.data[0].y.length === n && (n === 0 || !!gd.querySelector(".main-svg g.trace"));
        }, points, { timeout: 60_000 });
        drawMs.push(Date.now() - t0);
      }
      const sorted = [...drawMs].sort((a, b) => a - b);
      console.log(`live chart in classic Notebook: plotly.js output evaluated in ${libraryMs} ms, first draw ${drawMs[0]} ms after its message; ` +
        `updates: median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms from update_display_data to redrawn chart`);
      const state = await page.evaluate(() => {
        const nb = (window as any).Jupyter.notebook.toJSON();
        const outputs = nb.cells[0].outputs as { data: { [k: string]: string } }[];
        return {
          outputs: outputs.length,
          libraryOutputs: outputs.filter((o) => String(o.data["text/html"]).includes("lepton-plotly-library")).length,
          charts: document.querySelectorAll(".js-plotly-plot").length,
          registry: Object.keys((window as any).__leptonPlots || {}).length,
        };
      });
      expect(state).toEqual({ outputs: 2, libraryOutputs: 1, charts: 1, registry: 1 });
      await dismissKernelDialog(page);
      await fullScreenshot(page, join(artifactsDir(), "plot-live-classic-notebook.png"));
    } finally {
      await context.close();
    }
  });

  it("after a kernel restart, re-running cells in any order keeps charts drawing, also after a reload", async () => {
    // What each run of a cell sends, from a real lepton session (one sink per cell run).
    const run = (source: () => unknown) => {
      const bundles: MimeBundle[] = [];
      setDisplaySink({ display: (b) => bundles.push(b), update: () => undefined });
      try {
        bundles.push(toMimeBundle(source()));
      } finally {
        setDisplaySink(undefined);
      }
      return bundles;
    };
    resetLibrarySession(); // session 1
    const s1cell0 = run(() => plot.line({ y: [1, 2] }, { title: "A1" }));
    const s1cell1 = run(() => plot.bar({ y: [3, 1] }, { title: "B1" }));
    resetLibrarySession(); // kernel restart: session 2 re-runs the second cell first, then the first
    const s2cell1 = run(() => plot.bar({ y: [1, 3] }, { title: "B2" }));
    const s2cell0 = run(() => plot.line({ y: [2, 1] }, { title: "A2" }));
    expect([s1cell0.length, s1cell1.length, s2cell1.length, s2cell0.length]).toEqual([2, 1, 2, 1]);
    const empty = (id: string) => ({ cell_type: "code", id, metadata: {}, execution_count: null, source: "// chart", outputs: [] });
    writeJSON(join(nbDir, "restart.ipynb"), notebook([empty("c0"), empty("c1")], { name: "lepton", display_name: "Lepton (TypeScript)", language: "typescript" }));
    server ??= await startNotebookServer(nbDir, env);
    const context = await launchChromium();
    try {
      await blockNetwork(context, [server.url]);
      const page = await context.newPage();
      const open = async () => {
        await page.goto(`${server!.url}/notebooks/restart.ipynb?token=${server!.token}`);
        await page.waitForFunction(() => (window as any).Jupyter?.notebook?._fully_loaded === true);
        await dismissKernelDialog(page);
      };
      await open();
      const runCell = (cell: number, bundles: MimeBundle[]) =>
        page.evaluate(({ cell, bundles }) => {
          const area = (window as any).Jupyter.notebook.get_cell(cell).output_area;
          area.clear_output();
          for (const data of bundles) area.handle_output({ header: { msg_type: "display_data" }, content: { data, metadata: {}, transient: {} } });
        }, { cell, bundles });
      await runCell(0, s1cell0);
      await runCell(1, s1cell1);
      expect((await waitForCharts(page, 2)).map((c) => c.title)).toEqual(["A1", "B1"]);
      await runCell(1, s2cell1);
      await runCell(0, s2cell0); // the library output is now below this chart
      await page.waitForFunction(() => Array.from(document.querySelectorAll(".js-plotly-plot")).map((g: any) => g._fullLayout?.title?.text).join() === "A2,B2");
      await page.evaluate(() => (window as any).Jupyter.notebook.save_notebook());
      await page.waitForFunction(() => !(window as any).Jupyter.notebook.dirty);
      const saved = JSON.parse(readFileSync(join(nbDir, "restart.ipynb"), "utf8"));
      const libraries = saved.cells.flatMap((c: any) => c.outputs).filter((o: any) => [].concat(o.data["text/html"] ?? []).join("").includes("lepton-plotly-library"));
      expect(libraries).toHaveLength(1);
      await open(); // a fresh page: plotly.js now comes from the second cell's output, below the first chart
      expect((await waitForCharts(page, 2)).map((c) => c.title)).toEqual(["A2", "B2"]);
    } finally {
      await context.close();
    }
  });

  it("nbconvert's HTML export draws every chart from file:// with the network off", async () => {
    const conv = await runCommand(PYTHON, ["-m", "nbconvert", "--to", "html", nbPath, "--output-dir", join(root, "html")], { env });
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
      // A figure saved on its own (fig.saveHTML) opens offline too.
      const standalone = join(root, "html", "standalone.html");
      plot.confusionMatrix([[3, 1], [0, 4]], { labels: ["no", "yes"] }).saveHTML(standalone);
      await page.goto(pathToFileURL(standalone).href);
      expect((await waitForCharts(page, 1)).map((c) => c.title)).toEqual(["Confusion matrix"]);
    } finally {
      await context.close();
    }
  });
});
