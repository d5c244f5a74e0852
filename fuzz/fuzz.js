#!/usr/bin/env node
/**
 * A small coverage-guided fuzzer for lepton's parsers, on V8's own block coverage (node:inspector,
 * Profiler.takePreciseCoverage): an input that runs a block of lepton's code (dist/src) no input ran
 * before joins the corpus; inputs are mutated from the corpus (bit flips, interesting bytes and
 * integers, inserts, deletes, splices, parser tokens). A raw JavaScript error (TypeError, RangeError,
 * ...), an input slower than --slow-ms or one that grows memory past --rss-mb is a crash: written to
 * the artifact folder and reported, exit code 1.
 *
 * Why by hand: Jazzer.js 4 (the npm coverage-guided fuzzer) ships a native addon built for glibc 2.38
 * (Debian 12 has 2.36), and Jazzer.js 1-3 and jsfuzz download theirs from GitHub at install.
 *
 *   node fuzz/fuzz.js <target> [--seconds 10] [--seed 1] [--corpus-out DIR] [--artifacts DIR]
 *   targets: idx, cifar, csv, image, archive (fuzz/targets.js); seeds in fuzz/corpus/<target>/
 *
 * Prints one JSON line at the end: { target, execs, corpus, blocks, seconds, crash? }.
 */
const fs = require("fs");
const path = require("path");
const inspector = require("inspector");
const { targets } = require("./targets");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const target = process.argv[2];
if (!targets[target]) {
  console.error(`fuzz.js: unknown target "${target}"; use one of ${Object.keys(targets).join(", ")}.`);
  process.exit(2);
}
const seconds = Number(arg("--seconds", "10"));
const slowMs = Number(arg("--slow-ms", "5000"));
const rssMb = Number(arg("--rss-mb", "1500"));
const artifacts = arg("--artifacts", path.join(require("os").tmpdir(), "lepton-fuzz-artifacts"));
const corpusOut = arg("--corpus-out", "");
let rng = Number(arg("--seed", "1")) >>> 0 || 1;
const rand = (n) => {
  rng ^= rng << 13;
  rng >>>= 0;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  rng >>>= 0;
  return rng % n;
};

const session = new inspector.Session();
session.connect();
const post = (method, params = {}) =>
  new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));

const seen = new Set();
const ours = (url) => url.includes(`${path.sep}dist${path.sep}src${path.sep}`);

/** Blocks of lepton's code that ran since the last call (takePreciseCoverage resets the counts). */
async function newBlocks() {
  const { result } = await post("Profiler.takePreciseCoverage");
  let fresh = 0;
  for (const script of result) {
    if (!ours(script.url)) continue;
    for (const fn of script.functions) {
      for (const r of fn.ranges) {
        if (r.count === 0) continue;
        const key = `${script.url}:${r.startOffset}:${r.endOffset}`;
        if (!seen.has(key)) {
          seen.add(key);
          fresh++;
        }
      }
    }
  }
  return fresh;
}

const TOKENS = {
  csv: [",", "\n", "\r\n", '"', "NA", "n/a", "", "1", "1.0", "-0", "1e999", "NaN", "y", "x", "id", ";", "\t", "﻿"],
  default: [],
};
const INTS = [0, 1, 2, 3, 255, 256, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 3073, 28, 784, 60000];

function mutate(input, corpus) {
  let b = Buffer.from(input);
  const rounds = 1 + rand(4);
  for (let k = 0; k < rounds; k++) {
    const op = rand(9);
    if (b.length === 0 && op < 6) {
      b = Buffer.from([rand(256)]);
      continue;
    }
    const at = rand(Math.max(1, b.length));
    switch (op) {
      case 0: // bit flip
        b[at] ^= 1 << rand(8);
        break;
      case 1: // interesting byte
        b[at] = [0, 1, 0x7f, 0x80, 0xff, 0x0a, 0x2c, 0x22][rand(8)];
        break;
      case 2: // random byte
        b[at] = rand(256);
        break;
      case 3: { // interesting 32-bit integer, big-endian (IDX, PNG) or little-endian
        const v = INTS[rand(INTS.length)] >>> 0;
        const w = Buffer.alloc(4);
        if (rand(2)) w.writeUInt32BE(v);
        else w.writeUInt32LE(v);
        w.copy(b, Math.min(at, Math.max(0, b.length - 4)));
        break;
      }
      case 4: // delete a run
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + rand(16))]);
        break;
      case 5: { // duplicate a run
        const len = 1 + rand(Math.min(64, b.length));
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
        break;
      }
      case 6: { // insert random bytes or a token
        const toks = TOKENS[target] ?? TOKENS.default;
        const ins = toks.length && rand(2) ? Buffer.from(toks[rand(toks.length)]) : Buffer.from(Array.from({ length: 1 + rand(8) }, () => rand(256)));
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 7: { // splice with another corpus input
        const other = corpus[rand(corpus.length)];
        const cut = rand(other.length + 1);
        b = Buffer.concat([b.subarray(0, at), other.subarray(cut)]);
        break;
      }
      case 8: // truncate
        b = b.subarray(0, at);
        break;
    }
  }
  return b.length > 1 << 16 ? b.subarray(0, 1 << 16) : b;
}

const write = process.stdout.write.bind(process.stdout);
async function runOne(data) {
  const t0 = Date.now();
  // Parsers print notices (CSV inference): keep the fuzzer's output to its own report.
  process.stdout.write = () => true;
  try {
    await targets[target](data);
  } catch (e) {
    return { crash: `${e && e.constructor ? e.constructor.name : typeof e}: ${e && e.message ? e.message : String(e)}`.slice(0, 500) };
  } finally {
    process.stdout.write = write;
  }
  const ms = Date.now() - t0;
  if (ms > slowMs) return { crash: `slow input: ${ms} ms (limit ${slowMs} ms)` };
  const rss = process.memoryUsage().rss / 2 ** 20;
  if (rss > rssMb) return { crash: `memory: rss ${rss.toFixed(0)} MB (limit ${rssMb} MB)` };
  return {};
}

async function main() {
  await post("Profiler.enable");
  await post("Profiler.startPreciseCoverage", { callCount: true, detailed: true });
  const seedDir = path.join(__dirname, "corpus", target);
  const corpus = fs.existsSync(seedDir) ? fs.readdirSync(seedDir).sort().map((f) => fs.readFileSync(path.join(seedDir, f))) : [];
  if (corpus.length === 0) corpus.push(Buffer.alloc(0));
  const start = Date.now();
  let execs = 0;
  const report = (extra) => {
    console.log(JSON.stringify({ target, execs, corpus: corpus.length, blocks: seen.size, seconds: Number(((Date.now() - start) / 1000).toFixed(1)), ...extra }));
  };
  const fail = (data, why) => {
    fs.mkdirSync(artifacts, { recursive: true });
    const file = path.join(artifacts, `crash-${target}-${require("crypto").createHash("sha1").update(data).digest("hex").slice(0, 12)}`);
    fs.writeFileSync(file, data);
    report({ crash: why, artifact: file });
    process.exit(1);
  };
  // The seeds first: each must pass, and they set the coverage baseline.
  for (const data of corpus) {
    const r = await runOne(data);
    execs++;
    if (r.crash) fail(data, r.crash);
    await newBlocks();
  }
  while ((Date.now() - start) / 1000 < seconds) {
    const data = mutate(corpus[rand(corpus.length)], corpus);
    const r = await runOne(data);
    execs++;
    if (r.crash) fail(data, r.crash);
    if ((await newBlocks()) > 0) {
      corpus.push(data);
      if (corpusOut) {
        fs.mkdirSync(corpusOut, { recursive: true });
        fs.writeFileSync(path.join(corpusOut, `${target}-${corpus.length}`), data);
      }
    }
  }
  report({});
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
