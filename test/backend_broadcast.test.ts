/**
 * The per-channel broadcast path of src/backend/wasm_broadcast.ts against TensorFlow.js's pure-JS
 * backend: Add, Sub, Multiply and RealDiv of [..., C] with [C] or [1, ..., 1, C] on either side, their
 * gradients, and the shapes that must keep the shipped kernel.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { channelGrouping } from "../src/backend/wasm_broadcast";
import { maxRelError, onCpuThenWasm, randomValues } from "./backend_helpers";

type Op = "add" | "sub" | "mul" | "div";
const apply = (op: Op, a: tf.Tensor, b: tf.Tensor) => (op === "div" ? tf.div(a, b) : tf[op](a, b));

/** op(a, b), and the gradients of sum(op(a, b) * w) for a fixed w, on the current backend. */
function run(op: Op, as: number[], bs: number[], seed: number) {
  const av = randomValues(as.reduce((x, y) => x * y, 1), seed);
  // Divisors kept away from zero.
  const bv = randomValues(bs.reduce((x, y) => x * y, 1), seed + 7).map((v) => (op === "div" ? v + 1.5 : v));
  return tf.tidy(() => {
    const a = tf.tensor(av, as), b = tf.tensor(bv, bs);
    const y = apply(op, a, b);
    const w = tf.tensor(randomValues(y.size, seed + 13), y.shape);
    const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => apply(op, p, q).mul(w).sum())([a, b]);
    return { shape: y.shape, y: y.dataSync().slice(), ga: ga.dataSync().slice(), gb: gb.dataSync().slice() };
  });
}

async function compare(op: Op, as: number[], bs: number[], seed: number) {
  const { cpu, wasm } = await onCpuThenWasm(() => run(op, as, bs, seed));
  expect(wasm.shape).toEqual(cpu.shape);
  expect(maxRelError(cpu.y, wasm.y)).toBeLessThan(1e-5);
  expect(maxRelError(cpu.ga, wasm.ga)).toBeLessThan(1e-4);
  expect(maxRelError(cpu.gb, wasm.gb)).toBeLessThan(1e-4);
}

beforeAll(async () => {
  const info = await ready();
  expect(info.name).toBe("wasm");
});

describe("per-channel broadcasting on wasm matches the pure-JS backend", () => {
  const cases: [number[], number[]][] = [
    [[8, 28, 28, 6], [6]], // LeNet's first bias
    [[4, 10, 10, 16], [1, 1, 1, 16]], // batch-norm scale shape
    [[6], [5, 12, 12, 6]], // the vector on the left
    [[1, 1, 1, 3], [3, 16, 16, 3]],
    [[64, 120], [120]], // a dense layer's bias
    [[7, 13, 5], [5]], // 91 rows grouped 13 at a time
    [[1, 97, 5], [5]], // 97 rows (prime): shipped kernel
    [[2, 4, 4, 300], [300]], // wide channels: shipped kernel
    [[3, 8, 8, 4], [8, 1]], // not per-channel: shipped kernel
  ];
  for (const op of ["add", "sub", "mul", "div"] as const) {
    for (const [i, [as, bs]] of cases.entries()) {
      it(`${op} ${JSON.stringify(as)} with ${JSON.stringify(bs)}`, async () => {
        await compare(op, as, bs, 100 * i + op.length);
      });
    }
  }

  it("groups rows only for the exact per-channel pattern", () => {
    // 50,176 rows = 2^10 * 7^2; rows of >= 256 values want k <= 43; the largest divisor up to 43 is 32.
    expect(channelGrouping([64, 28, 28, 6], [6])).toBe(32);
    expect(channelGrouping([64, 28, 28, 6], [1, 1, 1, 6])).toBe(32);
    expect(channelGrouping([7, 13, 5], [5])).toBe(13);
    expect(channelGrouping([1, 97, 5], [5])).toBeUndefined();
    expect(channelGrouping([2, 4, 4, 300], [300])).toBeUndefined();
    expect(channelGrouping([3, 8, 8, 4], [8, 1])).toBeUndefined();
    expect(channelGrouping([3, 8, 8, 4], [2, 1, 1, 4])).toBeUndefined();
    expect(channelGrouping([6], [6])).toBeUndefined();
  });
});
