/**
 * Fuzzing the parsers (issue 13): every input kept in fuzz/corpus/<target>/ (the seeds and each crash
 * the fuzzer ever found) is replayed through its target, and each target runs under the coverage-guided
 * fuzzer (fuzz/fuzz.js) for a few seconds with a fixed seed, in a child process bounded in time and
 * memory. A crash prints the artifact to add to the corpus once fixed.
 */
import { describe, it, expect } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runCommand } from "./kernel_helpers";

const root = path.resolve(__dirname, "..");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { targets, judge } = require(path.join(root, "fuzz", "targets.js")) as {
  targets: Record<string, (b: Buffer) => unknown>;
  judge: (e: unknown) => void;
};
const SECONDS = Number(process.env.LEPTON_FUZZ_SECONDS ?? 6);

describe("fuzzing the parsers", () => {
  for (const name of Object.keys(targets)) {
    it(`${name}: the corpus replays without a raw error`, async () => {
      const dir = path.join(root, "fuzz", "corpus", name);
      const files = fs.readdirSync(dir);
      expect(files.length).toBeGreaterThan(0);
      const log = process.stdout.write;
      process.stdout.write = (() => true) as any;
      try {
        for (const f of files) await targets[name](fs.readFileSync(path.join(dir, f)));
      } finally {
        process.stdout.write = log;
      }
    });

    it(`${name}: ${SECONDS} s of coverage-guided fuzzing find no crash, hang or memory blow-up`, async () => {
      const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-fuzz-"));
      const r = await runCommand(process.execPath, ["--max-old-space-size=2048", path.join(root, "fuzz", "fuzz.js"), name, "--seconds", String(SECONDS), "--seed", "7", "--artifacts", artifacts, "--slow-ms", "5000", "--rss-mb", "1500"], { timeoutMs: (SECONDS + 60) * 1000 });
      const last = JSON.parse(r.stdout.trim().split("\n").pop() || "{}");
      expect(last.crash, `${last.crash} (input saved at ${last.artifact}; add it to fuzz/corpus/${name}/ once fixed)\n${r.stderr}`).toBeUndefined();
      expect(r.status).toBe(0);
      expect(last.execs).toBeGreaterThan(20);
      expect(last.blocks).toBeGreaterThan(10);
    }, (SECONDS + 90) * 1000);
  }

  it("judge: a refusal passes, a raw TypeError is a crash", () => {
    expect(() => judge(new Error("fuzz.idx: damaged"))).not.toThrow();
    expect(() => judge(new TypeError("x is undefined"))).toThrow(TypeError);
    expect(() => judge("a string")).toThrow();
  });
});
