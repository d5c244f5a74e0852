/**
 * The fast CIFAR-10 recipe's parts (issue 15, item 4): the airbench network, its whitening layer (and
 * the eigen-solver under it), the weight average and flip test-time augmentation, each checked against
 * an independent computation on the pure-JS backend.
 */
import { describe, it, expect, beforeAll } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { airbench, whiten, symmetricEigen, WHITEN_LAYER } from "../src/models";
import { train, evaluate, callbacks } from "../src/training";
import { cifar10 } from "../src/data";
import { fromTensors } from "../src/data/tensor_dataset";

beforeAll(async () => {
  await ready();
  await tf.setBackend("cpu");
});

/** The first n images of the bundled CIFAR-10 sample, scaled to [0, 1], and their labels. */
async function sampleImages(n: number): Promise<{ x: tf.Tensor4D; y: tf.Tensor1D }> {
  const data = await cifar10({ subset: "sample", progress: false } as any);
  for await (const b of data.train.take(n).batches({ batchSize: n, shuffle: false })) return { x: b.x as tf.Tensor4D, y: b.y as tf.Tensor1D };
  throw new Error("no batch");
}

/** A seeded random number in [-1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 31) - 1;
}

describe("symmetricEigen", () => {
  it("gives orthonormal eigenvectors with A v = λ v, largest first, on a random 12x12 matrix", () => {
    const n = 12;
    const r = rng(5);
    const b = Array.from({ length: n * n }, r);
    // A = B Bᵀ + diag: symmetric positive definite with spread eigenvalues.
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = i === j ? 0.1 * i : 0;
      for (let k = 0; k < n; k++) s += b[i * n + k] * b[j * n + k];
      a[i * n + j] = s;
    }
    const { values, vectors } = symmetricEigen(a, n);
    for (let j = 1; j < n; j++) expect(values[j]).toBeLessThanOrEqual(values[j - 1]);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += a[i * n + i];
    expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(trace, 9);
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let k = 0; k < n; k++) av += a[i * n + k] * vectors[k * n + j];
        expect(av).toBeCloseTo(values[j] * vectors[i * n + j], 9);
      }
      for (let m = 0; m < n; m++) {
        let dot = 0;
        for (let k = 0; k < n; k++) dot += vectors[k * n + j] * vectors[k * n + m];
        expect(dot).toBeCloseTo(j === m ? 1 : 0, 9);
      }
    }
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow(/2x2 = 4 values/);
  });
});

describe("airbench network", () => {
  it("has the parameters counted by hand and outputs logits for 32x32x3 images", () => {
    const w = [8, 12, 16];
    const net = airbench({ widths: w as [number, number, number], seed: 1 });
    // whiten 2x2x3x24 (fixed); per group conv 3x3 in→w, BN(w) x4 params, conv 3x3 w→w, BN; dense w3→10.
    let cin = 24;
    let expected = 2 * 2 * 3 * 24;
    for (const c of w) {
      expected += 9 * cin * c + 4 * c + 9 * c * c + 4 * c;
      cin = c;
    }
    expected += w[2] * 10;
    expect(net.countParams()).toBe(expected);
    const whitenLayer = net.getLayer(WHITEN_LAYER);
    expect(whitenLayer.trainable).toBe(false);
    const out = tf.tidy(() => net.predict(tf.zeros([2, 32, 32, 3])) as tf.Tensor);
    expect(out.shape).toEqual([2, 10]);
    out.dispose();
    net.dispose();
    expect(() => airbench({ widths: [8, 8] as any })).toThrow(/three channel counts/);
    expect(() => airbench({ widths: [8, 0, 8] })).toThrow(/each width must be a whole number/);
  });

  it("whiten() makes the 2x2 patches' channels uncorrelated with unit variance over the data", async () => {
    const { x, y } = await sampleImages(400);
    const net = airbench({ widths: [8, 8, 8], seed: 2 });
    const values = whiten(net, x);
    expect(values.length).toBe(12);
    const [kernel] = net.getLayer(WHITEN_LAYER).getWeights();
    // Independently: convolve the images with the kernel and measure the output covariance.
    const cov = tf.tidy(() => {
      const out = tf.conv2d(x, kernel as tf.Tensor4D, 1, "valid").reshape([-1, 24]);
      const c = out.sub(out.mean(0, true));
      return c.transpose().matMul(c).div(out.shape[0] - 1);
    });
    const m = cov.arraySync() as number[][];
    cov.dispose();
    for (let i = 0; i < 12; i++) {
      // Unit variance, shrunk by λ/(λ+ε) where the eigenvalue is tiny.
      expect(m[i][i]).toBeCloseTo(values[i] / (values[i] + 5e-4), 2);
      for (let j = 0; j < 12; j++) if (j !== i) expect(Math.abs(m[i][j])).toBeLessThan(2e-3);
      // The second half is the negative of the first.
      expect(m[i][i + 12]).toBeCloseTo(-m[i][i], 4);
    }
    expect(() => whiten(net, x.slice([0, 0, 0, 0], [2, 32, 32, 1]) as tf.Tensor4D)).toThrow(/1 channels; the network expects 3/);
    expect(() => whiten(net, x.slice([0, 0, 0, 0], [1, 2, 2, 3]) as tf.Tensor4D)).toThrow(/give 1 2x2 patches; the covariance of 12 values needs more than 12/);
    const bad = tf.tidy(() => x.slice([0, 0, 0, 0], [4, 32, 32, 3]).mul(tf.scalar(NaN)) as tf.Tensor4D);
    const kernelBefore = net.getLayer(WHITEN_LAYER).getWeights()[0].dataSync().slice();
    expect(() => whiten(net, bad)).toThrow(/NaN or infinite/);
    expect(Array.from(net.getLayer(WHITEN_LAYER).getWeights()[0].dataSync())).toEqual(Array.from(kernelBefore));
    bad.dispose();
    expect(() => airbench({ inputShape: [8, 8, 3] })).toThrow(/height and width at least 9/);
    tf.dispose([x, y]);
    net.dispose();
  });

  it("trains on real images with the whitening layer left as set", async () => {
    // On the engine users train on (the pure-JS backend takes minutes for this), 16x16 crops.
    await tf.setBackend("wasm");
    const { x: full, y } = await sampleImages(128);
    const x = full.slice([0, 8, 8, 0], [128, 16, 16, 3]) as tf.Tensor4D;
    const net = airbench({ widths: [4, 8, 8], inputShape: [16, 16, 3], seed: 3 });
    whiten(net, x);
    const before = net.getLayer(WHITEN_LAYER).getWeights()[0].dataSync().slice();
    const ds = fromTensors(x, y, { name: "sample" } as any);
    const h = await train(net, ds, { epochs: 4, batchSize: 32, optimizer: "adam", lr: 0.01, seed: 1, verbose: 0 });
    const losses = h.history.loss as number[];
    expect(losses[3]).toBeLessThan(losses[0]);
    expect(Array.from(net.getLayer(WHITEN_LAYER).getWeights()[0].dataSync())).toEqual(Array.from(before));
    tf.dispose([full, x, y]);
    net.dispose();
    await tf.setBackend("cpu");
  }, 300_000);
});

describe("callbacks.weightAverage", () => {
  it("leaves the model holding the moving average of the weights each step started from", async () => {
    const baseline = tf.memory().numTensors;
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2], kernelInitializer: "zeros" })] });
    const x = tf.tensor2d([[1, 2], [3, -1], [0.5, 0.5], [-2, 1]]);
    const y = tf.tensor2d([[1], [2], [0], [-1]]);
    const seen: number[][] = [];
    let last: number[] = [];
    const read = (ctx: { model: tf.LayersModel }) => ctx.model.getWeights().flatMap((w) => Array.from(w.dataSync()));
    const recorder = callbacks.lambda({ order: -60, onBatchBegin: (_b, ctx) => void seen.push(read(ctx)), onTrainEnd: (ctx) => void (last = read(ctx)) });
    const decay = 0.9;
    const ema = callbacks.weightAverage({ decay });
    const ds = fromTensors(x, y, { name: "toy" } as any);
    await train(model, ds, { epochs: 6, batchSize: 4, lr: 0.05, shuffle: false, verbose: 0, loss: "meanSquaredError", callbacks: [recorder, ema] });
    // Independent: updates before steps 2..6 from the weights then, and at the end from the last step's result.
    const inputs = [...seen.slice(1), last];
    let avg = seen[0].slice();
    inputs.forEach((weights, t) => {
      const d = Math.min(decay, (1 + t) / (10 + t));
      avg = avg.map((a, i) => d * a + (1 - d) * weights[i]);
    });
    const final = model.getWeights().flatMap((w) => Array.from(w.dataSync()));
    final.forEach((v, i) => expect(v).toBeCloseTo(avg[i], 5));
    expect(final).not.toEqual(last);
    tf.dispose([x, y]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
    expect(() => callbacks.weightAverage({ decay: 1 })).toThrow(/decay must be between 0 and 1/);
  });

  it("wins over earlyStopping's restoreBest: the model ends holding the average", async () => {
    const x = tf.tensor2d([[1, 2], [3, -1], [0.5, 0.5], [-2, 1]]);
    const y = tf.tensor2d([[1], [2], [0], [-1]]);
    const ds = fromTensors(x, y, { name: "toy" } as any);
    const run = async (withEarlyStopping: boolean) => {
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2], kernelInitializer: "zeros" })] });
      let live: number[] = [];
      const cbs = [callbacks.weightAverage({ decay: 0.5 }), callbacks.lambda({ onTrainEnd: (ctx) => void (live = ctx.model.getWeights().flatMap((w) => Array.from(w.dataSync()))) })];
      if (withEarlyStopping) cbs.push(callbacks.earlyStopping({ monitor: "loss", patience: 10, restoreBest: true }));
      await train(model, ds, { epochs: 5, batchSize: 4, lr: 0.05, shuffle: false, verbose: 0, loss: "meanSquaredError", callbacks: cbs });
      const final = model.getWeights().flatMap((w) => Array.from(w.dataSync()));
      model.dispose();
      return { final, live };
    };
    const alone = await run(false);
    const both = await run(true);
    expect(both.final).toEqual(alone.final);
    expect(both.final).not.toEqual(both.live);
    tf.dispose([x, y]);
  });
});

describe("evaluate({ tta: \"flip\" })", () => {
  it("predicts from the mean of the outputs on each image and its mirror", async () => {
    // A model that is not mirror-symmetric: a dense layer over the flattened image.
    const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.randomNormal({ seed: 4 }) })] });
    const r = rng(9);
    const x = tf.tensor4d(Array.from({ length: 40 * 16 }, r), [40, 4, 4, 1]);
    const y = tf.tensor1d(Array.from({ length: 40 }, (_, i) => i % 3), "int32");
    const ds = fromTensors(x, y, { name: "toy", classes: ["a", "b", "c"] } as any);
    const plain = await evaluate(model, ds, { topLosses: 0 });
    const flipped = await evaluate(model, ds, { topLosses: 0, tta: "flip" });
    // Independently: mirror each 4x4 image by index arithmetic and average the logits.
    const xv = x.arraySync() as number[][][][];
    const mirror = tf.tensor4d(xv.map((img) => img.map((row) => [...row].reverse())));
    const want = tf.tidy(() => (model.predict(x) as tf.Tensor).add(model.predict(mirror) as tf.Tensor).argMax(-1).dataSync());
    expect(Array.from(flipped.predictions)).toEqual(Array.from(want));
    expect(Array.from(flipped.predictions)).not.toEqual(Array.from(plain.predictions));
    const flat = fromTensors(tf.tensor2d([[1, 2]]), tf.tensor1d([0], "int32"), { name: "flat" } as any);
    const dense = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [2] })] });
    await expect(evaluate(dense, flat, { tta: "flip" })).rejects.toThrow(/mirrors images/);
    await expect(evaluate(model, ds, { tta: "rotate" as any })).rejects.toThrow(/tta must be one of "none", "flip", "flip-translate"/);
    // Regression on images: the loss is that of the mean of the outputs on each image and its mirror.
    const regressor = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.randomNormal({ seed: 5 }) })] });
    const targets = tf.tensor2d(Array.from({ length: 40 }, r), [40, 1]);
    const rds = fromTensors(x, targets, { name: "values" } as any);
    const rflip = await evaluate(regressor, rds, { tta: "flip" });
    const wantMse = tf.tidy(() => (regressor.predict(x) as tf.Tensor).add(regressor.predict(mirror) as tf.Tensor).div(2).sub(targets).square().mean().dataSync()[0]);
    expect(rflip.mse).toBeCloseTo(wantMse, 5);
    expect(Math.abs((await evaluate(regressor, rds)).mse! - wantMse)).toBeGreaterThan(1e-4);
    tf.dispose(targets);
    regressor.dispose();
    tf.dispose([x, y, mirror]);
    model.dispose();
    dense.dispose();
  });
});

describe("evaluate({ tta: \"flip-translate\" })", () => {
  it("weights the flip average of the image 1/2 and of its two diagonal one-pixel shifts (reflected edges) 1/4 each", async () => {
    const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [5, 4, 2] }), tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.randomNormal({ seed: 7 }) })] });
    const r = rng(11);
    const n = 30, h = 5, w = 4, c = 2;
    const x = tf.tensor4d(Array.from({ length: n * h * w * c }, r), [n, h, w, c]);
    const y = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 3), "int32");
    const ds = fromTensors(x, y, { name: "toy", classes: ["a", "b", "c"] } as any);
    const got = await evaluate(model, ds, { topLosses: 0, tta: "flip-translate" });
    const flip = await evaluate(model, ds, { topLosses: 0, tta: "flip" });
    // Independently, by index arithmetic: reflect(i) maps -1 to 1 and h to h-2 (numpy's "reflect").
    const xv = x.arraySync() as number[][][][];
    const refl = (i: number, size: number) => (i < 0 ? -i : i >= size ? 2 * size - 2 - i : i);
    const shift = (d: number) => tf.tensor4d(xv.map((img) => Array.from({ length: h }, (_, i) => Array.from({ length: w }, (_, j) => img[refl(i + d, h)][refl(j + d, w)]))));
    const mirror = (t: tf.Tensor4D) => tf.tensor4d((t.arraySync() as number[][][][]).map((img) => img.map((row) => [...row].reverse())));
    const views = [x, shift(-1), shift(1)];
    const logits = tf.tidy(() => {
      const avg = views.map((v) => (model.predict(v) as tf.Tensor).add(model.predict(mirror(v)) as tf.Tensor).div(2));
      return avg[0].mul(0.5).add(avg[1].mul(0.25)).add(avg[2].mul(0.25));
    });
    const want = Array.from(logits.argMax(-1).dataSync());
    const wantLoss = tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 3), logits).dataSync()[0]);
    expect(Array.from(got.predictions)).toEqual(want);
    expect(got.loss).toBeCloseTo(wantLoss, 5);
    expect(Math.abs(got.loss - flip.loss)).toBeGreaterThan(1e-4);
    // Images of one pixel in height cannot be shifted with a reflected edge: say so, suggest "flip".
    const thin = fromTensors(tf.zeros([2, 1, 4, 1]), tf.tensor1d([0, 1], "int32"), { name: "thin" } as any);
    const thinModel = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [1, 4, 1] }), tf.layers.dense({ units: 2 })] });
    await expect(evaluate(thinModel, thin, { tta: "flip-translate" })).rejects.toThrow(/at least 2x2 pixels.*Use tta: "flip"/);
    tf.dispose([x, y, logits, ...views.slice(1)]);
    model.dispose();
    thinModel.dispose();
  });
});
