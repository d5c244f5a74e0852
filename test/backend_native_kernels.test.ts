/**
 * lepton's own WebAssembly SIMD kernels (native/lepton_kernels.c via src/backend/wasm_native.ts) against
 * TensorFlow.js's pure-JS backend: per-channel Sum and Mean, per-channel Add/Sub/Multiply/RealDiv on
 * either side, their gradients, odd channel counts (not multiples of 4), rows that are not multiples of the
 * summing block, batch sizes 1..130, and the fallback (LEPTON_NATIVE_KERNELS=0). Both builds of the module
 * (plain memory, shared memory) are also run directly on a memory of their own against a JS reference.
 * The convolutions large enough for the helper threads (wasm_native_pool.ts) run with three threads
 * (LEPTON_NATIVE_THREADS=3, whatever the machine) and must give bit for bit the one-thread results.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { spawnSync } from "child_process";
import * as path from "path";
import { kernelsFor, nativeKernelsStatus, nativePool, relaxedSimdAvailable } from "../src/backend/wasm_native";
import { SHARED_WASM_BASE64 } from "../src/backend/wasm_native_binary";
import { KIND_FORWARD, runNativeChunk, startNativePool } from "../src/backend/wasm_native_pool";
import { maxRelError, onCpuThenWasm, randomValues } from "./backend_helpers";

const count = (s: number[]) => s.reduce((a, b) => a * b, 1);

beforeAll(async () => {
  process.env.LEPTON_NATIVE_THREADS = "3"; // the main thread and two helpers, on any machine
  const info = await ready();
  expect(info.name).toBe("wasm");
});
afterEach(() => {
  delete process.env.LEPTON_NATIVE_KERNELS;
  process.env.LEPTON_NATIVE_THREADS = "3";
});

describe("lepton's SIMD kernels are active on this wasm backend", () => {
  it("binds to tfjs's heap (shared memory in the threaded build)", () => {
    // With relaxed SIMD's fused multiply-add wherever this Node runs it (Node 20: behind a V8 flag lepton sets).
    expect(nativeKernelsStatus(tf.backend() as any)).toEqual({ active: true, instructions: relaxedSimdAvailable() ? "relaxed-simd" : "simd128" });
    if (/^v(20|2[2-9]|[3-9]\d)\./.test(process.version)) expect(relaxedSimdAvailable()).toBe(true);
    process.env.LEPTON_NATIVE_KERNELS = "0";
    expect(nativeKernelsStatus(tf.backend() as any)).toEqual({ active: false, reason: "LEPTON_NATIVE_KERNELS=0" });
  });
});

describe("per-channel Sum and Mean match the pure-JS backend", () => {
  // Channels that are not whole vectors are summed as groups of rows (9: 4 rows; 6: 6 rows), with a last
  // partial group: 105 = 26 * 4 + 1 rows, 130 = 32 * 4 + 2, 129 = 4 * 32 + 1, LeNet's 64x28x28x6.
  const shapes: number[][] = [[3, 5, 7, 9], [2, 3], [130, 17], [1, 1, 1, 1], [64, 4, 4, 130], [5, 2, 3, 64], [1, 65, 4], [129, 1], [64, 28, 28, 6], [7, 3, 3]];
  for (const shape of shapes) {
    for (const kind of ["sum", "mean"] as const) {
      for (const keepDims of [false, true]) {
        it(`${kind} over the leading axes of ${shape.join("x")}${keepDims ? ", keepDims" : ""}`, async () => {
          const v = randomValues(count(shape), shape.length * 31 + shape[0]);
          const axes = shape.slice(0, -1).map((_, i) => (i % 2 ? i - shape.length : i)); // some negative
          const run = () => tf.tidy(() => {
            const t = tf.tensor(v, shape).add(0.25); // a non-zero mean: the sums do not cancel
            const y = tf[kind](t, axes, keepDims);
            return { shape: y.shape, y: y.dataSync().slice() };
          });
          const { cpu, wasm } = await onCpuThenWasm(run);
          expect(wasm.shape).toEqual(cpu.shape);
          expect(maxRelError(cpu.y, wasm.y)).toBeLessThan(2e-5);
        });
      }
    }
  }

  it("other reductions (one axis, int32) keep their results", async () => {
    const v = randomValues(4 * 6 * 5, 3);
    const run = () => tf.tidy(() => {
      const t = tf.tensor(v, [4, 6, 5]);
      return { a: tf.sum(t, 1).dataSync().slice(), b: tf.mean(t, [0, 2]).dataSync().slice(), c: tf.sum(tf.tensor([[1, 2], [3, 4]], [2, 2], "int32"), 0).dataSync().slice() };
    });
    const { cpu, wasm } = await onCpuThenWasm(run);
    expect(maxRelError(cpu.a, wasm.a)).toBeLessThan(1e-5);
    expect(maxRelError(cpu.b, wasm.b)).toBeLessThan(1e-5);
    expect(Array.from(wasm.c)).toEqual([4, 6]);
  });
});

type Op = "add" | "sub" | "mul" | "div";
const apply = (op: Op, a: tf.Tensor, b: tf.Tensor) => (op === "div" ? tf.div(a, b) : tf[op](a, b));

describe("per-channel Add, Sub, Multiply, RealDiv match the pure-JS backend, values and gradients", () => {
  const cases: [number[], number[]][] = [
    [[3, 5, 7, 9], [9]],
    [[9], [2, 5, 3, 9]],
    [[1, 1, 1, 5], [4, 6, 6, 5]],
    [[7, 300], [300]], // rows longer than the old grouping's 256
    [[2, 3, 3, 1], [1]],
    [[130, 19], [1, 19]],
    [[3], [1, 1, 3]], // same size: the result has the higher rank
    [[1, 1, 3], [3]],
    [[64, 4, 4, 128], [1, 1, 1, 128]],
    [[5, 28, 28, 6], [6]], // LeNet's bias: rows taken 6 at a time, 4 left over
    [[4, 9, 9, 16], [4, 9, 9, 16]], // same shapes: a residual add, one row of every element
    [[7, 3], [7, 3]],
    [[1], [1]],
    [[], [5, 3, 32]], // a single value (an optimizer's learning rate) against a tensor, both orders
    [[4, 7, 3], []],
    [[1, 1], [130]],
    [[], [1]],
    [[6], [3, 7, 6]],
  ];
  for (const [as, bs] of cases) {
    for (const op of ["add", "sub", "mul", "div"] as Op[]) {
      it(`${op} ${as.join("x")} with ${bs.join("x")}`, async () => {
        const av = randomValues(count(as), as.length + 5);
        const bv = randomValues(count(bs), bs.length + 11).map((x) => (op === "div" ? x + 1.5 : x));
        const run = () => tf.tidy(() => {
          const a = tf.tensor(av, as), b = tf.tensor(bv, bs);
          const y = apply(op, a, b);
          const w = tf.tensor(randomValues(y.size, 17), y.shape);
          const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => apply(op, p, q).mul(w).sum())([a, b]);
          return { shape: y.shape, y: y.dataSync().slice(), ga: ga.dataSync().slice(), gb: gb.dataSync().slice() };
        });
        const { cpu, wasm } = await onCpuThenWasm(run);
        expect(wasm.shape).toEqual(cpu.shape);
        expect(maxRelError(cpu.y, wasm.y)).toBeLessThan(1e-6);
        expect(maxRelError(cpu.ga, wasm.ga)).toBeLessThan(1e-4);
        expect(maxRelError(cpu.gb, wasm.gb)).toBeLessThan(1e-4);
      });
    }
  }

  it("the same numbers with LEPTON_NATIVE_KERNELS=0 (the fallback path)", async () => {
    const av = randomValues(6 * 10 * 7, 1), bv = randomValues(7, 2);
    const run = () => tf.tidy(() => {
      const a = tf.tensor(av, [6, 10, 7]), b = tf.tensor(bv, [7]);
      return { y: tf.mul(a, b).sub(b).dataSync().slice(), s: tf.sum(a, [0, 1]).dataSync().slice() };
    });
    const native = run();
    process.env.LEPTON_NATIVE_KERNELS = "0";
    const { cpu, wasm } = await onCpuThenWasm(run);
    expect(maxRelError(cpu.y, wasm.y)).toBeLessThan(1e-6);
    expect(maxRelError(cpu.y, native.y)).toBeLessThan(1e-6);
    expect(maxRelError(cpu.s, native.s)).toBeLessThan(1e-5);
  });

  it("a batch-norm training step (conv, BN, ReLU) gives the pure-JS backend's gradients", async () => {
    const x = randomValues(5 * 9 * 9 * 3, 4);
    const run = () => tf.tidy(() => {
      const input = tf.tensor(x, [5, 9, 9, 3]);
      const kernel = tf.tensor(randomValues(3 * 3 * 3 * 6, 9), [3, 3, 3, 6]);
      const gamma = tf.tensor(randomValues(6, 10)).add(1), beta = tf.tensor(randomValues(6, 11));
      const f = (k: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const y = tf.conv2d(input as tf.Tensor4D, k as tf.Tensor4D, 1, "same");
        const { mean, variance } = tf.moments(y, [0, 1, 2]);
        return tf.relu(tf.batchNorm(y, mean, variance, b, g, 1e-3)).square().mean();
      };
      const grads = tf.grads(f)([kernel, gamma, beta]);
      return grads.map((g) => g.dataSync().slice());
    });
    const { cpu, wasm } = await onCpuThenWasm(run);
    for (let i = 0; i < 3; i++) expect(maxRelError(cpu[i], wasm[i])).toBeLessThan(1e-4);
  });
});

describe("MaxPool and MaxPoolGrad (windows that tile the input) match the pure-JS backend, NaN and infinities included", () => {
  // x, window (= stride), padding, and which special values are planted.
  const cases: { x: number[]; size: number | [number, number]; pad: "valid" | "same"; special: boolean }[] = [
    { x: [2, 8, 8, 4], size: 2, pad: "valid", special: false },
    { x: [3, 9, 7, 5], size: 2, pad: "valid", special: true }, // odd sizes: the last row/column is in no window; 5 channels: a partial vector
    { x: [2, 31, 31, 32], size: 2, pad: "valid", special: true }, // airbench's first pool
    { x: [1, 6, 6, 36], size: 2, pad: "same", special: true }, // "same" with no padding needed
    { x: [2, 9, 9, 6], size: 3, pad: "valid", special: true },
    { x: [3, 4, 4, 20], size: 4, pad: "valid", special: true }, // a global max pool
    { x: [2, 5, 5, 3], size: 1, pad: "valid", special: true },
    { x: [2, 7, 8, 6], size: [2, 3], pad: "valid", special: true }, // windows that are not square
    { x: [2, 7, 7, 8], size: 2, pad: "same", special: true }, // "same" that pads: the general path
  ];
  for (const [i, c] of cases.entries()) {
    for (const native of [true, false]) {
      it(`x ${c.x.join("x")} window ${c.size} stride ${c.size} ${c.pad}${c.special ? ", with ties, NaN and infinities" : ""}${native ? "" : " (LEPTON_NATIVE_KERNELS=0)"}`, async () => {
        const n = count(c.x);
        const xv = randomValues(n, 601 + i).map((v) => (c.special ? Math.floor(v * 4) : v));
        if (c.special) {
          // Scattered NaN and infinities, and whole windows of NaN and of -Infinity (the first window of
          // the first image's channel 0 and channel 1).
          for (let k = 0; k < n; k += 7) xv[k] = [NaN, -Infinity, Infinity][k % 3];
          const [, , w, ch] = c.x;
          const [fh, fw] = typeof c.size === "number" ? [c.size, c.size] : c.size;
          for (let p = 0; p < fh; p++) for (let q = 0; q < fw; q++) {
            xv[(p * w + q) * ch] = NaN;
            if (ch > 1) xv[(p * w + q) * ch + 1] = -Infinity;
          }
        }
        const grad = () => {
          const x = tf.tensor4d(xv, c.x as [number, number, number, number]);
          // A distinct weight per pooled value, so a gradient sent to the wrong window shows.
          const weighted = (a: tf.Tensor) => {
            const pooled = tf.maxPool(a as tf.Tensor4D, c.size, c.size, c.pad);
            return pooled.mul(tf.range(1, 1 + pooled.size).reshape(pooled.shape)).sum();
          };
          const gx = tf.grad(weighted)(x);
          const y = tf.maxPool(x, c.size, c.size, c.pad);
          const out = { g: Array.from(gx.dataSync()), y: Array.from(y.dataSync()) };
          tf.dispose([x, gx, y]);
          return out;
        };
        if (!native) process.env.LEPTON_NATIVE_KERNELS = "0";
        const { cpu, wasm: both } = await onCpuThenWasm(grad);
        const wasm = both.g;
        expect(wasm).toEqual(cpu.g);
        // lepton's MaxPool: the pure-JS backend's values, NaN never the maximum (XNNPACK's may differ).
        const [fh, fw] = typeof c.size === "number" ? [c.size, c.size] : c.size;
        const tiles = c.pad === "valid" || (c.x[1] % fh === 0 && c.x[2] % fw === 0);
        if (native && tiles) expect(both.y).toEqual(cpu.y);
        const area = typeof c.size === "number" ? c.size * c.size : c.size[0] * c.size[1];
        expect(wasm.filter((v) => v !== 0).length).toBeGreaterThan(n / (area * 2));
        if (c.special) expect(wasm[0]).toBe(0); // the all-NaN window sends its gradient nowhere
      });
    }
  }

  it("overlapping windows with NaN (the general path) agree too", async () => {
    const shape: [number, number, number, number] = [2, 9, 7, 4];
    const xv = randomValues(count(shape), 77).map((v, k) => (k % 5 === 0 ? NaN : k % 11 === 0 ? -Infinity : Math.floor(v * 4)));
    const grad = () => tf.tidy(() => Array.from(tf.grad((a: tf.Tensor) => {
      const pooled = tf.maxPool(a as tf.Tensor4D, 3, 2, "same");
      return pooled.mul(tf.range(1, 1 + pooled.size).reshape(pooled.shape)).sum();
    })(tf.tensor4d(xv, shape)).dataSync()));
    const { cpu, wasm } = await onCpuThenWasm(grad);
    expect(wasm).toEqual(cpu);
  });
});

describe("FusedBatchNorm with per-channel statistics matches the pure-JS backend", () => {
  const cases: { x: number[]; stats: number[]; offset: boolean; scale: boolean }[] = [
    { x: [5, 3, 3, 7], stats: [7], offset: true, scale: true },
    { x: [4, 10], stats: [10], offset: false, scale: false },
    { x: [2, 4, 4, 16], stats: [1, 1, 1, 16], offset: true, scale: false },
    { x: [3, 2, 2, 33], stats: [33], offset: false, scale: true },
    { x: [3, 4], stats: [3, 4], offset: true, scale: true }, // statistics of x's shape: the previous kernel
  ];
  for (const c of cases) {
    for (const native of [true, false]) {
      it(`x ${c.x.join("x")}, statistics ${c.stats.join("x")}${c.offset ? ", offset" : ""}${c.scale ? ", scale" : ""}${native ? "" : " (LEPTON_NATIVE_KERNELS=0)"}`, async () => {
        const m = count(c.stats);
        const xv = randomValues(count(c.x), c.x[0] * 13 + m);
        const run = () => tf.tidy(() => {
          const t = (v: Float32Array) => tf.tensor(v, c.stats);
          const y = tf.batchNorm(tf.tensor(xv, c.x), t(randomValues(m, 1)), t(randomValues(m, 2).map((v) => v + 0.6)),
            c.offset ? t(randomValues(m, 3)) : undefined, c.scale ? t(randomValues(m, 4).map((v) => v * 3)) : undefined, 0.05);
          return Array.from(y.dataSync());
        });
        if (!native) process.env.LEPTON_NATIVE_KERNELS = "0";
        const { cpu, wasm } = await onCpuThenWasm(run);
        expect(maxRelError(cpu, wasm)).toBeLessThan(2e-6);
      });
    }
  }
});

describe("BatchNormalization layers in training (two fused kernels on wasm) match the pure-JS backend", () => {
  // Input shape, and whether a convolution (4-D) or a dense layer (2-D) feeds the batch norm.
  const cases: { x: number[]; units: number }[] = [
    { x: [6, 5, 5, 3], units: 7 }, // 7 channels: a scalar tail; 150 rows: past one summing block
    { x: [2, 9, 9, 4], units: 32 },
    { x: [130, 5], units: 33 }, // 2-D
    { x: [1, 3, 3, 2], units: 4 }, // one image
  ];
  for (const c of cases) {
    for (const native of [true, false]) {
      it(`x ${c.x.join("x")} into ${c.units} channels: gradients, outputs and moving statistics${native ? "" : " (LEPTON_NATIVE_KERNELS=0: the layer's own call)"}`, async () => {
        const xv = randomValues(count(c.x), c.x[0] * 7 + c.units).map((v) => v * 3 + 0.5); // a mean and spread to normalise away
        const run = () => {
          const model = tf.sequential();
          if (c.x.length === 4) model.add(tf.layers.conv2d({ inputShape: c.x.slice(1), filters: c.units, kernelSize: 3, padding: "same", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
          else model.add(tf.layers.dense({ inputShape: c.x.slice(1), units: c.units, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
          model.add(tf.layers.batchNormalization({ momentum: 0.8, gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 2 }), betaInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: 3 }) }));
          if (c.x.length === 4) model.add(tf.layers.flatten());
          model.add(tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }));
          const x = tf.tensor(xv, c.x);
          const out: Record<string, number[]> = {};
          const { value, grads } = tf.variableGrads(() => {
            const y = model.apply(x, { training: true }) as tf.Tensor;
            out.y = Array.from(y.dataSync());
            return y.square().mean() as tf.Scalar;
          });
          // Gradients in the order of the trainable weights (kernel, bias, gamma, beta, kernel, bias), then
          // the batch norm's gamma, beta, moving mean and moving variance after the step's update.
          model.trainableWeights.forEach((w, i) => (out[`grad ${i}`] = Array.from(grads[(w.read() as tf.Variable).name].dataSync())));
          model.layers[1].getWeights(false).forEach((w, i) => (out[`batch norm weight ${i}`] = Array.from(w.dataSync())));
          out.loss = [value.dataSync()[0]];
          tf.dispose([x, value, ...Object.values(grads)]);
          model.dispose();
          return out;
        };
        if (!native) process.env.LEPTON_NATIVE_KERNELS = "0";
        const { cpu, wasm } = await onCpuThenWasm(run);
        expect(Object.keys(wasm).sort()).toEqual(Object.keys(cpu).sort());
        expect(Object.keys(cpu).length).toBe(12);
        expect(cpu["batch norm weight 2"]).not.toEqual(new Array(c.units).fill(0)); // the moving mean moved
        for (const k of Object.keys(cpu)) expect(maxRelError(cpu[k], wasm[k]), k).toBeLessThan(2e-5);
      });
    }
  }

  it("run as the two kernels on wasm, and as the layer's own ops with LEPTON_NATIVE_KERNELS=0", async () => {
    await tf.setBackend("wasm");
    const kernelsOf = async () => {
      const model = tf.sequential({ layers: [tf.layers.batchNormalization({ inputShape: [4, 4, 8] })] });
      const x = tf.randomNormal([3, 4, 4, 8], 0, 1, "float32", 5);
      const profile = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => (model.apply(x, { training: true }) as tf.Tensor).sum() as tf.Scalar);
        tf.dispose([value, ...Object.values(grads)]);
      });
      tf.dispose(x);
      model.dispose();
      return profile.kernels.map((k) => k.name);
    };
    expect(await kernelsOf()).toEqual(expect.arrayContaining(["LeptonBatchNormTraining", "LeptonBatchNormTrainingGrad"]));
    process.env.LEPTON_NATIVE_KERNELS = "0";
    const fallback = await kernelsOf();
    expect(fallback).not.toContain("LeptonBatchNormTraining");
    expect(fallback).toEqual(expect.arrayContaining(["FusedBatchNorm", "Mean"]));
  });

  it("a gradient of a gradient, and an axis other than the last, take the layer's own ops and match the pure-JS backend", async () => {
    const xv = randomValues(4 * 3 * 3 * 5, 12).map((v) => 2 * v + 0.3);
    const run = () => {
      const last = tf.layers.batchNormalization({ inputShape: [3, 3, 5] });
      const second = tf.layers.batchNormalization({ inputShape: [3, 3, 5], axis: 1 });
      const models = [tf.sequential({ layers: [last] }), tf.sequential({ layers: [second] })];
      const x = tf.tensor(xv, [4, 3, 3, 5]);
      const out: number[][] = [];
      for (const [i, model] of models.entries()) {
        if (i === 1) {
          // Axis 1: the forward pass and the moving statistics only (TensorFlow.js itself cannot take this
          // gradient on any backend: its broadcast batch-norm gradient fails a reshape).
          const y = model.apply(x, { training: true }) as tf.Tensor;
          out.push(Array.from(y.dataSync()), ...model.layers[0].getWeights(false).map((w) => Array.from(w.dataSync())));
          y.dispose();
        } else {
          const g1 = tf.grad((a: tf.Tensor) => (model.apply(a, { training: true }) as tf.Tensor).pow(3).sum())(x);
          out.push(Array.from(g1.dataSync()));
          g1.dispose();
          // d/dx of sum((d/dx sum(y^3))^2): needs the gradient of the batch norm's gradient.
          const inner = (a: tf.Tensor) => tf.grad((b: tf.Tensor) => (model.apply(b, { training: true }) as tf.Tensor).pow(3).sum())(a);
          const g2 = tf.grad((a: tf.Tensor) => inner(a).square().sum())(x);
          out.push(Array.from(g2.dataSync()));
          g2.dispose();
        }
        model.dispose();
      }
      x.dispose();
      return out;
    };
    const { cpu, wasm } = await onCpuThenWasm(run);
    for (let i = 0; i < cpu.length; i++) expect(maxRelError(cpu[i], wasm[i]), `result ${i}`).toBeLessThan(1e-3);
    expect(cpu.length).toBe(7);
    expect(Math.max(...cpu[1].map(Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe("Conv2D, FusedConv2D and Conv2DBackpropFilter (lepton's direct SIMD loops) match the pure-JS backend", () => {
  type Pad = "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]];
  const cases: { x: number[]; w: number[]; stride: number | [number, number]; pad: Pad }[] = [
    { x: [2, 8, 8, 3], w: [3, 3, 3, 16], stride: 1, pad: "same" }, // ResNet-9's first layer, small
    { x: [3, 7, 9, 5], w: [3, 3, 5, 7], stride: 1, pad: "same" }, // odd everything, cout not a multiple of 4
    { x: [1, 11, 6, 4], w: [5, 2, 4, 9], stride: [2, 1], pad: "valid" },
    { x: [5, 9, 9, 6], w: [3, 3, 6, 12], stride: 2, pad: "same" },
    { x: [2, 10, 10, 3], w: [5, 5, 3, 6], stride: 1, pad: "valid" }, // LeNet's first layer
    { x: [1, 6, 7, 2], w: [3, 3, 2, 3], stride: 1, pad: 2 }, // explicit padding bigger than 'same'
    { x: [2, 6, 5, 9], w: [2, 4, 9, 1], stride: [1, 3], pad: [[0, 0], [1, 0], [0, 3], [0, 0]] }, // asymmetric
    { x: [7, 4, 4, 32], w: [3, 3, 32, 32], stride: 1, pad: "same" }, // a batch of 7, the residual blocks' shape
    { x: [1, 3, 3, 1], w: [3, 3, 1, 1], stride: 1, pad: "valid" }, // one output pixel
    { x: [2, 5, 13, 3], w: [1, 1, 3, 10], stride: 1, pad: "valid" }, // 1x1, rows not a multiple of 4 pixels
    { x: [3, 8, 8, 8], w: [3, 3, 8, 8], stride: 3, pad: "same" }, // stride 3: dx through the dilated path
    // Large enough (over 2^20 multiply-adds) for the helper threads: rows not a multiple of the chunks.
    { x: [9, 16, 16, 16], w: [3, 3, 16, 32], stride: 1, pad: "same" },
    { x: [6, 33, 31, 8], w: [3, 3, 8, 16], stride: 2, pad: "same" },
    { x: [3, 21, 19, 12], w: [5, 3, 12, 20], stride: [1, 2], pad: "valid" },
  ];
  for (const c of cases) {
    it(`dW for x ${c.x.join("x")} filter ${c.w.join("x")} stride ${c.stride} pad ${JSON.stringify(c.pad)}`, async () => {
      const xv = randomValues(count(c.x), c.x[0] * 7 + c.w[3]);
      const wv = randomValues(count(c.w), c.w[2] * 3 + 1);
      const run = () => tf.tidy(() => {
        const x = tf.tensor4d(xv, c.x as [number, number, number, number]);
        const w = tf.tensor4d(wv, c.w as [number, number, number, number]);
        const y = tf.conv2d(x, w, c.stride, c.pad as any);
        const g = tf.tensor(randomValues(y.size, 5), y.shape);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad as any).mul(g).sum())([x, w]);
        // FusedConv2D: without bias (lepton's loop) and with bias + relu (the shipped kernel).
        const bias = tf.tensor1d(randomValues(c.w[3], 3));
        const f0 = tf.fused.conv2d({ x, filter: w, strides: c.stride, pad: c.pad as any });
        const f1 = tf.fused.conv2d({ x, filter: w, strides: c.stride, pad: c.pad as any, bias, activation: "relu" });
        return { y: y.dataSync().slice(), f0: f0.dataSync().slice(), f1: f1.dataSync().slice(), dx: dx.dataSync().slice(), dw: dw.dataSync().slice() };
      });
      const { cpu, wasm } = await onCpuThenWasm(run);
      process.env.LEPTON_NATIVE_CONV = "1"; // FusedConv2D through lepton's loop
      const forced = run();
      process.env.LEPTON_NATIVE_CONV = "0"; // and through XNNPACK's
      const xnnpack = run();
      delete process.env.LEPTON_NATIVE_CONV;
      expect(maxRelError(cpu.f0, forced.f0)).toBeLessThan(1e-5);
      expect(maxRelError(cpu.f1, forced.f1)).toBeLessThan(1e-5);
      expect(maxRelError(cpu.f0, xnnpack.f0)).toBeLessThan(1e-5);
      expect(maxRelError(cpu.f1, xnnpack.f1)).toBeLessThan(1e-5);
      expect(maxRelError(cpu.y, wasm.y)).toBeLessThan(1e-5);
      expect(maxRelError(cpu.f0, wasm.f0)).toBeLessThan(1e-5);
      expect(maxRelError(cpu.f1, wasm.f1)).toBeLessThan(1e-5);
      expect(maxRelError(cpu.dw, wasm.dw)).toBeLessThan(1e-4);
      expect(maxRelError(cpu.dx, wasm.dx)).toBeLessThan(1e-4);
    });
  }

  it("the transposed-convolution path (LEPTON_NATIVE_KERNELS=0) gives the same dW", async () => {
    const xv = randomValues(3 * 9 * 9 * 5, 8), wv = randomValues(3 * 3 * 5 * 8, 9);
    const run = () => tf.tidy(() => {
      const [, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same").square().sum())([tf.tensor4d(xv, [3, 9, 9, 5]), tf.tensor4d(wv, [3, 3, 5, 8])]);
      return dw.dataSync().slice();
    });
    const native = run();
    process.env.LEPTON_NATIVE_KERNELS = "0";
    const fallback = run();
    expect(maxRelError(fallback, native)).toBeLessThan(1e-4);
    expect(maxRelError(fallback, native)).toBeGreaterThan(0); // two different computations
  });
});

describe("BatchMatMul (matmul_rows, the convolution's tiles) matches the pure-JS backend", () => {
  // [a shape, b shape, transposeA, transposeB]: odd sizes (columns 1-7 past a multiple of 8, rows not a
  // multiple of 4), LeNet's dense layers and their gradients, batches that broadcast, and products large
  // enough for the helper threads.
  const cases: [number[], number[], boolean, boolean][] = [
    [[64, 400], [400, 120], false, false], // LeNet's first dense layer
    [[64, 120], [400, 120], false, true], // its input gradient
    [[64, 400], [64, 120], true, false], // its weight gradient
    [[1, 1], [1, 1], false, false],
    [[3, 5], [5, 7], false, false],
    [[7, 3], [7, 6], true, false],
    [[2, 9], [13, 9], false, true],
    [[5, 2], [11, 5], true, true],
    [[3, 5, 4], [3, 4, 6], false, false], // batches
    [[3, 4, 5], [3, 6, 4], true, true],
    [[1, 6, 3], [4, 3, 9], false, false], // a broadcast over b's batch
    [[4, 6, 3], [1, 3, 9], false, false], // b broadcast (one product of 24 rows)
    [[2, 3, 6, 3], [3, 5], false, false], // a rank-2 b against a rank-4 a
    [[6, 0], [0, 5], false, false], // k = 0: zeros
    [[0, 4], [4, 3], false, false], // empty
    [[257, 130], [130, 67], false, false], // helper threads, ragged tiles
    [[2, 130, 96], [2, 96, 33], false, false],
  ];
  for (const [as, bs, ta, tb] of cases) {
    it(`${as.join("x")}${ta ? "ᵀ" : ""} times ${bs.join("x")}${tb ? "ᵀ" : ""}`, async () => {
      const av = randomValues(count(as), as.length * 31 + count(as)), bv = randomValues(count(bs), bs.length * 7 + count(bs));
      const run = () => tf.tidy(() => {
        const y = tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb);
        return { shape: y.shape, values: y.dataSync().slice() };
      });
      const { cpu, wasm } = await onCpuThenWasm(run);
      expect(wasm.shape).toEqual(cpu.shape);
      expect(maxRelError(cpu.values, wasm.values)).toBeLessThan(1e-5);
      process.env.LEPTON_NATIVE_KERNELS = "0"; // XNNPACK's product: the same numbers
      const xnnpack = run();
      expect(maxRelError(cpu.values, xnnpack.values)).toBeLessThan(1e-5);
    });
  }

  it("a dense layer's gradients agree too", async () => {
    const run = () => tf.tidy(() => {
      const x = tf.tensor2d(randomValues(37 * 29, 4), [37, 29]);
      const w = tf.tensor2d(randomValues(29 * 14, 5), [29, 14]);
      const [dx, dw] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.matMul(p as tf.Tensor2D, q as tf.Tensor2D).relu().square().sum())([x, w]);
      return { dx: dx.dataSync().slice(), dw: dw.dataSync().slice() };
    });
    const { cpu, wasm } = await onCpuThenWasm(run);
    expect(maxRelError(cpu.dx, wasm.dx)).toBeLessThan(1e-5);
    expect(maxRelError(cpu.dw, wasm.dw)).toBeLessThan(1e-5);
  });
});

describe("ReLU (one SIMD pass) matches the pure-JS backend", () => {
  it("NaN, infinities and signed zeros pass as in TensorFlow.js; odd sizes", async () => {
    for (const n of [1, 9, 4099]) {
      const v = randomValues(n, n);
      [NaN, Infinity, -Infinity, -0, 0, -1e-38, 5].forEach((s, i) => i < n && (v[(i * 3) % n] = s));
      const run = () => tf.tidy(() => tf.relu(tf.tensor1d(v)).dataSync().slice());
      const { cpu, wasm } = await onCpuThenWasm(run);
      expect(Array.from(wasm).map((x) => (Object.is(x, -0) ? "-0" : String(x)))).toEqual(Array.from(cpu).map((x) => (Object.is(x, -0) ? "-0" : String(x))));
    }
  });
});

describe("ReLU's gradient (one pass) matches the pure-JS backend's Step and Multiply", () => {
  const special = [NaN, Infinity, -Infinity, 0, -0, 1e-38, -1e-38, 3, -3];
  for (const n of [1, 7, 64 * 9 * 9 * 6]) {
    it(`${n} values, NaN, infinities and signed zeros in x and in dy`, async () => {
      const xv = randomValues(n, n + 1), dv = randomValues(n, n + 2);
      for (let i = 0; i < Math.min(n, special.length); i++) xv[i] = special[i];
      for (let i = 0; i < Math.min(n, special.length); i++) dv[(i * 5) % n] = special[(i + 4) % special.length];
      const run = () => tf.tidy(() => {
        const x = tf.tensor1d(xv);
        const dy = tf.tensor1d(dv);
        const g = tf.grad((t: tf.Tensor) => tf.relu(t).mul(dy).sum())(x);
        return g.dataSync().slice();
      });
      const { cpu, wasm } = await onCpuThenWasm(run);
      expect(Array.from(wasm).map((v) => (Object.is(v, -0) ? "-0" : String(v)))).toEqual(Array.from(cpu).map((v) => (Object.is(v, -0) ? "-0" : String(v))));
    });
  }

  it("runs as one kernel on wasm; TensorFlow.js's Step and Multiply with LEPTON_NATIVE_KERNELS=0 and for a gradient of a gradient", async () => {
    const x = tf.tensor2d(randomValues(6 * 5, 3), [6, 5]);
    const kernels = async () => (await tf.profile(() => tf.tidy(() => tf.grad((t: tf.Tensor) => tf.relu(t).square().sum())(x).dataSync()))).kernels.map((k) => k.name);
    expect(await kernels()).toContain("LeptonReluGrad");
    expect(await kernels()).not.toContain("Step");
    process.env.LEPTON_NATIVE_KERNELS = "0";
    expect(await kernels()).not.toContain("LeptonReluGrad");
    expect(await kernels()).toContain("Step");
    delete process.env.LEPTON_NATIVE_KERNELS;
    // d/dx of sum(d/dx sum(relu(x)^3)) = 6 relu(x) step(x), through the original gradient's ops.
    const second = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.relu(u).pow(3).sum())(t).sum())(x).dataSync().slice());
    const xs = x.dataSync();
    expect(maxRelError(Array.from(xs, (v) => (v > 0 ? 6 * v : 0)), second)).toBeLessThan(1e-5);
    x.dispose();
  });
});

describe("the helper threads (LEPTON_NATIVE_THREADS)", () => {
  const shapes = { x: [7, 18, 14, 16] as [number, number, number, number], w: [3, 3, 16, 24] as [number, number, number, number] };
  const xv = randomValues(shapes.x.reduce((a, b) => a * b), 11), wv = randomValues(shapes.w.reduce((a, b) => a * b), 12);
  const step = () => tf.tidy(() => {
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same").square().sum())([tf.tensor4d(xv, shapes.x), tf.tensor4d(wv, shapes.w)]);
    return { y: tf.conv2d(tf.tensor4d(xv, shapes.x), tf.tensor4d(wv, shapes.w), 1, "same").dataSync().slice(), dx: dx.dataSync().slice(), dw: dw.dataSync().slice() };
  });
  const helpersReady = async () => {
    const pool = nativePool(tf.backend() as any);
    expect(pool).not.toBeNull();
    for (let i = 0; i < 600 && pool!.ready() < pool!.threads - 1; i++) await new Promise((r) => setTimeout(r, 50));
    expect(pool!.ready()).toBe(2);
    return pool!;
  };

  it("take chunks of the convolutions and give the one-thread results bit for bit, call after call", async () => {
    const pool = await helpersReady();
    process.env.LEPTON_NATIVE_THREADS = "1";
    const alone = step();
    process.env.LEPTON_NATIVE_THREADS = "3";
    const before = pool.helped();
    for (let i = 0; i < 40; i++) {
      const r = step();
      expect(Buffer.from(r.y.buffer).equals(Buffer.from(alone.y.buffer))).toBe(true);
      expect(Buffer.from(r.dx.buffer).equals(Buffer.from(alone.dx.buffer))).toBe(true);
      expect(Buffer.from(r.dw.buffer).equals(Buffer.from(alone.dw.buffer))).toBe(true);
    }
    // 40 steps of 3 pooled calls (forward, the input gradient as a convolution, the weight gradient).
    expect(pool.helped() - before).toBeGreaterThan(0);
  });

  it("split the memory-bound passes (Relu, its gradient, batch norm, max pools) with the one-thread results bit for bit, and the pure-JS backend's", async () => {
    const pool = await helpersReady();
    const shape: [number, number, number, number] = [13, 48, 46, 24]; // 688,896 floats a tensor; 13 images for 6 ranges
    const xv = randomValues(shape.reduce((a, b) => a * b), 21);
    const bn = tf.layers.batchNormalization({ axis: -1 });
    bn.build(shape);
    const run = () => tf.tidy(() => {
      const x = tf.tensor4d(xv, shape);
      const f = (a: tf.Tensor) => {
        const y = tf.relu(bn.apply(a, { training: true }) as tf.Tensor);
        return tf.maxPool(y as tf.Tensor4D, 2, 2, "valid").mul(tf.range(0, 13 * 24 * 23 * 24).reshape([13, 24, 23, 24]).mod(7)).sum();
      };
      const g = tf.grad(f)(x);
      const pooled = tf.maxPool(tf.relu(x) as tf.Tensor4D, 2, 2, "valid");
      return [g, pooled].map((t) => t.dataSync().slice());
    });
    process.env.LEPTON_NATIVE_THREADS = "1";
    const alone = run();
    process.env.LEPTON_NATIVE_THREADS = "3";
    const before = pool.helped();
    let split = run();
    for (let r = 0; r < 4; r++) {
      split = run(); // helpers that were asleep for the first passes are polling by now
      for (let i = 0; i < 2; i++) expect(Buffer.from(split[i].buffer).equals(Buffer.from(alone[i].buffer))).toBe(true);
    }
    expect(pool.helped() - before).toBeGreaterThan(0);
    await tf.setBackend("cpu");
    const cpu = run();
    await tf.setBackend("wasm");
    expect(maxRelError(cpu[1], split[1])).toBe(0);
    expect(maxRelError(cpu[0], split[0])).toBeLessThan(1e-4);
    for (const w of bn.weights) w.dispose();
  });

  it("agree with the pure-JS backend", async () => {
    await helpersReady();
    const { cpu, wasm } = await onCpuThenWasm(step);
    expect(maxRelError(cpu.y, wasm.y)).toBeLessThan(1e-5);
    expect(maxRelError(cpu.dx, wasm.dx)).toBeLessThan(1e-4);
    expect(maxRelError(cpu.dw, wasm.dw)).toBeLessThan(1e-4);
  });

  it("survive a chunk that traps, on any thread: the call throws, and the next call is right", async () => {
    const memory = new WebAssembly.Memory({ initial: 32, maximum: 64, shared: true });
    const module = new WebAssembly.Module(Buffer.from(SHARED_WASM_BASE64, "base64"));
    const main = new WebAssembly.Instance(module, { env: { memory } }).exports;
    const pool = startNativePool(memory, module, 3)!;
    try {
      for (let i = 0; i < 600 && pool.ready() < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(pool.ready()).toBe(2);
      const heap = new Float32Array(memory.buffer);
      // 1x1 convolution, 64 rows of 8 pixels, 4 -> 4 channels: y = x * w per pixel.
      const [rows, ow, c] = [64, 8, 4];
      const xAt = 256, wAt = xAt + rows * ow * c, yAt = wAt + c * c;
      heap.set(randomValues(rows * ow * c, 3), xAt);
      heap.set(randomValues(c * c, 4), wAt);
      const params = (x: number) => [x, wAt * 4, yAt * 4, rows, rows, ow, c, rows, ow, c, 1, 1, 1, 1, 0, 0];
      // An input far past the end of memory: every chunk traps, on the main thread and on the helpers.
      expect(() => pool.run(main, KIND_FORWARD, 12, params(1 << 30))).toThrow(/out of bounds|lepton: a native kernel helper thread failed/);
      pool.run(main, KIND_FORWARD, 12, params(xAt * 4));
      const got = heap.slice(yAt, yAt + rows * ow * c);
      runNativeChunk(main, KIND_FORWARD, 0, 1, params(xAt * 4)); // the same on this thread alone
      expect(Buffer.from(got.buffer).equals(Buffer.from(heap.slice(yAt, yAt + rows * ow * c).buffer))).toBe(true);
      expect(got.some((v) => v !== 0)).toBe(true);
    } finally {
      await pool.close(); // returns: every helper leaves its loop
    }
  });

  it("refuse a LEPTON_NATIVE_THREADS that is not a count, saying what to set", () => {
    // Checked when the backend starts, so in a fresh process.
    const probe = spawnSync(process.execPath, ["-e", `require(${JSON.stringify(path.join(__dirname, "..", "dist", "src", "backend"))}).ready().then(() => console.log("started"), (e) => console.log(String(e.message)));`], { encoding: "utf8", cwd: path.join(__dirname, ".."), timeout: 120_000, env: { ...process.env, LEPTON_NATIVE_THREADS: "two" } });
    expect(probe.stdout).toContain("LEPTON_NATIVE_THREADS=two is not a whole number of threads; use 1 to 8");
    expect(probe.stdout).not.toContain("started");
  });

  it("never keep a finished script alive", () => {
    const script = `const tf = require("@tensorflow/tfjs"); require(${JSON.stringify(path.join(__dirname, "..", "dist", "src", "backend"))}).ready().then(() => { for (let i = 0; i < 3; i++) tf.conv2d(tf.ones([8, 32, 32, 16]), tf.ones([3, 3, 16, 32]), 1, "same").dataSync(); setTimeout(() => console.log("done"), 300); });`;
    const child = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", cwd: path.join(__dirname, ".."), timeout: 120_000, env: { ...process.env, LEPTON_NATIVE_THREADS: "3" } });
    expect(child.stdout).toContain("done");
    expect(child.signal).toBeNull(); // not killed by the timeout: it ended by itself
    expect(child.status).toBe(0);
  });
});

describe("all four builds of the module, on a memory of their own, against a JS reference", () => {
  for (const shared of [false, true]) {
    it(`${shared ? "shared" : "plain"} memory: channel_sum and channel_binary on odd sizes`, () => {
      const memory = new WebAssembly.Memory(shared ? { initial: 4, maximum: 64, shared: true } : { initial: 4 });
      const k = kernelsFor(memory);
      expect(k).not.toBeNull();
      const heap = new Float32Array(memory.buffer);
      for (const [rows, c] of [[1, 1], [3, 5], [67, 13], [130, 4], [200, 33]]) {
        const x = randomValues(rows * c, rows + c);
        const vec = randomValues(c, c).map((v) => v + 1.5);
        const xAt = 1024, vAt = xAt + rows * c + 3, outAt = vAt + c + 5, tmpAt = outAt + rows * c + 7; // odd float offsets: unaligned SIMD
        heap.set(x, xAt);
        heap.set(vec, vAt);
        k!.channel_sum(xAt * 4, rows, c, outAt * 4, tmpAt * 4, 0.5);
        const want = new Float64Array(c);
        for (let r = 0; r < rows; r++) for (let ch = 0; ch < c; ch++) want[ch] += x[r * c + ch];
        expect(maxRelError(Array.from(want, (v) => v * 0.5), heap.subarray(outAt, outAt + c))).toBeLessThan(2e-5);
        const ops = [(p: number, q: number) => p + q, (p: number, q: number) => p - q, (p: number, q: number) => p * q, (p: number, q: number) => p / q];
        for (let op = 0; op < 4; op++) {
          for (const vecFirst of [0, 1]) {
            k!.channel_binary(op, xAt * 4, vAt * 4, rows, c, outAt * 4, vecFirst);
            const got = heap.subarray(outAt, outAt + rows * c);
            const ref = Array.from(x, (v, i) => Math.fround(vecFirst ? ops[op](vec[i % c], v) : ops[op](v, vec[i % c])));
            expect(maxRelError(ref, got)).toBeLessThan(1e-6);
          }
        }
        // Nothing written outside the output.
        expect(heap[outAt - 1]).toBe(0);
        expect(heap[outAt + rows * c]).toBe(0);
        heap.fill(0);
      }
    });
  }

  // The convolutions, in each build: SIMD128 (multiply, then add) and relaxed SIMD (fused multiply-add).
  for (const shared of [false, true]) {
    for (const relaxed of [false, true]) {
      // Relaxed SIMD runs from Node 20 (asserted in the first test); Node 18 and 19 keep the SIMD128 builds.
      it.skipIf(relaxed && !relaxedSimdAvailable())(`${shared ? "shared" : "plain"} memory, ${relaxed ? "relaxed SIMD" : "SIMD128"}: conv2d_forward and conv2d_backprop_filter over row ranges`, () => {
        const memory = new WebAssembly.Memory(shared ? { initial: 16, maximum: 64, shared: true } : { initial: 16 });
        const k = kernelsFor(memory, relaxed);
        expect(k).not.toBeNull();
        const heap = new Float32Array(memory.buffer);
        // n, h, w, cin, cout, fh, fw, sh, sw, pt, pl (output size from 'same'-like padding)
        // Output channels 1-7 past a multiple of 8 take partial vectors (LeNet's 6): every remainder, and
        // padding wider than the filter reach (taps that see only zeros).
        for (const [n, h, w, cin, cout, fh, fw, sh, sw, pt, pl] of [[2, 7, 9, 5, 8, 3, 3, 1, 1, 1, 1], [3, 9, 6, 3, 12, 5, 3, 2, 1, 2, 0], [1, 4, 4, 16, 4, 3, 3, 1, 1, 1, 1],
          [2, 6, 7, 3, 6, 5, 5, 1, 1, 4, 4], [1, 5, 6, 2, 1, 3, 3, 1, 2, 1, 1], [2, 4, 5, 7, 2, 2, 3, 1, 1, 0, 2], [1, 6, 6, 4, 3, 3, 3, 2, 2, 1, 1], [1, 5, 5, 6, 5, 3, 3, 1, 1, 1, 1], [2, 3, 9, 1, 7, 3, 3, 1, 1, 1, 1], [1, 4, 4, 9, 11, 3, 3, 1, 1, 1, 1], [1, 4, 4, 3, 13, 3, 3, 1, 1, 1, 1], [1, 4, 4, 3, 14, 3, 3, 1, 1, 1, 1], [1, 4, 4, 3, 15, 3, 3, 1, 1, 1, 1]]) {
          const oh = Math.floor((h + 2 * pt - fh) / sh) + 1, ow = Math.floor((w + 2 * pl - fw) / sw) + 1;
          const x = randomValues(n * h * w * cin, n + cin), f = randomValues(fh * fw * cin * cout, cout), dy = randomValues(n * oh * ow * cout, oh);
          const xAt = 64, fAt = xAt + x.length + 4, dyAt = fAt + f.length + 4, outAt = dyAt + dy.length + 4;
          const zerosAt = outAt + Math.max(n * oh * ow * cout, f.length) + 8; // cin zero floats (the heap starts zeroed)
          heap.set(x, xAt);
          heap.set(f, fAt);
          heap.set(dy, dyAt);
          const X = (b: number, i: number, j: number, c: number) => (i < 0 || i >= h || j < 0 || j >= w ? 0 : x[((b * h + i) * w + j) * cin + c]);
          // Forward, in two row ranges (as two threads would): y[b][i][j][co].
          const rows = n * oh, half = Math.floor(rows / 2);
          heap.fill(NaN, outAt, zerosAt - 4); // every output element must be written; nothing past it
          k!.conv2d_forward(xAt * 4, fAt * 4, outAt * 4, 0, half, h, w, cin, oh, ow, cout, fh, fw, sh, sw, pt, pl, zerosAt * 4);
          k!.conv2d_forward(xAt * 4, fAt * 4, outAt * 4, half, rows, h, w, cin, oh, ow, cout, fh, fw, sh, sw, pt, pl, zerosAt * 4);
          const y = new Float64Array(rows * ow * cout);
          for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let co = 0; co < cout; co++) {
            let acc = 0;
            for (let a = 0; a < fh; a++) for (let c2 = 0; c2 < fw; c2++) for (let ci = 0; ci < cin; ci++) acc += X(b, i * sh + a - pt, j * sw + c2 - pl, ci) * f[((a * fw + c2) * cin + ci) * cout + co];
            y[((b * oh + i) * ow + j) * cout + co] = acc;
          }
          expect(maxRelError(y, heap.subarray(outAt, outAt + y.length))).toBeLessThan(1e-5);
          expect(heap[outAt + y.length]).toBeNaN(); // nothing written past the output
          // Weight gradient over all rows.
          heap.fill(NaN, outAt, zerosAt - 4);
          k!.conv2d_backprop_filter(xAt * 4, dyAt * 4, outAt * 4, 0, rows, h, w, cin, oh, ow, cout, fh, fw, sh, sw, pt, pl);
          const dw = new Float64Array(f.length);
          for (let a = 0; a < fh; a++) for (let c2 = 0; c2 < fw; c2++) for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) {
            let acc = 0;
            for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) acc += X(b, i * sh + a - pt, j * sw + c2 - pl, ci) * dy[((b * oh + i) * ow + j) * cout + co];
            dw[((a * fw + c2) * cin + ci) * cout + co] = acc;
          }
          expect(maxRelError(dw, heap.subarray(outAt, outAt + dw.length))).toBeLessThan(1e-5);
          expect(heap[outAt + dw.length]).toBeNaN();
          expect(heap.subarray(zerosAt, zerosAt + cin).every((v) => v === 0)).toBe(true);
          heap.fill(0);
        }
      });
    }
  }
});
