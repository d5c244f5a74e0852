/**
 * `npm run bench`: training and inference speed of lepton's LeNet and ResNet-9 (widths 16 and 32) on
 * the backend in use, the data loader alone, and PyTorch's mirrors of the same networks in the same run
 * (LeNet: ../shared/bench/torch_lenet.py; ResNet-9: bench/torch_resnet9.py, the same layers, its
 * trainable parameter count asserted equal to lepton's), as ratios lepton / PyTorch. PyTorch's side is
 * the best of 1 and 2 threads. Both sides are timed the same way: one warm-up epoch, then the best of
 * the timed epochs; lepton's LeNet is measured before and after PyTorch so that both see the same machine.
 *
 * Arithmetic: training GFLOP/s of each side, with FLOPs counted from the model (src/backend/perf.ts:
 * forward = 2 x conv and dense multiply-accumulates, training = 3 x forward), and lepton's share of the
 * WebAssembly SIMD peak (cores x GHz from /proc/cpuinfo x 2 FMA pipes x 4 lanes x 2 flops).
 * Without python3-torch (or ../shared) the PyTorch parts are skipped with a note and their fields are null.
 * ResNet-9 width 16 is also trained with lepton's own SIMD kernels off (LEPTON_NATIVE_KERNELS=0), for
 * their before/after ratio in the same run.
 * The last line is JSON (lenet_train_sps, torch_lenet_train_sps, ratio, resnet9_w16_*, resnet9_w32_*,
 * *_gflops, *_peak_share, simd_peak_gflops, peak_rss_mb_resnet9_w32, load averages).
 *
 *   node dist/bench/train_bench.js [--samples 6400] [--torch-samples 10000] [--epochs 3] [--resnet-samples 512]
 *        [--skip-cpu] [--skip-w32] [--torch-script PATH]
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
import { simdPeak, trainingFlopsPerSample } from "../src/backend/perf";
import { arg } from "./args";

const flag = (name: string) => process.argv.includes(name);

const SAMPLES = Number(arg("--samples") ?? "6400");
const TORCH_SAMPLES = Number(arg("--torch-samples") ?? "10000");
const EPOCHS = Number(arg("--epochs") ?? "3");
const BATCH = 64;
const RESNET_SAMPLES = Number(arg("--resnet-samples") ?? "512");
const PYTHON = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** Why PyTorch cannot be measured here, or undefined when `import torch` works. */
function torchMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" });
  return probe.status === 0 ? undefined : "PyTorch reference skipped: python3-torch is not installed (apt-get install python3-torch)";
}

/** Peak resident memory of this process so far, in MB (VmHWM from /proc/self/status, else resourceUsage's maxRSS). */
function peakRssMb(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync("/proc/self/status", "utf8"));
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch {
    // not Linux
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/**
 * bench/torch_resnet9.py at 1 and 2 threads: the trainable parameter count must equal lepton's
 * `params` (else the mirror is not the same network and the bench fails), then the best timed epoch.
 */
function torchResnetSps(width: number, n: number, epochs: number, params: number): { sps: number; threads: number; all: Record<string, number[]> } | string {
  const missing = torchMissing();
  if (missing) return missing;
  const script = path.join(__dirname, "..", "..", "bench", "torch_resnet9.py");
  if (!fs.existsSync(script)) return `PyTorch reference skipped: ${script} not found`;
  const all: Record<string, number[]> = {};
  let best = { sps: 0, threads: 1 };
  for (const threads of [1, 2]) {
    const res = spawnSync(PYTHON, [script, "--width", String(width), "--samples", String(n), "--epochs", String(epochs), "--batch", String(BATCH), "--threads", String(threads)], { encoding: "utf8" });
    const last = res.stdout.trim().split("\n").pop() ?? "";
    if (res.status !== 0 || !last.startsWith("{")) return `PyTorch ResNet-9 failed: ${res.stderr.trim().split("\n").pop()}`;
    const out = JSON.parse(last) as { params: number; train_sps: number[] };
    if (out.params !== params) throw new Error(`bench/torch_resnet9.py builds ${out.params} trainable parameters at width ${width}, lepton's resnet9 ${params}: the mirror is not the same network`);
    all[`threads_${threads}`] = out.train_sps.map((v) => Number(v.toFixed(1)));
    const top = Math.max(...out.train_sps);
    if (top > best.sps) best = { sps: top, threads };
  }
  return { ...best, all };
}

/** Trainable parameters of a tfjs-layers model (batch norm's moving statistics are not trainable). */
function trainableParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((acc, w) => acc + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

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
  const script = path.resolve(arg("--torch-script") ?? path.join(__dirname, "..", "..", "..", "shared", "bench", "torch_lenet.py"));
  if (!fs.existsSync(script)) return `PyTorch reference skipped: ${script} not found (pass --torch-script PATH)`;
  const python = PYTHON;
  const missing = torchMissing();
  if (missing) return missing;
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
  const peak = simdPeak();
  console.log(`WebAssembly SIMD peak: ${peak.formula} (clock from ${peak.clockSource}); load average ${os.loadavg().map((v) => v.toFixed(1)).join(" ")} on ${os.cpus().length} cores`);
  // On a hardware WebGPU adapter ready() picks "webgpu"; the adapter (vendor, architecture, description) goes in the JSON.
  const result: Record<string, unknown> = {
    backend: info.name, ...(info.threads ? { wasm_threads: info.threads.count } : {}), ...(info.adapter ? { adapter: info.adapter } : {}), batch: BATCH, samples: SAMPLES,
    cores: peak.cores, cpu_ghz: Number(peak.ghz.toFixed(3)), simd_peak_gflops: Number(peak.gflops.toFixed(1)),
    flop_rule: "forward = 2 x conv+dense MACs; training = 3 x forward",
    load_average_start: Number(os.loadavg()[0].toFixed(2)),
  };
  const gflops = (sps: number, flops: number) => Number(((sps * flops) / 1e9).toFixed(2));
  const share = (g: number) => Number((g / peak.gflops).toFixed(3));

  const lenetFlops = (() => {
    const m = lenet();
    const f = trainingFlopsPerSample(m);
    m.dispose();
    return f;
  })();
  const lenetRuns = await trainSps(() => lenet(), SAMPLES, EPOCHS);
  let lenetTrain = Math.max(...lenetRuns);
  const lenetInfer = inferSps(() => lenet(), 4000);
  console.log(`LeNet    ${info.name}: train ${lenetTrain.toFixed(0)} samples/s, inference ${lenetInfer.toFixed(0)} samples/s`);
  Object.assign(result, { lenet_train_sps: Math.round(lenetTrain), lenet_infer_sps: Math.round(lenetInfer), lenet_train_mflop_per_sample: Number((lenetFlops / 1e6).toFixed(3)) });

  // ResNet-9 at widths 16 and 32: lepton, then PyTorch right after it (same machine state).
  const widths = flag("--skip-w32") ? [16] : [16, 32];
  for (const width of widths) {
    const key = `resnet9_w${width}`;
    const probe = resnet9({ width });
    const flops = trainingFlopsPerSample(probe);
    const params = trainableParams(probe);
    probe.dispose();
    // Width 32 is ~4x the work: half the samples keep the bench's time in bounds.
    const n = width === 16 ? RESNET_SAMPLES : Math.max(BATCH * 2, RESNET_SAMPLES / 2);
    const runs = await trainSps(() => resnet9({ width }), n, width === 16 ? 2 : 1);
    const sps = Math.max(...runs);
    const g = gflops(sps, flops);
    console.log(`ResNet-9 (width ${width}, ${params} trainable parameters, ${(flops / 1e6).toFixed(1)} MFLOP per training sample) ${info.name}: train ${sps.toFixed(1)} samples/s = ${g} GFLOP/s, ${(share(g) * 100).toFixed(1)}% of the SIMD peak`);
    Object.assign(result, { [`${key}_params`]: params, [`${key}_train_mflop_per_sample`]: Number((flops / 1e6).toFixed(1)), [`${key}_train_sps`]: Number(sps.toFixed(1)), [`${key}_train_sps_runs`]: runs.map((v) => Number(v.toFixed(1))), [`${key}_gflops`]: g, [`${key}_peak_share`]: share(g) });
    if (width === 16 && info.name === "wasm" && process.env.LEPTON_NATIVE_KERNELS !== "0") {
      // Before/after lepton's own SIMD kernels (src/backend/wasm_native.ts) in this run: the same model with them off.
      process.env.LEPTON_NATIVE_KERNELS = "0";
      const off = Math.max(...(await trainSps(() => resnet9({ width }), n, 2)));
      delete process.env.LEPTON_NATIVE_KERNELS;
      console.log(`ResNet-9 (width 16) with lepton's SIMD kernels off (LEPTON_NATIVE_KERNELS=0): ${off.toFixed(1)} samples/s; on/off = ${(sps / off).toFixed(2)}`);
      Object.assign(result, { resnet9_w16_train_sps_native_off: Number(off.toFixed(1)), resnet9_w16_native_speedup: Number((sps / off).toFixed(3)) });
    }
    if (width === 32) {
      result.peak_rss_mb_resnet9_w32 = peakRssMb();
      console.log(`peak RSS after training ResNet-9 width 32 (the process's high-water mark, VmHWM): ${result.peak_rss_mb_resnet9_w32} MB`);
    }
    if (width === 16) {
      const resInfer = inferSps(() => resnet9({ width: 16 }), 1000);
      console.log(`ResNet-9 (width 16) ${info.name}: inference ${resInfer.toFixed(0)} samples/s`);
      result.resnet9_w16_infer_sps = Math.round(resInfer);
    }
    const torch = torchResnetSps(width, n, width === 16 ? 2 : 1, params);
    if (typeof torch === "string") {
      console.log(torch);
      Object.assign(result, { [`torch_${key}_train_sps`]: null, [`${key}_ratio`]: null });
    } else {
      const tg = gflops(torch.sps, flops);
      const ratio = sps / torch.sps;
      console.log(`PyTorch ResNet-9 (width ${width}): ${JSON.stringify(torch.all)} samples/s (best: ${torch.threads} thread(s)) = ${tg} GFLOP/s; lepton/PyTorch = ${ratio.toFixed(2)} (load average ${os.loadavg()[0].toFixed(1)})`);
      Object.assign(result, { [`torch_${key}_train_sps`]: Number(torch.sps.toFixed(1)), [`torch_${key}_threads`]: torch.threads, [`torch_${key}_gflops`]: tg, [`${key}_ratio`]: Number(ratio.toFixed(3)) });
    }
  }

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
    console.log(`PyTorch LeNet: ${JSON.stringify(torch.all)} samples/s (best: ${torch.threads} thread(s)) = ${gflops(torch.sps, lenetFlops)} GFLOP/s; lepton/PyTorch = ${ratio.toFixed(2)}`);
    Object.assign(result, { torch_lenet_train_sps: torch.sps, torch_threads: torch.threads, torch_lenet_gflops: gflops(torch.sps, lenetFlops), ratio: Number(ratio.toFixed(3)) });
  }
  const lg = gflops(lenetTrain, lenetFlops);
  console.log(`LeNet    ${info.name}: ${lg} GFLOP/s of training work, ${(share(lg) * 100).toFixed(1)}% of the SIMD peak`);
  Object.assign(result, { lenet_gflops: lg, lenet_peak_share: share(lg), load_average_end: Number(os.loadavg()[0].toFixed(2)) });
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
