import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as http from "http";
import { createHash } from "crypto";
import type { AddressInfo } from "net";
import * as tf from "@tensorflow/tfjs";
import { gzipSync } from "zlib";
import { gunzipSync } from "zlib";
import {
  mnist, fashionMnist, parseIdx, readIdxFile, loadIdxDataset, FASHION_MNIST_CLASSES, MNIST_SOURCE, FASHION_MNIST_SOURCE,
  DEBIAN_FASHION_MNIST_DIR, type IdxSource, type MnistOptions,
} from "../src/data/mnist";
import type { InMemoryDataset } from "../src/data/tensor_dataset";
import { captureDisplay } from "./display_capture";
import { chooseSample } from "../bench/make_fashion_mnist_sample";
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

/**
 * The MNIST / Fashion-MNIST loaders with small expected counts, for hand-made files: without the
 * standard locations (Debian's /usr/share/datasets/fashion-mnist may be installed here) and without
 * the fallback to the bundled sample, unless the test asks for them.
 */
const small = (source: IdxSource, train: number, test: number) => (o: MnistOptions) =>
  loadIdxDataset({ ...source, counts: { train, test } }, { systemDirs: [], subset: "full", ...o });

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


/** Sum of all pixel bytes of a split, read back through batches (x * 255, rounded), and each image's sum. */
async function pixelSums(ds: InMemoryDataset, batchSize = 5000): Promise<{ total: number; perImage: number[] }> {
  let total = 0;
  const perImage: number[] = [];
  for await (const { x, y } of ds.batches({ batchSize })) {
    const v = x.dataSync();
    for (let i = 0; i < v.length; i += 784) {
      let s = 0;
      for (let j = i; j < i + 784; j++) s += Math.round(v[j] * 255);
      perImage.push(s);
      total += s;
    }
    tf.dispose([x, y]);
  }
  return { total, perImage };
}

const SAMPLE_DIR = path.resolve(__dirname, "..", "data", "fashion-mnist-sample");
const FILE_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

describe("the bundled Fashion-MNIST sample", () => {
  it("is the files data/README.md names, exactly balanced (200 / 50 per class), with numpy's pixel sums", async () => {
    // md5s as listed in data/README.md (made by bench/make_fashion_mnist_sample.ts).
    expect(Object.fromEntries(FILE_NAMES.map((f) => [f, md5(fs.readFileSync(path.join(SAMPLE_DIR, f)))]))).toEqual({
      "train-images-idx3-ubyte.gz": "9b15772ee8c248f1a62933fce9ebcb9f",
      "train-labels-idx1-ubyte.gz": "82a3304e38fc94d261cc0f626261a98f",
      "t10k-images-idx3-ubyte.gz": "e389f6b22a6e0e902e864a5bff135ca4",
      "t10k-labels-idx1-ubyte.gz": "5e84680705492aec6bed37c64892ebc0",
    });
    const { result: s, shown } = await captureDisplay(() => fashionMnist({ subset: "sample" }));
    expect(shown).toEqual([]); // asked for: no notice
    expect(s.subset).toBe("sample");
    expect(s.source).toBe(`${SAMPLE_DIR} (the bundled sample, 2,000 train / 500 test images)`);
    expect(s.train.size).toBe(2000);
    expect(s.test.size).toBe(500);
    expect(s.train.inputShape).toEqual([28, 28, 1]);
    expect(s.train.classes).toEqual(FASHION_MNIST_CLASSES);
    expect(s.train.classCounts()).toEqual(new Array(10).fill(200));
    expect(s.test.classCounts()).toEqual(new Array(10).fill(50));
    // Computed independently with numpy from the same files:
    //   x = np.frombuffer(gzip.open(f).read(), np.uint8, offset=16); int(x.astype(np.int64).sum())
    //   y = np.frombuffer(gzip.open(f).read(), np.uint8, offset=8); y[:10]
    expect(Array.from(s.train.labels().slice(0, 10))).toEqual([6, 2, 8, 7, 6, 8, 2, 6, 5, 9]);
    expect(Array.from(s.test.labels().slice(0, 10))).toEqual([4, 4, 9, 7, 2, 3, 5, 9, 8, 4]);
    const before = tf.memory().numTensors;
    expect((await pixelSums(s.train)).total).toBe(114_714_990);
    expect((await pixelSums(s.test)).total).toBe(27_750_976);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("auto falls back to it with the notice CIFAR-10's sample gives; full fails saying where to put which files", async () => {
    const cache = path.join(tmp, "fm-empty-cache");
    const offline = { cacheDir: cache, download: false, systemDirs: [] as string[] };
    const { result: s, shown } = await captureDisplay(() => fashionMnist(offline));
    expect(s.subset).toBe("sample");
    expect(s.train.size).toBe(2000);
    expect(shown).toEqual([
      `Notice: using the bundled Fashion-MNIST sample (2,000 train / 500 test images), not the full set. ` +
      `fashion-mnist was not found and downloading is off. Put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, ` +
      `t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/) in one of: ` +
      `${path.join(cache, "fashion-mnist")} (a folder named fashion-mnist/ in $LEPTON_DATA_DIR or the cache; directly in a folder only when you pass it as { dir }).`,
    ]);
    // With the standard location searched (and empty), the message names it and says whose it is.
    const nowhere = path.join(tmp, "no-debian-here");
    const err = (await fashionMnist({ ...offline, subset: "full", systemDirs: [nowhere] }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(`fashion-mnist was not found and downloading is off. Put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, ` +
      `t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/) in one of: ` +
      `${path.join(cache, "fashion-mnist")}, ${nowhere} (a folder named fashion-mnist/ in $LEPTON_DATA_DIR or the cache; directly in a folder only when you pass it as { dir }).`);
    // A failed download falls back too, saying why.
    const server = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    await new Promise<void>((r) => server.close(() => r()));
    const failed = await captureDisplay(() => fashionMnist({ cacheDir: cache, systemDirs: [], baseUrl, progress: false }));
    expect(failed.result.subset).toBe("sample");
    expect(failed.shown.length).toBe(1);
    expect(failed.shown[0]).toMatch(/^Notice: using the bundled Fashion-MNIST sample \(2,000 train \/ 500 test images\), not the full set\. fashion-mnist was not found and the download failed \(/);
    // A damaged full set is an error, never silently replaced by the sample.
    const bad = path.join(tmp, "fm-bad");
    writeSet(bad, 20, 5);
    await expect(fashionMnist({ dir: bad, download: false, systemDirs: [] })).rejects.toThrow(/20 images, but fashion-mnist's train split has 60,000/);
    // A folder named by { dir } that does not exist (a typo) is reported, not replaced by the sample.
    await expect(fashionMnist({ dir: path.join(tmp, "no-such-folder"), download: false, systemDirs: [] })).rejects.toThrow(/no-such-folder \(given as \{ dir \}\) does not exist/);
    await expect(fashionMnist({ systemDirs: "/usr/share" as any })).rejects.toThrow(/systemDirs must be a list of folder paths/);
    // MNIST has no sample.
    await expect(mnist({ subset: "sample" })).rejects.toThrow(/no sample of MNIST is bundled with lepton; use subset "full"/);
    await expect(fashionMnist({ subset: "some" as "auto" })).rejects.toThrow(/fashionMnist\(\): subset must be "auto", "full" or "sample"; got "some"/);
  });

  it("a standard location holds the files directly and is searched after the cache", async () => {
    const std = path.join(tmp, "usr-share-datasets-fm");
    writeSet(std, 30, 10);
    const load = small(FASHION_MNIST_SOURCE, 30, 10);
    const f = await load({ cacheDir: path.join(tmp, "fm-cache-3"), download: false, systemDirs: [std] });
    expect(f.subset).toBe("full");
    expect(f.source).toBe(`${std} (a standard location)`);
    // The cache comes first.
    const cache = path.join(tmp, "fm-cache-4");
    writeSet(path.join(cache, "fashion-mnist"), 30, 10);
    expect((await load({ cacheDir: cache, download: false, systemDirs: [std] })).source).toBe(path.join(cache, "fashion-mnist"));
  });
});

// Debian's package dataset-fashion-mnist (apt-get install dataset-fashion-mnist; CI installs it).
const debian = FILE_NAMES.every((f) => fs.existsSync(path.join(DEBIAN_FASHION_MNIST_DIR, f)));
describe("Fashion-MNIST from Debian's dataset-fashion-mnist", () => {
  it("is found at its standard location and read as 60,000 / 10,000 images with 6,000 / 1,000 per class and numpy's checksums", async (ctx) => {
    if (!debian) {
      const why = `${DEBIAN_FASHION_MNIST_DIR} lacks the four IDX files (apt-get install dataset-fashion-mnist)`;
      if (process.env.CI) throw new Error(`CI is set, so a missing data set is a failure, not a skip: ${why}`);
      console.warn(`test skipped: ${why}`);
      return ctx.skip(why);
    }
    // The files are the original release: their uncompressed md5s are the ones Zalando publishes
    // (Debian re-compressed them, so the .gz md5s differ from FASHION_MNIST_SOURCE.md5's).
    const raw = Object.fromEntries(FILE_NAMES.map((f) => [f, md5(gunzipSync(fs.readFileSync(path.join(DEBIAN_FASHION_MNIST_DIR, f))))]));
    expect(raw).toEqual({
      "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
      "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
      "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
      "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
    });
    const { result: f, shown } = await captureDisplay(() =>
      fashionMnist({ cacheDir: path.join(tmp, "fm-debian-cache"), download: false, subset: "full" }));
    expect(shown).toEqual([]);
    expect(f.subset).toBe("full");
    expect(f.source).toBe(`${DEBIAN_FASHION_MNIST_DIR} (installed by Debian's package dataset-fashion-mnist)`);
    expect(f.train.size).toBe(60_000);
    expect(f.test.size).toBe(10_000);
    expect(f.train.classCounts()).toEqual(new Array(10).fill(6000));
    expect(f.test.classCounts()).toEqual(new Array(10).fill(1000));
    // numpy on the same files (see the sample's test): the first labels, the pixel sum of each split
    // and of its first and last image.
    expect(Array.from(f.train.labels().slice(0, 10))).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect(Array.from(f.test.labels().slice(0, 10))).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    const tr = await pixelSums(f.train);
    expect(tr.total).toBe(3_431_114_169);
    expect([tr.perImage[0], tr.perImage[59_999]]).toEqual([76_247, 16_684]);
    const te = await pixelSums(f.test);
    expect(te.total).toBe(573_469_082);
    expect([te.perImage[0], te.perImage[9_999]]).toEqual([33_456, 24_390]);
    // With subset "auto" (the default) the full set wins over the sample, without a notice.
    const auto = await captureDisplay(() => fashionMnist({ cacheDir: path.join(tmp, "fm-debian-cache"), download: false }));
    expect(auto.result.subset).toBe("full");
    expect(auto.shown).toEqual([]);
  });

  it("the bundled sample is bench/make_fashion_mnist_sample.ts's seeded choice from these files, byte for byte", (ctx) => {
    if (!debian) {
      if (process.env.CI) throw new Error(`CI is set: ${DEBIAN_FASHION_MNIST_DIR} lacks the IDX files (apt-get install dataset-fashion-mnist)`);
      return ctx.skip("dataset-fashion-mnist is not installed");
    }
    for (const [split, prefix, perClass] of [[0, "train", 200], [1, "t10k", 50]] as const) {
      const images = readIdxFile(path.join(DEBIAN_FASHION_MNIST_DIR, `${prefix}-images-idx3-ubyte.gz`));
      const labels = readIdxFile(path.join(DEBIAN_FASHION_MNIST_DIR, `${prefix}-labels-idx1-ubyte.gz`));
      const sImages = readIdxFile(path.join(SAMPLE_DIR, `${prefix}-images-idx3-ubyte.gz`));
      const sLabels = readIdxFile(path.join(SAMPLE_DIR, `${prefix}-labels-idx1-ubyte.gz`));
      const chosen = chooseSample(labels.data, perClass, split);
      expect(chosen.length).toBe(10 * perClass);
      expect(sImages.dims).toEqual([10 * perClass, 28, 28]);
      expect(new Set(chosen).size).toBe(chosen.length);
      chosen.forEach((i, k) => {
        expect(sLabels.data[k]).toBe(labels.data[i]);
        expect(Buffer.compare(Buffer.from(sImages.data.subarray(k * 784, (k + 1) * 784)), Buffer.from(images.data.subarray(i * 784, (i + 1) * 784)))).toBe(0);
      });
    }
  });
});
