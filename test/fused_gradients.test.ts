/**
 * src/backend/fused_gradients.ts: a bias-free, activation-free fused convolution under a gradient tape runs
 * as tf.conv2d, so only the gradients the tape needs are computed (not the first layer's input gradient,
 * not the filter gradient of a frozen layer between trained ones), with the same values; everywhere else the
 * fused op runs as before. The same for a linear fused matMul (a Dense layer with its bias).
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { maxRelError, randomValues } from "./backend_helpers";

beforeAll(async () => {
  await ready();
});

/** Two bias-free convolutions (the second frozen when asked) and a dense layer, as resnet9/airbench build them. */
function model(freezeSecond: boolean, bias = false): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 3], filters: 4, kernelSize: 3, padding: "same", useBias: bias, kernelInitializer: "glorotUniform" }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: "same", useBias: bias, trainable: !freezeSecond }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
    ],
  });
}

const x = () => tf.tensor4d(randomValues(2 * 6 * 6 * 3, 11), [2, 6, 6, 3]);

/** The kernels one training step runs (forward and backward), and the gradients by weight name. */
async function step(m: tf.LayersModel): Promise<{ kernels: string[]; grads: Record<string, Float32Array> }> {
  let grads: Record<string, Float32Array> = {};
  const info = await tf.profile(() => {
    const input = x();
    const { value, grads: g } = tf.variableGrads(() => (m.apply(input, { training: true }) as tf.Tensor).sum() as tf.Scalar, m.trainableWeights.map((w) => (w as any).val as tf.Variable));
    grads = Object.fromEntries(Object.entries(g).map(([name, t]) => [name, t.dataSync().slice() as Float32Array]));
    tf.dispose([input, value, ...Object.values(g)]);
  });
  return { kernels: info.kernels.map((k) => k.name), grads };
}

const count = (names: string[], name: string) => names.filter((n) => n === name).length;

describe("bias-free convolutions under a gradient tape compute only the gradients that are needed", () => {
  it("no input gradient for the first layer (the images), the same gradients as the fused op", async () => {
    const m = model(false);
    const fused = tf.fused as { conv2d: typeof tf.fused.conv2d };
    const patched = fused.conv2d;
    expect((patched as any).lepton$fused).toBeTypeOf("function");
    const now = await step(m);
    fused.conv2d = (patched as any).lepton$fused; // TensorFlow.js's own fused op, for the reference
    let before: Awaited<ReturnType<typeof step>>;
    try {
      before = await step(m);
    } finally {
      fused.conv2d = patched;
    }
    expect(count(before.kernels, "Conv2DBackpropInput")).toBe(2);
    expect(count(now.kernels, "Conv2DBackpropInput")).toBe(1); // the second layer's only
    expect(count(now.kernels, "Conv2DBackpropFilter")).toBe(2);
    expect(Object.keys(now.grads).sort()).toEqual(Object.keys(before.grads).sort());
    for (const name of Object.keys(before.grads)) expect(maxRelError(before.grads[name], now.grads[name])).toBeLessThan(1e-6);
    m.dispose();
  });

  it("a frozen layer gets no filter gradient (only the input gradient the layers below need), and nothing leaks", async () => {
    const m = model(true);
    await step(m); // the first call caches tfjs-layers' constants
    const tensors = tf.memory().numTensors;
    const { kernels, grads } = await step(m);
    expect(count(kernels, "Conv2DBackpropInput")).toBe(1); // the frozen layer's, for the first layer's filter
    expect(count(kernels, "Conv2DBackpropFilter")).toBe(1); // the first layer's
    expect(Object.keys(grads).length).toBe(m.trainableWeights.length);
    expect(tf.memory().numTensors).toBe(tensors);
    m.dispose();
  });

  it("a linear Dense layer under the tape runs as matMul and add, with the fused op's gradients", async () => {
    const m = model(false); // its last layer: Dense, linear, with a bias
    const fused = tf.fused as { matMul: typeof tf.fused.matMul };
    const patched = fused.matMul;
    const now = await step(m);
    fused.matMul = (patched as any).lepton$fused;
    let before: Awaited<ReturnType<typeof step>>;
    try {
      before = await step(m);
    } finally {
      fused.matMul = patched;
    }
    expect(count(before.kernels, "_FusedMatMul")).toBe(1);
    expect(count(now.kernels, "_FusedMatMul")).toBe(0);
    for (const name of Object.keys(before.grads)) expect(maxRelError(before.grads[name], now.grads[name])).toBeLessThan(1e-6);
    const inference = await tf.profile(() => tf.tidy(() => void (m.predict(x()) as tf.Tensor).dataSync()));
    expect(inference.kernels.map((k) => k.name)).toContain("_FusedMatMul"); // outside a gradient: fused
    m.dispose();
  });

  it("inference, and convolutions with a bias, keep the fused kernel", async () => {
    const m = model(false);
    const inference = await tf.profile(() => {
      tf.tidy(() => {
        (m.predict(x()) as tf.Tensor).dataSync();
      });
    });
    expect(inference.kernels.map((k) => k.name)).toContain("FusedConv2D");
    expect(inference.kernels.map((k) => k.name)).not.toContain("Conv2D");
    m.dispose();
    const biased = model(false, true);
    const { kernels } = await step(biased);
    expect(count(kernels, "FusedConv2D")).toBe(2); // fused with its bias, under the tape too
    biased.dispose();
  });
});
