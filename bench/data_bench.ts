/**
 * Data loader benchmark: time and peak memory to load the full CIFAR-10 archive (.tar.gz), then
 * batches per second of the loader alone (no model) at batch 64, plain and with augmentation.
 *
 *   npm run build && LEPTON_DATA_DIR=../shared/datasets node dist/bench/data_bench.js [--backend cpu|wasm] [--batches 300]
 *
 * Without the full set it measures the bundled sample and says so.
 */
import * as tf from "@tensorflow/tfjs";
import { cifar10 } from "../src/data/cifar10";
import type { InMemoryDataset } from "../src/data/tensor_dataset";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function batchesPerSecond(ds: InMemoryDataset, count: number): Promise<number> {
  // Warm up (first kernels compile / allocate), then time `count` batches.
  let seen = 0;
  for await (const b of ds.batches({ batchSize: 64, shuffle: true, seed: 1 })) {
    tf.dispose([b.x, b.y]);
    if (++seen >= 5) break;
  }
  const start = process.hrtime.bigint();
  seen = 0;
  for await (const b of ds.batches({ batchSize: 64, shuffle: true, seed: 2, dropLast: true })) {
    await b.x.data(); // make sure the batch is really computed
    tf.dispose([b.x, b.y]);
    if (++seen >= count) break;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return seen / seconds;
}

async function main(): Promise<void> {
  const backend = arg("backend", "cpu");
  if (backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  await tf.setBackend(backend);
  await tf.ready();
  const count = Number(arg("batches", "300"));

  const rssBefore = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  const data = await cifar10({ download: false, progress: false });
  const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  const mem = process.memoryUsage();
  console.log(`backend: ${tf.getBackend()}`);
  console.log(`data: ${data.subset} (${data.source})`);
  console.log(`load: ${loadSeconds.toFixed(2)} s for ${data.train.size} train + ${data.test.size} test images`);
  console.log(`memory: peak RSS ${peakRssMB.toFixed(0)} MB during load (RSS before ${(rssBefore / 1e6).toFixed(0)} MB, ` +
    `after ${(mem.rss / 1e6).toFixed(0)} MB; typed arrays ${(mem.arrayBuffers / 1e6).toFixed(0)} MB)`);

  const s0 = process.hrtime.bigint();
  const stats = data.train.channelStats();
  console.log(`channelStats over the train split: ${(Number(process.hrtime.bigint() - s0) / 1e9).toFixed(2)} s, ` +
    `mean [${stats.mean.map((v) => v.toFixed(4)).join(", ")}], std [${stats.std.map((v) => v.toFixed(4)).join(", ")}]`);

  const plain = await batchesPerSecond(data.train, count);
  console.log(`batches/s at 64, plain:                     ${plain.toFixed(1)} (${(plain * 64).toFixed(0)} images/s)`);
  const norm = data.train.normalize([0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]);
  const n = await batchesPerSecond(norm, count);
  console.log(`batches/s at 64, normalize:                 ${n.toFixed(1)} (${(n * 64).toFixed(0)} images/s)`);
  const aug = data.train.augment({ crop: { padding: 4 }, flip: true }).normalize([0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]);
  const a = await batchesPerSecond(aug, count);
  console.log(`batches/s at 64, crop(4)+flip+normalize:    ${a.toFixed(1)} (${(a * 64).toFixed(0)} images/s)`);
  const augC = data.train.augment({ crop: { padding: 4 }, flip: true, cutout: { size: 8 } }).normalize([0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]);
  const c = await batchesPerSecond(augC, count);
  console.log(`batches/s at 64, crop+flip+cutout+normalize: ${c.toFixed(1)} (${(c * 64).toFixed(0)} images/s)`);
  console.log(`tensors left: ${tf.memory().numTensors}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
