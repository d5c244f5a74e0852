/**
 * Jupyter's kernel conformance suite (Debian's python3-jupyter-kernel-test, module jupyter_kernel_test)
 * against the installed Lepton kernel: test/conformance/test_lepton_kernel.py, run with Debian's Python
 * on a kernel installed into a private prefix. Every check must pass; the only skip allowed is the pager
 * (the kernel has no pager payloads).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, realpathSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { PYTHON, ROOT, ensureBuilt, privateJupyterWithKernel, runCommand } from "./kernel_helpers";

/** The Debian packages this test needs (jupyter_kernel_test and its jupyter_client). */
export const CONFORMANCE_APT_PACKAGES = "python3-jupyter-kernel-test jupyter-client";
const SUITE = join(ROOT, "test", "conformance", "test_lepton_kernel.py");
/** The checks the suite may skip: the pager (no code_page_something: the kernel sends no pager payloads). */
const ALLOWED_SKIPS = ["test_pager"];
/** jupyter_kernel_test 0.4.5's checks; each must have run. */
const SUITE_TESTS = [
  "test_clear_output", "test_completion", "test_display_data", "test_error", "test_execute_result", "test_execute_stderr",
  "test_execute_stdout", "test_history", "test_inspect", "test_is_complete", "test_kernel_info", "test_pager",
];

/** Why the conformance suite cannot run here, or undefined when it can. */
async function suiteUnavailable(python = PYTHON): Promise<string | undefined> {
  const install = `apt-get install ${CONFORMANCE_APT_PACKAGES}`;
  if (!existsSync(python)) return `${python} is missing (${install})`;
  const res = await runCommand(python, ["-c", "import jupyter_kernel_test, jupyter_client"], { timeoutMs: 60_000 });
  if (res.status === 0) return undefined;
  return `Debian's jupyter_kernel_test is not installed (${install}): ${res.stderr.trim().split("\n").pop()}`;
}

/**
 * Like needJupyter: resolves true when the suite can run. When it cannot, under CI (CI set) it throws,
 * since a missing prerequisite must not turn the run green; elsewhere it warns and skips the test.
 */
async function needConformanceSuite(
  ctx: { skip: (note?: string) => void },
  options: { python?: string; ci?: boolean } = {},
): Promise<boolean> {
  const why = await suiteUnavailable(options.python);
  if (!why) return true;
  if (options.ci ?? !!process.env.CI) {
    throw new Error(`this test needs Debian's jupyter_kernel_test and CI is set, so a missing one is a failure, not a skip: ${why}. ` +
      `Install it with: apt-get install -y ${CONFORMANCE_APT_PACKAGES}`);
  }
  console.warn(`test skipped (needs python3-jupyter-kernel-test): ${why}`);
  ctx.skip(why);
  return false;
}

interface UnittestOutcome {
  /** "test_name" or "test_name (subtest params)" → ok / FAIL / ERROR / skipped. */
  results: { name: string; outcome: string }[];
  /** The FAIL: / ERROR: sections with their tracebacks. */
  failures: string[];
  ran: number | undefined;
}

/** Reads `python -m unittest -v` output (stderr): one line per test and subtest, then the failure sections. */
export function parseUnittestVerbose(text: string): UnittestOutcome {
  const results: { name: string; outcome: string }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    // "test_x (__main__.Cls.test_x) ... ok" and, for subtests, "  test_x (__main__.Cls.test_x) (k='v') ... FAIL".
    const m = /^\s*(test_\w+) \([\w.]+\)( \(.*\))? \.\.\. ?(.*)$/.exec(line);
    if (!m) continue;
    let outcome = m[3].trim();
    if (outcome === "" && i + 1 < lines.length && /^\s*(ok|FAIL|ERROR|skipped.*)$/.test(lines[i + 1])) outcome = lines[++i].trim();
    if (outcome === "") continue; // a test whose subtests follow on their own lines
    results.push({ name: m[1] + (m[2] ?? ""), outcome: outcome.startsWith("skipped") ? "skipped" : outcome });
  }
  const failures = text.split(/^={50,}$/m).slice(1).map((s) => s.split(/^-{50,}\nRan /m)[0].trim()).filter((s) => /^(FAIL|ERROR):/.test(s));
  const ran = /^Ran (\d+) tests? in/m.exec(text);
  return { results, failures, ran: ran ? Number(ran[1]) : undefined };
}

beforeAll(() => {
  ensureBuilt();
});

describe("Jupyter's kernel conformance suite (jupyter_kernel_test)", () => {
  it("parseUnittestVerbose reads tests, subtests, skips and failure sections", () => {
    const sample = [
      "test_a (__main__.T.test_a) ... ok",
      "test_b (__main__.T.test_b) ... ",
      "  test_b (__main__.T.test_b) (k='tail') ... FAIL",
      "  test_b (__main__.T.test_b) (k='range') ... skipped ''",
      "test_c (__main__.T.test_c) ... skipped ''",
      "",
      "======================================================================",
      "FAIL: test_b (__main__.T.test_b) (k='tail')",
      "----------------------------------------------------------------------",
      "AssertionError: 0 != 4",
      "",
      "----------------------------------------------------------------------",
      "Ran 3 tests in 1.0s",
      "",
      "FAILED (failures=1, skipped=2)",
    ].join("\n");
    const out = parseUnittestVerbose(sample);
    expect(out.results).toEqual([
      { name: "test_a", outcome: "ok" },
      { name: "test_b (k='tail')", outcome: "FAIL" },
      { name: "test_b (k='range')", outcome: "skipped" },
      { name: "test_c", outcome: "skipped" },
    ]);
    expect(out.failures).toEqual(["FAIL: test_b (__main__.T.test_b) (k='tail')\n" + "-".repeat(70) + "\nAssertionError: 0 != 4"]);
    expect(out.ran).toBe(3);
  });

  it("a missing suite skips outside CI and fails under CI, naming python3-jupyter-kernel-test", async () => {
    const missing = join(tmpdir(), "no-such-python-for-lepton");
    const skipped: string[] = [];
    await expect(needConformanceSuite({ skip: (note) => void skipped.push(String(note)) }, { python: missing, ci: false })).resolves.toBe(false);
    expect(skipped[0]).toContain("python3-jupyter-kernel-test");
    await expect(needConformanceSuite({ skip: () => {} }, { python: missing, ci: true }))
      .rejects.toThrow(`apt-get install -y ${CONFORMANCE_APT_PACKAGES}`);
  });

  it("test/conformance/test_lepton_kernel.py passes on the installed kernel", async (ctx) => {
    await needConformanceSuite(ctx);
    const work = realpathSync(mkdtempSync(join(tmpdir(), "lepton-conformance-")));
    // ipykernel's debugger warnings about frozen modules only clutter the output.
    const env = await privateJupyterWithKernel(work, { PYDEVD_DISABLE_FILE_VALIDATION: "1" });
    const cwd = join(work, "cwd");
    mkdirSync(cwd);
    const res = await runCommand(PYTHON, [SUITE, "-v"], { env, cwd, timeoutMs: 480_000 });
    const output = res.stdout + res.stderr;
    const { results, failures, ran } = parseUnittestVerbose(output);
    const bad = results.filter((r) => r.outcome !== "ok" && !(r.outcome === "skipped" && ALLOWED_SKIPS.includes(r.name)));
    const report = bad.length || res.status !== 0
      ? `conformance subtests that did not pass:\n${bad.map((r) => `  ${r.outcome}: ${r.name}`).join("\n") || "  (none listed)"}\n\n` +
        `${failures.join("\n\n")}\n\nexit ${res.status}${res.signal ? ` (${res.signal})` : ""}; full output:\n${output}`
      : "";
    if (report) console.error(report);
    expect(bad, report).toEqual([]);
    expect(res.status, report).toBe(0);
    expect(ran, output).toBeGreaterThanOrEqual(SUITE_TESTS.length);
    // Every check ran, and none was skipped for want of a sample (only ALLOWED_SKIPS may be).
    expect([...new Set(results.map((r) => r.name.split(" ")[0]))], output).toEqual(expect.arrayContaining(SUITE_TESTS));
  }, 600_000);
});
