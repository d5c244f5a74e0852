/**
 * How a tf.Tensor looks as a cell's value (or through lepton.display): instead of the engine's
 * internals (`Tensor { kept: false, isDisposedInternal: false, dataId: ... }`), its shape, dtype and
 * values.
 *
 * - text/plain: `Tensor(shape=[2, 3], dtype=float32)` and the values nested like NumPy's repr; above
 *   1000 elements every axis longer than 6 shows its first and last 3 entries around `...`
 *   (NumPy's threshold / edgeitems), and long rows wrap at 75 columns.
 * - text/html: a table for rank 1 and 2 (truncated the same way); for rank 3 and more a one-line
 *   summary (shape, dtype, min, max, mean); an image `[h, w, 1|3|4]` is drawn as an inline PNG with the
 *   summary under it.
 *
 * Tensors are recognised by their shape (any loaded copy of tfjs) and only read with `dataSync()`:
 * no tensor is created, so showing one cannot leak memory. A disposed tensor says so.
 */
import type { MimeBundle } from "./display";
import { CELL_STYLE, escapeHtml, formatFloat32, formatStat } from "../util/html";
import { pngImgTag } from "../util/png";

/** The parts of a tf.Tensor that are read here. */
export interface TensorLike {
  readonly dataId: unknown;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly isDisposed: boolean;
  dataSync(): ArrayLike<number> | ArrayLike<string> | ArrayLike<unknown>;
}

/** Summarise above this many elements (NumPy's default threshold). */
export const TENSOR_THRESHOLD = 1000;
/** Entries kept at each end of a summarised axis (NumPy's edgeitems). */
export const TENSOR_EDGE_ITEMS = 3;
const LINE_WIDTH = 75;
/** Smallest side of a [h, w, c] tensor that is drawn as an image (smaller ones are just numbers). */
const MIN_IMAGE_SIDE = 4;

/** True for a tf.Tensor from any copy of tfjs (and tf.Variable). */
export function isTensorLike(value: unknown): value is TensorLike {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return (
    v.dataId !== undefined &&
    Array.isArray(v.shape) &&
    typeof v.dtype === "string" &&
    typeof v.dataSync === "function" &&
    typeof v.isDisposed === "boolean"
  );
}

/** `Tensor(shape=[2, 3], dtype=float32)` (`Variable(name=..., ...)` for a tf.Variable). */
export function tensorHeader(t: TensorLike): string {
  const v = t as unknown as { name?: unknown; trainable?: unknown };
  const shape = `shape=[${t.shape.join(", ")}], dtype=${t.dtype}`;
  if (typeof v.trainable === "boolean" && typeof v.name === "string") return `Variable(name=${v.name}, ${shape}, trainable=${v.trainable})`;
  return `Tensor(${shape})`;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The indices shown along an axis of length n; -1 marks the `...`. */
function shownIndices(n: number, summarise: boolean): number[] {
  if (!summarise || n <= 2 * TENSOR_EDGE_ITEMS) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < TENSOR_EDGE_ITEMS; i++) out.push(i);
  out.push(-1);
  for (let i = n - TENSOR_EDGE_ITEMS; i < n; i++) out.push(i);
  return out;
}

/** The formatted value of element i (flat index). */
function elementFormatter(dtype: string, data: ArrayLike<unknown>): (i: number) => string {
  switch (dtype) {
    case "bool":
      return (i) => (data[i] ? "true" : "false");
    case "int32":
      return (i) => String(data[i]);
    case "string":
      return (i) => {
        const v = data[i];
        return JSON.stringify(typeof v === "string" ? v : v instanceof Uint8Array ? Buffer.from(v).toString("utf8") : String(v));
      };
    case "complex64":
      return (i) => {
        const re = Number(data[2 * i]);
        const im = Number(data[2 * i + 1]);
        return `${formatFloat32(re)}${im < 0 || Object.is(im, -0) ? "-" : "+"}${formatFloat32(Math.abs(im))}j`;
      };
    default:
      return (i) => formatFloat32(Number(data[i]));
  }
}

/** Row-major strides of a shape. */
function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array(shape.length).fill(1);
  for (let a = shape.length - 2; a >= 0; a--) strides[a] = strides[a + 1] * shape[a + 1];
  return strides;
}

/** The values nested in brackets, NumPy style: `[[1, 2, 3],\n [4, 5, 6]]`. */
export function formatValues(shape: readonly number[], dtype: string, data: ArrayLike<unknown>): string {
  const n = size(shape);
  const fmt = elementFormatter(dtype, data);
  if (shape.length === 0) return fmt(0);
  if (n === 0) return "[]";
  const summarise = n > TENSOR_THRESHOLD;
  const rank = shape.length;
  const strides = stridesOf(shape);
  const shown = shape.map((len) => shownIndices(len, summarise));
  // Every shown element, formatted once, so that all get one width.
  const cache = new Map<number, string>();
  const collect = (axis: number, offset: number) => {
    for (const i of shown[axis]) {
      if (i < 0) continue;
      if (axis === rank - 1) cache.set(offset + i, fmt(offset + i));
      else collect(axis + 1, offset + i * strides[axis]);
    }
  };
  collect(0, 0);
  const width = [...cache.values()].reduce((w, s) => Math.max(w, s.length), 0);

  const render = (axis: number, offset: number, indent: string): string => {
    const items = shown[axis];
    if (axis === rank - 1) {
      const words = items.map((i, k) => (i < 0 ? "..." : cache.get(offset + i)!.padStart(width)) + (k < items.length - 1 ? "," : ""));
      const lines: string[] = [];
      let line = "[";
      for (const word of words) {
        const candidate = line === "[" ? line + word : line + " " + word;
        if (line !== "[" && indent.length + candidate.length > LINE_WIDTH) {
          lines.push(line);
          line = " " + word;
        } else line = candidate;
      }
      lines.push(line + "]");
      return lines.join("\n" + indent);
    }
    const inner = items.map((i) => (i < 0 ? "..." : render(axis + 1, offset + i * strides[axis], indent + " ")));
    return "[" + inner.join("," + "\n".repeat(rank - axis - 1) + indent + " ") + "]";
  };
  return render(0, 0, "");
}

/** min, max, mean (NaN left out and counted) of numeric values. */
function stats(dtype: string, data: ArrayLike<unknown>, n: number): { min: number; max: number; mean: number; nan: number } | undefined {
  if (dtype === "string" || dtype === "complex64" || n === 0) return undefined;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nan = 0;
  for (let i = 0; i < n; i++) {
    const v = Number(data[i]);
    if (Number.isNaN(v)) {
      nan++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const count = n - nan;
  return count === 0 ? { min: NaN, max: NaN, mean: NaN, nan } : { min, max, mean: sum / count, nan };
}

/** `min=0 max=23 mean=11.5` (and `NaN=2` when some are NaN). */
function statsLine(dtype: string, data: ArrayLike<unknown>, n: number): string {
  if (n === 0) return "empty";
  const s = stats(dtype, data, n);
  if (!s) return `${n} values`;
  return `min=${formatStat(s.min)} max=${formatStat(s.max)} mean=${formatStat(s.mean)}${s.nan ? ` NaN=${s.nan}` : ""}`;
}

function isImageShape(shape: readonly number[], dtype: string): boolean {
  return (
    shape.length === 3 &&
    (shape[2] === 1 || shape[2] === 3 || shape[2] === 4) &&
    shape[0] >= MIN_IMAGE_SIDE &&
    shape[1] >= MIN_IMAGE_SIDE &&
    dtype !== "string" &&
    dtype !== "complex64"
  );
}

const BOX = `class="lepton-tensor" style="font-family:monospace"`;

function tableHtml(shape: readonly number[], dtype: string, data: ArrayLike<unknown>): string {
  const n = size(shape);
  const summarise = n > TENSOR_THRESHOLD;
  const fmt = elementFormatter(dtype, data);
  const [rows, cols] = shape.length === 1 ? [1, shape[0]] : [shape[0], shape[1]];
  const rowIdx = shape.length === 1 ? [0] : shownIndices(rows, summarise);
  const colIdx = shownIndices(cols, summarise);
  const th = `style="${CELL_STYLE};color:#888;font-weight:normal"`;
  const head = `<tr>${shape.length === 2 ? `<th ${th}></th>` : ""}${colIdx.map((c) => `<th ${th}>${c < 0 ? "…" : c}</th>`).join("")}</tr>`;
  const body = rowIdx
    .map((r) => {
      const label = shape.length === 2 ? `<th ${th}>${r < 0 ? "⋮" : r}</th>` : "";
      const cells = colIdx.map((c) => `<td style="${CELL_STYLE}">${r < 0 ? (c < 0 ? "⋱" : "⋮") : c < 0 ? "…" : escapeHtml(fmt(r * cols + c))}</td>`);
      return `<tr>${label}${cells.join("")}</tr>`;
    })
    .join("");
  return `<table style="border-collapse:collapse">${head}${body}</table>`;
}

/** The mime bundle of a tensor: text/plain and text/html. */
export function tensorBundle(t: TensorLike): MimeBundle {
  const header = tensorHeader(t);
  const shape = [...t.shape];
  if (t.isDisposed) {
    return {
      "text/plain": `${header} (disposed)`,
      "text/html": `<div ${BOX}>${escapeHtml(header)} <i>(disposed)</i></div>`,
    };
  }
  let data: ArrayLike<unknown>;
  try {
    data = t.dataSync() as ArrayLike<unknown>;
  } catch (err) {
    const why = `(values unavailable: ${(err as Error)?.message ?? err})`;
    return { "text/plain": `${header} ${why}`, "text/html": `<div ${BOX}>${escapeHtml(header)} <i>${escapeHtml(why)}</i></div>` };
  }
  const n = size(shape);
  const text = `${header}\n${formatValues(shape, t.dtype, data)}`;
  let html: string;
  const caption = `<div style="font-family:monospace">${escapeHtml(header)}</div>`;
  if (shape.length === 0) {
    html = `<div ${BOX}>${escapeHtml(header)}: <b>${escapeHtml(formatValues(shape, t.dtype, data))}</b></div>`;
  } else if ((shape.length === 1 || shape.length === 2) && n > 0) {
    html = `<div class="lepton-tensor">${caption}${tableHtml(shape, t.dtype, data)}</div>`;
  } else if (isImageShape(shape, t.dtype) && n > 0) {
    const [h, w, c] = shape;
    const numbers = t.dtype === "bool" ? Uint8Array.from(data as ArrayLike<number>) : (data as ArrayLike<number>);
    // Floats at most 1 are [0, 1] images; ints, and floats above 1, are 0-255. Both clamp.
    const s = stats(t.dtype, data, n)!;
    const range = t.dtype === "float32" || t.dtype === "bool" ? (s.max <= 1 || Number.isNaN(s.max) ? "unit" : "byte") : "byte";
    const img = pngImgTag({ values: numbers, height: h, width: w, channels: c, range }, { displaySide: 128, alt: header });
    html = `<div class="lepton-tensor">${img}<div style="font-family:monospace">${escapeHtml(`${header} ${statsLine(t.dtype, data, n)}`)}</div></div>`;
  } else {
    html = `<div ${BOX}>${escapeHtml(`${header} ${statsLine(t.dtype, data, n)}`)}</div>`;
  }
  return { "text/plain": text, "text/html": html };
}

