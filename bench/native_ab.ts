/**
 * lepton's own SIMD kernels (src/backend/wasm_native.ts) on and off in one process, alternating, so
 * both see the same machine: training samples/s of LeNet and ResNet-9 (width 16), batch 64. "off" sets
 * one variable, LEPTON_NATIVE_KERNELS=0 unless --off says another (read on every call), e.g.
 * --off LEPTON_NATIVE_THREADS=1 (lepton's convolutions on one thread, against its helper threads).
 *
 *   node dist/bench/native_ab.js [--rounds 3] [--resnet-samples 128] [--lenet-samples 1280] [--off NAME=VALUE]
 */
import * as os from "os";
import * as tf from "@tensorflow/tfjs";
import { ready, backendLine } from "../src/backend";
import { fromTensors } from "../src/data";
import { lenet, resnet9 } from "../src/models";
import { train } from "../src/training";
import { arg } from "./args";


async function main(): Promise<void> {
  const info = await ready();
  console.log(backendLine(info));
  const rounds = Number(arg("--rounds") ?? "3");
  const off = arg("--off") ?? "LEPTON_NATIVE_KERNELS=0";
  const [offName, offValue] = [off.slice(0, off.indexOf("=")), off.slice(off.indexOf("=") + 1)];
  if (!offName) throw new Error(`--off ${off}: give NAME=VALUE, e.g. --off LEPTON_NATIVE_THREADS=1`);
  console.log(`off: ${offName}=${offValue}`);
  const result: Record<string, unknown> = { off, load_average_start: os.loadavg()[0] };
  for (const [name, make, n] of [["resnet9_w16", () => resnet9({ width: 16 }), Number(arg("--resnet-samples") ?? "128")], ["lenet", () => lenet(), Number(arg("--lenet-samples") ?? "1280")]] as const) {
    const x = tf.randomUniform([n, 32, 32, 3]);
    const y = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 10), "int32");
    const data = fromTensors(x, y, { classes: Array.from({ length: 10 }, (_, i) => String(i)) });
    const model = make();
    const opts = { batchSize: 64, optimizer: { type: "sgd" as const, lr: 0.01, momentum: 0.9 }, verbose: 0 as const, seed: 0, epochs: 1 };
    await train(model, data, opts); // warm-up
    const runs: Record<string, number[]> = { on: [], off: [] };
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 ? ["on", "off"] : ["off", "on"]) {
        if (mode === "off") process.env[offName] = offValue;
        else delete process.env[offName];
        const t0 = process.hrtime.bigint();
        await train(model, data, opts);
        runs[mode].push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
      }
    }
    delete process.env[offName];
    const best = (v: number[]) => Math.max(...v);
    console.log(`${name}: native on ${runs.on.map((v) => v.toFixed(1)).join(", ")} | off ${runs.off.map((v) => v.toFixed(1)).join(", ")} samples/s; best on/off = ${(best(runs.on) / best(runs.off)).toFixed(2)}`);
    Object.assign(result, { [`${name}_on`]: runs.on.map((v) => Number(v.toFixed(1))), [`${name}_off`]: runs.off.map((v) => Number(v.toFixed(1))), [`${name}_speedup`]: Number((best(runs.on) / best(runs.off)).toFixed(3)) });
    model.dispose();
    tf.dispose([x, y]);
  }
  result.load_average_end = os.loadavg()[0];
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
