/**
 * subplots: several figures side by side in one chart, each on its own axes (or 3-D scene).
 */
import { Figure } from "./figure";
import type { Layout, Trace } from "./types";

export interface SubplotOptions {
  /** Figures per row (default: 2, or fewer figures). */
  columns?: number;
  /** Titles above the panels (default: each figure's own title). */
  titles?: ReadonlyArray<string>;
  /** Title of the whole chart. */
  title?: string;
  /** Height in px (default 350 per row). */
  height?: number;
  width?: number;
  /** Space between panels, as a fraction of the chart (default 0.08 across, 0.12 down). */
  gap?: [number, number];
  layout?: Layout;
}

const SCENE_TYPES = new Set(["surface", "scatter3d", "mesh3d", "cone", "streamtube", "volume", "isosurface"]);

/** Combine figures into a grid of panels: `subplots([lossFig, accuracyFig], { columns: 2 })`. */
export function subplots(figures: readonly Figure[], options: SubplotOptions = {}): Figure {
  if (!Array.isArray(figures) || figures.length === 0 || !figures.every((f) => f instanceof Figure)) {
    throw new Error("lepton.plot.subplots: pass a non-empty array of figures made by lepton.plot (e.g. [plot.line(...), plot.heatmap(...)]).");
  }
  const n = figures.length;
  const columns = Math.max(1, Math.min(options.columns ?? Math.min(n, 2), n));
  const rows = Math.ceil(n / columns);
  const [gx, gy] = options.gap ?? [0.08, rows > 1 ? 0.12 : 0];
  const w = (1 - gx * (columns - 1)) / columns;
  const h = (1 - gy * (rows - 1)) / rows;
  const data: Trace[] = [];
  const annotations: Layout[] = [];
  const shapes: Layout[] = [];
  const layout: Layout = { height: options.height ?? 350 * rows, showlegend: true };
  if (options.width) layout.width = options.width;
  if (options.title) layout.title = { text: options.title };

  figures.forEach((fig, i) => {
    const k = i + 1;
    const col = i % columns, row = Math.floor(i / columns);
    const xd: [number, number] = [col * (w + gx), col * (w + gx) + w];
    const yd: [number, number] = [1 - row * (h + gy) - h, 1 - row * (h + gy)];
    const xName = k === 1 ? "x" : `x${k}`, yName = k === 1 ? "y" : `y${k}`;
    const sceneName = k === 1 ? "scene" : `scene${k}`;
    let usesAxes = false, usesScene = false;
    for (const t of fig.data) {
      const trace: Trace = { ...t };
      if (!trace.name && trace.showlegend === undefined) trace.showlegend = false;
      if (SCENE_TYPES.has(String(trace.type))) {
        trace.scene = sceneName;
        usesScene = true;
      } else {
        if ((trace.xaxis && trace.xaxis !== "x") || (trace.yaxis && trace.yaxis !== "y")) {
          throw new Error(`lepton.plot.subplots: figure ${i} already has several axes; pass figures with one set of axes each.`);
        }
        trace.xaxis = xName;
        trace.yaxis = yName;
        usesAxes = true;
      }
      if (["heatmap", "contour", "surface"].includes(String(trace.type)) && trace.showscale !== false) {
        trace.colorbar = { ...(trace.colorbar as Layout), x: xd[1] + 0.005, xanchor: "left", y: (yd[0] + yd[1]) / 2, len: yd[1] - yd[0], thickness: 12 };
      }
      data.push(trace);
    }
    if (usesAxes) {
      const xa = { ...((fig.layout.xaxis as Layout) ?? {}), domain: xd, anchor: yName };
      const ya: Layout = { ...((fig.layout.yaxis as Layout) ?? {}), domain: yd, anchor: xName };
      if (ya.scaleanchor) ya.scaleanchor = xName;
      layout[k === 1 ? "xaxis" : `xaxis${k}`] = xa;
      layout[k === 1 ? "yaxis" : `yaxis${k}`] = ya;
    }
    if (usesScene) layout[sceneName] = { ...((fig.layout.scene as Layout) ?? {}), domain: { x: xd, y: yd } };
    const remap = (item: Layout): Layout => {
      const out = { ...item };
      if (out.xref === "paper" || out.xref === undefined) {
        if (typeof out.x === "number") out.x = xd[0] + out.x * (xd[1] - xd[0]);
        out.xref = "paper";
      } else if (out.xref === "x") out.xref = xName;
      if (out.yref === "paper" || out.yref === undefined) {
        if (typeof out.y === "number") out.y = yd[0] + out.y * (yd[1] - yd[0]);
        out.yref = "paper";
      } else if (out.yref === "y") out.yref = yName;
      return out;
    };
    for (const a of (fig.layout.annotations as Layout[]) ?? []) annotations.push(remap(a));
    for (const s of (fig.layout.shapes as Layout[]) ?? []) shapes.push(remap(s));
    const title = options.titles?.[i] ?? titleOf(fig.layout.title);
    if (title) {
      annotations.push({
        text: title, x: (xd[0] + xd[1]) / 2, y: yd[1], xref: "paper", yref: "paper",
        xanchor: "center", yanchor: "bottom", showarrow: false, font: { size: 14 },
      });
    }
  });
  if (annotations.length) layout.annotations = annotations;
  if (shapes.length) layout.shapes = shapes;
  if (options.layout) Object.assign(layout, options.layout);
  return new Figure(data, layout, {}, undefined, `subplots (${n} panels)`);
}

function titleOf(title: unknown): string {
  if (typeof title === "string") return title;
  if (title && typeof title === "object" && typeof (title as Layout).text === "string") return (title as Layout).text as string;
  return "";
}
