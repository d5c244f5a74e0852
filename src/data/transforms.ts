/**
 * Batch transforms: functions from one batch of tensors to another, run inside tf.tidy when a
 * dataset makes a batch. Random ones draw from the batch's seeded generator, so a seeded
 * `batches()` call gives the same augmented batches every time.
 *
 * Inputs are float32 NHWC [b, H, W, C] images for the image transforms.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "./types";
import type { Rng } from "./rng";

/** What a transform gets besides the batch. */
export interface TransformContext {
  /** Uniform [0,1) numbers, seeded per `batches()` call. */
  rng: Rng;
}

/** A batched transform. It must not dispose its input (the dataset's tf.tidy does). */
export type BatchTransform = (batch: Batch, ctx: TransformContext) => Batch;

/** A transform with a short description for summaries. */
export interface NamedTransform {
  name: string;
  apply: BatchTransform;
}

export interface AugmentOptions {
  /** Zero-pad by `padding` pixels on each side, then crop a random H x W window. */
  crop?: { padding: number };
  /** Mirror each image left-right with probability 0.5 (or `true`). */
  flip?: boolean | { probability: number };
  /** Zero a random size x size square per image (centre uniform over the image, clipped at edges). */
  cutout?: { size: number };
}

function requireImages(x: tf.Tensor, what: string): [number, number, number, number] {
  if (x.rank !== 4) {
    throw new Error(`${what} needs image batches of shape [batch, height, width, channels]; got [${x.shape.join(", ")}]. ` +
      `Give the dataset an inputShape of [height, width, channels].`);
  }
  return x.shape as [number, number, number, number];
}

/** Random horizontal flip: per sample, the exact mirror (column w -> W-1-w) or the image unchanged. */
export function randomFlip(probability = 0.5): NamedTransform {
  return {
    name: `flip(p=${probability})`,
    apply: ({ x, y }, { rng }) => {
      const [b] = requireImages(x, "flip");
      const take = new Float32Array(b);
      for (let i = 0; i < b; i++) take[i] = rng() < probability ? 1 : 0;
      const m = tf.tensor4d(take, [b, 1, 1, 1]);
      const flipped = tf.reverse(x, 2);
      // m is exactly 0 or 1, so this picks one of the two values with no rounding.
      return { x: tf.add(tf.mul(x, tf.sub(1, m)), tf.mul(flipped, m)), y };
    },
  };
}

/** Random crop with zero padding: output keeps the input's shape. */
export function randomCrop(padding: number): NamedTransform {
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`crop padding must be a whole number >= 0; got ${padding}.`);
  return {
    name: `crop(padding=${padding})`,
    apply: ({ x, y }, { rng }) => {
      const [b, h, w] = requireImages(x, "crop");
      if (padding === 0) return { x: tf.clone(x), y };
      const padded = tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]]);
      const hp = h + 2 * padding;
      const wp = w + 2 * padding;
      const boxes = new Float32Array(b * 4);
      const boxInd = new Int32Array(b);
      for (let i = 0; i < b; i++) {
        const oy = Math.floor(rng() * (2 * padding + 1));
        const ox = Math.floor(rng() * (2 * padding + 1));
        boxes[i * 4] = oy / (hp - 1);
        boxes[i * 4 + 1] = ox / (wp - 1);
        boxes[i * 4 + 2] = (oy + h - 1) / (hp - 1);
        boxes[i * 4 + 3] = (ox + w - 1) / (wp - 1);
        boxInd[i] = i;
      }
      // Nearest-neighbour sampling at whole-pixel positions: an exact window of the padded image.
      const out = tf.image.cropAndResize(
        padded as tf.Tensor4D, tf.tensor2d(boxes, [b, 4]), tf.tensor1d(boxInd, "int32"), [h, w], "nearest");
      return { x: out, y };
    },
  };
}

/** Cutout: zero one random size x size square per image. */
export function cutout(size: number): NamedTransform {
  if (!Number.isInteger(size) || size <= 0) throw new Error(`cutout size must be a whole number > 0; got ${size}.`);
  return {
    name: `cutout(size=${size})`,
    apply: ({ x, y }, { rng }) => {
      const [b, h, w] = requireImages(x, "cutout");
      const mask = new Float32Array(b * h * w).fill(1);
      for (let i = 0; i < b; i++) {
        const cy = Math.floor(rng() * h);
        const cx = Math.floor(rng() * w);
        const y0 = Math.max(0, cy - (size >> 1));
        const y1 = Math.min(h, cy - (size >> 1) + size);
        const x0 = Math.max(0, cx - (size >> 1));
        const x1 = Math.min(w, cx - (size >> 1) + size);
        for (let r = y0; r < y1; r++) mask.fill(0, i * h * w + r * w + x0, i * h * w + r * w + x1);
      }
      return { x: tf.mul(x, tf.tensor4d(mask, [b, h, w, 1])), y };
    },
  };
}

/** The transforms named by an `augment()` options object, in the order crop, flip, cutout. */
export function augmentTransforms(options: AugmentOptions): NamedTransform[] {
  const out: NamedTransform[] = [];
  const known = new Set(["crop", "flip", "cutout"]);
  for (const k of Object.keys(options)) {
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
  return {
    name: `normalize(mean=${fmt(mean)}, std=${fmt(std)})`,
    apply: ({ x, y }) => {
      const c = x.shape[x.rank - 1];
      if (c !== mean.length) {
        throw new Error(`normalize(): the inputs have ${c} channels (last axis) but ${mean.length} mean/std values were given.`);
      }
      return { x: tf.div(tf.sub(x, tf.tensor1d(mean as number[])), tf.tensor1d(std as number[])), y };
    },
  };
}
