/**
 * Figure: a chart as a value. Returning it as a cell's last value or calling `.show()` draws it.
 */
import { writeFileSync } from "fs";
import { DISPLAY_SYMBOL, display, type DisplayHandle, type MimeBundle } from "../display";
import { ensureLibraryShown } from "./library";
import { chartBundle, pageHtml } from "./render";
import type { Config, FigureJSON, Frame, Layout, Trace } from "./types";
import { plainJSON } from "./values";

/** The config every lepton chart starts from. */
export const DEFAULT_CONFIG: Config = { responsive: true, displaylogo: false };

export class Figure {
  readonly data: Trace[];
  readonly layout: Layout;
  readonly config: Config;
  readonly frames: Frame[] | undefined;
  /** What the chart is ("line chart", "heatmap", ...), for its text summary. */
  readonly kind: string;

  constructor(data: Trace[], layout: Layout = {}, config: Config = {}, frames?: Frame[], kind = "figure") {
    if (!Array.isArray(data)) {
      throw new Error("lepton.plot: a figure's data must be an array of traces, e.g. [{ type: \"scatter\", x: [1, 2], y: [3, 4] }].");
    }
    this.data = plainJSON(data, "data") as Trace[];
    this.layout = plainJSON(layout ?? {}, "layout") as Layout;
    this.config = { ...DEFAULT_CONFIG, ...(plainJSON(config ?? {}, "config") as Config) };
    this.frames = frames && frames.length ? (plainJSON(frames, "frames") as Frame[]) : undefined;
    this.kind = kind;
  }

  /** The JSON carried by `application/vnd.plotly.v1+json`: `{ data, layout, config, frames? }`. */
  toJSON(): FigureJSON {
    const json: FigureJSON = { data: this.data, layout: this.layout, config: this.config };
    if (this.frames) json.frames = this.frames;
    return json;
  }

  /** A one-line description: kind, title and traces. */
  summary(): string {
    const title = titleText(this.layout.title);
    const traces = this.data.map(traceSummary);
    const shown = traces.slice(0, 4).join(", ") + (traces.length > 4 ? `, … (${traces.length} traces)` : "");
    return `${this.kind}${title ? ` "${title}"` : ""}${shown ? `: ${shown}` : ""}`;
  }

  /** The mime bundle for Jupyter (the library is sent separately, once per session). */
  [DISPLAY_SYMBOL](): MimeBundle {
    ensureLibraryShown();
    return chartBundle(this.toJSON(), this.summary());
  }

  /** Draw the figure now (as a display output). Returns the handle of that output. */
  show(): DisplayHandle {
    return display(this);
  }

  /** A standalone HTML page with plotly.js inlined: opens offline from a file. */
  toHTML(): string {
    return pageHtml(this.toJSON(), this.summary());
  }

  /** Write `toHTML()` to a file. */
  saveHTML(path: string): void {
    writeFileSync(path, this.toHTML());
  }
}

function titleText(title: unknown): string {
  if (typeof title === "string") return title;
  if (title && typeof title === "object" && typeof (title as { text?: unknown }).text === "string") {
    return (title as { text: string }).text;
  }
  return "";
}

function traceSummary(trace: Trace): string {
  const name = typeof trace.name === "string" && trace.name ? trace.name : trace.type ?? "scatter";
  if (Array.isArray(trace.z) && Array.isArray(trace.z[0])) return `${name} (${trace.z.length}×${(trace.z[0] as unknown[]).length})`;
  const y = trace.y ?? trace.x;
  return Array.isArray(y) ? `${name} (${y.length} points)` : name;
}
