/**
 * Makes the bundled Fashion-MNIST sample (data/fashion-mnist-sample/) from the original IDX files
 * (Debian's package dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist): a
 * seeded, exactly class-balanced choice of 200 train and 50 test images of each class, kept in
 * file order, written as the same four gzip IDX files (gzip level 9, no name or time in the header,
 * so the output is the same byte for byte on every run).
 *
 * The choice: for each class, the indices of its images in file order are shuffled with
 * shuffleInPlace(makeRng(mixSeed(SEED, split, class))) (src/data/rng.ts, mulberry32) and the first
 * 200 (train; split 0) or 50 (test; split 1) are taken; the chosen indices are then sorted.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/make_fashion_mnist_sample.js /usr/share/datasets/fashion-mnist
 */
import * as fs from "fs";
import * as path from "path";
import { gzipSync } from "zlib";
import { md5File } from "../src/data/download";
import { readIdxFile, type Idx } from "../src/data/mnist";
import { packageRoot } from "../src/data/paths";
import { makeRng, mixSeed, shuffleInPlace } from "../src/data/rng";

export const SAMPLE_SEED = 2017; // the year Fashion-MNIST was published
const PER_CLASS = { train: 200, test: 50 };

/** The indices chosen from `labels` (sorted): `perClass` of each of the ten classes. */
export function chooseSample(labels: Uint8Array, perClass: number, split: number, seed = SAMPLE_SEED): number[] {
  const chosen: number[] = [];
  for (let c = 0; c < 10; c++) {
    const of: number[] = [];
    labels.forEach((l, i) => { if (l === c) of.push(i); });
    if (of.length < perClass) throw new Error(`class ${c} has ${of.length} images, fewer than ${perClass}`);
    shuffleInPlace(of, makeRng(mixSeed(seed, split, c)));
    chosen.push(...of.slice(0, perClass));
  }
  return chosen.sort((a, b) => a - b);
}

/** An IDX file of unsigned bytes: magic 0 0 8 ndim, big-endian dims, data. */
function idx(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

function subset(images: Idx, labels: Idx, chosen: number[]): { images: Buffer; labels: Buffer } {
  const [, h, w] = images.dims;
  const px = h * w;
  const x = new Uint8Array(chosen.length * px);
  const y = new Uint8Array(chosen.length);
  chosen.forEach((i, k) => {
    x.set(images.data.subarray(i * px, (i + 1) * px), k * px);
    y[k] = labels.data[i];
  });
  return { images: idx([chosen.length, h, w], x), labels: idx([chosen.length], y) };
}

async function main(): Promise<void> {
  const src = process.argv[2];
  if (!src) throw new Error("usage: node dist/bench/make_fashion_mnist_sample.js <folder with the four Fashion-MNIST IDX .gz files>");
  const out = path.join(packageRoot(), "data", "fashion-mnist-sample");
  fs.mkdirSync(out, { recursive: true });
  const splits = [
    { split: 0, perClass: PER_CLASS.train, images: "train-images-idx3-ubyte.gz", labels: "train-labels-idx1-ubyte.gz" },
    { split: 1, perClass: PER_CLASS.test, images: "t10k-images-idx3-ubyte.gz", labels: "t10k-labels-idx1-ubyte.gz" },
  ];
  for (const s of splits) {
    const images = readIdxFile(path.join(src, s.images));
    const labels = readIdxFile(path.join(src, s.labels));
    const chosen = chooseSample(labels.data, s.perClass, s.split);
    const sub = subset(images, labels, chosen);
    // zlib's gzip header has no file name and mtime 0: the same bytes on every run.
    fs.writeFileSync(path.join(out, s.images), gzipSync(sub.images, { level: 9 }));
    fs.writeFileSync(path.join(out, s.labels), gzipSync(sub.labels, { level: 9 }));
    console.log(`${s.images}: ${chosen.length} images, first indices ${chosen.slice(0, 5).join(", ")}`);
  }
  for (const s of splits) for (const f of [s.images, s.labels]) {
    console.log(`source ${f} md5 ${await md5File(path.join(src, f))}`);
  }
  for (const s of splits) for (const f of [s.images, s.labels]) {
    console.log(`${f}: ${fs.statSync(path.join(out, f)).size} bytes, md5 ${await md5File(path.join(out, f))}`);
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
