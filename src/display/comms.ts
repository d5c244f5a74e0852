/**
 * Jupyter comms: two-way channels between kernel code and the frontend (the messaging spec's "custom
 * messages": comm_open / comm_msg / comm_close), the base that widgets are built on. The shape follows
 * ipykernel's `comm` package (a Comm with send/close/on_msg/on_close, targets the frontend opens comms
 * to) in TypeScript's terms.
 *
 *   lepton.comms.registerTarget("echo", (comm, open) => {
 *     comm.onMsg((msg) => comm.send({ echo: msg.data }));
 *   });
 *   const comm = lepton.comms.open("my_frontend_target", { hello: 1 });
 *   comm.onMsg((msg) => console.log("the frontend says", msg.data));
 *
 * This module knows nothing about ZeroMQ or the kernel: the kernel installs a transport
 * (setCommTransport) and hands it the frontend's messages (the `kernelSide` functions). The transport,
 * the open comms and the targets live on globalThis, so every loaded copy of lepton agrees.
 *
 * Outside a kernel (no transport) a comm can still be opened and used: its messages go nowhere, without
 * an error or a warning, as ipykernel's comms do when no frontend listens (`comms.available()` tells).
 * A send on a closed comm does nothing either (as ipykernel); `comm.closed` tells.
 *
 * In the kernel, as ipykernel: a callback runs with the comm message as its parent, so what it prints or
 * displays (and what it sends) is parented to that message, between its busy and idle status; a
 * callback's promise is awaited before the idle and before the next message of the same comm; a callback
 * that throws is reported on stderr (of that message) and the comm goes on. JupyterLab shows output
 * parented to a comm message in its log console, not in a cell (as for ipywidgets callbacks).
 */
import { randomUUID } from "crypto";

/** Binary data a message can carry (sent as extra ZeroMQ frames after the content). */
export type CommBuffer = ArrayBuffer | SharedArrayBuffer | ArrayBufferView;

/** A comm message as the callbacks get it. */
export interface CommMessage<D = any> {
  /** The message's data (its `content.data`). */
  data: D;
  /** The message's metadata. */
  metadata: Record<string, unknown>;
  /** Binary buffers that came with it (each a Uint8Array of its own, offset 0). */
  buffers: Uint8Array[];
  /** The Jupyter content: comm_id, data, and for a comm_open target_name (as ipykernel's callbacks read `msg["content"]`). */
  content: { comm_id: string; data: D; target_name?: string; target_module?: string | null; [key: string]: unknown };
  /** The Jupyter header of the message; absent when this side closed the comm itself. */
  header?: Record<string, unknown>;
  parent_header?: Record<string, unknown>;
  /** "frontend": the frontend sent it; "kernel": this side closed the comm (comm.close(), shutdown). */
  origin: "frontend" | "kernel";
}

/** Called with each message; may return a promise, which is awaited before the next message of this comm. */
export type CommCallback = (msg: CommMessage) => void | Promise<void>;

/** Called when the frontend opens a comm to a registered target. */
export type CommTargetHandler = (comm: Comm, openMsg: CommMessage) => void | Promise<void>;

/** What the kernel installs: sends one comm message to the frontend (IOPub), buffers as extra frames. */
export interface CommTransport {
  send(
    msgType: "comm_open" | "comm_msg" | "comm_close",
    content: Record<string, unknown>,
    metadata: Record<string, unknown>,
    buffers: Uint8Array[],
  ): void;
}

/** A frontend message handed to the comm layer by the kernel. */
export interface IncomingCommMessage {
  header?: Record<string, unknown>;
  parent_header?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  content: any;
  buffers?: ArrayLike<number>[] | Uint8Array[];
}

interface CommState {
  transport: CommTransport | undefined;
  comms: Map<string, Comm>;
  targets: Map<string, CommTargetHandler>;
}

const STATE_KEY = Symbol.for("lepton.comms");

function state(): CommState {
  const g = globalThis as any;
  let s = g[STATE_KEY] as CommState | undefined;
  if (!s) {
    s = { transport: undefined, comms: new Map(), targets: new Map() };
    Object.defineProperty(g, STATE_KEY, { value: s, configurable: true, enumerable: false, writable: false });
  }
  return s;
}

/** A copy of each buffer as a Uint8Array of its own (later changes to the caller's array do not change what is sent). */
export function toUint8Arrays(buffers: readonly CommBuffer[] | undefined): Uint8Array[] {
  if (buffers === undefined || buffers === null) return [];
  if (!Array.isArray(buffers)) throw new TypeError("comm buffers must be an array of ArrayBuffers or typed arrays");
  return buffers.map((b, i) => {
    if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    if (b instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && b instanceof SharedArrayBuffer)) return new Uint8Array(b.slice(0));
    // ArrayBuffers from another realm fail instanceof: accept anything with byteLength and slice.
    if (b && typeof (b as any).byteLength === "number" && typeof (b as any).slice === "function") return new Uint8Array((b as ArrayBuffer).slice(0));
    throw new TypeError(`comm buffer ${i} is not an ArrayBuffer or a typed array (got ${typeof b})`);
  });
}

/** Incoming buffers as Uint8Arrays that start at offset 0 of their own memory (a Buffer may sit in a shared pool). */
function ownBuffers(buffers: IncomingCommMessage["buffers"]): Uint8Array[] {
  return (buffers ?? []).map((b) => {
    if (ArrayBuffer.isView(b)) {
      const view = b as ArrayBufferView;
      if (!Buffer.isBuffer(view) && view instanceof Uint8Array && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) return view;
      return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
    }
    return Uint8Array.from(b as ArrayLike<number>);
  });
}

function report(what: string, comm: { id: string; target: string } | undefined, err: unknown): void {
  const detail = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  const where = comm ? ` of comm ${comm.id} (target "${comm.target}")` : "";
  try {
    process.stderr.write(`lepton.comms: the ${what}${where} failed:\n${detail}\n`);
  } catch {
    /* nowhere left to say it */
  }
}

/** Runs the callbacks one after another, awaiting each; a failure is reported on stderr and the next runs. */
async function runCallbacks(callbacks: CommCallback[], msg: CommMessage, what: string, comm: Comm): Promise<void> {
  for (const cb of callbacks) {
    try {
      await cb(msg);
    } catch (err) {
      report(what, comm, err);
    }
  }
}

function message(content: any, raw: IncomingCommMessage | undefined, origin: "frontend" | "kernel", buffers?: Uint8Array[]): CommMessage {
  const data = content?.data ?? {};
  return {
    data,
    metadata: (raw?.metadata as Record<string, unknown>) ?? {},
    buffers: buffers ?? ownBuffers(raw?.buffers),
    content: { ...content, comm_id: String(content?.comm_id ?? ""), data },
    header: raw?.header,
    parent_header: raw?.parent_header,
    origin,
  };
}

/**
 * One comm: a channel between this kernel and the frontend, to a target. Made by `comms.open()` (this
 * side opens it) or given to a target's handler (the frontend opened it).
 */
export class Comm {
  private isClosed = false;
  private readonly msgCallbacks: CommCallback[] = [];
  private readonly closeCallbacks: CommCallback[] = [];

  /** @internal Use comms.open() or comms.registerTarget(). */
  constructor(readonly id: string, readonly target: string) {}

  /** True once either side closed it; a closed comm sends nothing. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Send a message to the frontend's side of this comm: `data` (JSON), metadata, binary buffers
   * (ArrayBuffers or typed arrays, copied now). On a closed comm it does nothing (as ipykernel).
   */
  send(data: unknown = {}, metadata: Record<string, unknown> = {}, buffers: readonly CommBuffer[] = []): void {
    if (this.isClosed) return;
    const frames = toUint8Arrays(buffers);
    state().transport?.send("comm_msg", { comm_id: this.id, data }, metadata, frames);
  }

  /**
   * Close the comm: the frontend gets comm_close with `data`, this side's onClose callbacks run (the
   * message they get has origin "kernel"). A second close does nothing.
   */
  close(data: unknown = {}, metadata: Record<string, unknown> = {}, buffers: readonly CommBuffer[] = []): void {
    if (this.isClosed) return;
    const frames = toUint8Arrays(buffers);
    this.isClosed = true;
    const s = state();
    if (s.comms.get(this.id) === this) s.comms.delete(this.id);
    try {
      s.transport?.send("comm_close", { comm_id: this.id, data }, metadata, frames);
    } finally {
      void this.runClose(message({ comm_id: this.id, data }, { metadata, content: undefined }, "kernel", frames));
    }
  }

  /** Call `cb` with every message the frontend sends on this comm. Returns a function that removes it. */
  onMsg(cb: CommCallback): () => void {
    return addCallback(this.msgCallbacks, cb, "onMsg");
  }

  /** Call `cb` once when the comm closes (either side). Returns a function that removes it. */
  onClose(cb: CommCallback): () => void {
    return addCallback(this.closeCallbacks, cb, "onClose");
  }

  toString(): string {
    return `<comm ${this.id} to "${this.target}"${this.isClosed ? " (closed)" : ""}>`;
  }

  /** @internal A comm_msg from the frontend (a string name, so that a comm made by another copy of lepton answers too). */
  _deliver(msg: CommMessage): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return runCallbacks([...this.msgCallbacks], msg, "onMsg callback", this);
  }

  /** @internal A comm_close from the frontend (or the end of the kernel): no comm_close is sent back. */
  _peerClosed(msg: CommMessage): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    this.isClosed = true;
    const s = state();
    if (s.comms.get(this.id) === this) s.comms.delete(this.id);
    return this.runClose(msg);
  }

  private runClose(msg: CommMessage): Promise<void> {
    const callbacks = this.closeCallbacks.splice(0);
    this.msgCallbacks.length = 0;
    return runCallbacks(callbacks, msg, "onClose callback", this);
  }
}

function addCallback(list: CommCallback[], cb: CommCallback, name: string): () => void {
  if (typeof cb !== "function") throw new TypeError(`comm.${name}() takes a function`);
  list.push(cb);
  return () => {
    const at = list.indexOf(cb);
    if (at >= 0) list.splice(at, 1);
  };
}

/**
 * Let the frontend open comms to `name`: `handler(comm, openMsg)` is called with each new comm (openMsg.data
 * is the comm_open's data). A handler that throws (or whose promise rejects) has its comm closed, as
 * ipykernel. Registering a name again replaces its handler.
 */
export function registerTarget(name: string, handler: CommTargetHandler): void {
  if (typeof name !== "string" || name === "") throw new TypeError("comms.registerTarget() needs a target name");
  if (typeof handler !== "function") throw new TypeError("comms.registerTarget() needs a handler function");
  state().targets.set(name, handler);
}

/** Stop accepting comms to `name` (open ones stay open). True when it was registered. */
export function unregisterTarget(name: string): boolean {
  return state().targets.delete(name);
}

/**
 * Open a comm from this side to the frontend's target `target` (comm_open with data, metadata and
 * buffers). `options.commId` chooses its id (default a random one, as ipykernel's uuid4().hex).
 * Without a kernel the comm works but its messages go nowhere.
 */
export function open(
  target: string,
  data: unknown = {},
  metadata: Record<string, unknown> = {},
  buffers: readonly CommBuffer[] = [],
  options: { commId?: string } = {},
): Comm {
  if (typeof target !== "string" || target === "") throw new TypeError("comms.open() needs a target name");
  const s = state();
  const id = options.commId ?? randomUUID().replace(/-/g, "");
  if (s.comms.has(id)) throw new Error(`comms.open(): a comm with id ${id} is already open`);
  const frames = toUint8Arrays(buffers);
  const comm = new Comm(id, target);
  s.comms.set(id, comm);
  try {
    s.transport?.send("comm_open", { comm_id: id, target_name: target, data }, metadata, frames);
  } catch (err) {
    s.comms.delete(id);
    throw err;
  }
  return comm;
}

/** The open comm with this id, if any. */
export function get(id: string): Comm | undefined {
  return state().comms.get(id);
}

/** The open comms, optionally only those to one target. */
export function list(target?: string): Comm[] {
  return [...state().comms.values()].filter((c) => target === undefined || c.target === target);
}

/** True when a kernel has installed a transport (messages reach a frontend, if one listens). */
export function available(): boolean {
  return state().transport !== undefined;
}

/** The user-facing API, as `lepton.comms`. */
export const comms = Object.freeze({ registerTarget, unregisterTarget, open, get, list, available });

// -------------------------------------------------------------------------------------------------
// The kernel's side: install the transport, hand over the frontend's messages.
// -------------------------------------------------------------------------------------------------

/** Install (or with `undefined`, remove) the transport comm messages go out through. Used by the kernel. */
export function setCommTransport(transport: CommTransport | undefined): void {
  state().transport = transport;
}

export function hasCommTarget(name: string): boolean {
  return state().targets.has(name);
}

export function hasComm(id: string): boolean {
  return state().comms.has(id);
}

/**
 * A comm_open from the frontend. To a registered target: the comm is made and the handler awaited
 * ("opened"; "failed" when it threw, and the comm is closed). To an unknown target: comm_close is sent
 * back ("unknown-target"). A comm_open for an id already open is ignored ("duplicate").
 */
export async function deliverCommOpen(raw: IncomingCommMessage): Promise<"opened" | "failed" | "unknown-target" | "duplicate"> {
  const s = state();
  const content = raw.content ?? {};
  const id = String(content.comm_id ?? "");
  const target = String(content.target_name ?? "");
  if (s.comms.has(id)) return "duplicate";
  const handler = s.targets.get(target);
  if (!handler) {
    s.transport?.send("comm_close", { comm_id: id, data: {} }, {}, []);
    return "unknown-target";
  }
  const comm = new Comm(id, target);
  s.comms.set(id, comm);
  try {
    await handler(comm, message(content, raw, "frontend"));
    return "opened";
  } catch (err) {
    report(`handler of target "${target}" (opening comm ${id})`, undefined, err);
    comm.close();
    return "failed";
  }
}

/** A comm_msg from the frontend: its comm's onMsg callbacks, awaited. False when no such comm is open. */
export async function deliverCommMsg(raw: IncomingCommMessage): Promise<boolean> {
  const comm = state().comms.get(String(raw.content?.comm_id ?? ""));
  if (!comm) return false;
  await comm._deliver(message(raw.content ?? {}, raw, "frontend"));
  return true;
}

/** A comm_close from the frontend: the comm is closed here (nothing sent back), onClose awaited. False when no such comm. */
export async function deliverCommClose(raw: IncomingCommMessage): Promise<boolean> {
  const comm = state().comms.get(String(raw.content?.comm_id ?? ""));
  if (!comm) return false;
  await comm._peerClosed(message(raw.content ?? {}, raw, "frontend"));
  return true;
}

/** comm_info_reply's `comms`: {comm_id: {target_name}} of the open comms, only those to `targetName` when given. */
export function commInfo(targetName?: string | null): Record<string, { target_name: string }> {
  const out: Record<string, { target_name: string }> = {};
  for (const comm of state().comms.values()) {
    if (targetName !== undefined && targetName !== null && comm.target !== targetName) continue;
    out[comm.id] = { target_name: comm.target };
  }
  return out;
}

/** The kernel is ending: every open comm is closed (comm_close sent, onClose callbacks run and awaited). */
export async function closeAllComms(): Promise<void> {
  const s = state();
  const open = [...s.comms.values()];
  const done: Promise<void>[] = [];
  for (const comm of open) {
    try {
      s.transport?.send("comm_close", { comm_id: comm.id, data: {} }, {}, []);
    } catch (err) {
      report("comm_close at shutdown", comm, err);
    }
    done.push(comm._peerClosed(message({ comm_id: comm.id, data: {} }, undefined, "kernel")));
  }
  await Promise.all(done);
}
