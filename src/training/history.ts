/**
 * History: per-epoch metrics returned by train(); shows itself as loss/accuracy charts.
 */
import { DISPLAY_SYMBOL, toMimeBundle, type Displayable, type MimeBundle } from "../display/display";
import { line } from "../display/plot/charts";
import { subplots } from "../display/plot/subplots";
import type { Figure } from "../display/plot/figure";

export class History implements Displayable {
  /** Epoch numbers (1-based) in the order they finished. */
  readonly epochs: number[] = [];
  /** Per-epoch values of each metric: loss, accuracy, val_loss, val_accuracy, lr, time_s. */
  readonly metrics: { [name: string]: number[] } = {};
  /** True when training stopped because of a kernel interrupt. */
  interrupted = false;
  /** Why training stopped early (early stopping, NaN loss, interrupt), if it did. */
  stopReason?: string;

  /** Append one epoch's metrics. */
  record(epoch: number, logs: { [name: string]: number }): void {
    this.epochs.push(epoch);
    const n = this.epochs.length;
    for (const [k, v] of Object.entries(logs)) {
      if (!this.metrics[k]) this.metrics[k] = new Array(n - 1).fill(NaN);
      this.metrics[k].push(v);
    }
    for (const k of Object.keys(this.metrics)) if (this.metrics[k].length < n) this.metrics[k].push(NaN);
  }

  /** The last recorded value of a metric. */
  last(metric: string): number | undefined {
    const v = this.metrics[metric];
    return v && v.length ? v[v.length - 1] : undefined;
  }

  /** Loss (and accuracy, when present) of training and validation per epoch. */
  plot(): Figure {
    const figs: Figure[] = [];
    const panel = (name: string, title: string) => {
      const series = [name, `val_${name}`]
        .filter((m) => this.metrics[m])
        .map((m) => ({ x: this.epochs, y: this.metrics[m], name: m.startsWith("val_") ? "validation" : "train", mode: "lines+markers" }));
      if (series.length) figs.push(line(series as any, { title, xaxis: { title: "epoch" }, yaxis: { title: name } }));
    };
    panel("loss", "Loss");
    panel("accuracy", "Accuracy");
    if (figs.length === 0) return line({ y: [], name: "loss" }, { title: "No epochs recorded" });
    return figs.length === 1 ? figs[0] : subplots(figs, { columns: figs.length });
  }

  /** A plain-text table of the metrics per epoch. */
  toString(): string {
    const names = Object.keys(this.metrics);
    const rows = this.epochs.map((e, i) => [String(e), ...names.map((m) => formatMetric(this.metrics[m][i]))]);
    const header = ["epoch", ...names];
    const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
    const fmt = (r: string[]) => r.map((c, j) => c.padStart(widths[j])).join("  ");
    const lines = [fmt(header), ...rows.map(fmt)];
    if (this.stopReason) lines.push(`stopped: ${this.stopReason}`);
    return lines.join("\n");
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    const bundle = toMimeBundle(this.plot());
    return { ...bundle, "text/plain": this.toString() };
  }
}

export function formatMetric(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "-";
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return v.toFixed(4);
}
