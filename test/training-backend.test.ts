import { describe, it, expect } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { ready } from "../src/backend";
import { lenet } from "../src/models";
import { train, evaluate } from "../src/training";
import { fromTensors } from "../src/data";

/**
 * The other training tests pin the pure-JS backend; this one runs LeNet's training step on the backend
 * lepton's ready() chooses (wasm here) and checks it against the pure-JS backend from the same start.
 */
describe("training on the backend ready() chooses", () => {
  it("two SGD+momentum steps of LeNet agree with the pure-JS backend; evaluate agrees too; no tensors leak", async () => {
    const info = await ready();
    const chosen = info.name;
    const n = 16;
    let s = 7;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    const x = new Float32Array(n * 32 * 32 * 3).map(() => rand());
    const y = new Int32Array(n).map((_, i) => i % 10);
    const data = fromTensors(x, y, { inputShape: [32, 32, 3], classes: [..."abcdefghij"] });

    await tf.setBackend("cpu");
    const start = lenet().getWeights().map((w) => ({ shape: w.shape, values: w.dataSync().slice() }));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const model = lenet();
      model.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
      const before = tf.memory().numTensors;
      const h = await train(model, data, { epochs: 1, batchSize: 8, shuffle: false, optimizer: { type: "sgd", lr: 0.05, momentum: 0.9 }, verbose: 0 });
      const report = await evaluate(model, data, { topLosses: 0 });
      const leaked = tf.memory().numTensors - before;
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      return { loss: h.last("loss"), evalLoss: report.loss, weights, leaked };
    };
    const cpu = await run("cpu");
    const other = await run(chosen);
    await tf.setBackend(chosen);
    expect(other.leaked).toBe(0);
    expect(cpu.leaked).toBe(0);
    expect(other.loss).toBeCloseTo(cpu.loss!, 4);
    expect(other.evalLoss).toBeCloseTo(cpu.evalLoss, 3);
    let maxDiff = 0;
    other.weights.forEach((w, i) => w.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - cpu.weights[i][j])))));
    expect(maxDiff).toBeLessThan(1e-4);
    // The start was not trivially kept: training moved the weights.
    expect(cpu.weights[0].some((v, j) => Math.abs(v - start[0].values[j]) > 1e-4)).toBe(true);
  });
});
