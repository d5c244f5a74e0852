/**
 * The Lepton kernel: a Jupyter kernel (messaging protocol 5.3 over zeromq) that runs TypeScript cells
 * through tslab's compiler and executor (src/kernel/executor.ts) and adds what tslab lacks: results as
 * `execute_result` rich displays, `error` messages, `execute_input`, display ids and updates through
 * lepton's display sink, interrupts, a correct comm_info_reply, and queued-cell abort after an error.
 */
import { readFileSync } from "fs";
import { TextDecoder } from "util";
import { Signer, makeHeader, InvalidSignatureError, PROTOCOL_VERSION, type ConnectionInfo, type Message, type MessageHeader } from "./wire";
import { CellExecutor, cellStorage, type CellContext } from "./executor";
import { noteCellStarted } from "../display/cells";
import { setDisplaySink, toMimeBundle, type MimeBundle, type MimeMetadata } from "../display/display";

type ZmqSocket = {
  bind(addr: string): Promise<void>;
  send(frames: unknown): Promise<void>;
  close(): void;
  [Symbol.asyncIterator](): AsyncIterator<Buffer[]>;
};

/** Serialises sends on one zeromq socket (zeromq 6 allows one send in flight per socket). */
class SendQueue {
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
}

export class KernelServer {
  private readonly conn: ConnectionInfo;
  private readonly signer: Signer;
  private readonly session = makeHeader("", "").msg_id;
  private sockets!: { shell: ZmqSocket; control: ZmqSocket; stdin: ZmqSocket; iopub: ZmqSocket; hb?: ZmqSocket };
  private heartbeat: import("worker_threads").Worker | undefined;
  private closeHeartbeat: (() => void) | undefined;
  private iopub!: SendQueue;
  private shell!: SendQueue;
  private control!: SendQueue;
  private executor!: CellExecutor;
  private executionCount = 0;
  private executeChain: Promise<void> = Promise.resolve();
  private received = 0;
  /** Execute requests received at or before this sequence number are aborted (after an error). */
  private abortThrough = -1;
  private lastParent: MessageHeader | undefined;
  private closed = false;
  private readonly graceMs: number | undefined;

  constructor(options: KernelServerOptions) {
    this.conn = JSON.parse(readFileSync(options.connectionFile, "utf8"));
    this.signer = new Signer(this.conn.key, this.conn.signature_scheme || "hmac-sha256");
    this.graceMs = options.graceMs;
  }

  async start(): Promise<void> {
    this.executor = new CellExecutor({ graceMs: this.graceMs });
    const zmq = require("zeromq");
    this.sockets = {
      shell: new zmq.Router(),
      control: new zmq.Router(),
      stdin: new zmq.Router(),
      iopub: new zmq.Publisher(),
    };
    const c = this.conn;
    const addr = (port: number) => (c.transport === "ipc" ? `ipc://${c.ip}-${port}` : `${c.transport}://${c.ip}:${port}`);
    await Promise.all([
      this.sockets.shell.bind(addr(c.shell_port)),
      this.sockets.control.bind(addr(c.control_port)),
      this.sockets.stdin.bind(addr(c.stdin_port)),
      this.sockets.iopub.bind(addr(c.iopub_port)),
      this.startHeartbeat(addr(c.hb_port), zmq),
    ]);
    this.iopub = new SendQueue(this.sockets.iopub);
    this.shell = new SendQueue(this.sockets.shell);
    this.control = new SendQueue(this.sockets.control);
    this.installOutputCapture();
    this.installDisplaySink();
    this.publish("status", { execution_state: "starting" }, {});
    void this.loop(this.sockets.shell, (frames) => this.onShell(frames));
    void this.loop(this.sockets.control, (frames) => this.onControl(frames));
    process.on("SIGINT", () => {
      trace("SIGINT");
      this.executor.interrupt();
    });
  }

  /**
   * The heartbeat echoes on its own thread, so a frontend that pings it still sees the kernel alive
   * while a cell computes synchronously. Falls back to the main thread if a worker cannot bind.
   */
  private async startHeartbeat(address: string, zmq: any): Promise<void> {
    try {
      const { Worker } = require("worker_threads");
      const source = [
        `const { workerData, parentPort } = require("worker_threads");`,
        `const zmq = require(workerData.zeromq);`,
        `const sock = new zmq.Reply();`,
        `sock.bind(workerData.address).then(async () => {`,
        `  parentPort.postMessage("bound");`,
        `  for await (const frames of sock) await sock.send(frames);`,
        `}, (err) => parentPort.postMessage("failed: " + (err && err.message)));`,
        `parentPort.on("message", (m) => {`,
        `  if (m !== "close") return;`,
        `  sock.close();`,
        `  Atomics.store(workerData.closed, 0, 1);`,
        `  Atomics.notify(workerData.closed, 0);`,
        `  parentPort.close();`,
        `});`,
      ].join("\n");
      const closed = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(source, { eval: true, workerData: { address, zeromq: require.resolve("zeromq"), closed } });
      const status: string = await new Promise((resolve) => {
        worker.once("message", resolve);
        worker.once("error", (err: Error) => resolve(`failed: ${err.message}`));
      });
      if (status !== "bound") throw new Error(status);
      worker.unref();
      this.heartbeat = worker;
      // A process that ends with the worker's socket open aborts in zeromq's teardown, so close it first,
      // also when a cell calls process.exit().
      const closeNow = () => {
        if (Atomics.load(closed, 0) === 1) return;
        worker.postMessage("close");
        Atomics.wait(closed, 0, 0, 1000);
      };
      this.closeHeartbeat = closeNow;
      const realExit = process.exit.bind(process);
      process.exit = ((code?: number) => {
        closeNow();
        return realExit(code);
      }) as typeof process.exit;
      trace("heartbeat on a worker thread");
    } catch (err: any) {
      trace(`heartbeat on the main thread (${err?.message ?? err})`);
      const hb = new zmq.Reply();
      await hb.bind(address);
      this.sockets.hb = hb;
      void this.loop(hb, (frames) => hb.send(frames));
    }
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
      else logToTerminal(`lepton kernel: dropped a malformed message: ${(err as Error).message}`);
      return undefined;
    }
  }

  private reply(queue: SendQueue, parent: Message, msgType: string, content: unknown): void {
    const header = makeHeader(msgType, this.session);
    queue.send(this.signer.encode({ header, parent_header: parent.header, metadata: {}, content, identities: parent.identities }));
  }

  private publish(msgType: string, content: unknown, parentHeader: Partial<MessageHeader>): void {
    // Text written before this message goes out first.
    if (this.pendingStream) this.flushStream();
    const header = makeHeader(msgType, this.session);
    this.iopub.send(this.signer.encode({ header, parent_header: parentHeader, metadata: {}, content }));
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
    this.publish("status", { execution_state: "busy" }, msg.header);
    try {
      this.handleQuick(this.shell, msg);
    } finally {
      this.publish("status", { execution_state: "idle" }, msg.header);
    }
  }

  private async onControl(frames: Buffer[]): Promise<void> {
    const msg = this.decode(frames);
    if (!msg) return;
    this.publish("status", { execution_state: "busy" }, msg.header);
    try {
      this.handleQuick(this.control, msg);
    } finally {
      this.publish("status", { execution_state: "idle" }, msg.header);
    }
  }

  private handleQuick(queue: SendQueue, msg: Message): void {
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
      case "is_complete_request": {
        const { isCompleteCode } = require("tslab/dist/converter");
        const res = isCompleteCode(String(c.code ?? ""));
        return this.reply(queue, msg, "is_complete_reply", res.completed ? { status: "complete" } : { status: "incomplete", indent: res.indent ?? "" });
      }
      case "comm_info_request":
        return this.reply(queue, msg, "comm_info_reply", { status: "ok", comms: {} });
      case "history_request":
        return this.reply(queue, msg, "history_reply", { status: "ok", history: [] });
      case "interrupt_request":
        this.executor.interrupt();
        return this.reply(queue, msg, "interrupt_reply", { status: "ok" });
      case "shutdown_request":
        this.reply(queue, msg, "shutdown_reply", { status: "ok", restart: !!c.restart });
        void this.shutdown();
        return;
      case "comm_open":
        // No comm targets: close it so the frontend does not wait.
        this.publish("comm_close", { comm_id: c.comm_id, data: {} }, msg.header);
        return;
      case "comm_msg":
      case "comm_close":
        return;
      default:
        logToTerminal(`lepton kernel: unsupported message type ${msg.header.msg_type}`);
    }
  }

  private kernelInfo() {
    let tsVersion = "5.0";
    try {
      tsVersion = require(require.resolve("@tslab/typescript-for-tslab/package.json", { paths: [require.resolve("tslab")] })).version;
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
      if (seq <= this.abortThrough) {
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
      this.lastParent = msg.header;
      const context: CellContext = { parent: msg.header, interrupted: false, running: false };
      trace(`execute ${msg.header.msg_id} starts`);
      const outcome = await this.executor.run(code, context);
      trace(`execute ${msg.header.msg_id} ends: ${outcome.ok ? "ok" : outcome.ename}`);
      if (outcome.ok) {
        if (outcome.hasValue && !silent) {
          let data: MimeBundle;
          try {
            data = jsonifyBundle(toMimeBundle(outcome.value));
          } catch (err) {
            data = { "text/plain": `(the value could not be displayed: ${(err as Error).message})` };
          }
          this.publish("execute_result", { execution_count: count, data, metadata: {} }, msg.header);
        }
        this.reply(this.shell, msg, "execute_reply", { status: "ok", execution_count: count, user_expressions: {}, payload: [] });
      } else {
        const { ename, evalue, traceback } = outcome;
        this.publish("error", { ename, evalue, traceback }, msg.header);
        this.reply(this.shell, msg, "execute_reply", { status: "error", execution_count: count, ename, evalue, traceback });
        if (c.stop_on_error !== false) this.abortThrough = this.received - 1;
      }
    } finally {
      this.publish("status", { execution_state: "idle" }, msg.header);
    }
  }

  /** The parent header for output: the cell that is running this code, else the last cell. */
  private outputParent(): Partial<MessageHeader> {
    const context = cellStorage.getStore();
    return ((context?.parent as MessageHeader | undefined) ?? this.lastParent ?? {}) as Partial<MessageHeader>;
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
    process.on("uncaughtException", (err) => {
      process.stderr.write(`Uncaught exception: ${err?.stack ?? err}\n`);
    });
    process.on("unhandledRejection", (reason: any) => {
      if (reason?.name === "InterruptedError") return;
      process.stderr.write(`Unhandled promise rejection: ${reason?.stack ?? reason}\n`);
    });
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
    });
    // tslab's own `display` API (import { display } from "tslab") goes to the same place.
    try {
      const tslabJupyter = require("tslab/dist/jupyter");
      tslabJupyter.lastWriteDisplayData = (data: any, update: boolean) =>
        send(update ? "update_display_data" : "display_data", data.data ?? {}, data.metadata ?? {}, data.transient?.display_id);
    } catch {
      /* tslab's display API unavailable */
    }
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flushStream();
    await Promise.race([Promise.all([this.iopub.flushed(), this.shell.flushed(), this.control.flushed()]), new Promise((r) => setTimeout(r, 500))]);
    for (const s of Object.values(this.sockets)) s?.close();
    this.closeHeartbeat?.();
    this.executor.close();
    process.exit(0);
  }
}
