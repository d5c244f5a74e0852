/**
 * The manual in docs/ cannot go stale (issue 18, item 9):
 * - every ```ts block of each docs/*.md page runs, in order, as the cells of one notebook on the Lepton
 *   kernel (`lepton run`, so each block is type-checked by tslab's TypeScript like a notebook cell), and
 *   the page fails on an error output or a failed run. A block fenced ```ts no-run (REASON) is left out;
 *   it must say why, and only a few may (they need a frontend, the network or long training);
 * - every name src/index.ts exports, and every member of its namespaces (data, plot, models, widgets,
 *   callbacks, comms), appears in code in docs/, so a new API cannot go undocumented;
 * - every relative link in README.md and docs/ points at a file that exists.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { dirname, join, resolve } from "path";
import * as ts from "typescript";
import { CLI, ROOT, runCommand } from "./kernel_helpers";

const DOCS = join(ROOT, "docs");
const pages = readdirSync(DOCS).filter((f) => f.endsWith(".md")).sort();
const work = realpathSync(mkdtempSync(join(tmpdir(), "lepton-docs-test-")));

export interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  /** What follows the language on the fence line, e.g. "no-run (needs a frontend)". */
  info: string;
  code: string;
}

/** The fenced code blocks of a Markdown text (fences may be indented, as in lists; the indent is removed). */
export function codeBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})\s*([\w+-]*)\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, lang, info] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[j]); j++) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j].trimStart());
    }
    if (j === lines.length) throw new Error(`line ${i + 1}: code block never closed`);
    blocks.push({ line: i + 1, lang: lang.toLowerCase(), info: info.trim(), code: body.join("\n") });
    i = j;
  }
  return blocks;
}

const isTs = (b: Block) => b.lang === "ts" || b.lang === "typescript";
const noRun = (b: Block) => /^no-run\b/.test(b.info);

/** Every cell starts from these, so a page's examples may assume them (each page also shows them once). */
const PRELUDE = 'import * as lepton from "lepton";\nimport * as tf from "@tensorflow/tfjs";\nawait lepton.ready();';

function notebookFor(page: string, blocks: Block[]): object {
  const cell = (source: string, meta: object) => ({ cell_type: "code", metadata: { lepton_docs: meta }, source, outputs: [], execution_count: null });
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "lepton", display_name: "Lepton (TypeScript)", language: "typescript" } },
    cells: [cell(PRELUDE, { page, prelude: true }), ...blocks.map((b) => cell(b.code, { page, line: b.line }))],
  };
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return t;
}

/**
 * ensureBuilt()'s check (dist/ older than src/ or kernel/), with the build run asynchronously: the
 * kernel and CLI the examples run on must be current, and a synchronous tsc under load blocks the
 * worker past vitest's 60 s RPC limit.
 */
async function buildIfStale(): Promise<void> {
  const outputs = [CLI, join(ROOT, "dist", "kernel", "launcher.js"), join(ROOT, "dist", "src", "index.js")];
  const stale = outputs.some((f) => !existsSync(f)) ||
    Math.max(...["src", "kernel"].map((d) => newestMtime(join(ROOT, d)))) > Math.min(...outputs.map((f) => statSync(f).mtimeMs));
  if (!stale) return;
  const res = await runCommand(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", ROOT], { timeoutMs: 600_000 });
  if (res.status !== 0) throw new Error(`npm run build failed:\n${res.stdout}${res.stderr}`);
}

const text = (v: unknown): string => (Array.isArray(v) ? v.join("") : String(v ?? ""));

describe("docs: the pages' TypeScript examples run", () => {
  beforeAll(buildIfStale, 600_000);

  it("finds the manual's pages and their examples, and every skipped example says why", () => {
    expect(pages).toEqual(expect.arrayContaining(["charts.md", "cli.md", "data.md", "kernel.md", "training.md"]));
    let runnable = 0;
    let skipped = 0;
    for (const page of pages) {
      for (const b of codeBlocks(readFileSync(join(DOCS, page), "utf8")).filter(isTs)) {
        if (!noRun(b)) {
          runnable++;
          continue;
        }
        skipped++;
        expect(b.info, `${page}:${b.line}: a no-run block says why in brackets, e.g. \`\`\`ts no-run (needs the network)`).toMatch(/^no-run \(.{8,}\)$/);
      }
    }
    expect(runnable).toBeGreaterThan(40);
    // "a few": most examples must really run.
    expect(skipped).toBeLessThan(runnable / 4);
    // The extractor itself: indented fences, info strings, other languages.
    const sample = "x\n- item\n  ```ts no-run (needs a browser)\n  const a = 1;\n    const b = 2;\n  ```\n```sh\nnpm test\n```\n";
    expect(codeBlocks(sample)).toEqual([
      { line: 3, lang: "ts", info: "no-run (needs a browser)", code: "const a = 1;\n  const b = 2;" },
      { line: 7, lang: "sh", info: "", code: "npm test" },
    ]);
  });

  // Pages run side by side, a few at a time: most of a page's time is its kernel starting and compiling.
  const slots = new Slots(3);
  for (const page of pages) {
    const blocks = codeBlocks(readFileSync(join(DOCS, page), "utf8")).filter((b) => isTs(b) && !noRun(b));
    if (blocks.length === 0) continue;
    it.concurrent(`docs/${page}: ${blocks.length} examples run in order on the Lepton kernel without an error`, async ({ expect }) => {
      const release = await slots.take();
      try {
        await runPage(page, blocks, expect);
      } finally {
        release();
      }
    }, 480_000);
  }
});

/** At most n holders at a time. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async take(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/** Run one page's examples as a notebook with `lepton run` and fail on any error output. */
async function runPage(page: string, blocks: Block[], expect: typeof import("vitest").expect): Promise<void> {
  const dir = join(work, page.replace(/\.md$/, ""));
  mkdirSync(dir, { recursive: true });
  const nbPath = join(dir, "examples.ipynb");
  writeFileSync(nbPath, JSON.stringify(notebookFor(page, blocks), null, 1));
  const env = {
    ...process.env,
    JUPYTER_DATA_DIR: join(work, "jupyter-data"),
    LEPTON_DATA_DIR: join(work, "data-dir"),
    LEPTON_CACHE_DIR: join(work, "cache"),
    LEPTON_PLOTLY: "none",
  };
  const res = await runCommand(process.execPath, [CLI, "run", nbPath, "--out", join(dir, "out"), "--timeout", "120", "--quiet", "--no-trust"], { env, timeoutMs: 240_000 });
  const outFile = join(dir, "out", "examples.ipynb");
  const problems: string[] = [];
  if (existsSync(outFile)) {
    const nb = JSON.parse(readFileSync(outFile, "utf8"));
    for (const cell of nb.cells) {
      const where = cell.metadata?.lepton_docs?.prelude ? `docs/${page} (prelude)` : `docs/${page}:${cell.metadata?.lepton_docs?.line}`;
      if (cell.execution_count === null) {
        problems.push(`${where}: did not run`);
        continue;
      }
      for (const out of cell.outputs) {
        if (out.output_type === "error") problems.push(`${where}: ${out.ename}: ${out.evalue}\n${text(out.traceback).slice(0, 1500)}`);
        if (out.output_type === "stream" && out.name === "stderr" && /\b(error|failed|exception)\b/i.test(text(out.text))) {
          problems.push(`${where}: stderr: ${text(out.text).slice(0, 800)}`);
        }
      }
    }
  } else problems.push(`no executed notebook was written`);
  expect(problems.join("\n\n") || (res.status === 0 ? "" : `lepton run exited ${res.status}:\n${res.stderr.slice(-3000)}`)).toBe("");
  expect(res.status).toBe(0);
}

/** Names a module exports (values and types), with the members of its namespace re-exports (`export * as x`). */
function exportedNames(file: string): { top: string[]; namespaces: Record<string, string[]> } {
  const program = ts.createProgram([file], { strict: true, module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true, skipLibCheck: true });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
  const top: string[] = [];
  const namespaces: Record<string, string[]> = {};
  for (const s of checker.getExportsOfModule(moduleSymbol)) {
    top.push(s.name);
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    if (target.flags & ts.SymbolFlags.ValueModule && target.valueDeclaration && ts.isSourceFile(target.valueDeclaration)) {
      namespaces[s.name] = checker.getExportsOfModule(target).map((m) => m.name);
    }
  }
  return { top, namespaces };
}

/** The code in a Markdown text: code blocks and `code spans`. */
function codeText(markdown: string): string {
  const blocks = codeBlocks(markdown).map((b) => b.code);
  const prose = markdown.split("\n").filter((l) => !/^\s*```/.test(l)).join("\n");
  const spans = [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
  return [...blocks, ...spans].join("\n");
}

describe("docs: every public name is documented", () => {
  const docsCode = pages.map((p) => codeText(readFileSync(join(DOCS, p), "utf8"))).join("\n");
  const inCode = (name: string) => new RegExp(`(^|[^\\w$])${name.replace(/\$/g, "\\$")}([^\\w$]|$)`).test(docsCode);

  it("every name exported from src/index.ts, and every member of lepton.data, plot, models, widgets, callbacks, appears in code in docs/", () => {
    const { top, namespaces } = exportedNames(join(ROOT, "src", "index.ts"));
    expect(top).toEqual(expect.arrayContaining(["train", "display", "data", "plot", "models", "widgets", "callbacks"]));
    for (const ns of ["data", "plot", "models", "widgets", "callbacks"]) expect(namespaces[ns]?.length, ns).toBeGreaterThan(3);
    const missing = [...top.filter((n) => !inCode(n)), ...Object.entries(namespaces).flatMap(([ns, names]) => names.filter((n) => !inCode(n)).map((n) => `${ns}.${n}`))];
    expect(missing, `documented nowhere in docs/ (name them in code in the page where they belong)`).toEqual([]);
    // lepton.comms is an object, not a module: its functions too.
    const commsSource = readFileSync(join(ROOT, "src", "display", "comms.ts"), "utf8");
    const commsMembers = /export const comms = Object\.freeze\(\{([^}]*)\}\)/.exec(commsSource)![1].split(",").map((s) => s.trim()).filter(Boolean);
    expect(commsMembers.length).toBeGreaterThan(3);
    expect(commsMembers.filter((n) => !new RegExp(`comms\\.${n}\\b`).test(docsCode)).map((n) => `comms.${n}`)).toEqual([]);
  });

  it("the check itself: a name that is not in docs is caught", () => {
    expect(inCode("train")).toBe(true);
    expect(inCode("noSuchLeptonApiAnywhere")).toBe(false);
    expect(inCode("rain")).toBe(false);
  });
});

describe("docs: links", () => {
  it("every relative link in README.md and docs/*.md points at a file that exists", () => {
    const files = [join(ROOT, "README.md"), ...pages.map((p) => join(DOCS, p)), join(ROOT, "bench", "NOTES.md")].filter(existsSync);
    const broken: string[] = [];
    for (const file of files) {
      const markdown = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
      for (const m of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1].split("#")[0];
        if (!target || /^[a-z]+:/i.test(target)) continue;
        if (!existsSync(resolve(dirname(file), target))) broken.push(`${file.slice(ROOT.length + 1)}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("the README keeps the two commands CI and a fresh clone use", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toContain("npm ci && npm start");
    expect(readme).toMatch(/^npm test\b/m);
    for (const page of ["kernel.md", "data.md", "training.md", "charts.md", "cli.md"]) expect(readme).toContain(`docs/${page}`);
  });
});
