/**
 * The cells of this kernel session, and the answer to Jupyter's `history_request` (messaging spec 5.3),
 * shaped the way ipykernel answers it: `{ status: "ok", history: [[session, line, input], ...] }`, or with
 * `output: true`, `[session, line, [input, output]]` where output is the cell's text/plain result or null.
 *
 * ipykernel keeps history in IPython's SQLite database across sessions; the Lepton kernel keeps only the
 * current session, in memory, numbered `session` (1 unless told otherwise). What differs from ipykernel
 * on purpose:
 * - rows always carry the real session number (ipykernel's "range" over the current session answers
 *   session 0, so the session a "tail" reply names cannot be asked back for by "range" and then matched);
 * - "range" never answers IPython's empty line 0;
 * - "tail" without `n` answers the last 10 (ipykernel fails: SQLite refuses `LIMIT NULL`);
 * - `raw` is accepted and ignored: a cell's raw and transformed input are the same text here.
 */

/** One history row: `[session, line, input]`, or `[session, line, [input, output]]` with `output`. */
export type HistoryEntry = [number, number, string] | [number, number, [string, string | null]];

/** The content of a `history_request` (every field optional here; wrong types fall back to defaults). */
export interface HistoryRequest {
  hist_access_type?: "tail" | "range" | "search" | string;
  output?: boolean;
  raw?: boolean;
  session?: number;
  start?: number;
  stop?: number | null;
  n?: number | null;
  pattern?: string;
  unique?: boolean;
}

export interface HistoryReply {
  status: "ok";
  history: HistoryEntry[];
}

interface Cell {
  line: number;
  input: string;
  output: string | null;
}

/** How many rows "tail" answers when the request has no `n` (IPython's get_tail default). */
export const DEFAULT_TAIL = 10;

/**
 * SQLite GLOB (what IPython's history search uses) as a RegExp over the whole text: `*` any run of
 * characters (newlines too), `?` one character, `[abc]` / `[a-z]` / `[^abc]` a set; case-sensitive;
 * everything else literal. A `[` with no closing `]` is literal.
 */
export function globToRegExp(pattern: string): RegExp {
  const chars = Array.from(pattern);
  let out = "";
  const esc = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  const escInSet = (c: string) => c.replace(/[\\\]^[-]/g, "\\$&");
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "*") out += "[\\s\\S]*";
    else if (c === "?") out += "[\\s\\S]";
    else if (c === "[") {
      let j = i + 1;
      let negate = false;
      if (chars[j] === "^") {
        negate = true;
        j++;
      }
      const setStart = j;
      if (chars[j] === "]") j++; // a "]" first in the set is a member
      while (j < chars.length && chars[j] !== "]") j++;
      if (j >= chars.length) {
        out += esc(c);
        continue;
      }
      let set = "";
      for (let k = setStart; k < j; k++) {
        if (chars[k] === "-" && k > setStart && k + 1 < j) set += "-";
        else set += escInSet(chars[k]);
      }
      out += `[${negate ? "^" : ""}${set}]`;
      i = j;
    } else out += esc(c);
  }
  try {
    return new RegExp(`^${out}$`, "u");
  } catch {
    return /(?!)/; // a set like [z-a] that SQLite matches nothing with
  }
}

function intOr(value: unknown, fallback: number | undefined): number | undefined {
  if (value === null || value === undefined || value === "") return fallback;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? Math.trunc(n) : fallback;
}

/** The cells of one kernel session, for `history_request`. */
export class CellHistory {
  /** This session's number, as the rows name it. */
  readonly session: number;
  private readonly cells: Cell[] = [];
  private readonly byLine = new Map<number, Cell>();

  constructor(options: { session?: number } = {}) {
    this.session = options.session ?? 1;
  }

  /** How many cells are recorded. */
  get size(): number {
    return this.cells.length;
  }

  /**
   * Record a cell as it starts (as IPython does, so a cell that fails is in the history too): its
   * execution count is its line. Call it for cells run with `store_history` (those that take an execution
   * count), not for silent ones. Trailing newlines are dropped, like IPython. Recording a line again
   * replaces that cell (and forgets its output).
   */
  record(executionCount: number, code: string, output?: string | null): void {
    const input = String(code).replace(/\n+$/, "");
    const existing = this.byLine.get(executionCount);
    if (existing) {
      existing.input = input;
      existing.output = output ?? null;
      return;
    }
    const cell: Cell = { line: executionCount, input, output: output ?? null };
    this.byLine.set(executionCount, cell);
    // Lines normally arrive in order; keep the list sorted if they do not.
    let i = this.cells.length;
    while (i > 0 && this.cells[i - 1].line > executionCount) i--;
    this.cells.splice(i, 0, cell);
  }

  /**
   * The text/plain form of a cell's result (its `execute_result`), as IPython keeps `Out[n]`'s repr;
   * answered with `output: true`. Ignored for a line that was never recorded.
   */
  recordOutput(executionCount: number, output: string): void {
    const cell = this.byLine.get(executionCount);
    if (cell) cell.output = output;
  }

  /** The last `n` cells, oldest first (all of them when n is negative, as SQLite's `LIMIT -1`). */
  tail(n: number = DEFAULT_TAIL, output = false): HistoryEntry[] {
    const rows = n < 0 ? this.cells : n === 0 ? [] : this.cells.slice(-n);
    return rows.map((c) => this.row(c, output));
  }

  /**
   * Lines `start` (inclusive) to `stop` (exclusive) of a session: 0 is this session, negative counts back
   * (earlier sessions are not kept, so they answer nothing). A negative start or stop counts back from the
   * line after the last; a missing or 0 stop means to the end (IPython's rules).
   */
  range(session = 0, start = 1, stop: number | null = null, output = false): HistoryEntry[] {
    const wanted = session <= 0 ? session + this.session : session;
    if (wanted !== this.session) return [];
    const next = (this.cells.length ? this.cells[this.cells.length - 1].line : 0) + 1;
    let from = start < 0 ? start + next : start;
    let to = !stop || stop > next ? next : stop < 0 ? stop + next : stop;
    from = Math.max(from, 1);
    return this.cells.filter((c) => c.line >= from && c.line < to).map((c) => this.row(c, output));
  }

  /**
   * The cells whose input matches the glob `pattern` (see globToRegExp), oldest first. `unique`: each
   * distinct input once, at its latest line. `n`: only the last n matches.
   */
  search(pattern = "*", options: { n?: number | null; unique?: boolean; output?: boolean } = {}): HistoryEntry[] {
    const re = globToRegExp(pattern);
    let rows = this.cells.filter((c) => re.test(c.input));
    if (options.unique) {
      const latest = new Map<string, Cell>();
      for (const c of rows) latest.set(c.input, c);
      const keep = new Set(latest.values());
      rows = rows.filter((c) => keep.has(c));
    }
    const n = options.n;
    if (n !== null && n !== undefined) rows = n < 0 ? rows : n === 0 ? [] : rows.slice(-n);
    return rows.map((c) => this.row(c, !!options.output));
  }

  /** The `history_reply` content for a `history_request`'s content. An unknown access type answers no rows. */
  reply(content: HistoryRequest | Record<string, unknown> | undefined | null): HistoryReply {
    const c = (content ?? {}) as Record<string, unknown>;
    const output = c.output === true || c.output === "true";
    let history: HistoryEntry[] = [];
    switch (c.hist_access_type) {
      case "tail":
        history = this.tail(intOr(c.n, DEFAULT_TAIL), output);
        break;
      case "range":
        history = this.range(intOr(c.session, 0), intOr(c.start, 0), intOr(c.stop, undefined) ?? null, output);
        break;
      case "search":
        history = this.search(typeof c.pattern === "string" ? c.pattern : "*", {
          n: intOr(c.n, undefined) ?? null,
          unique: c.unique === true || c.unique === "true",
          output,
        });
        break;
    }
    return { status: "ok", history };
  }

  private row(c: Cell, output: boolean): HistoryEntry {
    return output ? [this.session, c.line, [c.input, c.output]] : [this.session, c.line, c.input];
  }
}
