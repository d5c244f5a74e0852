/**
 * The display protocol shared by every part of lepton.
 *
 * A value is shown through a mime bundle ({"text/plain": ..., "text/html": ..., ...}).
 * Values opt in with a method under `Symbol.for("Jupyter.display")` that returns the bundle
 * (the convention Deno's Jupyter kernel uses). Inside the Lepton kernel the kernel extension
 * installs a sink that sends `display_data` / `update_display_data` messages; outside a kernel
 * (a plain Node script, a test) the default sink prints the `text/plain` part.
 */
import { inspect } from "util";
import { randomUUID } from "crypto";
import { isTensorLike, tensorBundle } from "./tensor_view";

export type MimeBundle = { [mimeType: string]: unknown };
export type MimeMetadata = { [mimeType: string]: unknown };

/** The method name a value implements to choose how it is shown. */
export const DISPLAY_SYMBOL: unique symbol = Symbol.for("Jupyter.display") as any;

export interface Displayable {
  [DISPLAY_SYMBOL](): MimeBundle;
}

/** Where displays go. The kernel extension installs one; elsewhere the console sink is used. */
export interface DisplaySink {
  display(bundle: MimeBundle, metadata: MimeMetadata, displayId: string | undefined): void;
  update(bundle: MimeBundle, metadata: MimeMetadata, displayId: string): void;
  /** Clear the running cell's output (Jupyter's clear_output); `wait` defers it to the next output. */
  clear?(wait: boolean): void;
  /** A token for the cell execution the code running now belongs to (the kernel: its execute_request's msg_id). */
  outputCell?(): string | undefined;
  /** The parent output goes to now (the kernel: the Jupyter header of the request it answers), a token for runWithParent. */
  currentParent?(): unknown;
  /** Run `fn` with `parent` (a token from currentParent(), or a Jupyter message header) as the parent of its output. */
  runWithParent?<T>(parent: unknown, fn: () => T): T;
}

/** A shown output that can be replaced in place (progress bars, live charts). */
export interface DisplayHandle {
  readonly displayId: string;
  /** Replace the output with a new value (or bundle, through `display`'s rules). */
  update(value: unknown): void;
}

const SINK_KEY = Symbol.for("lepton.displaySink");

/** The sink used outside a kernel: readable text on stdout, never a throw. */
export const consoleSink: DisplaySink = {
  display(bundle) {
    process.stdout.write(plainText(bundle) + "\n");
  },
  update(bundle) {
    process.stdout.write(plainText(bundle) + "\n");
  },
};

/** Install (or with `undefined`, remove) the sink that receives displays. Used by the kernel. */
export function setDisplaySink(sink: DisplaySink | undefined): void {
  (globalThis as any)[SINK_KEY] = sink;
}

/** The sink in force; kept on globalThis so every loaded copy of lepton shares it. */
export function currentSink(): DisplaySink {
  return ((globalThis as any)[SINK_KEY] as DisplaySink | undefined) ?? consoleSink;
}

/**
 * Clear the output of the cell that is running, as IPython's `clear_output`: with `{ wait: true }` the
 * frontend clears only when the next output arrives, so a loop that clears and redraws does not flicker.
 * Outside a kernel it does nothing.
 *
 *   for (let i = 0; i < 10; i++) { lepton.clearOutput({ wait: true }); console.log(`step ${i}`); await step(); }
 */
export function clearOutput(options: { wait?: boolean } = {}): void {
  const sink = currentSink();
  safely(() => sink.clear?.(!!options.wait));
}

/**
 * The cell execution the running code belongs to: a token (the kernel gives its execute_request's
 * msg_id; a new one each time a cell runs), or undefined outside a kernel. Compare it with
 * cellResultOf() to know whether a value is the result of the cell that showed something.
 */
export function outputCell(): string | undefined {
  const sink = (globalThis as any)[SINK_KEY] as DisplaySink | undefined;
  try {
    return sink?.outputCell?.();
  } catch {
    return undefined;
  }
}

/** The output parent in force now (a token for runWithOutputParent), or undefined outside a kernel. */
export function currentOutputParent(): unknown {
  const sink = (globalThis as any)[SINK_KEY] as DisplaySink | undefined;
  try {
    return sink?.currentParent?.();
  } catch {
    return undefined;
  }
}

/**
 * Run `fn` with `parent` as the parent of the output it produces (what it prints, displays and sends on
 * comms; async work it starts keeps it). Outside a kernel, or with no parent, `fn` just runs.
 */
export function runWithOutputParent<T>(parent: unknown, fn: () => T): T {
  const sink = (globalThis as any)[SINK_KEY] as DisplaySink | undefined;
  if (parent === undefined || parent === null || !sink?.runWithParent) return fn();
  return sink.runWithParent(parent, fn);
}

const RESULT_KEY = Symbol.for("lepton.cellResultOf");

/**
 * The mime bundle of `value` as the execute_result of cell execution `cell` (the kernel calls this for
 * a cell's last value). While it runs, cellResultOf() answers `cell`, so a value's display method can
 * show less when the same cell has already shown it (a training's History after its live chart).
 */
export function resultBundle(value: unknown, cell: string | undefined): MimeBundle {
  const g = globalThis as any;
  const before = g[RESULT_KEY];
  g[RESULT_KEY] = cell;
  try {
    return toMimeBundle(value);
  } finally {
    g[RESULT_KEY] = before;
  }
}

/** Inside resultBundle: the cell whose execute_result is being made; otherwise (display(), nested values) undefined. */
export function cellResultOf(): string | undefined {
  return (globalThis as any)[RESULT_KEY] as string | undefined;
}

/** True when a kernel has installed its display sink (we are running inside a notebook). */
export function inKernel(): boolean {
  return (globalThis as any)[SINK_KEY] !== undefined;
}

export function isDisplayable(value: unknown): value is Displayable {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as any)[DISPLAY_SYMBOL] === "function"
  );
}

/**
 * The mime bundle for any value: its own bundle (given a `text/plain` part such as
 * `<display: text/html, application/json>` when it has none), a string as itself, else `text/plain`
 * from util.inspect.
 */
export function toMimeBundle(value: unknown): MimeBundle {
  if (isDisplayable(value)) {
    const bundle = value[DISPLAY_SYMBOL]();
    if (bundle && typeof bundle === "object") {
      // An empty bundle shows nothing (a display handle or a record as a cell's last value: IPython's
      // display() returns None, so its cell has no Out).
      if (Object.keys(bundle).length === 0) return {};
      // Without a text part, name the mime types (not the wrapper object's inspect output).
      if (!("text/plain" in bundle)) return { ...bundle, "text/plain": plainText(bundle) };
      return bundle;
    }
  }
  if (typeof value === "string") return { "text/plain": value };
  // A tf.Tensor (any copy of tfjs): shape, dtype and values, not the engine's fields.
  if (isTensorLike(value)) return tensorBundle(value);
  return { "text/plain": inspect(value, { colors: false, depth: 4 }) };
}

/** The bundle's `text/plain` part, or a note naming the mime types it has. */
export function plainText(bundle: MimeBundle): string {
  const text = bundle["text/plain"];
  if (typeof text === "string") return text;
  if (text !== undefined) return inspect(text);
  return `<display: ${Object.keys(bundle).join(", ")}>`;
}

/**
 * Show a value now. Returns a handle whose `update()` replaces this output in place.
 * Outside a kernel it prints the value's text and the handle's updates print again.
 */
export function display(value: unknown, options: { displayId?: string; metadata?: MimeMetadata } = {}): DisplayHandle {
  const displayId = options.displayId ?? randomUUID();
  const metadata = options.metadata ?? {};
  safely(() => {
    const bundle = toMimeBundle(value);
    if (Object.keys(bundle).length > 0) currentSink().display(bundle, metadata, displayId);
  });
  const handle = {
    displayId,
    update(next: unknown) {
      safely(() => currentSink().update(toMimeBundle(next), metadata, displayId));
    },
    // As a cell's last value the handle shows nothing (its output is already there), as IPython's display().
    [DISPLAY_SYMBOL]: (): MimeBundle => ({}),
    toString: () => `<display handle ${displayId.slice(0, 8)}…>`,
  };
  return handle;
}

/** Wrap a ready-made bundle so that it can be displayed or returned as a cell's value. */
export function mime(bundle: MimeBundle): Displayable {
  return { [DISPLAY_SYMBOL]: () => bundle };
}

/** Convenience: an HTML fragment with a text fallback. */
export function html(markup: string, text = markup.replace(/<[^>]*>/g, "")): Displayable {
  return mime({ "text/html": markup, "text/plain": text });
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    // Showing something must never break the user's computation.
    try {
      process.stderr.write(`lepton: display failed: ${(err as Error)?.message ?? err}\n`);
    } catch {
      /* nothing left to do */
    }
  }
}
