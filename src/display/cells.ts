/**
 * Which notebook cell is running, as far as the kernel can tell.
 *
 * A frontend clears a cell's outputs when it runs the cell again. Outputs that must stay in the saved
 * notebook once (plotly.js, see ./plot/library) need to know when the cell that carried them ran
 * again. The kernel reports each cell it starts; a cell is known by the `cellId` that JupyterLab and
 * VS Code send in the request's metadata, or else (classic Notebook, nbclient) by its source text.
 * Kept on globalThis so that every loaded copy of lepton sees the same log.
 */
import { createHash } from "crypto";

/** One run of a cell: its identity and the kernel's running count of cell starts. */
export interface CellRun {
  /** "id:<cellId>" when the frontend sent one, else "code:<sha1 of the source>". */
  key: string;
  /** 1 for the first cell the kernel ran, 2 for the next, ... */
  seq: number;
}

interface CellLog {
  seq: number;
  current?: CellRun;
  lastRun: Map<string, number>;
}

const LOG_KEY = Symbol.for("lepton.cellLog");

function log(): CellLog {
  const g = globalThis as any;
  if (!g[LOG_KEY]) g[LOG_KEY] = { seq: 0, lastRun: new Map() } satisfies CellLog;
  return g[LOG_KEY] as CellLog;
}

/** The identity a cell is known by. */
export function cellKey(cell: { cellId?: string; code: string }): string {
  if (cell.cellId) return `id:${cell.cellId}`;
  return `code:${createHash("sha1").update(cell.code).digest("hex")}`;
}

/** Called by the kernel when it starts running a (non-silent) cell. */
export function noteCellStarted(cell: { cellId?: string; code: string }): CellRun {
  const l = log();
  const run = { key: cellKey(cell), seq: ++l.seq };
  l.current = run;
  l.lastRun.set(run.key, run.seq);
  return run;
}

/** The cell running now (or last run), if a kernel reported one. */
export function currentCell(): CellRun | undefined {
  return log().current;
}

/** True when the cell of `run` has been run again since (so the frontend cleared what it showed then). */
export function ranAgainSince(run: CellRun): boolean {
  return (log().lastRun.get(run.key) ?? run.seq) > run.seq;
}

/** Forget every cell, as a fresh kernel process would. For tests. */
export function resetCellLog(): void {
  (globalThis as any)[LOG_KEY] = undefined;
}

const PENDING_KEY = Symbol.for("lepton.beforeCellEnds");

function pending(): Set<() => void> {
  const g = globalThis as any;
  if (!g[PENDING_KEY]) g[PENDING_KEY] = new Set<() => void>();
  return g[PENDING_KEY] as Set<() => void>;
}

/**
 * Ask the kernel to call `flush` before it replies to the running cell: a display that holds back an
 * update (a live chart's rate limit) sends its final state inside the cell, so a frontend that stops
 * listening at the reply (nbclient, `lepton run`, an output area whose cell has finished) still gets
 * it. Registering the same function twice calls it once. Outside a kernel nothing calls it; the
 * display's own timer sends the update.
 */
export function beforeCellEnds(flush: () => void): void {
  pending().add(flush);
}

/** Withdraw a `beforeCellEnds` registration (the display sent its update by itself). */
export function cancelBeforeCellEnds(flush: () => void): void {
  pending().delete(flush);
}

/** Called by the kernel when a cell's code has finished, before its result and reply: runs every pending flush once. */
export function runBeforeCellEnds(): void {
  const due = [...pending()];
  pending().clear();
  for (const flush of due) {
    try {
      flush();
    } catch (err) {
      process.stderr.write(`lepton: a display could not send its final state: ${(err as Error)?.message ?? err}\n`);
    }
  }
}
