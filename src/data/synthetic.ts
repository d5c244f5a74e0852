/**
 * Seeded synthetic teaching data: the same seed gives the same points on every machine.
 * Classification sets have float32 inputs [2] (or [features]) and balanced classes (sample i has
 * class i % classes); `linear` is a regression set with targets [1].
 */
import { fromTensors, type InMemoryDataset } from "./tensor_dataset";
import { gaussian, makeRng } from "./rng";

function checkCount(what: string, n: number, min = 1): void {
  if (!Number.isInteger(n) || n < min) throw new Error(`${what} must be a whole number >= ${min}; got ${n}.`);
}

export interface LinearOptions {
  /** Samples (default 200). */
  n?: number;
  /** Input features (default 1). */
  features?: number;
  /** Standard deviation of the Gaussian noise added to y (default 0.1). */
  noise?: number;
  /** True weights (default: drawn from the seed, uniform in [-2, 2]) and bias (default 0.5). */
  weights?: readonly number[];
  bias?: number;
  seed?: number;
}

/** Noisy linear regression: x uniform in [-1, 1]^features, y = x . weights + bias + noise * N(0, 1). */
export function linear(options: LinearOptions = {}): InMemoryDataset & { weights: number[]; bias: number } {
  const { n = 200, noise = 0.1, seed = 0 } = options;
  const d = options.weights?.length ?? options.features ?? 1;
  checkCount("linear(): n", n);
  checkCount("linear(): features", d);
  const rng = makeRng(seed);
  const weights = options.weights ? [...options.weights] : Array.from({ length: d }, () => rng() * 4 - 2);
  const bias = options.bias ?? 0.5;
  const x = new Float32Array(n * d);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = bias;
    for (let j = 0; j < d; j++) {
      const v = rng() * 2 - 1;
      x[i * d + j] = v;
      s += v * weights[j];
    }
    y[i] = s + noise * gaussian(rng);
  }
  return Object.assign(fromTensors(x, y, { inputShape: [d], name: "linear" }), { weights, bias });
}

export interface BlobsOptions {
  n?: number;
  classes?: number;
  features?: number;
  /** Standard deviation of each blob (default 0.6). */
  spread?: number;
  /** Blob centres, one per class (default: drawn from the seed, uniform in [-4, 4]^features). */
  centers?: readonly (readonly number[])[];
  seed?: number;
}

/** Gaussian blobs, one per class. */
export function blobs(options: BlobsOptions = {}): InMemoryDataset & { centers: number[][] } {
  const { n = 300, spread = 0.6, seed = 0 } = options;
  const k = options.centers?.length ?? options.classes ?? 3;
  const d = options.centers?.[0]?.length ?? options.features ?? 2;
  checkCount("blobs(): n", n);
  checkCount("blobs(): classes", k);
  const rng = makeRng(seed);
  const centers = options.centers
    ? options.centers.map((c) => [...c])
    : Array.from({ length: k }, () => Array.from({ length: d }, () => rng() * 8 - 4));
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    y[i] = c;
    for (let j = 0; j < d; j++) x[i * d + j] = centers[c][j] + spread * gaussian(rng);
  }
  const classes = Array.from({ length: k }, (_, i) => `blob ${i}`);
  return Object.assign(fromTensors(x, y, { inputShape: [d], classes, name: "blobs" }), { centers });
}

export interface NoisyOptions {
  n?: number;
  /** Standard deviation of Gaussian noise added to each coordinate. */
  noise?: number;
  seed?: number;
}

/** Two interleaving half circles (class 0: upper moon, class 1: lower moon shifted right). */
export function moons(options: NoisyOptions = {}): InMemoryDataset {
  const { n = 200, noise = 0.1, seed = 0 } = options;
  checkCount("moons(): n", n, 2);
  const rng = makeRng(seed);
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    const t = Math.PI * rng();
    const px = c === 0 ? Math.cos(t) : 1 - Math.cos(t);
    const py = c === 0 ? Math.sin(t) : 0.5 - Math.sin(t);
    x[2 * i] = px + noise * gaussian(rng);
    x[2 * i + 1] = py + noise * gaussian(rng);
    y[i] = c;
  }
  return fromTensors(x, y, { inputShape: [2], classes: ["upper moon", "lower moon"], name: "moons" });
}

export interface SpiralsOptions extends NoisyOptions {
  classes?: number;
  /** Turns of each arm (default 1). */
  turns?: number;
}

/** Interleaved spiral arms, one per class, radius growing from 0 to 1. */
export function spirals(options: SpiralsOptions = {}): InMemoryDataset {
  const { n = 300, noise = 0.05, seed = 0, turns = 1 } = options;
  const k = options.classes ?? 3;
  checkCount("spirals(): n", n);
  checkCount("spirals(): classes", k);
  const rng = makeRng(seed);
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    const r = rng();
    const angle = (2 * Math.PI * c) / k + 2 * Math.PI * turns * r;
    x[2 * i] = r * Math.cos(angle) + noise * gaussian(rng);
    x[2 * i + 1] = r * Math.sin(angle) + noise * gaussian(rng);
    y[i] = c;
  }
  const classes = Array.from({ length: k }, (_, i) => `arm ${i}`);
  return fromTensors(x, y, { inputShape: [2], classes, name: "spirals" });
}

/** XOR: points in the four quadrants of [-1, 1]^2; class 1 where x and y have opposite signs. */
export function xor(options: NoisyOptions = {}): InMemoryDataset {
  const { n = 200, noise = 0.1, seed = 0 } = options;
  checkCount("xor(): n", n, 2);
  const rng = makeRng(seed);
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    // Pick a quadrant of the wanted class, a point in it away from the axes, then add noise.
    const sx = rng() < 0.5 ? -1 : 1;
    const sy = c === 1 ? -sx : sx;
    x[2 * i] = sx * (0.1 + 0.9 * rng()) + noise * gaussian(rng);
    x[2 * i + 1] = sy * (0.1 + 0.9 * rng()) + noise * gaussian(rng);
    y[i] = c;
  }
  return fromTensors(x, y, { inputShape: [2], classes: ["same sign", "opposite sign"], name: "xor" });
}
