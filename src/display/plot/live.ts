/**
 * Live figures: a shown chart that training code updates in place (display_id updates), at most a
 * few times a second, with a final flush.
 *
 *   const live = plot.live(plot.line([{ y: [], name: "train" }, { y: [], name: "val" }], { title: "Loss" }));
 *   live.extend(0, step, loss);   // append a point to trace 0
 *   live.flush();                 // at the end: send what is pending now
 *
 * Each update replaces the chart's output with a new bundle whose HTML only calls window.Plotly
 * (the library output sent with the first chart is never repeated or touched).
 */
import { randomUUID } from "crypto";
import { beforeCellEnds, cancelBeforeCellEnds } from "../cells";
import { display, mime, type DisplayHandle } from "../display";
import { Figure } from "./figure";
import { ensureLibraryShown } from "./library";
import { chartBundle } from "./render";
import type { Layout, Trace } from "./types";
import { plainJSON } from "./values";

export interface LiveOptions {
  /** Most updates sent per second (default 4). Changes in between are merged into the next one. */
  maxUpdatesPerSecond?: number;
  /** Keep only the last N points of each trace (default: keep all). */
  maxPoints?: number;
}

export class LiveFigure {
  /** The output being updated. */
  readonly handle: DisplayHandle;
  /** Updates sent so far (not counting the first display). */
  updatesSent = 0;
  private data: Trace[];
  private layout: Layout;
  private readonly base: Figure;
  private readonly key = randomUUID();
  private readonly intervalMs: number;
  private readonly maxPoints: number;
  private lastSent = 0;
  private dirty = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(fig: Figure, options: LiveOptions = {}) {
    if (!(fig instanceof Figure)) {
      throw new Error("lepton.plot.live: pass a figure made by lepton.plot, e.g. plot.live(plot.line({ y: [], name: \"loss\" })).");
    }
    const rate = options.maxUpdatesPerSecond ?? 4;
    if (!(rate > 0)) throw new Error(`lepton.plot.live: maxUpdatesPerSecond must be a positive number (got ${rate}).`);
    this.intervalMs = 1000 / rate;
    this.maxPoints = options.maxPoints ?? Infinity;
    this.base = fig;
    this.data = fig.data.map(ownArrays);
    this.layout = { ...fig.layout };
    ensureLibraryShown();
    this.handle = display(mime(chartBundle(this.current().toJSON(), this.current().summary(), this.key)));
    this.lastSent = Date.now();
  }

  /** The figure as it is now (including changes not yet sent). */
  current(): Figure {
    return new Figure(this.data, this.layout, this.base.config, this.base.frames, this.base.kind);
  }

  /** Append points to trace `trace`: one x and y, or arrays of them. */
  extend(trace: number, x: number | ArrayLike<number>, y: number | ArrayLike<number>): void {
    const t = this.data[trace];
    if (!t) throw new Error(`lepton.plot.live: there is no trace ${trace}; the figure has ${this.data.length} (indices 0..${this.data.length - 1}).`);
    const xs = typeof x === "number" ? [x] : Array.from(x);
    const ys = typeof y === "number" ? [y] : Array.from(y);
    if (xs.length !== ys.length) throw new Error(`lepton.plot.live: extend got ${xs.length} x values and ${ys.length} y values; pass as many of each.`);
    const clean = (v: number) => (Number.isFinite(v) ? v : null);
    // The arrays are this live figure's own copies (see ownArrays): append in place.
    if (!Array.isArray(t.x)) t.x = [];
    if (!Array.isArray(t.y)) t.y = [];
    const tx = t.x as unknown[], ty = t.y as unknown[];
    for (let i = 0; i < xs.length; i++) {
      tx.push(clean(xs[i]));
      ty.push(clean(ys[i]));
    }
    if (tx.length > this.maxPoints) tx.splice(0, tx.length - this.maxPoints);
    if (ty.length > this.maxPoints) ty.splice(0, ty.length - this.maxPoints);
    this.changed();
  }

  /** Replace all traces (and optionally merge layout changes). */
  replace(data: Trace[] | Figure, layout?: Layout): void {
    if (data instanceof Figure) {
      this.data = data.data.map(ownArrays);
      this.layout = { ...data.layout };
    } else {
      if (!Array.isArray(data)) throw new Error("lepton.plot.live: replace takes an array of traces or a Figure.");
      this.data = (plainJSON(data, "data") as Trace[]).map(ownArrays);
    }
    if (layout) this.layout = { ...this.layout, ...(plainJSON(layout, "layout") as Layout) };
    this.changed();
  }

  /** Merge layout attributes (e.g. `{ title: { text: "epoch 3" } }`). */
  relayout(layout: Layout): void {
    this.layout = { ...this.layout, ...(plainJSON(layout, "layout") as Layout) };
    this.changed();
  }

  /** Send any pending change now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    cancelBeforeCellEnds(this.flushAtCellEnd);
    if (this.dirty) this.send();
  }

  /** The kernel calls this before the cell's reply, so a held-back update is never lost (see beforeCellEnds). */
  private readonly flushAtCellEnd = (): void => this.flush();

  /** Flush and stop: later changes throw. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private changed(): void {
    if (this.closed) throw new Error("lepton.plot.live: this live figure was closed; create a new one with plot.live(fig).");
    this.dirty = true;
    const wait = this.lastSent + this.intervalMs - Date.now();
    if (wait <= 0) {
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        cancelBeforeCellEnds(this.flushAtCellEnd);
        if (this.dirty) this.send();
      }, wait);
      beforeCellEnds(this.flushAtCellEnd);
    }
  }

  private send(): void {
    this.dirty = false;
    this.lastSent = Date.now();
    const fig = this.current();
    this.handle.update(mime(chartBundle(fig.toJSON(), fig.summary(), this.key)));
    this.updatesSent++;
  }
}

/** A shallow copy of a trace whose x and y arrays are fresh, so that extending them changes no one else's. */
function ownArrays(trace: Trace): Trace {
  const copy: Trace = { ...trace };
  if (Array.isArray(copy.x)) copy.x = [...copy.x];
  if (Array.isArray(copy.y)) copy.y = [...copy.y];
  return copy;
}

/** Show a figure and return a handle that updates it in place: `const live = plot.live(fig)`. */
export function live(fig: Figure, options: LiveOptions = {}): LiveFigure {
  return new LiveFigure(fig, options);
}
