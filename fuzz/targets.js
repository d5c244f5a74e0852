/**
 * Fuzz targets for lepton's parsers (Jazzer.js, coverage-guided): each takes the fuzzer's bytes and
 * feeds them to one parser of the built library (dist/). A parser may refuse any input with an Error
 * that says what is wrong (DataFormatError, ArchiveError, ...); what counts as a crash is a raw
 * JavaScript error (TypeError, RangeError, ReferenceError: a bug, not a refusal), a hang or a memory
 * blow-up (Jazzer's -timeout and -rss_limit_mb).
 *
 *   npx jazzer fuzz/idx.js /tmp/corpus fuzz/corpus/idx -i dist/src -- -max_total_time=30
 *
 * test/fuzz.test.ts replays every file of fuzz/corpus/<target>/ through these functions and runs each
 * target for a few seconds; a crash the fuzzer finds goes into that folder as a regression input.
 */
const fs = require("fs");
const os = require("os");
const path = require("path");

const dist = path.join(__dirname, "..", "dist", "src");
const RAW = [TypeError, RangeError, ReferenceError, SyntaxError];

/** Refusals are fine; raw JS errors and non-errors are crashes. */
function judge(e) {
  if (!(e instanceof Error) || RAW.some((k) => e.constructor === k)) throw e;
}

let tmp;
function tmpFile(name, data) {
  tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), "lepton-fuzz-"));
  const f = path.join(tmp, name);
  fs.writeFileSync(f, data);
  return f;
}

const targets = {
  idx(data) {
    const { parseIdx } = require(path.join(dist, "data", "mnist"));
    try {
      parseIdx(new Uint8Array(data), "fuzz.idx", { maxBytes: 1 << 22 });
    } catch (e) {
      judge(e);
    }
  },
  cifar(data) {
    const { decodeCifarRecords } = require(path.join(dist, "data", "cifar10"));
    try {
      decodeCifarRecords(new Uint8Array(data), "fuzz.bin", new Uint8Array(8 * 3072), new Int32Array(8), 0);
    } catch (e) {
      judge(e);
    }
  },
  csv(data) {
    const { csv } = require(path.join(dist, "data", "csv"));
    const file = tmpFile("fuzz.csv", data);
    try {
      csv(file, { label: "y", missing: data.length % 3 === 0 ? "drop" : data.length % 3 === 1 ? "fill" : "fail" });
    } catch (e) {
      judge(e);
    }
  },
  image(data) {
    const { decodeImage } = require(path.join(dist, "data", "image_folder"));
    const file = tmpFile(data[0] === 0xff ? "fuzz.jpg" : "fuzz.png", data);
    try {
      decodeImage(file);
    } catch (e) {
      judge(e);
    }
  },
  async archive(data) {
    const { readArchiveMembers } = require(path.join(dist, "data", "archive"));
    const file = tmpFile("fuzz.tar.gz", data);
    try {
      await readArchiveMembers(file, { want: () => 1 << 20, maxExtractBytes: 8 << 20, maxArchiveBytes: 1 << 20, maxEntries: 100, maxSeconds: 5 });
    } catch (e) {
      judge(e);
    }
  },
};

module.exports = { targets, judge };
