/**
 * Plots the course needs: activation functions with their derivatives, a loss surface with the
 * path gradient descent took (replayable with a slider), a 2-D classifier's decision boundary, and
 * a confusion matrix.
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor, Tensor2D } from "@tensorflow/tfjs";
import { Figure } from "./figure";
import { CLASS_COLORS, chartLayout } from "./layout";
import { heatmap } from "./charts";
import type { ChartOptions, Frame, Layout, Matrix, Numbers, Trace } from "./types";
import { describe, isTensor, toMatrix, toNumbers } from "./values";

export type ActivationName = "sigmoid" | "tanh" | "relu" | "leakyRelu" | "elu" | "softplus";

const ACTIVATIONS: { [name in ActivationName]: { label: string; f: (z: number) => number; df: (z: number) => number } } = {
  sigmoid: { label: "sigmoid", f: (z) => 1 / (1 + Math.exp(-z)), df: (z) => { const s = 1 / (1 + Math.exp(-z)); return s * (1 - s); } },
  tanh: { label: "tanh", f: Math.tanh, df: (z) => 1 - Math.tanh(z) ** 2 },
  relu: { label: "ReLU", f: (z) => Math.max(0, z), df: (z) => (z > 0 ? 1 : 0) },
  leakyRelu: { label: "leaky ReLU (α = 0.2)", f: (z) => (z > 0 ? z : 0.2 * z), df: (z) => (z > 0 ? 1 : 0.2) },
  elu: { label: "ELU", f: (z) => (z > 0 ? z : Math.exp(z) - 1), df: (z) => (z > 0 ? 1 : Math.exp(z)) },
  softplus: { label: "softplus", f: (z) => Math.log1p(Math.exp(z)), df: (z) => 1 / (1 + Math.exp(-z)) },
};

export interface ActivationOptions extends ChartOptions {
  /** The z interval drawn (default [-5, 5]). */
  range?: [number, number];
  /** Points sampled (default 401). */
  points?: number;
}

/** An activation function and its derivative: `activation("sigmoid")`. */
export function activation(name: ActivationName, options: ActivationOptions = {}): Figure {
  const act = ACTIVATIONS[name];
  if (!act) {
    throw new Error(`lepton.plot.activation: unknown activation "${name}"; choose one of ${Object.keys(ACTIVATIONS).join(", ")}.`);
  }
  const [lo, hi] = options.range ?? [-5, 5];
  const n = Math.max(2, options.points ?? 401);
  const z = Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
  const data: Trace[] = [
    { type: "scatter", mode: "lines", name: `${act.label}(z)`, x: z, y: z.map(act.f), line: { width: 3 } },
    { type: "scatter", mode: "lines", name: `${act.label}′(z)`, x: z, y: z.map(act.df), line: { dash: "dash", width: 2 } },
  ];
  const short = act.label.replace(/ \(.*\)$/, "");
  const layout = chartLayout(
    { title: `${act.label} and its derivative`, ...options },
    {
      xaxis: { title: { text: "z (pre-activation)" }, zeroline: true },
      yaxis: { title: { text: `${short}(z) and ${short}′(z)` }, zeroline: true },
      legend: { x: 0.02, y: 0.98 },
    },
  );
  return new Figure(data, layout, options.config, undefined, "activation");
}

/** `xTitle` / `yTitle` default to the two parameters' names. */
export interface LossSurfaceOptions extends ChartOptions {
  /** Grid points per axis where the loss is evaluated (default 60). */
  resolution?: number;
  /** Draw log10(loss), for losses spanning many orders of magnitude. */
  logScale?: boolean;
  /** Contour levels (default 25). */
  ncontours?: number;
  /** Slider positions at most (default 60; a longer path is sampled evenly). */
  maxFrames?: number;
}

/**
 * A loss surface over two parameters as a contour map, with the path gradient descent took and a
 * slider (and play button) to replay it:
 * `lossSurface((w, b) => loss(w, b), { w: [-3, 5], b: [-4, 4] }, path, { title: "GD" })`.
 * `ranges` names the two parameters (first = x axis); `path` is the list of [x, y] points visited.
 */
export function lossSurface(
  loss: (x: number, y: number) => number,
  ranges: { [parameter: string]: [number, number] },
  path: ReadonlyArray<readonly [number, number]> = [],
  options: LossSurfaceOptions = {},
): Figure {
  if (typeof loss !== "function") throw new Error("lepton.plot.lossSurface: the first argument must be a function (x, y) => loss.");
  const names = Object.keys(ranges ?? {});
  if (names.length !== 2) {
    throw new Error(`lepton.plot.lossSurface: ranges must name exactly two parameters, e.g. { w: [-3, 5], b: [-4, 4] } (got ${names.length}).`);
  }
  const [[x0, x1], [y0, y1]] = names.map((k) => ranges[k]);
  if (![x0, x1, y0, y1].every(Number.isFinite) || x1 <= x0 || y1 <= y0) {
    throw new Error(`lepton.plot.lossSurface: each range must be [low, high] with low < high (got ${JSON.stringify(ranges)}).`);
  }
  const res = Math.max(5, options.resolution ?? 60);
  const xs = Array.from({ length: res }, (_, i) => x0 + ((x1 - x0) * i) / (res - 1));
  const ys = Array.from({ length: res }, (_, i) => y0 + ((y1 - y0) * i) / (res - 1));
  const transform = (v: number) => (options.logScale ? Math.log10(Math.max(v, 1e-12)) : v);
  const z = ys.map((y) => xs.map((x) => {
    const v = transform(loss(x, y));
    return Number.isFinite(v) ? v : null;
  }));
  const data: Trace[] = [
    {
      type: "contour", name: options.logScale ? "log10 loss" : "loss", x: xs, y: ys, z,
      colorscale: "Viridis", reversescale: true, ncontours: options.ncontours ?? 25, autocontour: true,
      colorbar: { title: { text: options.logScale ? "log10 loss" : "loss" } },
      contours: { coloring: "heatmap" }, line: { width: 0.5 },
    },
  ];
  const px = path.map((p) => p[0]), py = path.map((p) => p[1]);
  let frames: Frame[] | undefined;
  const layoutExtra: Layout = {};
  if (path.length) {
    data.push({
      type: "scatter", mode: "lines+markers", name: "gradient descent", x: px, y: py,
      line: { color: "white", width: 2 }, marker: { color: "#d62728", size: 6, line: { color: "white", width: 1 } },
    });
    data.push({
      type: "scatter", mode: "markers", name: "start", x: [px[0]], y: [py[0]],
      marker: { color: "white", size: 12, symbol: "circle-open", line: { width: 3 } },
    });
    if (path.length > 1) {
      const maxFrames = Math.max(2, options.maxFrames ?? 60);
      const count = Math.min(path.length, maxFrames);
      const stepsShown = Array.from(new Set(Array.from({ length: count }, (_, i) => Math.round(((path.length - 1) * i) / (count - 1)))));
      frames = stepsShown.map((s) => ({ name: `step ${s}`, data: [{ x: px.slice(0, s + 1), y: py.slice(0, s + 1) }], traces: [1] }));
      const animate = (name: string | null, duration: number) => [
        name === null ? null : [name],
        { mode: "immediate", frame: { duration, redraw: false }, transition: { duration: 0 } },
      ];
      layoutExtra.sliders = [{
        active: stepsShown.length - 1,
        currentvalue: { prefix: "" },
        pad: { t: 40 },
        steps: stepsShown.map((s) => ({ label: String(s), method: "animate", args: animate(`step ${s}`, 0) })),
      }];
      layoutExtra.updatemenus = [{
        type: "buttons", showactive: false, x: 0, y: 0, xanchor: "right", yanchor: "top", pad: { t: 40, r: 10 },
        buttons: [{ label: "▶", method: "animate", args: [null, { mode: "immediate", fromcurrent: false, frame: { duration: 80, redraw: false }, transition: { duration: 0 } }] }],
      }];
    }
  }
  const layout = chartLayout(options, {
    xaxis: { title: { text: options.xTitle ?? names[0] }, range: [x0, x1] },
    yaxis: { title: { text: options.yTitle ?? names[1] }, range: [y0, y1] },
    height: 520,
    legend: { x: 0, y: 1.12, orientation: "h" },
    ...layoutExtra,
  });
  return new Figure(data, layout, options.config, frames, "loss surface");
}

/** A classifier: a function from points [n, 2] to scores, or a model with `predict`. */
export type Classifier =
  | ((points: Tensor2D) => Tensor | ArrayLike<number>)
  | { predict(points: Tensor2D): Tensor | Tensor[] };

export interface DecisionBoundaryOptions extends ChartOptions {
  /** Grid points per axis (default 100). */
  resolution?: number;
  /** Names of the classes (default "class 0", "class 1", ...). */
  classNames?: ReadonlyArray<string>;
  /** Extra room around the points, as a fraction of their spread (default 0.15). */
  padding?: number;
}

/**
 * The regions a 2-D classifier assigns to each class, with the labelled points on top:
 * `decisionBoundary(x => model.predict(x) as tf.Tensor, X, Y)`. A score per point (shape [n] or
 * [n, 1]) is read as the probability of class 1 and the boundary is drawn where it is 0.5; scores
 * [n, k] are class probabilities (the region is the arg-max).
 */
export function decisionBoundary(
  predict: Classifier,
  points: Tensor | ReadonlyArray<ArrayLike<number>>,
  labels: Numbers,
  options: DecisionBoundaryOptions = {},
): Figure {
  const pts = toMatrix(points as Matrix, "decisionBoundary points");
  if (pts.length && pts[0].length !== 2) {
    throw new Error(`lepton.plot.decisionBoundary: points must have 2 columns (x, y); got ${pts[0].length}.`);
  }
  const ys = toNumbers(labels, "decisionBoundary labels").map((v) => Math.round(v ?? 0));
  if (ys.length !== pts.length) {
    throw new Error(`lepton.plot.decisionBoundary: ${pts.length} points but ${ys.length} labels; pass one label per point.`);
  }
  const res = Math.max(10, options.resolution ?? 100);
  const bounds = (k: number): [number, number] => {
    let lo = Infinity, hi = -Infinity;
    for (const p of pts) {
      const v = p[k];
      if (v === null || v === undefined) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) [lo, hi] = [-1, 1];
    const pad = ((hi - lo) || 1) * (options.padding ?? 0.15);
    return [lo - pad, hi + pad];
  };
  const [xa, xb] = bounds(0), [ya, yb] = bounds(1);
  const gx = Array.from({ length: res }, (_, i) => xa + ((xb - xa) * i) / (res - 1));
  const gy = Array.from({ length: res }, (_, i) => ya + ((yb - ya) * i) / (res - 1));
  const grid = new Float32Array(res * res * 2);
  gy.forEach((y, r) => gx.forEach((x, c) => { grid[(r * res + c) * 2] = x; grid[(r * res + c) * 2 + 1] = y; }));
  const { values, classes } = scoreGrid(predict, grid, res * res);
  const data: Trace[] = [];
  const classCount = Math.max(classes, ...ys.map((y) => y + 1), 2);
  const names = Array.from({ length: classCount }, (_, i) => options.classNames?.[i] ?? `class ${i}`);
  const palette = CLASS_COLORS;
  const z = gy.map((_, r) => Array.from(values.subarray(r * res, (r + 1) * res)));
  if (classes <= 1) {
    data.push({
      type: "contour", x: gx, y: gy, z, name: `P(${names[1]})`, zmin: 0, zmax: 1, opacity: 0.55,
      colorscale: [[0, palette[0]], [0.5, "#ffffff"], [1, palette[1]]],
      contours: { start: 0, end: 1, size: 0.1, coloring: "heatmap", showlines: false },
      colorbar: { title: { text: `P(${names[1]})` } }, hoverinfo: "skip", showlegend: false,
    });
    data.push({
      type: "contour", x: gx, y: gy, z, name: "boundary (p = 0.5)", showscale: false, hoverinfo: "skip",
      contours: { start: 0.5, end: 0.5, size: 1, coloring: "none" }, line: { color: "black", width: 3 },
    });
  } else {
    const scale: [number, string][] = [];
    for (let k = 0; k < classes; k++) {
      scale.push([k / classes, palette[k % palette.length]], [(k + 1) / classes, palette[k % palette.length]]);
    }
    data.push({
      type: "heatmap", x: gx, y: gy, z, name: "predicted class", zmin: -0.5, zmax: classes - 0.5,
      colorscale: scale, opacity: 0.35, showscale: false, hoverinfo: "skip",
    });
  }
  for (let k = 0; k < classCount; k++) {
    const idx = ys.map((y, i) => (y === k ? i : -1)).filter((i) => i >= 0);
    if (!idx.length) continue;
    data.push({
      type: "scatter", mode: "markers", name: names[k], x: idx.map((i) => pts[i][0]), y: idx.map((i) => pts[i][1]),
      marker: { color: palette[k % palette.length], size: 7, line: { color: "white", width: 1 } },
    });
  }
  const layout = chartLayout(options, {
    xaxis: { title: { text: "x₁" }, range: [xa, xb] },
    yaxis: { title: { text: "x₂" }, range: [ya, yb] },
    height: 500,
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", title: { text: "class" } },
  });
  return new Figure(data, layout, options.config, undefined, "decision boundary");
}

/** Scores on the grid: probability of class 1 (classes = 1) or the arg-max class (classes = k). */
function scoreGrid(predict: Classifier, grid: Float32Array, n: number): { values: Float32Array; classes: number } {
  const { flat, width } = tf.tidy(() => {
    const input = tf.tensor2d(grid, [n, 2]);
    let out: unknown = typeof predict === "function" ? predict(input) : predict.predict(input);
    if (Array.isArray(out) && out.length && isTensor(out[0])) out = out[0];
    if (isTensor(out)) {
      const size = out.size;
      if (size % n !== 0) throw new Error(`lepton.plot.decisionBoundary: the classifier returned shape [${out.shape.join(", ")}] for ${n} points; return one score per point ([n] or [n, 1]) or class scores [n, k].`);
      return { flat: Float32Array.from(out.dataSync() as ArrayLike<number>), width: size / n };
    }
    if (out && typeof (out as ArrayLike<number>).length === "number") {
      const arr = Float32Array.from(out as ArrayLike<number>);
      if (arr.length % n !== 0) throw new Error(`lepton.plot.decisionBoundary: the classifier returned ${arr.length} numbers for ${n} points.`);
      return { flat: arr, width: arr.length / n };
    }
    throw new Error(`lepton.plot.decisionBoundary: the classifier must return a tensor or an array of numbers (got ${describe(out)}).`);
  });
  if (width === 1) return { values: flat, classes: 1 };
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < width; k++) if (flat[i * width + k] > flat[i * width + best]) best = k;
    values[i] = best;
  }
  return { values, classes: width };
}

export interface ConfusionMatrixOptions extends ChartOptions {
  /** Class names, in class order. */
  labels?: ReadonlyArray<string>;
  /** Colour by the share of each true class (row) instead of raw counts; cells show both. */
  normalize?: boolean;
  colorscale?: string;
}

/**
 * A confusion matrix (rows = true class, columns = predicted class) as an annotated heatmap:
 * `confusionMatrix(tf.math.confusionMatrix(yTrue, yPred, 10), { labels: classNames })`.
 */
export function confusionMatrix(matrix: Matrix, options: ConfusionMatrixOptions = {}): Figure {
  const counts = toMatrix(matrix, "confusionMatrix matrix").map((row) => row.map((v) => v ?? 0));
  const k = counts.length;
  if (!counts.every((row) => row.length === k)) {
    throw new Error(`lepton.plot.confusionMatrix: the matrix must be square (classes × classes); got ${k} rows of lengths ${counts.map((r) => r.length).join(", ")}.`);
  }
  if (options.labels && options.labels.length !== k) {
    throw new Error(`lepton.plot.confusionMatrix: ${options.labels.length} labels for ${k} classes; pass one label per class.`);
  }
  const names = options.labels ? [...options.labels] : Array.from({ length: k }, (_, i) => String(i));
  const shares = counts.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (total ? v / total : 0));
  });
  const text = counts.map((row, r) => row.map((v, c) => (options.normalize ? `${v}<br>${(shares[r][c] * 100).toFixed(0)}%` : String(v))));
  const { labels: _l, normalize, colorscale, ...chart } = options;
  const fig = heatmap(normalize ? shares : counts, {
    x: names,
    y: names,
    text,
    colorscale: colorscale ?? [[0, "#f7fbff"], [0.5, "#6baed6"], [1, "#08306b"]],
    title: "Confusion matrix",
    height: Math.max(350, 40 * k + 150),
    ...chart,
    xTitle: chart.xTitle ?? "predicted class",
    yTitle: chart.yTitle ?? "true class",
  });
  const [trace] = fig.data;
  return new Figure([{ ...trace, hovertemplate: "true %{y}<br>predicted %{x}<br>%{text}<extra></extra>" }], { ...fig.layout, xaxis: { ...(fig.layout.xaxis as Layout), type: "category", side: "bottom" }, yaxis: { ...(fig.layout.yaxis as Layout), type: "category" } }, fig.config, undefined, "confusion matrix");
}
