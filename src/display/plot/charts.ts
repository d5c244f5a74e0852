/**
 * Chart builders in the spirit of plotly express: each takes data plus `ChartOptions` and returns
 * a `Figure`.
 */
import { Figure } from "./figure";
import { CLASS_COLORS, asList, axis, chartLayout } from "./layout";
import type { ChartOptions, Config, Frame, Layout, Matrix, Numbers, Trace, Values } from "./types";
import { describe, indices, isTensor, toMatrix, toNumbers, toValues } from "./values";

/** One line of a line chart. `x` defaults to 0, 1, 2, ... */
export interface Series {
  x?: Values;
  y: Numbers;
  name?: string;
  mode?: "lines" | "markers" | "lines+markers";
  color?: string;
  dash?: "solid" | "dot" | "dash" | "dashdot";
  width?: number;
}

/**
 * One set of points of a scatter chart. `color` is one colour, or one number per point (colour scale).
 * For points of known classes pass `labels` instead: one trace per class, each with its class name in
 * the legend (and the class colours decisionBoundary uses), not a continuous colour bar:
 * `scatter({ x, y, labels: Y, classNames: ["inner", "outer"] })`.
 */
export interface ScatterSeries {
  x: Values;
  y: Numbers;
  name?: string;
  text?: ReadonlyArray<string>;
  /**
   * The class of each point: class indices (0, 1, 2, ...; an int tensor works) or class names. The
   * points are split into one trace per class, named in the legend. Not with `color`.
   */
  labels?: Values;
  /** Names of class indices in `labels` (class k is shown as classNames[k]; default "class k"). */
  classNames?: ReadonlyArray<string>;
  color?: string | Numbers;
  size?: number | Numbers;
  symbol?: string;
  colorscale?: string;
  mode?: "lines" | "markers" | "lines+markers";
}

/** One set of bars. `x` are the categories (default 0, 1, 2, ...). */
export interface BarSeries {
  x?: Values;
  y: Numbers;
  name?: string;
  color?: string;
  text?: ReadonlyArray<string>;
}

export interface BarOptions extends ChartOptions {
  barmode?: "group" | "stack" | "relative" | "overlay";
  /** "h" draws horizontal bars (then `x` are the lengths and `y` the categories). */
  orientation?: "v" | "h";
}

/** Values to bin, with a name. */
export interface HistogramSeries {
  x: Numbers;
  name?: string;
  color?: string;
}

export interface HistogramOptions extends ChartOptions {
  /** Largest number of bins (Plotly picks nice bin edges). */
  nbins?: number;
  barmode?: "overlay" | "stack" | "group";
  /** "probability density" makes the bars integrate to 1. */
  histnorm?: "" | "percent" | "probability" | "density" | "probability density";
}

export interface HeatmapOptions extends ChartOptions {
  /** Column labels (default 0, 1, ...). */
  x?: Values;
  /** Row labels (default 0, 1, ...). */
  y?: Values;
  /** A Plotly colour scale name ("Viridis", "RdBu", ...) or [[0, colour], ..., [1, colour]]. */
  colorscale?: string | Array<[number, string]>;
  zmin?: number;
  zmax?: number;
  /** Write each cell's value in it: `true`, or a d3 number format such as ".2f" or ".0%". */
  annotate?: boolean | string;
  /** Text to write in each cell instead of its value (same shape as z). */
  text?: ReadonlyArray<ReadonlyArray<string>>;
  /** Row 0 at the top (default true, like a matrix). */
  matrixOrder?: boolean;
}

/** A grid of values z[row][column] over the points x (columns) and y (rows). */
export interface GridData {
  z: Matrix;
  x?: Numbers;
  y?: Numbers;
  name?: string;
  colorscale?: string;
}

export interface ContourOptions extends ChartOptions {
  /** Number of contour levels (default: chosen by Plotly). */
  ncontours?: number;
  /** Write the level on each contour line. */
  showlabels?: boolean;
}

export interface SurfaceOptions extends ChartOptions {
  zaxis?: string | import("./types").AxisOptions;
  /** Title of the z axis (shorthand for `zaxis: { title }`). */
  zTitle?: string;
}

/** A line chart of one or more series: `line({ y: losses, name: "loss" }, { title: "Loss" })`. */
export function line(series: Series | readonly Series[], options: ChartOptions = {}): Figure {
  const data: Trace[] = asList(series, "line series").map((s, i) => {
    const y = toNumbers(s.y, `series ${i} y`);
    const x = s.x === undefined ? indices(y.length) : toValues(s.x, `series ${i} x`);
    sameLength(x, y, `line series ${i}`);
    const trace: Trace = { type: "scatter", mode: s.mode ?? "lines", x, y };
    if (s.name !== undefined) trace.name = s.name;
    const lineStyle: Layout = {};
    if (s.color) lineStyle.color = s.color;
    if (s.dash) lineStyle.dash = s.dash;
    if (s.width) lineStyle.width = s.width;
    if (Object.keys(lineStyle).length) trace.line = lineStyle;
    if (s.color && trace.mode !== "lines") trace.marker = { color: s.color };
    return trace;
  });
  return new Figure(data, chartLayout(options), options.config, undefined, "line chart");
}

/**
 * A scatter chart: `scatter({ x, y, name: "data" })`, or several series to compare groups, or points
 * coloured by class with a legend: `scatter({ x, y, labels: Y, classNames })`.
 */
export function scatter(series: ScatterSeries | readonly ScatterSeries[], options: ChartOptions = {}): Figure {
  const data: Trace[] = asList(series, "scatter series").flatMap((s, i) => {
    const y = toNumbers(s.y, `series ${i} y`);
    const x = toValues(s.x, `series ${i} x`);
    sameLength(x, y, `scatter series ${i}`);
    if (s.labels !== undefined) return classTraces(s, i, x, y);
    const trace: Trace = { type: "scatter", mode: s.mode ?? "markers", x, y };
    if (s.name !== undefined) trace.name = s.name;
    if (s.text) trace.text = [...s.text];
    const marker: Layout = {};
    if (typeof s.color === "string") marker.color = s.color;
    else if (s.color !== undefined) {
      marker.color = toNumbers(s.color, `series ${i} color`);
      marker.colorscale = s.colorscale ?? "Viridis";
      marker.showscale = true;
    }
    if (typeof s.size === "number") marker.size = s.size;
    else if (s.size !== undefined) marker.size = toNumbers(s.size, `series ${i} size`);
    if (s.symbol) marker.symbol = s.symbol;
    if (Object.keys(marker).length) trace.marker = marker;
    return [trace];
  });
  return new Figure(data, chartLayout(options), options.config, undefined, "scatter chart");
}

/** A scatter series with `labels`: one trace per class, in class order, named and coloured by class. */
function classTraces(s: ScatterSeries, i: number, x: (number | string | null)[], y: (number | null)[]): Trace[] {
  if (s.color !== undefined) {
    throw new Error(`lepton.plot.scatter: series ${i} has both labels and color; labels colour each class, so pass one of them.`);
  }
  const labels = toValues(s.labels!, `series ${i} labels`);
  if (labels.length !== x.length) {
    throw new Error(`lepton.plot.scatter: series ${i} has ${x.length} points but ${labels.length} labels; pass one label per point.`);
  }
  const sizes = s.size !== undefined && typeof s.size !== "number" ? toNumbers(s.size, `series ${i} size`) : undefined;
  // Classes in order: indices ascending, names as they first appear.
  const keys: (number | string)[] = [];
  const members = new Map<number | string, number[]>();
  labels.forEach((label, p) => {
    if (label === null) return; // a missing label (NaN): the point is left out
    const key = typeof label === "number" ? Math.round(label) : label;
    let list = members.get(key);
    if (!list) members.set(key, (list = [])), keys.push(key);
    list.push(p);
  });
  const numeric = keys.every((k) => typeof k === "number");
  if (numeric) keys.sort((a, b) => (a as number) - (b as number));
  return keys.map((key, order) => {
    const idx = members.get(key)!;
    const className = typeof key === "number" ? s.classNames?.[key] ?? `class ${key}` : key;
    const colorIndex = typeof key === "number" && key >= 0 ? key : order;
    const marker: Layout = { color: CLASS_COLORS[colorIndex % CLASS_COLORS.length] };
    if (typeof s.size === "number") marker.size = s.size;
    else if (sizes) marker.size = idx.map((p) => sizes[p]);
    if (s.symbol) marker.symbol = s.symbol;
    const trace: Trace = {
      type: "scatter", mode: s.mode ?? "markers", name: s.name ? `${s.name}: ${className}` : className,
      x: idx.map((p) => x[p]), y: idx.map((p) => y[p]), marker,
    };
    if (s.name) trace.legendgroup = s.name;
    if (s.text) trace.text = idx.map((p) => s.text![p]);
    return trace;
  });
}

/** A bar chart: `bar({ x: ["cat", "dog"], y: [3, 5] })`; several series are grouped side by side. */
export function bar(series: BarSeries | readonly BarSeries[], options: BarOptions = {}): Figure {
  const horizontal = options.orientation === "h";
  const data: Trace[] = asList(series, "bar series").map((s, i) => {
    const values = toNumbers(s.y, `series ${i} y`);
    const categories = s.x === undefined ? indices(values.length) : toValues(s.x, `series ${i} x`);
    sameLength(categories, values, `bar series ${i}`);
    const trace: Trace = horizontal
      ? { type: "bar", orientation: "h", x: values, y: categories }
      : { type: "bar", x: categories, y: values };
    if (s.name !== undefined) trace.name = s.name;
    if (s.color) trace.marker = { color: s.color };
    if (s.text) trace.text = [...s.text];
    return trace;
  });
  const layout = chartLayout(options, { barmode: options.barmode ?? "group" });
  return new Figure(data, layout, options.config, undefined, "bar chart");
}

/** A histogram of values: `histogram(weights, { nbins: 50 })` or several named series. */
export function histogram(
  values: Numbers | HistogramSeries | readonly HistogramSeries[],
  options: HistogramOptions = {},
): Figure {
  const list: HistogramSeries[] =
    isTensor(values) || (!Array.isArray(values) && typeof (values as ArrayLike<number>).length === "number")
      ? [{ x: values as Numbers }]
      : Array.isArray(values) && (values.length === 0 || typeof values[0] === "number")
        ? [{ x: values as Numbers }]
        : asList(values as HistogramSeries | readonly HistogramSeries[], "histogram series");
  const data: Trace[] = list.map((s, i) => {
    const trace: Trace = { type: "histogram", x: toNumbers(s.x, `histogram series ${i} values`) };
    if (s.name !== undefined) trace.name = s.name;
    if (s.color) trace.marker = { color: s.color };
    if (options.nbins) trace.nbinsx = options.nbins;
    if (options.histnorm) trace.histnorm = options.histnorm;
    if (list.length > 1 && (options.barmode ?? "overlay") === "overlay") trace.opacity = 0.6;
    return trace;
  });
  const layout = chartLayout(options, { barmode: options.barmode ?? "overlay", yaxis: { title: { text: options.histnorm || "count" } } });
  return new Figure(data, layout, options.config, undefined, "histogram");
}

/**
 * A heatmap of a matrix (rows × columns), row 0 at the top. `annotate: true` writes the values in
 * the cells. Used by `confusionMatrix`.
 */
export function heatmap(z: Matrix, options: HeatmapOptions = {}): Figure {
  const matrix = toMatrix(z, "heatmap z");
  const trace: Trace = { type: "heatmap", z: matrix, colorscale: options.colorscale ?? "Viridis" };
  if (options.x !== undefined) trace.x = toValues(options.x, "heatmap x");
  if (options.y !== undefined) trace.y = toValues(options.y, "heatmap y");
  if (options.zmin !== undefined) trace.zmin = options.zmin;
  if (options.zmax !== undefined) trace.zmax = options.zmax;
  if (options.text) {
    trace.text = options.text.map((row) => [...row]);
    trace.texttemplate = "%{text}";
  } else if (options.annotate) {
    trace.texttemplate = typeof options.annotate === "string" ? `%{z:${options.annotate}}` : "%{z}";
  }
  const matrixOrder = options.matrixOrder ?? true;
  const defaults: Layout = { yaxis: matrixOrder ? { autorange: "reversed" } : {} };
  if (trace.x && (trace.x as unknown[]).some((v) => typeof v === "string")) defaults.xaxis = { type: "category" };
  return new Figure([trace], chartLayout(options, defaults), options.config, undefined, "heatmap");
}

/** A contour map of z over a grid: `contour({ x, y, z })` with z[row = y index][column = x index]. */
export function contour(grid: GridData, options: ContourOptions = {}): Figure {
  const trace = gridTrace("contour", grid);
  if (options.ncontours) {
    trace.ncontours = options.ncontours;
    trace.autocontour = true;
  }
  if (options.showlabels) trace.contours = { showlabels: true };
  return new Figure([trace], chartLayout(options), options.config, undefined, "contour map");
}

/** A 3-D surface of z over a grid: `surface({ z })` (drag to rotate). */
export function surface(grid: GridData, options: SurfaceOptions = {}): Figure {
  const trace = gridTrace("surface", grid);
  const scene: Layout = {};
  const titled = (title: string | undefined): Layout => (title === undefined ? {} : { title: { text: title } });
  if (options.xaxis !== undefined || options.xTitle !== undefined) scene.xaxis = axis(options.xaxis, titled(options.xTitle));
  if (options.yaxis !== undefined || options.yTitle !== undefined) scene.yaxis = axis(options.yaxis, titled(options.yTitle));
  if (options.zaxis !== undefined || options.zTitle !== undefined) scene.zaxis = axis(options.zaxis, titled(options.zTitle));
  const { xaxis: _x, yaxis: _y, xTitle: _xt, yTitle: _yt, ...rest } = options;
  const layout = chartLayout(rest, { scene });
  return new Figure([trace], layout, options.config, undefined, "3-D surface");
}

/**
 * Any Plotly figure, passed through: `figure([{ type: "pie", values: [1, 2], labels: ["a", "b"] }], { title: { text: "Pie" } })`.
 * Typed arrays and tensors inside become plain arrays.
 */
export function figure(data: Trace[], layout: Layout = {}, config: Config = {}, frames?: Frame[]): Figure {
  return new Figure(data, layout, config, frames, "figure");
}

function gridTrace(type: string, grid: GridData): Trace {
  if (grid === null || typeof grid !== "object" || !("z" in grid)) {
    throw new Error(`lepton.plot.${type}: pass { z } (and optionally x, y), where z is number[][] or a 2-D tensor (got ${describe(grid)}).`);
  }
  const z = toMatrix(grid.z, `${type} z`);
  const trace: Trace = { type, z, colorscale: grid.colorscale ?? "Viridis" };
  if (grid.x !== undefined) {
    trace.x = toNumbers(grid.x, `${type} x`);
    if (z.length && (trace.x as unknown[]).length !== z[0].length) {
      throw new Error(`lepton.plot.${type}: x has ${(trace.x as unknown[]).length} values but z rows have ${z[0].length} columns; x must match z's columns.`);
    }
  }
  if (grid.y !== undefined) {
    trace.y = toNumbers(grid.y, `${type} y`);
    if ((trace.y as unknown[]).length !== z.length) {
      throw new Error(`lepton.plot.${type}: y has ${(trace.y as unknown[]).length} values but z has ${z.length} rows; y must match z's rows.`);
    }
  }
  if (grid.name !== undefined) trace.name = grid.name;
  return trace;
}

function sameLength(x: unknown[], y: unknown[], what: string): void {
  if (x.length !== y.length) {
    throw new Error(`lepton.plot: ${what} has ${x.length} x values but ${y.length} y values; they must have the same length.`);
  }
}
