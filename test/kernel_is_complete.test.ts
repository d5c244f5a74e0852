/**
 * `is_complete_request` for TypeScript: complete, incomplete (with the next line's indent) or invalid
 * (a syntax error more input cannot fix), parsed with tslab's TypeScript. The samples the conformance
 * test (test/conformance/test_lepton_kernel.py) sends are checked here first.
 */
import { describe, expect, it } from "vitest";
import { isComplete } from "../src/kernel/is_complete";

const status = (code: string) => isComplete(code).status;

/** The samples test/conformance/test_lepton_kernel.py gives jupyter_kernel_test. */
const CONFORMANCE_SAMPLES = {
  complete: ["6*7", "console.log(\"hello, world\")", "const a = 1;", "function f() {\n    return 1;\n}", "`a ${1} b`"],
  incomplete: ["function f() {", "if (x)", "[1, 2,", "`abc", "1 +", "/* a comment"],
  invalid: ["1 +* 2", ")", "let 5 = 3", "x = {a: 1 b: 2}"],
};

describe("isComplete: the conformance test's samples", () => {
  for (const [want, samples] of Object.entries(CONFORMANCE_SAMPLES)) {
    for (const code of samples) {
      it(`${JSON.stringify(code)} is ${want}`, () => expect(status(code)).toBe(want));
    }
  }
});

describe("isComplete: complete", () => {
  const complete = [
    "x",
    "6*7",
    "let x = 1",
    "let x = 1;\nlet y = 2;",
    "x = 1 // a comment",
    "// only a comment",
    "/* a closed comment */",
    "/* a */ x",
    "\"use strict\"",
    "'a' + \"b\"",
    "x = 'a\\nb'",
    "x = `a\n\nb`",
    "x = `a ${`b ${c}`} d`",
    "x = /ab+c/g.test(s)",
    "a / b / c",
    "if (x) y()",
    "if (x) {\n    y();\n} else {\n    z();\n}",
    "for (const x of [1, 2]) console.log(x)",
    "while (false) {}",
    "do x(); while (y)",
    "try { f() } catch (e) { g(e) } finally { h() }",
    "switch (x) { case 1: break; default: }",
    "function f(a: number, b?: string): void {}",
    "const f = async <T,>(x: T): Promise<T> => x",
    "class A<T> extends B implements C {\n    #p = 1;\n    static { }\n    constructor(private readonly x: T) { super(); }\n    get y() { return 1 }\n}",
    "abstract class A { abstract f(): void }",
    "interface I { a: number; b?: string[] }",
    "type T<U> = U extends string ? 1 : 2",
    "enum E { A, B = 2 }",
    "namespace N { export const a = 1 }",
    "declare const d: number",
    "let n = <number>x",
    "x as unknown as string",
    "x satisfies number",
    "a?.b?.[c]?.(d) ?? e",
    "x!.y",
    "10n + 1_000n + 0xff + 1e3 + .5",
    "label: for (;;) { break label; }",
    "await Promise.resolve(1)",
    "for await (const x of gen()) {}",
    "import * as lepton from \"lepton\"",
    "import * as lepton from \"lepton\"; lepton.display(lepton.html(\"<b>x</b>\"))",
    "import type { A } from \"./a\"",
    "export const e = 1",
    "@dec class D {}",
    "x++",
    "return",
    "let x = 1;\n\n",
    "if (x) {\n}\n",
    "",
    "   \n  ",
    "function* g() { yield 1 }",
    "const { a, b: [c] } = o",
    "({ ...a, b })",
    "1 < 2 > 3",
  ];
  for (const code of complete) it(JSON.stringify(code), () => expect(isComplete(code)).toEqual({ status: "complete" }));
});

describe("isComplete: incomplete, waiting for more input", () => {
  const incomplete = [
    // unclosed brackets
    "f(", "f(1,", "[1, 2", "x = {", "x = {a: 1,", "if (x) {", "if (x) {\n    y();\n", "class A {", "class A {\n    f() {\n    }",
    "enum E {", "interface I {", "type T = {", "namespace N {", "switch (x) {", "switch (x) { case 1:", "foo(() => {",
    // a missing operand
    "1 +", "1 +\n", "a = b *", "a ?", "a ? b :", "a =", "x = a /", "!", "new", "typeof", "x = 1; y = 2 +", "a &&",
    // a missing body
    "if (x)", "if (x)\n", "for (const x of y)", "for await (const x of y)", "while (x)", "if (x) {} else", "do",
    "(x) =>", "x =>", "try {}", "try {} catch", "label:",
    // a half-written declaration or member access
    "x.", "a?.", "function", "function f", "class", "let x:", "let y = x as", "const", "let a = 1,", "@dec", "import * as l from",
    // unclosed literals and comments
    "`abc", "x = `abc\n", "`a ${", "`a ${x}", "`a ${x} b", "`a ${`b", "'abc\\", "\"abc\\\n", "/* abc", "x /* a", "/**\n * doc",
  ];
  for (const code of incomplete) it(JSON.stringify(code), () => expect(status(code)).toBe("incomplete"));
});

describe("isComplete: invalid, a syntax error more input cannot fix", () => {
  const invalid = [
    "1 +* 2", ")", "}", "]", "let 5 = 3", "a b", "1 2", "x = {a: 1 b: 2}", "f(a b)", "[1 2]", "x = 5;\n}", "} else",
    "else", "...", "1 +* 2 +", ") (", "x = 1 + # 2", "#", "\\", "x = /ab", "x = /", "0x",
    // '...' and "..." end at the line break, so the next line cannot close them (IPython says the same of Python's)
    "\"abc", "x = 'abc", "\"abc\n", "console.log(\"hello",
    // an error before the end is invalid even if the end is incomplete too
    "1 +* 2\nf(", "let 5 = {",
  ];
  for (const code of invalid) it(JSON.stringify(code), () => expect(isComplete(code)).toEqual({ status: "invalid" }));
});

describe("isComplete: the indent for the next line", () => {
  const indent = (code: string) => isComplete(code).indent;
  it("a block, bracket or body opened on the last line: four spaces more than that line", () => {
    expect(indent("function f() {")).toBe("    ");
    expect(indent("if (x) {\n")).toBe("    ");
    expect(indent("f(")).toBe("    ");
    expect(indent("x = [")).toBe("    ");
    expect(indent("if (x) {\n    foo(1,")).toBe("        ");
    expect(indent("class A {\n    f() {")).toBe("        ");
    expect(indent("if (x)")).toBe("    ");
    expect(indent("  while (x)")).toBe("      ");
    expect(indent("for (let i = 0; i < 3; i++)")).toBe("    ");
    expect(indent("for await (const x of y)")).toBe("    ");
    expect(indent("if (x) y(); else")).toBe("    ");
    expect(indent("const f = () =>")).toBe("    ");
    expect(indent("\tif (x) {")).toBe("\t    ");
  });
  it("inside a block opened earlier, after a closed inner block or a trailing operator: the last line's indent", () => {
    expect(indent("if (x) {\n    y();")).toBe("    ");
    expect(indent("if (x) {\n    y();\n")).toBe("    ");
    expect(indent("if (x) {\n    y();\n\n")).toBe("    ");
    expect(indent("class A {\n    f() {\n    }")).toBe("    ");
    expect(indent("x = [1, 2,\n  3")).toBe("  ");
    expect(indent("x = f(a, b)")).toBe(undefined); // complete
    expect(indent("1 +")).toBe("");
    expect(indent("  a &&")).toBe("  ");
    expect(indent("if (x) {\n    f(a, b)\n    && g(")).toBe("        ");
    expect(indent("await (x) +")).toBe("");
  });
  it("inside a template literal or a continued string: none (it would become part of the string)", () => {
    expect(isComplete("    x = `abc")).toEqual({ status: "incomplete", indent: "" });
    expect(isComplete("    x = 'abc\\\n")).toEqual({ status: "incomplete", indent: "" });
  });
  it("inside a block comment: the last line's indent", () => {
    expect(indent("  /* abc")).toBe("  ");
  });
  it("indentUnit chooses what a block adds", () => {
    expect(isComplete("if (x) {", { indentUnit: "  " })).toEqual({ status: "incomplete", indent: "  " });
    expect(isComplete("if (x) {", { indentUnit: "\t" })).toEqual({ status: "incomplete", indent: "\t" });
  });
  it("complete and invalid carry no indent", () => {
    expect(isComplete("x")).toEqual({ status: "complete" });
    expect(isComplete(")")).toEqual({ status: "invalid" });
  });
});

describe("isComplete where tslab's isCompleteCode is wrong", () => {
  it("tslab calls `1 +* 2` and `)` complete and an unterminated template literal complete; these are not", () => {
    const { isCompleteCode } = require("tslab/dist/converter");
    // What tslab answers today (if tslab changes, this test says so).
    expect(isCompleteCode("1 +* 2").completed).toBe(true);
    expect(isCompleteCode("`abc").completed).toBe(true);
    expect(status("1 +* 2")).toBe("invalid");
    expect(status(")")).toBe("invalid");
    expect(status("`abc")).toBe("incomplete");
  });
});
