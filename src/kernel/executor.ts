/**
 * Runs notebook cells: tslab's converter (TypeScript 5.0.4 type check + transpile) and executor, with
 * the cell's last value, type errors and runtime errors captured as data instead of printed.
 *
 * Interrupt: each cell runs inside an AsyncLocalStorage context. An interrupt raises lepton's flag
 * (`interruptRequested()`), which lepton's own loops check between steps to return normally. If the
 * cell is still running `cooperativeMs` later, the cell's timers refuse to start (setTimeout /
 * setImmediate throw InterruptedError inside the cell, its setInterval callbacks stop), so a plain loop
 * that awaits a timer between steps ends at its next await. A cell that has not stopped after `graceMs`
 * is abandoned: its execution is reported as interrupted and the kernel moves on (code it started may
 * still finish in the background; its output still goes to its cell).
 * Synchronous loops stop on SIGINT (the kernel spec uses interrupt_mode "signal"; tslab runs cells
 * with vm's breakOnSigint).
 */
import { convertExpandingShorthand } from "./shorthand";
import { AsyncLocalStorage } from "async_hooks";
import { format } from "util";
import { InterruptedError, clearInterrupt, requestInterrupt } from "../runtime/interrupt";

/** What a cell produced. */
export type CellOutcome =
  | { ok: true; hasValue: boolean; value?: unknown }
  | { ok: false; ename: string; evalue: string; traceback: string[] };

/** The per-cell context carried through the cell's async continuations. */
export interface CellContext {
  /** The Jupyter header of the execute_request (outputs are sent with it as parent). */
  parent: unknown;
  interrupted: boolean;
  running: boolean;
  /** When set (ms since epoch), timers started by this cell from then on throw InterruptedError. */
  stopTimersFrom?: number;
}

export const cellStorage = new AsyncLocalStorage<CellContext>();

interface TslabExecutor {
  execute(src: string): Promise<boolean>;
  inspect(src: string, position: number): any;
  complete(src: string, position: number): { start: number; end: number; candidates: string[] };
  interrupt(): void;
  close(): void;
  locals: Record<string, unknown>;
}

export interface CellExecutorOptions {
  /** Folder modules are resolved from (the notebook's folder); default process.cwd(). */
  rootDir?: string;
  /** How long lepton's cooperative loops get to return normally before the cell's timers fail. */
  cooperativeMs?: number;
  /** How long an interrupted cell may take to stop before it is abandoned. */
  graceMs?: number;
}

export class CellExecutor {
  private readonly executor: TslabExecutor;
  private captured: { value?: unknown; hasValue: boolean; errors: unknown[][] } = { hasValue: false, errors: [] };
  private current: CellContext | undefined;
  private abandonTimer: NodeJS.Timeout | undefined;
  private readonly graceMs: number;
  private readonly cooperativeMs: number;
  /** The declarations of earlier cells, as tslab passes them to the converter (tracked to precompile). */
  private prevDecl = "";
  private precompiled: { prevDecl: string; src: string; result: any } | undefined;
  private lastConverted: any;
  private convs: { node: any } | undefined;

  constructor(options: CellExecutorOptions = {}) {
    this.cooperativeMs = options.cooperativeMs ?? 500;
    this.graceMs = Math.max(options.graceMs ?? 2000, this.cooperativeMs);
    const { createConverter } = require("tslab/dist/converter");
    const { createExecutor } = require("tslab/dist/executor");
    let node: unknown;
    let browser: unknown;
    const self = this;
    const convs = {
      get node() {
        return (node ??= self.precompiling(createConverter({ isJS: false, isBrowser: false })));
      },
      get browser() {
        return (browser ??= createConverter({ isJS: false, isBrowser: true }));
      },
      close() {
        (node as any)?.close();
        (browser as any)?.close();
      },
    };
    this.convs = convs;
    void convs.node; // build the compiler program now, not on the first cell
    const sink = {
      log: (value: unknown) => {
        this.captured.value = value;
        this.captured.hasValue = true;
      },
      error: (...args: unknown[]) => {
        this.captured.errors.push(args);
      },
    };
    this.executor = createExecutor(options.rootDir ?? process.cwd(), convs, sink);
    installTimerGuards();
  }

  /**
   * Wrap tslab's converter so that a cell compiled ahead (see `run`) is not compiled again, and so
   * that we know the declarations tslab carries from cell to cell.
   */
  private precompiling(converter: any): any {
    const convert = converter.convert.bind(converter);
    converter.convert = (prevDecl: string, src: string) => {
      const ahead = this.precompiled;
      this.precompiled = undefined;
      const result = ahead && ahead.prevDecl === prevDecl && ahead.src === src ? ahead.result : convertExpandingShorthand(convert, prevDecl, src);
      this.prevDecl = prevDecl;
      this.lastConverted = result;
      return result;
    };
    return converter;
  }

  /** Run one cell in `context`. Never throws: errors come back as an outcome. */
  async run(code: string, context: CellContext): Promise<CellOutcome> {
    clearInterrupt();
    this.captured = { hasValue: false, errors: [] };
    this.current = context;
    context.running = true;
    let ok: boolean;
    try {
      // Compile first, then yield to the event loop before running: a SIGINT that arrived while the
      // compiler was busy is handled now. (tslab runs cells with vm's breakOnSigint, which detaches
      // SIGINT listeners while the cell starts; a signal still queued at that moment would be lost.)
      this.compileAhead(code);
      await new Promise<void>((resolve) => realSetImmediate(resolve));
      if (context.interrupted) {
        ok = false;
        this.captured.errors.push([new InterruptedError()]);
      } else {
        this.lastConverted = undefined;
        ok = await cellStorage.run(context, () => this.executor.execute(code));
        const converted = this.lastConverted;
        if (ok && converted && !converted.diagnostics?.length) this.prevDecl = converted.declOutput || "";
      }
    } catch (err) {
      ok = false;
      this.captured.errors.push([err]);
    } finally {
      context.running = false;
      this.current = undefined;
      if (this.abandonTimer) clearTimeout(this.abandonTimer);
      this.abandonTimer = undefined;
    }
    if (ok) {
      return this.captured.hasValue ? { ok: true, hasValue: true, value: this.captured.value } : { ok: true, hasValue: false };
    }
    return describeFailure(this.captured.errors, context, code);
  }

  private compileAhead(code: string): void {
    const { getCodeMetadata } = require("tslab/dist/metadata");
    const meta = getCodeMetadata(code);
    if (meta.module || meta.mode === "browser") return;
    const node = this.nodeConverter();
    if (!node) return;
    try {
      const prevDecl = this.prevDecl;
      // The wrapper records the call; keep the result for tslab's own convert call that follows.
      const result = node.convert(prevDecl, code);
      this.precompiled = { prevDecl, src: code, result };
    } catch {
      this.precompiled = undefined;
    }
  }

  private nodeConverter(): any {
    return this.convs?.node;
  }

  /** Jupyter's interrupt: ask the running cell (and lepton's loops) to stop. */
  interrupt(): void {
    requestInterrupt();
    const context = this.current;
    if (!context || context.interrupted) return;
    context.interrupted = true;
    context.stopTimersFrom = Date.now() + this.cooperativeMs;
    this.abandonTimer = setTimeout(() => {
      if (context.running) this.executor.interrupt();
    }, this.graceMs);
  }

  complete(code: string, cursor: number) {
    return this.executor.complete(code, cursor);
  }

  inspect(code: string, cursor: number): string | undefined {
    const info = this.executor.inspect(code, cursor);
    if (!info) return undefined;
    const { printQuickInfo } = require("tslab/dist/inspect");
    return printQuickInfo(info);
  }

  close(): void {
    this.executor.close();
  }
}

/** Turn what tslab reported through console.error into a Jupyter error. */
function describeFailure(errors: unknown[][], context: CellContext, code: string): CellOutcome {
  const diagnostics = errors.filter((args) => args[0] === "%s%d:%d - %s");
  if (diagnostics.length > 0) {
    const sourceLines = code.split("\n");
    const traceback: string[] = [];
    for (const args of diagnostics) {
      traceback.push(format(...(args as [string, ...unknown[]])));
      // Show the line of the cell the diagnostic points at, with a caret under the column.
      const [, fileName, line, column] = args as [string, string, number, number];
      const text = !fileName ? sourceLines[line - 1] : undefined;
      if (text !== undefined && text.trim()) traceback.push(`    ${text}`, `    ${" ".repeat(Math.max(0, column - 1))}^`);
    }
    return { ok: false, ename: "TypeScriptError", evalue: format(...(diagnostics[0] as [string, ...unknown[]])), traceback };
  }
  const first = errors.find((args) => args.length > 0)?.[0];
  if (first instanceof Error) {
    const interruptedMessage = first.message === "Interrupted asynchronously" || /^Script execution (was )?interrupted/.test(first.message);
    if (interruptedMessage || (context.interrupted && first.name === "InterruptedError")) {
      const abandoned = first.message === "Interrupted asynchronously";
      const evalue = abandoned
        ? "Interrupted by the user (kernel interrupt). The cell did not stop at its next await, so the kernel stopped waiting for it; anything it started may still finish in the background."
        : "Interrupted by the user (kernel interrupt).";
      return { ok: false, ename: "InterruptedError", evalue, traceback: [`InterruptedError: ${evalue}`] };
    }
    const stack = typeof first.stack === "string" ? first.stack : `${first.name}: ${first.message}`;
    return { ok: false, ename: first.name || "Error", evalue: first.message, traceback: cleanStack(stack).split("\n") };
  }
  if (first !== undefined) {
    const text = format("%O", first);
    return { ok: false, ename: "Error", evalue: `Uncaught ${text}`, traceback: [`Uncaught ${text}`] };
  }
  return { ok: false, ename: "Error", evalue: "The cell failed without an error message.", traceback: [] };
}

/** Drop the kernel's own frames (tslab, lepton's kernel, Node internals) from a cell's stack. */
function cleanStack(stack: string): string {
  const lines = stack.split("\n");
  const kept = lines.filter((line, i) => i === 0 || !/node_modules[\\/]tslab[\\/]|dist[\\/]src[\\/]kernel[\\/]|\(node:|node:internal/.test(line));
  return kept.join("\n");
}

const realSetImmediate: typeof setImmediate = setImmediate;

let guardsInstalled = false;

/** Timers started by an interrupted cell fail (setTimeout/setImmediate) or stop (setInterval). */
function installTimerGuards(): void {
  if (guardsInstalled) return;
  guardsInstalled = true;
  const g = globalThis as any;
  const realTimeout = g.setTimeout;
  const realImmediate = g.setImmediate;
  const realInterval = g.setInterval;
  const realClearInterval = g.clearInterval;
  const stopped = (context: CellContext | undefined) =>
    context?.stopTimersFrom !== undefined && Date.now() >= context.stopTimersFrom;
  const guardStart = (real: Function) =>
    copyProps(real, function (this: unknown, ...args: unknown[]) {
      if (stopped(cellStorage.getStore())) throw new InterruptedError();
      return real.apply(this, args);
    });
  g.setTimeout = guardStart(realTimeout);
  g.setImmediate = guardStart(realImmediate);
  g.setInterval = copyProps(realInterval, function (this: unknown, callback: unknown, ...rest: unknown[]) {
    const context = cellStorage.getStore();
    if (stopped(context)) throw new InterruptedError();
    if (!context || typeof callback !== "function") return realInterval.call(this, callback, ...rest);
    const handle = realInterval.call(
      this,
      function (this: unknown, ...args: unknown[]) {
        if (stopped(context)) {
          realClearInterval(handle);
          return;
        }
        return (callback as Function).apply(this, args);
      },
      ...rest,
    );
    return handle;
  });
}

function copyProps<T extends Function>(from: Function, to: T): T {
  for (const key of Reflect.ownKeys(from)) {
    if (key === "length" || key === "name" || key === "prototype" || key === "arguments" || key === "caller") continue;
    const desc = Object.getOwnPropertyDescriptor(from, key);
    if (desc) Object.defineProperty(to, key, desc);
  }
  return to;
}
