/**
 * The plain data types of a Plotly figure, kept deliberately loose (plotly.js accepts hundreds of
 * attributes) but exact about the parts lepton builds, so notebook cells type-check simply.
 */
import type { Tensor } from "@tensorflow/tfjs";

/** One Plotly trace: `{ type: "scatter", x: [...], y: [...] }`. Any plotly.js trace attribute is allowed. */
export interface Trace {
  type?: string;
  name?: string;
  [attribute: string]: unknown;
}

/** A Plotly layout object (`title`, `xaxis`, `yaxis`, `annotations`, ...). */
export interface Layout {
  [attribute: string]: unknown;
}

/** A Plotly config object (`responsive`, `displaylogo`, `scrollZoom`, ...). */
export interface Config {
  [option: string]: unknown;
}

/** One animation frame: the traces (by index) it changes. */
export interface Frame {
  name?: string;
  data: Trace[];
  traces?: number[];
  layout?: Layout;
}

/** The JSON form of a figure, as carried by `application/vnd.plotly.v1+json`. */
export interface FigureJSON {
  data: Trace[];
  layout: Layout;
  config: Config;
  frames?: Frame[];
}

/** Numbers: a plain array, a typed array, or a 1-D tf tensor (any shape is flattened). */
export type Numbers = ArrayLike<number> | Tensor;

/** Values for an axis: numbers, or category names. */
export type Values = Numbers | ReadonlyArray<string | number>;

/** A matrix: rows of numbers, or a 2-D tf tensor. */
export type Matrix = ReadonlyArray<ArrayLike<number>> | Tensor;

/** An axis: its title, or Plotly axis attributes (`{ title: "loss", type: "log" }`). */
export interface AxisOptions {
  title?: string;
  type?: "linear" | "log" | "date" | "category";
  range?: [number, number];
  [attribute: string]: unknown;
}

/**
 * Options every chart builder takes. `layout` and `config` are merged last, as raw Plotly objects.
 *
 * Axis titles: `xTitle: "epoch"` (or `xaxis: "epoch"`, or `xaxis: { title: "epoch", type: "log" }`)
 * replaces the chart's default title of that axis; when both `xTitle` and `xaxis.title` are given,
 * `xaxis.title` wins. The teaching charts name their axes by default (activation: z; loss surface:
 * its two parameters; decision boundary: x₁, x₂; confusion matrix: predicted / true class).
 */
export interface ChartOptions {
  title?: string;
  /** Title of the x axis (shorthand for `xaxis: { title }`). */
  xTitle?: string;
  /** Title of the y axis (shorthand for `yaxis: { title }`). */
  yTitle?: string;
  xaxis?: string | AxisOptions;
  yaxis?: string | AxisOptions;
  width?: number;
  height?: number;
  showlegend?: boolean;
  layout?: Layout;
  config?: Config;
}
