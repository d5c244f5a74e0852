/**
 * Images and labelled image grids from tf tensors or typed arrays (HWC or CHW, uint8 or float).
 * The grid is composed into one PNG (pngjs) shown by a single Plotly `image` trace, with labels as
 * annotations: compact (a 32×32 image is ~2 KB instead of ~10 KB of JSON numbers) and fast to draw.
 */
import { PNG } from "pngjs";
import type { Tensor } from "@tensorflow/tfjs";
import { Figure } from "./figure";
import { chartLayout } from "./layout";
import type { ChartOptions, Layout, Trace } from "./types";
import { describe, isTensor } from "./values";

/** Pixels with their shape: [h, w], [h, w, c] (HWC) or [c, h, w] (CHW), c = 1, 3 or 4. */
export interface PixelArray {
  data: ArrayLike<number>;
  shape: number[];
}

/** One image: a tensor, pixels with a shape, or rows of grey values. */
export type ImageInput = Tensor | PixelArray | ReadonlyArray<ArrayLike<number>>;

export interface ImageOptions extends ChartOptions {
  /** Channel order; by default guessed from the shape (a last axis of 1, 3 or 4 means HWC). */
  format?: "HWC" | "CHW";
  /**
   * The value range that maps to black..white. By default: [0, 1] for floats within it, [0, 255]
   * for values within that, else each image's own min..max.
   */
  range?: [number, number];
  /** Screen pixels per image pixel (default: about 100 px per image, at most 900 px in all). */
  scale?: number;
}

export interface ImageGridOptions extends ImageOptions {
  /** One label per image, written above it. */
  labels?: ReadonlyArray<string | number>;
  /** Colours of the labels (e.g. red for wrong predictions), one per image. */
  labelColors?: ReadonlyArray<string>;
  /** Images per row (default: up to 8). */
  columns?: number;
}

/** An image decoded to 8-bit RGBA. */
interface Rgba {
  width: number;
  height: number;
  pixels: Uint8Array;
}

/** Show one image: `image(tensor3d)`, `image({ data: uint8, shape: [28, 28] })`. */
export function image(img: ImageInput, options: ImageOptions = {}): Figure {
  return grid([toRgba(img, options, "image")], { ...options, columns: 1 }, "image");
}

/**
 * Show images in a grid with labels: `imageGrid(batch4d, { labels: ["cat", "dog", ...], columns: 8 })`.
 * `images` is a batch tensor [n, h, w, c] / [n, c, h, w] / [n, h, w] (grey), an array of images, or
 * pixels with a batch shape. A single image works too: [h, w, c], or [c, h, w] with `format: "CHW"`.
 */
export function imageGrid(images: Tensor | PixelArray | ReadonlyArray<ImageInput>, options: ImageGridOptions = {}): Figure {
  const list = splitBatch(images, options).map((img, i) => toRgba(img, options, `image ${i}`));
  if (list.length === 0) throw new Error("lepton.plot.imageGrid: no images to show (the batch is empty).");
  if (options.labels && options.labels.length !== list.length) {
    throw new Error(`lepton.plot.imageGrid: ${options.labels.length} labels for ${list.length} images; pass one label per image.`);
  }
  return grid(list, options, "image grid");
}

/**
 * The images of a grid. A 3-D input is a batch of grey images [n, h, w] (MNIST-style) unless its
 * last axis is a channel count (1, 3, 4: one HWC image) or `format` says it is one image.
 */
function splitBatch(images: Tensor | PixelArray | ReadonlyArray<ImageInput>, options: ImageGridOptions): ImageInput[] {
  if (Array.isArray(images)) {
    // An array of rows of numbers is one grey image, not a batch.
    if (images.length && !isTensor(images[0]) && isNumberRow(images[0])) return [images as ReadonlyArray<ArrayLike<number>>];
    return [...(images as ReadonlyArray<ImageInput>)];
  }
  const shape = shapeOf(images as ImageInput, "images");
  const data = valuesOf(images as ImageInput, "images");
  if (shape.length === 4 || (shape.length === 3 && !options.format && !isChannelCount(shape[2]))) {
    const [n, ...rest] = shape;
    const size = rest.reduce((a, b) => a * b, 1);
    return Array.from({ length: n }, (_, i) => ({ data: sliceOf(data, i * size, size), shape: rest }));
  }
  return [{ data, shape }];
}

function sliceOf(data: ArrayLike<number>, start: number, size: number): ArrayLike<number> {
  if (ArrayBuffer.isView(data)) return (data as unknown as Float32Array).subarray(start, start + size);
  return Array.prototype.slice.call(data, start, start + size) as number[];
}

function isNumberRow(value: unknown): boolean {
  return (Array.isArray(value) || ArrayBuffer.isView(value)) && (value as ArrayLike<unknown>).length > 0 && typeof (value as ArrayLike<unknown>)[0] === "number";
}

function isChannelCount(n: number): boolean {
  return n === 1 || n === 3 || n === 4;
}

function shapeOf(img: ImageInput, what: string): number[] {
  if (isTensor(img)) return [...img.shape];
  if (Array.isArray(img)) {
    const rows = img as ReadonlyArray<ArrayLike<number>>;
    return [rows.length, rows.length ? rows[0].length : 0];
  }
  const p = img as PixelArray;
  if (p && p.data && Array.isArray(p.shape)) return [...p.shape];
  throw new Error(`lepton.plot: ${what} must be a tf tensor, { data, shape } or rows of numbers (got ${describe(img)}).`);
}

function valuesOf(img: ImageInput, what: string): ArrayLike<number> {
  if (isTensor(img)) {
    if ((img as any).isDisposed) throw new Error(`lepton.plot: ${what} is a disposed tensor; show it before disposing it.`);
    return img.dataSync() as ArrayLike<number>;
  }
  if (Array.isArray(img)) {
    const rows = img as ReadonlyArray<ArrayLike<number>>;
    const w = rows.length ? rows[0].length : 0;
    const out = new Float64Array(rows.length * w);
    rows.forEach((row, r) => {
      if (row.length !== w) throw new Error(`lepton.plot: ${what} row ${r} has ${row.length} values, row 0 has ${w}; rows must have equal length.`);
      for (let c = 0; c < w; c++) out[r * w + c] = row[c];
    });
    return out;
  }
  return (img as PixelArray).data;
}

function toRgba(img: ImageInput, options: ImageOptions, what: string): Rgba {
  const shape = shapeOf(img, what);
  const data = valuesOf(img, what);
  let h: number, w: number, c: number, chw: boolean;
  if (shape.length === 2) {
    [h, w] = shape;
    c = 1;
    chw = false;
  } else if (shape.length === 3) {
    chw = options.format ? options.format === "CHW" : !isChannelCount(shape[2]) && isChannelCount(shape[0]);
    [h, w, c] = chw ? [shape[1], shape[2], shape[0]] : (shape as [number, number, number]);
  } else if (shape.length === 4 && shape[0] === 1) {
    return toRgba({ data, shape: shape.slice(1) }, options, what);
  } else {
    throw new Error(`lepton.plot: ${what} has shape [${shape.join(", ")}]; an image is [h, w], [h, w, c] or [c, h, w] (use imageGrid for a batch).`);
  }
  if (!isChannelCount(c)) {
    throw new Error(`lepton.plot: ${what} has ${c} channels (shape [${shape.join(", ")}]); images need 1, 3 or 4 (pass format: "HWC" or "CHW" if the guess is wrong).`);
  }
  if (data.length !== h * w * c) {
    throw new Error(`lepton.plot: ${what} has ${data.length} values but shape [${shape.join(", ")}] needs ${h * w * c}.`);
  }
  const [lo, hi] = options.range ?? autoRange(data);
  const span = hi - lo || 1;
  const pixels = new Uint8Array(h * w * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4;
      for (let k = 0; k < 4; k++) {
        let v: number;
        if (k === 3) {
          if (c !== 4) {
            pixels[o + 3] = 255;
            continue;
          }
          v = chw ? data[3 * h * w + y * w + x] : data[(y * w + x) * c + 3];
        } else {
          const ch = c === 1 ? 0 : k;
          v = chw ? data[ch * h * w + y * w + x] : data[(y * w + x) * c + ch];
        }
        const scaled = Number.isFinite(v) ? ((v - lo) / span) * 255 : 0;
        pixels[o + k] = Math.max(0, Math.min(255, Math.round(scaled)));
      }
    }
  }
  return { width: w, height: h, pixels };
}

/** [0, 1] if all values lie in it, [0, 255] if they lie in that, else the values' own min..max. */
export function autoRange(data: ArrayLike<number>): [number, number] {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Infinity) return [0, 1];
  if (min >= 0 && max <= 1) return [0, 1];
  if (min >= 0 && max <= 255) return [0, 255];
  return [min, max];
}

/** Screen pixels at the top of an image figure kept free for plotly's modebar (its toolbar, 22 px buttons). */
export const MODEBAR_BAND = 30;

/**
 * How the labels of a grid are written: the font size and line count (from the size of a cell on
 * screen), and each label wrapped to at most two lines that fit the cell (a label may use the gap to
 * its neighbours, never more), cut with "…" when it is longer; the full label is the annotation's
 * hover text.
 */
export interface LabelLayout {
  /** Font size in screen px. */
  fontSize: number;
  /** Lines of the longest label (1 or 2): the band above each row is this high. */
  lines: number;
  /** Each label's text: escaped, its lines joined with `<br>`. */
  texts: string[];
  /** Band above each row for its labels, in screen px. */
  bandPx: number;
}

/** Plotly's line height for multi-line text, in font sizes. */
const LINE_HEIGHT = 1.3;

/**
 * Widths in thousandths of an em of the printable ASCII characters (32 to 126) in DejaVu Sans, the
 * font Linux browsers draw plotly's "Open Sans, verdana, arial, sans-serif" with when Open Sans is
 * not installed, and the widest of those four (Verdana is within 1% of it; Open Sans and Arial are
 * narrower): an estimate from it is not short of what a browser draws.
 */
const CHAR_WIDTHS = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636,
  636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632,
  575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685,
  611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579,
  278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];

/** A label's width in screen px, estimated from its characters (Node.js has no fonts to measure with); 3% to spare. */
export function labelWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 32 && code < 127) em += CHAR_WIDTHS[code - 32] / 1000;
    else if (ch === "…") em += 1;
    else em += code >= 0x2e80 ? 1 : 0.8; // CJK is full width; other letters are taken wide
  }
  return em * fontSize * 1.03;
}

/** Wrap and cut labels to fit `widthPx` (at most two lines each), with a font chosen from the cell size. */
export function layoutLabels(labels: string[], cellPx: number, widthPx: number): LabelLayout {
  const largest = Math.max(8, Math.min(12, Math.round(cellPx / 8)));
  const texts = labels.map((label) => label.replace(/\s+/g, " ").trim());
  // The largest font (down to 3 px smaller, never below 8) at which every label fits uncut.
  let fontSize = largest;
  let wrapped = texts.map((t) => wrapLabel(t, fontSize, widthPx));
  for (let size = largest - 1; size >= Math.max(8, largest - 3) && wrapped.some((w) => w.cut); size--) {
    const smaller = texts.map((t) => wrapLabel(t, size, widthPx));
    if (smaller.some((w) => w.cut) && size > Math.max(8, largest - 3)) continue;
    fontSize = size;
    wrapped = smaller;
  }
  const lines = Math.max(1, ...wrapped.map((w) => w.lines.length));
  return {
    fontSize,
    lines,
    texts: wrapped.map((w) => w.lines.map(escapeLabel).join("<br>")),
    bandPx: Math.ceil(fontSize * LINE_HEIGHT * lines + 6),
  };
}

/**
 * One label on at most two lines no wider than `widthPx`: as it is when it fits, else split at the
 * space that makes the longer line shortest, else (no split fits) as much as fits on line 1 and the
 * rest cut with "…" (`cut` is then true).
 */
function wrapLabel(text: string, fontSize: number, widthPx: number): { lines: string[]; cut: boolean } {
  const width = (t: string) => labelWidth(t, fontSize);
  const fits = (t: string) => width(t) <= widthPx;
  const cutToFit = (t: string): string => {
    if (fits(t)) return t;
    let chars = Array.from(t);
    while (chars.length > 1 && !fits(chars.join("").trimEnd() + "…")) chars = chars.slice(0, -1);
    return chars.join("").trimEnd() + "…";
  };
  if (fits(text)) return { lines: [text], cut: false };
  const words = text.split(" ");
  let best: string[] | undefined;
  let bestWidth = Infinity;
  for (let k = 1; k < words.length; k++) {
    const a = words.slice(0, k).join(" "), b = words.slice(k).join(" ");
    const w = Math.max(width(a), width(b));
    if (w <= widthPx && w < bestWidth) [best, bestWidth] = [[a, b], w];
  }
  if (best) return { lines: best, cut: false };
  let k = 0;
  let first = "";
  while (k < words.length && fits(first ? `${first} ${words[k]}` : words[k])) first = first ? `${first} ${words[k++]}` : words[k++];
  if (!first) return { lines: [cutToFit(text)], cut: true }; // one long word: no place to break
  return { lines: [first, cutToFit(words.slice(k).join(" "))], cut: true };
}

/** Compose the images into one PNG and lay out labels above each cell. */
function grid(images: Rgba[], options: ImageGridOptions, kind: string): Figure {
  const n = images.length;
  const columns = Math.max(1, Math.min(options.columns ?? Math.min(n, 8), n));
  const rows = Math.ceil(n / columns);
  const cellW = Math.max(...images.map((i) => i.width));
  const cellH = Math.max(...images.map((i) => i.height));
  const labels = options.labels?.map(String);
  const scale = options.scale ?? Math.max(0.25, Math.min(100 / Math.max(cellW, cellH), 900 / (columns * cellW), 8));
  const gap = Math.max(1, Math.round(6 / scale)); // image pixels between cells (~6 screen px)
  // Labels: sized from the cell on screen; each may be as wide as the distance between two cell centres.
  const cellPx = cellW * scale;
  const text = labels ? layoutLabels(labels, cellPx, Math.max(8, (cellW + gap) * scale - 4)) : undefined;
  const labelBand = text ? Math.ceil(text.bandPx / scale) : 0; // image pixels above each cell for its label
  const width = columns * cellW + (columns - 1) * gap;
  const height = rows * (cellH + labelBand) + (rows - 1) * gap;
  const png = new PNG({ width, height });
  png.data.fill(0); // transparent between cells
  const annotations: Layout[] = [];
  images.forEach((img, i) => {
    const col = i % columns, row = Math.floor(i / columns);
    const x0 = col * (cellW + gap) + Math.floor((cellW - img.width) / 2);
    const top = row * (cellH + labelBand + gap) + labelBand;
    const y0 = top + Math.floor((cellH - img.height) / 2);
    for (let y = 0; y < img.height; y++) {
      const src = y * img.width * 4;
      const dst = ((y0 + y) * width + x0) * 4;
      png.data.set(img.pixels.subarray(src, src + img.width * 4), dst);
    }
    if (labels && text) {
      const color = options.labelColors?.[i];
      const annotation: Layout = {
        x: col * (cellW + gap) + cellW / 2 - 0.5,
        y: top - 0.5,
        xref: "x",
        yref: "y",
        text: text.texts[i],
        showarrow: false,
        xanchor: "center",
        yanchor: "bottom",
        yshift: 1,
        font: color ? { size: text.fontSize, color } : { size: text.fontSize },
      };
      // A label that had to be cut shows in full on hover.
      if (text.texts[i] !== escapeLabel(labels[i])) annotation.hovertext = escapeLabel(labels[i]);
      annotations.push(annotation);
    }
  });
  const source = "data:image/png;base64," + PNG.sync.write(png).toString("base64");
  const trace: Trace = { type: "image", source, hoverinfo: "skip", name: kind };
  // The modebar (plotly's toolbar, top right, shown on hover) gets a band of its own at the top, and the
  // title sits below it, so neither covers the other nor the first row's labels.
  const modebar = options.config?.displayModeBar === false ? 0 : MODEBAR_BAND;
  const titleBand = options.title ? 28 : 0;
  const margin = { l: 10, r: 10, t: Math.max(10, modebar + titleBand), b: 10 };
  const figureHeight = Math.round(height * scale) + margin.t + margin.b;
  // Wide enough for the modebar and the title (a narrower grid is centred in the figure).
  const minWidth = Math.max(modebar ? 240 : 0, options.title ? Math.ceil(labelWidth(options.title, 17)) + 40 : 0);
  const axisStyle = { visible: false, showgrid: false, zeroline: false };
  const layout = chartLayout(options, {
    width: Math.max(minWidth, Math.round(width * scale) + margin.l + margin.r),
    height: figureHeight,
    margin,
    xaxis: { ...axisStyle, range: [-0.5, width - 0.5], constrain: "domain" },
    yaxis: { ...axisStyle, range: [height - 0.5, -0.5], scaleanchor: "x", constrain: "domain" },
    annotations,
    showlegend: false,
  });
  if (options.title !== undefined && !options.layout?.title) {
    layout.title = { text: options.title, x: 0.5, xanchor: "center", y: 1 - (modebar + 2) / figureHeight, yanchor: "top", yref: "container" };
  }
  return new Figure([trace], layout, { responsive: false, ...options.config }, undefined, `${kind} (${n} image${n === 1 ? "" : "s"}, ${cellW}×${cellH})`);
}

function escapeLabel(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
