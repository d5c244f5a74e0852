/**
 * lepton's WebAssembly kernels (stride-2 input gradient: src/backend/wasm_kernels_more.ts; depthwise: wasm_kernels.ts) against TensorFlow.js's
 * pure-JS backend on random inputs: conv2d input gradients with stride 2 ('same', 'valid' and
 * explicit padding) and both gradients of depthwise convolutions (channel multiplier 1 and 2).
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { maxRelError, onCpuThenWasm, randomValues } from "./backend_helpers";

type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];
type Shape4 = [number, number, number, number];

/** Gradients of sum(op(x, w)^2) on cpu and on wasm; checks wasm leaks no tensors. */
async function bothBackends(op: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor, xs: Shape4, ws: Shape4, seed: number) {
  const xv = randomValues(xs.reduce((a, b) => a * b), seed);
  const wv = randomValues(ws.reduce((a, b) => a * b), seed + 1000);
  const grads = () => {
    const x = tf.tensor4d(xv, xs);
    const w = tf.tensor4d(wv, ws);
    const [gx, gw] = tf.grads(((a: tf.Tensor4D, b: tf.Tensor4D) => op(a, b).square().sum()) as any)([x, w]);
    const out = [gx.dataSync().slice(), gw.dataSync().slice()];
    tf.dispose([x, w, gx, gw]);
    return out;
  };
  return onCpuThenWasm(grads);
}

beforeAll(async () => {
  const info = await ready();
  expect(info.name).toBe("wasm");
});

describe("conv2d input gradient with stride 2 on wasm", () => {
  const cases: { x: Shape4; w: Shape4; pad: Pad }[] = [
    { x: [2, 10, 11, 3], w: [3, 3, 3, 4], pad: "same" },
    { x: [2, 9, 9, 2], w: [3, 3, 2, 5], pad: "valid" },
    { x: [3, 8, 8, 4], w: [2, 2, 4, 3], pad: "valid" },
    { x: [2, 8, 7, 3], w: [3, 3, 3, 2], pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
  ];
  for (const [i, c] of cases.entries()) {
    it(`x ${c.x} filter ${c.w} pad ${JSON.stringify(c.pad)}`, async () => {
      const { cpu, wasm } = await bothBackends((x, w) => tf.conv2d(x, w, 2, c.pad), c.x, c.w, 31 + i);
      expect(maxRelError(cpu[0], wasm[0])).toBeLessThan(1e-4);
      expect(maxRelError(cpu[1], wasm[1])).toBeLessThan(1e-4);
      expect(Math.max(...Array.from(wasm[0]).map(Math.abs))).toBeGreaterThan(1e-3);
    });
  }
});

describe("depthwise conv2d gradients on wasm", () => {
  const cases: { x: Shape4; w: Shape4; stride: number; pad: "same" | "valid" }[] = [
    { x: [2, 9, 9, 4], w: [3, 3, 4, 1], stride: 1, pad: "same" },
    { x: [2, 9, 8, 3], w: [3, 3, 3, 1], stride: 2, pad: "same" },
    { x: [3, 10, 10, 2], w: [3, 3, 2, 2], stride: 1, pad: "valid" },
    { x: [2, 11, 9, 3], w: [5, 5, 3, 2], stride: 2, pad: "valid" },
  ];
  for (const [i, c] of cases.entries()) {
    it(`x ${c.x} filter ${c.w} stride ${c.stride} ${c.pad}`, async () => {
      const { cpu, wasm } = await bothBackends((x, w) => tf.depthwiseConv2d(x, w, c.stride, c.pad), c.x, c.w, 71 + i);
      expect(maxRelError(cpu[0], wasm[0])).toBeLessThan(1e-4);
      expect(maxRelError(cpu[1], wasm[1])).toBeLessThan(1e-4);
      expect(Math.max(...Array.from(wasm[1]).map(Math.abs))).toBeGreaterThan(1e-3);
    });
  }

  it("a separable-conv layer trains on wasm and matches one cpu step", async () => {
    const step = () => {
      const layer = tf.layers.separableConv2d({ filters: 4, kernelSize: 3, padding: "same", depthMultiplier: 2, useBias: false });
      const x = tf.tensor4d(randomValues(2 * 6 * 6 * 3, 5), [2, 6, 6, 3]);
      layer.apply(x);
      const values = layer.getWeights().map((w, k) => tf.tensor(randomValues(w.size, 300 + k), w.shape));
      layer.setWeights(values);
      const { grads } = tf.variableGrads(() => (layer.apply(x) as tf.Tensor).square().mean() as tf.Scalar);
      const out = Object.keys(grads).sort().map((k) => grads[k].dataSync().slice());
      tf.dispose([x, ...values, ...Object.values(grads)]);
      layer.dispose();
      return out;
    };
    await tf.setBackend("cpu");
    const cpu = step();
    await tf.setBackend("wasm");
    const wasm = step();
    expect(wasm.length).toBe(2);
    for (let k = 0; k < cpu.length; k++) expect(maxRelError(cpu[k], wasm[k])).toBeLessThan(1e-4);
  });
});

describe("max-pool gradient with non-overlapping windows on wasm", () => {
  const cases: { x: Shape4; size: number; ties: boolean }[] = [
    { x: [2, 8, 8, 3], size: 2, ties: false },
    { x: [3, 9, 7, 5], size: 2, ties: true }, // odd sizes: the last row/column is in no window
    { x: [2, 9, 9, 2], size: 3, ties: true },
  ];
  for (const [i, c] of cases.entries()) {
    it(`x ${c.x} window ${c.size} stride ${c.size} valid${c.ties ? ", with ties" : ""}`, async () => {
      const raw = randomValues(c.x.reduce((a, b) => a * b), 501 + i);
      const xv = c.ties ? raw.map((v) => Math.floor(v * 4)) : raw;
      const grad = () => {
        const x = tf.tensor4d(xv, c.x);
        // A distinct weight per pooled value, so a gradient sent to the wrong window shows.
        const weighted = (a: tf.Tensor) => {
          const pooled = tf.maxPool(a as tf.Tensor4D, c.size, c.size, "valid");
          return pooled.mul(tf.range(1, 1 + pooled.size).reshape(pooled.shape)).sum();
        };
        const gx = tf.grad(weighted)(x);
        const out = gx.dataSync().slice();
        tf.dispose([x, gx]);
        return out;
      };
      const { cpu, wasm } = await onCpuThenWasm(grad);
      expect(maxRelError(cpu, wasm)).toBeLessThan(1e-6);
      expect(wasm.filter((v) => v !== 0).length).toBeGreaterThan(0);
    });
  }
});

describe("Identity on wasm shares data without copying", () => {
  it("a clone outlives its source, keeps its values, and frees the buffer when both are gone", async () => {
    await tf.setBackend("wasm");
    const before = tf.memory();
    const buffersBefore = tf.backend().numDataIds();
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    const b = tf.clone(a);
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers + 1); // one buffer, two tensors
    expect(tf.backend().numDataIds()).toBe(buffersBefore + 1);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3, 4]);
    const c = b.add(1);
    expect(Array.from(c.dataSync())).toEqual([2, 3, 4, 5]);
    tf.dispose([b, c]);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers);
    expect(tf.backend().numDataIds()).toBe(buffersBefore);
    const s = tf.clone(tf.tensor1d(["x", "y"], "string"));
    expect(await s.array()).toEqual(["x", "y"]);
    s.dispose();
  });
});

describe("Cast on wasm", () => {
  it("shares the buffer when the dtype does not change, and converts when it does", async () => {
    await tf.setBackend("wasm");
    const before = tf.memory();
    const a = tf.tensor1d([1.5, -2.25, 0, 3]);
    const same = tf.cast(a, "float32");
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers + 1); // one buffer, two tensors
    a.dispose();
    expect(Array.from(same.dataSync())).toEqual([1.5, -2.25, 0, 3]);
    const asInt = tf.cast(same, "int32");
    const asBool = tf.cast(same, "bool");
    const back = tf.cast(asInt, "float32");
    expect([asInt.dtype, Array.from(asInt.dataSync())]).toEqual(["int32", [1, -2, 0, 3]]);
    expect([asBool.dtype, Array.from(asBool.dataSync())]).toEqual(["bool", [1, 1, 0, 1]]);
    expect([back.dtype, Array.from(back.dataSync())]).toEqual(["float32", [1, -2, 0, 3]]);
    // ReLU's gradient casts float32 to float32: same values as on the pure-JS backend.
    const grad = (values: number[]) => tf.tidy(() => Array.from(tf.grad((t) => tf.relu(t).mul(tf.tensor1d([1, 2, 3, 4])).sum())(tf.tensor1d(values)).dataSync()));
    expect(grad([-1, 2, -3, 4])).toEqual([0, 2, 0, 4]);
    tf.dispose([same, asInt, asBool, back]);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers);
  });
});

describe("Slice on wasm reads the input in place", () => {
  it("matches the pure-JS backend for contiguous and strided slices of every rank and dtype", async () => {
    const cases: { shape: number[]; begin: number[]; size: number[] }[] = [
      { shape: [10], begin: [3], size: [4] },
      { shape: [6, 5], begin: [2, 0], size: [3, 5] }, // contiguous rows
      { shape: [6, 5], begin: [1, 2], size: [4, 2] }, // strided
      { shape: [7, 4, 3], begin: [2, 1, 0], size: [3, -1, 2] },
      { shape: [40, 8, 8, 3], begin: [32, 0, 0, 0], size: [8, 8, 8, 3] }, // a predict() batch
      { shape: [5, 6, 7, 3], begin: [1, 2, 3, 1], size: [3, 2, 4, 2] },
      { shape: [3, 4, 5, 2, 3], begin: [1, 0, 2, 1, 0], size: [2, 4, 3, 1, 3] },
      { shape: [4, 3], begin: [0, 0], size: [0, 3] }, // empty
    ];
    const run = () =>
      cases.flatMap(({ shape, begin, size }, i) =>
        (["float32", "int32", "bool"] as const).map((dtype) =>
          tf.tidy(() => {
            const n = shape.reduce((a, b) => a * b, 1);
            const values = Array.from(randomValues(n, 40 + i), (v) => (dtype === "float32" ? v : dtype === "int32" ? Math.round(v * 1000) : v > 0 ? 1 : 0));
            const s = tf.slice(tf.tensor(values, shape, dtype), begin, size);
            return { dtype: s.dtype, shape: s.shape, values: Array.from(s.dataSync()) };
          })));
    const { cpu, wasm } = await onCpuThenWasm(run);
    expect(wasm).toEqual(cpu);
    expect(cpu[0].values.length).toBe(4);
    const words = tf.slice(tf.tensor1d(["a", "b", "c"], "string"), [1], [2]);
    expect(await words.array()).toEqual(["b", "c"]);
    words.dispose();
  });
});
