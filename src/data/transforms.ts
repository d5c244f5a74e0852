/**
 * Batch transforms: functions from one batch to another, applied when a dataset makes a batch.
 * Random ones draw from the batch's seeded generator, so a seeded `batches()` call gives the same
 * augmented batches every time.
 *
 * The built-in transforms (crop, flip, cutout, normalize) work on the whole batch at once, on the
 * batch's float32 values before they become a tensor (`applyArray`): one pass over memory, exact,
 * and far cheaper than the equivalent chain of tfjs ops on the CPU and WebAssembly backends (see
 * bench/data_bench.ts). Each also has a tensor form (`apply`) used when it follows a `map()`.
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

/** A batched transform on tensors. It must not dispose its input (the dataset's tf.tidy does). */
export type BatchTransform = (batch: Batch, ctx: TransformContext) => Batch;

/** A transform of a batch's input values in place: x holds shape[0] samples of shape.slice(1). */
export type ArrayTransform = (x: Float32Array, shape: readonly number[], ctx: TransformContext) => void;

/** A transform with a short description for summaries, and optionally an in-place array form. */
export interface NamedTransform {
  name: string;
  apply: BatchTransform;
  applyArray?: ArrayTransform;
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

/** A transform defined by its array form; the tensor form copies the values out and back. */
function arrayTransform(name: string, applyArray: ArrayTransform): NamedTransform {
  return {
    name,
    applyArray,
    apply: ({ x, y }, ctx) => {
      const values = Float32Array.from(x.dataSync() as ArrayLike<number>);
      applyArray(values, x.shape, ctx);
      return { x: tf.tensor(values, x.shape, "float32"), y };
    },
  };
}

/** Random horizontal flip: per sample, the exact mirror (column w -> W-1-w) or the image unchanged. */
export function randomFlip(probability = 0.5): NamedTransform {
  if (!(probability >= 0 && probability <= 1)) throw new Error(`flip probability must be in [0, 1]; got ${probability}.`);
  return arrayTransform(`flip(p=${probability})`, (x, shape, { rng }) => {
    const [b, h, w, c] = imageShape(shape, "flip");
    for (let i = 0; i < b; i++) {
      if (!(rng() < probability)) continue;
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
  });
}

/** Random crop with zero padding: each image shifted by up to `padding` pixels each way, same shape. */
export function randomCrop(padding: number): NamedTransform {
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`crop padding must be a whole number >= 0; got ${padding}.`);
  return arrayTransform(`crop(padding=${padding})`, (x, shape, { rng }) => {
    const [b, h, w, c] = imageShape(shape, "crop");
    const per = h * w * c;
    const src = new Float32Array(per);
    for (let i = 0; i < b; i++) {
      // Window origin in the padded image is (oy, ox) in [0, 2p]; in the original image, (dy, dx).
      const dy = Math.floor(rng() * (2 * padding + 1)) - padding;
      const dx = Math.floor(rng() * (2 * padding + 1)) - padding;
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
  });
}

/** Cutout: zero one random size x size square per image (centre anywhere, clipped at the edges). */
export function cutout(size: number): NamedTransform {
  if (!Number.isInteger(size) || size <= 0) throw new Error(`cutout size must be a whole number > 0; got ${size}.`);
  return arrayTransform(`cutout(size=${size})`, (x, shape, { rng }) => {
    const [b, h, w, c] = imageShape(shape, "cutout");
    for (let i = 0; i < b; i++) {
      const cy = Math.floor(rng() * h);
      const cx = Math.floor(rng() * w);
      const y0 = Math.max(0, cy - (size >> 1));
      const y1 = Math.min(h, cy - (size >> 1) + size);
      const x0 = Math.max(0, cx - (size >> 1));
      const x1 = Math.min(w, cx - (size >> 1) + size);
      for (let r = y0; r < y1; r++) x.fill(0, ((i * h + r) * w + x0) * c, ((i * h + r) * w + x1) * c);
    }
  });
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
  return arrayTransform(`normalize(mean=${fmt(mean)}, std=${fmt(std)})`, (x, shape) => {
    const c = channels(shape);
    for (let i = 0; i < x.length; i += c) for (let ch = 0; ch < c; ch++) x[i + ch] = (x[i + ch] - m[ch]) * inv[ch];
  });
}
