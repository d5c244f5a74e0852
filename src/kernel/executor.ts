/**
 * Runs notebook cells: tslab's converter (TypeScript 5.0.4 type check + transpile, through the adapter
 * in ./tslab) and lepton's own execution of the converted JavaScript, with the cell's last value, type
 * errors and runtime errors captured as data instead of printed.
 *
 * What this adds to the way tslab runs a cell:
 * - Declarations survive a later error: a name is carried into the next cell when its declaration ran
 *   (the cell's own view of the variables records every assignment), not only when the cell succeeded.
 * - Top-level `for await` (tslab treats the cell as synchronous and it fails to parse).
 * - IPython's trailing `;` silences the last value.
 * - Interrupts: each cell runs inside an AsyncLocalStorage context. An interrupt raises lepton's flag
 *   (`interruptRequested()`), which lepton's own loops check between steps to return normally, and the
 *   shared interrupt flag that every loop of cell code checks (./transform `instrumentLoops`), so
 *   synchronous code stops wherever it runs on the kernel's thread: after an `await`, in a timer or a
 *   callback. (Without the kernel's SIGINT watcher thread, the cell's synchronous start runs under vm's
 *   breakOnSigint instead.) If the cell is still
 *   running `cooperativeMs` later, the cell's timers refuse to start (setTimeout / setImmediate throw
 *   InterruptedError inside the cell, its setInterval callbacks stop), so a loop that awaits a timer
 *   between steps ends at its next await. A cell that has not stopped after `graceMs` is abandoned: its
 *   execution is reported as interrupted and the kernel moves on (code it started may still finish in
 *   the background; its output still goes to its cell).
 */
import { convertExpandingShorthand } from "./shorthand";
import { AsyncLocalStorage } from "async_hooks";
import Module from "module";
import path from "path";
import vm from "vm";
import { format } from "util";
import { InterruptedError, clearInterrupt, requestInterrupt } from "../runtime/interrupt";
import { tslab, type CodeMetadata, type ConvertResult, type TslabConverter, type TslabDiagnostic } from "./tslab";
import {
  IRQ_ERROR, IRQ_FLAG, declaredNames, exportsPreamble, instrumentLoops, mergeDeclarations, silencedByTrailingSemicolon,
  stripExportsPreamble, usesTopLevelAwait,
} from "./transform";

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

export interface CellExecutorOptions {
  /** Folder modules are resolved from (the notebook's folder); default process.cwd(). */
  rootDir?: string;
  /** How long lepton's cooperative loops get to return normally before the cell's timers fail. */
  cooperativeMs?: number;
  /** How long an interrupted cell may take to stop before it is abandoned. */
  graceMs?: number;
}

const ABANDONED = "Interrupted asynchronously";

/**
 * The interrupt flag in shared memory: 1 from an interrupt until the interrupted cell ends (or, when no
 * cell runs, until the kernel has seen the interrupt). The kernel's watcher threads set it (SIGINT, interrupt_request) while
 * this thread may be busy.
 */
export const interruptFlag = new Int32Array(new SharedArrayBuffer(4));

let flagInstalled = false;

function installInterruptFlag(): void {
  if (flagInstalled) return;
  flagInstalled = true;
  const g = globalThis as any;
  Object.defineProperty(g, IRQ_FLAG, { value: interruptFlag, configurable: true, enumerable: false, writable: false });
  // The flag stays up until the interrupted cell ends (or, when no cell runs, until the kernel has seen
  // the interrupt): a `catch` in the cell's own loop does not swallow it, the next iteration throws again.
  const getter = function () {
    requestInterrupt();
    const context = cellStorage.getStore();
    if (context?.running) context.interrupted = true;
    const err = new InterruptedError();
    Error.captureStackTrace(err, getter);
    return err;
  };
  // Reading the name builds the error the loop throws (lepton's own loops are told too).
  Object.defineProperty(g, IRQ_ERROR, { get: getter, configurable: true, enumerable: false });
}

export class CellExecutor {
  private readonly graceMs: number;
  private readonly cooperativeMs: number;
  private readonly tslab = tslab();
  /** The notebook's variables: what the converted cells read and write as `exports.name`. */
  private readonly store: Record<string, unknown> = {};
  /** Names assigned through the running cell's own exports (a declaration of it that ran). */
  private assigned = new Set<string>();
  /** vm's breakOnSigint for a cell's synchronous start: only without the kernel's SIGINT watcher thread. */
  breakOnSigint = true;
  private readonly require: NodeRequire;
  private readonly cellGlobals: { exports: Record<string, unknown>; require: NodeRequire };
  private readonly sideOutputs = new Map<string, string>();
  private readonly sideModules = new Map<string, NodeModule>();
  /** The declarations of earlier cells, as tslab's converter takes them. */
  private prevDecl = "";
  private node: TslabConverter | undefined;
  private browser: TslabConverter | undefined;
  private current: CellContext | undefined;
  private abandonTimer: NodeJS.Timeout | undefined;
  private abandon: ((err: Error) => void) | undefined;

  constructor(options: CellExecutorOptions = {}) {
    const rootDir = options.rootDir ?? process.cwd();
    this.cooperativeMs = options.cooperativeMs ?? 500;
    this.graceMs = Math.max(options.graceMs ?? 2000, this.cooperativeMs);
    this.require = this.wrapRequire(this.tslab.createRequire(rootDir), rootDir);
    // Each cell gets its own view of the variables (see exportsFor) before it runs.
    this.cellGlobals = { exports: this.exportsFor(new Set()), require: this.require };
    vm.runInThisContext("(x) => { globalThis.__lepton_cell__ = x; }")(this.cellGlobals);
    installInterruptFlag();
    void this.nodeConverter(); // build the compiler program now, not on the first cell
    installTimerGuards();
  }

  /**
   * The notebook's variables as one cell sees them: every cell gets its own view of the one store, so a
   * write from a function an earlier cell defined is not taken for a declaration of this cell.
   */
  private exportsFor(assigned: Set<string>): Record<string, unknown> {
    const store = this.store;
    return new Proxy(store, {
      // TypeScript writes named imports with defineProperty (getters); keep their values rewritable.
      defineProperty: (_target, prop, attrs) => {
        if (prop === "__esModule") return true;
        store[prop as string] = attrs.get ? attrs.get() : attrs.value;
        assigned.add(prop as string);
        return true;
      },
      set: (_target, prop, value) => {
        store[prop as string] = value;
        assigned.add(prop as string);
        return true;
      },
    });
  }

  private nodeConverter(): TslabConverter {
    return (this.node ??= this.tslab.createConverter({ isJS: false, isBrowser: false }));
  }

  private browserConverter(): TslabConverter {
    return (this.browser ??= this.tslab.createConverter({ isJS: false, isBrowser: true }));
  }

  /** `require` for cells: `tslab` is tslab's module, modules written by `//%module` cells come first. */
  private wrapRequire(req: NodeRequire, dirname: string): NodeRequire {
    const self = this;
    const fromSideOutputs = (id: string): unknown => {
      let filename = path.join(dirname, id);
      if (path.extname(filename) === "") filename += ".js";
      const cached = self.sideModules.get(filename);
      if (cached) return cached.exports;
      const source = self.sideOutputs.get(filename);
      if (source === undefined) return undefined;
      const M = Module as any;
      const mod = new M(filename, module);
      mod.filename = filename;
      mod.paths = M._nodeModulePaths(path.dirname(filename));
      mod.require = self.wrapRequire(mod.require, path.dirname(filename));
      mod._compile(source, filename);
      self.sideModules.set(filename, mod);
      return mod.exports;
    };
    return new Proxy(req, {
      apply: (_target, thisArg, args: any[]) => {
        if (args.length !== 1) return Reflect.apply(req, thisArg, args);
        const id = args[0];
        if (id === "tslab") return this.tslab.main();
        if (typeof id === "string" && (id.startsWith("./") || id.startsWith("../"))) {
          const mod = fromSideOutputs(id);
          if (mod !== undefined) return mod;
        }
        return Reflect.apply(req, thisArg, args);
      },
    });
  }


  /** Run one cell in `context`. Never throws: errors come back as an outcome. */
  async run(code: string, context: CellContext): Promise<CellOutcome> {
    clearInterrupt();
    Atomics.store(interruptFlag, 0, 0);
    this.current = context;
    context.running = true;
    try {
      // Compile first, then yield to the event loop before running: an interrupt that arrived while the
      // compiler was busy is handled now.
      const meta = this.tslab.getCodeMetadata(code);
      const prevDecl = this.prevDecl;
      const node = this.nodeConverter();
      const converted = meta.module || meta.mode === "browser"
        ? undefined
        : convertExpandingShorthand((p, src) => node.convert(p, src), prevDecl, code);
      await new Promise<void>((resolve) => realSetImmediate(resolve));
      if (context.interrupted) return interruptedOutcome(false);
      return await cellStorage.run(context, () => this.execute(code, context, meta, prevDecl, converted));
    } catch (err) {
      return describeError(err, context);
    } finally {
      context.running = false;
      this.current = undefined;
      this.abandon = undefined;
      if (this.abandonTimer) clearTimeout(this.abandonTimer);
      this.abandonTimer = undefined;
      Atomics.store(interruptFlag, 0, 0);
    }
  }

  private async execute(code: string, context: CellContext, meta: CodeMetadata, prevDecl: string, converted: ConvertResult | undefined): Promise<CellOutcome> {
    if (meta.module) {
      const conv = meta.mode === "browser" ? this.browserConverter() : this.nodeConverter();
      const diagnostics = conv.addModule(meta.module, code, meta);
      // Modules are registered whatever their errors, as in tslab.
      return diagnostics.length ? typeErrors(diagnostics, code) : { ok: true, hasValue: false };
    }
    if (meta.mode === "browser" || !converted) return { ok: true, hasValue: false };
    for (const out of converted.sideOutputs ?? []) {
      this.sideModules.delete(out.path);
      this.sideOutputs.set(out.path, out.data);
    }
    if (converted.diagnostics.length > 0) return typeErrors(converted.diagnostics, code);
    if (!converted.output) {
      this.prevDecl = converted.declOutput || "";
      return { ok: true, hasValue: false };
    }
    // The last value's variable is TypeScript's too (in the preamble, never in the source).
    const names = converted.output.includes("void 0;") ? declaredNames(code) : new Set<string>();
    if (converted.lastExpressionVar) names.add(converted.lastExpressionVar);
    const declared = exportsPreamble(converted.output, names).filter((n) => n !== converted.lastExpressionVar);
    const js = instrumentLoops(stripExportsPreamble(converted.output, names));
    const isAsync = !!converted.hasToplevelAwait || usesTopLevelAwait(js);
    const wrapped = `(${isAsync ? "async " : ""}function (exports, require) { ${js}\n})(__lepton_cell__.exports, __lepton_cell__.require)`;
    const lastVar = converted.lastExpressionVar;
    if (lastVar) delete this.store[lastVar];
    this.assigned = new Set();
    this.cellGlobals.exports = this.exportsFor(this.assigned);
    try {
      const ret = vm.runInThisContext(wrapped, { breakOnSigint: this.breakOnSigint });
      if (isAsync) {
        const abandoned = new Promise<never>((_, reject) => (this.abandon = reject));
        abandoned.catch(() => {});
        if (context.interrupted) this.scheduleAbandon(context);
        await Promise.race([ret, abandoned]);
      }
    } catch (err) {
      // Declarations that ran before the error are kept; the others keep what earlier cells gave them.
      const notRun = new Set(declared.filter((n) => !this.assigned.has(n)));
      for (const name of notRun) if (!(name in this.store)) delete this.store[name];
      this.prevDecl = mergeDeclarations(converted.declOutput || "", prevDecl, notRun);
      if (lastVar) delete this.store[lastVar];
      return describeError(err, context);
    }
    this.prevDecl = converted.declOutput || "";
    if (lastVar && lastVar in this.store) {
      const value = this.store[lastVar];
      delete this.store[lastVar];
      if (value != null && !silencedByTrailingSemicolon(code)) return { ok: true, hasValue: true, value };
    }
    return { ok: true, hasValue: false };
  }

  /** Jupyter's interrupt: ask the running cell (and lepton's loops) to stop. */
  interrupt(): void {
    requestInterrupt();
    const context = this.current;
    if (!context) return;
    // A loop may already have thrown for this interrupt (and marked the cell): the rest still applies.
    if (!context.interrupted) Atomics.store(interruptFlag, 0, 1);
    context.interrupted = true;
    context.stopTimersFrom ??= Date.now() + this.cooperativeMs;
    this.scheduleAbandon(context);
  }

  /**
   * End the running cell now as interrupted: background code of the cell (a timer, a callback) was
   * stopped by the interrupt, so what the cell awaits may never come.
   */
  stopInterrupted(): void {
    const context = this.current;
    if (!context?.running) return;
    context.interrupted = true;
    context.stopTimersFrom ??= Date.now() + this.cooperativeMs;
    this.abandon?.(new InterruptedError());
  }

  /** Whether the running cell has been interrupted. */
  get currentInterrupted(): boolean {
    return !!this.current?.interrupted;
  }

  /** Whether a cell is running now. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  private scheduleAbandon(context: CellContext): void {
    if (this.abandonTimer) return;
    this.abandonTimer = setTimeout(() => {
      if (context.running) this.abandon?.(new Error(ABANDONED));
    }, this.graceMs);
  }

  complete(code: string, cursor: number) {
    return this.nodeConverter().complete(this.prevDecl, code, cursor);
  }

  inspect(code: string, cursor: number): string | undefined {
    const conv = this.tslab.getCodeMetadata(code).mode === "browser" ? this.browserConverter() : this.nodeConverter();
    const info = conv.inspect(this.prevDecl, code, cursor);
    if (!info) return undefined;
    return this.tslab.printQuickInfo(info);
  }

  close(): void {
    this.node?.close();
    this.browser?.close();
  }
}

/** Type errors as a Jupyter error: evalue = the first diagnostic, traceback = all, with the line. */
function typeErrors(diagnostics: TslabDiagnostic[], code: string): CellOutcome {
  const sourceLines = code.split("\n");
  const traceback: string[] = [];
  const line = (d: TslabDiagnostic) => format("%s%d:%d - %s", d.fileName ? d.fileName + " " : "", d.start.line + 1, d.start.character + 1, d.messageText);
  for (const d of diagnostics) {
    traceback.push(line(d));
    // Show the line of the cell the diagnostic points at, with a caret under the column.
    const text = !d.fileName ? sourceLines[d.start.line] : undefined;
    if (text !== undefined && text.trim()) traceback.push(`    ${text}`, `    ${" ".repeat(Math.max(0, d.start.character))}^`);
  }
  return { ok: false, ename: "TypeScriptError", evalue: line(diagnostics[0]), traceback };
}

function interruptedOutcome(abandoned: boolean): CellOutcome {
  const evalue = abandoned
    ? "Interrupted by the user (kernel interrupt). The cell did not stop at its next await, so the kernel stopped waiting for it; anything it started may still finish in the background."
    : "Interrupted by the user (kernel interrupt).";
  return { ok: false, ename: "InterruptedError", evalue, traceback: [`InterruptedError: ${evalue}`] };
}

/** A thrown value as a Jupyter error (interrupts get the one short message). */
export function describeError(err: unknown, context?: { interrupted: boolean }): CellOutcome & { ok: false } {
  if (err instanceof Error) {
    if (err.message === ABANDONED) return interruptedOutcome(true) as CellOutcome & { ok: false };
    if (/^Script execution (was )?interrupted/.test(err.message) || err.name === "InterruptedError" && (context?.interrupted ?? true)) {
      return interruptedOutcome(false) as CellOutcome & { ok: false };
    }
    const stack = typeof err.stack === "string" ? err.stack : `${err.name}: ${err.message}`;
    return { ok: false, ename: err.name || "Error", evalue: err.message, traceback: cleanStack(stack).split("\n") };
  }
  const text = format("%O", err);
  return { ok: false, ename: "Error", evalue: `Uncaught ${text}`, traceback: [`Uncaught ${text}`] };
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
