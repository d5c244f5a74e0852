/**
 * MNIST and Fashion-MNIST from their IDX files (gzip or plain), downloaded into the cache with md5
 * checks when absent. Both sets use the same four file names, so files are looked for in a
 * subfolder named after the set (`mnist/`, `fashion-mnist/`) of `dir`, $LEPTON_DATA_DIR and the
 * cache; only an explicit `dir` may also hold them directly (the caller said which set it is).
 * Counts (60,000 / 10,000) and 28x28 shapes are checked. Images stay uint8; batches are float32
 * [b, 28, 28, 1] in [0, 1].
 *
 * A set may also have standard locations where a system package installs its files directly (Debian's
 * `dataset-fashion-mnist` puts Fashion-MNIST's four .gz files in /usr/share/datasets/fashion-mnist),
 * searched after the cache and before any download; and a bundled sample (data/fashion-mnist-sample/,
 * 2,000 train / 500 test images, see data/README.md) that `subset: "sample"` asks for and `"auto"` falls
 * back to, with a notice, when the full set cannot be found or downloaded (as cifar10() does).
 *
 * Reading is bounded (cap LEPTON_MAX_IDX_BYTES / { maxBytes }, default 64 MiB, see ./limits): a
 * plain IDX file's header is read first (a few bytes through a file descriptor) and its dimensions
 * are checked against the file size and the cap before the body is read; a .gz file may be at most
 * the cap in size and its gunzip stops as soon as the output passes the cap.
 */
import * as fs from "fs";
import * as path from "path";
import { gunzipSync } from "zlib";
import { downloadFile } from "./download";
import { DataFormatError, DataNotFoundError } from "./errors";
import { LIMITS, LimitError, limitValue } from "./limits";
import { display } from "../display/display";
import { bundledDataDir, defaultCacheDir, requireGivenDir, searchDirs } from "./paths";
import { fromStore, type InMemoryDataset } from "./tensor_dataset";

export const MNIST_CLASSES: readonly string[] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
export const FASHION_MNIST_CLASSES: readonly string[] = [
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
];

const FILES = {
  trainImages: "train-images-idx3-ubyte.gz",
  trainLabels: "train-labels-idx1-ubyte.gz",
  testImages: "t10k-images-idx3-ubyte.gz",
  testLabels: "t10k-labels-idx1-ubyte.gz",
} as const;

export interface IdxSource {
  /** Short name ("mnist", "fashion-mnist"); also the cache subfolder. */
  name: string;
  baseUrl: string;
  /** md5 of each .gz file. */
  md5: Readonly<Record<string, string>>;
  classes: readonly string[];
  /** Images expected in each split (60,000 / 10,000 for both sets). */
  counts: { train: number; test: number };
  /** Expected image size [rows, cols] (28 x 28). */
  imageSize: [number, number];
  /** The set's name in notices ("MNIST", "Fashion-MNIST"). */
  title?: string;
  /**
   * Standard locations that hold the four files directly (the folder is named after the set, so
   * there is no ambiguity), e.g. where a system package installs them; searched after `dir`,
   * $LEPTON_DATA_DIR and the cache, before downloading. `what` says whose folder it is.
   */
  systemDirs?: readonly { dir: string; what: string }[];
  /** A sample bundled in the package's data/ folder: its folder name and image counts. */
  sample?: { folder: string; counts: { train: number; test: number } };
}

export const MNIST_SOURCE: IdxSource = {
  name: "mnist",
  baseUrl: "https://ossci-datasets.s3.amazonaws.com/mnist/",
  md5: {
    [FILES.trainImages]: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    [FILES.trainLabels]: "d53e105ee54ea40749a09fcbcd1e9432",
    [FILES.testImages]: "9fb629c4189551a2d022fa330f9573f3",
    [FILES.testLabels]: "ec29112dd5afa0611ce80d1b7f02629c",
  },
  classes: MNIST_CLASSES,
  counts: { train: 60_000, test: 10_000 },
  imageSize: [28, 28],
  title: "MNIST",
};

/** Where Debian's package dataset-fashion-mnist installs the four original .gz files. */
export const DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

export const FASHION_MNIST_SOURCE: IdxSource = {
  name: "fashion-mnist",
  baseUrl: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
  md5: {
    [FILES.trainImages]: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    [FILES.trainLabels]: "25c81989df183df01b3e8a0aad5dffbe",
    [FILES.testImages]: "bef4ecab320f06d8554ea6380940ec79",
    [FILES.testLabels]: "bb300cfdad3c16e7a12a480ee83cd310",
  },
  classes: FASHION_MNIST_CLASSES,
  counts: { train: 60_000, test: 10_000 },
  imageSize: [28, 28],
  title: "Fashion-MNIST",
  systemDirs: [{ dir: DEBIAN_FASHION_MNIST_DIR, what: "installed by Debian's package dataset-fashion-mnist" }],
  sample: { folder: "fashion-mnist-sample", counts: { train: 2_000, test: 500 } },
};

export interface MnistOptions {
  /**
   * A folder holding the four IDX files (.gz or uncompressed) in a mnist/ (fashion-mnist/)
   * subfolder, or directly (only here: in $LEPTON_DATA_DIR and the cache they must be in the
   * subfolder, since MNIST and Fashion-MNIST files have the same names).
   */
  dir?: string;
  /** Download missing files into the cache (default true). */
  download?: boolean;
  cacheDir?: string;
  /** Download base URL (ending in /) and per-file md5s, for mirrors and tests. */
  baseUrl?: string;
  md5?: Readonly<Record<string, string>>;
  progress?: boolean;
  /**
   * "auto" (default): the full set, or the bundled sample with a notice when it cannot be found or
   * downloaded; "full": the full set or an error saying where to put which files; "sample": the
   * bundled sample (Fashion-MNIST only: 2,000 train / 500 test images, 200 / 50 per class). MNIST has
   * no bundled sample, so for it "auto" is "full" and "sample" is an error.
   */
  subset?: "auto" | "full" | "sample";
  /**
   * The standard locations to search after the cache (default: the set's own, e.g.
   * /usr/share/datasets/fashion-mnist for Fashion-MNIST); [] searches none.
   */
  systemDirs?: readonly string[];
}

export interface ImageClassificationSplits {
  train: InMemoryDataset;
  test: InMemoryDataset;
  /** "full" (60,000 / 10,000 images) or "sample" (the bundled sample). */
  subset: "full" | "sample";
  /** The folder the files came from (with what it is, for a standard location or the sample). */
  source: string;
}

/** A parsed IDX file: unsigned-byte data and its dimensions. */
export interface Idx {
  dims: number[];
  data: Uint8Array;
}

/** The default cap on an IDX file's bytes after gunzip (MNIST's largest file is 47,040,016 bytes); LEPTON_MAX_IDX_BYTES raises it. */
export const IDX_MAX_BYTES = LIMITS.idxBytes.default;

/**
 * Parse an IDX file (gzip or plain) of unsigned bytes; `fileName` names it in errors. Gzip data
 * may expand to at most `maxBytes` (default IDX_MAX_BYTES), so a small "zip bomb" cannot fill memory.
 */
export function parseIdx(raw: Uint8Array, fileName: string, options: { maxBytes?: number } = {}): Idx {
  let buf = raw;
  const maxBytes = limitValue(LIMITS.idxBytes, options.maxBytes);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf, { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
        throw new LimitError(fileName, `the gzip data expands to more than ${maxBytes} bytes, more than any MNIST-style IDX file ` +
          `(it may not be one; if it is damaged, replace it with a fresh copy)`, LIMITS.idxBytes, maxBytes);
      }
      throw new DataFormatError(`${fileName}: damaged gzip data (${(err as Error).message}). Replace it with a fresh copy.`);
    }
  }
  if (buf.length > maxBytes) throw new LimitError(fileName, `${buf.length} bytes is more than an IDX file here may have`, LIMITS.idxBytes, maxBytes);
  if (buf.length < 4) throw new DataFormatError(`${fileName}: ${buf.length} bytes is too short for an IDX header.`);
  if (buf[0] !== 0 || buf[1] !== 0) throw new DataFormatError(`${fileName}: bytes 0-1 are ${buf[0]}, ${buf[1]}, not the IDX magic 0, 0; this is not an IDX file.`);
  if (buf[2] !== 0x08) throw new DataFormatError(`${fileName}: byte 2 says data type 0x${buf[2].toString(16)}; only unsigned bytes (0x08) are supported.`);
  const ndim = buf[3];
  const headerEnd = 4 + 4 * ndim;
  if (ndim < 1 || buf.length < headerEnd) throw new DataFormatError(`${fileName}: header of ${ndim} dimensions is cut short.`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const have = buf.length - headerEnd;
  if (have !== expected) {
    throw new DataFormatError(`${fileName}: dimensions [${dims.join(", ")}] need ${expected} data bytes after the ${headerEnd}-byte header ` +
      `but the file has ${have}; it is damaged or cut short at byte offset ${buf.length}.`);
  }
  return { dims, data: buf.subarray(headerEnd) };
}

/**
 * Read and parse an IDX file (gzip or plain) from disk with bounded work: the header of a plain
 * file is read first and its dimensions checked against the file size and the cap before the body
 * is read; a gzip file larger than the cap is refused unread, and its gunzip stops at the cap.
 */
export function readIdxFile(file: string, options: { maxBytes?: number } = {}): Idx {
  const maxBytes = limitValue(LIMITS.idxBytes, options.maxBytes);
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (err) {
    throw new DataNotFoundError(`${file}: cannot open the IDX file (${(err as Error).message}).`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 4 + 4 * 255));
    const got = fs.readSync(fd, head, 0, head.length, 0);
    const h = head.subarray(0, got);
    if (h.length >= 2 && h[0] === 0x1f && h[1] === 0x8b) {
      // gzip never shrinks an IDX file below ~1/1000 of its size, nor grows it much: bigger than the cap is not one.
      if (size > maxBytes) throw new LimitError(file, `the gzip file is ${size.toLocaleString("en-US")} bytes`, LIMITS.idxBytes, maxBytes);
      return parseIdx(readAll(fd, size), file, { maxBytes });
    }
    if (h.length >= 4 && h[0] === 0 && h[1] === 0 && h[2] === 0x08 && h[3] >= 1 && h.length >= 4 + 4 * h[3]) {
      const ndim = h[3];
      const headerEnd = 4 + 4 * ndim;
      const dims: number[] = [];
      for (let i = 0; i < ndim; i++) dims.push(h.readUInt32BE(4 + 4 * i));
      const expected = headerEnd + dims.reduce((a, b) => a * b, 1);
      if (expected > maxBytes) {
        throw new LimitError(file, `its header claims dimensions [${dims.join(", ")}], ${expected.toLocaleString("en-US")} bytes ` +
          `(the file has ${size.toLocaleString("en-US")})`, LIMITS.idxBytes, maxBytes);
      }
      if (size !== expected) {
        throw new DataFormatError(`${file}: dimensions [${dims.join(", ")}] need ${expected - headerEnd} data bytes after the ${headerEnd}-byte header ` +
          `but the file has ${size - headerEnd}; it is damaged or cut short. Replace it with a fresh copy.`);
      }
    } else if (size > maxBytes) {
      throw new LimitError(file, `the file is ${size.toLocaleString("en-US")} bytes`, LIMITS.idxBytes, maxBytes);
    }
    // Small enough now; parseIdx gives the precise message for a bad header.
    return parseIdx(readAll(fd, size), file, { maxBytes });
  } finally {
    fs.closeSync(fd);
  }
}

/** The first `size` bytes of an open file. */
function readAll(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  while (at < size) {
    const n = fs.readSync(fd, buf, at, size - at, at);
    if (n === 0) break;
    at += n;
  }
  return buf.subarray(0, at);
}

/** What a split must hold: its name in messages, the image count and size. */
export interface IdxExpectation {
  /** e.g. "MNIST's train split". */
  what: string;
  count: number;
  imageSize: [number, number];
}

/** A classification split from parsed IDX images [n, h, w] and labels [n], checked against `expect` when given. */
export function idxSplit(
  name: string, images: Idx, labels: Idx, classes: readonly string[], imagesFile: string, labelsFile: string, expect?: IdxExpectation,
): InMemoryDataset {
  if (images.dims.length !== 3) throw new DataFormatError(`${imagesFile}: images must have 3 dimensions [n, rows, cols]; found [${images.dims.join(", ")}].`);
  if (labels.dims.length !== 1) throw new DataFormatError(`${labelsFile}: labels must have 1 dimension [n]; found [${labels.dims.join(", ")}].`);
  const [n, h, w] = images.dims;
  if (expect) {
    const [eh, ew] = expect.imageSize;
    if (h !== eh || w !== ew) {
      throw new DataFormatError(`${imagesFile}: images are ${h}x${w}, but ${expect.what} has ${eh}x${ew} images; this is another data set. ` +
        `Replace the file with the right one.`);
    }
    if (n !== expect.count) {
      throw new DataFormatError(`${imagesFile}: ${n.toLocaleString("en-US")} images, but ${expect.what} has ${expect.count.toLocaleString("en-US")}; ` +
        `the file is incomplete, from another data set, or the train and test files are swapped. Replace it with the right one.`);
    }
  }
  if (labels.dims[0] !== n) throw new DataFormatError(`${imagesFile} holds ${n} images but ${labelsFile} holds ${labels.dims[0]} labels.`);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = labels.data[i];
    if (l >= classes.length) {
      throw new DataFormatError(`${labelsFile}: label ${l} at index ${i} (byte offset ${8 + i}) is outside 0-${classes.length - 1}; the file is damaged.`);
    }
    y[i] = l;
  }
  return fromStore(name, { x: images.data, scale: 1 / 255, y, inputShape: [h, w, 1], targetShape: [], classes: [...classes] });
}

/**
 * Folders that may hold the files: the set's subfolder of every search folder, and the explicit
 * `dir` itself (only there are top-level files unambiguous: MNIST and Fashion-MNIST share names).
 */
function candidateFolders(dirs: string[], source: IdxSource, explicitDir: string | undefined): string[] {
  const explicit = explicitDir === undefined ? undefined : path.resolve(explicitDir);
  return dirs.flatMap((d) => (d === explicit ? [path.join(d, source.name), d] : [path.join(d, source.name)]));
}

/** The path of `file` (.gz or without .gz) in `folder`, if present. */
function present(folder: string, file: string): string | undefined {
  for (const f of [file, file.replace(/\.gz$/, "")]) if (fs.existsSync(path.join(folder, f))) return path.join(folder, f);
  return undefined;
}

/** The four files in `folder` read as train and test splits, checked against `counts`. */
function readIdxFolder(source: IdxSource, folder: string, counts: { train: number; test: number }, prefix: string, what: string) {
  const read = (file: string) => {
    const p = present(folder, file);
    if (!p) throw new DataNotFoundError(`${path.join(folder, file)} is missing.`);
    return { idx: readIdxFile(p), p };
  };
  const ti = read(FILES.trainImages);
  const tl = read(FILES.trainLabels);
  const vi = read(FILES.testImages);
  const vl = read(FILES.testLabels);
  return {
    train: idxSplit(`${prefix}/train`, ti.idx, tl.idx, source.classes, ti.p, tl.p,
      { what: `${what}'s train split`, count: counts.train, imageSize: source.imageSize }),
    test: idxSplit(`${prefix}/test`, vi.idx, vl.idx, source.classes, vi.p, vl.p,
      { what: `${what}'s test split`, count: counts.test, imageSize: source.imageSize }),
  };
}

/** "2,000 train / 500 test images". */
function countsText(c: { train: number; test: number }): string {
  return `${c.train.toLocaleString("en-US")} train / ${c.test.toLocaleString("en-US")} test images`;
}

/** The bundled sample of `source` (its folder in the package's data/), with `source` saying so. */
export function loadIdxSample(source: IdxSource, folder?: string): ImageClassificationSplits {
  const sample = source.sample;
  if (!sample) throw new DataNotFoundError(`no sample of ${source.title ?? source.name} is bundled with lepton; use subset "full" (or "auto").`);
  const dir = folder ?? path.join(bundledDataDir(), sample.folder);
  if (!fs.existsSync(dir)) throw new DataNotFoundError(`the bundled ${source.title ?? source.name} sample ${dir} is missing; reinstall lepton.`);
  const splits = readIdxFolder(source, dir, sample.counts, sample.folder, `the bundled ${source.name} sample`);
  return { ...splits, subset: "sample", source: `${dir} (the bundled sample, ${countsText(sample.counts)})` };
}

/**
 * Load one of the IDX datasets: the first folder with all four files (`dir`, $LEPTON_DATA_DIR, the
 * cache, the set's standard locations), else download into the cache; with subset "auto" the
 * bundled sample, with a notice, when that fails; with "sample" the bundled sample.
 */
export async function loadIdxDataset(source: IdxSource, options: MnistOptions = {}): Promise<ImageClassificationSplits> {
  const subset = options.subset ?? "auto";
  const fn = source.name === "mnist" ? "mnist" : "fashionMnist";
  if (!["auto", "full", "sample"].includes(subset)) throw new Error(`${fn}(): subset must be "auto", "full" or "sample"; got "${subset}".`);
  if (subset === "sample") return loadIdxSample(source);
  // A folder the user named but that does not exist is a mistake to report, not a reason to fall back
  // to the sample (as in cifar10()).
  requireGivenDir(options.dir, `Pass the folder that holds the four ${source.name} IDX files (directly or in a ${source.name}/ ` +
    `subfolder), or leave out dir to search $LEPTON_DATA_DIR and the cache.`);
  if (options.systemDirs !== undefined && !(Array.isArray(options.systemDirs) && options.systemDirs.every((d) => typeof d === "string"))) {
    throw new Error(`${fn}(): systemDirs must be a list of folder paths (or [] to search none); got ${JSON.stringify(options.systemDirs)}.`);
  }
  try {
    return await loadFullIdx(source, options);
  } catch (err) {
    if (subset === "full" || !source.sample || !(err instanceof DataNotFoundError)) throw err;
    display(`Notice: using the bundled ${source.title ?? source.name} sample (${countsText(source.sample.counts)}), not the full set. ${err.message}`);
    return loadIdxSample(source);
  }
}

async function loadFullIdx(source: IdxSource, options: MnistOptions): Promise<ImageClassificationSplits> {
  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir());
  const dirs = searchDirs(options.dir, cacheDir);
  const files = Object.values(FILES);
  const system = options.systemDirs
    ? options.systemDirs.map((d) => ({ dir: path.resolve(d), what: "a standard location" }))
    : (source.systemDirs ?? []).map((d) => ({ dir: path.resolve(d.dir), what: d.what }));
  const candidates = [...new Set([...candidateFolders(dirs, source, options.dir), ...system.map((d) => d.dir)])];
  let folder = candidates.find((f) => files.every((file) => present(f, file)));
  if (!folder) {
    const target = path.join(cacheDir, source.name);
    // e.g. "; /usr/share/datasets/fashion-mnist is where Debian's package dataset-fashion-mnist installs them"
    const standard = (source.systemDirs ?? []).filter((d) => system.some((s) => s.dir === path.resolve(d.dir)))
      .map((d) => `; ${d.dir} is where ${d.what.replace(/^installed by /, "")} installs them`).join("");
    const where = `Put ${files.join(", ")} (from ${options.baseUrl ?? source.baseUrl}) in one of: ` +
      `${candidates.join(", ")} (a folder named ${source.name}/ in $LEPTON_DATA_DIR or the cache; directly in a folder only when you pass it as { dir }${standard}).`;
    if (options.download === false) throw new DataNotFoundError(`${source.name} was not found and downloading is off. ${where}`);
    try {
      for (const file of files) {
        if (present(target, file)) continue;
        const md5 = (options.md5 ?? source.md5)[file];
        await downloadFile((options.baseUrl ?? source.baseUrl) + file, path.join(target, file), { md5, progress: options.progress, label: `${source.name}/${file}` });
      }
    } catch (err) {
      throw new DataNotFoundError(`${source.name} was not found and the download failed (${(err as Error).message}). ${where}`);
    }
    folder = target;
  }
  const splits = readIdxFolder(source, folder, source.counts, source.name, source.name);
  const sys = system.find((d) => d.dir === folder);
  return { ...splits, subset: "full", source: sys ? `${folder} (${sys.what})` : folder };
}

/** MNIST digits: 60,000 train and 10,000 test images, 28x28x1, classes "0".."9" (no bundled sample). */
export function mnist(options: MnistOptions = {}): Promise<ImageClassificationSplits> {
  return loadIdxDataset(MNIST_SOURCE, options);
}

/**
 * Fashion-MNIST (Zalando, MIT licence): 60,000 train and 10,000 test images, 28x28x1, ten clothing
 * classes. Looks in `dir`, $LEPTON_DATA_DIR, the cache and /usr/share/datasets/fashion-mnist (Debian's
 * dataset-fashion-mnist), then downloads; falls back to the bundled sample (2,000 / 500 images) with a
 * notice when the full set cannot be had (subset "auto"), or uses it on request (subset "sample").
 */
export function fashionMnist(options: MnistOptions = {}): Promise<ImageClassificationSplits> {
  return loadIdxDataset(FASHION_MNIST_SOURCE, options);
}
