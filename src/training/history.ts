/**
 * History: per-epoch metrics returned by train(); shows itself as one chart panel per metric (loss
 * first), training and validation in the same two colours in every panel.
 *
 * One figure per training cell: when a History is the value of the very cell execution that showed
 * its training's live chart (ProgressView links the two, see linkLiveChart), that cell's
 * execute_result is the text table only, since the live chart above already is its chart. In any
 * other cell `history` draws the chart; `lepton.display(history)` always draws it (an explicit
 * request), in the training cell too.
 */
import { DISPLAY_SYMBOL, cellResultOf, outputCell, toMimeBundle, type Displayable, type MimeBundle } from "../display/display";
import { line, type Series } from "../display/plot/charts";
import { subplots } from "../display/plot/subplots";
import type { Figure } from "../display/plot/figure";

/** Keras's `history.params`: what the training was asked to do. */
export interface HistoryParams {
  /** Epochs to train to (the total, including resumed ones). */
  epochs: number;
  /** Batches per epoch. */
  steps: number;
  batchSize?: number;
}

/** Colours of the training curves, the same in every panel, in the live chart and in History.plot(). */
export const TRAIN_COLOR = "#1f77b4";
export const VALIDATION_COLOR = "#ff7f0e";
export const BATCH_COLOR = "rgba(31,119,180,0.35)";

/** Per-epoch values that are not metrics to plot. */
const NOT_PLOTTED = new Set(["lr", "time_s"]);

/** Which cell execution showed the live chart of each History's training. */
const liveCells = new WeakMap<History, string>();

export class History implements Displayable {
  /** Epoch numbers (1-based) in the order they finished. */
  readonly epochs: number[] = [];
  /** Per-epoch values of each metric: loss, accuracy, val_loss, val_accuracy, lr, time_s. */
  readonly metrics: { [name: string]: number[] } = {};
  /** True when training stopped because of a kernel interrupt. */
  interrupted = false;
  /** Why training stopped early (early stopping, NaN loss, interrupt), if it did. */
  stopReason?: string;
  /** Notes on reading the numbers (e.g. label smoothing in the training loss); printed by toString(). */
  readonly notes: string[] = [];
  /** What the training was asked to do (Keras's `history.params`): set by train() (or by ProgressView from its arguments). */
  params?: HistoryParams;

  constructor(params?: HistoryParams) {
    if (params) this.params = { ...params };
  }

  /** Keras's `history.history`: the per-epoch arrays by metric name (`history.history.loss`, `.val_accuracy`); the same arrays as `metrics`. */
  get history(): { [name: string]: number[] } {
    return this.metrics;
  }

  /** Append one epoch's metrics. */
  record(epoch: number, logs: { [name: string]: number }): void {
    this.epochs.push(epoch);
    const n = this.epochs.length;
    for (const [k, v] of Object.entries(logs)) {
      if (!this.metrics[k]) this.metrics[k] = new Array(n - 1).fill(NaN);
      this.metrics[k].push(v);
    }
    for (const k of Object.keys(this.metrics)) if (this.metrics[k].length < n) this.metrics[k].push(NaN);
    const open = openLive;
    if (open && !liveCells.has(this) && open.cell === outputCell()) liveCells.set(this, open.cell);
  }

  /** The last recorded value of a metric. */
  last(metric: string): number | undefined {
    const v = this.metrics[metric];
    return v && v.length ? v[v.length - 1] : undefined;
  }

  /** The metrics that get a panel: loss first, then each other name (val_ folded into its name; lr and time_s left out). */
  metricNames(): string[] {
    const names = Object.keys(this.metrics).map((k) => (k.startsWith("val_") ? k.slice(4) : k)).filter((k) => !NOT_PLOTTED.has(k));
    return [...new Set(["loss", ...names])];
  }

  /** One panel per metric (loss first): training and validation per epoch. */
  plot(): Figure {
    if (this.epochs.length === 0) return line({ y: [], name: "loss" }, { title: "No epochs recorded" });
    return trainingFigure(this.epochs, this.metrics, this.metricNames());
  }

  /** A plain-text table of the metrics per epoch, then the stop reason and the notes. */
  toString(): string {
    const names = Object.keys(this.metrics);
    const rows = this.epochs.map((e, i) => [String(e), ...names.map((m) => formatMetric(this.metrics[m][i]))]);
    const header = ["epoch", ...names];
    const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
    const fmt = (r: string[]) => r.map((c, j) => c.padStart(widths[j])).join("  ");
    const lines = [fmt(header), ...rows.map(fmt)];
    if (this.stopReason) lines.push(`stopped: ${this.stopReason}`);
    for (const n of this.notes) lines.push(`note: ${n}`);
    return lines.join("\n");
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    const live = liveCells.get(this);
    // The result of the cell that showed this training's live chart: that chart is its figure already.
    if (live !== undefined && cellResultOf() === live) return { "text/plain": this.toString() };
    const bundle = toMimeBundle(this.plot());
    return { ...bundle, "text/plain": this.toString() };
  }
}

/** Tie `history` to the live chart shown in cell execution `cell` (ProgressView calls this). */
export function linkLiveChart(history: History, cell: string): void {
  liveCells.set(history, cell);
}

/** The cell execution whose live chart `history` belongs to, if any. */
export function liveChartCell(history: History): string | undefined {
  return liveCells.get(history);
}

/**
 * A live training chart open now without a History to tie it to (ProgressView's 4-argument form):
 * a History that records an epoch in the same cell execution while it is open is tied to it.
 */
let openLive: { cell: string } | undefined;

export function setOpenLiveChart(open: { cell: string } | undefined): void {
  openLive = open;
}

export function openLiveChart(): { cell: string } | undefined {
  return openLive;
}

function panelTitle(metric: string): string {
  if (metric === "loss") return "Loss";
  if (metric === "accuracy") return "Accuracy";
  return metric;
}

/**
 * The training chart: one panel per metric in `metricNames` (loss first, always), each with the
 * "train" series (values[m]) and, when present, "validation" (values["val_" + m]); with `batches`,
 * a thin "train (batches)" line in the loss panel (smoothed batch loss at fractional epochs).
 * Every panel uses the same colour per series, and each name appears once in the legend.
 * History.plot() and the live chart both draw with this, so they look the same.
 */
export function trainingFigure(
  epochs: readonly number[],
  values: { readonly [name: string]: readonly number[] },
  metricNames: readonly string[],
  batches?: { x: readonly number[]; y: readonly number[] },
): Figure {
  const panels = [...new Set(["loss", ...metricNames.filter((m) => !NOT_PLOTTED.has(m) && !m.startsWith("val_"))])];
  const seen = new Set<string>();
  const figs = panels.map((m) => {
    const series: (Series & { group: string })[] = [];
    if (m === "loss" && batches) {
      series.push({ x: [...batches.x], y: [...batches.y], name: "train (batches)", mode: "lines", color: BATCH_COLOR, width: 1, group: "train (batches)" });
    }
    series.push({ x: values[m] ? [...epochs] : [], y: [...(values[m] ?? [])], name: "train", mode: "lines+markers", color: TRAIN_COLOR, group: "train" });
    if (values[`val_${m}`]) {
      series.push({ x: [...epochs], y: [...values[`val_${m}`]], name: "validation", mode: "lines+markers", color: VALIDATION_COLOR, group: "validation" });
    }
    const fig = line(series.map(({ group: _g, ...s }) => s), { title: panelTitle(m), xaxis: { title: "epoch" }, yaxis: { title: m } });
    fig.data.forEach((t, i) => {
      const group = series[i].group;
      t.legendgroup = group;
      t.showlegend = !seen.has(group);
      seen.add(group);
    });
    return fig;
  });
  if (figs.length === 1) {
    figs[0].layout.showlegend = true;
    return figs[0];
  }
  const columns = Math.min(figs.length, 3);
  return subplots(figs, { columns, height: 320 * Math.ceil(figs.length / columns) });
}

/**
 * The lowest value of the label-smoothed training loss with `eps` and `k` classes: the entropy of
 * the smoothed target, −(1−eps+eps/k)·ln(1−eps+eps/k) − (k−1)·(eps/k)·ln(eps/k).
 */
export function labelSmoothingFloor(eps: number, k: number): number {
  if (!(eps > 0) || !(k >= 2)) return 0;
  const hi = 1 - eps + eps / k;
  const lo = eps / k;
  return -hi * Math.log(hi) - (k - 1) * lo * Math.log(lo);
}

/** The note that says what label smoothing does to the training loss. */
export function labelSmoothingNote(eps: number, k: number): string {
  return (
    `The training loss includes label smoothing (${eps}, ${k} classes), so it cannot go below ${labelSmoothingFloor(eps, k).toFixed(4)}; ` +
    `the validation loss is plain cross-entropy (no smoothing), so the two are not directly comparable.`
  );
}

export function formatMetric(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "-";
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return v.toFixed(4);
}
