/**
 * tf.data interop, inwards: copy a tf.data.Dataset of (input, target) elements into memory as an
 * InMemoryDataset, the counterpart of `InMemoryDataset.toTfData()`.
 */
import * as tf from "@tensorflow/tfjs";
import { fromTensors, type InMemoryDataset } from "./tensor_dataset";

/** Options for `fromTfData`. */
export interface FromTfDataOptions {
  /**
   * Class names (index = label). With them, targets that are class indices (int32 or whole float
   * numbers) or one-hot vectors of this length become class labels. Without them, int32 targets
   * are class labels ("0".."k-1") and float targets regression targets.
   */
  classes?: readonly string[];
  /**
   * Whether each element is a batch ([b, ...] inputs and [b] or [b, k] targets) or one sample.
   * Default: one sample when the first element's target is a scalar, else batches when the input
   * and target agree on their first axis. Pass it when that guess could be wrong.
   */
  batched?: boolean;
  /** Multiply stored inputs by this in batches (default 1: values come out as they went in). */
  scale?: number;
  /** Name shown in summaries (default "tf.data"). */
  name?: string;
}

/** The element forms accepted: `{ xs, ys }` (what toTfData and fitDataset use), `{ x, y }` or `[x, y]`. */
export type TfDataElement = { xs: tf.Tensor; ys: tf.Tensor } | { x: tf.Tensor; y: tf.Tensor } | [tf.Tensor, tf.Tensor];

function split(element: unknown, index: number): [tf.Tensor, tf.Tensor] {
  const e = element as Record<string, unknown> | unknown[];
  const isObject = typeof e === "object" && e !== null;
  const pair = Array.isArray(e) ? [e[0], e[1]] : isObject && "xs" in e ? [e.xs, e.ys] : isObject && "x" in e ? [e.x, e.y] : [];
  if (!(pair[0] instanceof tf.Tensor) || !(pair[1] instanceof tf.Tensor)) {
    throw new Error(`fromTfData(): element ${index} is not { xs, ys }, { x, y } or [x, y] of tensors; ` +
      `map the dataset to that form first, e.g. ds.map((e) => ({ xs: e.image, ys: e.label })).`);
  }
  return pair as [tf.Tensor, tf.Tensor];
}

/** The parts one after another in a new array made by `make(total length)`. */
function concatInto<T extends Uint8Array | Int32Array | Float32Array>(parts: ArrayLike<number>[], make: (length: number) => T): T {
  const out = make(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Copy every element of a finite tf.data.Dataset into memory and return an InMemoryDataset.
 * Inputs stay as they are (float32), or become compact uint8 in memory when they are int32 values
 * that are all whole numbers 0-255 (e.g. pixels); `scale` multiplies them in batches. The element
 * tensors are disposed once read.
 *
 *   const ds = await lepton.data.fromTfData(tf.data.array(samples).batch(32), { classes: ["cat", "dog"] });
 */
export async function fromTfData(dataset: tf.data.Dataset<TfDataElement>, opts: FromTfDataOptions = {}): Promise<InMemoryDataset> {
  if (!dataset || typeof (dataset as { iterator?: unknown }).iterator !== "function") {
    throw new Error("fromTfData(): expected a tf.data.Dataset (e.g. tf.data.array(...), tf.data.generator(...), ds.toTfData()).");
  }
  const xParts: (Float32Array | Int32Array | Uint8Array)[] = [];
  const yParts: ArrayLike<number>[] = [];
  let batched = opts.batched;
  let inputShape: number[] | undefined;
  let targetShape: number[] | undefined;
  let allInt = true;
  let n = 0;
  const iterator = await dataset.iterator();
  for (let index = 0; ; index++) {
    const { value, done } = await iterator.next();
    if (done) break;
    try {
      const [x, y] = split(value, index);
      if (batched === undefined) batched = y.rank === 0 ? false : x.rank >= 1 && x.shape[0] === y.shape[0];
      const count = batched ? x.shape[0] : 1;
      if (batched && (x.rank < 1 || y.rank < 1 || y.shape[0] !== count)) {
        throw new Error(`fromTfData(): element ${index} holds ${x.shape[0]} inputs [${x.shape.join(", ")}] but targets [${y.shape.join(", ")}]; ` +
          `batched elements need the same first axis (pass { batched: false } for single samples).`);
      }
      const xs = batched ? x.shape.slice(1) : x.shape;
      const ys = batched ? y.shape.slice(1) : y.shape;
      if (!inputShape || !targetShape) {
        inputShape = xs;
        targetShape = ys;
      } else if (!sameShape(xs, inputShape) || !sameShape(ys, targetShape)) {
        throw new Error(`fromTfData(): element ${index} has samples of shape [${xs.join(", ")}] -> [${ys.join(", ")}] ` +
          `but earlier ones [${inputShape.join(", ")}] -> [${targetShape.join(", ")}]; every sample must have the same shape.`);
      }
      const xv = await x.data();
      if (x.dtype === "int32") {
        for (let i = 0; i < xv.length && allInt; i++) if (xv[i] < 0 || xv[i] > 255) allInt = false;
      } else allInt = false;
      xParts.push(xv as Float32Array | Int32Array | Uint8Array);
      yParts.push((y.dtype === "int32" || y.dtype === "bool") ? Int32Array.from(await y.data()) : Float32Array.from(await y.data()));
      n += count;
    } finally {
      tf.dispose(value as tf.TensorContainer);
    }
  }
  if (n === 0 || !inputShape || !targetShape) throw new Error("fromTfData(): the dataset has no elements.");

  const x = concatInto(xParts, (n) => (allInt ? new Uint8Array(n) : new Float32Array(n)));
  const intTargets = yParts.every((p) => p instanceof Int32Array);
  let y: Int32Array | Float32Array = concatInto(yParts, (n) => (intTargets ? new Int32Array(n) : new Float32Array(n)));
  const k = opts.classes?.length;
  if (k !== undefined && targetShape.length === 1 && targetShape[0] === k && k > 1) {
    // One-hot (or probability) vectors: the class is the largest entry.
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (y[i * k + j] > y[i * k + best]) best = j;
      labels[i] = best;
    }
    y = labels;
  } else if ((k !== undefined || intTargets) && targetShape.length > 0) {
    throw new Error(`fromTfData(): class targets must be one index per sample (or one-hot vectors of length ${k ?? "classes.length"}); ` +
      `got targets of shape [${targetShape.join(", ")}]. Leave out classes for regression targets.`);
  }
  const classification = k !== undefined || intTargets;
  return fromTensors(x, classification ? Int32Array.from(y as ArrayLike<number>, (v, i) => {
    if (!Number.isInteger(v)) throw new Error(`fromTfData(): target ${v} of sample ${i} is not a class index (whole number >= 0).`);
    return v;
  }) : (y as Float32Array), {
    inputShape,
    ...(classification ? {} : { targetShape: targetShape.length ? targetShape : [1] }),
    ...(opts.classes ? { classes: opts.classes } : {}),
    scale: opts.scale ?? 1,
    name: opts.name ?? "tf.data",
  });
}
