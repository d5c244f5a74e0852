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

/** `key=value` → [key, value]; the value is parsed as JSON when it is JSON, else kept as a string. */
export function parseParameter(arg: string): [string, unknown] {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new Error(`bad parameter ${JSON.stringify(arg)}: write -p name=value (e.g. -p epochs=3 -p name='"run 1"')`);
  const key = arg.slice(0, eq).trim();
  if (!/^[A-Za-z_$][\w$]*$/.test(key)) throw new Error(`bad parameter name ${JSON.stringify(key)}: it must be a TypeScript identifier`);
  const text = arg.slice(eq + 1);
  try {
    return [key, JSON.parse(text)];
  } catch {
    return [key, text];
  }
}

function newCellId(): string {
  return randomBytes(4).toString("hex");
}

/** Give every cell an id and mark the notebook nbformat 4.5. */
export function upgradeToV45(nb: Notebook): Notebook {
  if (nb.nbformat !== 4) throw new Error(`nbformat ${nb.nbformat} is not supported: only nbformat 4 notebooks can be run`);
  const seen = new Set<string>();
  for (const cell of nb.cells) {
    if (!cell.id || seen.has(cell.id) || !/^[a-zA-Z0-9-_]{1,64}$/.test(cell.id)) cell.id = newCellId();
    seen.add(cell.id);
  }
  nb.nbformat_minor = Math.max(nb.nbformat_minor ?? 0, 5);
  return nb;
}

/**
 * papermill's rule: a new code cell tagged `injected-parameters` right after the cell tagged
 * `parameters` (or first, when none is tagged), declaring each value again (same let/const as the
 * parameters cell, `let` by default). Replaces an earlier injected cell.
 */
export function injectParameters(nb: Notebook, parameters: Record<string, unknown>): Notebook {
  const keys = Object.keys(parameters);
  if (keys.length === 0) return nb;
  nb.cells = nb.cells.filter((c) => !(c.metadata?.tags ?? []).includes("injected-parameters"));
  const at = nb.cells.findIndex((c) => c.cell_type === "code" && (c.metadata?.tags ?? []).includes("parameters"));
  const declared = at >= 0 ? cellSource(nb.cells[at]) : "";
  const lines = ["// Parameters (injected by lepton run)"];
  for (const key of keys) {
    const m = new RegExp(`\\b(let|const|var)\\s+${key.replace(/\$/g, "\\$")}\\b`).exec(declared);
    lines.push(`${m ? m[1] : "let"} ${key} = ${JSON.stringify(parameters[key])};`);
  }
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

export function readNotebook(file: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`cannot read notebook ${file}: ${(err as Error).message}`);
  }
  if (!nb || !Array.isArray(nb.cells)) throw new Error(`${file} is not a Jupyter notebook (no "cells" list)`);
  return nb;
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
 * throws if the kernel cannot start.
 */
export async function runNotebook(input: string, options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const nb = upgradeToV45(readNotebook(input));
  if (options.parameters) injectParameters(nb, options.parameters);
  const output = outputPath(input, options.outDir);
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
      if (error) {
        failure = { index, source, ...error };
        break;
      }
    }
  } finally {
    await kernel.shutdown();
  }
  fs.mkdirSync(path.dirname(output), { recursive: true });
  fs.writeFileSync(output, JSON.stringify(nb, null, 1) + "\n");
  return { input, output, ok: !failure, failure, notebook: nb, seconds: (Date.now() - started) / 1000 };
}
