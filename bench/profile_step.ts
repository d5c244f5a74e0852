/**
 * Where a training step's time goes: tf.profile over `lepton.train` on random CIFAR-shaped data,
 * printed as milliseconds per step for each kernel and for each kernel + input shapes.
 *
 *   node dist/bench/profile_step.js [--model lenet|resnet9|airbench] [--width 16] [--widths 32,64,128]
 *       [--batch 64] [--steps 100] [--top 25]
 */
import * as tf from "@tensorflow/tfjs";
import { ready, backendLine } from "../src/backend";
import { fromTensors } from "../src/data";
import { lenet, resnet9, airbench } from "../src/models";
import { train } from "../src/training";
import { arg } from "./args";


async function main(): Promise<void> {
  const info = await ready();
  console.log(backendLine(info));
  const modelName = arg("--model") ?? "lenet";
  if (modelName !== "lenet" && modelName !== "resnet9" && modelName !== "airbench") throw new Error(`--model must be lenet, resnet9 or airbench (got ${modelName})`);
  const width = Number(arg("--width") ?? "16");
  const batch = Number(arg("--batch") ?? "64");
  const steps = Number(arg("--steps") ?? (modelName === "lenet" ? "100" : "4"));
  const n = batch * steps;
  const x = tf.randomUniform([n, 32, 32, 3]);
  const y = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 10), "int32");
  const data = fromTensors(x, y, { classes: Array.from({ length: 10 }, (_, i) => String(i)) });
  const widths = (arg("--widths") ?? "32,64,128").split(",").map(Number) as [number, number, number];
  const model = modelName === "lenet" ? lenet() : modelName === "airbench" ? airbench({ widths, seed: 0 }) : resnet9({ width });
  const opts = { batchSize: batch, optimizer: { type: "sgd" as const, lr: 0.01, momentum: 0.9 }, verbose: 0 as const, seed: 0 };
  await train(model, data.take(batch * 2), { ...opts, epochs: 1 }); // warm-up
  const t0 = Date.now();
  const profile = await tf.profile(async () => {
    await train(model, data, { ...opts, epochs: 1 });
  });
  const wall = Date.now() - t0;
  const byName = new Map<string, number>();
  const byShape = new Map<string, number>();
  const calls = new Map<string, number>();
  for (const k of profile.kernels) {
    const time = await k.kernelTimeMs;
    const ms = typeof time === "number" ? time : 0; // backends that cannot time a kernel report { error }
    byName.set(k.name, (byName.get(k.name) ?? 0) + ms);
    const key = `${k.name} ${(k.inputShapes ?? []).map((s) => (s ? s.join("x") : "")).join(",")}`;
    byShape.set(key, (byShape.get(key) ?? 0) + ms);
    calls.set(key, (calls.get(key) ?? 0) + 1);
  }
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  console.log(`${modelName}${modelName === "resnet9" ? ` (width ${width})` : ""}, batch ${batch}: ${steps} steps in ${wall} ms ` +
    `(${((n / wall) * 1000).toFixed(1)} samples/s while profiled); kernels ${(total / steps).toFixed(1)} ms per step`);
  const top = (m: Map<string, number>, count: number) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, count).forEach(([k, v]) => console.log(`${(v / steps).toFixed(1).padStart(8)} ms/step  ${k}${calls.has(k) ? `  (${(calls.get(k)! / steps).toFixed(0)} calls/step)` : ""}`));
  top(byName, 20);
  console.log("--- by input shapes");
  top(byShape, Number(arg("--top") ?? "25"));
  tf.dispose([x, y]);
  model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
