/**
 * The Lepton kernel: a Jupyter kernel (messaging protocol 5.3 over zeromq) that runs TypeScript cells
 * through tslab's compiler and executor (src/kernel/executor.ts) and adds what tslab lacks: results as
 * `execute_result` rich displays, `error` messages, `execute_input`, display ids and updates through
 * lepton's display sink, interrupts, comms (lepton.comms, src/display/comms.ts) and queued-cell abort
 * after an error.
 */
import { readFileSync } from "fs";
import path from "path";
import { TextDecoder } from "util";
import { Signer, makeHeader, InvalidSignatureError, DuplicateSignatureError, PROTOCOL_VERSION, type ConnectionInfo, type Message, type MessageHeader } from "./wire";
import { CellExecutor, cellStorage, describeError, interruptFlag, type CellContext } from "./executor";
import { CellHistory } from "./history";
import { isComplete } from "./is_complete";
import { tslab } from "./tslab";
import { parentToWatch, whenParentGone, type ParentWatch } from "./parent";
import { noteCellStarted, runBeforeCellEnds } from "../display/cells";
import { plainText, resultBundle, setDisplaySink, type MimeBundle, type MimeMetadata } from "../display/display";
import { closeAllComms, commInfo, deliverCommClose, deliverCommMsg, deliverCommOpen, hasComm, hasCommTarget, setCommTransport } from "../display/comms";
import { setInputProvider, StdinNotAvailableError, type InputRequest } from "../runtime/stdin";
import { InterruptedError } from "../runtime/interrupt";

type ZmqSocket = {
  bind(addr: string): Promise<void>;
  send(frames: unknown): Promise<void>;
  close(): void;
  [Symbol.asyncIterator](): AsyncIterator<Buffer[]>;
};

/** Serialises sends on one zeromq socket (zeromq 6 allows one send in flight per socket). */
interface Sender {
  send(frames: Buffer[]): void;
  flushed(): Promise<void>;
}

class SendQueue implements Sender {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly socket: ZmqSocket) {}
  send(frames: Buffer[]): void {
    this.tail = this.tail.then(() => this.socket.send(frames)).catch((err) => logToTerminal(`lepton kernel: send failed: ${err?.message ?? err}`));
  }
  flushed(): Promise<void> {
    return this.tail;
  }
}

const realStderrWrite = process.stderr.write.bind(process.stderr);
// Captured before the executor guards the global timers (an interrupted cell's timers throw).
const realSetImmediate: typeof setImmediate = setImmediate;
const TRACE = !!process.env.LEPTON_KERNEL_TRACE;
const started = Date.now();
/** With LEPTON_KERNEL_TRACE=1 the kernel logs what it receives and does (to its terminal). */
function trace(text: string): void {
  if (TRACE) logToTerminal(`[lepton kernel +${Date.now() - started} ms] ${text}`);
}
function logToTerminal(text: string): void {
  realStderrWrite(text.endsWith("\n") ? text : text + "\n");
}

/** JSON mime types carry objects on the wire (nbformat keeps them as JSON, not strings). */
export function jsonifyBundle(bundle: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [mime, value] of Object.entries(bundle)) {
    if (typeof value === "string" && /^application\/(.+\+)?json$/.test(mime)) {
      try {
        out[mime] = JSON.parse(value);
        continue;
      } catch {
        /* keep the string */
      }
    }
    out[mime] = value;
  }
  return out;
}

export interface KernelServerOptions {
  connectionFile: string;
  graceMs?: number;
  /** The parent the process started with (the launcher reads it first thing); default process.ppid now. */
  parentPid?: number;
}

/** Set by `process.exit()` in a cell: the kernel replies to the cell, then shuts down (IPython's `exit()`). */
class ExitRequested extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code}) was called: the kernel replies to this cell, then shuts down.`);
    this.name = "ExitRequested";
  }
}

export class KernelServer {
  private readonly conn: ConnectionInfo;
  private readonly signer: Signer;
  private readonly session = makeHeader("", "").msg_id;
  private sockets!: { shell: ZmqSocket; stdin: ZmqSocket; iopub: ZmqSocket; control?: ZmqSocket; hb?: ZmqSocket };
  private controlThread: import("worker_threads").Worker | undefined;
  private sigintThread: { worker: import("worker_threads").Worker; stop: Int32Array } | undefined;
  private closeControlThread: (() => void) | undefined;
  private iopub!: SendQueue;
  private shell!: SendQueue;
  private control!: Sender;
  private stdin!: SendQueue;
  private executor!: CellExecutor;
  private readonly history = new CellHistory();
  private executionCount = 0;
  private executeChain: Promise<void> = Promise.resolve();
  private received = 0;
  /** Execute requests received at or before this sequence number are aborted (after an error). */
  private abortThrough = -1;
  /** The execute_request that is running now, and the one that ran last. */
  private running: Message | undefined;
  private lastParent: MessageHeader | undefined;
  private exitCode: number | undefined;
  private pendingInput: { resolve: (value: string) => void; reject: (err: Error) => void } | undefined;
  private closed = false;
  private readonly reported = new WeakSet<object>();
  /** The process whose end ends the kernel (see ./parent). */
  private readonly parent: ParentWatch | undefined;
  private readonly graceMs: number | undefined;

  constructor(options: KernelServerOptions) {
    this.conn = JSON.parse(readFileSync(options.connectionFile, "utf8"));
    this.signer = new Signer(this.conn.key, this.conn.signature_scheme || "hmac-sha256", { rejectReplays: true });
    this.graceMs = options.graceMs;
    this.parent = parentToWatch(process.env, options.parentPid ?? process.ppid);
  }

  async start(): Promise<void> {
    this.executor = new CellExecutor({ graceMs: this.graceMs });
    const zmq = require("zeromq");
    this.sockets = {
      shell: new zmq.Router(),
      stdin: new zmq.Router(),
      iopub: new zmq.Publisher(),
    };
    const c = this.conn;
    const addr = (port: number) => (c.transport === "ipc" ? `ipc://${c.ip}-${port}` : `${c.transport}://${c.ip}:${port}`);
    const bind = async (socket: ZmqSocket, channel: string, port: number) => {
      try {
        await socket.bind(addr(port));
      } catch (err: any) {
        throw new Error(`cannot listen for the ${channel} channel on ${addr(port)}: ${err?.message ?? err}` +
          (/in use/i.test(String(err?.message)) ? ` (another process has port ${port}; start the kernel again so that Jupyter picks free ports)` : ""));
      }
    };
    await Promise.all([
      bind(this.sockets.shell, "shell", c.shell_port),
      bind(this.sockets.stdin, "stdin", c.stdin_port),
      bind(this.sockets.iopub, "iopub", c.iopub_port),
      this.startControlThread(addr(c.hb_port), addr(c.control_port), zmq, bind),
    ]);
    this.iopub = new SendQueue(this.sockets.iopub);
    this.shell = new SendQueue(this.sockets.shell);
    this.stdin = new SendQueue(this.sockets.stdin);
    this.installOutputCapture();
    this.installDisplaySink();
    this.installCommTransport();
    this.installInputProvider();
    this.installExit();
    this.publish("status", { execution_state: "starting" }, {});
    void this.loop(this.sockets.shell, (frames) => this.onShell(frames));
    void this.loop(this.sockets.stdin, (frames) => this.onStdin(frames));
    if (this.sockets.control) void this.loop(this.sockets.control, (frames) => this.onControl(frames));
    this.startSigintThread();
    this.watchParent();
  }

  /**
   * Heartbeat and control run on their own thread (./control_thread), so a frontend that pings the
   * heartbeat sees the kernel alive, and an interrupt_request reaches the running cell, while a cell
   * computes synchronously. Falls back to the main thread if the worker cannot start.
   */
  private async startControlThread(hbAddress: string, controlAddress: string, zmq: any, bind: (s: ZmqSocket, channel: string, port: number) => Promise<void>): Promise<void> {
    const c = this.conn;
    let failure: string | undefined;
    try {
      const { Worker } = require("worker_threads");
      const closed = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(path.join(__dirname, "control_thread.js"), {
        workerData: {
          hbAddress, controlAddress, key: c.key, scheme: c.signature_scheme || "hmac-sha256", session: this.session,
          zeromq: require.resolve("zeromq"), interruptFlag, closed, parent: this.parent,
        },
      });
      const status: any = await new Promise((resolve) => {
        worker.once("message", resolve);
        worker.once("error", (err: Error) => resolve({ kind: "failed", error: err.message }));
      });
      if (status?.kind !== "bound") {
        failure = String(status?.error ?? "the control thread did not start");
        void worker.terminate();
        throw new Error(failure);
      }
      worker.unref();
      worker.on("message", (m: any) => this.onControlThread(m));
      worker.on("exit", (code: number) => {
        if (!this.closed) logToTerminal(`lepton kernel: the control thread ended (code ${code}); heartbeat and control no longer answer`);
      });
      this.controlThread = worker;
      this.control = {
        send: (frames) => worker.postMessage({ kind: "send", frames }),
        flushed: () => Promise.resolve(),
      };
      // A process that ends with the worker's sockets open aborts in zeromq's teardown: close them first.
      this.closeControlThread = () => {
        if (Atomics.load(closed, 0) === 1) return;
        worker.postMessage({ kind: "close" });
        Atomics.wait(closed, 0, 0, 1000);
      };
      trace("heartbeat and control on a worker thread");
    } catch (err: any) {
      // A port that is taken fails on any thread: say so instead of trying again here.
      if (failure && /cannot listen/.test(failure)) throw new Error(failure);
      trace(`heartbeat and control on the main thread (${err?.message ?? err})`);
      const hb = new zmq.Reply();
      const control = new zmq.Router();
      await bind(hb, "heartbeat", c.hb_port);
      await bind(control, "control", c.control_port);
      this.sockets.hb = hb;
      this.sockets.control = control;
      this.control = new SendQueue(control);
      void this.loop(hb, (frames) => hb.send(frames));
    }
  }

  private onControlThread(m: any): void {
    switch (m?.kind) {
      case "interrupt":
        trace("interrupt_request (control thread)");
        this.interrupt();
        return;
      case "control": {
        const msg = m.msg as Message;
        msg.identities = (msg.identities ?? []).map((id: Uint8Array) => Buffer.from(id));
        msg.buffers = (msg.buffers ?? []).map((b: Uint8Array) => Buffer.from(b));
        this.handleControl(msg);
        return;
      }
      case "log":
        logToTerminal(String(m.text));
        return;
      case "parent-gone":
        this.parentEnded(Number(m.pid));
        return;
    }
  }

  /**
   * SIGINT is watched on a thread of its own (./sigint_thread), which sets the shared interrupt flag even
   * while this thread computes. No `process.on("SIGINT")` listener is added here while it runs: Node
   * re-installs its own SIGINT handler over the watcher's whenever such listeners change.
   */
  private startSigintThread(): void {
    if (process.platform === "win32" || process.env.LEPTON_SIGINT_THREAD === "0") {
      process.on("SIGINT", () => this.interrupt());
      return;
    }
    // A permanent listener first: with it Node never drops its SIGINT handling to the default action (end
    // the process) when a cell adds and removes listeners of its own; the watcher thread's handler,
    // installed after it, takes the signal while the watcher runs.
    process.on("SIGINT", () => this.interrupt());
    try {
      const { Worker } = require("worker_threads");
      const stop = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(path.join(__dirname, "sigint_thread.js"), { workerData: { interruptFlag, stop } });
      // vm's breakOnSigint would remove every SIGINT listener while a cell starts (and so restore the
      // default action): the watcher covers that part of a cell too.
      this.executor.breakOnSigint = false;
      worker.unref();
      worker.on("message", (m: unknown) => {
        if (m === "sigint") {
          trace("SIGINT");
          this.interrupt();
        }
      });
      worker.on("error", (err: Error) => {
        logToTerminal(`lepton kernel: the SIGINT watcher stopped (${err.message}); interrupts now reach only cells that await`);
        this.executor.breakOnSigint = true;
      });
      this.sigintThread = { worker, stop };
    } catch (err: any) {
      trace(`SIGINT on the main thread (${err?.message ?? err})`);
      this.executor.breakOnSigint = true;
    }
  }

  /**
   * The kernel ends when the process that started it dies, as ipykernel's parent poller: the process in
   * JPY_PARENT_PID (jupyter_client sets it), else the parent this process started with.
   */
  private watchParent(): void {
    // The control thread watches when it runs (this thread may be busy in a cell for a long time).
    if (this.controlThread) return;
    const watch = this.parent;
    if (!watch) return;
    whenParentGone(watch, () => this.parentEnded(watch.pid));
  }

  private parentEnded(pid: number): void {
    logToTerminal(`lepton kernel: the process that started it (pid ${pid}) has ended; shutting down`);
    void this.shutdown();
  }

  /** Interrupt from any source: signal, control thread, or a message on the main thread. */
  private interrupt(): void {
    if (this.executor.busy) {
      this.executor.interrupt();
    } else {
      // Nothing is running: an interrupt must not linger for the next cell's first loop.
      Atomics.store(interruptFlag, 0, 0);
    }
    this.pendingInput?.reject(new InterruptedError());
  }

  private async loop(socket: ZmqSocket, handle: (frames: Buffer[]) => unknown): Promise<void> {
    try {
      for await (const frames of socket as any as AsyncIterable<Buffer[]>) {
        try {
          await handle(frames);
        } catch (err: any) {
          logToTerminal(`lepton kernel: ${err?.stack ?? err}`);
        }
      }
    } catch (err: any) {
      if (!this.closed) logToTerminal(`lepton kernel: socket loop ended: ${err?.message ?? err}`);
    }
  }

  private decode(frames: Buffer[]): Message | undefined {
    try {
      return this.signer.decode(frames);
    } catch (err) {
      if (err instanceof InvalidSignatureError) logToTerminal("lepton kernel: dropped a message with an invalid signature");
      else if (err instanceof DuplicateSignatureError) logToTerminal("lepton kernel: dropped a message whose signature it has seen before (a replay)");
      else logToTerminal(`lepton kernel: dropped a malformed message: ${(err as Error).message}`);
      return undefined;
    }
  }

  private reply(queue: Sender, parent: Message, msgType: string, content: unknown): void {
    const header = makeHeader(msgType, this.session);
    queue.send(this.signer.encode({ header, parent_header: parent.header, metadata: {}, content, identities: parent.identities }));
  }

  private publish(msgType: string, content: unknown, parentHeader: Partial<MessageHeader>, metadata: Record<string, unknown> = {}, buffers?: Buffer[]): void {
    // Text written before this message goes out first.
    if (this.pendingStream) this.flushStream();
    const header = makeHeader(msgType, this.session);
    this.iopub.send(this.signer.encode({ header, parent_header: parentHeader, metadata, content, buffers }));
  }

  private async onShell(frames: Buffer[]): Promise<void> {
    const msg = this.decode(frames);
    if (!msg) return;
    const type = msg.header.msg_type;
    trace(`shell ${type} ${msg.header.msg_id}`);
    if (type === "execute_request") {
      const seq = this.received++;
      // Executions run one at a time, in order; other requests are answered at once.
      this.executeChain = this.executeChain.then(() => this.execute(msg, seq));
      return;
    }
    if (type === "comm_open" || type === "comm_msg" || type === "comm_close") {
      this.handleComm(msg);
      return;
    }
    this.publish("status", { execution_state: "busy" }, msg.header);
    try {
      this.handleQuick(this.shell, msg);
    } finally {
      this.publish("status", { execution_state: "idle" }, msg.header);
    }
  }

  private async onControl(frames: Buffer[]): Promise<void> {
    const msg = this.decode(frames);
    if (msg) this.handleControl(msg);
  }

  private handleControl(msg: Message): void {
    this.publish("status", { execution_state: "busy" }, msg.header);
    try {
      this.handleQuick(this.control, msg);
    } finally {
      this.publish("status", { execution_state: "idle" }, msg.header);
    }
  }

  /** stdin: the frontend's answer to an input_request. */
  private onStdin(frames: Buffer[]): void {
    const msg = this.decode(frames);
    if (!msg) return;
    if (msg.header.msg_type !== "input_reply") {
      logToTerminal(`lepton kernel: unexpected ${msg.header.msg_type} on the stdin channel`);
      return;
    }
    const pending = this.pendingInput;
    if (!pending) return;
    pending.resolve(String(msg.content?.value ?? ""));
  }

  private handleQuick(queue: Sender, msg: Message): void {
    const c = msg.content ?? {};
    switch (msg.header.msg_type) {
      case "kernel_info_request":
        return this.reply(queue, msg, "kernel_info_reply", this.kernelInfo());
      case "complete_request": {
        const info = this.executor.complete(String(c.code ?? ""), Number(c.cursor_pos ?? 0));
        return this.reply(queue, msg, "complete_reply", {
          status: "ok", matches: info.candidates, cursor_start: info.start, cursor_end: info.end, metadata: {},
        });
      }
      case "inspect_request": {
        const text = this.executor.inspect(String(c.code ?? ""), Number(c.cursor_pos ?? 0));
        return this.reply(queue, msg, "inspect_reply", text === undefined
          ? { status: "ok", found: false, data: {}, metadata: {} }
          : { status: "ok", found: true, data: { "text/plain": text }, metadata: {} });
      }
      case "is_complete_request":
        return this.reply(queue, msg, "is_complete_reply", isComplete(String(c.code ?? "")));
      case "comm_info_request": {
        const target = typeof c.target_name === "string" ? c.target_name : undefined;
        return this.reply(queue, msg, "comm_info_reply", { status: "ok", comms: commInfo(target) });
      }
      case "history_request":
        return this.reply(queue, msg, "history_reply", this.history.reply(c));
      case "interrupt_request":
        this.interrupt();
        return this.reply(queue, msg, "interrupt_reply", { status: "ok" });
      case "shutdown_request":
        this.reply(queue, msg, "shutdown_reply", { status: "ok", restart: !!c.restart });
        void this.shutdown();
        return;
      case "comm_open":
      case "comm_msg":
      case "comm_close":
        // Comm messages belong on shell (onShell hands them to handleComm); on control they are refused.
        logToTerminal(`lepton kernel: ignored a ${msg.header.msg_type} on the control channel`);
        return;
      default:
        logToTerminal(`lepton kernel: unsupported message type ${msg.header.msg_type}`);
    }
  }

  private kernelInfo() {
    let tsVersion = "5.0";
    try {
      tsVersion = tslab().typescript().version;
    } catch {
      /* keep the default */
    }
    let version = "0.0.0";
    try {
      version = require("../../../package.json").version;
    } catch {
      /* keep the default */
    }
    return {
      status: "ok",
      protocol_version: PROTOCOL_VERSION,
      implementation: "lepton",
      implementation_version: version,
      language_info: {
        name: "typescript",
        version: tsVersion,
        mimetype: "text/typescript",
        file_extension: ".ts",
        codemirror_mode: { mode: "typescript", name: "javascript", typescript: true },
      },
      banner: `Lepton ${version}: TypeScript ${tsVersion} on Node.js ${process.version} (tslab)`,
      help_links: [],
    };
  }

  private async execute(msg: Message, seq: number): Promise<void> {
    const c = msg.content ?? {};
    const code = String(c.code ?? "");
    const silent = !!c.silent;
    const storeHistory = c.store_history ?? !silent;
    this.publish("status", { execution_state: "busy" }, msg.header);
    try {
      if (seq <= this.abortThrough || this.closed || this.exitCode !== undefined) {
        this.reply(this.shell, msg, "execute_reply", { status: "aborted", execution_count: this.executionCount });
        return;
      }
      if (storeHistory && !silent) this.executionCount++;
      const count = this.executionCount;
      if (!silent) {
        this.publish("execute_input", { code, execution_count: count }, msg.header);
        // The frontend has cleared this cell's outputs; lepton.plot re-sends plotly.js if they held it.
        const cellId = (msg.metadata as { cellId?: unknown } | undefined)?.cellId;
        noteCellStarted({ cellId: typeof cellId === "string" ? cellId : undefined, code });
      }
      if (storeHistory && !silent) this.history.record(count, code);
      this.lastParent = msg.header;
      this.running = msg;
      const context: CellContext = { parent: msg.header, interrupted: false, running: false };
      trace(`execute ${msg.header.msg_id} starts`);
      let outcome = await this.executor.run(code, context);
      // Displays that hold back an update (live charts) send their final state inside the cell.
      runBeforeCellEnds();
      this.running = undefined;
      trace(`execute ${msg.header.msg_id} ends: ${outcome.ok ? "ok" : outcome.ename}`);
      const exiting = this.exitCode !== undefined;
      if (!outcome.ok && outcome.ename === "ExitRequested") outcome = { ok: true, hasValue: false };
      if (outcome.ok) {
        if (outcome.hasValue && !silent) {
          let data: MimeBundle;
          try {
            data = jsonifyBundle(resultBundle(outcome.value, msg.header.msg_id));
          } catch (err) {
            data = { "text/plain": `(the value could not be displayed: ${(err as Error).message})` };
          }
          // An empty bundle is a value that shows nothing (a display handle, a record).
          if (Object.keys(data).length > 0) {
            this.publish("execute_result", { execution_count: count, data, metadata: {} }, msg.header);
            if (storeHistory) this.history.recordOutput(count, plainText(data));
          }
        }
        // IPython's exit(): the frontend is told the kernel is leaving on purpose.
        const payload = exiting ? [{ source: "ask_exit", keepkernel: false }] : [];
        this.reply(this.shell, msg, "execute_reply", { status: "ok", execution_count: count, user_expressions: {}, payload });
      } else {
        const { ename, evalue, traceback } = outcome;
        this.publish("error", { ename, evalue, traceback }, msg.header);
        this.reply(this.shell, msg, "execute_reply", { status: "error", execution_count: count, ename, evalue, traceback });
        if (c.stop_on_error !== false) this.abortThrough = this.received - 1;
      }
    } finally {
      this.running = undefined;
      this.pendingInput?.reject(new StdinNotAvailableError("lepton.input(): the cell ended before the answer came."));
      this.publish("status", { execution_state: "idle" }, msg.header);
      if (this.exitCode !== undefined) void this.shutdown(this.exitCode);
    }
  }

  /** Per comm id: the comm messages still being handled, so that one comm's messages are handled in order. */
  private readonly commQueues = new Map<string, Promise<void>>();

  /**
   * comm_open / comm_msg / comm_close from the frontend, as ipykernel: busy, the comm's callbacks with
   * output (console.log, lepton.display, comm.send) parented to this message, idle when they (and any
   * promise they return) are done. Unlike ipykernel a comm message does not wait for a running cell, so
   * a widget can reach an awaiting cell (a stop button for a training loop); the messages of one comm are
   * handled in order. A comm_open to a target nobody registered yet waits for the cells received before
   * it (one of them may register it), then is closed as ipykernel does.
   */
  private handleComm(msg: Message): void {
    const id = String(msg.content?.comm_id ?? "");
    this.publish("status", { execution_state: "busy" }, msg.header);
    const cellsBefore = this.executeChain;
    const previous = this.commQueues.get(id) ?? Promise.resolve();
    const done: Promise<void> = previous
      .then(() => this.deliverComm(msg, cellsBefore))
      .catch((err) => logToTerminal(`lepton kernel: ${msg.header.msg_type} for comm ${id}: ${err?.stack ?? err}`))
      .finally(() => {
        if (this.commQueues.get(id) === done) this.commQueues.delete(id);
        this.publish("status", { execution_state: "idle" }, msg.header);
      });
    this.commQueues.set(id, done);
  }

  private async deliverComm(msg: Message, cellsBefore: Promise<void>): Promise<void> {
    const type = msg.header.msg_type;
    const c = msg.content ?? {};
    const incoming = {
      header: msg.header as unknown as Record<string, unknown>,
      parent_header: msg.parent_header as Record<string, unknown>,
      metadata: msg.metadata,
      content: c,
      buffers: msg.buffers,
    };
    if (type === "comm_open" && !hasCommTarget(String(c.target_name ?? ""))) await cellsBefore.catch(() => undefined);
    if (type !== "comm_open" && !hasComm(String(c.comm_id ?? ""))) {
      trace(`${type} for comm ${c.comm_id}, which is not open`);
      if (type === "comm_msg") logToTerminal(`lepton kernel: a comm_msg for comm ${c.comm_id}, which is not open (ignored)`);
      return;
    }
    // The callbacks run as if this message were a cell: their output and sends have it as parent.
    const context: CellContext = { parent: msg.header, interrupted: false, running: false };
    await cellStorage.run(context, async () => {
      if (type === "comm_open") {
        const outcome = await deliverCommOpen(incoming);
        if (outcome === "unknown-target") logToTerminal(`lepton kernel: no comm target ${JSON.stringify(c.target_name)} is registered; comm ${c.comm_id} closed`);
        else if (outcome === "duplicate") logToTerminal(`lepton kernel: a comm_open for comm ${c.comm_id}, which is already open (ignored)`);
      } else if (type === "comm_msg") {
        await deliverCommMsg(incoming);
      } else {
        await deliverCommClose(incoming);
      }
    });
  }

  /** Comms opened from this side (lepton.comms.open, comm.send, comm.close) go out on IOPub, parented to the code's cell. */
  private installCommTransport(): void {
    setCommTransport({
      send: (msgType, content, metadata, buffers) => {
        const parent = this.outputParent();
        const frames = buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
        cellStorage.exit(() => this.publish(msgType, content, parent, metadata, frames));
      },
    });
  }

  /** The parent header for output: the cell that is running this code, else the last cell. */
  private outputParent(): Partial<MessageHeader> {
    const context = cellStorage.getStore();
    return ((context?.parent as MessageHeader | undefined) ?? this.lastParent ?? {}) as Partial<MessageHeader>;
  }

  /** Where a background error is shown: the cell running now, else the cell that ran last (as ipykernel). */
  private backgroundParent(): Partial<MessageHeader> {
    return (this.running?.header ?? this.lastParent ?? {}) as Partial<MessageHeader>;
  }

  /**
   * stdout/stderr text is gathered and sent as one stream message per burst (at the next turn of the
   * event loop, before any other message, or when 64 KiB have piled up), not one message per write.
   */
  private pendingStream: { name: string; parent: Partial<MessageHeader>; chunks: string[]; size: number } | undefined;

  private bufferStream(name: string, text: string, parent: Partial<MessageHeader>): void {
    const pending = this.pendingStream;
    if (pending && (pending.name !== name || pending.parent.msg_id !== parent.msg_id)) this.flushStream();
    if (!this.pendingStream) {
      this.pendingStream = { name, parent, chunks: [], size: 0 };
      cellStorage.exit(() => realSetImmediate(() => this.flushStream()));
    }
    this.pendingStream.chunks.push(text);
    this.pendingStream.size += text.length;
    if (this.pendingStream.size >= 64 * 1024) this.flushStream();
  }

  private flushStream(): void {
    const pending = this.pendingStream;
    if (!pending) return;
    this.pendingStream = undefined;
    this.publish("stream", { name: pending.name, text: pending.chunks.join("") }, pending.parent);
  }

  /**
   * An error nobody caught (an exception in a timer or callback, a rejected promise nobody awaited) is
   * shown as an `error` output and the kernel goes on, with every variable. An InterruptedError thrown
   * by a loop the interrupt stopped while its cell runs is that cell's own outcome, not shown twice.
   */
  private reportBackgroundError(err: unknown, kind: "exception" | "rejection"): void {
    if (err instanceof ExitRequested) return;
    const interrupted = (err as Error)?.name === "InterruptedError";
    // The running cell was interrupted and this is its own code stopping: the cell ends now, once.
    if (interrupted && this.running && this.executor.currentInterrupted) {
      this.executor.stopInterrupted();
      return;
    }
    if (err !== null && typeof err === "object") {
      if (this.reported.has(err)) return; // a rejection rethrown as an exception by someone's listener
      this.reported.add(err);
    }
    const { ename, evalue, traceback } = describeError(err, { interrupted });
    const what = kind === "exception" ? "an uncaught exception in background code (a timer or a callback)" : "a promise rejection nobody handled (a missing await?)";
    const note = interrupted ? "The interrupt stopped code running in the background." : `The kernel caught ${what}; it keeps running, with every variable.`;
    this.publish("error", { ename, evalue, traceback: [...traceback, "", note] }, this.backgroundParent());
  }

  private installOutputCapture(): void {
    const decoder = new TextDecoder();
    const capture = (name: "stdout" | "stderr") =>
      ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
        const text = typeof chunk === "string" ? chunk : decoder.decode(chunk as Uint8Array);
        this.bufferStream(name, text, this.outputParent());
        const cb = typeof encoding === "function" ? encoding : callback;
        if (typeof cb === "function") process.nextTick(cb as () => void);
        return true;
      }) as typeof process.stdout.write;
    process.stdout.write = capture("stdout");
    process.stderr.write = capture("stderr");
    const report = (err: unknown, kind: "exception" | "rejection") => {
      try {
        this.reportBackgroundError(err, kind);
      } catch (failure) {
        logToTerminal(`lepton kernel: a background error could not be shown: ${(failure as Error)?.message ?? failure}`);
      }
    };
    // The capture callback comes before any 'uncaughtException' listener, so a listener some library
    // adds that rethrows (emscripten's, when a cell calls tf.setBackend("wasm") itself) cannot end the
    // kernel; the listener is the fallback where the callback is already taken.
    try {
      process.setUncaughtExceptionCaptureCallback((err) => report(err, "exception"));
    } catch {
      process.on("uncaughtException", (err) => report(err, "exception"));
    }
    process.on("unhandledRejection", (reason) => report(reason, "rejection"));
  }

  /** `process.exit()` in a cell: the cell ends, its reply is sent, then the kernel shuts down (IPython's exit()). */
  private installExit(): void {
    const realExit = process.exit.bind(process);
    process.exit = ((code?: number | string | null) => {
      if (this.running && !this.closed) {
        this.exitCode = Number(code ?? process.exitCode ?? 0) || 0;
        throw new ExitRequested(this.exitCode);
      }
      this.closeThreads();
      return realExit(code as number);
    }) as typeof process.exit;
  }

  private installDisplaySink(): void {
    const send = (type: string, bundle: MimeBundle, metadata: MimeMetadata, displayId: string | undefined) => {
      const parent = this.outputParent();
      cellStorage.exit(() =>
        this.publish(type, { data: jsonifyBundle(bundle), metadata, transient: displayId ? { display_id: displayId } : {} }, parent),
      );
    };
    setDisplaySink({
      display: (bundle, metadata, displayId) => send("display_data", bundle, metadata, displayId),
      update: (bundle, metadata, displayId) => send("update_display_data", bundle, metadata, displayId),
      clear: (wait) => {
        const parent = this.outputParent();
        cellStorage.exit(() => this.publish("clear_output", { wait }, parent));
      },
      // The execution whose outputs these are (the same id resultBundle gets for its execute_result).
      outputCell: () => this.outputParent().msg_id,
      // Output under another parent (a widget callback's output to the cell that made the widget, an Output
      // widget's capture): the rest of the running context (interrupts, timers) stays as it is.
      currentParent: () => this.outputParent(),
      runWithParent: (parent, fn) => {
        const current = cellStorage.getStore();
        const context: CellContext = current ? Object.assign(Object.create(current), { parent }) : { parent, interrupted: false, running: false };
        return cellStorage.run(context, fn);
      },
    });
    // tslab's own `display` API (import { display } from "tslab") goes to the same place.
    try {
      tslab().hookDisplay((data, update) =>
        send(update ? "update_display_data" : "display_data", data.data ?? {}, data.metadata ?? {}, data.transient?.display_id));
    } catch {
      /* tslab's display API unavailable */
    }
  }

  /** `lepton.input()` / `lepton.password()`: input_request on stdin to the frontend of the running cell. */
  private installInputProvider(): void {
    setInputProvider((request: InputRequest) => {
      const running = this.running;
      if (!running) return Promise.reject(new StdinNotAvailableError("lepton.input() can only ask while a cell runs."));
      if (!running.content?.allow_stdin) {
        return Promise.reject(new StdinNotAvailableError(
          "lepton.input(): this frontend does not take input (its execute_request has allow_stdin false: nbclient, `lepton run`, " +
          "`lepton course` and papermill-style runs cannot answer). Set the value in the notebook instead, e.g. as a parameter (`lepton run -p name=value`).",
        ));
      }
      if (this.pendingInput) return Promise.reject(new StdinNotAvailableError("lepton.input(): another input request is still waiting for its answer."));
      if (this.pendingStream) this.flushStream();
      return new Promise<string>((resolve, reject) => {
        const done = () => (this.pendingInput = undefined);
        this.pendingInput = {
          resolve: (v) => (done(), resolve(v)),
          reject: (e) => (done(), reject(e)),
        };
        const header = makeHeader("input_request", this.session);
        this.stdin.send(this.signer.encode({
          header, parent_header: running.header, metadata: {}, content: { prompt: request.prompt, password: request.password }, identities: running.identities,
        }));
      });
    });
  }

  private closeThreads(): void {
    this.closeControlThread?.();
    this.closeControlThread = undefined;
    if (this.sigintThread) Atomics.store(this.sigintThread.stop, 0, 1);
  }

  async shutdown(code = 0): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Open comms are closed (the frontend is told; their onClose callbacks get a moment to run).
    try {
      await Promise.race([closeAllComms(), new Promise((r) => setTimeout(r, 300))]);
    } catch (err: any) {
      logToTerminal(`lepton kernel: closing the comms at shutdown: ${err?.message ?? err}`);
    }
    this.flushStream();
    await Promise.race([Promise.all([this.iopub.flushed(), this.shell.flushed(), this.control.flushed()]), new Promise((r) => setTimeout(r, 500))]);
    for (const s of Object.values(this.sockets)) s?.close();
    this.closeThreads();
    this.executor.close();
    process.exit(code);
  }
}
