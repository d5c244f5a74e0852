/**
 * Turning what users pass (arrays, typed arrays, tf tensors) into plain JSON values for Plotly.
 * Tensors are only read (dataSync), never created, so nothing here can leak tensor memory.
 */
import type { Tensor } from "@tensorflow/tfjs";
import type { Matrix, Numbers, Values } from "./types";

/** A tf tensor from any loaded copy of tfjs (checked by shape, not by class). */
export function isTensor(value: unknown): value is Tensor {
  return (
    value !== null &&
    typeof value === "object" &&
    Array.isArray((value as any).shape) &&
    typeof (value as any).dataSync === "function"
  );
}

function tensorValues(t: Tensor, what: string): ArrayLike<number> {
  if ((t as any).isDisposed) {
    throw new Error(`lepton.plot: ${what} is a tensor that has been disposed; pass it before disposing it (or pass its dataSync() copy).`);
  }
  if (t.dtype === "string") throw new Error(`lepton.plot: ${what} is a string tensor; charts need numbers.`);
  return t.dataSync() as ArrayLike<number>;
}

/** Any finite number as is; NaN and ±Infinity become null (Plotly draws a gap, JSON stays valid). */
function jsonNumber(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/** A flat list of numbers from an array, typed array or tensor (tensors are flattened). */
export function toNumbers(value: Numbers, what: string): (number | null)[] {
  if (isTensor(value)) return Array.from(tensorValues(value, what), jsonNumber);
  if (value === null || value === undefined || typeof (value as ArrayLike<number>).length !== "number") {
    throw new Error(`lepton.plot: ${what} must be an array of numbers, a typed array or a tf tensor (got ${describe(value)}).`);
  }
  const out: (number | null)[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    if (typeof v !== "number") {
      throw new Error(`lepton.plot: ${what}[${i}] is ${describe(v)}; expected a number.`);
    }
    out[i] = jsonNumber(v);
  }
  return out;
}

/** Axis values: numbers (as `toNumbers`) or category names kept as they are. */
export function toValues(value: Values, what: string): (number | string | null)[] {
  if (!isTensor(value) && Array.isArray(value) && value.some((v) => typeof v === "string")) {
    return value.map((v, i) => {
      if (typeof v === "string") return v;
      if (typeof v === "number") return jsonNumber(v);
      throw new Error(`lepton.plot: ${what}[${i}] is ${describe(v)}; expected a number or a string.`);
    });
  }
  return toNumbers(value as Numbers, what);
}

/** Rows of numbers from a 2-D array or a 2-D tensor. */
export function toMatrix(value: Matrix, what: string): (number | null)[][] {
  if (isTensor(value)) {
    if (value.shape.length !== 2) {
      throw new Error(`lepton.plot: ${what} must be a 2-D tensor [rows, columns]; got shape [${value.shape.join(", ")}].`);
    }
    const [rows, cols] = value.shape as [number, number];
    const flat = tensorValues(value, what);
    const out: (number | null)[][] = [];
    for (let r = 0; r < rows; r++) {
      const row: (number | null)[] = new Array(cols);
      for (let c = 0; c < cols; c++) row[c] = jsonNumber(flat[r * cols + c]);
      out.push(row);
    }
    return out;
  }
  if (!Array.isArray(value)) {
    throw new Error(`lepton.plot: ${what} must be an array of rows (number[][]) or a 2-D tf tensor (got ${describe(value)}).`);
  }
  return value.map((row, r) => toNumbers(row, `${what}[${r}]`));
}

/** The range 0..n-1, the default x of a series. */
export function indices(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * A deep copy of a raw Plotly object in which typed arrays and tensors become plain arrays and
 * non-finite numbers become null, so that the result is valid JSON.
 */
export function plainJSON(value: unknown, path = "value"): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === "number") return jsonNumber(value);
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (isTensor(value)) return nestTensor(value, path);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number>, (v) => jsonNumber(Number(v)));
  }
  if (Array.isArray(value)) return value.map((v, i) => plainJSON(v, `${path}[${i}]`));
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") {
    const out: { [key: string]: unknown } = {};
    for (const [k, v] of Object.entries(value as object)) {
      if (v !== undefined) out[k] = plainJSON(v, `${path}.${k}`);
    }
    return out;
  }
  throw new Error(`lepton.plot: ${path} is a ${typeof value}, which cannot be part of a chart (use numbers, strings, arrays or objects).`);
}

function nestTensor(t: Tensor, what: string): unknown {
  const flat = Array.from(tensorValues(t, what), jsonNumber);
  const shape = t.shape;
  if (shape.length <= 1) return shape.length === 0 ? flat[0] : flat;
  const build = (dim: number, offset: number): unknown[] => {
    const size = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    const out: unknown[] = [];
    for (let i = 0; i < shape[dim]; i++) {
      out.push(dim === shape.length - 1 ? flat[offset + i] : build(dim + 1, offset + i * size));
    }
    return out;
  };
  return build(0, 0);
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === "object") return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
