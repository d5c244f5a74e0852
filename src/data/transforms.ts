/**
 * Batch transforms: functions from one batch to another, applied when a dataset makes a batch.
 * Random ones draw from the batch's seeded generator, so a seeded `batches()` call gives the same
 * augmented batches every time.
 *
 * The built-in transforms (crop, flip, cutout, normalize) work on the whole batch at once and come
 * in two forms with the same random draws (made once per batch in JS), so both give exactly the
 * same batches:
 *  - the array form (`applyArray`) runs on the batch's float32 values before they become a tensor:
 *    one pass over memory;
 *  - the tensor form (`applyTensor`) is a few tf ops on the whole [N, H, W, C] batch (reverse +
 *    where for flips, pad + one gather for crops, a mask + where for cutout, sub/mul for
 *    normalisation), which keeps the work on the device on native and GPU backends.
 * `transformPath()` picks one: see there for the measured reason.
 * Image transforms need NHWC inputs [b, H, W, C].
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "./types";
import type { Rng } from "./rng";

/** What a transform gets besides the batch. */
export interface TransformContext {
  /** Uniform [0,1) numbers, seeded per `batches()` call. */
  rng: Rng;
}

/** Where the built-in transforms run: on the batch's values in JS, or as tf ops on the batch tensor. */
export type TransformPath = "array" | "tensor";

/** Backends on which the tf-op form is chosen by default. */
export const TENSOR_TRANSFORM_BACKENDS: readonly string[] = ["tensorflow", "webgl", "webgpu"];

/**
 * The transform path for the current backend: `requested` when given ("auto" or undefined means
 * choose), else $LEPTON_TRANSFORMS ("tensor" | "array" | "auto"), else by backend: tf ops on the
 * native (tfjs-node, tfjs-node-gpu: "tensorflow") and GPU (webgl, webgpu) backends, where they run
 * in native code or on the device and the batch need not be read back; the array loops on wasm and
 * cpu, where they measured far faster (bench/data_bench.ts, CIFAR-10, batch 64, 2-core machine,
 * batches/s array vs tensor: wasm normalize 437-469 vs 144-169, crop(4)+flip+cutout(8)+normalize
 * 224-352 vs 15-19; cpu normalize 161 vs 61, crop+flip+cutout+normalize 139 vs 1.0, tf.reverse and
 * the gather being slow there).
 */
export function transformPath(requested?: TransformPath | "auto"): TransformPath {
  const fromOption = requested !== undefined && requested !== "auto";
  const choice = fromOption ? requested : process.env.LEPTON_TRANSFORMS || "auto";
  if (choice === "array" || choice === "tensor") return choice;
  if (choice !== "auto") {
    throw new Error(`${fromOption ? "batches({ transforms })" : "LEPTON_TRANSFORMS"} must be "tensor", "array" or "auto"; got "${choice}".`);
  }
  return TENSOR_TRANSFORM_BACKENDS.includes(tf.getBackend()) ? "tensor" : "array";
}

/** A batched transform on tensors. It must not dispose its input (the dataset's tf.tidy does). */
export type BatchTransform = (batch: Batch, ctx: TransformContext) => Batch;

/** A transform of a batch's input values in place: x holds shape[0] samples of shape.slice(1). */
export type ArrayTransform = (x: Float32Array, shape: readonly number[], ctx: TransformContext) => void;

/** A transform with a short description for summaries, and optionally an in-place array form. */
export interface NamedTransform {
  name: string;
  /** The tensor form that works on every backend (for built-ins: the array form on the batch's values). */
  apply: BatchTransform;
  /** In-place form on the batch's float32 values before they become a tensor (CPU and WebAssembly). */
  applyArray?: ArrayTransform;
  /** The same transform as tf ops on the whole batch tensor, with the same random draws (native and GPU backends). */
  applyTensor?: BatchTransform;
}

export interface AugmentOptions {
  /** Zero-pad by `padding` pixels on each side, then crop a random H x W window. */
  crop?: { padding: number };
  /** Mirror each image left-right with probability 0.5 (`true`) or the given probability. */
  flip?: boolean | { probability: number };
  /** Zero a random size x size square per image (centre uniform over the image, clipped at edges). */
  cutout?: { size: number };
}

function imageShape(shape: readonly number[], what: string): [number, number, number, number] {
  if (shape.length !== 4) {
    throw new Error(`${what} needs image batches of shape [batch, height, width, channels]; got [${shape.join(", ")}]. ` +
      `Give the dataset an inputShape of [height, width, channels].`);
  }
  return shape as [number, number, number, number];
}

/**
 * A transform with the same random draws (`draw`, made once per batch in JS from the batch's
 * generator) applied either to the batch's values in place (`onArray`) or with tf ops on the whole
 * batch tensor (`onTensor`). `apply` (used after a `map()` on the array path) copies the values out
 * and back; `applyTensor` is the tf-op form chosen on native and GPU backends.
 */
function twoFormTransform<P>(
  name: string,
  draw: (shape: readonly number[], rng: Rng) => P,
  onArray: (x: Float32Array, shape: readonly number[], params: P) => void,
  onTensor: (x: tf.Tensor, params: P) => tf.Tensor,
): NamedTransform {
  const applyArray: ArrayTransform = (x, shape, { rng }) => onArray(x, shape, draw(shape, rng));
  return {
    name,
    applyArray,
    apply: ({ x, y }, ctx) => {
      const values = Float32Array.from(x.dataSync() as ArrayLike<number>);
      applyArray(values, x.shape, ctx);
      return { x: tf.tensor(values, x.shape, "float32"), y };
    },
    applyTensor: ({ x, y }, { rng }) => ({ x: onTensor(x, draw(x.shape, rng)), y }),
  };
}

/** Which samples of a batch are mirrored (1) or left alone (0). */
export function drawFlips(batch: number, probability: number, rng: Rng): Uint8Array {
  const out = new Uint8Array(batch);
  for (let i = 0; i < batch; i++) out[i] = rng() < probability ? 1 : 0;
  return out;
}

/** Random horizontal flip: per sample, the exact mirror (column w -> W-1-w) or the image unchanged. */
export function randomFlip(probability = 0.5): NamedTransform {
  if (!(probability >= 0 && probability <= 1)) throw new Error(`flip probability must be in [0, 1]; got ${probability}.`);
  return twoFormTransform(
    `flip(p=${probability})`,
    (shape, rng) => drawFlips(imageShape(shape, "flip")[0], probability, rng),
    (x, shape, flips) => {
      const [b, h, w, c] = imageShape(shape, "flip");
      for (let i = 0; i < b; i++) {
        if (!flips[i]) continue;
        for (let r = 0; r < h; r++) {
          const row = (i * h + r) * w * c;
          for (let left = 0, right = w - 1; left < right; left++, right--) {
            for (let ch = 0; ch < c; ch++) {
              const a = row + left * c + ch;
              const z = row + right * c + ch;
              const t = x[a];
              x[a] = x[z];
              x[z] = t;
            }
          }
        }
      }
    },
    (x, flips) => {
      const [b] = imageShape(x.shape, "flip");
      // One mirror of the whole batch, then per sample the mirror or the original.
      const mask = tf.tensor4d(flips, [b, 1, 1, 1], "bool");
      return tf.where(mask, tf.reverse(x, 2), x);
    },
  );
}

/** Per-sample shifts (dy, dx) in [-padding, padding]: interleaved [dy0, dx0, dy1, dx1, ...]. */
export function drawCropOffsets(batch: number, padding: number, rng: Rng): Int32Array {
  const out = new Int32Array(2 * batch);
  for (let i = 0; i < batch; i++) {
    out[2 * i] = Math.floor(rng() * (2 * padding + 1)) - padding;
    out[2 * i + 1] = Math.floor(rng() * (2 * padding + 1)) - padding;
  }
  return out;
}

/** Random crop with zero padding: each image shifted by up to `padding` pixels each way, same shape. */
export function randomCrop(padding: number): NamedTransform {
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`crop padding must be a whole number >= 0; got ${padding}.`);
  return twoFormTransform(
    `crop(padding=${padding})`,
    (shape, rng) => drawCropOffsets(imageShape(shape, "crop")[0], padding, rng),
    (x, shape, offsets) => {
      const [b, h, w, c] = imageShape(shape, "crop");
      const per = h * w * c;
      const src = new Float32Array(per);
      for (let i = 0; i < b; i++) {
        // Output pixel (r, col) is input pixel (r + dy, col + dx), or 0 outside the image.
        const dy = offsets[2 * i];
        const dx = offsets[2 * i + 1];
        if (dy === 0 && dx === 0) continue;
        const base = i * per;
        src.set(x.subarray(base, base + per));
        for (let r = 0; r < h; r++) {
          const sr = r + dy;
          const out = base + r * w * c;
          if (sr < 0 || sr >= h) {
            x.fill(0, out, out + w * c);
            continue;
          }
          const c0 = Math.max(0, -dx); // first output column with a source pixel
          const c1 = Math.min(w, w - dx); // one past the last
          x.fill(0, out, out + c0 * c);
          x.set(src.subarray((sr * w + c0 + dx) * c, (sr * w + c1 + dx) * c), out + c0 * c);
          x.fill(0, out + c1 * c, out + w * c);
        }
      }
    },
    (x, offsets) => {
      const [b, h, w, c] = imageShape(x.shape, "crop");
      if (padding === 0) return tf.clone(x);
      // Zero-pad, then gather each output pixel's source pixel (p + dy + r, p + dx + col) of the
      // padded batch, seen as a list of pixels [N * Hp * Wp, C]: pure indexing, so every output
      // value is exactly an input value or padding. (tf.image.cropAndResize with "nearest" sampling
      // and gathers with batchDims were not exact on the WebAssembly backend of tfjs 4.22.)
      const hp = h + 2 * padding;
      const wp = w + 2 * padding;
      const idx = new Int32Array(b * h * w);
      for (let i = 0, k = 0; i < b; i++) {
        const top = padding + offsets[2 * i];
        const left = padding + offsets[2 * i + 1];
        for (let r = 0; r < h; r++) {
          const rowStart = (i * hp + top + r) * wp + left;
          for (let col = 0; col < w; col++) idx[k++] = rowStart + col;
        }
      }
      const padded = tf.pad(x as tf.Tensor4D, [[0, 0], [padding, padding], [padding, padding], [0, 0]]);
      return tf.gather(padded.reshape([b * hp * wp, c]), tf.tensor1d(idx, "int32"), 0).reshape([b, h, w, c]);
    },
  );
}

/** Per-sample cutout squares, clipped to the image: interleaved [y0, y1, x0, x1] (end exclusive). */
export function drawCutoutBoxes(batch: number, h: number, w: number, size: number, rng: Rng): Int32Array {
  const out = new Int32Array(4 * batch);
  for (let i = 0; i < batch; i++) {
    const cy = Math.floor(rng() * h);
    const cx = Math.floor(rng() * w);
    out[4 * i] = Math.max(0, cy - (size >> 1));
    out[4 * i + 1] = Math.min(h, cy - (size >> 1) + size);
    out[4 * i + 2] = Math.max(0, cx - (size >> 1));
    out[4 * i + 3] = Math.min(w, cx - (size >> 1) + size);
  }
  return out;
}

/** Cutout: zero one random size x size square per image (centre anywhere, clipped at the edges). */
export function cutout(size: number): NamedTransform {
  if (!Number.isInteger(size) || size <= 0) throw new Error(`cutout size must be a whole number > 0; got ${size}.`);
  return twoFormTransform(
    `cutout(size=${size})`,
    (shape, rng) => {
      const [b, h, w] = imageShape(shape, "cutout");
      return drawCutoutBoxes(b, h, w, size, rng);
    },
    (x, shape, boxes) => {
      const [b, h, w, c] = imageShape(shape, "cutout");
      for (let i = 0; i < b; i++) {
        const [y0, y1, x0, x1] = boxes.subarray(4 * i, 4 * i + 4);
        for (let r = y0; r < y1; r++) x.fill(0, ((i * h + r) * w + x0) * c, ((i * h + r) * w + x1) * c);
      }
    },
    (x, boxes) => {
      const [b, h, w] = imageShape(x.shape, "cutout");
      const column = (k: number) => tf.tensor4d(Int32Array.from({ length: b }, (_, i) => boxes[4 * i + k]), [b, 1, 1, 1], "int32");
      const rows = tf.range(0, h, 1, "int32").reshape([1, h, 1, 1]);
      const cols = tf.range(0, w, 1, "int32").reshape([1, 1, w, 1]);
      // inside[i, r, col, 0]: the pixel lies in sample i's square; where() writes an exact 0 there.
      const inside = tf.logicalAnd(
        tf.logicalAnd(tf.greaterEqual(rows, column(0)), tf.less(rows, column(1))),
        tf.logicalAnd(tf.greaterEqual(cols, column(2)), tf.less(cols, column(3))),
      );
      return tf.where(inside, tf.zerosLike(x), x);
    },
  );
}

/** The transforms named by an `augment()` options object, in the order crop, flip, cutout. */
export function augmentTransforms(options: AugmentOptions): NamedTransform[] {
  const out: NamedTransform[] = [];
  const known = new Set(["crop", "flip", "cutout"]);
  for (const k of Object.keys(options ?? {})) {
    if (!known.has(k)) throw new Error(`augment(): unknown option "${k}"; use crop, flip and/or cutout.`);
  }
  if (options.crop) out.push(randomCrop(options.crop.padding));
  if (options.flip) out.push(randomFlip(options.flip === true ? 0.5 : options.flip.probability));
  if (options.cutout) out.push(cutout(options.cutout.size));
  return out;
}

/** Per-channel (last axis) normalisation: (x - mean) / std. */
export function normalizeTransform(mean: readonly number[], std: readonly number[]): NamedTransform {
  if (mean.length !== std.length) throw new Error(`normalize(): mean has ${mean.length} values but std has ${std.length}.`);
  for (const s of std) if (!(s > 0)) throw new Error(`normalize(): every std must be > 0; got [${std.join(", ")}].`);
  const fmt = (a: readonly number[]) => `[${a.map((v) => v.toFixed(4)).join(", ")}]`;
  const channels = (shape: readonly number[]) => {
    const c = shape[shape.length - 1];
    if (c !== mean.length) {
      throw new Error(`normalize(): the inputs have ${c} channels (last axis) but ${mean.length} mean/std values were given.`);
    }
    return c;
  };
  const m = Float32Array.from(mean);
  const inv = Float32Array.from(std, (s) => 1 / s);
  const name = `normalize(mean=${fmt(mean)}, std=${fmt(std)})`;
  // Both forms compute in float32 step by step, (x - m) rounded to float32, then times 1/std, so
  // that the array and tensor forms give bit-identical values.
  return twoFormTransform(
    name,
    () => undefined,
    (x, shape) => {
      const c = channels(shape);
      for (let i = 0; i < x.length; i += c) for (let ch = 0; ch < c; ch++) x[i + ch] = Math.fround(x[i + ch] - m[ch]) * inv[ch];
    },
    (x) => {
      channels(x.shape);
      return tf.mul(tf.sub(x, tf.tensor1d(m, "float32")), tf.tensor1d(inv, "float32"));
    },
  );
}
