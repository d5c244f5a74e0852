/**
 * One Plotly JSON for plotly.js 2.35, 3.x and 4.x.
 *
 * lepton embeds plotly.js 4, but the same `application/vnd.plotly.v1+json` part is drawn by other
 * plotly.js copies too: JupyterLab's plotly extension, VS Code's renderer, a notebook page that
 * already holds plotly.py's 2.x. `normalizeFigure` rewrites what only some of them accept into what
 * all of them draw the same:
 *
 *  - string titles become `{ text }` (layout, every axis, 3-D scene, polar, ternary and carpet axes,
 *    colour bars of traces and of `layout.coloraxis*`, legends, pie titles); `titlefont`,
 *    `titleside`, `titleposition` and `titleoffset` move into `title` (plotly.js 3 dropped them);
 *    the same inside frames, templates and the layout updates of slider steps / update-menu buttons;
 *  - `heatmapgl` becomes `heatmap` and `pointcloud` becomes `scattergl` (removed in 3);
 *  - mapbox traces and subplots become their MapLibre twins (`scattermapbox` → `scattermap`,
 *    `layout.mapbox` → `layout.map`; removed in 4, present since 2.35); a Mapbox-hosted style
 *    (`mapbox://…`) cannot be drawn without Mapbox and is an error;
 *  - the Chart Studio config keys (`showLink`, `linkText`, `sendData`, `showSources`,
 *    `showEditInChartStudio`) and `mapboxAccessToken` are dropped, and so are `*src` attributes
 *    (Chart Studio grid references, removed in 4);
 *  - colours that plotly.js 4 no longer parses are rewritten (`ff0000` → `#ff0000`, `hsv(…)` →
 *    `rgb(…)`, fractional `rgb(…)` channels rounded); any other string that is not a colour is an
 *    error naming where it is.
 *
 * The input is never changed: objects on the way are copied, untouched arrays are shared.
 */
import type { Config, FigureJSON, Frame, Layout, Trace } from "./types";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

/** Attributes that hold the user's own data: never rewritten. */
const OPAQUE = new Set(["meta", "customdata", "uirevision", "ids"]);

/** The old flat title attributes and where they live now inside `title`. */
const TITLE_PARTS: ReadonlyArray<[string, string]> = [
  ["titlefont", "font"],
  ["titleside", "side"],
  ["titleposition", "position"],
  ["titleoffset", "offset"],
];

const CHART_STUDIO_CONFIG = ["showLink", "linkText", "sendData", "showSources", "showEditInChartStudio"];

const MAPBOX_TRACES: Record<string, string> = {
  scattermapbox: "scattermap",
  choroplethmapbox: "choroplethmap",
  densitymapbox: "densitymap",
};

/** The JSON of a figure that draws the same in plotly.js 2.35, 3.x and 4.x. */
export function normalizeFigure(fig: FigureJSON): FigureJSON {
  const out: FigureJSON = {
    data: normalizeData(fig.data),
    layout: normalizeLayout(fig.layout ?? {}),
    config: normalizeConfig(fig.config ?? {}),
  };
  if (fig.frames) {
    out.frames = fig.frames.map((frame, i) => {
      const f: Frame = { ...frame };
      if (Array.isArray(frame.data)) f.data = normalizeData(frame.data, `frames[${i}].data`);
      if (isObj(frame.layout)) f.layout = normalizeLayout(frame.layout, `frames[${i}].layout`);
      return f;
    });
  }
  return out;
}

/** Traces, normalised (see `normalizeFigure`). */
export function normalizeData(data: Trace[], where = "data"): Trace[] {
  if (!Array.isArray(data)) return data;
  return data.map((t, i) => (isObj(t) ? normalizeTrace(t as Trace, `${where}[${i}]`) : t));
}

/** One trace, normalised (see `normalizeFigure`). */
export function normalizeTrace(trace: Trace, where = "trace"): Trace {
  let t: Obj = { ...trace };
  const type = typeof t.type === "string" ? t.type : undefined;
  if (type === "heatmapgl") t.type = "heatmap";
  else if (type === "pointcloud") t = pointcloudToScattergl(t);
  else if (type && MAPBOX_TRACES[type]) {
    t.type = MAPBOX_TRACES[type];
    if (typeof t.subplot === "string") t.subplot = t.subplot.replace(/^mapbox/, "map");
  }
  return walk(t, where) as Trace;
}

/** A layout, normalised (see `normalizeFigure`). */
export function normalizeLayout(layout: Layout, where = "layout"): Layout {
  if (!isObj(layout)) return layout;
  const l: Obj = {};
  for (const [key, value] of Object.entries(layout)) {
    const m = /^mapbox(\d*)$/.exec(key);
    if (m && isObj(value)) {
      const target = `map${m[1]}`;
      if (layout[target] === undefined) l[target] = mapboxSubplot(value, `${where}.${key}`);
      continue;
    }
    l[key] = value;
  }
  const out = walk(l, where) as Obj;
  if (isObj(out.template)) out.template = normalizeTemplate(out.template, `${where}.template`);
  return out;
}

/** A config without what plotly.js 4 removed (Chart Studio links, the Mapbox token). */
export function normalizeConfig(config: Config): Config {
  const c: Config = { ...config };
  for (const key of CHART_STUDIO_CONFIG) delete c[key];
  delete c.mapboxAccessToken;
  return c;
}

function normalizeTemplate(template: Obj, where: string): Obj {
  const out: Obj = { ...template };
  if (isObj(template.layout)) out.layout = normalizeLayout(template.layout, `${where}.layout`);
  if (isObj(template.data)) {
    const data: Obj = {};
    for (const [type, traces] of Object.entries(template.data)) {
      const key = MAPBOX_TRACES[type] ?? (type === "heatmapgl" ? "heatmap" : type === "pointcloud" ? "scattergl" : type);
      data[key] = Array.isArray(traces)
        ? traces.map((t, i) => (isObj(t) ? normalizeTrace({ ...t, type } as Trace, `${where}.data.${type}[${i}]`) : t)).map((t) => {
            const { type: _t, ...rest } = t as Obj;
            return rest;
          })
        : traces;
    }
    out.data = data;
  }
  return out;
}

function mapboxSubplot(sub: Obj, where: string): Obj {
  const out: Obj = { ...sub };
  delete out.accesstoken;
  const style = out.style;
  const hosted = (s: unknown) => typeof s === "string" && /^mapbox:\/\//.test(s);
  if (hosted(style) || (isObj(style) && JSON.stringify(style).includes("mapbox://"))) {
    throw new Error(
      `lepton.plot: ${where}.style uses a Mapbox-hosted style (${typeof style === "string" ? style : "mapbox:// sources"}), which plotly.js 4 ` +
        "cannot draw (it draws maps with MapLibre, `layout.map`). Use a style such as \"open-street-map\", \"carto-positron\", " +
        "\"carto-darkmatter\" or \"white-bg\", or a MapLibre style URL/JSON.",
    );
  }
  return out;
}

function pointcloudToScattergl(t: Obj): Obj {
  const out: Obj = { ...t, type: "scattergl", mode: "markers" };
  if (Array.isArray(t.xy) && t.x === undefined && t.y === undefined) {
    const xy = t.xy as number[];
    out.x = xy.filter((_, i) => i % 2 === 0);
    out.y = xy.filter((_, i) => i % 2 === 1);
  } else if (t.xy && typeof t.xy === "object" && t.x === undefined) {
    const xy = Array.from(t.xy as ArrayLike<number>);
    out.x = xy.filter((_, i) => i % 2 === 0);
    out.y = xy.filter((_, i) => i % 2 === 1);
  }
  for (const k of ["xy", "indices", "xbounds", "ybounds"]) delete out[k];
  if (isObj(t.marker)) {
    const { blend: _b, sizemin, sizemax, border, ...marker } = t.marker;
    const lo = typeof sizemin === "number" ? sizemin : 0.5, hi = typeof sizemax === "number" ? sizemax : 20;
    marker.size = Math.min(hi, Math.max(lo, 3));
    if (isObj(border) && border.color !== undefined) marker.line = { color: border.color, width: 1 };
    out.marker = marker;
  }
  return out;
}

/** Rewrite one container (and everything in it). */
function walk(value: unknown, where: string, key = ""): unknown {
  if (Array.isArray(value)) {
    if (isColorKey(key)) return value.map((v, i) => (typeof v === "string" ? normalizeColor(v, `${where}[${i}]`) : walk(v, `${where}[${i}]`, key)));
    if (isColorscaleKey(key)) return colorscale(value, where);
    let changed = false;
    const out = value.map((v, i) => {
      if (v === null || typeof v !== "object") return v;
      const w = walk(v, `${where}[${i}]`);
      if (w !== v) changed = true;
      return w;
    });
    return changed ? out : value;
  }
  if (!isObj(value) || ArrayBuffer.isView(value)) return value;
  const obj: Obj = { ...value };
  fixTitle(obj);
  for (const [k, v] of Object.entries(obj)) {
    if (OPAQUE.has(k)) continue;
    if (k.length > 3 && k.endsWith("src") && typeof v === "string") {
      delete obj[k];
      continue;
    }
    if (typeof v === "string" && isColorKey(k)) {
      obj[k] = normalizeColor(v, `${where}.${k}`);
    } else if (k === "sliders" || k === "updatemenus") {
      obj[k] = Array.isArray(v) ? v.map((item, i) => (isObj(item) ? control(item, `${where}.${k}[${i}]`, k) : item)) : v;
    } else if (v !== null && typeof v === "object") {
      obj[k] = walk(v, `${where}.${k}`, k);
    }
  }
  return obj;
}

/** A slider or an update menu: itself, and the layout/trace updates its steps or buttons apply. */
function control(item: Obj, where: string, kind: "sliders" | "updatemenus"): Obj {
  const listKey = kind === "sliders" ? "steps" : "buttons";
  const { [listKey]: list, ...rest } = item;
  const out = walk(rest, where) as Obj;
  if (Array.isArray(list)) {
    out[listKey] = list.map((step, i) => {
      if (!isObj(step)) return step;
      const s = walk({ ...step, args: undefined, args2: undefined }, `${where}.${listKey}[${i}]`) as Obj;
      for (const a of ["args", "args2"]) {
        if (step[a] === undefined) delete s[a];
        else s[a] = methodArgs(step.method, step[a], `${where}.${listKey}[${i}].${a}`);
      }
      return s;
    });
  } else if (list !== undefined) out[listKey] = list;
  return out;
}

/** The arguments of Plotly.relayout / restyle / update as a slider step or a button calls it. */
function methodArgs(method: unknown, args: unknown, where: string): unknown {
  if (!Array.isArray(args)) return args;
  const m = typeof method === "string" ? method : "restyle";
  // Plotly.relayout(gd, "xaxis.title", "x"): the attribute-string form.
  if (m === "relayout" && typeof args[0] === "string") {
    const [update] = Object.entries(layoutUpdate({ [args[0]]: args[1] }, where));
    return update ? [update[0], update[1], ...args.slice(2)] : args;
  }
  return args.map((a, i) => {
    if (!isObj(a)) return a;
    if ((m === "relayout" && i === 0) || (m === "update" && i === 1)) return layoutUpdate(a, `${where}[${i}]`);
    if ((m === "restyle" && i === 0) || (m === "update" && i === 0)) return traceUpdate(a, `${where}[${i}]`);
    return a;
  });
}

/** A relayout object: nested attributes (`{ xaxis: { title: "x" } }`) and attribute strings (`"xaxis.title": "x"`). */
function layoutUpdate(update: Obj, where: string): Obj {
  return attributeStrings(normalizeLayout(update, where) as Obj);
}

function traceUpdate(update: Obj, where: string): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(update)) {
    if (k === "type" && typeof v === "string") out[k] = v === "heatmapgl" ? "heatmap" : MAPBOX_TRACES[v] ?? (v === "pointcloud" ? "scattergl" : v);
    else out[k] = v;
  }
  return attributeStrings(walk(out, where) as Obj);
}

/** `"xaxis.title": "x"` → `"xaxis.title.text": "x"`, `"xaxis.titlefont": f` → `"xaxis.title.font": f`. */
function attributeStrings(update: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(update)) {
    if (!k.includes(".")) {
      out[k] = v;
      continue;
    }
    const parts = k.split(".");
    const last = parts[parts.length - 1];
    const part = TITLE_PARTS.find(([old]) => old === last);
    if (last === "title" && (typeof v === "string" || typeof v === "number")) out[`${k}.text`] = String(v);
    else if (part) out[[...parts.slice(0, -1), "title", part[1]].join(".")] = v;
    else out[k] = v;
  }
  return out;
}

/** In place on a fresh copy: `title: "x"` → `title: { text: "x" }`, and the old flat title attributes into it. */
function fixTitle(obj: Obj): void {
  const has = "title" in obj || TITLE_PARTS.some(([old]) => old in obj);
  if (!has) return;
  let title: Obj | undefined;
  if (typeof obj.title === "string" || typeof obj.title === "number") title = { text: String(obj.title) };
  else if (isObj(obj.title)) title = { ...obj.title };
  for (const [old, part] of TITLE_PARTS) {
    if (!(old in obj)) continue;
    const v = obj[old];
    delete obj[old];
    if (v === undefined || v === null) continue;
    title ??= {};
    if (title[part] === undefined) title[part] = v;
    else if (isObj(title[part]) && isObj(v)) title[part] = { ...v, ...(title[part] as Obj) };
  }
  if (title) obj.title = title;
}

function isColorKey(key: string): boolean {
  return /color$/i.test(key) || key === "colorway" || key === "colors";
}

function isColorscaleKey(key: string): boolean {
  return /colorscale$/i.test(key) || key === "sequential" || key === "sequentialminus" || key === "diverging";
}

function colorscale(scale: unknown[], where: string): unknown[] {
  return scale.map((entry, i) =>
    Array.isArray(entry) && entry.length === 2 && typeof entry[1] === "string"
      ? [entry[0], normalizeColor(entry[1], `${where}[${i}][1]`)]
      : entry,
  );
}

/**
 * A colour string that plotly.js 2, 3 and 4 all parse the same: `#` added to bare hex, `hsv()`
 * converted to `rgb()`, fractional `rgb()` channels rounded. Throws, naming `where`, on a string that
 * is no colour at all.
 */
export function normalizeColor(color: string, where = "colour"): string {
  const s = color.trim();
  if (/^#([0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(s)) return s;
  if (/^([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(s)) return `#${s}`;
  const fn = /^(rgba?|hsla?|hsva?)\(\s*([^)]*)\)$/i.exec(s);
  if (fn) {
    const name = fn[1].toLowerCase();
    const args = fn[2].split(/\s*,\s*|\s+\/\s+|\s+/).filter((a) => a !== "");
    const num = (a: string) => (a.endsWith("%") ? Number(a.slice(0, -1)) : Number(a));
    const wantAlpha = name.endsWith("a");
    if ((args.length === 3 || args.length === 4) && args.every((a) => Number.isFinite(num(a.replace(/deg$/, ""))))) {
      const alpha = args.length === 4 ? clamp(args[3].endsWith("%") ? num(args[3]) / 100 : num(args[3]), 0, 1) : undefined;
      if (name.startsWith("rgb")) {
        if (/^rgba?\(\s*\d+\s*,\s*\d+\s*,\s*\d+\s*(,\s*[\d.]+\s*)?\)$/i.test(s) && (args.length === 4) === wantAlpha) return s;
        const [r, g, b] = args.slice(0, 3).map((a) => (a.endsWith("%") ? clamp(Math.round((num(a) * 255) / 100), 0, 255) : clamp(Math.round(num(a)), 0, 255)));
        return rgbString(r, g, b, alpha ?? (wantAlpha ? 1 : undefined));
      }
      if (name.startsWith("hsl")) return s;
      const h = num(args[0].replace(/deg$/, ""));
      const sat = percent(args[1]), v = percent(args[2]);
      const [r, g, b] = hsvToRgb(h, sat, v);
      return rgbString(r, g, b, alpha ?? (wantAlpha ? 1 : undefined));
    }
  }
  if (CSS_COLORS.has(s.toLowerCase())) return s;
  throw new Error(
    `lepton.plot: ${where} is ${JSON.stringify(color)}, which is not a colour plotly.js can draw; use a CSS colour name ("red"), ` +
      "#rrggbb, rgb(r, g, b), rgba(r, g, b, a) or hsl(h, s%, l%).",
  );
}

function percent(a: string): number {
  const n = Number(a.replace(/%$/, ""));
  return clamp(a.endsWith("%") || n > 1 ? n / 100 : n, 0, 1);
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function rgbString(r: number, g: number, b: number, alpha: number | undefined): string {
  return alpha === undefined ? `rgb(${r}, ${g}, ${b})` : `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const hh = (((h % 360) + 360) % 360) / 60;
  const c = v * s, x = c * (1 - Math.abs((hh % 2) - 1)), m = v - c;
  const [r, g, b] = hh < 1 ? [c, x, 0] : hh < 2 ? [x, c, 0] : hh < 3 ? [0, c, x] : hh < 4 ? [0, x, c] : hh < 5 ? [x, 0, c] : [c, 0, x];
  return [r, g, b].map((u) => Math.round((u + m) * 255)) as [number, number, number];
}

/** CSS colour names (and `transparent`), as plotly.js's colour parsers know them. */
const CSS_COLORS = new Set(
  ("aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet brown burlywood cadetblue " +
    "chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan darkgoldenrod darkgray darkgreen darkgrey " +
    "darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen darkslateblue darkslategray " +
    "darkslategrey darkturquoise darkviolet deeppink deepskyblue dimgray dimgrey dodgerblue firebrick floralwhite forestgreen " +
    "fuchsia gainsboro ghostwhite gold goldenrod gray green greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender " +
    "lavenderblush lawngreen lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgreen lightgrey " +
    "lightpink lightsalmon lightseagreen lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen linen " +
    "magenta maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue mediumspringgreen " +
    "mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin navajowhite navy oldlace olive olivedrab orange " +
    "orangered orchid palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru pink plum powderblue purple " +
    "rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown seagreen seashell sienna silver skyblue slateblue slategray " +
    "slategrey snow springgreen steelblue tan teal thistle tomato turquoise violet wheat white whitesmoke yellow yellowgreen transparent").split(" "),
);
