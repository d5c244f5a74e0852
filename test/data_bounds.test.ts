/**
 * Bounded work for hostile input files (issue 13): archives with a gzip tail after the tar
 * end-of-archive marker, PNGs whose header claims a huge size, oversized IDX files, plus empty class
 * folders of an image folder. The hostile files are built here (nothing large is committed); each
 * hostile load runs in a child process (the TypeScript sources transpiled to a temporary folder) whose
 * elapsed time and peak memory are checked, so that a regression fails instead of hanging the run.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawn } from "child_process";
import { createHash } from "crypto";
import { createDeflate, gzipSync } from "zlib";
import { transpileWithImports } from "./transpile";
import * as jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { readArchiveMembers, TAR_TAIL_ALLOWANCE } from "../src/data/archive";
import { decodeImage, imageFolder, pngSize } from "../src/data/image_folder";
import { parseIdx, readIdxFile } from "../src/data/mnist";
import { LIMITS, limitValue } from "../src/data/limits";
import { tarBuffer, tarGz } from "./fixtures/data/tarball";
import { idxBuffer, digitFiles } from "./fixtures/data/idx";

const ROOT = path.resolve(__dirname, "..");
const CHILD_MS = 30_000;
const CHILD_MB = 400;
let tmp: string;
let lib: string;
let script: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-bounds-"));
  lib = path.join(tmp, "lib");
  fs.writeFileSync(path.join(tmp, "package.json"), JSON.stringify({ name: "lepton" })); // paths.ts finds its package root
  // LEPTON_BOUNDS_SRC: another source tree for the children (e.g. an older checkout's src, to see these tests fail there).
  transpileWithImports(process.env.LEPTON_BOUNDS_SRC ?? path.join(ROOT, "src"), ["data/archive.ts", "data/mnist.ts", "data/image_folder.ts"], lib);
  script = path.join(tmp, "child.js");
  fs.writeFileSync(script, CHILD_SOURCE);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The child: runs one load and prints { ok, name, message, ms, maxRssMB } as JSON. */
const CHILD_SOURCE = `
const [, , lib, mode, file, opts] = process.argv;
const t0 = Date.now();
(async () => {
  let r;
  try {
    if (mode === "archive") {
      const { readArchiveMembers } = require(lib + "/data/archive.js");
      const m = await readArchiveMembers(file, { want: () => 1e8, ...JSON.parse(opts || "{}") });
      r = { ok: true, members: [...m.keys()] };
    } else if (mode === "image") {
      const { decodeImage } = require(lib + "/data/image_folder.js");
      const img = decodeImage(file);
      r = { ok: true, width: img.width };
    } else if (mode === "idx") {
      const { loadIdxDataset, MNIST_SOURCE } = require(lib + "/data/mnist.js");
      await loadIdxDataset({ ...MNIST_SOURCE, counts: { train: 2, test: 2 } }, { dir: file, download: false, cacheDir: file + "/cache" });
      r = { ok: true };
    }
  } catch (err) {
    r = { ok: false, name: err && err.name, message: String(err && err.message) };
  }
  r.ms = Date.now() - t0;
  r.maxRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify(r) + "\\n");
  process.exit(0);
})();
`;

interface ChildResult { ok?: boolean; name?: string; message?: string; ms: number; maxRssMB: number; timedOut?: boolean; stderr?: string }

/** Run the child on `file`; killed after CHILD_MS + 10 s so that a regression cannot hang the run. */
function runChild(mode: string, file: string, opts: object = {}): Promise<ChildResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ["--max-old-space-size=4096", script, lib, mode, file, JSON.stringify(opts)], {
      env: { ...process.env, NODE_PATH: path.join(ROOT, "node_modules") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const killer = setTimeout(() => child.kill("SIGKILL"), CHILD_MS + 10_000);
    child.on("exit", () => {
      clearTimeout(killer);
      const line = out.trim().split("\n").pop() ?? "";
      try {
        resolve({ ...(JSON.parse(line) as ChildResult), stderr: err });
      } catch {
        resolve({ timedOut: true, ms: Date.now() - started, maxRssMB: NaN, stderr: err.slice(-2000) });
      }
    });
  });
}

function expectBounded(r: ChildResult): void {
  expect(r.timedOut, `the child was killed after ${r.ms} ms: ${r.stderr}`).toBeUndefined();
  expect(r.ms).toBeLessThan(CHILD_MS);
  expect(r.maxRssMB).toBeLessThan(CHILD_MB);
}

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");

describe("archives", () => {
  const members = () => [
    { name: "set/a.bin", data: Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251)) },
    { name: "set/b.bin", data: Buffer.alloc(3000, 7) },
  ];

  it("refuses a gzip tail of compressed zeros after the end-of-archive marker, quickly and without buffering it", async () => {
    // 64 MiB of zeros gzip to ~64 KB; node-tar alone copies its growing buffer for each chunk after the marker.
    const tail = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    expect(tail.length).toBeLessThan(100_000);
    const file = path.join(tmp, "tail.tar.gz");
    fs.writeFileSync(file, Buffer.concat([tarGz(members()), tail]));
    const r = await runChild("archive", file);
    expectBounded(r);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/tail\.tar\.gz: more than 4,194,304 bytes follow the tar end-of-archive marker/);
  }, 60_000);

  it("reads a normal archive with tar's record padding, and the hash still covers the whole file", async () => {
    const tar = tarBuffer(members());
    const padded = Buffer.concat([tar, Buffer.alloc(10240 - (tar.length % 10240))]);
    for (const [name, data] of [["pad.tar.gz", gzipSync(padded)], ["pad.tar", padded], ["tight.tar.gz", tarGz(members())]] as const) {
      const file = path.join(tmp, name);
      fs.writeFileSync(file, data);
      const hash = createHash("md5");
      const got = await readArchiveMembers(file, { want: () => 1e6, hash });
      expect([...got.keys()]).toEqual(["set/a.bin", "set/b.bin"]);
      expect(got.get("set/a.bin")!.equals(members()[0].data)).toBe(true);
      expect(hash.digest("hex")).toBe(md5(data));
    }
    // Padding up to the allowance is fine; one more byte is not.
    const file = path.join(tmp, "edge.tar");
    fs.writeFileSync(file, Buffer.concat([tar, Buffer.alloc(TAR_TAIL_ALLOWANCE)]));
    expect((await readArchiveMembers(file, { want: () => 1e6 })).size).toBe(2);
    fs.writeFileSync(file, Buffer.concat([tar, Buffer.alloc(TAR_TAIL_ALLOWANCE + 1024 * 1024)]));
    await expect(readArchiveMembers(file, { want: () => 1e6 })).rejects.toThrow(/edge\.tar: more than .* bytes follow the tar end-of-archive marker/);
  });

  it("caps decompressed bytes, compressed bytes, entries and time, naming the file, the cap and how to raise it", async () => {
    const file = path.join(tmp, "caps.tar.gz");
    fs.writeFileSync(file, tarGz([{ name: "zeros.bin", data: Buffer.alloc(8 * 1024 * 1024) }, { name: "x", data: Buffer.alloc(1) }]));
    const want = () => 1e8;
    // Counted as the bytes arrive (here the member headers would allow them), and checked against the headers' sizes.
    await expect(readArchiveMembers(file, { want, maxExtractBytes: 1_000_000, maxTotalBytes: 1e9 }))
      .rejects.toThrow(/caps\.tar\.gz: it decompresses to more than 1,000,000 bytes \(counted as they arrive\) \(the cap is 1,000,000 bytes, LEPTON_MAX_EXTRACT_BYTES\).*\{ maxExtractBytes \}/);
    await expect(readArchiveMembers(file, { want, maxExtractBytes: 1_000_000 }))
      .rejects.toThrow(/caps\.tar\.gz: its members hold more than 1000000 bytes in all \(at "zeros\.bin"\) \(the cap is 1,000,000 bytes, LEPTON_MAX_EXTRACT_BYTES\)/);
    await expect(readArchiveMembers(file, { want, maxArchiveBytes: 1000 }))
      .rejects.toThrow(/caps\.tar\.gz: the archive file is [\d,]+ bytes \(the cap is 1,000 bytes, LEPTON_MAX_ARCHIVE_BYTES\)/);
    await expect(readArchiveMembers(file, { want, maxEntries: 1 })).rejects.toThrow(/caps\.tar\.gz: more than 1 entries \(the cap is 1 entries, LEPTON_MAX_ARCHIVE_ENTRIES\)/);
    const big = path.join(tmp, "slow.tar");
    fs.writeFileSync(big, tarBuffer([{ name: "r.bin", data: Buffer.alloc(64 * 1024 * 1024, 1) }]));
    await expect(readArchiveMembers(big, { want, maxSeconds: 0.001 })).rejects.toThrow(/slow\.tar: reading it took more than 0\.001 s.*LEPTON_MAX_EXTRACT_SECONDS/);
    // The environment variable raises (or lowers) a cap; the option wins.
    process.env.LEPTON_MAX_EXTRACT_BYTES = "1000000";
    try {
      await expect(readArchiveMembers(file, { want, maxTotalBytes: 1e9 })).rejects.toThrow(/the cap is 1,000,000 bytes/);
      expect((await readArchiveMembers(file, { want, maxExtractBytes: 1e8 })).size).toBe(2);
    } finally {
      delete process.env.LEPTON_MAX_EXTRACT_BYTES;
    }
    expect(limitValue(LIMITS.extractBytes)).toBe(512 * 1024 * 1024);
  });

  it("refuses compressed data inside the gzip (node-tar would decompress it again, uncounted)", async () => {
    const file = path.join(tmp, "double.tar.gz");
    fs.writeFileSync(file, gzipSync(tarGz(members())));
    await expect(readArchiveMembers(file, { want: () => 1e6 })).rejects.toThrow(/double\.tar\.gz: holds compressed data inside/);
  });
});

/** CRC-32 of PNG chunks. */
function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A real, decodable RGB PNG of w x h black pixels (rows compressed as they are made). */
async function blackPng(w: number, h: number): Promise<Buffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const deflate = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on("data", (d: Buffer) => parts.push(d));
  const done = new Promise((resolve) => deflate.on("end", resolve));
  const row = Buffer.alloc(1 + w * 3); // filter byte 0, then black pixels
  for (let y = 0; y < h; y++) if (!deflate.write(row)) await new Promise((r) => deflate.once("drain", r));
  deflate.end();
  await done;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk("IHDR", ihdr), chunk("IDAT", Buffer.concat(parts)), chunk("IEND", Buffer.alloc(0))]);
}

describe("images", () => {
  it("refuses a 12000 x 12000 PNG from its header, before decoding", async () => {
    const png = await blackPng(12000, 12000);
    expect(png.length).toBeLessThan(600_000);
    expect(pngSize(png)).toEqual({ width: 12000, height: 12000 });
    const file = path.join(tmp, "huge.png");
    fs.writeFileSync(file, png);
    const r = await runChild("image", file);
    expectBounded(r);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/huge\.png: the image is 12000 x 12000 = 144,000,000 pixels \(the cap is 50,000,000 pixels, LEPTON_MAX_IMAGE_PIXELS\)/);
    expect(r.message).toMatch(/\{ maxPixels \}/);
  }, 60_000);

  it("applies the pixel and file-size caps to small PNG and JPEG files too", async () => {
    const small = new PNG({ width: 40, height: 30 });
    const pngFile = path.join(tmp, "small.png");
    fs.writeFileSync(pngFile, PNG.sync.write(small));
    expect(decodeImage(pngFile).width).toBe(40);
    expect(() => decodeImage(pngFile, { maxPixels: 1000 })).toThrow(/small\.png: the image is 40 x 30 = 1,200 pixels \(the cap is 1,000 pixels/);
    expect(() => decodeImage(pngFile, { maxBytes: 10 })).toThrow(/small\.png: the image file is \d+ bytes \(the cap is 10 bytes, LEPTON_MAX_IMAGE_BYTES\)/);
    const jpgFile = path.join(tmp, "small.jpg");
    fs.writeFileSync(jpgFile, jpeg.encode({ data: Buffer.alloc(40 * 30 * 4, 128), width: 40, height: 30 }, 90).data);
    expect(decodeImage(jpgFile).height).toBe(30);
    expect(() => decodeImage(jpgFile, { maxPixels: 1000 })).toThrow(/small\.jpg: .*\(the cap is 1,000 pixels, LEPTON_MAX_IMAGE_PIXELS\)/);
  });
});

describe("IDX files", () => {
  /** A folder with the four MNIST files, small ones except `trainImages`. */
  function idxFolder(name: string, trainImages: (file: string) => void): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir, { recursive: true });
    const d = digitFiles(2);
    fs.writeFileSync(path.join(dir, "train-labels-idx1-ubyte.gz"), d.labels);
    fs.writeFileSync(path.join(dir, "t10k-images-idx3-ubyte.gz"), d.images);
    fs.writeFileSync(path.join(dir, "t10k-labels-idx1-ubyte.gz"), d.labels);
    trainImages(path.join(dir, "train-images-idx3-ubyte"));
    return dir;
  }

  /** A sparse plain IDX file of `bytes` bytes whose header matches its size. */
  function sparseIdx(file: string, bytes: number): boolean {
    const header = Buffer.alloc(16);
    header[2] = 0x08;
    header[3] = 3;
    header.writeUInt32BE(1, 4);
    header.writeUInt32BE(1024, 8);
    header.writeUInt32BE((bytes - 16) / 1024, 12);
    fs.writeFileSync(file, header);
    try {
      fs.truncateSync(file, bytes);
      return fs.statSync(file).size === bytes;
    } catch {
      return false;
    }
  }

  it("refuses a 1 GiB plain IDX file from its header, without reading it", async (ctx) => {
    let ok = true;
    const dir = idxFolder("gib", (f) => (ok = sparseIdx(f, 16 + 1024 * 1024 * 1024)));
    if (!ok) return ctx.skip();
    const r = await runChild("idx", dir);
    expectBounded(r);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/train-images-idx3-ubyte: its header claims dimensions \[1, 1024, 1048576\], 1,073,741,840 bytes \(the file has 1,073,741,840\) \(the cap is 67,108,864 bytes, LEPTON_MAX_IDX_BYTES\)/);
  }, 60_000);

  it("refuses a 3 GiB IDX file naming it (not a bare RangeError)", async (ctx) => {
    let ok = true;
    const dir = idxFolder("3gib", (f) => (ok = sparseIdx(f, 16 + 3 * 1024 * 1024 * 1024)));
    if (!ok) return ctx.skip();
    const r = await runChild("idx", dir);
    expectBounded(r);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/3gib\/train-images-idx3-ubyte: .*LEPTON_MAX_IDX_BYTES/);
  }, 60_000);

  it("checks a small file's claimed dimensions and a gzip file's size against the cap before reading the body", () => {
    const claim = path.join(tmp, "claim-idx3-ubyte");
    fs.writeFileSync(claim, idxBuffer([60_000, 28, 28_000], [], false));
    expect(() => readIdxFile(claim)).toThrow(/claim-idx3-ubyte: its header claims dimensions \[60000, 28, 28000\], 47,040,000,016 bytes \(the file has 16\)/);
    const cut = path.join(tmp, "cut-idx1-ubyte");
    fs.writeFileSync(cut, idxBuffer([10], [1, 2, 3], false));
    expect(() => readIdxFile(cut)).toThrow(/cut-idx1-ubyte: dimensions \[10\] need 10 data bytes after the 8-byte header but the file has 3/);
    const gz = path.join(tmp, "bomb-idx1-ubyte.gz");
    fs.writeFileSync(gz, idxBuffer([2_000_000], new Uint8Array(2_000_000)));
    expect(() => readIdxFile(gz, { maxBytes: 1_000_000 })).toThrow(/bomb-idx1-ubyte\.gz: the gzip data expands to more than 1000000 bytes.*LEPTON_MAX_IDX_BYTES/);
    expect(() => readIdxFile(gz, { maxBytes: 1000 })).toThrow(/bomb-idx1-ubyte\.gz: the gzip file is [\d,]+ bytes \(the cap is 1,000 bytes/);
    expect(readIdxFile(gz).dims).toEqual([2_000_000]);
    const plain = path.join(tmp, "ok-idx1-ubyte");
    fs.writeFileSync(plain, idxBuffer([3], [7, 8, 9], false));
    expect(Array.from(readIdxFile(plain).data)).toEqual([7, 8, 9]);
    expect(parseIdx(idxBuffer([3], [7, 8, 9]), "g").dims).toEqual([3]);
  });
});

describe("imageFolder class folders", () => {
  it("reports empty class folders, and refuses when every class folder is empty", () => {
    const root = path.join(tmp, "classes");
    for (const c of ["cat", "dog", "emu"]) fs.mkdirSync(path.join(root, c), { recursive: true });
    fs.writeFileSync(path.join(root, "cat", "a.png"), PNG.sync.write(new PNG({ width: 2, height: 2 })));
    fs.writeFileSync(path.join(root, "emu", "notes.txt"), "no images here");
    const notices: string[] = [];
    const ds = imageFolder(root, { size: 2, onNotice: (t) => notices.push(t) });
    expect(ds.classes).toEqual(["cat", "dog", "emu"]);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/2 of 3 class folders hold no \.jpg, \.jpeg or \.png files: dog, emu/);
    const none = path.join(tmp, "noclasses");
    for (const c of ["a", "b"]) fs.mkdirSync(path.join(none, c), { recursive: true });
    expect(() => imageFolder(none, { size: 2 })).toThrow(/no \.jpg, \.jpeg or \.png files .*every class folder is empty: a, b/);
  });
});


describe("images that inflate past their size (review)", () => {
  it("an interlaced 16 x 16 PNG whose data inflates to 64 MB is refused before pngjs inflates it, and a device is not read", () => {
    const { crc32, deflateSync } = require("zlib") as typeof import("zlib") & { crc32(b: Buffer): number };
    const chunk = (type: string, data: Buffer) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length, 0);
      head.write(type, 4, "latin1");
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, "latin1"), data])) >>> 0);
      return Buffer.concat([head, data, crc]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(16, 0);
    ihdr.writeUInt32BE(16, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 6; // RGBA
    ihdr[12] = 1; // interlaced (Adam7)
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.alloc(64 << 20))), chunk("IEND", Buffer.alloc(0))]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-png-"));
    const file = path.join(dir, "bomb.png");
    fs.writeFileSync(file, png);
    expect(png.length).toBeLessThan(200_000);
    const rss0 = process.memoryUsage().rss;
    expect(() => decodeImage(file)).toThrow(/bomb\.png: its image data inflates to more than a 16 x 16 image can hold/);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(48 << 20);
    if (fs.existsSync("/dev/zero")) {
      fs.symlinkSync("/dev/zero", path.join(dir, "zero.png"));
      expect(() => decodeImage(path.join(dir, "zero.png"))).toThrow(/not a regular file/);
    }
  });
});
