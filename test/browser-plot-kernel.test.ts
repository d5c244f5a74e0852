/**
 * lepton.plot end to end on the Lepton kernel: the chart cells run in a real kernel (installed with
 * `lepton kernel install --prefix`), headless through nbclient and interactively in classic Notebook
 * 6.4 in headless Chromium. Checks the executed notebook carries plotly.js once, that every chart draws
 * in the browser and from nbconvert's HTML opened from file:// offline, and measures the time from
 * running a cell to its chart drawn.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import { CHART_CELLS } from "./fixtures/plot/charts";
import {
  PYTHON, artifactsDir, blockNetwork, browserTestsUnavailable, fullScreenshot, jupyterEnv, launchChromium, notebook,
  startNotebookServer, waitForCharts, writeJSON, type NotebookServer,
} from "./fixtures/plot/harness";

const ROOT = join(__dirname, "..");
const CLI = join(ROOT, "dist", "src", "cli", "main.js");
const root = mkdtempSync(join(tmpdir(), "lepton-plot-kernel-"));
const prefix = join(root, "prefix");

/** Install the Lepton kernel into a private prefix; why it cannot be used, or undefined. */
function installKernel(): string | undefined {
  const browser = browserTestsUnavailable();
  if (browser) return browser;
  if (!existsSync(CLI)) return `${CLI} is missing (npm run build; the Lepton kernel CLI is needed)`;
  const res = spawnSync(process.execPath, [CLI, "kernel", "install", "--prefix", prefix], { encoding: "utf8", timeout: 120_000 });
  if (res.status !== 0) return `\`lepton kernel install --prefix\` failed: ${(res.stderr || res.stdout || "").trim().slice(0, 500)}`;
  const kernels = join(prefix, "share", "jupyter", "kernels");
  if (!existsSync(kernels)) return `the kernel install wrote no ${kernels}`;
  return undefined;
}

const unavailable = installKernel();
if (unavailable) console.warn(`browser-plot-kernel tests skipped: ${unavailable}`);

const LIVE_CELL = [
  `const live = plot.live(plot.line({ y: [], name: "loss" }, { title: "live" }), { maxUpdatesPerSecond: 5 });`,
  `for (let i = 0; i < 30; i++) { live.extend(0, i, 1 / (i + 1)); await new Promise((r) => setTimeout(r, 20)); }`,
  `live.flush();`,
].join("\n");

function chartNotebook(): object {
  const code = (id: string, source: string) => ({ cell_type: "code", id, metadata: {}, execution_count: null, source, outputs: [] });
  return notebook(
    [
      code("setup", `import * as tf from "@tensorflow/tfjs";\nimport * as lepton from "lepton";\nconst plot = lepton.plot;`),
      ...CHART_CELLS.map((src, i) => code(`chart-${i}`, src)),
      code("live", LIVE_CELL),
    ],
    { name: "lepton", display_name: "Lepton (TypeScript)", language: "typescript" },
  );
}

describe.skipIf(!!unavailable)("charts from the Lepton kernel in a real browser", () => {
  const nbDir = join(root, "notebooks");
  let env: NodeJS.ProcessEnv;
  let server: NotebookServer | undefined;
  let executedPath = "";

  beforeAll(() => {
    mkdirSync(nbDir, { recursive: true });
    env = jupyterEnv(join(root, "jupyter"), { JUPYTER_PATH: join(prefix, "share", "jupyter") });
    writeJSON(join(nbDir, "charts.ipynb"), chartNotebook());
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("nbclient runs the notebook; the executed notebook carries plotly.js once", () => {
    executedPath = join(nbDir, "charts-executed.ipynb");
    const res = spawnSync(PYTHON, ["-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=300",
      "--output", "charts-executed.ipynb", join(nbDir, "charts.ipynb")], { env, encoding: "utf8", timeout: 400_000 });
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
  });

  it("nbconvert's HTML of the executed notebook draws every chart from file:// offline", async () => {
    const out = join(root, "html");
    const res = spawnSync(PYTHON, ["-m", "nbconvert", "--to", "html", executedPath, "--output-dir", out], { env, encoding: "utf8" });
    expect(res.status, res.stderr).toBe(0);
    const context = await launchChromium();
    try {
      await blockNetwork(context, []);
      await context.setOffline(true);
      const page = await context.newPage();
      await page.goto(pathToFileURL(join(out, "charts-executed.html")).href);
      const charts = await waitForCharts(page, CHART_CELLS.length + 1);
      expect(charts).toHaveLength(CHART_CELLS.length + 1);
      await fullScreenshot(page, join(artifactsDir(), "plot-kernel-nbconvert-offline.png"));
    } finally {
      await context.close();
    }
  });

  it("classic Notebook: Run All on the Lepton kernel draws every chart; time from run to drawn", async () => {
    server = await startNotebookServer(nbDir, env);
    const context = await launchChromium();
    try {
      const blocked = await blockNetwork(context, [server.url]);
      const page = await context.newPage();
      await page.goto(`${server.url}/notebooks/charts.ipynb?token=${server.token}`);
      await page.waitForFunction(() => {
        const nb = (window as any).Jupyter?.notebook;
        return nb?._fully_loaded && nb.kernel && nb.kernel.is_connected();
      }, undefined, { timeout: 120_000 });
      // Record, per cell, when it starts executing and when its chart has drawn.
      await page.evaluate(() => {
        const w = window as any;
        const nb = w.Jupyter.notebook;
        w.__runAt = {};
        w.__drawnAt = {};
        nb.events.on("execute.CodeCell", (_e: unknown, d: any) => { w.__runAt[nb.find_cell_index(d.cell)] = performance.now(); });
        w.__poll = setInterval(() => {
          nb.get_cells().forEach((cell: any, i: number) => {
            if (w.__drawnAt[i] === undefined && w.__runAt[i] !== undefined && cell.element[0].querySelector(".js-plotly-plot .main-svg")) {
              w.__drawnAt[i] = performance.now();
            }
          });
        }, 5);
        nb.execute_all_cells();
      });
      const charts = await waitForCharts(page, CHART_CELLS.length + 1, 300_000);
      expect(charts).toHaveLength(CHART_CELLS.length + 1);
      await page.waitForFunction(() => {
        const gd = document.querySelectorAll(".js-plotly-plot")[10] as any;
        return gd && gd.data && gd.data[0].y.length === 30;
      }, undefined, { timeout: 60_000 });
      const times = await page.evaluate(() => {
        const w = window as any;
        return Object.keys(w.__drawnAt).map((i) => Math.round(w.__drawnAt[i] - w.__runAt[i]));
      });
      const sorted = [...times].sort((a, b) => a - b);
      console.log(`classic Notebook + Lepton kernel, run → chart drawn per cell (ms): ${times.join(", ")}; ` +
        `median ${sorted[Math.floor(sorted.length / 2)]} ms (the first includes plotly.js)`);
      expect(times.length).toBe(CHART_CELLS.length + 1);
      const libraryOutputs = await page.evaluate(() =>
        (window as any).Jupyter.notebook.toJSON().cells.flatMap((c: any) => c.outputs ?? [])
          .filter((o: any) => String(o.data?.["text/html"] ?? "").includes("lepton-plotly-library")).length);
      expect(libraryOutputs).toBe(1);
      await fullScreenshot(page, join(artifactsDir(), "plot-kernel-classic-notebook.png"));
      expect(blocked.filter((u) => /plotly|cdn/i.test(u))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
