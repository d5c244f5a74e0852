/**
 * Speed in arithmetic: the training FLOPs of a tfjs-layers model (counted from its layers), the
 * WebAssembly SIMD peak of this machine (from its clock), and a short measured training probe.
 * Used by `npm run bench` (bench/train_bench.ts) and `lepton doctor`.
 *
 * Counting rule: forward FLOPs = 2 x the multiply-accumulates of the convolutions (outH x outW x
 * filters x kh x kw x inChannels per sample; depthwise: x 1 input channel per filter) and dense layers
 * (inputs x units); batch norm, activations, pools and the loss are not counted. Training = 3 x forward
 * (forward, input gradient, weight gradient), the usual convention; it overstates the first layer
 * slightly, whose input gradient is not needed.
 */
import * as fs from "fs";
import * as os from "os";
import type * as tf from "@tensorflow/tfjs";

/** Forward multiply-accumulates per sample of the conv and dense layers of `model`. */
export function forwardMacsPerSample(model: tf.LayersModel): number {
  let macs = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== "Conv2D" && cls !== "DepthwiseConv2D" && cls !== "Dense") continue;
    // The kernel's shape holds the taps: conv [kh, kw, in, out], depthwise [kh, kw, in, multiplier], dense [in, units].
    const kernel = layer.getWeights()[0];
    const taps = kernel.shape.reduce((a, b) => a * b, 1);
    const out = layer.outputShape as (number | null)[];
    const positions = cls === "Dense" ? out.slice(1, -1).reduce((a: number, b) => a * (b ?? 1), 1) : (out[1] as number) * (out[2] as number);
    macs += positions * taps;
  }
  return macs;
}

/** Training FLOPs per sample: 3 x forward, forward = 2 x MACs (see the counting rule above). */
export function trainingFlopsPerSample(model: tf.LayersModel): number {
  return 3 * 2 * forwardMacsPerSample(model);
}

export interface SimdPeak {
  gflops: number;
  cores: number;
  ghz: number;
  /** Where the clock came from. */
  clockSource: string;
  formula: string;
}

/**
 * The WebAssembly SIMD (128-bit) peak: cores x GHz x 2 FMA pipes x 4 float32 lanes x 2 flops per FMA.
 * The clock is the highest "cpu MHz" in /proc/cpuinfo (Linux), else Node's os.cpus() speed. It is a
 * ceiling, not a promise: SIMD128 has no fused multiply-add (relaxed SIMD does), so a wasm kernel that
 * issues separate multiplies and adds reaches half of it at best.
 */
export function simdPeak(cores = os.cpus().length): SimdPeak {
  let mhz = 0;
  let clockSource = "os.cpus()";
  try {
    const text = fs.readFileSync("/proc/cpuinfo", "utf8");
    for (const m of text.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)) mhz = Math.max(mhz, Number(m[1]));
    if (mhz > 0) clockSource = "/proc/cpuinfo cpu MHz";
  } catch {
    // not Linux
  }
  if (!(mhz > 0)) mhz = Math.max(0, ...os.cpus().map((c) => c.speed));
  const ghz = mhz / 1000;
  const gflops = cores * ghz * 2 * 4 * 2;
  return { gflops, cores, ghz, clockSource, formula: `${cores} cores x ${ghz.toFixed(2)} GHz x 2 FMA pipes x 4 lanes x 2 flops = ${gflops.toFixed(1)} GFLOP/s` };
}

export interface GflopsProbe {
  backend: string;
  model: string;
  batch: number;
  steps: number;
  seconds: number;
  samplesPerSecond: number;
  flopsPerSample: number;
  gflops: number;
}

/**
 * Measured training GFLOP/s of the engine in use: a small conv net (conv-BN-ReLU blocks, 3x3, widths
 * 16/32/64, pools, dense logits) trained on random 32x32x3 batches with lepton.train for about `seconds`
 * after two warm-up batches, its FLOPs counted by trainingFlopsPerSample.
 */
export async function measureTrainingGflops(seconds = 1.5, batch = 64): Promise<GflopsProbe> {
  const tfjs = require("@tensorflow/tfjs") as typeof tf;
  const { train } = require("../training") as typeof import("../training");
  const { fromTensors } = require("../data") as typeof import("../data");
  const model = tfjs.sequential({ name: "probe_convnet" });
  const block = (filters: number, first = false) => {
    model.add(tfjs.layers.conv2d({ ...(first ? { inputShape: [32, 32, 3] } : {}), filters, kernelSize: 3, padding: "same", useBias: false, kernelInitializer: tfjs.initializers.glorotUniform({ seed: filters }) }));
    model.add(tfjs.layers.batchNormalization({ momentum: 0.9 }));
    model.add(tfjs.layers.reLU());
    model.add(tfjs.layers.maxPooling2d({ poolSize: 2 }));
  };
  block(16, true);
  block(32);
  block(64);
  model.add(tfjs.layers.flatten());
  model.add(tfjs.layers.dense({ units: 10, kernelInitializer: tfjs.initializers.glorotUniform({ seed: 1 }) }));
  const n = batch * 8;
  const x = new Uint8Array(n * 32 * 32 * 3).map((_, i) => (i * 2654435761) >>> 24);
  const y = Int32Array.from({ length: n }, (_, i) => i % 10);
  const data = fromTensors(x, y, { inputShape: [32, 32, 3] });
  let start = 0;
  let samples = 0;
  let steps = 0;
  let warm = 0;
  const clock = {
    batchLogs: "every" as const,
    onBatchEnd(_b: number, logs: { size: number }, ctx: { stop(reason: string): void }) {
      if (++warm <= 2) {
        start = Date.now(); // the first two batches are the warm-up (kernel set-up, first allocations)
        return;
      }
      samples += logs.size;
      steps++;
      if ((Date.now() - start) / 1000 >= seconds) ctx.stop("probe done");
    },
  };
  await train(model, data, { epochs: 1000, batchSize: batch, optimizer: { type: "sgd", lr: 0.01, momentum: 0.9 }, verbose: 0, seed: 0, callbacks: [clock] });
  const elapsed = Math.max((Date.now() - start) / 1000, 1e-3);
  const flopsPerSample = trainingFlopsPerSample(model);
  model.dispose();
  const sps = samples / elapsed;
  return { backend: tfjs.getBackend(), model: "conv 16-32-64 (3x3, BN, ReLU, pools) + dense", batch, steps, seconds: Number(elapsed.toFixed(2)), samplesPerSecond: Number(sps.toFixed(1)), flopsPerSample, gflops: Number(((sps * flopsPerSample) / 1e9).toFixed(2)) };
}
