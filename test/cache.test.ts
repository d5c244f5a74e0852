/**
 * The per-user download cache (issue 13, item 5): where it is (LEPTON_CACHE_DIR, $XDG_CACHE_HOME,
 * the platform's folder), provenance stored beside extracted data and shown on every load, stale
 * `.part` folders of killed extractions, the old in-package cache as a read-only fallback, and
 * `lepton cache info|clear`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as http from "http";
import { createHash } from "crypto";
import type { AddressInfo } from "net";
import { cifar10, CIFAR10_CLASSES } from "../src/data/cifar10";
import { defaultCacheDir, userCacheDir } from "../src/data/paths";
import { captureDisplay } from "./display_capture";
import { tarGz, cifarRecords } from "./fixtures/data/tarball";
import { CLI, ROOT, ensureBuilt, runCommand } from "./kernel_helpers";

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const TRAIN = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
const ALL = [...TRAIN, "test_batch.bin"];

const work = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-cache-"));
const savedEnv = { LEPTON_CACHE_DIR: process.env.LEPTON_CACHE_DIR, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME, LEPTON_DATA_DIR: process.env.LEPTON_DATA_DIR };
beforeAll(() => {
  ensureBuilt();
  delete process.env.LEPTON_DATA_DIR;
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function fresh(name: string): string {
  const d = path.join(work, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** Every file under dir with its size: a snapshot to compare before and after. */
function snapshot(dir: string): string[] {
  if (!fs.existsSync(dir)) return ["(absent)"];
  return fs.readdirSync(dir, { recursive: true }).map(String).sort().map((f) => {
    const st = fs.lstatSync(path.join(dir, f));
    return `${f} ${st.isDirectory() ? "dir" : st.size}`;
  });
}

/** Set (or, with undefined, unset) environment variables while `fn` runs. */
async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (e: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(e)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}


let archiveBuf: Buffer | undefined;
/** A complete hand-built CIFAR-10 archive (60,000 records; its md5 is no known release's). */
function fullArchive(): Buffer {
  archiveBuf ??= tarGz([
    ...TRAIN.map((f, i) => ({ name: `cifar-10-batches-bin/${f}`, data: cifarRecords(10_000, i * 10_000) })),
    { name: "cifar-10-batches-bin/test_batch.bin", data: cifarRecords(10_000, 3) },
    { name: "cifar-10-batches-bin/batches.meta.txt", data: Buffer.from(CIFAR10_CLASSES.join("\n")) },
  ]);
  return archiveBuf;
}

async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** `lepton cache ...` with exactly this environment on top of PATH (no LEPTON_* or XDG_* of the caller). */
function lepton(env: Record<string, string>, args: string[], cli = CLI) {
  return runCommand(process.execPath, [cli, "cache", ...args], { env: { PATH: process.env.PATH ?? "", ...env }, timeoutMs: 60_000 });
}

/** A pid that is certainly not running: a child that has exited. */
async function deadPid(): Promise<number> {
  const res = await runCommand(process.execPath, ["-e", "console.log(process.pid)"]);
  return Number(res.stdout.trim());
}

describe("where the cache is", () => {
  it("LEPTON_CACHE_DIR, else $XDG_CACHE_HOME/lepton, else the platform's cache folder; never inside the package", async () => {
    expect(userCacheDir({ LEPTON_CACHE_DIR: "/data/lc", XDG_CACHE_HOME: "/x" }, "linux", "/home/u")).toEqual({ dir: "/data/lc", why: "LEPTON_CACHE_DIR" });
    expect(userCacheDir({ XDG_CACHE_HOME: "/x" }, "linux", "/home/u")).toEqual({ dir: "/x/lepton", why: "$XDG_CACHE_HOME/lepton" });
    expect(userCacheDir({ XDG_CACHE_HOME: "relative" }, "linux", "/home/u").dir).toBe("/home/u/.cache/lepton"); // XDG: absolute only
    expect(userCacheDir({}, "linux", "/home/u").dir).toBe("/home/u/.cache/lepton");
    expect(userCacheDir({}, "darwin", "/Users/u").dir).toBe("/Users/u/Library/Caches/lepton");
    expect(userCacheDir({ LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local" }, "win32", "C:\\Users\\u").dir).toBe("C:\\Users\\u\\AppData\\Local\\lepton\\Cache");
    expect(userCacheDir({}, "win32", "C:\\Users\\u").dir).toBe("C:\\Users\\u\\AppData\\Local\\lepton\\Cache");
    const home = fresh("where-home");
    await withEnv({ LEPTON_CACHE_DIR: undefined, XDG_CACHE_HOME: undefined, HOME: home }, async () => {
      if (process.platform === "linux") expect(defaultCacheDir()).toBe(path.join(home, ".cache", "lepton"));
      expect(defaultCacheDir().startsWith(ROOT + path.sep)).toBe(false);
      process.env.XDG_CACHE_HOME = path.join(home, "xdg");
      expect(defaultCacheDir()).toBe(path.join(home, "xdg", "lepton"));
      process.env.LEPTON_CACHE_DIR = path.join(home, "mine");
      expect(defaultCacheDir()).toBe(path.join(home, "mine"));
    });
  });
});

describe("cifar10() and the per-user cache", () => {
  it("downloads into $XDG_CACHE_HOME/lepton (not the package), stores provenance beside the extracted folder and shows it on later loads", async () => {
    const archive = fullArchive();
    let requests = 0;
    const srv = await serve((_req, res) => {
      requests++;
      res.writeHead(200, { "Content-Length": String(archive.length) });
      res.end(archive);
    });
    const xdg = fresh("dl-xdg");
    const packageCache = path.join(ROOT, "data", "cache");
    const before = snapshot(packageCache);
    try {
      await withEnv({ LEPTON_CACHE_DIR: undefined, XDG_CACHE_HOME: xdg }, async () => {
        const url = `${srv.url}/cifar.tar.gz`;
        const first = await cifar10({ url, md5: md5(archive), subset: "full", progress: false });
        expect(requests).toBe(1);
        const cache = path.join(xdg, "lepton");
        const folder = path.join(cache, "cifar-10-batches-bin");
        expect(fs.readdirSync(cache).sort()).toEqual(["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]);
        expect(first.source).toContain(`downloaded from ${url}`);
        const info = JSON.parse(fs.readFileSync(path.join(folder, ".lepton-source.json"), "utf8"));
        expect(info).toMatchObject({ dataset: "cifar10", kind: "download", from: url, md5: md5(archive), known: "the md5 given as { md5 }" });
        // The next load reads the folder and still says where the data came from.
        const again = await cifar10({ url, md5: md5(archive), subset: "full", progress: false });
        expect(requests).toBe(1);
        expect(again.train.size).toBe(50_000);
        expect(again.source).toBe(`${folder} (downloaded from ${url} (md5 ${md5(archive)}: the md5 given as { md5 }))`);
      });
    } finally {
      await srv.close();
    }
    expect(snapshot(packageCache)).toEqual(before); // nothing written inside the package
  });

  it("an unknown-md5 archive's notice is shown on every load, also once its extracted folder is read", async () => {
    const cache = fresh("unknown-cache");
    fs.writeFileSync(path.join(cache, "cifar-10-binary.tar.gz"), fullArchive());
    const archivePath = path.join(cache, "cifar-10-binary.tar.gz");
    const digest = md5(fullArchive());
    await withEnv({ LEPTON_CACHE_DIR: cache }, async () => {
      const first = await captureDisplay(() => cifar10({ download: false, subset: "full" }));
      expect(first.shown).toHaveLength(1);
      expect(first.shown[0]).toContain(`${archivePath} has md5 ${digest}, which is not a known CIFAR-10 release`);
      const folder = path.join(cache, "cifar-10-batches-bin");
      expect(JSON.parse(fs.readFileSync(path.join(folder, ".lepton-source.json"), "utf8")))
        .toMatchObject({ kind: "unknown archive", from: archivePath, md5: digest });
      expect(first.result.source).toContain(`extracted to ${folder}`);
      for (let i = 0; i < 2; i++) {
        const later = await captureDisplay(() => cifar10({ download: false, subset: "full" }));
        expect(later.result.source).toBe(`${folder} (unknown archive ${archivePath} (md5 ${digest}: not a known release; structure checked))`);
        expect(later.shown).toHaveLength(1);
        expect(later.shown[0]).toMatch(/^Notice: /);
        expect(later.shown[0]).toContain(`${folder} was extracted from ${archivePath}, which has md5 ${digest}, which is not a known CIFAR-10 release`);
      }
    });
  });

  it("a killed extraction's .part folder (owner gone, untouched 10 minutes) is removed when the next extraction starts; a running process's, and a just-written one (another host's?), are kept", async () => {
    const cache = fresh("part-cache");
    fs.writeFileSync(path.join(cache, "cifar-10-binary.tar.gz"), fullArchive());
    const gone = await deadPid();
    const dead = path.join(cache, `cifar-10-batches-bin.part-${gone}-${Date.now()}`);
    const busy = path.join(cache, `cifar-10-batches-bin.part-${gone}-${Date.now() + 1}`);
    const live = path.join(cache, `cifar-10-batches-bin.part-${process.pid}-${Date.now()}`);
    for (const d of [dead, busy, live]) {
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, "data_batch_1.bin"), "half");
    }
    const quiet = (Date.now() - 20 * 60 * 1000) / 1000;
    fs.utimesSync(dead, quiet, quiet);
    await withEnv({ LEPTON_CACHE_DIR: cache }, async () => {
      const { result } = await captureDisplay(() => cifar10({ download: false, subset: "full" }));
      expect(result.subset).toBe("full");
    });
    expect(fs.readdirSync(cache).sort()).toEqual(["cifar-10-batches-bin", path.basename(live), path.basename(busy), "cifar-10-binary.tar.gz"].sort());
  });

  it("an old <package>/data/cache is still searched, read-only: its archive is extracted into the new cache, not beside it", async () => {
    // A copy of the built package whose data/cache holds an archive from an older lepton.
    const pkg = fresh("oldpkg");
    fs.cpSync(path.join(ROOT, "dist", "src"), path.join(pkg, "dist", "src"), { recursive: true });
    fs.cpSync(path.join(ROOT, "data", "cifar10-sample"), path.join(pkg, "data", "cifar10-sample"), { recursive: true });
    fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "lepton", version: "0.0.0" }));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(pkg, "node_modules"), "dir");
    const legacy = path.join(pkg, "data", "cache");
    fs.mkdirSync(legacy);
    fs.writeFileSync(path.join(legacy, "cifar-10-binary.tar.gz"), fullArchive());
    const cache = path.join(work, "oldpkg-newcache");
    const env = { PATH: process.env.PATH ?? "", HOME: fresh("oldpkg-home"), LEPTON_CACHE_DIR: cache };
    const before = snapshot(legacy);
    const script = `const p = require(${JSON.stringify(path.join(pkg, "dist", "src", "data", "paths.js"))});
      const { cifar10 } = require(${JSON.stringify(path.join(pkg, "dist", "src", "data", "cifar10.js"))});
      require(${JSON.stringify(path.join(pkg, "dist", "src", "display", "display.js"))}).setDisplaySink({ display() {}, update() {} });
      cifar10({ subset: "full", url: "http://127.0.0.1:9/unreachable" }).then((c) =>
        console.log(JSON.stringify({ dirs: p.searchDirs(undefined, p.defaultCacheDir()), subset: c.subset, n: c.train.size, source: c.source })),
        (e) => { console.error(e.message); process.exit(1); });`;
    for (const round of [1, 2]) {
      const res = await runCommand(process.execPath, ["-e", script], { env, timeoutMs: 120_000 });
      expect(res.status, res.stderr).toBe(0);
      const out = JSON.parse(res.stdout.trim().split("\n").pop()!);
      expect(out.dirs).toEqual([cache, legacy]);
      expect(out.subset).toBe("full");
      expect(out.n).toBe(50_000);
      if (round === 2) expect(out.source).toBe(`${path.join(cache, "cifar-10-batches-bin")} (unknown archive ${path.join(legacy, "cifar-10-binary.tar.gz")} (md5 ${md5(fullArchive())}: not a known release; structure checked))`);
    }
    expect(snapshot(legacy)).toEqual(before);
    expect(fs.readdirSync(cache)).toEqual(["cifar-10-batches-bin"]);
    // `lepton cache info` of that package names the old cache too.
    const info = await lepton(env, ["info"], path.join(pkg, "dist", "src", "cli", "main.js"));
    expect(info.status, info.stderr).toBe(0);
    expect(info.stdout).toContain(`old in-package cache (read-only, still searched so nothing is downloaded again): ${legacy}`);
    expect(info.stdout).toMatch(/^ {2}cifar-10-binary\.tar\.gz\s+\d+(\.\d)? [KM]B {2}archive \(downloaded by lepton, or copied in\)$/m);
  });
});

describe("lepton cache info | clear", () => {
  /** A cache with an extracted folder (with provenance), a download leftover, and a file of the user's. */
  function fill(cache: string): void {
    const folder = path.join(cache, "cifar-10-batches-bin");
    fs.mkdirSync(folder, { recursive: true });
    for (const f of ALL) fs.writeFileSync(path.join(folder, f), Buffer.alloc(3073 * 1000));
    fs.writeFileSync(path.join(folder, ".lepton-source.json"), JSON.stringify({
      dataset: "cifar10", kind: "download", from: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
      md5: "c32a1d4ab5d03f1284b67883e8d87530", known: "official CIFAR-10 binary release", at: "2026-01-02T03:04:05.000Z",
    }));
    fs.mkdirSync(path.join(cache, "mnist"));
    fs.writeFileSync(path.join(cache, "mnist", "t10k-labels-idx1-ubyte.gz"), Buffer.alloc(2048));
    fs.writeFileSync(path.join(cache, "cifar-10-binary.tar.gz.part-1-1"), "x");
    const quiet = (Date.now() - 20 * 60 * 1000) / 1000;
    fs.utimesSync(path.join(cache, "cifar-10-binary.tar.gz.part-1-1"), quiet, quiet); // a leftover, not a download running now
    fs.writeFileSync(path.join(cache, "notes.txt"), "mine");
  }

  it("info says where the cache is, which variable chose it, and what is in it with sizes and provenance", async () => {
    const cache = fresh("info-cache");
    fill(cache);
    const res = await lepton({ HOME: fresh("info-home"), LEPTON_CACHE_DIR: cache }, ["info"]);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toContain(`lepton cache: ${cache}\n  chosen by LEPTON_CACHE_DIR\n`);
    expect(res.stdout).toMatch(/^ {2}cifar-10-batches-bin\/\s+17\.6 MB {2}downloaded from https:\/\/www\.cs\.toronto\.edu\/~kriz\/cifar-10-binary\.tar\.gz \(md5 c32a1d4ab5d03f1284b67883e8d87530: official CIFAR-10 binary release\), 2026-01-02$/m);
    expect(res.stdout).toMatch(/^ {2}mnist\/\s+2\.0 KB$/m);
    expect(res.stdout).toMatch(/^ {2}cifar-10-binary\.tar\.gz\.part-1-1\s+1 B {2}leftover of an interrupted download or extraction$/m);
    expect(res.stdout).toMatch(/^ {2}notes\.txt\s+4 B {2}not lepton's: left alone by clear$/m);
    const json = JSON.parse((await lepton({ HOME: fresh("info-home"), LEPTON_CACHE_DIR: cache }, ["info", "--json"])).stdout);
    expect(json).toMatchObject({ dir: cache, why: "LEPTON_CACHE_DIR", exists: true });
    expect(json.entries.map((e: any) => [e.name, e.lepton])).toEqual([
      ["cifar-10-batches-bin", true], ["cifar-10-binary.tar.gz.part-1-1", true], ["mnist", true], ["notes.txt", false],
    ]);
    // Without LEPTON_CACHE_DIR: $XDG_CACHE_HOME/lepton, else ~/.cache/lepton.
    const xdg = fresh("info-xdg");
    const viaXdg = await lepton({ HOME: fresh("info-home"), XDG_CACHE_HOME: xdg }, ["info"]);
    expect(viaXdg.stdout).toContain(`lepton cache: ${path.join(xdg, "lepton")}\n  chosen by $XDG_CACHE_HOME/lepton\n  (does not exist yet`);
    if (process.platform === "linux") {
      const home = fresh("info-home2");
      const viaHome = await lepton({ HOME: home }, ["info"]);
      expect(viaHome.stdout).toContain(`lepton cache: ${path.join(home, ".cache", "lepton")}\n  chosen by the default ~/.cache/lepton`);
    }
  });

  it("clear refuses without --yes off a terminal, then removes only lepton's entries", async () => {
    const cache = fresh("clear-cache");
    fill(cache);
    const env = { HOME: fresh("clear-home"), LEPTON_CACHE_DIR: cache };
    const before = snapshot(cache);
    const refused = await lepton(env, ["clear"]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/would remove 3 entries .* from .*: cifar-10-batches-bin, cifar-10-binary\.tar\.gz\.part-1-1, mnist\. Not on a terminal.*--yes/);
    expect(snapshot(cache)).toEqual(before);
    const done = await lepton(env, ["clear", "--yes"]);
    expect(done.status, done.stderr).toBe(0);
    expect(done.stdout).toContain("left alone (not lepton's): notes.txt");
    expect(fs.readdirSync(cache)).toEqual(["notes.txt"]);
    const again = await lepton(env, ["clear", "--yes"]);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`nothing of lepton's in ${cache}`);
  });

  it("clear refuses a LEPTON_CACHE_DIR of /, the home folder or a folder above it, and deletes nothing", async () => {
    const top = fresh("guard");
    const home = path.join(top, "home");
    fs.mkdirSync(home);
    // Names lepton uses, but in the user's home: they must survive.
    fs.writeFileSync(path.join(home, "cifar-10-binary.tar.gz"), "the user's own");
    fs.mkdirSync(path.join(home, "mnist"));
    fs.symlinkSync(home, path.join(top, "link-to-home"), "dir");
    const before = snapshot(top);
    for (const dir of ["/", home, top, path.join(top, "link-to-home")]) {
      const res = await lepton({ HOME: home, LEPTON_CACHE_DIR: dir }, ["clear", "--yes"]);
      expect(res.status, res.stdout).toBe(2);
      expect(res.stderr).toMatch(/refusing: the cache \(chosen by LEPTON_CACHE_DIR\) is .*(root of the file system|your home folder|holds your home folder)/);
    }
    expect(snapshot(top)).toEqual(before);
  });
});
