/**
 * Headless notebook execution (what `lepton run` does): start a kernel in the notebook's folder, run
 * the code cells in order, store their outputs, write the executed notebook (nbformat 4.5, cell ids).
 * Stops at the first error. Parameters are injected the way papermill does it.
 */
import fs from "fs";
import path from "path";
import { randomBytes } from "crypto";
import { KernelClient, KernelDiedError, TimeoutError, type NotebookOutput } from "./client";
import { DEFAULT_KERNEL_NAME, DISPLAY_NAME } from "./spec";

export interface NotebookCell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  metadata: Record<string, any>;
  source: string | string[];
  outputs?: NotebookOutput[];
  execution_count?: number | null;
  attachments?: unknown;
}

export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, any>;
  nbformat: number;
  nbformat_minor: number;
}

export interface RunOptions {
  /** Folder for the executed notebook (default: beside the input, as NAME.executed.ipynb). */
  outDir?: string;
  /** Per-cell time limit in seconds (the cell is interrupted and the run fails). */
  timeoutS?: number;
  /** Values for the cell tagged `parameters`. */
  parameters?: Record<string, unknown>;
  /** Kernel command (default: the Lepton kernel). */
  kernelArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface CellFailure {
  index: number;
  source: string;
  ename: string;
  evalue: string;
  traceback: string[];
}

export interface RunResult {
  input: string;
  output: string;
  ok: boolean;
  failure?: CellFailure;
  notebook: Notebook;
  seconds: number;
}

export function cellSource(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source ?? "";
}

/** A problem found before any cell runs (a bad -p, a malformed notebook, an output folder that cannot be written). */
export class RunCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunCheckError";
  }
}

// Words that cannot be declared with let/const at a notebook's top level (ES reserved and strict-mode
// words, TypeScript's reserved type names), and globals a declaration would clash with.
const RESERVED = new Set(("break case catch class const continue debugger default delete do else enum export extends false " +
  "finally for function if import in instanceof new null return super switch this throw true try typeof var void while with " +
  "implements interface let package private protected public static yield await arguments eval " +
  "undefined NaN Infinity globalThis any boolean number string symbol never unknown object bigint").split(" "));

/** Why `name` cannot be a parameter name, or undefined when it can. */
export function badParameterName(name: string): string | undefined {
  if (name === "__proto__") return "__proto__ is not a variable name (it is an object's prototype)";
  if (!/^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u.test(name)) return "it must be a TypeScript identifier (letters, digits, _ and $, not starting with a digit)";
  if (RESERVED.has(name)) return `${name} is a reserved word in TypeScript`;
  return undefined;
}

/**
 * `key=value` → [key, value]. The value rule: valid JSON (a number, true/false/null, an array, an object,
 * a "quoted string") is that JSON value; anything else is the text itself, as a string. Refused: a value
 * that starts like JSON ([ { or ") but does not parse, a number JSON cannot hold (1e999, i.e. Infinity),
 * and a number JSON does not write (.5, 1., +1, 0x10, NaN, Infinity), which would otherwise become a string.
 */
export function parseParameter(arg: string): [string, unknown] {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new RunCheckError(`bad parameter ${JSON.stringify(arg)}: write -p name=value (e.g. -p epochs=3 -p name='"run 1"')`);
  const key = arg.slice(0, eq).trim();
  const why = badParameterName(key);
  if (why) throw new RunCheckError(`bad parameter name ${JSON.stringify(key)} in -p ${arg}: ${why}`);
  return [key, parseParameterValue(key, arg.slice(eq + 1))];
}

/** The value half of `-p name=value` (see parseParameter for the rule). */
export function parseParameterValue(key: string, text: string): unknown {
  const t = text.trim();
  let value: unknown;
  try {
    value = JSON.parse(t);
  } catch (err) {
    if (/^[[{"]/.test(t)) {
      throw new RunCheckError(`-p ${key}: ${JSON.stringify(text)} starts like JSON but is not valid JSON (${(err as Error).message}); ` +
        `fix it (e.g. -p ${key}='[64, 32]', -p ${key}='"text"'), or quote a string that starts with ${t[0]} as JSON: -p ${key}='${JSON.stringify(text)}'`);
    }
    if (t !== "" && (!Number.isNaN(Number(t)) || /^[+-]?(NaN|Infinity)$/.test(t))) {
      const n = Number(t);
      throw new RunCheckError(`-p ${key}: ${JSON.stringify(text)} is not a JSON number` +
        (Number.isFinite(n) ? ` (write it as ${JSON.stringify(n)})` : " (JSON has no NaN or Infinity)") +
        `; to pass it as text, quote it: -p ${key}='"${t}"'`);
    }
    return text;
  }
  const bad = nonFinite(value);
  if (bad !== undefined) {
    throw new RunCheckError(`-p ${key}: ${JSON.stringify(text)} has a number too large for a 64-bit float (${bad} becomes Infinity)` +
      `; use a finite number, or quote it to pass text: -p ${key}='"${t.replace(/"/g, '\\"')}"'`);
  }
  return value;
}

/** The first non-finite number in a parsed JSON value, as a path ("value", "value[2]", "value.lr"). */
function nonFinite(v: unknown, at = "the value"): string | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? undefined : at;
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      const bad = nonFinite(x, `${at}[${i}]`);
      if (bad) return bad;
    }
  } else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      const bad = nonFinite(x, `${at}.${k}`);
      if (bad) return bad;
    }
  }
  return undefined;
}

const tagsOf = (c: NotebookCell): string[] => (Array.isArray(c.metadata?.tags) ? c.metadata.tags : []);

/** The index of the code cell tagged `parameters` (papermill's convention: the first one), or -1. */
export function parametersCellIndex(nb: Notebook): number {
  return nb.cells.findIndex((c) => c.cell_type === "code" && tagsOf(c).includes("parameters"));
}

/** Source without comments (strings are left alone, roughly: a // inside a string on a line ends it). */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[^:\\])\/\/.*$/gm, "$1");
}

/** Names the parameters cell declares (`let|const|var NAME`, also `let a = 1, b = 2` on one line), with their kind. */
export function declaredParameters(source: string): Map<string, { kind: string; initializer?: string }> {
  const names = new Map<string, { kind: string; initializer?: string }>();
  const code = stripComments(source);
  for (const m of code.matchAll(/(?:^|[;\s])(let|const|var)\s+([^;\n]*)/g)) {
    // Split the declarator list at top-level commas.
    let depth = 0;
    let part = "";
    const parts: string[] = [];
    for (const ch of m[2]) {
      if ("([{".includes(ch)) depth++;
      else if (")]}".includes(ch)) depth--;
      if (ch === "," && depth === 0) {
        parts.push(part);
        part = "";
      } else part += ch;
    }
    parts.push(part);
    for (const p of parts) {
      const d = /^\s*([\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*)\s*(?::[^=]*)?(?:=\s*(.*?))?\s*$/u.exec(p);
      if (d && !names.has(d[1])) names.set(d[1], { kind: m[1], initializer: d[2] });
    }
  }
  return names;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** The declared name closest to `name`, when it is close enough to be a likely typo. */
export function nearestName(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const d = editDistance(name, n);
    if (d < bestD) [best, bestD] = [n, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

const kindOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/**
 * Every -p name must be declared in the notebook's `parameters` cell; a notebook without one takes no -p.
 * Returns warnings (a value of another kind than the cell's literal default, e.g. a string for a number).
 */
export function checkParameters(nb: Notebook, parameters: Record<string, unknown>, file: string): string[] {
  const keys = Object.keys(parameters);
  if (keys.length === 0) return [];
  for (const key of keys) {
    const why = badParameterName(key);
    if (why) throw new RunCheckError(`bad parameter name ${JSON.stringify(key)}: ${why}`);
  }
  const at = parametersCellIndex(nb);
  if (at < 0) {
    throw new RunCheckError(`${file} has no cell tagged "parameters", so -p ${keys.join(", ")} cannot be applied. ` +
      `Tag the code cell that sets the defaults "parameters" (JupyterLab: select the cell, open the property inspector, ` +
      `add the tag; or add "tags": ["parameters"] to the cell's metadata), or run without -p.`);
  }
  const declared = declaredParameters(cellSource(nb.cells[at]));
  const names = [...declared.keys()];
  const warnings: string[] = [];
  for (const key of keys) {
    const d = declared.get(key);
    if (!d) {
      const near = nearestName(key, names);
      throw new RunCheckError(`-p ${key}: the parameters cell of ${file} (cell ${at + 1}) declares no ${key}` +
        (near ? `; did you mean ${near}?` : "") +
        ` It declares: ${names.length ? names.join(", ") : "nothing (no let/const/var)"}.`);
    }
    let initial: unknown;
    try {
      initial = d.initializer === undefined ? undefined : JSON.parse(d.initializer);
    } catch {
      continue; // not a JSON literal (an expression, a single-quoted string): nothing to compare with
    }
    const given = parameters[key];
    if (initial !== undefined && initial !== null && given !== null && kindOf(initial) !== kindOf(given)) {
      warnings.push(`-p ${key}: the parameters cell sets a ${kindOf(initial)} (${d.initializer}), and ${JSON.stringify(given)} is a ${kindOf(given)}`);
    }
  }
  return warnings;
}

/** Throws a RunCheckError naming the cell and what to fix when `nb` is not an nbformat 4 notebook this can run. */
export function checkNotebookShape(nb: unknown, file: string): asserts nb is Notebook {
  const fail = (what: string) => {
    throw new RunCheckError(`${file} is not a well-formed notebook: ${what}`);
  };
  if (!nb || typeof nb !== "object" || Array.isArray(nb)) fail(`the file holds ${kindOf(nb)} JSON, not a notebook object ({"cells": [...], "nbformat": 4, ...})`);
  const n = nb as Record<string, unknown>;
  if (n.nbformat !== 4) {
    fail(n.nbformat === undefined
      ? `no "nbformat" field: only nbformat 4 notebooks can be run (add "nbformat": 4, "nbformat_minor": 4, or save it from Jupyter)`
      : `nbformat ${JSON.stringify(n.nbformat)} is not supported: only nbformat 4 notebooks can be run (open and save it in a current Jupyter to convert it)`);
  }
  if (!Array.isArray(n.cells)) fail(`"cells" is ${n.cells === undefined ? "missing" : `${kindOf(n.cells)}, not a list`}: a notebook needs "cells": [...]`);
  if (n.metadata !== undefined && (!n.metadata || typeof n.metadata !== "object" || Array.isArray(n.metadata))) fail(`"metadata" is ${kindOf(n.metadata)}, not an object`);
  if (n.nbformat_minor !== undefined && !Number.isInteger(n.nbformat_minor)) fail(`"nbformat_minor" is ${JSON.stringify(n.nbformat_minor)}, not an integer`);
  for (const [i, c] of (n.cells as unknown[]).entries()) {
    const where = `cell ${i + 1} (cells[${i}])`;
    if (!c || typeof c !== "object" || Array.isArray(c)) fail(`${where} is ${kindOf(c)}: each cell must be an object with "cell_type" and "source"; remove it or fix it`);
    const cell = c as Record<string, unknown>;
    if (!["code", "markdown", "raw"].includes(cell.cell_type as string)) {
      fail(`${where} has ${cell.cell_type === undefined ? "no cell_type" : `cell_type ${JSON.stringify(cell.cell_type)}`}: it must be "code", "markdown" or "raw"`);
    }
    const src = cell.source;
    if (!(typeof src === "string" || (Array.isArray(src) && src.every((l) => typeof l === "string")))) {
      fail(`${where} (${cell.cell_type}): "source" is ${src === undefined ? "missing" : Array.isArray(src) ? "a list with a non-string item" : `${kindOf(src)} (${JSON.stringify(src)})`}: ` +
        `it must be a string or a list of strings (lines)`);
    }
    if (cell.metadata !== undefined && (!cell.metadata || typeof cell.metadata !== "object" || Array.isArray(cell.metadata))) fail(`${where}: "metadata" is ${kindOf(cell.metadata)}, not an object`);
    const tags = (cell.metadata as any)?.tags;
    if (tags !== undefined && !(Array.isArray(tags) && tags.every((t) => typeof t === "string"))) fail(`${where}: metadata "tags" must be a list of strings`);
  }
}

function newCellId(): string {
  return randomBytes(4).toString("hex");
}

/** Give every cell an id and mark the notebook nbformat 4.5. */
export function upgradeToV45(nb: Notebook): Notebook {
  if (nb.nbformat !== 4) throw new RunCheckError(`nbformat ${nb.nbformat} is not supported: only nbformat 4 notebooks can be run`);
  nb.metadata ??= {};
  const seen = new Set<string>();
  for (const cell of nb.cells) {
    cell.metadata ??= {};
    if (typeof cell.id !== "string" || seen.has(cell.id) || !/^[a-zA-Z0-9-_]{1,64}$/.test(cell.id)) cell.id = newCellId();
    seen.add(cell.id);
  }
  nb.nbformat_minor = Math.max(nb.nbformat_minor ?? 0, 5);
  return nb;
}

/**
 * papermill's rule: a new code cell tagged `injected-parameters` right after the cell tagged
 * `parameters` (or first, when none is tagged: runNotebook refuses that case, see checkParameters),
 * declaring each value again (same let/const as the parameters cell, `let` by default). Replaces an
 * earlier injected cell.
 */
export function injectParameters(nb: Notebook, parameters: Record<string, unknown>): Notebook {
  const keys = Object.keys(parameters);
  if (keys.length === 0) return nb;
  nb.cells = nb.cells.filter((c) => !tagsOf(c).includes("injected-parameters"));
  const at = parametersCellIndex(nb);
  const declared = declaredParameters(at >= 0 ? cellSource(nb.cells[at]) : "");
  const lines = ["// Parameters (injected by lepton run)"];
  for (const key of keys) lines.push(`${declared.get(key)?.kind ?? "let"} ${key} = ${JSON.stringify(parameters[key])};`);
  const cell: NotebookCell = {
    cell_type: "code",
    id: newCellId(),
    metadata: { tags: ["injected-parameters"] },
    source: lines.join("\n"),
    outputs: [],
    execution_count: null,
  };
  nb.cells.splice(at + 1, 0, cell);
  return nb;
}

/** Read and check a notebook file (RunCheckError: unreadable, not JSON, not nbformat 4's shape). */
export function readNotebook(file: string): Notebook {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RunCheckError(e.code === "ENOENT" ? `${file}: no such notebook` : `cannot read notebook ${file}: ${e.message}`);
  }
  let nb: unknown;
  try {
    nb = JSON.parse(text);
  } catch (err) {
    throw new RunCheckError(`${file} is not a notebook: it is not valid JSON (${(err as Error).message})`);
  }
  checkNotebookShape(nb, file);
  return nb;
}

/**
 * Make sure the executed notebook can be written to `output` before any cell runs: create its folder,
 * write and remove a probe file there, and refuse an existing `output` that is not a file.
 */
export function checkOutputWritable(output: string): void {
  const dir = path.dirname(output);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ENOTDIR" || e.code === "EEXIST" ? "a file is in the way (a part of that path is not a folder)"
      : e.code === "EACCES" || e.code === "EPERM" ? "permission denied" : e.message;
    throw new RunCheckError(`cannot create the output folder ${dir}: ${why}; choose another --out`);
  }
  if (!fs.statSync(dir).isDirectory()) throw new RunCheckError(`the output folder ${dir} is not a folder; choose another --out`);
  const probe = path.join(dir, `.lepton-write-test-${process.pid}-${randomBytes(3).toString("hex")}`);
  try {
    fs.writeFileSync(probe, "");
    fs.unlinkSync(probe);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "EACCES" || e.code === "EPERM" || e.code === "EROFS" ? (e.code === "EROFS" ? "the file system is read-only" : "permission denied") : e.message;
    throw new RunCheckError(`cannot write to the output folder ${dir}: ${why}; choose another --out (or fix its permissions)`);
  }
  if (fs.existsSync(output) && !fs.statSync(output).isFile()) throw new RunCheckError(`${output} exists and is not a file, so the executed notebook cannot be written there`);
}

/** Write `nb` to `file` atomically (a temporary file beside it, then a rename): a reader or a crash never sees half a notebook. */
export function writeNotebookAtomic(file: string, nb: Notebook): void {
  writeJsonAtomic(file, nb);
}

/** JSON to `file` through a temporary file beside it and a rename. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, JSON.stringify(value, null, 1) + "\n");
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** A notebook checked and ready to run: every check that can be made before a cell runs has passed. */
export interface PreparedRun {
  input: string;
  output: string;
  notebook: Notebook;
  /** Not fatal: e.g. a -p value of another kind than the parameters cell's default. */
  warnings: string[];
}

/**
 * All checks that need no kernel, in the order a user would fix them: the notebook (readable, JSON,
 * nbformat 4's shape), the parameters (valid names, each declared in the cell tagged `parameters`),
 * the output folder (created, writable). Throws RunCheckError.
 */
export function prepareRun(input: string, options: Pick<RunOptions, "outDir" | "parameters"> = {}): PreparedRun {
  const nb = upgradeToV45(readNotebook(input));
  const parameters = options.parameters ?? {};
  const warnings = checkParameters(nb, parameters, input);
  injectParameters(nb, parameters);
  const output = outputPath(input, options.outDir);
  checkOutputWritable(output);
  return { input, output, notebook: nb, warnings };
}

/** Where `lepton run` writes the executed copy of `input`. */
export function outputPath(input: string, outDir?: string): string {
  const base = path.basename(input, ".ipynb");
  return outDir ? path.join(path.resolve(outDir), `${base}.ipynb`) : path.join(path.dirname(path.resolve(input)), `${base}.executed.ipynb`);
}

function splitLines(text: string): string[] {
  const lines = text.split("\n").map((l, i, a) => (i < a.length - 1 ? l + "\n" : l));
  return lines[lines.length - 1] === "" ? lines.slice(0, -1) : lines;
}

/** Outputs as nbformat stores them: multi-line strings as lists of lines, no transient fields. */
function storedOutput(out: NotebookOutput): any {
  const text = (v: unknown) => (typeof v === "string" ? splitLines(v) : v);
  switch (out.output_type) {
    case "stream":
      return { output_type: "stream", name: out.name, text: text(out.text) };
    case "display_data":
    case "execute_result": {
      const data: Record<string, unknown> = {};
      for (const [mime, v] of Object.entries(out.data)) data[mime] = typeof v === "string" && !/json$/.test(mime) ? text(v) : v;
      return out.output_type === "execute_result"
        ? { output_type: "execute_result", execution_count: out.execution_count, data, metadata: out.metadata ?? {} }
        : { output_type: "display_data", data, metadata: out.metadata ?? {} };
    }
    case "error":
      return { output_type: "error", ename: out.ename, evalue: out.evalue, traceback: out.traceback };
  }
}

/** The `error` output for a cell during which (or before which) the kernel died. */
export function kernelDiedOutput(err: KernelDiedError): { ename: string; evalue: string; traceback: string[] } {
  const when = err.stage === "before" ? "before this cell could run" : "while this cell was running";
  const evalue = `The kernel ${err.how} ${when}: its variables are lost and the cells after this one were not run.` +
    (err.hints.length ? ` ${err.hints.map((h) => h[0].toUpperCase() + h.slice(1)).join(". ")}.` : "") +
    ` Fix the cause${err.output.length ? " (see the kernel's last output)" : ""} and run the notebook again.`;
  const traceback = err.output.length ? ["The kernel's last output (stdout and stderr):", ...err.output.map((l) => `  ${l}`)] : ["(the kernel printed nothing)"];
  return { ename: "KernelDied", evalue, traceback };
}

/**
 * Run one notebook; never throws for a failing cell (see RunResult.failure), nor when the kernel dies
 * during a cell (that cell gets a `KernelDied` error output and the notebook is written up to it);
 * throws a RunCheckError before starting the kernel when a check fails (see prepareRun; pass a
 * PreparedRun to skip them), and throws if the kernel cannot start. The executed notebook is written
 * (atomically) when the kernel is ready and after every cell.
 */
export async function runNotebook(input: string | PreparedRun, options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const prepared = typeof input === "string" ? prepareRun(input, options) : input;
  const { output, notebook: nb } = prepared;
  input = prepared.input;
  const kernel = await KernelClient.start({
    argv: options.kernelArgv,
    cwd: path.dirname(path.resolve(input)),
    env: options.env,
  });
  let failure: CellFailure | undefined;
  try {
    const info = await kernel.request("kernel_info_request", {});
    nb.metadata.kernelspec = { name: DEFAULT_KERNEL_NAME, display_name: DISPLAY_NAME, language: "typescript", ...(nb.metadata.kernelspec ?? {}) };
    nb.metadata.language_info = info.content.language_info;
    for (const cell of nb.cells) {
      if (cell.cell_type !== "code") continue;
      cell.outputs = [];
      cell.execution_count = null;
    }
    writeNotebookAtomic(output, nb);
    const codeCells = nb.cells.filter((c) => c.cell_type === "code");
    for (const [index, cell] of nb.cells.entries()) {
      if (cell.cell_type !== "code") continue;
      const source = cellSource(cell);
      if (!source.trim()) continue;
      log(`[${codeCells.indexOf(cell) + 1}/${codeCells.length}] ${source.split("\n")[0].slice(0, 70)}`);
      let outputs: NotebookOutput[] = [];
      let error: Omit<CellFailure, "index" | "source"> | undefined;
      try {
        const exec = await kernel.execute(source, { timeoutMs: options.timeoutS ? options.timeoutS * 1000 : undefined, cellId: typeof cell.id === "string" ? cell.id : undefined });
        outputs = exec.outputs;
        cell.execution_count = exec.reply.content.execution_count ?? null;
        if (exec.reply.content.status !== "ok") {
          const c = exec.reply.content;
          error = { ename: c.ename ?? "Error", evalue: c.evalue ?? `execute_reply status ${c.status}`, traceback: c.traceback ?? [] };
        }
      } catch (err) {
        if (err instanceof TimeoutError) {
          error = { ename: "TimeoutError", evalue: `${err.message}`, traceback: [] };
        } else if (err instanceof KernelDiedError) {
          error = kernelDiedOutput(err);
        } else {
          // Anything else (the client closed, a socket error): still keep what ran.
          const e = err as Error;
          error = { ename: e?.name || "Error", evalue: `lepton run could not finish this cell: ${e?.message ?? e}`, traceback: [] };
        }
        outputs = err instanceof TimeoutError || err instanceof KernelDiedError ? [...err.outputs] : [];
        outputs.push({ output_type: "error", ...error });
      }
      // Displays updated later (live charts) were updated in place in the objects kept here.
      cell.outputs = outputs.map(storedOutput);
      // Saved as each cell finishes: a crash, a kill or a power cut keeps what ran.
      writeNotebookAtomic(output, nb);
      if (error) {
        failure = { index, source, ...error };
        break;
      }
    }
  } finally {
    await kernel.shutdown();
  }
  writeNotebookAtomic(output, nb);
  return { input, output, ok: !failure, failure, notebook: nb, seconds: (Date.now() - started) / 1000 };
}
