/**
 * The Plotly JSON lepton emits draws the same in plotly.js 2.35, 3.7 and 4.1 (headless Chromium, a
 * blank page from a loopback server, the network blocked). Frontends that draw the
 * `application/vnd.plotly.v1+json` part themselves (JupyterLab's plotly extension, VS Code, a page
 * that has plotly.py's copy) bring their own plotly.js: lepton's JSON must not depend on which.
 *
 * Every chart of CHART_CELLS and every old-style raw figure (test/fixtures/plot/old_style.ts) must
 * draw each trace, show every title text it sets in the SVG (3-D scene axis titles, which WebGL
 * draws, in plotly's full layout), and make plotly.js log no error or warning. The same checks run on
 * the old-style figures un-normalised must fail in 3.x and 4.x, or they would prove nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "http";
import { readFileSync } from "fs";
import type { AddressInfo } from "net";
import type { BrowserContext, Page } from "playwright-core";
import * as tf from "@tensorflow/tfjs";
import { toMimeBundle } from "../src/display/display";
import * as plot from "../src/display/plot";
import { normalizeFigure } from "../src/display/plot/normalize";
import type { FigureJSON } from "../src/display/plot/types";
import { CHART_CELLS } from "./fixtures/plot/charts";
import { blockNetwork, chromiumUnavailable, drawnCharts, launchChromium, type DrawnChart } from "./fixtures/plot/harness";
import { OLD_STYLE_FIGURES, OLD_STYLE_SCENE_TITLES, OLD_STYLE_TITLES } from "./fixtures/plot/old_style";

const unavailable = chromiumUnavailable();
if (unavailable) console.warn(`browser-plotly-versions tests skipped: ${unavailable}`);

const VERSIONS: { name: string; pkg: string; major: number }[] = [
  { name: "2.35", pkg: "plotly-v2", major: 2 },
  { name: "3.7", pkg: "plotly-v3", major: 3 },
  { name: "4.1", pkg: "plotly.js-dist-min", major: 4 },
];

interface Chart {
  name: string;
  json: FigureJSON;
  titles: string[];
  sceneTitles: string[];
}

/** The title texts a figure's JSON sets (layout, axes, legend, colour bars), to find in the SVG. */
function titlesOf(json: FigureJSON): { titles: string[]; sceneTitles: string[] } {
  const text = (t: unknown) => (t && typeof t === "object" && typeof (t as any).text === "string" ? ((t as any).text as string) : undefined);
  const titles: string[] = [], sceneTitles: string[] = [];
  const add = (list: string[], t: unknown) => {
    const s = text(t);
    if (s && s.trim()) list.push(s);
  };
  const l = json.layout as any;
  add(titles, l.title);
  for (const [k, v] of Object.entries(l)) {
    if (/^[xy]axis\d*$/.test(k) || /^legend\d*$/.test(k)) add(titles, (v as any)?.title);
    if (/^scene\d*$/.test(k)) for (const a of ["xaxis", "yaxis", "zaxis"]) add(sceneTitles, (v as any)?.[a]?.title);
    if (/^coloraxis\d*$/.test(k)) add(titles, (v as any)?.colorbar?.title);
    if (/^polar\d*$/.test(k)) add(titles, (v as any)?.radialaxis?.title);
  }
  for (const t of json.data as any[]) {
    if (["heatmap", "contour", "surface"].includes(t.type) && t.showscale !== false) add(titles, t.colorbar?.title);
    if (t.marker?.showscale) add(titles, t.marker?.colorbar?.title);
    if (t.type === "pie") add(titles, t.title);
  }
  return { titles, sceneTitles };
}

function chartCells(): Chart[] {
  return CHART_CELLS.map((source) => {
    const fig = new Function("plot", "tf", `return (${source});`)(plot, tf);
    const json = toMimeBundle(fig)[plot.PLOTLY_MIME] as FigureJSON;
    return { name: source.slice(0, 60), json, ...titlesOf(json) };
  });
}

function oldStyle(normalize: boolean): Chart[] {
  return Object.entries(OLD_STYLE_FIGURES).map(([name, raw]) => ({
    name: `${normalize ? "" : "un-normalised "}old style: ${name}`,
    json: normalize ? (toMimeBundle(plot.figure(raw.data, raw.layout, raw.config))[plot.PLOTLY_MIME] as FigureJSON) : raw,
    titles: OLD_STYLE_TITLES[name],
    sceneTitles: OLD_STYLE_SCENE_TITLES[name] ?? [],
  }));
}

/** What drawing one figure in the page gave. */
interface Drawn {
  name: string;
  chart: DrawnChart | undefined;
  /** Title texts that are not in the SVG (or, for 3-D scenes, not in plotly's full layout). */
  missingTitles: string[];
  /** What plotly.js (or the page) logged as an error or warning while drawing. */
  logged: string[];
  /** Plotly.validate's complaints about attributes it does not know or values it rejects. */
  invalid: string[];
  /** Map subplots: the trace layers MapLibre has in its style (WebGL draws them, there is no SVG to look at). */
  mapLayers?: number;
  failed?: string;
}

function problems(d: Drawn): string[] {
  const out: string[] = [];
  if (d.failed) out.push(`newPlot failed: ${d.failed}`);
  const c = d.chart;
  const drew = d.mapLayers !== undefined ? d.mapLayers > 0 : !!c && c.drawnTraces > 0;
  if (!c || !c.hasMainSvg || c.traces === 0 || !drew || c.undrawn.length) out.push(`not drawn: ${JSON.stringify({ ...c, mapLayers: d.mapLayers })}`);
  if (d.missingTitles.length) out.push(`titles missing: ${JSON.stringify(d.missingTitles)}`);
  if (d.logged.length) out.push(`logged: ${JSON.stringify(d.logged)}`);
  if (d.invalid.length) out.push(`Plotly.validate: ${JSON.stringify(d.invalid)}`);
  return out;
}

async function draw(page: Page, logs: string[], chart: Chart): Promise<Drawn> {
  logs.length = 0;
  const failed = await page.evaluate(async (json) => {
    const P = (window as any).Plotly;
    const old = document.getElementById("gd");
    if (old) {
      P.purge(old);
      old.remove();
    }
    const gd = document.createElement("div");
    gd.id = "gd";
    gd.style.cssText = "width:900px;height:500px";
    document.body.appendChild(gd);
    try {
      await P.newPlot(gd, JSON.parse(JSON.stringify(json)));
      return undefined;
    } catch (e) {
      return String((e as Error)?.message ?? e);
    }
  }, chart.json as any);
  // Wait until every trace drew (or give up after a few seconds: an undrawn trace is a finding).
  let drawn: DrawnChart | undefined;
  for (let waited = 0; waited < 5000; waited += 100) {
    drawn = (await drawnCharts(page))[0];
    if (drawn && drawn.hasMainSvg && drawn.drawnTraces > 0 && drawn.undrawn.length === 0) break;
    if (drawn && (await mapLayers(page)) !== undefined && (await mapLayers(page))! > 0) break;
    await page.waitForTimeout(100);
  }
  await page.waitForTimeout(50);
  const found = await page.evaluate(({ titles, sceneTitles }) => {
    const gd = document.getElementById("gd") as any;
    const norm = (s: string | null) => (s ?? "").replace(/\s+/g, " ").trim();
    const texts = new Set(Array.from(gd.querySelectorAll(".main-svg text")).map((t) => norm((t as Element).textContent)));
    const missing = titles.filter((t) => !texts.has(norm(t)));
    const full = gd._fullLayout || {};
    const sceneTexts = new Set<string>();
    for (const [k, v] of Object.entries(full)) {
      if (/^scene\d*$/.test(k)) for (const a of ["xaxis", "yaxis", "zaxis"]) sceneTexts.add(norm((v as any)?.[a]?.title?.text ?? null));
    }
    return [...missing, ...sceneTitles.filter((t) => !sceneTexts.has(norm(t))).map((t) => `(scene) ${t}`)];
  }, { titles: chart.titles, sceneTitles: chart.sceneTitles });
  const invalid = await page.evaluate((json) => {
    const errors = ((window as any).Plotly.validate(json.data, json.layout) || []) as { code: string; msg: string }[];
    // "schema": an attribute this plotly.js does not have; "object"/"value": a value it rejects (e.g. a string title, a bad colour).
    // (validate checks a trace's `coloraxis` reference without the layout's coloraxis: not a finding.)
    return errors
      .filter((e) => ["schema", "object", "value", "array"].includes(e.code) && !/coloraxis is set to an invalid value \(coloraxis\d*\)/.test(e.msg))
      .map((e) => e.msg);
  }, chart.json as any);
  return { name: chart.name, chart: drawn, missingTitles: found, logged: [...logs], invalid, failed, mapLayers: await mapLayers(page) };
}

/** How many trace layers the figure's map subplots (plotly.js's MapLibre `map`, or the old `mapbox`) hold; undefined without one. */
function mapLayers(page: Page): Promise<number | undefined> {
  return page.evaluate(() => {
    const full = (document.getElementById("gd") as any)?._fullLayout || {};
    const maps = Object.keys(full).filter((k) => /^map(box)?\d*$/.test(k) && full[k] && full[k]._subplot);
    if (!maps.length) return undefined;
    let n = 0;
    for (const k of maps) {
      const style = full[k]._subplot.map?.getStyle?.();
      n += ((style && style.layers) || []).filter((l: { id: string }) => /plotly-trace-layer/.test(l.id)).length;
    }
    return n;
  });
}

describe.skipIf(!!unavailable)("the same Plotly JSON in plotly.js 2.35, 3.7 and 4.1", () => {
  let server: Server;
  let origin = "";
  let context: BrowserContext;
  let blocked: string[] = [];
  const pages = new Map<string, { page: Page; logs: string[] }>();

  beforeAll(async () => {
    const files = new Map(VERSIONS.map((v) => [`/${v.pkg}.js`, readFileSync(require.resolve(`${v.pkg}/plotly.min.js`))]));
    server = createServer((req, res) => {
      const body = files.get(req.url ?? "");
      if (body) {
        res.writeHead(200, { "content-type": "text/javascript" });
        res.end(body);
      } else if (req.url === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body></body></html>");
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    context = await launchChromium();
    blocked = await blockNetwork(context, [origin]);
  });

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  async function pageFor(v: (typeof VERSIONS)[number]): Promise<{ page: Page; logs: string[] }> {
    const have = pages.get(v.pkg);
    if (have) return have;
    const page = await context.newPage();
    const logs: string[] = [];
    page.on("console", (m) => {
      const text = m.text();
      // Chromium's own notes about the software WebGL (e.g. "GPU stall due to ReadPixels") are not plotly's.
      if (/^\[\.WebGL-|^Canvas2D: Multiple readback operations/.test(text)) return;
      if (["error", "warning", "trace", "assert"].includes(m.type()) || /^(WARN|ERROR):/.test(text)) logs.push(`${m.type()}: ${text}`);
    });
    page.on("pageerror", (e) => logs.push(`pageerror: ${e}`));
    await page.goto(`${origin}/`);
    await page.addScriptTag({ url: `${origin}/${v.pkg}.js` });
    const version = await page.evaluate(() => (window as any).Plotly?.version);
    expect(version?.split(".").slice(0, 2).join(".")).toBe(v.name);
    const entry = { page, logs };
    pages.set(v.pkg, entry);
    return entry;
  }

  for (const v of VERSIONS) {
    it(`plotly.js ${v.name} draws every lepton chart and every normalised old-style figure, titles shown, nothing logged`, async () => {
      const { page, logs } = await pageFor(v);
      const charts = [...chartCells(), ...oldStyle(true)];
      const results: Drawn[] = [];
      for (const chart of charts) results.push(await draw(page, logs, chart));
      const bad = results.map((r) => ({ name: r.name, problems: problems(r) })).filter((r) => r.problems.length);
      expect(bad).toEqual([]);
      expect(results).toHaveLength(CHART_CELLS.length + Object.keys(OLD_STYLE_FIGURES).length);
      // The checks looked at something: every chart had titles to find, and found them.
      expect(results.every((r) => r.chart && (r.chart.drawnTraces > 0 || (r.mapLayers ?? 0) > 0))).toBe(true);
      // The map figure drew its trace on a MapLibre map.
      expect(results.find((r) => r.name.includes("mapbox trace"))!.mapLayers).toBeGreaterThan(0);
      expect(blocked).toEqual([]);
    });
  }

  for (const v of VERSIONS.filter((x) => x.major >= 3)) {
    it(`plotly.js ${v.name} fails these checks on the old-style figures as written (string titles vanish, removed traces do not draw)`, async () => {
      const { page, logs } = await pageFor(v);
      const results: Drawn[] = [];
      for (const chart of oldStyle(false)) results.push(await draw(page, logs, chart));
      const byName = new Map(results.map((r) => [r.name.replace(/^un-normalised old style: /, ""), r]));
      // A string axis title is gone in 3.x and 4.x: the check that passes above would catch it.
      const titles = byName.get("string titles on the layout, two pairs of axes and the legend")!;
      expect(titles.missingTitles).toEqual(expect.arrayContaining(["Old layout title", "old x", "old y", "old x2", "old y2"]));
      // heatmapgl and pointcloud are gone since 3.0: their traces do not draw.
      expect(problems(byName.get("pointcloud, with *src grid references")!).join(" ")).toMatch(/not drawn|titles missing/);
      expect(problems(byName.get("heatmapgl and a coloraxis, colour bars with string titles")!).join(" ")).toMatch(/not drawn|old heat bar/);
      expect(byName.get("3-D scene with string axis titles")!.missingTitles).toEqual(expect.arrayContaining(["(scene) old sx"]));
      // Every old-style figure fails at least one check.
      expect(results.filter((r) => problems(r).length === 0).map((r) => r.name)).toEqual([]);
      if (v.major >= 4) {
        // plotly.js 4 has no mapbox: the old map trace does not draw.
        expect(problems(byName.get("mapbox trace and subplot (offline white-bg style), with a Mapbox access token")!).join(" ")).toMatch(/not drawn/);
        // plotly.js 4 no longer parses bare hex or hsv(): the pie's slices lose the colours they ask for.
        const pie = OLD_STYLE_FIGURES["pie with a string title, titlefont and titleposition"];
        const fills = (fig: FigureJSON) => page.evaluate(async (f) => {
          const gd = document.getElementById("gd") as any;
          await (window as any).Plotly.newPlot(gd, f);
          return Array.from(gd.querySelectorAll(".pielayer .slice path.surface")).map((p) => (p as SVGElement).style.fill);
        }, fig as any);
        const asWritten = await fills(pie), normalised = await fills(normalizeFigure(pie));
        expect(normalised).toEqual(["rgb(255, 127, 14)", "rgb(82, 163, 204)", "rgb(21, 120, 40)"]);
        expect(asWritten).not.toEqual(normalised);
      }
    });
  }
});
