/**
 * Data loader benchmark: time and peak memory to load the full CIFAR-10 archive (.tar.gz), then
 * batches per second of the loader alone (no model) at batch 64, plain and with augmentation.
 *
 *   npm run build && LEPTON_DATA_DIR=../shared/datasets node dist/bench/data_bench.js [--backend cpu|wasm] [--batches 300] [--paths array,tensor]
 *
 * When the full set came from an archive, it also times a cache of its own (a temporary copy of
 * the archive as lepton's cache): the first load (gunzip, check, write the folder) and the next
 * one (read the folder).
 *
 * Each pipeline is timed with the transforms on the batch values ("array" path) and as tf ops on
 * the batch tensor ("tensor" path); --paths picks which. Without the full set it measures the
 * bundled sample and says so.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { cifar10 } from "../src/data/cifar10";
import type { InMemoryDataset } from "../src/data/tensor_dataset";
import type { TransformPath } from "../src/data/transforms";
import { arg } from "./args";


async function batchesPerSecond(ds: InMemoryDataset, count: number, transforms: TransformPath): Promise<number> {
  // Warm up (first kernels compile / allocate), then time `count` batches.
  let seen = 0;
  for await (const b of ds.batches({ batchSize: 64, shuffle: true, seed: 1, transforms })) {
    tf.dispose([b.x, b.y]);
    if (++seen >= 5) break;
  }
  const start = process.hrtime.bigint();
  seen = 0;
  for await (const b of ds.batches({ batchSize: 64, shuffle: true, seed: 2, dropLast: true, transforms })) {
    await b.x.data(); // make sure the batch is really computed
    tf.dispose([b.x, b.y]);
    if (++seen >= count) break;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return seen / seconds;
}

async function main(): Promise<void> {
  const backend = arg("--backend") ?? "cpu";
  if (backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  await tf.setBackend(backend);
  await tf.ready();
  const count = Number(arg("--batches") ?? "300");

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

  const archive = /^(.*\.tar\.gz) \(md5/.exec(data.source)?.[1];
  if (archive && process.argv.includes("--no-cache-load") === false) {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-data-bench-"));
    const env = process.env.LEPTON_DATA_DIR;
    delete process.env.LEPTON_DATA_DIR; // so that the search ends at this cache
    try {
      fs.copyFileSync(archive, path.join(cache, "cifar-10-binary.tar.gz"));
      for (const what of ["first load from the cache (gunzip, check, write cifar-10-batches-bin/)", "next load from the cache (read cifar-10-batches-bin/)"]) {
        const c0 = process.hrtime.bigint();
        const c = await cifar10({ cacheDir: cache, download: false, progress: false });
        console.log(`${what}: ${(Number(process.hrtime.bigint() - c0) / 1e9).toFixed(2)} s (${c.source.split(cache).join("<cache>")})`);
      }
    } finally {
      if (env !== undefined) process.env.LEPTON_DATA_DIR = env;
      fs.rmSync(cache, { recursive: true, force: true });
    }
  }

  const s0 = process.hrtime.bigint();
  const stats = data.train.channelStats();
  console.log(`channelStats over the train split: ${(Number(process.hrtime.bigint() - s0) / 1e9).toFixed(2)} s, ` +
    `mean [${stats.mean.map((v) => v.toFixed(4)).join(", ")}], std [${stats.std.map((v) => v.toFixed(4)).join(", ")}]`);

  const paths = (arg("--paths") ?? "array,tensor").split(",") as TransformPath[];
  const mean = [0.4914, 0.4822, 0.4465];
  const std = [0.247, 0.2435, 0.2616];
  const pipelines: [string, InMemoryDataset][] = [
    ["plain", data.train],
    ["normalize", data.train.normalize(mean, std)],
    ["crop(4)+flip+normalize", data.train.augment({ crop: { padding: 4 }, flip: true }).normalize(mean, std)],
    ["crop+flip+cutout(8)+normalize", data.train.augment({ crop: { padding: 4 }, flip: true, cutout: { size: 8 } }).normalize(mean, std)],
  ];
  for (const [name, ds] of pipelines) {
    for (const p of paths) {
      const r = await batchesPerSecond(ds, count, p);
      console.log(`batches/s at 64, ${(name + ",").padEnd(31)} ${p.padEnd(6)} path: ${r.toFixed(1).padStart(6)} (${(r * 64).toFixed(0)} images/s)`);
      if (name === "plain") break; // no transforms: both paths are the same code
    }
  }
  console.log(`tensors left: ${tf.memory().numTensors}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
