/**
 * lepton.plot end to end on the Lepton kernel: the chart cells run in a real kernel (installed with
 * `lepton kernel install --prefix`), headless through nbclient and interactively in classic Notebook
 * 6.4 in headless Chromium. Checks the executed notebook carries plotly.js once, that every chart draws
 * in the browser and from nbconvert's HTML opened from file:// offline, and measures the time from
 * running a cell to its chart drawn.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "fs";
import { tmpdir } from "os";
import { basename, join } from "path";
import { pathToFileURL } from "url";
import { CHART_CELLS } from "./fixtures/plot/charts";
import type { BrowserContext, Page } from "playwright-core";
import { runCommand } from "./kernel_helpers";
import {
  DRAWN_TRACE, PYTHON, artifactsDir, blockNetwork, browserTestsUnavailable, fullScreenshot, jupyterEnv, launchChromium, notebook,
  startNotebookServer, waitForCharts, writeJSON, type NotebookServer,
} from "./fixtures/plot/harness";

const ROOT = join(__dirname, "..");
const CLI = join(ROOT, "dist", "src", "cli", "main.js");
const root = mkdtempSync(join(tmpdir(), "lepton-plot-kernel-"));
const prefix = join(root, "prefix");

interface KernelUnderTest {
  /** Kernelspec name. */
  name: string;
  display_name: string;
  /** The first cell: defines `tf` and `plot`. */
  setup: string;
  /** A chart cell: its last expression is a figure. */
  chart(source: string): string;
}

/** The Lepton kernel, installed into a private prefix with `lepton kernel install --prefix`. */
function leptonKernel(): KernelUnderTest | string {
  if (!existsSync(CLI)) return `${CLI} is missing (npm run build, once the kernel CLI exists)`;
  const res = spawnSync(process.execPath, [CLI, "kernel", "install", "--prefix", prefix], { encoding: "utf8", timeout: 120_000 });
  // The CLI exists, so a failing install is a failure of this test, not a reason to skip it.
  if (res.status !== 0) throw new Error(`\`lepton kernel install --prefix\` failed: ${(res.stderr || res.stdout || "").trim().slice(0, 1000)}`);
  const kernels = join(prefix, "share", "jupyter", "kernels");
  if (!existsSync(join(kernels, "lepton"))) throw new Error(`\`lepton kernel install --prefix ${prefix}\` wrote no ${join(kernels, "lepton")}`);
  return {
    name: "lepton",
    display_name: "Lepton (TypeScript)",
    setup: `import * as tf from "@tensorflow/tfjs";\nimport * as lepton from "lepton";\nconst plot = lepton.plot;`,
    chart: (source) => source,
  };
}

function chooseKernel(): KernelUnderTest | string {
  return browserTestsUnavailable() ?? leptonKernel();
}

const kernel = chooseKernel();
const unavailable = typeof kernel === "string" ? kernel : undefined;
if (unavailable) console.warn(`browser-plot-kernel tests skipped: ${unavailable}`);

const LIVE_CELL = [
  `const live = plot.live(plot.line({ y: [], name: "loss" }, { title: "live" }), { maxUpdatesPerSecond: 5 });`,
  `for (let i = 0; i < 30; i++) { live.extend(0, i, 1 / (i + 1)); await new Promise((r) => setTimeout(r, 20)); }`,
  `live.flush();`,
].join("\n");

function chartNotebook(k: KernelUnderTest): object {
  const code = (id: string, source: string) => ({ cell_type: "code", id, metadata: {}, execution_count: null, source, outputs: [] });
  return notebook(
    [code("setup", k.setup), ...CHART_CELLS.map((src, i) => code(`chart-${i}`, k.chart(src))), code("live", LIVE_CELL)],
    { name: k.name, display_name: k.display_name, language: "typescript" },
  );
}

describe.skipIf(!!unavailable)("charts from the Lepton kernel in a real browser", () => {
  let env: NodeJS.ProcessEnv;
  let server: NotebookServer | undefined;
  let executedPath = "";

  // Cells import from the repository's node_modules and dist/, so the notebooks live inside it.
  let nbDir = "";

  beforeAll(() => {
    mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
    nbDir = mkdtempSync(join(ROOT, "test-artifacts", "plot-kernel-run-"));
    env = jupyterEnv(join(root, "jupyter"), { JUPYTER_PATH: join(prefix, "share", "jupyter") });
    writeJSON(join(nbDir, "charts.ipynb"), chartNotebook(kernel as KernelUnderTest));
  });

  afterAll(async () => {
    await server?.stop();
    if (nbDir) rmSync(nbDir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  });

  it("nbclient runs the notebook; the executed notebook carries plotly.js once", async () => {
    executedPath = join(nbDir, "charts-executed.ipynb");
    const res = await runCommand(PYTHON, ["-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=300",
      "--output", "charts-executed.ipynb", join(nbDir, "charts.ipynb")], { env, timeoutMs: 400_000 });
    expect(res.status, res.stderr).toBe(0);
    const nb = JSON.parse(readFileSync(executedPath, "utf8"));
    const outputs = nb.cells.flatMap((c: any) => c.outputs ?? []);
    const errors = outputs.filter((o: any) => o.output_type === "error");
    expect(errors, JSON.stringify(errors).slice(0, 2000)).toEqual([]);
    const html = outputs.map((o: any) => [].concat(o.data?.["text/html"] ?? []).join(""));
    expect(html.filter((h: string) => h.includes("lepton-plotly-library"))).toHaveLength(1);
    const charts = outputs.filter((o: any) => o.data?.["application/vnd.plotly.v1+json"]);
    expect(charts.length).toBe(CHART_CELLS.length + 1);
    expect(charts.every((o: any) => typeof o.data["application/vnd.plotly.v1+json"] === "object")).toBe(true);
    const live = nb.cells[nb.cells.length - 1].outputs.find((o: any) => o.data?.["application/vnd.plotly.v1+json"]);
    expect(live.data["application/vnd.plotly.v1+json"].data[0].y).toHaveLength(30);
    console.log(`executed notebook with ${CHART_CELLS.length} charts + 1 live chart: ${(statSync(executedPath).size / 1e6).toFixed(2)} MB`);
    expect(statSync(executedPath).size).toBeGreaterThanOrEqual(4.5e6);
  });

  it("LEPTON_PLOTLY=none in the kernel's environment, or plot.setLibraryMode(\"none\") in a cell: the executed notebook has no plotly.js and is small", async () => {
    const k = kernel as KernelUnderTest;
    const code = (id: string, source: string) => ({ cell_type: "code", id, metadata: {}, execution_count: null, source, outputs: [] });
    const charts = CHART_CELLS.slice(0, 3).map((src, i) => code(`chart-${i}`, k.chart(src)));
    const spec = { name: k.name, display_name: k.display_name, language: "typescript" };
    const runs = [
      { name: "by-env", cells: [code("setup", k.setup), ...charts], env: { ...env, LEPTON_PLOTLY: "none" } },
      { name: "by-call", cells: [code("setup", k.setup), code("mode", `plot.setLibraryMode("none");`), ...charts], env: { ...env, LEPTON_PLOTLY: "" } },
      { name: "embedded", cells: [code("setup", k.setup), ...charts], env: { ...env, LEPTON_PLOTLY: "" } },
    ];
    const sizes: Record<string, number> = {};
    for (const run of runs) {
      writeJSON(join(nbDir, `${run.name}.ipynb`), notebook(run.cells, spec));
      const res = await runCommand(PYTHON, ["-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=300",
        "--output", `${run.name}-executed.ipynb`, join(nbDir, `${run.name}.ipynb`)], { env: run.env, timeoutMs: 300_000 });
      expect(res.status, res.stderr).toBe(0);
      const path = join(nbDir, `${run.name}-executed.ipynb`);
      const nb = JSON.parse(readFileSync(path, "utf8"));
      const outputs = nb.cells.flatMap((c: any) => c.outputs ?? []);
      expect(outputs.filter((o: any) => o.output_type === "error")).toEqual([]);
      const html = outputs.map((o: any) => [].concat(o.data?.["text/html"] ?? []).join(""));
      const chartOutputs = outputs.filter((o: any) => o.data?.["application/vnd.plotly.v1+json"]);
      expect(chartOutputs).toHaveLength(3);
      const embedded = run.name === "embedded";
      expect(html.filter((h: string) => h.includes("lepton-plotly-library"))).toHaveLength(embedded ? 1 : 0);
      expect(html.filter((h: string) => h.includes("plotly.js was not embedded in this notebook"))).toHaveLength(embedded ? 0 : 3);
      sizes[run.name] = statSync(path).size;
    }
    console.log(`3 charts from the kernel: ${Object.entries(sizes).map(([n, b]) => `${n} ${(b / 1e3).toFixed(0)} kB`).join(", ")}`);
    expect(sizes["by-env"]).toBeLessThan(100_000);
    expect(sizes["by-call"]).toBeLessThan(100_000);
    expect(sizes.embedded).toBeGreaterThanOrEqual(4.5e6);
  });

  /** charts.ipynb in classic Notebook, once it is loaded and its kernel connected. */
  async function openChartsNotebook(context: BrowserContext, on: NotebookServer): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${on.url}/notebooks/charts.ipynb?token=${on.token}`);
    await page.waitForFunction(() => {
      const nb = (window as any).Jupyter?.notebook;
      return nb?._fully_loaded && nb.kernel && nb.kernel.is_connected();
    }, undefined, { timeout: 120_000 });
    return page;
  }

  /** Export `notebookPath` with Debian's nbconvert and check every chart draws from file:// with the network off. */
  async function exportAndDrawOffline(notebookPath: string, outDir: string, screenshot: string): Promise<void> {
    const res = await runCommand(PYTHON, ["-m", "nbconvert", "--to", "html", notebookPath, "--output-dir", outDir], { env });
    expect(res.status, res.stderr).toBe(0);
    const context = await launchChromium();
    try {
      await blockNetwork(context, []);
      await context.setOffline(true);
      const page = await context.newPage();
      await page.goto(pathToFileURL(join(outDir, basename(notebookPath, ".ipynb") + ".html")).href);
      expect(await waitForCharts(page, CHART_CELLS.length + 1)).toHaveLength(CHART_CELLS.length + 1);
      await fullScreenshot(page, join(artifactsDir(), screenshot));
    } finally {
      await context.close();
    }
  }

  it("nbconvert's HTML of the executed notebook draws every chart from file:// offline", async () => {
    await exportAndDrawOffline(executedPath, join(root, "html"), "plot-kernel-nbconvert-offline.png");
  });

  it("classic Notebook on the kernel: time from running a cell to its chart drawn; Restart & Run All draws all", async () => {
    server = await startNotebookServer(nbDir, env);
    const context = await launchChromium();
    try {
      const blocked = await blockNetwork(context, [server.url]);
      const page = await openChartsNotebook(context, server);
      /** Run cell i and resolve with the ms until it has finished (and, for a chart cell, drawn a chart). */
      const runCell = (i: number, chart: boolean) =>
        page.evaluate(({ i, chart, drawn }) => new Promise<number>((resolve, reject) => {
          const nb = (window as any).Jupyter.notebook;
          const cell = nb.get_cell(i);
          const t0 = performance.now();
          cell.execute();
          const poll = () => {
            const el = cell.element[0] as HTMLElement;
            const done = chart
              ? !!el.querySelector(drawn)
              : typeof cell.input_prompt_number === "number";
            if (el.querySelector(".output_error")) return reject(new Error(el.innerText.slice(0, 2000)));
            if (done) return resolve(Math.round(performance.now() - t0));
            if (performance.now() - t0 > 240_000) return reject(new Error(`cell ${i} did not finish in 240 s`));
            setTimeout(poll, 2);
          };
          poll();
        }), { i, chart, drawn: DRAWN_TRACE });
      const setupMs = await runCell(0, false);
      const times: number[] = [];
      for (let i = 1; i <= CHART_CELLS.length; i++) {
        times.push(await runCell(i, true));
      }
      const rest = times.slice(1).sort((a, b) => a - b);
      console.log(`classic Notebook + Lepton kernel: setup cell ${setupMs} ms; run → chart drawn: ` +
        `first chart (sends and evaluates plotly.js) ${times[0]} ms, the other ${rest.length}: median ${rest[Math.floor(rest.length / 2)]} ms, ` +
        `max ${rest[rest.length - 1]} ms (${times.join(", ")})`);
      await fullScreenshot(page, join(artifactsDir(), "plot-kernel-classic-notebook.png"));
      // Restart & Run All: every chart (and the live one) draws again, and the notebook holds plotly.js once.
      await page.evaluate(() => (window as any).Jupyter.notebook.restart_run_all({ confirm: false }));
      await page.waitForFunction((n) => {
        const nb = (window as any).Jupyter.notebook;
        const cells = nb.get_cells();
        const live = cells[cells.length - 1].element[0].querySelector(".js-plotly-plot") as any;
        return cells.every((c: any) => typeof c.input_prompt_number === "number") &&
          document.querySelectorAll(".js-plotly-plot .main-svg").length >= n && live && live.data && live.data[0].y.length === 30;
      }, CHART_CELLS.length + 1, { timeout: 300_000 });
      const charts = await waitForCharts(page, CHART_CELLS.length + 1);
      expect(charts).toHaveLength(CHART_CELLS.length + 1);
      const libraryOutputs = await page.evaluate(() =>
        (window as any).Jupyter.notebook.toJSON().cells.flatMap((c: any) => c.outputs ?? [])
          .filter((o: any) => String(o.data?.["text/html"] ?? "").includes("lepton-plotly-library")).length);
      expect(libraryOutputs).toBe(1);
      expect(blocked.filter((u) => /plotly|cdn/i.test(u))).toEqual([]);
      await fullScreenshot(page, join(artifactsDir(), "plot-kernel-restart-run-all.png"));
    } finally {
      await context.close();
    }
  }, 600_000);

  it("Run All without a restart, then Save: the saved notebook carries plotly.js once and its HTML export draws offline", async () => {
    server ??= await startNotebookServer(nbDir, env);
    const context = await launchChromium();
    try {
      await blockNetwork(context, [server.url]);
      const page = await openChartsNotebook(context, server);
      /** Run All (no restart) and wait until every cell has a newer execution count than `after`. */
      const runAll = async () => {
        const after = await page.evaluate(() => Math.max(0, ...(window as any).Jupyter.notebook.get_cells().map((c: any) => c.input_prompt_number || 0)));
        await page.evaluate(() => (window as any).Jupyter.notebook.execute_all_cells());
        await page.waitForFunction((after) => (window as any).Jupyter.notebook.get_cells()
          .every((c: any) => typeof c.input_prompt_number === "number" && c.input_prompt_number > after), after, { timeout: 300_000 });
      };
      // Twice in the same kernel session: the second pass clears the output that carried plotly.js.
      await runAll();
      await runAll();
      await waitForCharts(page, CHART_CELLS.length + 1);
      await page.evaluate(() => new Promise<void>((resolve, reject) => {
        const nb = (window as any).Jupyter.notebook;
        nb.events.one("notebook_saved.Notebook", () => resolve());
        nb.events.one("notebook_save_failed.Notebook", (_e: unknown, err: unknown) => reject(new Error(String(err))));
        nb.save_notebook();
      }));
      const saved = JSON.parse(readFileSync(join(nbDir, "charts.ipynb"), "utf8"));
      const html = saved.cells.flatMap((c: any) => c.outputs ?? []).map((o: any) => [].concat(o.data?.["text/html"] ?? []).join(""));
      expect(html.filter((h: string) => h.includes("lepton-plotly-library"))).toHaveLength(1);
      // The notebook Chromium ran and saved, exported by nbconvert and opened from file:// offline.
      await exportAndDrawOffline(join(nbDir, "charts.ipynb"), join(root, "html-saved"), "plot-kernel-saved-export-offline.png");
    } finally {
      await context.close();
    }
  }, 600_000);
});
