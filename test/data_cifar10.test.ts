import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as http from "http";
import { createHash } from "crypto";
import type { AddressInfo } from "net";
import * as tf from "@tensorflow/tfjs";
import { cifar10, decodeCifarRecords, findCifar10, CIFAR10_CLASSES, CIFAR10_KNOWN_MD5S } from "../src/data/cifar10";
import { downloadFile, progressLine, removeStaleParts } from "../src/data/download";
import { searchDirs } from "../src/data/paths";
import { setDisplaySink, plainText, type MimeBundle } from "../src/display/display";
import { captureDisplay } from "./display_capture";
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

/** Every file under dir with its size and md5: a snapshot to compare before and after. */
function snapshot(dir: string): string[] {
  return listTree(dir).map((f) => {
    const full = path.join(dir, f);
    const st = fs.lstatSync(full);
    return st.isFile() ? `${f} ${st.size} ${md5(fs.readFileSync(full))}` : `${f} ${st.isDirectory() ? "dir" : "other"}`;
  });
}


/** The members of a complete hand-built CIFAR-10 archive (60,000 records), made once. */
let fullMembers: { name: string; data: Buffer }[] | undefined;
let fullArchiveBuf: Buffer | undefined;
function fullArchive(): { archive: Buffer; members: { name: string; data: Buffer }[] } {
  fullMembers ??= [
    ...TRAIN.map((f, i) => ({ name: `cifar-10-batches-bin/${f}`, data: cifarRecords(10_000, i * 10_000) })),
    { name: "cifar-10-batches-bin/test_batch.bin", data: cifarRecords(10_000, 3) },
    { name: "cifar-10-batches-bin/batches.meta.txt", data: Buffer.from(CIFAR10_CLASSES.join("\n")) },
  ];
  fullArchiveBuf ??= tarGz(fullMembers);
  return { archive: fullArchiveBuf, members: fullMembers };
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

  it("names the file and offset of a damaged record or a cut-short file, and writes nothing", async () => {
    const box = freshDir("damaged-box");
    const dir = freshDir("damaged-box/damaged/cifar-10-batches-bin");
    for (const f of [...TRAIN, "test_batch.bin"]) fs.writeFileSync(path.join(dir, f), "");
    const bad = cifarRecords(3);
    bad[2 * 3073] = 200;
    fs.writeFileSync(path.join(dir, "data_batch_1.bin"), bad);
    const cache = freshDir("damaged-box/cache");
    const before = snapshot(box);
    await expect(cifar10({ dir: path.dirname(dir), download: false, subset: "full", cacheDir: cache }))
      .rejects.toThrow(/data_batch_1\.bin: record 2 \(byte offset 6146\) has label 200/);
    expect(snapshot(box)).toEqual(before);
    fs.writeFileSync(path.join(dir, "data_batch_1.bin"), Buffer.concat([cifarRecords(3), Buffer.alloc(5)]));
    await expect(cifar10({ dir: path.dirname(dir), download: false, subset: "full", cacheDir: cache }))
      .rejects.toThrow(/data_batch_1\.bin: 9224 bytes is not a whole number of 3073-byte records.*after record 3 \(byte offset 9219\)/);
    fs.writeFileSync(path.join(dir, "data_batch_1.bin"), cifarRecords(3));
    const before2 = snapshot(box);
    await expect(cifar10({ dir: path.dirname(dir), download: false, subset: "full", cacheDir: cache }))
      .rejects.toThrow(/data_batch_1\.bin: 3 records, but the CIFAR-10 release has 10000/);
    expect(snapshot(box)).toEqual(before2);
  });

  it("names the archive member and byte offset of damage inside a .tar.gz, even in the cache, and leaves no half-written folder", async () => {
    const box = freshDir("member-box");
    const cache = freshDir("member-box/cache");
    const badLabel = cifarRecords(10_000);
    badLabel[2 * 3073] = 10;
    const short = Buffer.concat([cifarRecords(3), Buffer.alloc(5)]);
    for (const [member, message] of [
      [badLabel, /cifar-10-binary\.tar\.gz:cifar-10-batches-bin\/data_batch_2\.bin: record 2 \(byte offset 6146\) has label 10; CIFAR-10 labels are 0-9/],
      [short, /cifar-10-binary\.tar\.gz:cifar-10-batches-bin\/data_batch_2\.bin: 9224 bytes is not a whole number of 3073-byte records.*after record 3 \(byte offset 9219\)/],
    ] as const) {
      // data_batch_1 is whole, so the loader has started writing the cache folder when batch 2 fails.
      fs.writeFileSync(path.join(cache, "cifar-10-binary.tar.gz"), tarGz([
        { name: "cifar-10-batches-bin/data_batch_1.bin", data: cifarRecords(10_000) },
        { name: "cifar-10-batches-bin/data_batch_2.bin", data: member },
      ]));
      const before = snapshot(box);
      await expect(cifar10({ download: false, subset: "full", cacheDir: cache })).rejects.toThrow(message);
      expect(snapshot(box)).toEqual(before);
      expect(fs.readdirSync(cache)).toEqual(["cifar-10-binary.tar.gz"]);
    }
  });

  it("an incomplete cifar-10-batches-bin/ or a missing { dir } is an error naming what is missing, not a download", async () => {
    let requests = 0;
    const srv = await serve((_req, res) => { requests++; res.writeHead(404); res.end(); });
    try {
      const dir = freshDir("incomplete");
      const batches = freshDir("incomplete/cifar-10-batches-bin");
      for (const f of ["data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"]) fs.writeFileSync(path.join(batches, f), "");
      const cache = freshDir("incomplete-cache");
      const opts = { dir, cacheDir: cache, url: `${srv.url}/c.tar.gz`, progress: false };
      for (const subset of ["auto", "full"] as const) {
        await expect(cifar10({ ...opts, subset })).rejects.toThrow(
          `${batches} is an incomplete CIFAR-10 folder: it lacks data_batch_3.bin, data_batch_4.bin, data_batch_5.bin (it has data_batch_1.bin, data_batch_2.bin, test_batch.bin). Copy the missing files into it`);
      }
      // The batches folder given directly, and an empty batches folder, too.
      await expect(cifar10({ ...opts, dir: batches })).rejects.toThrow(/lacks data_batch_3\.bin/);
      const empty = freshDir("incomplete-empty/cifar-10-batches-bin");
      await expect(cifar10({ ...opts, dir: path.dirname(empty) })).rejects.toThrow(/incomplete CIFAR-10 folder: it lacks data_batch_1\.bin, .*test_batch\.bin\. Copy/);
      // With the archive beside it, the archive is the source.
      fs.writeFileSync(path.join(dir, "cifar-10-binary.tar.gz"), "");
      expect(findCifar10([dir])).toEqual({ kind: "archive", path: path.join(dir, "cifar-10-binary.tar.gz") });
      const gone = path.join(tmp, "no-such-folder");
      await expect(cifar10({ ...opts, dir: gone })).rejects.toThrow(`${gone} (given as { dir }) does not exist. Pass the folder that holds cifar-10-batches-bin/ or cifar-10-binary.tar.gz`);
      expect(requests).toBe(0);
      expect(fs.readdirSync(cache)).toEqual([]);
    } finally {
      await srv.close();
    }
  });
});

describe("archives", () => {
  for (const [what, members, message] of [
    ["a path that climbs out", (_box: string) => [{ name: "cifar-10-batches-bin/../../evil.txt", data: Buffer.from("pwned") }], /climbs out/],
    ["an absolute path", (box: string) => [{ name: path.join(box, "abs-evil.txt"), data: Buffer.from("pwned") }], /is absolute/],
    ["a symlink", (_box: string) => [{ name: "cifar-10-batches-bin/data_batch_1.bin", type: "2", linkname: "/etc/passwd" }], /SymbolicLink to "\/etc\/passwd".*refused/],
    ["a hard link", (_box: string) => [{ name: "cifar-10-batches-bin/data_batch_1.bin", type: "1", linkname: "../../x" }], /is a Link/],
  ] as const) {
    it(`refuses an archive with ${what} and writes nothing`, async () => {
      // A sandbox of our own: the archive lies in box/in/, the cache is box/cache/, so a member
      // "cifar-10-batches-bin/../../evil.txt" extracted next to the archive would land in box/.
      const box = freshDir(`evil-${what.replace(/\W/g, "_")}`);
      const dir = freshDir(`evil-${what.replace(/\W/g, "_")}/in`);
      const cache = freshDir(`evil-${what.replace(/\W/g, "_")}/cache`);
      fs.writeFileSync(path.join(dir, "cifar-10-binary.tar.gz"), tarGz([{ name: "cifar-10-batches-bin/", type: "5" }, ...(members(box) as any)]));
      // The same archive in the cache too, where a valid archive would be extracted.
      fs.copyFileSync(path.join(dir, "cifar-10-binary.tar.gz"), path.join(cache, "cifar-10-binary.tar.gz"));
      const before = snapshot(box);
      await expect(cifar10({ dir, download: false, subset: "full", cacheDir: cache })).rejects.toThrow(message);
      await expect(cifar10({ download: false, subset: "full", cacheDir: cache })).rejects.toThrow(message);
      expect(snapshot(box)).toEqual(before);
      expect(fs.existsSync(path.join(box, "evil.txt"))).toBe(false);
      expect(fs.existsSync(path.join(box, "abs-evil.txt"))).toBe(false);
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

  it("caps the total size and the number of entries of an archive, skipped members included", async () => {
    const file = path.join(freshDir("caps"), "caps.tar.gz");
    fs.writeFileSync(file, tarGz([
      { name: "skipped-1.bin", data: Buffer.alloc(600) },
      { name: "skipped-2.bin", data: Buffer.alloc(600) },
      { name: "wanted.bin", data: Buffer.alloc(10) },
    ]));
    const want = (p: string) => (p === "wanted.bin" ? 100 : undefined);
    await expect(readArchiveMembers(file, { want, maxTotalBytes: 1000 }))
      .rejects.toThrow(/caps\.tar\.gz: its members hold more than 1000 bytes in all \(at "skipped-2\.bin"\)/);
    await expect(readArchiveMembers(file, { want, maxEntries: 2 })).rejects.toThrow(/caps\.tar\.gz: more than 2 entries/);
    const ok = await readArchiveMembers(file, { want, maxTotalBytes: 1210, maxEntries: 3 });
    expect([...ok.keys()]).toEqual(["wanted.bin"]);
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

  it("downloads a CIFAR-10 archive into the cache, verifies it, loads 50,000 / 10,000 records and keeps the extracted folder", async () => {
    const { archive, members } = fullArchive();
    let requests = 0;
    const srv = await serve((_req, res) => {
      requests++;
      res.writeHead(200, { "Content-Length": String(archive.length) });
      res.end(archive);
    });
    try {
      const cache = freshDir("dl-cache");
      const empty = freshDir("dl-empty");
      const { result: c, shown } = await captureDisplay(() =>
        cifar10({ dir: empty, cacheDir: cache, url: `${srv.url}/c.tar.gz`, md5: md5(archive), subset: "full", progress: false }));
      expect(requests).toBe(1);
      expect(shown).toEqual([]); // the archive has the md5 asked for: no unknown-archive notice
      expect(c.subset).toBe("full");
      expect(c.train.size).toBe(50_000);
      expect(c.test.size).toBe(10_000);
      expect(c.train.classCounts()).toEqual(new Array(10).fill(5000));
      expect(c.test.labels()[0]).toBe(3);
      expect(c.source).toContain(`; extracted to ${path.join(cache, "cifar-10-batches-bin")} for faster loads`);
      // The six validated members were written to the cache folder, byte for byte, and nothing else.
      expect(fs.readdirSync(cache).sort()).toEqual(["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]);
      const folder = path.join(cache, "cifar-10-batches-bin");
      expect(fs.readdirSync(folder).sort()).toEqual([".lepton-source.json", ...TRAIN, "test_batch.bin"]);
      for (const m of members.filter((m) => m.name.endsWith(".bin"))) {
        expect(md5(fs.readFileSync(path.join(folder, path.basename(m.name))))).toBe(md5(m.data));
      }
      expect(fs.readdirSync(empty)).toEqual([]);
      // A second call reads the folder: no download, no gunzip, the same data.
      const again = await cifar10({ dir: empty, cacheDir: cache, url: `${srv.url}/c.tar.gz`, md5: md5(archive), subset: "full" });
      expect(requests).toBe(1);
      expect(again.source).toBe(`${folder} (downloaded from ${srv.url}/c.tar.gz (md5 ${md5(archive)}: the md5 given as { md5 }))`);
      expect(Array.from(again.test.labels())).toEqual(Array.from(c.test.labels()));
      expect(again.train.classCounts()).toEqual(new Array(10).fill(5000));
    } finally {
      await srv.close();
    }
  });

  it("an archive outside the cache is only read (nothing written beside it); an unknown md5 shows a notice", async () => {
    const { archive } = fullArchive();
    const box = freshDir("elsewhere-box");
    const dir = freshDir("elsewhere-box/user");
    const cache = freshDir("elsewhere-box/cache");
    fs.writeFileSync(path.join(dir, "cifar-10-binary.tar.gz"), archive);
    const before = snapshot(box);
    const { result: c, shown } = await captureDisplay(() => cifar10({ dir, download: false, subset: "full", cacheDir: cache }));
    expect(c.subset).toBe("full");
    expect(c.train.size).toBe(50_000);
    expect(snapshot(box)).toEqual(before);
    expect(c.source).toBe(`${path.join(dir, "cifar-10-binary.tar.gz")} (md5 ${md5(archive)}: not a known release; structure checked)`);
    expect(shown).toEqual([
      `Notice: ${path.join(dir, "cifar-10-binary.tar.gz")} has md5 ${md5(archive)}, which is not a known CIFAR-10 release ` +
        `(the official archive's is c32a1d4ab5d03f1284b67883e8d87530). It is used because its structure checks out (six files of ` +
        `10,000 records, labels 0-9), but its images may differ from the official ones. For comparable results replace it with ` +
        `the official archive from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz.`,
    ]);
  });

  it("removes leftover .part files older than a day before a download, and keeps younger ones of a running process", async () => {
    const body = Buffer.from("hello");
    const srv = await serve((_req, res) => { res.writeHead(200, { "Content-Length": "5" }); res.end(body); });
    try {
      const dir = freshDir("stale");
      const dest = path.join(dir, "f.bin");
      const old = `${dest}.part-1-1000`;
      const oldFolder = path.join(dir, "cifar-10-batches-bin.part-1-1000");
      const young = `${dest}.part-${process.pid}-2000`;
      const other = path.join(dir, "g.bin.part-3-3000");
      fs.writeFileSync(old, "x");
      fs.mkdirSync(oldFolder);
      fs.writeFileSync(path.join(oldFolder, "data_batch_1.bin"), "x");
      fs.writeFileSync(young, "y");
      fs.writeFileSync(other, "z");
      const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
      for (const p of [old, oldFolder, other]) fs.utimesSync(p, twoDaysAgo, twoDaysAgo);
      await downloadFile(`${srv.url}/f`, dest, { md5: md5(body), progress: false });
      expect(fs.readdirSync(dir).sort()).toEqual(["cifar-10-batches-bin.part-1-1000", "f.bin", `f.bin.part-${process.pid}-2000`, "g.bin.part-3-3000"]);
      expect(removeStaleParts(path.join(dir, "cifar-10-batches-bin"))).toEqual([oldFolder]);
      expect(fs.readdirSync(dir).sort()).toEqual(["f.bin", `f.bin.part-${process.pid}-2000`, "g.bin.part-3-3000"]);
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
    const { result: fallback, shown } = await captureDisplay(() => cifar10({ cacheDir: cache, download: false }));
    expect(fallback.subset).toBe("sample");
    expect(fallback.train.size).toBe(2000);
    expect(shown.length).toBe(1);
    expect(shown[0]).toMatch(/^Notice: using the bundled CIFAR-10 sample \(2,000 train \/ 500 test images\), not the full set\. CIFAR-10 was not found in /);
    expect(shown[0]).toContain("downloading is off ({ download: false }). Put cifar-10-binary.tar.gz (from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, md5 c32a1d4ab5d03f1284b67883e8d87530) or its extracted cifar-10-batches-bin/ folder in one of: ");
    expect(shown[0]).toContain(cache);
    // The sample on request shows no notice.
    expect((await captureDisplay(() => cifar10({ subset: "sample" }))).shown).toEqual([]);
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
    const cache = freshDir("shared-cache");
    const before = snapshot(SHARED);
    const c = await cifar10({ dir: SHARED, download: false, subset: "full", cacheDir: cache });
    expect(c.subset).toBe("full");
    expect(c.train.size).toBe(50_000);
    expect(c.test.size).toBe(10_000);
    expect(c.train.classCounts()).toEqual(new Array(10).fill(5000));
    expect(c.test.classCounts()).toEqual(new Array(10).fill(1000));
    // Whichever known archive this machine has (the official release or the development copy).
    const found = /\(md5 ([0-9a-f]{32}): /.exec(c.source);
    expect(found, c.source).not.toBeNull();
    expect(Object.keys(CIFAR10_KNOWN_MD5S)).toContain(found![1]);
    // Read only: nothing written beside the archive, nothing extracted into the cache.
    expect(snapshot(SHARED)).toEqual(before);
    expect(fs.readdirSync(cache)).toEqual([]);
  });
});
if (!shared) console.log(`skipping the full CIFAR-10 test: ${SHARED}/cifar-10-binary.tar.gz is absent`);
