import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as http from "http";
import { createHash } from "crypto";
import type { AddressInfo } from "net";
import * as tf from "@tensorflow/tfjs";
import { cifar10, decodeCifarRecords, findCifar10, CIFAR10_CLASSES } from "../src/data/cifar10";
import { downloadFile, progressLine } from "../src/data/download";
import { searchDirs } from "../src/data/paths";
import { setDisplaySink, plainText, type MimeBundle } from "../src/display/display";
import { readArchiveMembers } from "../src/data/archive";
import { tarGz, cifarRecords } from "./fixtures/data/tarball";

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const TRAIN = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];

let tmp: string;
const savedEnv = process.env.LEPTON_DATA_DIR;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-cifar-"));
  delete process.env.LEPTON_DATA_DIR;
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  if (savedEnv !== undefined) process.env.LEPTON_DATA_DIR = savedEnv;
});

function freshDir(name: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** Every file under dir (relative paths). */
function listTree(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

/** A loopback server; `handler` decides each response. */
async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe("CIFAR-10 records", () => {
  it("decodes hand-built records: label byte, then R, G, B planes into HWC pixels", () => {
    const rec = cifarRecords(2, 3, (r, b) => (r * 31 + b * 7) % 256);
    const images = new Uint8Array(2 * 3072);
    const labels = new Int32Array(2);
    expect(decodeCifarRecords(rec, "hand.bin", images, labels, 0)).toBe(2);
    expect(Array.from(labels)).toEqual([3, 4]);
    // Record 1 (global 4), pixel (row 2, col 5): R at plane offset 2*32+5, G at +1024, B at +2048.
    const p = 2 * 32 + 5;
    expect(images[3072 + p * 3]).toBe((4 * 31 + p * 7) % 256);
    expect(images[3072 + p * 3 + 1]).toBe((4 * 31 + (1024 + p) * 7) % 256);
    expect(images[3072 + p * 3 + 2]).toBe((4 * 31 + (2048 + p) * 7) % 256);
  });

  it("names the file and offset of a damaged record or a cut-short file", async () => {
    const dir = freshDir("damaged/cifar-10-batches-bin");
    for (const f of [...TRAIN, "test_batch.bin"]) fs.writeFileSync(path.join(dir, f), "");
    const bad = cifarRecords(3);
    bad[2 * 3073] = 200;
    fs.writeFileSync(path.join(dir, "data_batch_1.bin"), bad);
    const cache = freshDir("damaged-cache");
    await expect(cifar10({ dir: path.dirname(dir), download: false, subset: "full", cacheDir: cache }))
      .rejects.toThrow(/data_batch_1\.bin: record 2 \(byte offset 6146\) has label 200/);
    fs.writeFileSync(path.join(dir, "data_batch_1.bin"), Buffer.concat([cifarRecords(3), Buffer.alloc(5)]));
    await expect(cifar10({ dir: path.dirname(dir), download: false, subset: "full", cacheDir: cache }))
      .rejects.toThrow(/data_batch_1\.bin: 9224 bytes is not a whole number of 3073-byte records.*after record 3 \(byte offset 9219\)/);
    fs.writeFileSync(path.join(dir, "data_batch_1.bin"), cifarRecords(3));
    await expect(cifar10({ dir: path.dirname(dir), download: false, subset: "full", cacheDir: cache }))
      .rejects.toThrow(/data_batch_1\.bin: 3 records, but the CIFAR-10 release has 10000/);
  });
});

describe("archives", () => {
  for (const [what, members, message] of [
    ["a path that climbs out", [{ name: "cifar-10-batches-bin/../../evil.txt", data: Buffer.from("pwned") }], /climbs out/],
    ["an absolute path", [{ name: "/tmp/lepton-evil.txt", data: Buffer.from("pwned") }], /is absolute/],
    ["a symlink", [{ name: "cifar-10-batches-bin/data_batch_1.bin", type: "2", linkname: "/etc/passwd" }], /SymbolicLink to "\/etc\/passwd".*refused/],
    ["a hard link", [{ name: "cifar-10-batches-bin/data_batch_1.bin", type: "1", linkname: "../../x" }], /is a Link/],
  ] as const) {
    it(`refuses an archive with ${what} and writes nothing`, async () => {
      const dir = freshDir(`evil-${what.replace(/\W/g, "_")}`);
      const cache = freshDir(`evil-cache-${what.replace(/\W/g, "_")}`);
      fs.writeFileSync(path.join(dir, "cifar-10-binary.tar.gz"), tarGz([{ name: "cifar-10-batches-bin/", type: "5" }, ...(members as any)]));
      const before = { tmp: listTree(tmp), up: fs.readdirSync(path.dirname(tmp)) };
      await expect(cifar10({ dir, download: false, subset: "full", cacheDir: cache })).rejects.toThrow(message);
      expect(listTree(tmp)).toEqual(before.tmp);
      expect(fs.readdirSync(path.dirname(tmp))).toEqual(before.up);
      expect(fs.existsSync("/tmp/lepton-evil.txt")).toBe(false);
    });
  }

  it("refuses a member bigger than a CIFAR-10 file and an incomplete archive", async () => {
    const dir = freshDir("big");
    const cache = freshDir("big-cache");
    fs.writeFileSync(path.join(dir, "cifar-10-binary.tar.gz"), tarGz([{ name: "cifar-10-batches-bin/test_batch.bin", data: Buffer.alloc(10_001 * 3073) }]));
    await expect(cifar10({ dir, download: false, subset: "full", cacheDir: cache })).rejects.toThrow(/test_batch\.bin" is 30733073 bytes, more than the 30730000 expected/);
    fs.writeFileSync(path.join(dir, "cifar-10-binary.tar.gz"), tarGz([{ name: "cifar-10-batches-bin/test_batch.bin", data: cifarRecords(10_000) }]));
    await expect(cifar10({ dir, download: false, subset: "full", cacheDir: cache })).rejects.toThrow(/missing data_batch_1\.bin.*not a complete CIFAR-10/);
  });

  it("rejects a truncated gzip archive", async () => {
    const file = path.join(freshDir("trunc"), "x.tar.gz");
    const full = tarGz([{ name: "a.bin", data: Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 251)) }]);
    fs.writeFileSync(file, full.subarray(0, full.length >> 1));
    await expect(readArchiveMembers(file, { want: () => 1e6 })).rejects.toThrow(/x\.tar\.gz/);
  });
});

describe("download", () => {
  it("stops a truncated transfer and a wrong checksum without leaving files", async () => {
    const body = Buffer.from("x".repeat(10_000));
    const srv = await serve((req, res) => {
      if (req.url === "/short") {
        res.writeHead(200, { "Content-Length": String(body.length) });
        res.write(body.subarray(0, 4000));
        setTimeout(() => res.socket?.destroy(), 20);
      } else if (req.url === "/redirect") {
        res.writeHead(302, { Location: "/ok" });
        res.end();
      } else {
        res.writeHead(200, { "Content-Length": String(body.length) });
        res.end(body);
      }
    });
    try {
      const dir = freshDir("dl");
      const dest = path.join(dir, "file.bin");
      await expect(downloadFile(`${srv.url}/short`, dest, { md5: md5(body), progress: false })).rejects.toThrow(/cut off/);
      expect(fs.readdirSync(dir)).toEqual([]);
      await expect(downloadFile(`${srv.url}/ok`, dest, { md5: "0".repeat(32), progress: false })).rejects.toThrow(/md5 .* expected 0{32}.*nothing was saved/);
      expect(fs.readdirSync(dir)).toEqual([]);
      await expect(downloadFile(`${srv.url}/redirect`, dest, { md5: md5(body), progress: false })).resolves.toBe(dest);
      expect(fs.readdirSync(dir)).toEqual(["file.bin"]);
      expect(md5(fs.readFileSync(dest))).toBe(md5(body));
    } finally {
      await srv.close();
    }
  });

  it("shows progress through display handle updates, and gives up on a silent server", async () => {
    const body = Buffer.alloc(300_000, 7);
    const srv = await serve((req, res) => {
      if (req.url === "/silent") return; // never answers
      res.writeHead(200, { "Content-Length": String(body.length) });
      // Send in slices over ~1.2 s so that several progress updates fall due.
      let at = 0;
      const timer = setInterval(() => {
        res.write(body.subarray(at, at + 30_000));
        at += 30_000;
        if (at >= body.length) { clearInterval(timer); res.end(); }
      }, 120);
    });
    const shown: { kind: string; id?: string; text: string }[] = [];
    setDisplaySink({
      display: (b: MimeBundle, _m, id) => shown.push({ kind: "display", id, text: plainText(b) }),
      update: (b: MimeBundle, _m, id) => shown.push({ kind: "update", id, text: plainText(b) }),
    });
    try {
      const dir = freshDir("progress");
      await downloadFile(`${srv.url}/big`, path.join(dir, "big.bin"), { md5: md5(body), label: "big.bin" });
      expect(shown[0]).toMatchObject({ kind: "display", text: expect.stringMatching(/^big\.bin: 0 B \/ 293\.0 KB \(0%\)/) });
      const updates = shown.filter((s) => s.kind === "update");
      expect(updates.length).toBeGreaterThanOrEqual(2);
      expect(new Set(shown.map((s) => s.id)).size).toBe(1);
      expect(updates.at(-1)!.text).toMatch(/^big\.bin: 293\.0 KB \/ 293\.0 KB \(100%\), .*KB\/s, ETA 0 s: done, md5 verified$/);
      await expect(downloadFile(`${srv.url}/silent`, path.join(dir, "s.bin"), { md5: md5(body), progress: false, idleTimeoutMs: 300 }))
        .rejects.toThrow(/no answer within 0\.3 s/);
      expect(fs.readdirSync(dir)).toEqual(["big.bin"]);
    } finally {
      setDisplaySink(undefined);
      await srv.close();
    }
    expect(progressLine("f", 5 * 1024 * 1024, 10 * 1024 * 1024, 2)).toBe("f: 5.0 MB / 10.0 MB (50%), 2.5 MB/s, ETA 2 s");
  });

  it("searches the given folder, then LEPTON_DATA_DIR, then the cache", () => {
    const [a, b, c] = ["order-a", "order-b", "order-c"].map(freshDir);
    for (const d of [b, c]) fs.writeFileSync(path.join(d, "cifar-10-binary.tar.gz"), "");
    process.env.LEPTON_DATA_DIR = b;
    try {
      expect(searchDirs(a, c)).toEqual([a, b, c]);
      expect(findCifar10(searchDirs(a, c))).toEqual({ kind: "archive", path: path.join(b, "cifar-10-binary.tar.gz") });
      fs.mkdirSync(path.join(a, "cifar-10-batches-bin"));
      for (const f of [...TRAIN, "test_batch.bin"]) fs.writeFileSync(path.join(a, "cifar-10-batches-bin", f), "");
      expect(findCifar10(searchDirs(a, c))).toEqual({ kind: "folder", path: path.join(a, "cifar-10-batches-bin") });
      delete process.env.LEPTON_DATA_DIR;
      expect(findCifar10(searchDirs(undefined, c))).toEqual({ kind: "archive", path: path.join(c, "cifar-10-binary.tar.gz") });
    } finally {
      delete process.env.LEPTON_DATA_DIR;
    }
  });

  it("downloads a CIFAR-10 archive into the cache, verifies it and loads 50,000 / 10,000 records", async () => {
    const archive = tarGz([
      ...TRAIN.map((f, i) => ({ name: `cifar-10-batches-bin/${f}`, data: cifarRecords(10_000, i * 10_000) })),
      { name: "cifar-10-batches-bin/test_batch.bin", data: cifarRecords(10_000, 3) },
      { name: "cifar-10-batches-bin/batches.meta.txt", data: Buffer.from(CIFAR10_CLASSES.join("\n")) },
    ]);
    let requests = 0;
    const srv = await serve((_req, res) => {
      requests++;
      res.writeHead(200, { "Content-Length": String(archive.length) });
      res.end(archive);
    });
    try {
      const cache = freshDir("dl-cache");
      const empty = freshDir("dl-empty");
      const c = await cifar10({ dir: empty, cacheDir: cache, url: `${srv.url}/c.tar.gz`, md5: md5(archive), subset: "full", progress: false });
      expect(requests).toBe(1);
      expect(fs.readdirSync(cache)).toEqual(["cifar-10-binary.tar.gz"]);
      expect(c.subset).toBe("full");
      expect(c.train.size).toBe(50_000);
      expect(c.test.size).toBe(10_000);
      expect(c.train.classCounts()).toEqual(new Array(10).fill(5000));
      expect(c.test.labels()[0]).toBe(3);
      // A second call finds the cached archive and does not download again.
      const again = await cifar10({ dir: empty, cacheDir: cache, url: `${srv.url}/c.tar.gz`, md5: md5(archive), subset: "full" });
      expect(requests).toBe(1);
      expect(again.source).toContain(path.join(cache, "cifar-10-binary.tar.gz"));
      expect(again.source).toMatch(/not a known release; structure checked/);
    } finally {
      await srv.close();
    }
  });

  it("offline: subset full fails saying where to put which file; auto falls back to the sample", async () => {
    const srv = await serve((_req, res) => res.socket?.destroy());
    const url = `${srv.url}/gone.tar.gz`;
    await srv.close();
    const cache = freshDir("offline-cache");
    const err = (await cifar10({ cacheDir: cache, url, subset: "full", progress: false }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/download failed/);
    expect(err.message).toContain(`Put cifar-10-binary.tar.gz (from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, md5 c32a1d4ab5d03f1284b67883e8d87530)`);
    expect(err.message).toContain(cache);
    expect(fs.readdirSync(cache)).toEqual([]);
    const fallback = await cifar10({ cacheDir: cache, download: false });
    expect(fallback.subset).toBe("sample");
    expect(fallback.train.size).toBe(2000);
  });
});

describe("bundled sample", () => {
  it("is exactly balanced, 2,000 train and 500 test, and batches as float NHWC in [0,1]", async () => {
    const { train, test, subset } = await cifar10({ subset: "sample" });
    expect(subset).toBe("sample");
    expect(train.classes).toEqual(CIFAR10_CLASSES);
    expect(train.classCounts()).toEqual(new Array(10).fill(200));
    expect(test.classCounts()).toEqual(new Array(10).fill(50));
    const before = tf.memory().numTensors;
    const it = train.batches({ batchSize: 64, shuffle: true, seed: 1 });
    const { value } = await it.next();
    await it.return?.(undefined);
    expect(value.x.shape).toEqual([64, 32, 32, 3]);
    expect(value.x.dtype).toBe("float32");
    const x = value.x.dataSync() as Float32Array;
    expect(x.reduce((a, b) => Math.min(a, b), 1)).toBeGreaterThanOrEqual(0);
    expect(x.reduce((a, b) => Math.max(a, b), 0)).toBeLessThanOrEqual(1);
    tf.dispose([value.x, value.y]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

const SHARED = path.resolve(__dirname, "..", "..", "shared", "datasets");
const shared = fs.existsSync(path.join(SHARED, "cifar-10-binary.tar.gz"));
describe.skipIf(!shared)("full CIFAR-10 archive in ../shared/datasets", () => {
  it("loads 50,000 / 10,000 records with 5,000 / 1,000 per class", async () => {
    const c = await cifar10({ dir: SHARED, download: false, subset: "full", cacheDir: freshDir("shared-cache") });
    expect(c.train.size).toBe(50_000);
    expect(c.test.size).toBe(10_000);
    expect(c.train.classCounts()).toEqual(new Array(10).fill(5000));
    expect(c.test.classCounts()).toEqual(new Array(10).fill(1000));
    expect(c.source).toMatch(/80cbfff4d475d1ece27e93557fd88c40/);
  });
});
if (!shared) console.log(`skipping the full CIFAR-10 test: ${SHARED}/cifar-10-binary.tar.gz is absent`);
