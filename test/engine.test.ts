/**
 * The training engine (issue 12): one objective and one step for train, validation, evaluate and
 * lrFind; Keras semantics; events in order; resume as the same run; options checked where they enter.
 * Numbers are checked against independent computations in plain JavaScript.
 */
import { describe, it, expect, beforeAll, afterEach } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { mlp, resnet9 } from "../src/models";
import { train, evaluate, lrFind, predict, optimizer, callbacks, type Callback } from "../src/training";
import { fromTensors } from "../src/data";
import { clearInterrupt } from "../src/runtime/interrupt";

beforeAll(async () => {
  await ready();
  await tf.setBackend("cpu");
});
afterEach(() => clearInterrupt());

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** n samples of d features, labels from a fixed linear rule over k classes. */
function problem(n: number, d = 3, k = 3, seed = 1) {
  const r = rng(seed);
  const x = new Float32Array(n * d).map(() => r() * 2 - 1);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestV = -Infinity;
    for (let c = 0; c < k; c++) {
      let v = 0;
      for (let j = 0; j < d; j++) v += x[i * d + j] * Math.sin(1 + c * 3 + j);
      if (v > bestV) [best, bestV] = [c, v];
    }
    y[i] = best;
  }
  return { x, y, d, k, n };
}

/** A linear classifier with set weights (dense, no hidden layer). */
function linear(d: number, k: number, reg?: number): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: k, inputShape: [d], kernelInitializer: "zeros", ...(reg ? { kernelRegularizer: tf.regularizers.l2({ l2: reg }) } : {}) }));
  const w = Float32Array.from({ length: d * k }, (_, i) => Math.cos(i + 0.5) * 0.7);
  m.setWeights([tf.tensor2d(w, [d, k]), tf.tensor1d(Float32Array.from({ length: k }, (_, i) => 0.1 * i))]);
  return m;
}

/** Mean softmax cross-entropy of x·W + b against labels, in plain JS. */
function handCE(x: Float32Array, y: Int32Array, W: Float32Array, b: Float32Array, d: number, k: number): number {
  let total = 0;
  const n = y.length;
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: k }, (_, c) => {
      let v = b[c];
      for (let j = 0; j < d; j++) v += x[i * d + j] * W[j * k + c];
      return v;
    });
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
    total += lse - z[y[i]];
  }
  return total / n;
}

const firstBatchLoss = (): Callback & { losses: number[] } => {
  const cb = { losses: [] as number[], onBatchEnd: (_b: number, logs: { loss: number }) => void cb.losses.push(logs.loss) };
  return cb;
};

describe("objective", () => {
  it("adds a layer's regularisation penalty to the loss, and optimises it (CE + l2·Σw² by hand)", async () => {
    const p = problem(16);
    const data = fromTensors(p.x, p.y, { inputShape: [p.d], classes: ["a", "b", "c"] });
    const model = linear(p.d, p.k, 10);
    const [W, b] = model.getWeights().map((w) => w.dataSync() as Float32Array);
    const l2 = 10 * Array.from(W).reduce((a, v) => a + v * v, 0);
    const expected = handCE(p.x, p.y, W, b, p.d, p.k) + l2;
    const rec = firstBatchLoss();
    const h = await train(model, data, { epochs: 1, batchSize: 16, lr: 1e-3, shuffle: false, verbose: 0, callbacks: [rec] });
    expect(rec.losses[0]).toBeCloseTo(expected, 4);
    expect(h.history.loss[0]).toBeCloseTo(expected, 4);
    // Optimised: with the penalty the kernel shrinks towards 0 much faster than without.
    const plain = linear(p.d, p.k);
    await train(plain, data, { epochs: 20, batchSize: 16, lr: 0.01, verbose: 0, seed: 0 });
    await train(model, data, { epochs: 19, batchSize: 16, lr: 0.01, verbose: 0, seed: 0 });
    const norm = (m: tf.LayersModel) => Array.from(m.getWeights()[0].dataSync()).reduce((a, v) => a + v * v, 0);
    expect(norm(model)).toBeLessThan(0.05 * norm(plain));
    // evaluate reports the same objective: CE + penalty (Keras's evaluate).
    const [W2, b2] = model.getWeights().map((w) => w.dataSync() as Float32Array);
    const r = await evaluate(model, data);
    expect(r.loss).toBeCloseTo(handCE(p.x, p.y, W2, b2, p.d, p.k) + 10 * Array.from(W2).reduce((a, v) => a + v * v, 0), 4);
    model.dispose();
    plain.dispose();
  });

  it("a custom loss function and a custom metric function (recorded by the function's name)", async () => {
    const r = rng(3);
    const x = new Float32Array(24).map(() => r());
    const y = new Float32Array(12).map((_, i) => x[2 * i] - x[2 * i + 1]);
    const data = fromTensors(x, y, { inputShape: [2] });
    const mk = () => {
      const m = tf.sequential();
      m.add(tf.layers.dense({ units: 1, inputShape: [2], kernelInitializer: "ones" }));
      return m;
    };
    const absError = (yTrue: tf.Tensor, yPred: tf.Tensor) => yTrue.sub(yPred).abs().mean() as tf.Scalar;
    function maxError(yTrue: tf.Tensor, yPred: tf.Tensor) {
      return yTrue.sub(yPred).abs().reshape([-1]); // per sample: averaged over the epoch
    }
    const a = mk();
    const b = mk();
    const ha = await train(a, data, { epochs: 2, batchSize: 4, lr: 0.1, seed: 1, verbose: 0, loss: absError, metrics: [maxError, "mse"], validationData: data });
    const hb = await train(b, data, { epochs: 2, batchSize: 4, lr: 0.1, seed: 1, verbose: 0, loss: "meanAbsoluteError" });
    expect(ha.history.loss[0]).toBeCloseTo(hb.history.loss[0], 6);
    expect(ha.history.loss[1]).toBeCloseTo(hb.history.loss[1], 6);
    // val_maxError after training: the mean |y - ŷ| over the data, computed by hand from the weights.
    const [w, bias] = a.getWeights().map((t) => t.dataSync());
    let abs = 0;
    let sq = 0;
    for (let i = 0; i < 12; i++) {
      const e = y[i] - (x[2 * i] * w[0] + x[2 * i + 1] * w[1] + bias[0]);
      abs += Math.abs(e);
      sq += e * e;
    }
    expect(ha.history.val_maxError[1]).toBeCloseTo(abs / 12, 5);
    expect(ha.history.val_mse[1]).toBeCloseTo(sq / 12, 5);
    expect(ha.history.maxError).toHaveLength(2);
    a.dispose();
    b.dispose();
  });

  it("float one-hot targets train a classifier with categorical cross-entropy and accuracy, exactly like int labels", async () => {
    const p = problem(30);
    const oneHot = new Float32Array(30 * 3);
    p.y.forEach((c, i) => (oneHot[i * 3 + c] = 1));
    const sparse = fromTensors(p.x, p.y, { inputShape: [3], classes: ["a", "b", "c"] });
    const a = mlp([3, 8, 3], { seed: 4 });
    const b = mlp([3, 8, 3], { seed: 4 });
    const hs = await train(a, sparse, { epochs: 3, batchSize: 10, lr: 0.1, seed: 2, verbose: 0 });
    const ho = await train(b, { x: tf.tensor2d(p.x, [30, 3]), y: tf.tensor2d(oneHot, [30, 3]) }, { epochs: 3, batchSize: 10, lr: 0.1, seed: 2, verbose: 0 });
    expect(ho.history.accuracy).toHaveLength(3);
    for (let e = 0; e < 3; e++) {
      expect(ho.history.loss[e]).toBeCloseTo(hs.history.loss[e], 5);
      expect(ho.history.accuracy[e]).toBeCloseTo(hs.history.accuracy[e], 6);
    }
    expect(ho.notes.join(" ") + ho.toString()).toBeDefined();
    a.dispose();
    b.dispose();
  });

  it("float class indices with a multi-class model get a hint to use int32", async () => {
    const m = mlp([2, 3]);
    const x = tf.tensor2d([0, 1, 1, 0, 1, 1], [3, 2]);
    await expect(train(m, { x, y: tf.tensor1d([0, 1, 2]) }, { verbose: 0 })).rejects.toThrow(/int32 class indices.*"int32"/);
    // Naming the loss accepts them.
    const h = await train(m, { x, y: tf.tensor1d([0, 1, 2]) }, { verbose: 0, loss: "sparseCategoricalCrossentropy" });
    expect(h.history.accuracy).toHaveLength(1);
    tf.dispose(x);
    m.dispose();
  });

  it("a compiled model's loss, metrics and optimizer are used (and the optimizer's state carries on)", async () => {
    const r = rng(5);
    const x = new Float32Array(40).map(() => r());
    const y = new Float32Array(20).map((_, i) => 2 * x[2 * i] + 1);
    const data = fromTensors(x, y, { inputShape: [2] });
    const mk = () => {
      const m = tf.sequential();
      m.add(tf.layers.dense({ units: 1, inputShape: [2], kernelInitializer: "zeros" }));
      return m;
    };
    const compiled = mk();
    const adam = tf.train.adam(0.05);
    compiled.compile({ optimizer: adam, loss: "meanAbsoluteError", metrics: ["mse"] });
    const ref = mk();
    const h1 = await train(compiled, data, { epochs: 2, batchSize: 5, seed: 3, verbose: 0 });
    const h2 = await train(ref, data, { epochs: 2, batchSize: 5, seed: 3, verbose: 0, optimizer: { type: "adam", lr: 0.05, epsilon: 1e-7 }, loss: "meanAbsoluteError", metrics: ["mse"] });
    expect(h1.history.mse).toHaveLength(2);
    expect(h1.history.loss).toEqual(h2.history.loss);
    expect(weights(compiled)).toEqual(weights(ref));
    // The compiled optimizer is the user's: not disposed, and its Adam state (8 steps) carried on.
    const state = await adam.getWeights();
    expect(state[0].name).toBe("iter");
    expect(state[0].tensor.dataSync()[0]).toBe(8);
    tf.dispose(state.map((s) => s.tensor));
    compiled.dispose();
    ref.dispose();
  });
});

function weights(m: tf.LayersModel): number[][] {
  return m.getWeights().map((w) => Array.from(w.dataSync()));
}

describe("engine", () => {
  it("dispatches the events in order, with validation between the last batch and the epoch end", async () => {
    const p = problem(8);
    const data = fromTensors(p.x, p.y, { inputShape: [3], classes: ["a", "b", "c"] });
    const events: string[] = [];
    const rec: Callback = {
      onTrainBegin: () => void events.push("trainBegin"),
      onEpochBegin: (e) => void events.push(`epochBegin ${e}`),
      onBatchBegin: (b) => void events.push(`batchBegin ${b}`),
      onBatchEnd: (b) => void events.push(`batchEnd ${b}`),
      onValidationBegin: (e) => void events.push(`validationBegin ${e}`),
      onValidationEnd: (e, logs) => void events.push(`validationEnd ${e} ${Object.keys(logs).join(",")}`),
      onEpochEnd: (e, logs) => void events.push(`epochEnd ${e} ${Object.keys(logs).join(",")}`),
      onTrainEnd: () => void events.push("trainEnd"),
    };
    const late: Callback = { order: 10, onEpochBegin: (e) => void events.push(`late ${e}`) };
    const early: Callback = { order: -10, onEpochBegin: (e) => void events.push(`early ${e}`) };
    const m = mlp([3, 3]);
    await train(m, data, { epochs: 2, batchSize: 4, verbose: 0, validationData: data, callbacks: [late, rec, early] });
    const epoch = (e: number) => [
      `early ${e}`, `epochBegin ${e}`, `late ${e}`,
      "batchBegin 1", "batchEnd 1", "batchBegin 2", "batchEnd 2",
      `validationBegin ${e}`, `validationEnd ${e} val_loss,val_accuracy`,
      `epochEnd ${e} loss,accuracy,val_loss,val_accuracy,lr,time_s`,
    ];
    expect(events).toEqual(["trainBegin", ...epoch(1), ...epoch(2), "trainEnd"]);
    m.dispose();
  });

  it("a callback can set the LR, skip a batch and stop with a reason", async () => {
    const p = problem(12);
    const data = fromTensors(p.x, p.y, { inputShape: [3], classes: ["a", "b", "c"] });
    const a = mlp([3, 3], { seed: 1 });
    const b = mlp([3, 3], { seed: 1 });
    const lrs: number[] = [];
    const h = await train(a, data, {
      epochs: 3, batchSize: 4, shuffle: false, verbose: 0,
      callbacks: [{
        onBatchBegin: (batch, ctx) => {
          if (batch === 2) ctx.skipBatch();
          ctx.lr = 0.05 * batch;
          if (ctx.epoch === 2 && batch === 1) ctx.stop("enough");
        },
        onBatchEnd: (_b, logs) => void lrs.push(logs.lr),
      }],
    });
    expect(lrs).toEqual([0.05, 0.15000000000000002]);
    expect(h.stopReason).toBe("enough");
    expect(h.epochs).toEqual([1]);
    // The same as training on batches 1 and 3 with those LRs.
    const opt = optimizer({ type: "sgd", lr: 0.05 });
    const b1 = fromTensors(p.x.slice(0, 12), p.y.slice(0, 4), { inputShape: [3], classes: ["a", "b", "c"] });
    const b3 = fromTensors(p.x.slice(24, 36), p.y.slice(8, 12), { inputShape: [3], classes: ["a", "b", "c"] });
    await train(b, b1, { epochs: 1, batchSize: 4, optimizer: opt, lr: 0.05, verbose: 0 });
    await train(b, b3, { epochs: 1, batchSize: 4, optimizer: opt, lr: 0.15000000000000002, verbose: 0 });
    const wa = weights(a).flat();
    weights(b).flat().forEach((v, i) => expect(wa[i]).toBeCloseTo(v, 6));
    opt.dispose();
    a.dispose();
    b.dispose();
  });

  it("a custom step: gradient accumulation over two half batches equals one full batch", async () => {
    const p = problem(16);
    const data = fromTensors(p.x, p.y, { inputShape: [3], classes: ["a", "b", "c"] });
    const a = mlp([3, 5, 3], { seed: 2 });
    const b = mlp([3, 5, 3], { seed: 2 });
    const before = tf.memory().numTensors;
    let calls = 0;
    await train(a, data, {
      epochs: 2, batchSize: 8, lr: 0.1, shuffle: false, verbose: 0,
      step: (batch, s) => {
        calls++;
        const half = batch.x.shape[0] / 2;
        const parts = [0, 1].map((i) => {
          const x = batch.x.slice([i * half, 0], [half, -1]);
          const y = batch.y.slice([i * half], [half]);
          const g = s.gradients(x, y);
          tf.dispose([x, y]);
          return g;
        });
        const grads: tf.NamedTensorMap = {};
        for (const k of Object.keys(parts[0].grads)) grads[k] = tf.tidy(() => parts[0].grads[k].add(parts[1].grads[k]).div(2));
        s.applyGradients(grads);
        const loss = tf.tidy(() => parts[0].loss.add(parts[1].loss).div(2)) as tf.Scalar;
        const metrics = parts[0].metrics.map((m, i) => tf.tidy(() => m.add(parts[1].metrics[i])) as tf.Scalar);
        tf.dispose([...parts.flatMap((q) => [q.loss, ...q.metrics, ...Object.values(q.grads)]), ...Object.values(grads)]);
        return { loss, metrics };
      },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(calls).toBe(4);
    await train(b, data, { epochs: 2, batchSize: 8, lr: 0.1, shuffle: false, verbose: 0 });
    const wb = weights(b).flat();
    weights(a).flat().forEach((v, i) => expect(v).toBeCloseTo(wb[i], 5));
    a.dispose();
    b.dispose();
  });

  it("no tensor leaks after train, evaluate, predict and lrFind", async () => {
    const p = problem(40);
    const data = fromTensors(p.x, p.y, { inputShape: [3], classes: ["a", "b", "c"] });
    const m = mlp([3, 6, 3], { seed: 1 });
    const before = tf.memory().numTensors;
    await train(m, data, { epochs: 2, batchSize: 8, verbose: 0, validationData: data, labelSmoothing: 0.1, clipNorm: 1, metrics: ["accuracy", (yt: tf.Tensor, yp: tf.Tensor) => yp.sum(-1)] });
    await evaluate(m, data);
    await predict(m, data);
    await lrFind(m, data, { numIter: 12, batchSize: 8, labelSmoothing: 0.1, clipNorm: 1 });
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});

describe("resume", () => {
  it("4 epochs in one go equal 2 epochs, a stop, then a resume to 4 without naming the optimizer (Adam, one-cycle, shuffled)", async () => {
    const p = problem(48);
    const data = fromTensors(p.x, p.y, { inputShape: [3], classes: ["a", "b", "c"] });
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lepton-resume-")), "ck");
    const opts = { batchSize: 8, optimizer: { type: "adam" as const, lr: 0.05 }, schedule: "onecycle" as const, seed: 11, verbose: 0 as const };
    const straight = mlp([3, 8, 3], { seed: 5 });
    const hs = await train(straight, data, { ...opts, epochs: 4 });
    const first = mlp([3, 8, 3], { seed: 5 });
    const stopAt2: Callback = { onEpochEnd: (e, _l, ctx) => (e === 2 ? ctx.stop("paused") : undefined) };
    await train(first, data, { ...opts, epochs: 4, callbacks: [callbacks.checkpoint({ dir }), stopAt2] });
    const again = mlp([3, 8, 3], { seed: 99 });
    const lrs: number[] = [];
    const hr = await train(again, data, { epochs: 4, batchSize: 8, schedule: "onecycle", verbose: 0, resumeFrom: dir, callbacks: [{ onBatchEnd: (_b, l) => void lrs.push(l.lr) }] });
    expect(hr.epochs).toEqual([1, 2, 3, 4]);
    expect(hr.history.loss[3]).toBeCloseTo(hs.history.loss[3], 5);
    expect(hr.history.loss[2]).toBeCloseTo(hs.history.loss[2], 5);
    const ws = weights(straight).flat();
    weights(again).flat().forEach((v, i) => expect(v).toBeCloseTo(ws[i], 5));
    // The schedule went on from its position: the resumed run's LRs are one-cycle's second half.
    expect(lrs[0]).toBeLessThan(0.05);
    expect(lrs[lrs.length - 1]).toBeLessThan(1e-4);
    [straight, first, again].forEach((m) => m.dispose());
  });
});

describe("options", () => {
  const data = () => fromTensors(new Float32Array(8), new Int32Array(4), { inputShape: [2], classes: ["a", "b"] });
  it("refuses an option train() does not know, naming the nearest known one", async () => {
    const m = mlp([2, 2]);
    await expect(train(m, data(), { optimizer: "sgd", lr: 0.01, momentum: 0.9 } as any)).rejects.toThrow(/unknown option "momentum".*optimizer: \{ type: "sgd", lr: 0.01, momentum: 0.9 \}/);
    await expect(train(m, data(), { epoch: 2 } as any)).rejects.toThrow(/unknown option "epoch"; did you mean "epochs"\?/);
    await expect(train(m, data(), { optimizer: { type: "sgd", momentun: 0.9 } } as any)).rejects.toThrow(/unknown option "momentun"; did you mean "momentum"\?/);
    await expect(train(m, data(), { schedule: { type: "cosine", warmup: 1 } } as any)).rejects.toThrow(/unknown option "warmup"; did you mean "warmupEpochs"\?/);
    await expect(lrFind(m, data(), { numIters: 10 } as any)).rejects.toThrow(/did you mean "numIter"/);
    await expect(evaluate(m, data(), { batch: 10 } as any)).rejects.toThrow(/did you mean "batchSize"/);
    m.dispose();
  });

  it("refuses a negative or NaN learning rate, NaN or negative initialEpoch, a bad schedule, before any step", async () => {
    const m = mlp([2, 2]);
    const w0 = weights(m);
    const steps: number[] = [];
    const cb: Callback = { onBatchEnd: (b) => void steps.push(b) };
    for (const bad of [{ lr: -0.1 }, { lr: NaN }, { initialEpoch: NaN }, { initialEpoch: -1 }, { schedule: { type: "cosine", minLr: -1 } }, { schedule: { type: "onecycle", pctStart: 2 } }, { weightDecay: -1 }]) {
      await expect(train(m, data(), { ...(bad as any), verbose: 0, callbacks: [cb] })).rejects.toThrow(/must be/);
    }
    expect(() => optimizer({ type: "adam", lr: -1 })).toThrow(/lr must be a positive number/);
    const o = optimizer("sgd");
    expect(() => o.setLr(NaN)).toThrow(/lr must be a positive number/);
    o.dispose();
    await expect(train(m, data(), { verbose: 0, schedule: (step: number) => (step === 0 ? NaN : 0.1), callbacks: [cb] })).rejects.toThrow(/returned NaN for step 0/);
    expect(steps).toEqual([]);
    expect(weights(m)).toEqual(w0);
    m.dispose();
  });
});

describe("evaluate and lrFind on the shared objective", () => {
  it("a regression evaluate reports MSE, RMSE, MAE and R² equal to a hand computation, with a chart", async () => {
    const x = new Float32Array([0, 1, 2, 3, 4, 5]);
    const y = new Float32Array([1, 2.5, 5, 7.5, 8, 11]);
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 1, inputShape: [1] }));
    m.setWeights([tf.tensor2d([[2]]), tf.tensor1d([1])]);
    const r = await evaluate(m, fromTensors(x, y, { inputShape: [1] }), { batchSize: 4 });
    const pred = Array.from(x).map((v) => 2 * v + 1);
    const err = pred.map((p, i) => y[i] - p);
    const mse = err.reduce((a, e) => a + e * e, 0) / 6;
    const mean = y.reduce((a, v) => a + v, 0) / 6;
    const tot = Array.from(y).reduce((a, v) => a + (v - mean) ** 2, 0);
    expect(r.mse).toBeCloseTo(mse, 6);
    expect(r.rmse).toBeCloseTo(Math.sqrt(mse), 6);
    expect(r.mae).toBeCloseTo(err.reduce((a, e) => a + Math.abs(e), 0) / 6, 6);
    expect(r.r2).toBeCloseTo(1 - (mse * 6) / tot, 6);
    expect(r.loss).toBeCloseTo(mse, 6);
    const bundle = (r as any)[Symbol.for("Jupyter.display")]();
    expect(String(bundle["text/html"])).toMatch(/plotly|Plotly/);
    expect(String(bundle["text/plain"])).toMatch(/r2/);
    m.dispose();
  });

  it("lrFind trains with the run's label smoothing; its steepest point is not in the first tenth of the sweep", async () => {
    const p = problem(64);
    const data = fromTensors(p.x, p.y, { inputShape: [3], classes: ["a", "b", "c"] });
    const m = mlp([3, 8, 3], { seed: 1 });
    const plain = await lrFind(m, data, { numIter: 20, batchSize: 8, seed: 1, startLr: 1e-6, endLr: 1e-5 });
    const smoothed = await lrFind(m, data, { numIter: 20, batchSize: 8, seed: 1, startLr: 1e-6, endLr: 1e-5, labelSmoothing: 0.5 });
    // At a tiny LR the model does not move: the loss difference is the smoothing term, computed by hand
    // for the first batch from the model's own outputs.
    expect(smoothed.losses[0]).not.toBeCloseTo(plain.losses[0], 3);
    const it = data.batches({ batchSize: 8, shuffle: true, seed: 2 });
    const b = (await it.next()).value!;
    await it.return?.(undefined);
    const [ce, smooth] = tf.tidy(() => {
      const logp = tf.logSoftmax(m.apply(b.x) as tf.Tensor2D);
      const oh = tf.oneHot(b.y as tf.Tensor1D, 3);
      return [oh.mul(logp).sum(-1).neg().mean().dataSync()[0], oh.mul(0.5).add(0.5 / 3).mul(logp).sum(-1).neg().mean().dataSync()[0]];
    });
    tf.dispose([b.x, b.y]);
    expect(plain.losses[0]).toBeCloseTo(ce, 4);
    expect(smoothed.losses[0]).toBeCloseTo(smooth, 4);
    // A curve whose only sharp fall is noise in its first steps: steepest is picked after them.
    const lrs = Array.from({ length: 50 }, (_, i) => 1e-6 * Math.pow(1e6, i / 49));
    const losses = lrs.map((_, i) => (i < 3 ? 5 - i : 2.3 - 0.02 * Math.max(0, i - 20)));
    const { suggestLr } = await import("../src/training");
    const s = suggestLr(lrs, losses);
    expect(lrs.indexOf(s.steepest)).toBeGreaterThanOrEqual(5);
    m.dispose();
  });
});

describe("edges (from review)", () => {
  const cls = ["a", "b", "c"];
  it("a custom step's result is checked (metric count, scalar loss) without leaking; its NaN is reported honestly", async () => {
    const p = problem(16);
    const data = fromTensors(p.x, p.y, { inputShape: [3], classes: cls });
    const m = mlp([3, 3], { seed: 1 });
    const before = tf.memory().numTensors;
    await expect(train(m, data, { verbose: 0, step: (b, s) => { const g = s.gradients(b.x, b.y); tf.dispose([...g.metrics, ...Object.values(g.grads)]); return { loss: g.loss, metrics: [] }; } }))
      .rejects.toThrow(/0 metric values for 1 metrics/);
    expect(tf.memory().numTensors).toBe(before);
    // A step that always updates, then hits NaN: the message must not claim the weights were kept.
    const h = await train(m, data, { verbose: 0, batchSize: 8, step: (b, s) => {
      const g = s.gradients(b.x, b.y);
      s.applyGradients(g.grads);
      tf.dispose([g.loss, ...Object.values(g.grads)]);
      return { loss: tf.scalar(NaN), metrics: g.metrics };
    } });
    expect(h.stopReason).toMatch(/the step had already updated the weights/);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it("a user's tf.train optimizer survives lrFind and a resume; a refused resume leaves the model's weights as they were", async () => {
    const p = problem(16);
    const data = fromTensors(p.x, p.y, { inputShape: [3], classes: cls });
    const m = mlp([3, 3], { seed: 1 });
    const adam = tf.train.adam(0.01);
    await lrFind(m, data, { numIter: 5, batchSize: 4, optimizer: adam as any });
    await train(m, data, { verbose: 0, optimizer: adam as any }); // throws if lrFind disposed it
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lepton-edge-")), "ck");
    await train(m, data, { epochs: 1, verbose: 0, optimizer: "adam", callbacks: [callbacks.checkpoint({ dir })] });
    const other = mlp([3, 3], { seed: 7 });
    const w0 = weights(other);
    await expect(train(other, data, { epochs: 2, verbose: 0, resumeFrom: dir, optimizer: { type: "sgd", momentum: 0.9 } })).rejects.toThrow(/adam/);
    expect(weights(other)).toEqual(w0);
    await train(other, data, { epochs: 2, verbose: 0, resumeFrom: dir, optimizer: adam as any });
    await train(m, data, { verbose: 0, optimizer: adam as any });
    adam.dispose();
    [m, other].forEach((x) => x.dispose());
  });

  it("refuses mismatched validation targets, smoothing a loss that ignores it, out-of-range float classes, weightDecay on an existing optimizer", async () => {
    const p = problem(12);
    const sparse = fromTensors(p.x, p.y, { inputShape: [3], classes: cls });
    const oneHot = new Float32Array(36);
    p.y.forEach((c, i) => (oneHot[i * 3 + c] = 1));
    const m = mlp([3, 3]);
    await expect(train(m, { x: tf.tensor2d(p.x, [12, 3]), y: tf.tensor2d(oneHot, [12, 3]) }, { verbose: 0, validationData: sparse })).rejects.toThrow(/validationData has class indices/);
    await expect(train(m, sparse, { verbose: 0, labelSmoothing: 0.1, loss: (a: tf.Tensor, b: tf.Tensor) => b.sub(a.toFloat().reshape([-1, 1])).square().mean() })).rejects.toThrow(/labelSmoothing/);
    await expect(train(m, { x: tf.tensor2d(p.x, [12, 3]), y: tf.tensor1d(new Float32Array(12).fill(7)) }, { verbose: 0, loss: "sparseCategoricalCrossentropy" })).rejects.toThrow(/class index 7 but the model outputs 3 classes/);
    const o = optimizer("adam");
    await expect(train(m, sparse, { verbose: 0, optimizer: o, weightDecay: 0.1 })).rejects.toThrow(/weightDecay 0.1 cannot be changed/);
    expect(() => optimizer({ type: "adam", beta1: 1.5 })).toThrow(/beta1 must be in \[0, 1\)/);
    o.dispose();
    // evaluate and lrFind accept what train accepts.
    const fx = { x: tf.tensor2d(p.x, [12, 3]), y: tf.tensor1d(Float32Array.from(p.y)) };
    const r = await evaluate(m, fx, { loss: "sparseCategoricalCrossentropy" });
    expect(r.accuracy).toBeGreaterThanOrEqual(0);
    await lrFind(m, fx, { numIter: 4, batchSize: 4, loss: "sparseCategoricalCrossentropy" });
    m.dispose();
  });

  it("a checkpoint skips an epoch stopped midway, and a resume keeps reduceOnPlateau's LR factor", async () => {
    const p = problem(16);
    const data = fromTensors(p.x, p.y, { inputShape: [3], classes: cls });
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lepton-edge-")), "ck");
    const m = mlp([3, 3], { seed: 1 });
    const scale: Callback = { onEpochBegin: (e, ctx) => void (e === 1 && (ctx.lrScale = 0.01)) };
    const midway: Callback = { onBatchBegin: (b, ctx) => void (ctx.epoch === 2 && b === 2 && ctx.stop("midway")) };
    await train(m, data, { epochs: 3, batchSize: 4, lr: 0.1, verbose: 0, callbacks: [scale, midway, callbacks.checkpoint({ dir })] });
    expect(JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")).epoch).toBe(1);
    const lrs: number[] = [];
    await train(m, data, { epochs: 2, batchSize: 4, lr: 0.1, verbose: 0, resumeFrom: dir, callbacks: [{ onBatchEnd: (_b, l) => void lrs.push(l.lr) }] });
    expect(lrs[0]).toBeCloseTo(0.001, 9);
    m.dispose();
  });
});

describe("models", () => {
  it("a fresh ResNet-9 starts near ln(10) = 2.30 (logits scaled by 1/8), in training mode as in inference", async () => {
    const r = rng(9);
    const n = 32;
    const x = new Float32Array(n * 32 * 32 * 3).map(() => r() * 2 - 1);
    const data = fromTensors(x, Int32Array.from({ length: n }, (_, i) => i % 10), { inputShape: [32, 32, 3], classes: [..."0123456789"] });
    const m = resnet9({ width: 4, seed: 0 });
    const rec = firstBatchLoss();
    await train(m, data, { epochs: 1, batchSize: 32, lr: 1e-9, verbose: 0, callbacks: [rec] });
    expect(Math.abs(rec.losses[0] - Math.log(10))).toBeLessThan(0.25);
    m.dispose();
  });
});
