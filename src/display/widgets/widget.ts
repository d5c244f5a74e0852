/**
 * The base of lepton.widgets: a widget model kept in sync with the frontend over the Jupyter widgets
 * message protocol 2.1.0 (ipywidgets 8), so that JupyterLab, Notebook 7 and VS Code draw it with their own
 * widget managers (@jupyter-widgets/controls 2.0.0, base 2.0.0, output 1.0.0).
 *
 * One widget is one comm to the target `jupyter.widget`, opened when the widget is made:
 *   comm_open  data {state, buffer_paths}, metadata {version: "2.1.0"}; the state holds every synced
 *              attribute (as ipywidgets' get_state), `_model_*` / `_view_*` included; layout and style are
 *              widgets of their own, referenced as "IPY_MODEL_<id>".
 *   kernel → frontend:  {method: "update", state, buffer_paths} for what kernel code changed;
 *              {method: "echo_update", state, buffer_paths} echoing what a frontend sent (as ipywidgets 8,
 *              so every frontend of the kernel agrees; JUPYTER_WIDGETS_ECHO=0 turns it off);
 *              {method: "custom", content}.
 *   frontend → kernel:  {method: "update", state, buffer_paths} (the attributes change here, onChange
 *              callbacks run and are awaited), {method: "request_state"} (answered with an update holding
 *              the whole state), {method: "custom", content} (Button's {event: "click"}).
 * The `jupyter.widget.control` target answers a frontend's {method: "request_states"} (ipywidgets 8's
 * widget managers ask for every widget's state that way when they reconnect) with {method:
 * "update_states", states: {id: {model_name, model_module, model_module_version, state}}, buffer_paths}.
 *
 * Displaying a widget is a display_data with `application/vnd.jupyter.widget-view+json` {version_major: 2,
 * version_minor: 0, model_id} and a `text/plain` line such as `IntSlider(value=3, min=0, max=10) "epochs"`.
 *
 * Without a widget frontend: outside a kernel (a plain Node script) there is no comm transport
 * (comms.available() is false), the comm is local and its messages go nowhere, and a widget displays as
 * its text line only. Under nbclient / `lepton run` the kernel's transport is there, so the widget still
 * sends its comm_open (nobody answers it; nbclient keeps the state) and displays with both parts; a
 * viewer without a widget manager shows the text line.
 *
 * Where a callback's output goes: a callback run for a frontend message (onChange, onClick) runs with the
 * cell that made the widget as its output parent (lepton's display sink `runWithParent`), so what it
 * prints goes to that cell, unless it captures into an Output widget (Output.capture), which parents its
 * output to the frontend's request being handled, whose msg_id is the Output's `msg_id`.
 */
import { AsyncLocalStorage } from "async_hooks";
import { available, open as openComm, registerTarget, type Comm, type CommMessage } from "../comms";
import { DISPLAY_SYMBOL, currentOutputParent, display, runWithOutputParent, type DisplayHandle, type MimeBundle } from "../display";

/** The widget message protocol this speaks (comm_open metadata.version). */
export const PROTOCOL_VERSION = "2.1.0";
/** The control comm's protocol (jupyter.widget.control). */
export const CONTROL_PROTOCOL_VERSION = "1.0.0";
export const WIDGET_TARGET = "jupyter.widget";
export const CONTROL_TARGET = "jupyter.widget.control";
export const VIEW_MIME = "application/vnd.jupyter.widget-view+json";
export const CONTROLS_MODULE = "@jupyter-widgets/controls";
export const CONTROLS_VERSION = "2.0.0";
export const BASE_MODULE = "@jupyter-widgets/base";
export const BASE_VERSION = "2.0.0";
export const OUTPUT_MODULE = "@jupyter-widgets/output";
export const OUTPUT_VERSION = "1.0.0";

export type WidgetState = Record<string, unknown>;

/** The `_model_*` / `_view_*` part of a state. */
export function modelHeader(
  model: [module: string, version: string, name: string],
  view: [module: string, version: string, name: string] | null,
): WidgetState {
  return {
    _model_module: model[0],
    _model_module_version: model[1],
    _model_name: model[2],
    _view_module: view ? view[0] : model[0],
    _view_module_version: view ? view[1] : model[1],
    _view_name: view ? view[2] : null,
  };
}

export function controlsHeader(model: string, view: string): WidgetState {
  return modelHeader([CONTROLS_MODULE, CONTROLS_VERSION, model], [CONTROLS_MODULE, CONTROLS_VERSION, view]);
}

// -------------------------------------------------------------------------------------------------
// Shared state (globalThis, so every loaded copy of lepton agrees)
// -------------------------------------------------------------------------------------------------

interface WidgetsGlobal {
  instances: Map<string, Widget>;
  /** The header of the frontend message being handled (a widget's comm_msg), for Output.capture. */
  live: AsyncLocalStorage<Record<string, unknown>>;
}

const GLOBAL_KEY = Symbol.for("lepton.widgets");

function shared(): WidgetsGlobal {
  const g = globalThis as any;
  let s = g[GLOBAL_KEY] as WidgetsGlobal | undefined;
  if (!s) {
    s = { instances: new Map(), live: new AsyncLocalStorage() };
    Object.defineProperty(g, GLOBAL_KEY, { value: s, configurable: true, enumerable: false, writable: false });
  }
  return s;
}

/** The widgets that are open (not closed), by model id. */
export function instances(): ReadonlyMap<string, Widget> {
  return shared().instances;
}

/**
 * The parent that output captured now should have: the frontend request being handled (a widget's
 * comm_msg, which a frontend still listens to while the kernel is busy with it), else the output parent in
 * force (the running cell). Undefined outside a kernel.
 */
export function liveParent(): unknown {
  return shared().live.getStore() ?? currentOutputParent();
}

/** Run `fn` as handling the frontend request `header` (Output.capture inside it parents to it). */
export function runAsLive<T>(header: Record<string, unknown> | undefined, fn: () => T): T {
  if (!header) return fn();
  return shared().live.run(header, fn);
}

/** The msg_id of a parent token (a Jupyter header), if it has one. */
export function parentMsgId(parent: unknown): string | undefined {
  const id = parent && typeof parent === "object" ? (parent as Record<string, unknown>).msg_id : undefined;
  return typeof id === "string" && id !== "" ? id : undefined;
}

function echoEnabled(): boolean {
  const v = process.env.JUPYTER_WIDGETS_ECHO;
  if (v === undefined) return true;
  return !["0", "false", "no", "off", ""].includes(v.trim().toLowerCase());
}

// -------------------------------------------------------------------------------------------------
// Serialisation: widget references and binary buffers
// -------------------------------------------------------------------------------------------------

const REF = "IPY_MODEL_";

/** A state value as JSON for the frontend: a widget as "IPY_MODEL_<id>" (also inside arrays and objects). */
export function serialize(value: unknown): unknown {
  if (value instanceof Widget) return REF + value.modelId;
  if (Array.isArray(value)) return value.map(serialize);
  if (value && typeof value === "object" && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = serialize(v);
    return out;
  }
  return value;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  try {
    return JSON.stringify(serialize(a)) === JSON.stringify(serialize(b));
  } catch {
    return false;
  }
}

/** Put the message's binary buffers into `state` at `paths` (the protocol's buffer_paths). */
export function putBuffers(state: WidgetState, paths: unknown, buffers: Uint8Array[]): void {
  if (!Array.isArray(paths)) return;
  paths.forEach((path, i) => {
    if (!Array.isArray(path) || path.length === 0 || i >= buffers.length) return;
    let obj: any = state;
    for (const key of path.slice(0, -1)) {
      if (obj[key] === undefined || obj[key] === null) obj[key] = typeof key === "number" ? [] : {};
      obj = obj[key];
    }
    obj[path[path.length - 1]] = buffers[i];
  });
}

// -------------------------------------------------------------------------------------------------
// Callbacks
// -------------------------------------------------------------------------------------------------

export type ChangeCallback<T> = (value: T, old: T) => unknown;

/** Report a callback that threw, on stderr of wherever the callback's output goes; never throws. */
export function reportCallbackError(what: string, widget: Widget | undefined, err: unknown): void {
  const detail = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  const where = widget ? ` of ${widget.describe()}` : "";
  try {
    process.stderr.write(`lepton.widgets: the ${what}${where} failed:\n${detail}\n`);
  } catch {
    /* nowhere left to say it */
  }
}

/** Call fn, await it, report what it throws; with `parent`, under that output parent. */
export async function runCallback(what: string, widget: Widget | undefined, fn: () => unknown, parent?: unknown): Promise<void> {
  const invoke = async () => {
    try {
      await fn();
    } catch (err) {
      reportCallbackError(what, widget, err);
    }
  };
  await (parent === undefined ? invoke() : runWithOutputParent(parent, invoke));
}

// -------------------------------------------------------------------------------------------------
// Widget
// -------------------------------------------------------------------------------------------------

type Origin = "kernel" | "frontend";
const NO_ECHO: ReadonlySet<string> = new Set<string>();
type Observer = (value: unknown, old: unknown, origin: Origin) => unknown;

/**
 * A widget model: its state, synced with the frontend over its comm. Subclasses give the initial state;
 * `get`/`set` read and change attributes (a change is sent as an update), `_observe` hears changes.
 */
export class Widget {
  /** The model id (the id of its comm); a reference to it is "IPY_MODEL_<modelId>". */
  readonly modelId: string;
  /** @internal */
  readonly _comm: Comm;
  /** @internal The synced attributes, as kernel values (widgets as Widget objects). */
  protected readonly _state: WidgetState;
  /** The output parent when the widget was made (the cell that made it): callbacks run under it. */
  private readonly createdUnder: unknown;
  private readonly observers = new Map<string, Observer[]>();
  private isClosed = false;
  /** Attributes never echoed (big or frontend-owned). */
  protected get _noEcho(): ReadonlySet<string> {
    return NO_ECHO;
  }
  /** Widgets made for this one (its layout and style), closed with it. */
  protected readonly _owned: Widget[] = [];

  constructor(state: WidgetState) {
    this._state = { ...state };
    this.createdUnder = currentOutputParent();
    this._comm = openComm(WIDGET_TARGET, { state: this.jsonState(), buffer_paths: [] }, { version: PROTOCOL_VERSION });
    this.modelId = this._comm.id;
    shared().instances.set(this.modelId, this);
    this._comm.onMsg((msg) => this.handleMsg(msg));
    this._comm.onClose(() => {
      this.isClosed = true;
      if (shared().instances.get(this.modelId) === this) shared().instances.delete(this.modelId);
    });
  }

  /** The model's name (`_model_name`), e.g. "IntSliderModel". */
  get modelName(): string {
    return String(this._state._model_name);
  }

  /** True once closed (by close() or by the frontend). */
  get closed(): boolean {
    return this.isClosed;
  }

  /** An attribute's value (as the kernel holds it). */
  get<T = unknown>(key: string): T {
    return this._state[key] as T;
  }

  /** Change attributes: each that changes is sent to the frontend in one update, then its observers run. */
  set(changes: WidgetState): void {
    const changed: [string, unknown, unknown][] = [];
    for (const [key, raw] of Object.entries(changes)) {
      if (!(key in this._state)) throw new Error(`${this.constructor.name} has no attribute "${key}"`);
      const value = this._coerce(key, raw);
      const old = this._state[key];
      if (jsonEqual(old, value)) continue;
      this._state[key] = value;
      changed.push([key, value, old]);
    }
    if (changed.length === 0) return;
    this.sendUpdate(Object.fromEntries(changed.map(([k, v]) => [k, v])));
    for (const [key, value, old] of changed) void this.notify(key, value, old, "kernel");
  }

  /** The whole state as JSON (ipywidgets' get_state). */
  jsonState(): WidgetState {
    return serialize(this._state) as WidgetState;
  }

  /** Send a custom message ({method: "custom", content}) to the frontend's model. */
  send(content: unknown, buffers: ArrayBufferView[] = []): void {
    this._comm.send({ method: "custom", content }, {}, buffers);
  }

  /** Close the widget: the frontend drops its model (and its views). Its own layout/style close too. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    shared().instances.delete(this.modelId);
    this._comm.close();
    for (const w of this._owned) w.close();
  }

  /** Show the widget now (a widget view, with its text line); the handle updates that output. */
  display(): DisplayHandle {
    return display(this);
  }

  /** The text shown where no widget manager draws it, e.g. `IntSlider(value=3, min=0, max=10) "epochs"`. */
  toString(): string {
    const fields = this._reprFields().map(([k, v]) => `${k}=${formatValue(v)}`).join(", ");
    const description = this._state.description;
    const text = `${this.constructor.name}(${fields})${typeof description === "string" && description ? ` ${JSON.stringify(description)}` : ""}`;
    return text.length > 110 ? text.slice(0, 110) + "…" : text;
  }

  /** A short name for messages: the class, and its description if any. */
  describe(): string {
    const d = this._state.description;
    return `${this.constructor.name}${typeof d === "string" && d ? ` "${d}"` : ""} (${this.modelId.slice(0, 8)})`;
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    const text = this.toString();
    if (this.isClosed || !available()) return { "text/plain": text };
    return { [VIEW_MIME]: { version_major: 2, version_minor: 0, model_id: this.modelId }, "text/plain": text };
  }

  // ----- for subclasses -----

  /** The attributes the text line shows. */
  protected _reprFields(): [string, unknown][] {
    return "value" in this._state ? [["value", this._state.value]] : [];
  }

  /** Validate/convert a new value for `key` (may throw to refuse it). */
  protected _coerce(key: string, value: unknown): unknown {
    return value;
  }

  /** A custom message from the frontend. */
  protected _onCustom(_content: any, _buffers: Uint8Array[]): unknown {
    return undefined;
  }

  /** Run `cb` on each change of `key` (the origin says who changed it). Returns a function that removes it. */
  protected _observe(key: string, cb: Observer): () => void {
    const list = this.observers.get(key) ?? [];
    list.push(cb);
    this.observers.set(key, list);
    return () => {
      const at = list.indexOf(cb);
      if (at >= 0) list.splice(at, 1);
    };
  }

  /**
   * Run a user callback: for a frontend change, under the output parent of the cell that made the widget,
   * awaited; for a change made by kernel code, where that code runs. Errors are reported, never thrown.
   */
  protected _runUser(what: string, fn: () => unknown, origin: Origin): Promise<void> {
    return runCallback(what, this, fn, origin === "frontend" ? this.createdUnder : undefined);
  }

  // ----- protocol -----

  /** Send these attributes as an update (whether or not they changed). */
  protected _sendUpdate(changes: WidgetState): void {
    this.sendUpdate(changes);
  }

  private sendUpdate(changes: WidgetState): void {
    this._comm.send({ method: "update", state: serialize(changes), buffer_paths: [] });
  }

  private async notify(key: string, value: unknown, old: unknown, origin: Origin): Promise<void> {
    for (const cb of [...(this.observers.get(key) ?? [])]) {
      try {
        await cb(value, old, origin);
      } catch (err) {
        reportCallbackError(`handler of "${key}"`, this, err);
      }
    }
  }

  private async handleMsg(msg: CommMessage): Promise<void> {
    const data = (msg.data ?? {}) as Record<string, any>;
    await runAsLive(msg.header, async () => {
      switch (data.method) {
        case "update":
          if (data.state && typeof data.state === "object") await this.applyFrontendState({ ...data.state }, data.buffer_paths, msg.buffers);
          return;
        case "request_state":
          this.sendUpdate(this._state);
          return;
        case "custom":
          await this._onCustom(data.content, msg.buffers);
          return;
        default:
          process.stderr.write(`lepton.widgets: ${this.describe()} ignored a message with the unknown method ${JSON.stringify(data.method)}\n`);
      }
    });
  }

  /** The frontend changed attributes: echo them, take them (converted), correct what was refused, run observers. */
  private async applyFrontendState(state: WidgetState, bufferPaths: unknown, buffers: Uint8Array[]): Promise<void> {
    putBuffers(state, bufferPaths, buffers);
    const known = Object.keys(state).filter((k) => k in this._state);
    if (echoEnabled()) {
      const echo = Object.fromEntries(known.filter((k) => !this._noEcho.has(k)).map((k) => [k, state[k]]));
      if (Object.keys(echo).length > 0) this._comm.send({ method: "echo_update", state: echo, buffer_paths: [] });
    }
    const changed: [string, unknown, unknown][] = [];
    const corrections: WidgetState = {};
    for (const key of known) {
      const received = this.fromJSON(key, state[key]);
      let value: unknown;
      try {
        value = this._coerce(key, received);
      } catch {
        value = this._state[key]; // refused: the frontend gets the kernel's value back
      }
      if (!jsonEqual(value, received)) corrections[key] = value;
      const old = this._state[key];
      if (jsonEqual(old, value)) continue;
      this._state[key] = value;
      changed.push([key, value, old]);
    }
    if (Object.keys(corrections).length > 0) this.sendUpdate(corrections);
    for (const [key, value, old] of changed) await this.notify(key, value, old, "frontend");
  }

  /** A JSON value from the frontend as a kernel value ("IPY_MODEL_<id>" back to the widget, where the attribute holds widgets). */
  private fromJSON(key: string, value: unknown): unknown {
    const current = this._state[key];
    const ref = (v: unknown) => (typeof v === "string" && v.startsWith(REF) ? shared().instances.get(v.slice(REF.length)) ?? v : v);
    if (current instanceof Widget) return ref(value);
    if (Array.isArray(current) && Array.isArray(value) && current.some((c) => c instanceof Widget)) return value.map(ref);
    return value;
  }
}

function formatValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  if (v instanceof Widget) return v.constructor.name;
  if (Array.isArray(v)) return `[${v.map(formatValue).join(", ")}]`;
  return String(v);
}

// -------------------------------------------------------------------------------------------------
// The control comm: request_states
// -------------------------------------------------------------------------------------------------

/** Every open widget's full state, as `update_states` sends it. */
export function allStates(): Record<string, { model_name: unknown; model_module: unknown; model_module_version: unknown; state: WidgetState }> {
  const states: Record<string, any> = {};
  for (const [id, w] of shared().instances) {
    const state = w.jsonState();
    states[id] = { model_name: state._model_name, model_module: state._model_module, model_module_version: state._model_module_version, state };
  }
  return states;
}

/** Register the jupyter.widget.control target (done when this module loads). */
export function registerControlTarget(): void {
  registerTarget(CONTROL_TARGET, (comm, open) => {
    const version = String((open.metadata as Record<string, unknown>)?.version ?? "");
    const major = CONTROL_PROTOCOL_VERSION.split(".")[0];
    if (version.split(".")[0] !== major) {
      throw new Error(`incompatible widget control protocol versions: received ${JSON.stringify(version)}, expected ${CONTROL_PROTOCOL_VERSION}`);
    }
    comm.onMsg((msg) => {
      const method = (msg.data as Record<string, unknown>)?.method;
      if (method !== "request_states") throw new Error(`unknown widget control message method ${JSON.stringify(method)}`);
      comm.send({ method: "update_states", states: allStates(), buffer_paths: [] });
    });
  });
}

registerControlTarget();
