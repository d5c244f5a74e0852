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
