/**
 * A fast CIFAR-10 network in the spirit of airbench (Keller Jordan, 2024) and the DAWNBench ResNet-9,
 * sized for a CPU: a fixed whitening layer (2x2 patches), then three conv groups
 * (conv 3x3 → max pool 2 → batch norm → ReLU → conv 3x3 → batch norm → ReLU), a global max pool and
 * bias-free dense logits scaled down so that a fresh network starts near ln(classes).
 *
 *   const net = lepton.models.airbench({ widths: [32, 64, 128], seed: 0 });
 *   lepton.models.whiten(net, cifar.train.x.slice(0, 5000));   // the first layer from the data
 *
 * The whitening layer is not trained: `whiten` sets its 2x2x3 → 2·12 filters from the eigenvectors of
 * the covariance of the training images' 2x2 patches (W = V / sqrt(λ + ε), and −W beside it, so the
 * ReLU after it keeps both signs). Every output channel then has unit variance over the data and the
 * channels are uncorrelated, which is what lets airbench train at high learning rates from the first
 * step. Until `whiten` runs the layer holds random fixed filters, and the model still trains (worse).
 */
import * as tf from "@tensorflow/tfjs";
import { positiveInt, seededLayers } from "./util";

export interface AirbenchOptions {
  /** Channels of the three conv groups (default [32, 64, 128]; airbench's 94% network uses [64, 256, 256]). */
  widths?: [number, number, number];
  /** Input shape (default [32, 32, 3]). */
  inputShape?: [number, number, number];
  classes?: number;
  /** Scale of the logits (default 1/9, airbench's). */
  logitScale?: number;
  /** Batch-norm momentum of the running statistics (default 0.9; tfjs's convention: the weight of the old value). */
  bnMomentum?: number;
  /** Seed for the initial weights (same seed, same network); random when omitted. */
  seed?: number;
}

/** The name of the whitening layer (the first layer of an airbench network). */
export const WHITEN_LAYER = "whiten";

const FN = "airbench()";

/** Build the network (see the file's comment); call `whiten(model, images)` before training. */
export function airbench(options: AirbenchOptions = {}): tf.LayersModel {
  const widths = options.widths ?? [32, 64, 128];
  if (!Array.isArray(widths) || widths.length !== 3) throw new Error("airbench(): widths must be three channel counts, e.g. [32, 64, 128].");
  widths.forEach((w) => positiveInt(w, "each width", FN));
  const inputShape = options.inputShape ?? [32, 32, 3];
  // The 2x2 whitening conv takes one pixel, the three pools halve: 9x9 is the smallest input with a 1x1 map left.
  if (!Array.isArray(inputShape) || inputShape.length !== 3 || !inputShape.every((d) => Number.isInteger(d) && d > 0) || inputShape[0] < 9 || inputShape[1] < 9) {
    throw new Error(`airbench(): inputShape must be [height, width, channels] with height and width at least 9 (the whitening conv and three 2x2 pools shrink the image); got ${JSON.stringify(inputShape)}.`);
  }
  const classes = options.classes ?? 10;
  positiveInt(classes, "classes", FN);
  const scale = options.logitScale ?? 1 / 9;
  if (!(scale > 0 && Number.isFinite(scale))) throw new Error(`airbench(): logitScale must be a positive number; got ${scale}.`);
  const momentum = options.bnMomentum ?? 0.9;
  if (!(momentum >= 0 && momentum < 1)) throw new Error(`airbench(): bnMomentum must be in [0, 1); got ${momentum}.`);
  const next = seededLayers(options.seed, FN);
  const init = () => ({ kernelInitializer: next().kernelInitializer });

  const patchChannels = 4 * inputShape[2];
  const input = tf.input({ shape: inputShape, name: "image" });
  let x = tf.layers.conv2d({ filters: 2 * patchChannels, kernelSize: 2, padding: "valid", useBias: false, trainable: false, name: WHITEN_LAYER, ...init() }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: "whiten_relu" }).apply(x) as tf.SymbolicTensor;
  let n = 0;
  const convBnRelu = (y: tf.SymbolicTensor, filters: number, pool: boolean): tf.SymbolicTensor => {
    n++;
    y = tf.layers.conv2d({ filters, kernelSize: 3, padding: "same", useBias: false, name: `conv${n}`, ...init() }).apply(y) as tf.SymbolicTensor;
    if (pool) y = tf.layers.maxPooling2d({ poolSize: 2, name: `pool${n}` }).apply(y) as tf.SymbolicTensor;
    y = tf.layers.batchNormalization({ momentum, name: `bn${n}` }).apply(y) as tf.SymbolicTensor;
    return tf.layers.reLU({ name: `relu${n}` }).apply(y) as tf.SymbolicTensor;
  };
  for (const w of widths) x = convBnRelu(convBnRelu(x, w, true), w, false);
  const [h, w] = x.shape.slice(1, 3) as [number, number];
  x = tf.layers.maxPooling2d({ poolSize: [h, w], name: "gpool" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: classes, useBias: false, name: "dense", ...init() }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.rescaling({ scale, name: "logits" }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: `airbench_${widths.join("_")}` });
}

/**
 * Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations (exact to float64 rounding for
 * the 12x12 patch covariances here). Returns the eigenvalues and the eigenvectors as the columns of
 * `vectors` (row-major n×n), in decreasing order of eigenvalue.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  if (matrix.length !== n * n) throw new Error(`symmetricEigen: expected ${n}x${n} = ${n * n} values; got ${matrix.length}.`);
  const a = Float64Array.from(matrix);
  if (!a.every(Number.isFinite)) throw new Error("symmetricEigen: the matrix has NaN or infinite entries.");
  let norm2 = 0;
  for (let i = 0; i < n * n; i++) norm2 += a[i] * a[i];
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off <= 1e-30 * norm2) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  const values = Float64Array.from(order, (i) => a[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values, vectors };
}

export interface WhitenOptions {
  /** Added to each eigenvalue before the square root (default 5e-4, airbench's). */
  eps?: number;
}

/**
 * Set the whitening layer of an airbench network from training images [n, h, w, c] (a few thousand
 * are plenty; use the same preprocessing as in training). Returns the eigenvalues of the patch
 * covariance, largest first. The model's other weights are untouched.
 */
export function whiten(model: tf.LayersModel, images: tf.Tensor4D, options: WhitenOptions = {}): Float64Array {
  const layer = model.layers.find((l) => l.name === WHITEN_LAYER);
  if (!layer) throw new Error(`whiten(): the model has no layer named "${WHITEN_LAYER}"; build it with lepton.models.airbench().`);
  if (!(images instanceof tf.Tensor) || images.rank !== 4) throw new Error("whiten(): pass training images as one tensor [n, height, width, channels].");
  const eps = options.eps ?? 5e-4;
  if (!(eps > 0)) throw new Error(`whiten(): eps must be a positive number; got ${eps}.`);
  const [kh, kw, cin, filters] = (layer.getWeights()[0] as tf.Tensor).shape;
  const d = kh * kw * cin;
  if (images.shape[3] !== cin) throw new Error(`whiten(): the images have ${images.shape[3]} channels; the network expects ${cin}.`);
  if (filters !== 2 * d) throw new Error(`whiten(): the whitening layer has ${filters} filters; expected ${2 * d}.`);
  const [n, h, w] = images.shape;
  const patchCount = n * (h - kh + 1) * (w - kw + 1);
  if (h < kh || w < kw || patchCount <= d) {
    throw new Error(`whiten(): ${n} images of ${h}x${w} give ${Math.max(patchCount, 0)} ${kh}x${kw} patches; the covariance of ${d} values needs more than ${d}. Pass more (or larger) training images, e.g. 5,000.`);
  }
  // The covariance of the patches [m, d] (in the conv kernel's row, column, channel order), summed
  // chunk by chunk in float64 so that a few thousand images never sit in memory as patches at once.
  const sumXX = new Float64Array(d * d);
  const sumX = new Float64Array(d);
  const chunk = 256;
  for (let start = 0; start < n; start += chunk) {
    const [xx, sx] = tf.tidy(() => {
      const p = patches(images.slice([start, 0, 0, 0], [Math.min(chunk, n - start), h, w, cin]).toFloat(), kh, kw);
      return [p.transpose().matMul(p), p.sum(0)];
    });
    const xxv = xx.dataSync(), sxv = sx.dataSync();
    tf.dispose([xx, sx]);
    for (let i = 0; i < d * d; i++) sumXX[i] += xxv[i];
    for (let i = 0; i < d; i++) sumX[i] += sxv[i];
  }
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] = (sumXX[i * d + j] - (sumX[i] * sumX[j]) / patchCount) / (patchCount - 1);
  if (!cov.every(Number.isFinite)) throw new Error("whiten(): the images contain NaN or infinite values; clean them (or check the normalisation) first.");
  const { values, vectors } = symmetricEigen(cov, d);
  // Filter j = eigenvector j / sqrt(λj + eps); filter d + j = its negative.
  const kernel = new Float32Array(d * filters);
  for (let k = 0; k < d; k++) {
    for (let j = 0; j < d; j++) {
      const w = vectors[k * d + j] / Math.sqrt(Math.max(values[j], 0) + eps);
      kernel[k * filters + j] = w;
      kernel[k * filters + d + j] = -w;
    }
  }
  const t = tf.tensor4d(kernel, [kh, kw, cin, filters]);
  layer.setWeights([t]);
  t.dispose();
  return values;
}

/** All kh×kw patches (stride 1, valid) of images [n, h, w, c] as rows [n·(h−kh+1)·(w−kw+1), kh·kw·c]. */
function patches(x: tf.Tensor4D, kh: number, kw: number): tf.Tensor2D {
  const [n, h, w, c] = x.shape;
  const parts: tf.Tensor4D[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) parts.push(x.slice([0, i, j, 0], [n, h - kh + 1, w - kw + 1, c]));
  return tf.concat(parts, 3).reshape([-1, kh * kw * c]);
}
