/**
 * The kernel's cell history and its `history_request` answers, in the shapes ipykernel gives (messaging
 * spec 5.3): tail, range, search (SQLite GLOB with unique and n), output and raw.
 */
import { describe, expect, it } from "vitest";
import { CellHistory, DEFAULT_TAIL, globToRegExp } from "../src/kernel/history";

/** A session with the cells of jupyter_kernel_test's history check, run twice. */
function sample(): CellHistory {
  const h = new CellHistory();
  const codes = ["6*7", "\"hello\".toUpperCase()", "[1, 2, 3].length"];
  let n = 0;
  for (let round = 0; round < 2; round++) for (const code of codes) h.record(++n, code);
  return h;
}

describe("CellHistory.reply", () => {
  it("tail: the last n cells, oldest first, as [session, line, input]", () => {
    const h = sample();
    expect(h.reply({ hist_access_type: "tail", n: 2, output: false, raw: true })).toEqual({
      status: "ok",
      history: [[1, 5, "\"hello\".toUpperCase()"], [1, 6, "[1, 2, 3].length"]],
    });
    expect(h.reply({ hist_access_type: "tail", n: 100 }).history).toHaveLength(6);
    expect(h.reply({ hist_access_type: "tail", n: 0 }).history).toEqual([]);
    // SQLite's LIMIT -1: everything.
    expect(h.reply({ hist_access_type: "tail", n: -1 }).history).toHaveLength(6);
  });

  it("tail without n answers the last 10 (ipykernel fails there)", () => {
    const h = new CellHistory();
    for (let i = 1; i <= 15; i++) h.record(i, `x${i}`);
    const rows = h.reply({ hist_access_type: "tail" }).history;
    expect(rows).toHaveLength(DEFAULT_TAIL);
    expect(rows[0]).toEqual([1, 6, "x6"]);
    expect(rows[9]).toEqual([1, 15, "x15"]);
  });

  it("output: true gives [session, line, [input, output]], output null where the cell had no result", () => {
    const h = new CellHistory();
    h.record(1, "6*7");
    h.recordOutput(1, "42");
    h.record(2, "console.log(1)");
    h.record(3, "let s = 'x'", "'x'");
    expect(h.reply({ hist_access_type: "tail", n: 3, output: true, raw: true }).history).toEqual([
      [1, 1, ["6*7", "42"]],
      [1, 2, ["console.log(1)", null]],
      [1, 3, ["let s = 'x'", "'x'"]],
    ]);
    // jupyter_kernel_test checks len(history[0][2]) == 2.
    expect(h.reply({ hist_access_type: "tail", n: 1, output: true }).history[0][2]).toHaveLength(2);
    h.recordOutput(99, "ignored: never recorded");
    expect(h.size).toBe(3);
  });

  it("range: [start, stop) of this session; 0 and the session's own number name it; other sessions answer nothing", () => {
    const h = sample();
    expect(h.reply({ hist_access_type: "range", session: 1, start: 2, stop: 3, output: false, raw: true }).history)
      .toEqual([[1, 2, "\"hello\".toUpperCase()"]]);
    expect(h.reply({ hist_access_type: "range", session: 0, start: 5 }).history).toEqual([
      [1, 5, "\"hello\".toUpperCase()"],
      [1, 6, "[1, 2, 3].length"],
    ]);
    expect(h.reply({ hist_access_type: "range", session: -1, start: 1 }).history).toEqual([]);
    expect(h.reply({ hist_access_type: "range", session: 2, start: 1 }).history).toEqual([]);
  });

  it("range follows IPython's bounds: start 0 (no line 0 row), stop 0 or missing = to the end, negatives count back", () => {
    const h = sample();
    expect(h.reply({ hist_access_type: "range", session: 0 }).history.map((r) => r[1])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(h.reply({ hist_access_type: "range", session: 0, start: 0, stop: 0 }).history).toHaveLength(6);
    expect(h.reply({ hist_access_type: "range", session: 0, start: 4, stop: 100 }).history.map((r) => r[1])).toEqual([4, 5, 6]);
    expect(h.reply({ hist_access_type: "range", session: 0, start: -2 }).history.map((r) => r[1])).toEqual([5, 6]);
    expect(h.reply({ hist_access_type: "range", session: 0, start: 1, stop: -4 }).history.map((r) => r[1])).toEqual([1, 2]);
    expect(h.reply({ hist_access_type: "range", session: 0, start: 4, stop: 2 }).history).toEqual([]);
  });

  it("range with output", () => {
    const h = new CellHistory({ session: 7 });
    h.record(1, "1+1", "2");
    expect(h.reply({ hist_access_type: "range", session: 7, start: 1, stop: 2, output: true }).history).toEqual([[7, 1, ["1+1", "2"]]]);
  });

  it("search: a glob over the whole input; unique keeps each input once at its latest line; n the last n", () => {
    const h = sample();
    expect(h.reply({ hist_access_type: "search", pattern: "6?7", output: false, raw: true }).history).toEqual([
      [1, 1, "6*7"],
      [1, 4, "6*7"],
    ]);
    expect(h.reply({ hist_access_type: "search", pattern: "6?7", unique: true }).history).toEqual([[1, 4, "6*7"]]);
    expect(h.reply({ hist_access_type: "search", pattern: "*", n: 3 }).history.map((r) => r[1])).toEqual([4, 5, 6]);
    expect(h.reply({ hist_access_type: "search", pattern: "*", unique: true }).history.map((r) => r[1])).toEqual([4, 5, 6]);
    expect(h.reply({ hist_access_type: "search", pattern: "*", unique: true, n: 2 }).history.map((r) => r[1])).toEqual([5, 6]);
    // Whole-input match, not a substring search.
    expect(h.reply({ hist_access_type: "search", pattern: "hello" }).history).toEqual([]);
    expect(h.reply({ hist_access_type: "search", pattern: "*hello*" }).history).toHaveLength(2);
    // No pattern: everything.
    expect(h.reply({ hist_access_type: "search" }).history).toHaveLength(6);
  });

  it("search with unique keeps the order of each input's latest line", () => {
    const h = new CellHistory();
    ["a", "b", "a", "c", "b"].forEach((code, i) => h.record(i + 1, code));
    expect(h.search("*", { unique: true })).toEqual([[1, 3, "a"], [1, 4, "c"], [1, 5, "b"]]);
    expect(h.search("*", { unique: true, output: true, n: 1 })).toEqual([[1, 5, ["b", null]]]);
  });

  it("the conformance test's search: >= 1 match, exactly 1 unique, exactly 3 with n=3", () => {
    const h = new CellHistory();
    const codes = ["6*7", "'a' + 'b'", "Math.max(1, 2)"];
    let n = 0;
    for (let round = 0; round < 6; round++) for (const code of codes) h.record(++n, code);
    expect(h.reply({ hist_access_type: "search", pattern: "6?7", output: false, raw: true }).history.length).toBeGreaterThanOrEqual(1);
    expect(h.reply({ hist_access_type: "search", pattern: "6?7", unique: true, output: false, raw: true }).history).toHaveLength(1);
    expect(h.reply({ hist_access_type: "search", pattern: "6?7", n: 3, output: false, raw: true }).history).toHaveLength(3);
  });

  it("an unknown access type, or no content, answers ok with no rows", () => {
    const h = sample();
    expect(h.reply({ hist_access_type: "sideways" })).toEqual({ status: "ok", history: [] });
    expect(h.reply(undefined)).toEqual({ status: "ok", history: [] });
    expect(h.reply({})).toEqual({ status: "ok", history: [] });
  });

  it("numbers sent as strings and nulls fall back sensibly", () => {
    const h = sample();
    expect(h.reply({ hist_access_type: "tail", n: "2" } as any).history).toHaveLength(2);
    expect(h.reply({ hist_access_type: "tail", n: null }).history).toHaveLength(6);
    expect(h.reply({ hist_access_type: "range", session: null, start: null, stop: null } as any).history).toHaveLength(6);
    expect(h.reply({ hist_access_type: "search", pattern: "*", n: null }).history).toHaveLength(6);
  });

  it("the reply is plain JSON (what goes on the wire)", () => {
    const h = sample();
    h.recordOutput(1, "42");
    const reply = h.reply({ hist_access_type: "tail", n: 6, output: true });
    expect(JSON.parse(JSON.stringify(reply))).toEqual(reply);
  });
});

describe("CellHistory.record", () => {
  it("drops trailing newlines like IPython, keeps other whitespace", () => {
    const h = new CellHistory();
    h.record(1, "x = 1\n\n");
    h.record(2, "  y\n  ");
    expect(h.tail(2)).toEqual([[1, 1, "x = 1"], [1, 2, "  y\n  "]]);
  });

  it("recording a line again replaces it and forgets its output; out-of-order lines stay sorted", () => {
    const h = new CellHistory();
    h.record(2, "b", "B");
    h.record(1, "a");
    h.record(2, "b2");
    expect(h.tail(10, true)).toEqual([[1, 1, ["a", null]], [1, 2, ["b2", null]]]);
    expect(h.size).toBe(2);
  });

  it("the session number defaults to 1 and can be chosen", () => {
    expect(new CellHistory().session).toBe(1);
    const h = new CellHistory({ session: 3 });
    h.record(1, "x");
    expect(h.tail()).toEqual([[3, 1, "x"]]);
    expect(h.range(0, 1)).toEqual([[3, 1, "x"]]);
    expect(h.range(3, 1)).toEqual([[3, 1, "x"]]);
  });
});

describe("globToRegExp (SQLite GLOB)", () => {
  const matches = (pattern: string, text: string) => globToRegExp(pattern).test(text);
  it("* any run (newlines too), ? exactly one character, case-sensitive, whole text", () => {
    expect(matches("6*7", "6*7")).toBe(true);
    expect(matches("6*7", "67")).toBe(true);
    expect(matches("6*7", "6\n+\n7")).toBe(true);
    expect(matches("6?7", "6*7")).toBe(true);
    expect(matches("6?7", "67")).toBe(false);
    expect(matches("6?7", "6**7")).toBe(false);
    expect(matches("?", "é")).toBe(true);
    expect(matches("?", "😀")).toBe(true);
    expect(matches("Abc", "abc")).toBe(false);
    expect(matches("b", "abc")).toBe(false);
  });
  it("regex characters are literal", () => {
    expect(matches("a.b(c)+$^|{1}\\/-", "a.b(c)+$^|{1}\\/-")).toBe(true);
    expect(matches("a.b", "axb")).toBe(false);
  });
  it("[sets], [a-z] ranges, [^negated], ] first in a set, an unclosed [ literal", () => {
    expect(matches("x[abc]", "xb")).toBe(true);
    expect(matches("x[abc]", "xd")).toBe(false);
    expect(matches("[a-c]1", "b1")).toBe(true);
    expect(matches("[^a-c]1", "b1")).toBe(false);
    expect(matches("[^a-c]1", "z1")).toBe(true);
    expect(matches("[]]", "]")).toBe(true);
    expect(matches("[-a]", "-")).toBe(true);
    expect(matches("[a-]", "-")).toBe(true);
    expect(matches("[*?]", "*")).toBe(true);
    expect(matches("[*?]", "x")).toBe(false);
    expect(matches("a[b", "a[b")).toBe(true);
    expect(matches("[z-a]", "m")).toBe(false);
  });
});
