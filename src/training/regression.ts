/**
 * Regression metrics (MSE, RMSE, MAE, R²) and RegressionReport: the metrics as a table plus a
 * predicted-against-actual chart and a residual chart.
 *
 * Values are flat, sample after sample: with `outputs` values per sample, value i * outputs + j is
 * output j of sample i. Overall MSE and MAE are taken over all values (the uniform average over
 * outputs), RMSE is the square root of that MSE, and R² is scikit-learn's r2_score default: R² of
 * each output, then their plain mean ("uniform_average").
 */
import { DISPLAY_SYMBOL, toMimeBundle, type Displayable, type MimeBundle } from "../display/display";
import { figure, line, scatter } from "../display/plot/charts";
import { subplots } from "../display/plot/subplots";
import type { Figure } from "../display/plot/figure";
import { escapeHtml } from "../util/html";
import { formatMetric } from "./history";

/** Metrics of one output (or of all outputs together). */
export interface OutputMetrics {
  mse: number;
  rmse: number;
  mae: number;
  /** 1 - SS_res / SS_tot, SS_tot around the mean target (1 when perfect, 0 when SS_tot is 0 and not perfect). */
  r2: number;
}

export interface RegressionMetrics extends OutputMetrics {
  /** The metrics of each output (one entry when outputs = 1). */
  perOutput: OutputMetrics[];
}

/** Most points drawn in each scatter panel; more are subsampled evenly (every k-th sample). */
export const MAX_PLOT_POINTS = 5000;

/** Colours of the per-output series (Plotly's default cycle). */
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
/** Up to this many outputs are drawn as separate series; more are drawn as one. */
const MAX_SERIES = COLORS.length;

function checkInputs(pred: ArrayLike<number>, target: ArrayLike<number>, outputs: number, fn: string): number {
  if (!pred || !target || typeof pred.length !== "number" || typeof target.length !== "number") {
    throw new Error(`${fn}: predictions and targets must be arrays of numbers (e.g. Float32Array).`);
  }
  if (pred.length !== target.length) {
    throw new Error(`${fn}: ${pred.length} predictions but ${target.length} targets; they must have the same length.`);
  }
  if (!Number.isInteger(outputs) || outputs < 1) throw new Error(`${fn}: outputs must be a whole number >= 1; got ${outputs}.`);
  if (pred.length % outputs !== 0) {
    throw new Error(`${fn}: ${pred.length} values do not split into samples of ${outputs} outputs.`);
  }
  return pred.length / outputs;
}

/** R² as scikit-learn computes it with force_finite: a constant target gives 1 if predicted exactly, else 0. */
function r2Score(ssRes: number, ssTot: number, n: number): number {
  if (n === 0) return NaN;
  if (ssTot === 0) return ssRes === 0 ? 1 : 0;
  return 1 - ssRes / ssTot;
}

/**
 * MSE, RMSE, MAE and R² of `pred` against `target` (same length, `outputs` values per sample),
 * overall and per output. Sums are taken in float64.
 *
 *   regressionMetrics([2.5, 0, 2, 8], [3, -0.5, 2, 7]);   // { mse: 0.375, mae: 0.5, r2: 0.9486..., ... }
 */
export function regressionMetrics(pred: ArrayLike<number>, target: ArrayLike<number>, outputs = 1): RegressionMetrics {
  const n = checkInputs(pred, target, outputs, "regressionMetrics()");
  const perOutput: OutputMetrics[] = [];
  let sq = 0;
  let abs = 0;
  for (let j = 0; j < outputs; j++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += target[i * outputs + j];
    mean /= n;
    let ssRes = 0, ssTot = 0, sumAbs = 0;
    for (let i = 0; i < n; i++) {
      const t = target[i * outputs + j];
      const e = t - pred[i * outputs + j];
      ssRes += e * e;
      sumAbs += Math.abs(e);
      ssTot += (t - mean) * (t - mean);
    }
    sq += ssRes;
    abs += sumAbs;
    const mse = n ? ssRes / n : NaN;
    perOutput.push({ mse, rmse: Math.sqrt(mse), mae: n ? sumAbs / n : NaN, r2: r2Score(ssRes, ssTot, n) });
  }
  const count = n * outputs;
  const mse = count ? sq / count : NaN;
  const r2 = n ? perOutput.reduce((s, m) => s + m.r2, 0) / outputs : NaN;
  return { mse, rmse: Math.sqrt(mse), mae: count ? abs / count : NaN, r2, perOutput };
}

/** Evenly spaced sample indices, at most `max` values in all (`outputs` per sample). */
function plotSamples(n: number, outputs: number, max = MAX_PLOT_POINTS): Int32Array {
  const m = Math.min(n, Math.max(1, Math.floor(max / outputs)));
  const idx = new Int32Array(m);
  for (let i = 0; i < m; i++) idx[i] = Math.floor((i * n) / m);
  return idx;
}

/**
 * How well a regression model fits: loss, MSE, RMSE, MAE and R² (overall and per output), with
 * `plot()` drawing predicted against actual and the residuals. Shown in a notebook as a table and
 * the two charts.
 *
 *   const r = lepton.RegressionReport.from(predictions, targets, 1, loss);
 *   r.r2; r.plot();
 */
export class RegressionReport implements Displayable {
  readonly mse: number;
  readonly rmse: number;
  readonly mae: number;
  readonly r2: number;
  /** Number of samples (values / outputs). */
  readonly n: number;
  /** Metrics of each output, when there is more than one. */
  readonly perOutput?: OutputMetrics[];

  constructor(
    /** Predicted values, sample after sample (`outputs` per sample). */
    readonly predictions: Float32Array,
    /** Target values, laid out as `predictions`. */
    readonly targets: Float32Array,
    /** Values per sample. */
    readonly outputs = 1,
    /** Mean loss as the training engine computes it (NaN when not known). */
    readonly loss = NaN,
  ) {
    this.n = checkInputs(predictions, targets, outputs, "RegressionReport");
    const m = regressionMetrics(predictions, targets, outputs);
    this.mse = m.mse;
    this.rmse = m.rmse;
    this.mae = m.mae;
    this.r2 = m.r2;
    if (outputs > 1) this.perOutput = m.perOutput;
  }

  /** A report from flat predictions and targets (plain arrays are copied into Float32Arrays). */
  static from(predictions: ArrayLike<number>, targets: ArrayLike<number>, outputs = 1, loss = NaN): RegressionReport {
    const f32 = (a: ArrayLike<number>) => (a instanceof Float32Array ? a : Float32Array.from(a));
    checkInputs(predictions, targets, outputs, "RegressionReport.from()");
    return new RegressionReport(f32(predictions), f32(targets), outputs, loss);
  }

  /** Two panels: predicted against actual (with y = x) and residuals (actual − predicted) against predicted (with y = 0). */
  plot(): Figure {
    const { n, outputs } = this;
    const idx = plotSamples(n, outputs);
    const shown = idx.length * outputs;
    const total = n * outputs;
    const groups = outputs > 1 && outputs <= MAX_SERIES ? outputs : 1;
    const actual: number[][] = Array.from({ length: groups }, () => []);
    const predicted: number[][] = Array.from({ length: groups }, () => []);
    const residual: number[][] = Array.from({ length: groups }, () => []);
    let lo = Infinity, hi = -Infinity, plo = Infinity, phi = -Infinity;
    for (const i of idx) {
      for (let j = 0; j < outputs; j++) {
        const t = this.targets[i * outputs + j], p = this.predictions[i * outputs + j];
        const g = groups > 1 ? j : 0;
        actual[g].push(t);
        predicted[g].push(p);
        residual[g].push(t - p);
        if (Number.isFinite(t)) { lo = Math.min(lo, t); hi = Math.max(hi, t); }
        if (Number.isFinite(p)) { lo = Math.min(lo, p); hi = Math.max(hi, p); plo = Math.min(plo, p); phi = Math.max(phi, p); }
      }
    }
    if (!(lo <= hi)) { lo = 0; hi = 1; }
    if (!(plo <= phi)) { plo = lo; phi = hi; }
    const seriesName = (g: number) => (groups > 1 ? `output ${g}` : undefined);
    const points = (xs: number[][], ys: number[][]) =>
      scatter(xs.map((x, g) => ({ x, y: ys[g], name: seriesName(g), size: 5, color: groups > 1 ? COLORS[g] : COLORS[0] })));
    const ref = (x: number[], y: number[], name: string) => line({ x, y, name, color: "#444", dash: "dash", width: 1 });
    const fit = points(actual, predicted);
    const fitRef = ref([lo, hi], [lo, hi], "y = x");
    const res = points(predicted, residual);
    const resRef = ref([plo, phi], [0, 0], "y = 0");
    const left = figure([...fit.data, ...fitRef.data], { xaxis: { title: { text: "actual" } }, yaxis: { title: { text: "predicted" } } });
    const right = figure([...res.data, ...resRef.data], { xaxis: { title: { text: "predicted" } }, yaxis: { title: { text: "residual (actual − predicted)" } } });
    const sampled = shown < total ? ` — ${shown} of ${total} points shown (evenly spaced samples)` : "";
    return subplots([left, right], {
      columns: 2,
      titles: ["Predicted vs actual", "Residuals vs predicted"],
      title: `Regression: R² ${this.r2.toFixed(3)}, RMSE ${formatMetric(this.rmse)} (${n} samples)${sampled}`,
      height: 400,
    });
  }

  /** One line: loss, MSE, RMSE, MAE, R² and the number of samples. */
  toString(): string {
    const parts = Number.isNaN(this.loss) ? [] : [`loss ${formatMetric(this.loss)}`];
    parts.push(`mse ${formatMetric(this.mse)}`, `rmse ${formatMetric(this.rmse)}`, `mae ${formatMetric(this.mae)}`, `r2 ${formatMetric(this.r2)}`);
    return `${parts.join("   ")}   (${this.n} samples)`;
  }

  /** HTML table of the metrics (one row overall, then one per output when there are several). */
  tableHtml(): string {
    const td = (v: number) => `<td style="text-align:right">${escapeHtml(formatMetric(v))}</td>`;
    const row = (name: string, m: OutputMetrics, bold = false) =>
      `<tr${bold ? ' style="font-weight:bold"' : ""}><td>${escapeHtml(name)}</td>${td(m.mse)}${td(m.rmse)}${td(m.mae)}${td(m.r2)}</tr>`;
    const loss = Number.isNaN(this.loss) ? "" : `<b>loss</b> ${escapeHtml(formatMetric(this.loss))} &nbsp; `;
    return (
      `<div>${loss}<b>R²</b> ${escapeHtml(formatMetric(this.r2))} &nbsp; (${this.n} samples${this.outputs > 1 ? `, ${this.outputs} outputs` : ""})</div>` +
      `<table><tr><th></th><th>mse</th><th>rmse</th><th>mae</th><th>r2</th></tr>` +
      row(this.outputs > 1 ? "all outputs" : "all", this, this.outputs > 1) +
      (this.perOutput ?? []).map((m, j) => row(`output ${j}`, m)).join("") +
      `</table>`
    );
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    let markup = this.tableHtml();
    if (this.n > 0) {
      const h = toMimeBundle(this.plot())["text/html"];
      if (typeof h === "string") markup += h;
    }
    return { "text/html": markup, "text/plain": this.toString() };
  }
}
