/**
 * lepton's WebAssembly training kernels against TensorFlow.js's pure-JS backend: the gradients of
 * conv2d (strides 1 and 2, 'same' and 'valid'), max pooling and transposed matrix products must agree
 * on random inputs. Also the backend choice and its LEPTON_BACKEND override.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { ready, backend, backendLine, CPU_BEFORE_READY_HINT } from "../src/backend";
import { ensureBuilt, runCommand } from "./kernel_helpers";
import { requestedThreads } from "../src/backend/wasm_threads";
import { maxRelError, randomValues } from "./backend_helpers";

type Case = { x: number[]; w: number[]; stride: number; pad: "same" | "valid" };

async function onBackend<T>(name: string, fn: () => Promise<T>): Promise<T> {
  await tf.setBackend(name);
  return fn();
}

beforeAll(async () => {
  const info = await ready();
  expect(info.name).toBe("wasm");
});

describe("wasm training kernels agree with the pure-JS backend", () => {
  const cases: Case[] = [
    { x: [2, 9, 9, 3], w: [3, 3, 3, 4], stride: 1, pad: "same" },
    { x: [2, 9, 9, 3], w: [3, 3, 3, 4], stride: 1, pad: "valid" },
    { x: [3, 10, 11, 2], w: [5, 5, 2, 3], stride: 2, pad: "same" },
    { x: [3, 10, 11, 2], w: [4, 4, 2, 3], stride: 2, pad: "valid" },
    { x: [1, 8, 8, 1], w: [2, 2, 1, 2], stride: 2, pad: "same" },
    { x: [4, 32, 32, 3], w: [5, 5, 3, 6], stride: 1, pad: "valid" },
    { x: [2, 7, 6, 5], w: [1, 3, 5, 2], stride: 1, pad: "same" },
    { x: [2, 9, 8, 4], w: [3, 2, 4, 5], stride: 2, pad: "same" }, // taller than wide, strided
    { x: [2, 6, 7, 8], w: [2, 3, 8, 12], stride: 1, pad: "valid" },
  ];
  for (const [i, c] of cases.entries()) {
    it(`conv2d gradients, x ${c.x} filter ${c.w} stride ${c.stride} ${c.pad}`, async () => {
      const xv = randomValues(c.x.reduce((a, b) => a * b), 11 + i);
      const wv = randomValues(c.w.reduce((a, b) => a * b), 97 + i);
      const grads = () => {
        const x = tf.tensor4d(xv, c.x as [number, number, number, number]);
        const w = tf.tensor4d(wv, c.w as [number, number, number, number]);
        const f = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(a, b, c.stride, c.pad).square().sum();
        const [gx, gw] = tf.grads(f as any)([x, w]);
        const out = [gx.dataSync().slice(), gw.dataSync().slice()];
        tf.dispose([x, w, gx, gw]);
        return out;
      };
      const [cx, cw] = await onBackend("cpu", async () => grads());
      const before = await onBackend("wasm", async () => tf.memory().numTensors);
      const [wx, ww] = grads();
      expect(tf.memory().numTensors).toBe(before);
      expect(maxRelError(cx, wx)).toBeLessThan(1e-4);
      expect(maxRelError(cw, ww)).toBeLessThan(1e-4);
      // A filter gradient that is all zeros would agree with nothing: make sure it is not trivial.
      expect(Math.max(...Array.from(ww).map(Math.abs))).toBeGreaterThan(1e-3);
    });
  }

  for (const [i, [shape, size, stride, pad]] of ([
    [[2, 8, 8, 3], 2, 2, "valid"],
    [[2, 9, 7, 4], 3, 2, "same"],
    [[1, 6, 6, 2], 3, 1, "same"],
  ] as const).entries()) {
    it(`max-pool gradient, x ${shape} window ${size} stride ${stride} ${pad}`, async () => {
      const xv = randomValues((shape as readonly number[]).reduce((a, b) => a * b, 1), 5 + i);
      const grad = () => {
        const x = tf.tensor4d(xv, [...shape] as [number, number, number, number]);
        const pool = (v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, size, stride, pad);
        const g = tf.grad((v) => pool(v).mul(tf.range(1, 1 + pool(v).size).reshape(pool(v).shape)).sum())(x);
        const out = g.dataSync().slice();
        tf.dispose([x, g]);
        return out;
      };
      const c = await onBackend("cpu", async () => grad());
      const w = await onBackend("wasm", async () => grad());
      expect(maxRelError(c, w)).toBeLessThan(1e-5);
    });
  }

  for (const [i, [xShape, fShape, stride, pad]] of ([
    [[2, 7, 7, 3], [3, 3, 3, 2], 1, "same"],
    [[2, 9, 8, 4], [3, 3, 4, 1], 2, "valid"],
    [[1, 8, 8, 2], [5, 5, 2, 3], 2, "same"],
  ] as const).entries()) {
    it(`depthwise conv2d gradients, x ${xShape} filter ${fShape} stride ${stride} ${pad}`, async () => {
      const xv = randomValues((xShape as readonly number[]).reduce((a, b) => a * b, 1), 31 + i);
      const wv = randomValues((fShape as readonly number[]).reduce((a, b) => a * b, 1), 41 + i);
      const grads = () => {
        const x = tf.tensor4d(xv, [...xShape] as [number, number, number, number]);
        const w = tf.tensor4d(wv, [...fShape] as [number, number, number, number]);
        const f = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.depthwiseConv2d(a, b, stride, pad).square().sum();
        const [gx, gw] = tf.grads(f as any)([x, w]);
        const out = [gx.dataSync().slice(), gw.dataSync().slice()];
        tf.dispose([x, w, gx, gw]);
        return out;
      };
      const [cx, cw] = await onBackend("cpu", async () => grads());
      const [wx, ww] = await onBackend("wasm", async () => grads());
      expect(maxRelError(cx, wx)).toBeLessThan(1e-4);
      expect(maxRelError(cw, ww)).toBeLessThan(1e-4);
    });
  }

  it("tile, and per-channel sums and means (batch-norm gradients)", async () => {
    const xv = randomValues(2 * 3 * 4 * 5, 3);
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, [2, 3, 4, 5]);
        const v = tf.tensor4d(xv.slice(0, 5), [1, 1, 1, 5]);
        return [
          tf.tile(v, [2, 3, 4, 1]), tf.tile(v, [3, 5, 7, 1]), tf.tile(v.reshape([1, 5]), [11, 1]), tf.tile(v, [1, 1, 1, 1]),
          tf.tile(x, [1, 2, 1, 3]), tf.sum(x, [0, 1, 2]), tf.sum(x, [0, 1, 2], true),
          tf.mean(x, [0, 1, 2]), tf.sum(x, [1, 2]), tf.mean(x, -1), tf.sum(x),
          // leading axes of rank 2 and 3 (dense batch norm), and a wide map
          tf.sum(x.reshape([24, 5]), 0), tf.mean(x.reshape([24, 5]), 0, true), tf.mean(x.reshape([6, 4, 5]), [0, 1]),
          tf.sum(tf.tile(x, [3, 5, 6, 1]), [0, 1, 2]),
          tf.grad((t) => tf.moments(t, [0, 1, 2]).variance.mul(tf.range(1, 6)).sum())(x),
        ].map((t) => ({ shape: t.shape, values: t.dataSync().slice() }));
      });
    const c = await onBackend("cpu", async () => run());
    const w = await onBackend("wasm", async () => run());
    for (let k = 0; k < c.length; k++) {
      expect(w[k].shape, `result ${k}`).toEqual(c[k].shape);
      expect(maxRelError(c[k].values, w[k].values), `result ${k}`).toBeLessThan(1e-5);
    }
  });

  it("matrix products with transposed operands", async () => {
    const av = randomValues(3 * 5 * 4, 1);
    const bv = randomValues(3 * 6 * 5, 2);
    const run = () =>
      tf.tidy(() => {
        const a = tf.tensor3d(av, [3, 5, 4]);
        const b = tf.tensor3d(bv, [3, 6, 5]);
        return [tf.matMul(a, b, true, true), tf.matMul(a, b.transpose([0, 2, 1]), true, false), tf.matMul(a.transpose([0, 2, 1]), b, false, true)].map((t) => t.dataSync().slice());
      });
    const c = await onBackend("cpu", async () => run());
    const w = await onBackend("wasm", async () => run());
    for (let k = 0; k < 3; k++) expect(maxRelError(c[k], w[k])).toBeLessThan(1e-5);
  });
});

describe("backend choice", () => {
  it("says which backend runs and why the native ones were skipped", () => {
    const info = backend();
    expect(info.name).toBe("wasm");
    expect(info.skipped.map((s) => s.name)).toEqual(["tensorflow-gpu", "webgpu", "tensorflow"]);
    expect(info.skipped[0].reason).toMatch(/tfjs-node-gpu/);
    expect(backendLine(info)).toMatch(/^lepton backend: wasm/);
  });

  it("honours LEPTON_BACKEND and rejects an unknown value with advice", async () => {
    ensureBuilt();
    const script = `require(${JSON.stringify(require.resolve("../dist/src/backend"))}).ready().then(i => console.log(i.name), e => { console.log("ERR " + e.message); })`;
    const cpu = await runCommand(process.execPath, ["-e", script], { env: { ...process.env, LEPTON_BACKEND: "cpu" } });
    expect(cpu.stdout.trim()).toBe("cpu");
    expect(cpu.stderr).not.toMatch(/looks like you are running TensorFlow.js/);
    const bad = await runCommand(process.execPath, ["-e", script], { env: { ...process.env, LEPTON_BACKEND: "cuda" } });
    expect(bad.stdout).toMatch(/ERR LEPTON_BACKEND=cuda .*tensorflow-gpu, webgpu, tensorflow, wasm, cpu/);
  });

  it("says to run ready() (instead of TensorFlow.js's tfjs-node notice) when tensors are made before it", async () => {
    ensureBuilt();
    const lepton = JSON.stringify(require.resolve("../dist/src/index"));
    const before = await runCommand(process.execPath, ["-e", `const tf = require("@tensorflow/tfjs"); require(${lepton}); tf.tensor([1, 2]).add(1).dataSync(); tf.tensor([3]).dataSync(); console.log(tf.getBackend());`]);
    expect(before.stdout.trim()).toBe("cpu");
    expect(before.stderr).not.toMatch(/looks like you are running TensorFlow.js/);
    expect(before.stderr.split("\n").filter((l) => l.includes("has not run yet"))).toEqual([CPU_BEFORE_READY_HINT.trim()]);
    const after = await runCommand(process.execPath, ["-e", `const tf = require("@tensorflow/tfjs"); require(${lepton}).ready().then(() => { tf.tensor([1, 2]).dataSync(); console.log(tf.getBackend()); });`], { env: { ...process.env, LEPTON_BACKEND: "cpu" } });
    expect(after.stdout.trim()).toBe("cpu");
    expect(after.stderr).toBe("");
  });

  it("runs XNNPACK on one thread per core (at most 8); LEPTON_WASM_THREADS sets the count, 1 turns threads off, a bad value is refused", async () => {
    ensureBuilt();
    // Each run: the thread count, the pool's worker threads, a convolution checked against the pure-JS
    // backend, and that the script ends by itself (the worker threads must not hold the process open).
    const script = `
      const tf = require("@tensorflow/tfjs");
      require(${JSON.stringify(require.resolve("../dist/src/backend"))}).ready().then(async (info) => {
        const x = tf.randomUniform([8, 16, 16, 8], -1, 1, "float32", 1), f = tf.randomUniform([3, 3, 8, 16], -1, 1, "float32", 2);
        const w = tf.conv2d(x, f, 1, "same").dataSync();
        const workers = tf.backend().wasm.PThread;
        await tf.setBackend("cpu");
        const c = tf.conv2d(x, f, 1, "same").dataSync();
        let err = 0; for (let i = 0; i < c.length; i++) err = Math.max(err, Math.abs(c[i] - w[i]));
        console.log(JSON.stringify({ threads: info.threads, description: info.description, running: workers ? workers.runningWorkers.length : 0, err }));
      }, (e) => console.log("ERR " + e.message));`;
    const run = (threads?: string) => runCommand(process.execPath, ["-e", script], { env: { ...process.env, LEPTON_WASM_THREADS: threads ?? "" }, timeoutMs: 60_000 });
    const parse = (res: { status: number | null; stdout: string; stderr: string }) => {
      expect(res.status, res.stderr).toBe(0);
      return JSON.parse(res.stdout.trim().split("\n").pop()!);
    };
    // One per core, or fewer under a container's CPU quota (what requestedThreads() found here).
    const cores = requestedThreads().requested;
    const auto = parse(await run());
    expect(auto.threads.count).toBe(cores);
    expect(auto.running).toBe(cores - 1); // XNNPACK's pool: the calling thread plus cores - 1 workers
    expect(auto.description).toContain(`${cores} thread`);
    expect(auto.err).toBeLessThan(1e-4);
    const one = parse(await run("1"));
    expect(one.threads).toEqual({ count: 1, note: "LEPTON_WASM_THREADS=1", limit: "LEPTON_WASM_THREADS=1" });
    expect(one.running).toBe(0);
    expect(one.err).toBeLessThan(1e-4);
    const three = parse(await run("3"));
    expect(three.threads.count).toBe(3);
    expect(three.running).toBe(2);
    expect(three.err).toBeLessThan(1e-4);
    const bad = await run("many");
    expect(bad.stdout).toMatch(/ERR LEPTON_WASM_THREADS=many is not a whole number of threads; use 1 to 8/);
  });
});
