/** Building a Plotly layout from lepton's chart options. */
import type { AxisOptions, ChartOptions, Layout } from "./types";

/** Plotly axis attributes from a title string or an options object (titles become `{ text }`). */
export function axis(option: string | AxisOptions | undefined, defaults: Layout = {}): Layout {
  if (option === undefined) return { ...defaults };
  if (typeof option === "string") return { ...defaults, title: { text: option } };
  const { title, ...rest } = option;
  const out: Layout = { ...defaults, ...rest };
  if (title !== undefined) out.title = typeof title === "string" ? { text: title } : title;
  return out;
}

/** The layout for a chart: title, axes, size and legend, then the raw `options.layout` on top. */
export function chartLayout(options: ChartOptions = {}, defaults: Layout = {}): Layout {
  const layout: Layout = { ...defaults };
  if (options.title !== undefined) layout.title = { text: options.title };
  const xDefaults = withTitle(defaults.xaxis as Layout | undefined, options.xTitle);
  const yDefaults = withTitle(defaults.yaxis as Layout | undefined, options.yTitle);
  if (options.xaxis !== undefined || xDefaults) layout.xaxis = axis(options.xaxis, xDefaults ?? {});
  if (options.yaxis !== undefined || yDefaults) layout.yaxis = axis(options.yaxis, yDefaults ?? {});
  if (options.width !== undefined) layout.width = options.width;
  if (options.height !== undefined) layout.height = options.height;
  if (options.showlegend !== undefined) layout.showlegend = options.showlegend;
  if (options.layout) Object.assign(layout, options.layout);
  return layout;
}

/** An axis's defaults with `title` (xTitle / yTitle) in place of the default title. */
function withTitle(defaults: Layout | undefined, title: string | undefined): Layout | undefined {
  if (title === undefined) return defaults;
  return { ...(defaults ?? {}), title: { text: title } };
}

/**
 * The colours of classes 0, 1, 2, ... (plotly's default cycle, with red for class 1 so that a binary
 * problem reads blue / red). decisionBoundary and scatter's `labels` use the same, so a class has
 * one colour in every chart.
 */
export const CLASS_COLORS: readonly string[] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/** Options as a list: one object or an array of them. */
export function asList<T>(value: T | readonly T[], what: string): T[] {
  const list = Array.isArray(value) ? [...value] : [value as T];
  if (list.length === 0) throw new Error(`lepton.plot: ${what} is empty; pass at least one series.`);
  for (const [i, item] of list.entries()) {
    if (item === null || typeof item !== "object") {
      throw new Error(`lepton.plot: ${what}[${i}] must be an object like { x, y, name } (got ${item === null ? "null" : typeof item}).`);
    }
  }
  return list;
}
