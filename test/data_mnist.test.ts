import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as http from "http";
import { createHash } from "crypto";
import type { AddressInfo } from "net";
import * as tf from "@tensorflow/tfjs";
import { gzipSync } from "zlib";
import { mnist, fashionMnist, parseIdx, loadIdxDataset, FASHION_MNIST_CLASSES, MNIST_SOURCE, FASHION_MNIST_SOURCE, type IdxSource, type MnistOptions } from "../src/data/mnist";
import { idxBuffer, digitFiles } from "./fixtures/data/idx";

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
let tmp: string;
const savedEnv = process.env.LEPTON_DATA_DIR;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-mnist-"));
  delete process.env.LEPTON_DATA_DIR;
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  if (savedEnv !== undefined) process.env.LEPTON_DATA_DIR = savedEnv;
});

/** The MNIST / Fashion-MNIST loaders with small expected counts, for hand-made files. */
const small = (source: IdxSource, train: number, test: number) => (o: MnistOptions) =>
  loadIdxDataset({ ...source, counts: { train, test } }, o);

function writeSet(dir: string, nTrain: number, nTest: number, h = 28, w = 28) {
  fs.mkdirSync(dir, { recursive: true });
  const tr = digitFiles(nTrain, h, w);
  const te = digitFiles(nTest, h, w);
  const files: Record<string, Buffer> = {
    "train-images-idx3-ubyte.gz": tr.images,
    "train-labels-idx1-ubyte.gz": tr.labels,
    "t10k-images-idx3-ubyte.gz": te.images,
    "t10k-labels-idx1-ubyte.gz": te.labels,
  };
  for (const [f, b] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), b);
  return files;
}

describe("IDX parsing", () => {
  it("reads gzip and plain IDX files", () => {
    const plain = parseIdx(idxBuffer([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], false), "p");
    expect(plain.dims).toEqual([2, 2, 3]);
    expect(Array.from(plain.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const gz = parseIdx(idxBuffer([3], [7, 8, 9]), "g");
    expect(Array.from(gz.data)).toEqual([7, 8, 9]);
  });

  it("rejects damaged files naming the file and the problem", () => {
    expect(() => parseIdx(idxBuffer([2, 2, 2], [1, 2, 3], false), "cut.idx")).toThrow(/cut\.idx: dimensions \[2, 2, 2\] need 8 data bytes after the 16-byte header but the file has 3/);
    expect(() => parseIdx(Buffer.from([1, 2, 8, 1, 0, 0, 0, 0]), "magic.idx")).toThrow(/magic\.idx: bytes 0-1 are 1, 2/);
    const gz = idxBuffer([3], [7, 8, 9]);
    expect(() => parseIdx(gz.subarray(0, gz.length - 6), "trunc.gz")).toThrow(/trunc\.gz: damaged gzip/);
  });

  it("caps what gzip data may expand to", () => {
    // 2 MB of zeros compress to about 2 KB: refused under a 1 MB cap, read under the default one.
    const bomb = gzipSync(Buffer.concat([idxBuffer([2_000_000], new Uint8Array(2_000_000), false)]));
    expect(bomb.length).toBeLessThan(10_000);
    expect(() => parseIdx(bomb, "bomb.gz", { maxBytes: 1_000_000 })).toThrow(/bomb\.gz: the gzip data expands to more than 1000000 bytes/);
    expect(parseIdx(bomb, "bomb.gz").dims).toEqual([2_000_000]);
  });
});

describe("mnist / fashionMnist", () => {
  it("loads hand-made files from a folder (or its mnist/ subfolder) as [28,28,1] images in [0,1]", async () => {
    writeSet(path.join(tmp, "local", "mnist"), 30, 10);
    const m = await small(MNIST_SOURCE, 30, 10)({ dir: path.join(tmp, "local"), download: false, cacheDir: path.join(tmp, "nocache") });
    expect(m.train.size).toBe(30);
    expect(m.test.size).toBe(10);
    expect(m.train.inputShape).toEqual([28, 28, 1]);
    expect(Array.from(m.train.labels().slice(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    const before = tf.memory().numTensors;
    const it = m.train.batches({ batchSize: 4 });
    const { value } = await it.next();
    await it.return?.(undefined);
    expect(value.x.shape).toEqual([4, 28, 28, 1]);
    // image 2, pixel 100 -> (2*13 + 100) % 256 / 255
    expect(value.x.dataSync()[2 * 784 + 100]).toBeCloseTo(126 / 255, 6);
    tf.dispose([value.x, value.y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses mismatched image and label counts and out-of-range labels", async () => {
    const dir = path.join(tmp, "bad");
    writeSet(dir, 20, 5);
    fs.writeFileSync(path.join(dir, "t10k-labels-idx1-ubyte.gz"), idxBuffer([4], [1, 2, 3, 4]));
    const load = small(MNIST_SOURCE, 20, 5);
    await expect(load({ dir, download: false, cacheDir: path.join(tmp, "nocache") })).rejects.toThrow(/holds 5 images but .*t10k-labels-idx1-ubyte\.gz holds 4 labels/);
    fs.writeFileSync(path.join(dir, "t10k-labels-idx1-ubyte.gz"), idxBuffer([5], [1, 2, 3, 12, 4]));
    await expect(load({ dir, download: false, cacheDir: path.join(tmp, "nocache") })).rejects.toThrow(/label 12 at index 3 \(byte offset 11\)/);
  });

  it("checks the 60,000 / 10,000 counts and 28x28 shapes of the real sets", async () => {
    const dir = path.join(tmp, "counts");
    writeSet(dir, 20, 5);
    const opts = { dir, download: false, cacheDir: path.join(tmp, "nocache") };
    await expect(mnist(opts)).rejects.toThrow(/train-images-idx3-ubyte\.gz: 20 images, but mnist's train split has 60,000; the file is incomplete, from another data set, or the train and test files are swapped/);
    await expect(fashionMnist(opts)).rejects.toThrow(/train-images-idx3-ubyte\.gz: 20 images, but fashion-mnist's train split has 60,000/);
    // Train and test swapped: caught by the count of the file that is read first.
    await expect(small(MNIST_SOURCE, 5, 20)(opts)).rejects.toThrow(/train-images-idx3-ubyte\.gz: 20 images, but mnist's train split has 5;/);
    const odd = path.join(tmp, "odd");
    writeSet(odd, 20, 5, 28, 27);
    await expect(small(MNIST_SOURCE, 20, 5)({ ...opts, dir: odd })).rejects.toThrow(/train-images-idx3-ubyte\.gz: images are 28x27, but mnist's train split has 28x28 images/);
  });

  it("takes top-level files only from an explicit dir; elsewhere only the set's own subfolder, so the sets cannot be confused", async () => {
    const env = path.join(tmp, "env");
    writeSet(env, 30, 10); // ambiguous: MNIST or Fashion-MNIST?
    const nocache = path.join(tmp, "nocache2");
    const m = small(MNIST_SOURCE, 30, 10);
    const f = small(FASHION_MNIST_SOURCE, 30, 10);
    process.env.LEPTON_DATA_DIR = env;
    try {
      await expect(m({ download: false, cacheDir: nocache })).rejects.toThrow(
        `mnist was not found and downloading is off. Put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (from https://ossci-datasets.s3.amazonaws.com/mnist/) in one of: ${path.join(env, "mnist")}, ${path.join(nocache, "mnist")} (a folder named mnist/ in $LEPTON_DATA_DIR or the cache; directly in a folder only when you pass it as { dir }).`);
      await expect(f({ download: false, cacheDir: nocache })).rejects.toThrow(/fashion-mnist was not found/);
      // Named explicitly, the same files load.
      expect((await m({ dir: env, download: false, cacheDir: nocache })).source).toBe(env);
      // A fashion-mnist/ subfolder is found by fashionMnist and ignored by mnist.
      writeSet(path.join(env, "fashion-mnist"), 30, 10);
      expect((await f({ download: false, cacheDir: nocache })).source).toBe(path.join(env, "fashion-mnist"));
      await expect(m({ download: false, cacheDir: nocache })).rejects.toThrow(/mnist was not found/);
      // And a subfolder of an explicit dir wins over top-level files there.
      writeSet(path.join(env, "mnist"), 30, 10);
      expect((await m({ dir: env, download: false, cacheDir: nocache })).source).toBe(path.join(env, "mnist"));
    } finally {
      delete process.env.LEPTON_DATA_DIR;
    }
    const gone = path.join(tmp, "no-such-dir");
    await expect(mnist({ dir: gone, download: false })).rejects.toThrow(`${gone} (given as { dir }) does not exist. Pass the folder that holds the four mnist IDX files (directly or in a mnist/ subfolder)`);
  });

  it("downloads missing files into the cache with md5 checks; a wrong md5 saves nothing", async () => {
    const served = writeSet(path.join(tmp, "served"), 12, 6);
    const hits: string[] = [];
    const server = http.createServer((req, res) => {
      const name = path.basename(req.url ?? "");
      hits.push(name);
      const body = served[name];
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { "Content-Length": String(body.length) });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/f/`;
    try {
      const md5s = Object.fromEntries(Object.entries(served).map(([f, b]) => [f, md5(b)]));
      const cache = path.join(tmp, "cache1");
      const bad = { ...md5s, "t10k-images-idx3-ubyte.gz": "f".repeat(32) };
      const load = small(FASHION_MNIST_SOURCE, 12, 6);
      await expect(load({ cacheDir: cache, baseUrl, md5: bad, progress: false }))
        .rejects.toThrow(/download failed .*md5.*Put train-images-idx3-ubyte\.gz/);
      expect(fs.readdirSync(path.join(cache, "fashion-mnist")).sort()).toEqual(["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]);
      const f = await load({ cacheDir: cache, baseUrl, md5: md5s, progress: false });
      expect(f.train.size).toBe(12);
      expect(f.test.size).toBe(6);
      expect(f.train.classes).toEqual(FASHION_MNIST_CLASSES);
      // The two files already in the cache were not fetched again.
      expect(hits.filter((h) => h === "train-images-idx3-ubyte.gz").length).toBe(1);
      expect(fs.readdirSync(path.join(cache, "fashion-mnist")).length).toBe(4);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("offline without files fails saying where to put which files", async () => {
    const cache = path.join(tmp, "empty-cache");
    await expect(mnist({ cacheDir: cache, download: false })).rejects.toThrow(/mnist was not found and downloading is off\. Put train-images-idx3-ubyte\.gz, train-labels-idx1-ubyte\.gz, t10k-images-idx3-ubyte\.gz, t10k-labels-idx1-ubyte\.gz \(from https:\/\/ossci-datasets/);
  });
});
