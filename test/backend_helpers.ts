/** Shared by the wasm kernel tests: seeded inputs and the error measure used to compare backends. */
import { expect } from "vitest";
import * as tf from "@tensorflow/tfjs";

/** Deterministic values in [-0.5, 0.5) from a linear congruential generator. */
export function randomValues(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Largest |a - b| / (1 + |a|) over two equally long arrays. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(b.length).toBe(a.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(a[i])));
  return worst;
}

/**
 * `run` on TensorFlow.js's pure-JS backend, then on wasm, checking that the wasm run leaves no
 * tensor and no backend buffer behind; returns both results (the backend stays wasm).
 */
export async function onCpuThenWasm<T>(run: () => T): Promise<{ cpu: T; wasm: T }> {
  await tf.setBackend("cpu");
  const cpu = run();
  await tf.setBackend("wasm");
  const before = tf.memory().numTensors;
  const buffers = tf.backend().numDataIds(); // also the kernels' scratch buffers, which are no tensors
  const wasm = run();
  expect(tf.memory().numTensors).toBe(before);
  expect(tf.backend().numDataIds()).toBe(buffers);
  return { cpu, wasm };
}
