import { describe, it, expect, beforeAll } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { neuron, mlp, lenet, resnet9 } from "../src/models";
import { summary } from "../src/training";
import { DISPLAY_SYMBOL } from "../src/display/display";

beforeAll(async () => {
  // lepton's ready() picks the best backend once; then pin the pure-JS one (small models, exact numbers).
  await ready();
  await tf.setBackend("cpu");
});

describe("model builders", () => {
  it("lenet has exactly 62,006 parameters and outputs 10 logits for 32x32x3 inputs", () => {
    const m = lenet();
    expect(m.countParams()).toBe(62006);
    // Layer by layer, as in the PyTorch tutorial: 456 + 2416 + 48120 + 10164 + 850.
    const params = m.layers.map((l) => l.countParams()).filter((p) => p > 0);
    expect(params).toEqual([456, 2416, 48120, 10164, 850]);
    const out = tf.tidy(() => m.predict(tf.zeros([2, 32, 32, 3])) as tf.Tensor);
    expect(out.shape).toEqual([2, 10]);
    out.dispose();
    m.dispose();
  });

  it("neuron is one dense unit: inputs weights + 1 bias", () => {
    const m = neuron({ inputs: 3, activation: "sigmoid" });
    expect(m.countParams()).toBe(4);
    expect(m.outputs[0].shape).toEqual([null, 1]);
    m.dispose();
    expect(() => neuron({ inputs: 0 })).toThrow(/inputs must be a whole number/);
  });

  it("mlp stacks dense layers; a shaped first size flattens", () => {
    const m = mlp([4, 8, 3]);
    expect(m.countParams()).toBe(4 * 8 + 8 + 8 * 3 + 3);
    const m2 = mlp([[2, 2, 1], 5, 2]);
    expect(m2.inputs[0].shape).toEqual([null, 2, 2, 1]);
    expect(m2.countParams()).toBe(4 * 5 + 5 + 5 * 2 + 2);
    m.dispose();
    m2.dispose();
    expect(() => mlp([4] as any)).toThrow(/at least \[inputs, outputs\]/);
  });

  it("resnet9 has batch norm and residual adds, configurable width, 10 logits", () => {
    const m = resnet9({ width: 4 });
    const types = new Set(m.layers.map((l) => l.getClassName()));
    expect(types.has("BatchNormalization")).toBe(true);
    expect(types.has("Add")).toBe(true);
    const out = tf.tidy(() => m.predict(tf.zeros([1, 32, 32, 3])) as tf.Tensor);
    expect(out.shape).toEqual([1, 10]);
    out.dispose();
    const wide = resnet9({ width: 8 });
    expect(wide.countParams()).toBeGreaterThan(3 * m.countParams());
    m.dispose();
    wide.dispose();
  });

  it("resnet9 pools globally: the pooled features are each channel's maximum over the last block's map (32x32 and 28x28 inputs)", () => {
    for (const inputShape of [[32, 32, 3], [28, 28, 1]] as [number, number, number][]) {
      const m = resnet9({ width: 2, inputShape });
      const lastBlock = m.getLayer(`res${m.layers.filter((l) => l.name.startsWith("conv")).length}`);
      const probe = tf.model({ inputs: m.inputs, outputs: [lastBlock.output as tf.SymbolicTensor, m.getLayer("flatten").output as tf.SymbolicTensor] });
      const x = tf.tidy(() => tf.randomNormal([2, ...inputShape], 0, 1, "float32", 7));
      const [map, pooled] = probe.predict(x) as tf.Tensor[];
      expect(pooled.shape).toEqual([2, 16]);
      const expected = tf.tidy(() => tf.max(map, [1, 2]));
      expect(Array.from(pooled.dataSync())).toEqual(Array.from(expected.dataSync()));
      tf.dispose([x, map, pooled, expected]);
      m.dispose();
    }
  });
});

describe("summary", () => {
  it("lists every layer with output shape and parameters, and the totals, as text and HTML", () => {
    const m = lenet();
    const s = summary(m);
    expect(s.layers.length).toBe(m.layers.length);
    expect(s.layers[0].outputShape).toBe("[null, 28, 28, 6]");
    expect(s.layers.reduce((a, l) => a + l.params, 0)).toBe(62006);
    expect(s.totalParams).toBe(62006);
    expect(s.trainableParams).toBe(62006);
    const text = s.toString();
    expect(text).toMatch(/Total params: 62,006/);
    expect(text).toMatch(/conv2d.*\[null, 28, 28, 6\]\s+456/);
    const bundle = s[DISPLAY_SYMBOL]();
    expect(bundle["text/html"]).toMatch(/<table/);
    expect(bundle["text/html"]).toMatch(/62,006/);
    const bn = summary(resnet9({ width: 4 }));
    expect(bn.nonTrainableParams).toBeGreaterThan(0); // moving mean/variance
    m.dispose();
  });
});

describe("batch-norm network in training", () => {
  it("resnet9 trains a step with lepton.train: moving statistics update, no tensors leak", async () => {
    const { train } = await import("../src/training");
    const { fromTensors } = await import("../src/data");
    const m = resnet9({ width: 2, inputShape: [8, 8, 3], classes: 3 });
    const x = new Float32Array(12 * 8 * 8 * 3).map((_, i) => Math.sin(i));
    const data = fromTensors(x, Int32Array.from({ length: 12 }, (_, i) => i % 3), { inputShape: [8, 8, 3] });
    const movingMean = () => Array.from(m.getLayer("bn1").getWeights()[2].dataSync());
    const before = movingMean();
    const n0 = tf.memory().numTensors;
    const h = await train(m, data, { epochs: 1, batchSize: 6, optimizer: { type: "sgd", lr: 0.05, momentum: 0.9, nesterov: true }, verbose: 0 });
    expect(tf.memory().numTensors).toBe(n0);
    expect(Number.isFinite(h.last("loss")!)).toBe(true);
    expect(movingMean()).not.toEqual(before);
    m.dispose();
  });
});

describe("seeded builders", () => {
  const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

  it("the same seed builds the same weights, another seed other weights, for every builder", () => {
    const builders: [string, (seed?: number) => tf.LayersModel][] = [
      ["neuron", (seed) => neuron({ inputs: 3, seed })],
      ["mlp", (seed) => mlp([4, 8, 3], { seed, dropout: 0.2 })],
      ["lenet", (seed) => lenet({ seed })],
      ["resnet9", (seed) => resnet9({ width: 2, inputShape: [8, 8, 3], classes: 3, seed })],
    ];
    for (const [name, build] of builders) {
      const [a, b, c, d] = [build(7), build(7), build(8), build()];
      expect(weights(a), name).toEqual(weights(b));
      expect(weights(a), name).not.toEqual(weights(c));
      expect(weights(a), name).not.toEqual(weights(d));
      // Glorot-uniform kernels: within ±sqrt(6 / (fan in + fan out)) and not all equal.
      const k = a.getWeights()[0];
      const dims = k.shape as number[];
      const [fanIn, fanOut] = dims.length === 4 ? [dims[0] * dims[1] * dims[2], dims[0] * dims[1] * dims[3]] : [dims[0], dims[1]];
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      const values = Array.from(k.dataSync());
      expect(Math.max(...values.map(Math.abs)), name).toBeLessThanOrEqual(limit + 1e-6);
      expect(new Set(values).size, name).toBeGreaterThan(1);
      [a, b, c, d].forEach((m) => m.dispose());
    }
    expect(() => lenet({ seed: 1.5 })).toThrow(/seed must be a whole number; got 1.5/);
  });

  it("a seeded model and lepton.train's seed give the same training run twice", async () => {
    const { train } = await import("../src/training");
    const { fromTensors } = await import("../src/data");
    const x = new Float32Array(48 * 8 * 8 * 3).map((_, i) => Math.sin(i * 0.37));
    const data = fromTensors(x, Int32Array.from({ length: 48 }, (_, i) => i % 3), { inputShape: [8, 8, 3] });
    const run = async () => {
      const m = resnet9({ width: 2, inputShape: [8, 8, 3], classes: 3, seed: 3 });
      const h = await train(m, data, { epochs: 2, batchSize: 16, seed: 5, verbose: 0 });
      const out = { loss: h.metrics.loss, w: weights(m) };
      m.dispose();
      return out;
    };
    const [first, second] = [await run(), await run()];
    expect(second).toEqual(first);
    // The same on WebAssembly, whose convolutions run on XNNPACK's thread pool.
    await tf.setBackend("wasm");
    try {
      const [a, b] = [await run(), await run()];
      expect(b).toEqual(a);
    } finally {
      await tf.setBackend("cpu");
    }
  });
});
