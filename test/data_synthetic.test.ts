import { describe, it, expect } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { linear, blobs, moons, spirals, xor } from "../src/data";
import type { InMemoryDataset } from "../src/data";

async function all(ds: InMemoryDataset): Promise<{ x: number[]; y: number[] }> {
  const t = await ds.toTensors();
  const out = { x: Array.from(t.x.dataSync()), y: Array.from(t.y.dataSync()) };
  tf.dispose([t.x, t.y]);
  return out;
}

describe("synthetic data", () => {
  it("is the same for a seed and different for another", async () => {
    for (const make of [(s: number) => linear({ seed: s }), (s: number) => blobs({ seed: s }), (s: number) => moons({ seed: s }),
      (s: number) => spirals({ seed: s }), (s: number) => xor({ seed: s })]) {
      const a = await all(make(1));
      expect(await all(make(1))).toEqual(a);
      expect((await all(make(2))).x).not.toEqual(a.x);
    }
  });

  it("linear: least squares on the data recovers the true weights", async () => {
    const ds = linear({ n: 2000, weights: [1.5, -0.7], bias: 0.3, noise: 0.05, seed: 4 });
    expect(ds.inputShape).toEqual([2]);
    expect(ds.targetShape).toEqual([1]);
    const { x, y } = await all(ds);
    // Solve the 3x3 normal equations for [w1, w2, b] by Gaussian elimination.
    const A = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
    const r = [0, 0, 0];
    for (let i = 0; i < 2000; i++) {
      const f = [x[2 * i], x[2 * i + 1], 1];
      for (let p = 0; p < 3; p++) {
        r[p] += f[p] * y[i];
        for (let q = 0; q < 3; q++) A[p][q] += f[p] * f[q];
      }
    }
    for (let p = 0; p < 3; p++)
      for (let q = p + 1; q < 3; q++) {
        const m = A[q][p] / A[p][p];
        for (let c = 0; c < 3; c++) A[q][c] -= m * A[p][c];
        r[q] -= m * r[p];
      }
    const sol = [0, 0, 0];
    for (let p = 2; p >= 0; p--) sol[p] = (r[p] - A[p].reduce((s, v, c) => (c > p ? s + v * sol[c] : s), 0)) / A[p][p];
    expect(sol[0]).toBeCloseTo(1.5, 1);
    expect(sol[1]).toBeCloseTo(-0.7, 1);
    expect(sol[2]).toBeCloseTo(0.3, 1);
  });

  it("blobs: balanced classes whose means sit at their centres", async () => {
    const ds = blobs({ n: 3000, centers: [[0, 0], [5, 5], [-5, 3]], spread: 0.5, seed: 2 });
    expect(ds.classCounts()).toEqual([1000, 1000, 1000]);
    const { x, y } = await all(ds);
    for (const [c, center] of [[0, 0], [5, 5], [-5, 3]].entries()) {
      let sx = 0;
      let sy = 0;
      for (let i = 0; i < y.length; i++) if (y[i] === c) { sx += x[2 * i]; sy += x[2 * i + 1]; }
      expect(sx / 1000).toBeCloseTo(center[0], 1);
      expect(sy / 1000).toBeCloseTo(center[1], 1);
    }
  });

  it("xor, moons and spirals have the documented geometry without noise", async () => {
    const x1 = await all(xor({ n: 400, noise: 0, seed: 3 }));
    for (let i = 0; i < 400; i++) expect(x1.x[2 * i] * x1.x[2 * i + 1] < 0 ? 1 : 0).toBe(x1.y[i]);
    const m = await all(moons({ n: 400, noise: 0, seed: 3 }));
    for (let i = 0; i < 400; i++) {
      const [px, py] = [m.x[2 * i], m.x[2 * i + 1]];
      const centre = m.y[i] === 0 ? [0, 0] : [1, 0.5];
      expect(Math.hypot(px - centre[0], py - centre[1])).toBeCloseTo(1, 5);
      expect(m.y[i] === 0 ? py >= -1e-6 : py <= 0.5 + 1e-6).toBe(true);
    }
    const s = spirals({ n: 300, classes: 3, noise: 0, seed: 3 });
    expect(s.classCounts()).toEqual([100, 100, 100]);
    const sp = await all(s);
    for (let i = 0; i < 300; i++) expect(Math.hypot(sp.x[2 * i], sp.x[2 * i + 1])).toBeLessThanOrEqual(1 + 1e-6);
  });

  it("trains a tf.LayersModel through toTfData() (tf.data interop) without leaking tensors", async () => {
    const ds = blobs({ n: 300, centers: [[-3, 0], [3, 0], [0, 4]], spread: 0.4, seed: 5 });
    const before = tf.memory().numTensors;
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 3, activation: "softmax" })] });
    const optimizer = tf.train.adam(0.1);
    model.compile({ optimizer, loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
    const h = await model.fitDataset(ds.toTfData({ batchSize: 32, shuffle: true, seed: 1 }), { epochs: 15, verbose: 0 });
    const acc = h.history.acc ?? h.history.accuracy;
    expect(acc[acc.length - 1] as number).toBeGreaterThan(0.9);
    model.dispose();
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
