/**
 * MNIST and Fashion-MNIST from their IDX files (gzip or plain): found in `dir`, $LEPTON_DATA_DIR or
 * the cache (each either directly or in a mnist/ or fashion-mnist/ subfolder), downloaded into the
 * cache with md5 checks when absent. Images stay uint8; batches are float32 [b, 28, 28, 1] in [0, 1].
 */
import * as fs from "fs";
import * as path from "path";
import { gunzipSync } from "zlib";
import { downloadFile } from "./download";
import { DataFormatError, DataNotFoundError } from "./errors";
import { defaultCacheDir, searchDirs } from "./paths";
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
};

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
};

export interface MnistOptions {
  /** A folder holding the four IDX files (.gz or uncompressed), directly or in a mnist/ (fashion-mnist/) subfolder. */
  dir?: string;
  /** Download missing files into the cache (default true). */
  download?: boolean;
  cacheDir?: string;
  /** Download base URL (ending in /) and per-file md5s, for mirrors and tests. */
  baseUrl?: string;
  md5?: Readonly<Record<string, string>>;
  progress?: boolean;
}

export interface ImageClassificationSplits {
  train: InMemoryDataset;
  test: InMemoryDataset;
  /** The folder the files came from. */
  source: string;
}

/** A parsed IDX file: unsigned-byte data and its dimensions. */
export interface Idx {
  dims: number[];
  data: Uint8Array;
}

/** Parse an IDX file (gzip or plain) of unsigned bytes; `fileName` names it in errors. */
export function parseIdx(raw: Uint8Array, fileName: string): Idx {
  let buf = raw;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (err) {
      throw new DataFormatError(`${fileName}: damaged gzip data (${(err as Error).message}). Replace it with a fresh copy.`);
    }
  }
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

/** A classification split from parsed IDX images [n, h, w] and labels [n]. */
export function idxSplit(name: string, images: Idx, labels: Idx, classes: readonly string[], imagesFile: string, labelsFile: string): InMemoryDataset {
  if (images.dims.length !== 3) throw new DataFormatError(`${imagesFile}: images must have 3 dimensions [n, rows, cols]; found [${images.dims.join(", ")}].`);
  if (labels.dims.length !== 1) throw new DataFormatError(`${labelsFile}: labels must have 1 dimension [n]; found [${labels.dims.join(", ")}].`);
  const [n, h, w] = images.dims;
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

function candidateFolders(dirs: string[], source: IdxSource): string[] {
  return dirs.flatMap((d) => [d, path.join(d, source.name)]);
}

/** The path of `file` (.gz or without .gz) in `folder`, if present. */
function present(folder: string, file: string): string | undefined {
  for (const f of [file, file.replace(/\.gz$/, "")]) if (fs.existsSync(path.join(folder, f))) return path.join(folder, f);
  return undefined;
}

/** Load one of the IDX datasets: the first folder with all four files, else download into the cache. */
export async function loadIdxDataset(source: IdxSource, options: MnistOptions = {}): Promise<ImageClassificationSplits> {
  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir());
  const dirs = searchDirs(options.dir, cacheDir);
  const files = Object.values(FILES);
  let folder = candidateFolders(dirs, source).find((f) => files.every((file) => present(f, file)));
  if (!folder) {
    const target = path.join(cacheDir, source.name);
    const where = `Put ${files.join(", ")} (from ${options.baseUrl ?? source.baseUrl}) in one of: ` +
      `${candidateFolders(dirs, source).join(", ")} (or set LEPTON_DATA_DIR, or pass { dir }).`;
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
  const read = (file: string) => {
    const p = present(folder!, file)!;
    return { idx: parseIdx(fs.readFileSync(p), p), p };
  };
  const ti = read(FILES.trainImages);
  const tl = read(FILES.trainLabels);
  const vi = read(FILES.testImages);
  const vl = read(FILES.testLabels);
  return {
    train: idxSplit(`${source.name}/train`, ti.idx, tl.idx, source.classes, ti.p, tl.p),
    test: idxSplit(`${source.name}/test`, vi.idx, vl.idx, source.classes, vi.p, vl.p),
    source: folder,
  };
}

/** MNIST digits: 60,000 train and 10,000 test images, 28x28x1, classes "0".."9". */
export function mnist(options: MnistOptions = {}): Promise<ImageClassificationSplits> {
  return loadIdxDataset(MNIST_SOURCE, options);
}

/** Fashion-MNIST: 60,000 train and 10,000 test images, 28x28x1, ten clothing classes. */
export function fashionMnist(options: MnistOptions = {}): Promise<ImageClassificationSplits> {
  return loadIdxDataset(FASHION_MNIST_SOURCE, options);
}
