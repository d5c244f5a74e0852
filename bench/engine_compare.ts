/**
 * Training samples/s of lepton's engine against another build of lepton (e.g. the commit before a
 * change to the training loop), in one run: rounds alternate between the two builds, each in its own
 * process, on the same models (built from this checkout), data and options.
 *
 *   git worktree add /tmp/base <rev> && ln -s $PWD/node_modules /tmp/base/ && (cd /tmp/base && npx tsc -p tsconfig.json)
 *   node dist/bench/engine_compare.js --other /tmp/base [--rounds 3] [--lenet-samples 3200] [--resnet-samples 640]
 *
 * Prints one line per measurement and, last, JSON with the medians and the ratios new / other.
 */
import * as path from "path";
import { spawnSync } from "child_process";
import { arg } from "./args";


const here = path.resolve(__dirname, "..", "..");

/** The child: train LeNet and ResNet-9 (width 16) with `root`'s train(), report best-epoch samples/s. */
async function child(root: string, lenetN: number, resnetN: number, epochs: number): Promise<void> {
  const tf = require(path.join(here, "node_modules", "@tensorflow", "tfjs"));
  const { ready } = require(path.join(here, "dist", "src", "backend"));
  const { lenet, resnet9 } = require(path.join(here, "dist", "src", "models"));
  const { fromTensors } = require(path.join(here, "dist", "src", "data"));
  const { train } = require(path.join(root, "dist", "src", "training"));
  await ready();
  const data = (n: number) => {
    let s = 1;
    const next = () => ((s = (s * 1664525 + 1013904223) >>> 0), s);
    const x = new Uint8Array(n * 32 * 32 * 3).map(() => next() >>> 24);
    const y = Int32Array.from({ length: n }, () => next() % 10);
    return fromTensors(x, y, { inputShape: [32, 32, 3], classes: [..."0123456789"] });
  };
  const out: Record<string, number> = {};
  for (const [name, make, n] of [["lenet", () => lenet({ seed: 0 }), lenetN], ["resnet9_w16", () => resnet9({ width: 16, seed: 0 }), resnetN]] as const) {
    const ds = data(n);
    const model = make();
    const opts = { batchSize: 64, optimizer: { type: "sgd", lr: 0.01, momentum: 0.9 }, verbose: 0, seed: 0, epochs: 1 };
    await train(model, ds, opts);
    let best = 0;
    for (let e = 0; e < epochs; e++) {
      const t0 = process.hrtime.bigint();
      await train(model, ds, opts);
      best = Math.max(best, n / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
    model.dispose();
    out[name] = best;
  }
  void tf;
  process.stdout.write(JSON.stringify(out) + "\n");
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  if (process.argv[2] === "--child") {
    await child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
    return;
  }
  const other = path.resolve(arg("--other") ?? "");
  const rounds = Number(arg("--rounds") ?? "3");
  const lenetN = Number(arg("--lenet-samples") ?? "3200");
  const resnetN = Number(arg("--resnet-samples") ?? "640");
  const epochs = Number(arg("--epochs") ?? "2");
  const results: Record<string, Record<string, number[]>> = { new: {}, other: {} };
  for (let r = 0; r < rounds; r++) {
    for (const [label, root] of [["other", other], ["new", here]] as const) {
      const p = spawnSync(process.execPath, [__filename, "--child", root, String(lenetN), String(resnetN), String(epochs)], { encoding: "utf8" });
      if (p.status !== 0) throw new Error(`${label} run failed: ${p.stderr}`);
      const line = p.stdout.trim().split("\n").pop()!;
      const v = JSON.parse(line) as Record<string, number>;
      for (const [k, x] of Object.entries(v)) (results[label][k] ??= []).push(x);
      console.log(`round ${r + 1} ${label.padEnd(5)} ${Object.entries(v).map(([k, x]) => `${k} ${x.toFixed(1)} samples/s`).join("  ")}`);
    }
  }
  const summary: Record<string, number> = {};
  for (const k of Object.keys(results.new)) {
    summary[`${k}_new`] = median(results.new[k]);
    summary[`${k}_other`] = median(results.other[k]);
    summary[`${k}_ratio`] = Number((median(results.new[k]) / median(results.other[k])).toFixed(3));
  }
  console.log(JSON.stringify(summary));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
