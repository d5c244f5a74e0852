import { describe, it, expect } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { fromTensors, fromTfData, InMemoryDataset } from "../src/data";

async function allBatches(ds: InMemoryDataset, batchSize: number) {
  const xs: number[] = [];
  const ys: number[] = [];
  for await (const b of ds.batches({ batchSize })) {
    xs.push(...b.x.dataSync());
    ys.push(...b.y.dataSync());
    tf.dispose([b.x, b.y]);
  }
  return { xs, ys };
}

describe("fromTfData", () => {
  it("round-trips toTfData(): same samples, labels and classes, class indices or one-hot, nothing leaked", async () => {
    const n = 13;
    const pixels = new Uint8Array(n * 3 * 2 * 2);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 29 + 5) % 256;
    const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % 4);
    const classes = ["w", "x", "y", "z"];
    const original = fromTensors(pixels, labels, { inputShape: [3, 2, 2], classes });
    const expected = await allBatches(original, 5);
    const before = tf.memory().numTensors;
    for (const oneHot of [false, true]) {
      const back = await fromTfData(original.toTfData({ batchSize: 5, oneHot }), { classes });
      expect(back.size).toBe(n);
      expect(back.inputShape).toEqual([3, 2, 2]);
      expect(back.classes).toEqual(classes);
      expect(Array.from(back.labels())).toEqual(Array.from(labels));
      const got = await allBatches(back, 4);
      // toTfData gave float32 values in [0,1]; they come back exactly.
      expect(got.xs).toEqual(expected.xs);
      expect(got.ys).toEqual(expected.ys);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("accepts single samples as [x, y] or { x, y }; int32 pixels 0-255 are kept as uint8 with their values", async () => {
    const samples = Array.from({ length: 6 }, (_, i) => [tf.tensor3d(Int32Array.from({ length: 4 }, (_, p) => (i * 50 + p * 60) % 256), [2, 2, 1], "int32"), tf.scalar(i % 2, "int32")]);
    const before = tf.memory().numTensors;
    const ds = await fromTfData(tf.data.array(samples as unknown as tf.TensorContainer[]) as unknown as tf.data.Dataset<[tf.Tensor, tf.Tensor]>);
    expect(ds.size).toBe(6);
    expect(ds.inputShape).toEqual([2, 2, 1]);
    expect(ds.classes).toEqual(["0", "1"]);
    expect(Array.from(ds.labels())).toEqual([0, 1, 0, 1, 0, 1]);
    const got = await allBatches(ds, 6);
    const expected = samples.flatMap(([x]) => Array.from(x.dataSync()));
    expect(got.xs).toEqual(expected);
    // Stored compactly: uint8 in memory (read through the private store for this check).
    expect((ds as unknown as { store: { x: unknown } }).store.x).toBeInstanceOf(Uint8Array);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(samples.flat());

    // Scaled on request; { x, y } elements; float regression targets.
    const reg = await fromTfData(tf.data.array([
      { x: tf.tensor1d([1, 2]), y: tf.tensor1d([0.5]) },
      { x: tf.tensor1d([3, 4]), y: tf.tensor1d([1.5]) },
    ]) as unknown as tf.data.Dataset<{ x: tf.Tensor; y: tf.Tensor }>, { scale: 2 });
    expect(reg.classes).toBeUndefined();
    expect(reg.targetShape).toEqual([1]);
    expect(await allBatches(reg, 2)).toEqual({ xs: [2, 4, 6, 8], ys: [0.5, 1.5] });
  });

  it("refuses elements that are not pairs of tensors, changing shapes and non-index class targets, saying what to do", async () => {
    const bad = tf.data.array([1, 2, 3]) as unknown as tf.data.Dataset<[tf.Tensor, tf.Tensor]>;
    await expect(fromTfData(bad)).rejects.toThrow(/element 0 is not \{ xs, ys \}, \{ x, y \} or \[x, y\] of tensors; map the dataset/);
    const shapes = tf.data.array([
      { xs: tf.zeros([2, 3]), ys: tf.tensor1d([0, 1], "int32") },
      { xs: tf.zeros([2, 4]), ys: tf.tensor1d([0, 1], "int32") },
    ]) as unknown as tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>;
    await expect(fromTfData(shapes)).rejects.toThrow(/element 1 has samples of shape \[4\] -> \[\] but earlier ones \[3\] -> \[\]/);
    const frac = tf.data.array([{ xs: tf.zeros([2, 3]), ys: tf.tensor1d([0, 1.5]) }]) as unknown as tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>;
    await expect(fromTfData(frac, { classes: ["a", "b"] })).rejects.toThrow(/target 1\.5 of sample 1 is not a class index/);
    await expect(fromTfData(tf.data.array([]) as unknown as tf.data.Dataset<[tf.Tensor, tf.Tensor]>)).rejects.toThrow(/no elements/);
  });
});
