/**
 * `npm run bench`: training and inference speed of lepton's LeNet and ResNet-9 on each available
 * backend, the data loader alone, and PyTorch's LeNet (../shared/bench/torch_lenet.py, when Debian's
 * python3-torch and that script are present) in the same run, as a ratio lepton / PyTorch.
 * Both sides are timed the same way: one warm-up epoch, then the best of --epochs (3) timed epochs;
 * lepton's LeNet is measured before and after PyTorch so that both see the same machine.
 * The last line is JSON with lenet_train_sps, torch_lenet_train_sps and ratio.
 *
 *   node dist/bench/train_bench.js [--samples 6400] [--torch-samples 10000] [--epochs 3] [--skip-cpu] [--torch-script PATH]
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import * as tf from "@tensorflow/tfjs";
import { ready, backendLine } from "../src/backend";
import { fromTensors } from "../src/data";
import { lenet, resnet9 } from "../src/models";
import { train } from "../src/training";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(name);

const SAMPLES = Number(arg("--samples", "6400"));
const TORCH_SAMPLES = Number(arg("--torch-samples", "10000"));
const EPOCHS = Number(arg("--epochs", "3"));
const BATCH = 64;

/** Random CIFAR-shaped uint8 images and labels (speed does not depend on the pixels). */
function randomCifar(n: number, seed: number): { x: Uint8Array; y: Int32Array } {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0), s);
  const x = new Uint8Array(n * 32 * 32 * 3);
  for (let i = 0; i < x.length; i++) x[i] = next() >>> 24;
  const y = Int32Array.from({ length: n }, () => next() % 10);
  return { x, y };
}

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

/**
 * Training samples/s of one model: one untimed warm-up epoch (JIT, kernel set-up, memory), then
 * `epochs` timed epochs over the same data. PyTorch's side is measured the same way (best epoch).
 */
async function trainSps(makeModel: () => tf.LayersModel, n: number, epochs: number): Promise<number[]> {
  const { x, y } = randomCifar(n, 1);
  const data = fromTensors(x, y, { inputShape: [32, 32, 3] });
  const model = makeModel();
  const opts = { batchSize: BATCH, optimizer: { type: "sgd" as const, lr: 0.01, momentum: 0.9 }, verbose: 0 as const, seed: 0 };
  await train(model, data, { ...opts, epochs: 1 }); // warm-up
  const runs: number[] = [];
  for (let e = 0; e < epochs; e++) {
    const t0 = process.hrtime.bigint();
    await train(model, data, { ...opts, epochs: 1 });
    runs.push(n / seconds(t0));
  }
  model.dispose();
  return runs;
}

function inferSps(makeModel: () => tf.LayersModel, n: number): number {
  const model = makeModel();
  const x = tf.randomUniform([Math.min(n, 1000), 32, 32, 3]);
  tf.tidy(() => (model.predict(x.slice(0, 64)) as tf.Tensor).dataSync());
  const t0 = process.hrtime.bigint();
  let done = 0;
  while (done < n) {
    tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    done += x.shape[0];
  }
  const sps = done / seconds(t0);
  x.dispose();
  model.dispose();
  return sps;
}

async function loaderSps(n: number, augment: boolean): Promise<number> {
  const { x, y } = randomCifar(n, 2);
  let data = fromTensors(x, y, { inputShape: [32, 32, 3] });
  if (augment) data = data.augment({ crop: { padding: 4 }, flip: true }).normalize([0.49, 0.48, 0.45], [0.25, 0.24, 0.26]);
  const t0 = process.hrtime.bigint();
  let seen = 0;
  for await (const batch of data.batches({ batchSize: BATCH, shuffle: true, seed: 0 })) {
    seen += batch.x.shape[0];
    tf.dispose([batch.x, batch.y]);
  }
  return seen / seconds(t0);
}

/** Write n random records in the CIFAR-10 binary layout for the PyTorch script. */
function writeTorchData(dir: string, n: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const records = (count: number, seed: number) => {
    const { x, y } = randomCifar(count, seed);
    const buf = Buffer.alloc(count * 3073);
    for (let i = 0; i < count; i++) {
      buf[i * 3073] = y[i];
      buf.set(x.subarray(i * 3072, (i + 1) * 3072), i * 3073 + 1);
    }
    return buf;
  };
  fs.writeFileSync(path.join(dir, "data_batch_1.bin"), records(n, 3));
  for (let b = 2; b <= 5; b++) fs.writeFileSync(path.join(dir, `data_batch_${b}.bin`), Buffer.alloc(0));
  fs.writeFileSync(path.join(dir, "test_batch.bin"), records(1000, 4));
}

/** PyTorch's LeNet at 1 and 2 threads, measured like lepton's: a warm-up epoch, then the best of EPOCHS timed epochs. */
function torchSps(n: number): { sps: number; threads: number; all: Record<string, number[]> } | string {
  const script = path.resolve(arg("--torch-script", path.join(__dirname, "..", "..", "..", "shared", "bench", "torch_lenet.py")));
  if (!fs.existsSync(script)) return `PyTorch reference skipped: ${script} not found (pass --torch-script PATH)`;
  const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const probe = spawnSync(python, ["-c", "import torch"], { encoding: "utf8" });
  if (probe.status !== 0) return "PyTorch reference skipped: python3-torch is not installed (apt-get install python3-torch)";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-bench-cifar-"));
  try {
    writeTorchData(dir, n);
    const all: Record<string, number[]> = {};
    let best = { sps: 0, threads: 1 };
    for (const threads of [1, 2]) {
      const res = spawnSync(python, [script, dir, String(EPOCHS + 1), String(BATCH), String(threads), String(n)], { encoding: "utf8" });
      const epochs = [...res.stdout.matchAll(/train (\d+) samples\/s/g)].map((m) => Number(m[1]));
      if (res.status !== 0 || epochs.length !== EPOCHS + 1) return `PyTorch reference failed: ${res.stderr.trim().split("\n").pop()}`;
      all[`threads_${threads}`] = epochs.slice(1); // the first epoch is the warm-up
      const top = Math.max(...epochs.slice(1));
      if (top > best.sps) best = { sps: top, threads };
    }
    return { ...best, all };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const info = await ready();
  console.log(backendLine(info));
  // On a hardware WebGPU adapter ready() picks "webgpu"; the adapter (vendor, architecture, description) goes in the JSON.
  const result: Record<string, unknown> = {
    backend: info.name, ...(info.threads ? { wasm_threads: info.threads.count } : {}), ...(info.adapter ? { adapter: info.adapter } : {}), batch: BATCH, samples: SAMPLES,
  };

  const lenetRuns = await trainSps(() => lenet(), SAMPLES, EPOCHS);
  let lenetTrain = Math.max(...lenetRuns);
  const lenetInfer = inferSps(() => lenet(), 4000);
  console.log(`LeNet    ${info.name}: train ${lenetTrain.toFixed(0)} samples/s, inference ${lenetInfer.toFixed(0)} samples/s`);
  const resTrain = Math.max(...(await trainSps(() => resnet9({ width: 16 }), BATCH * 8, 1)));
  const resInfer = inferSps(() => resnet9({ width: 16 }), 1000);
  console.log(`ResNet-9 (width 16) ${info.name}: train ${resTrain.toFixed(0)} samples/s, inference ${resInfer.toFixed(0)} samples/s`);
  Object.assign(result, { lenet_train_sps: Math.round(lenetTrain), lenet_infer_sps: Math.round(lenetInfer), resnet9_w16_train_sps: Math.round(resTrain), resnet9_w16_infer_sps: Math.round(resInfer) });

  const plain = await loaderSps(SAMPLES, false);
  const augmented = await loaderSps(SAMPLES, true);
  console.log(`loader alone: ${plain.toFixed(0)} samples/s plain, ${augmented.toFixed(0)} samples/s with crop+flip+normalise (batch ${BATCH})`);
  Object.assign(result, { loader_sps: Math.round(plain), loader_augmented_sps: Math.round(augmented) });

  if (!flag("--skip-cpu") && info.name !== "cpu") {
    await tf.setBackend("cpu");
    const cpuTrain = Math.max(...(await trainSps(() => lenet(), BATCH, 1)));
    console.log(`LeNet    cpu (pure JS): train ${cpuTrain.toFixed(1)} samples/s`);
    result.lenet_train_sps_cpu = Number(cpuTrain.toFixed(1));
    await tf.setBackend(info.name);
  }

  const torch = torchSps(TORCH_SAMPLES);
  if (typeof torch === "string") {
    console.log(torch);
    Object.assign(result, { torch_lenet_train_sps: null, ratio: null });
  } else {
    // The machine may be shared: measure lepton's LeNet again right after PyTorch and keep the better
    // of the two, as PyTorch keeps its better thread count.
    const again = await trainSps(() => lenet(), SAMPLES, EPOCHS);
    console.log(`LeNet    ${info.name}: train ${Math.max(...again).toFixed(0)} samples/s (again, after PyTorch; load average ${os.loadavg()[0].toFixed(1)})`);
    result.lenet_train_sps_runs = [...lenetRuns, ...again].map(Math.round);
    lenetTrain = Math.max(lenetTrain, ...again);
    result.lenet_train_sps = Math.round(lenetTrain);
    const ratio = lenetTrain / torch.sps;
    console.log(`PyTorch LeNet: ${JSON.stringify(torch.all)} samples/s (best: ${torch.threads} thread(s)); lepton/PyTorch = ${ratio.toFixed(2)}`);
    Object.assign(result, { torch_lenet_train_sps: torch.sps, torch_threads: torch.threads, ratio: Number(ratio.toFixed(3)) });
  }
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
