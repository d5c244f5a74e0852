/**
 * A small Jupyter client over zeromq (no Python): starts a kernel from a command line with a fresh
 * connection file, or connects to a running one, and runs code collecting outputs in nbformat shape.
 * Used by `lepton run`, the tests and the course runner.
 *
 *   const kernel = await KernelClient.start({ cwd: "/tmp/nb" });   // the Lepton kernel by default
 *   const { reply, outputs } = await kernel.execute("1 + 1");       // outputs[0].data["text/plain"] === "2"
 *   await kernel.shutdown();
 */
import { spawn, type ChildProcess } from "child_process";
import { randomBytes, randomUUID } from "crypto";
import fs from "fs";
import net from "net";
import os from "os";
import path from "path";
import * as zmq from "zeromq";
import { Signer, makeHeader, type ConnectionInfo, type Message } from "./wire";
import { kernelArgv } from "./spec";

export type Channel = "shell" | "control";

/** An nbformat 4 output. */
export type NotebookOutput =
  | { output_type: "stream"; name: "stdout" | "stderr"; text: string }
  | { output_type: "display_data"; data: Record<string, unknown>; metadata: Record<string, unknown>; transient?: { display_id?: string } }
  | { output_type: "execute_result"; execution_count: number | null; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

export interface ExecuteOptions {
  /** Give up (and interrupt the kernel) after this many ms. */
  timeoutMs?: number;
  /** Called for every iopub message of this execution. */
  onMessage?: (msg: Message) => void;
  stopOnError?: boolean;
  /** The notebook cell's id, sent in the request's metadata as JupyterLab does (`metadata.cellId`). */
  cellId?: string;
}

export interface Execution {
  reply: Message;
  /** Outputs as a notebook stores them (consecutive stream text merged, displays updated in place). */
  outputs: NotebookOutput[];
  /** Every iopub message of this execution, in order. */
  messages: Message[];
}

export interface StartOptions {
  /** Kernel command; "{connection_file}" is replaced. Defaults to the Lepton kernel. */
  argv?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the kernel to answer kernel_info, in ms (default 60 s). */
  startTimeoutMs?: number;
  /** "signal" (SIGINT to the process) or "message" (interrupt_request on control). */
  interruptMode?: "signal" | "message";
  /** The connection file's signature_scheme (default "hmac-sha256"; any "hmac-" + hashlib name, see wire.ts). */
  signatureScheme?: string;
}

export interface ShutdownOptions {
  /** How long to wait for the shutdown reply, then for the process to exit, before SIGKILL (ms, default 5 s each). */
  graceMs?: number;
}

interface Waiter {
  reply?: Message;
  idle: boolean;
  messages: Message[];
  onMessage?: (msg: Message) => void;
  done: () => void;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A new connection description on localhost with free ports and a random key. */
export async function newConnectionInfo(signatureScheme = "hmac-sha256"): Promise<ConnectionInfo> {
  const [shell, iopub, stdin, control, hb] = await freePorts(5);
  return {
    transport: "tcp",
    ip: "127.0.0.1",
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    key: randomBytes(32).toString("hex"),
    signature_scheme: signatureScheme,
    kernel_name: "lepton",
  };
}

/**
 * Kernel processes started here, with the folder holding each one's connection file: killed when this
 * process exits (they run in their own process group), and their connection files removed.
 */
const children = new Map<ChildProcess, string>();
let exitHookInstalled = false;
function track(child: ChildProcess, dir: string): void {
  children.set(child, dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const [c, d] of children) {
      c.kill("SIGKILL");
      removeDir(d);
    }
  });
}

function removeDir(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    /* already gone, or not ours to remove */
  }
}

/** The last `n` non-empty lines of a process's output. */
function lastLines(text: string, n = 20): string[] {
  return text.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "").slice(-n).map((l) => (l.length > 400 ? l.slice(0, 400) + "..." : l));
}

export class KernelClient {
  readonly session = randomUUID();
  readonly signer: Signer;
  private readonly shell = new zmq.Dealer();
  private readonly control = new zmq.Dealer();
  private readonly iopub = new zmq.Subscriber();
  private readonly waiters = new Map<string, Waiter>();
  private readonly sendChains = new Map<zmq.Dealer, Promise<void>>();
  /** update_display_data targets, for outputs of executions run by this client. */
  private readonly displays = new Map<string, { data: Record<string, unknown>; metadata: Record<string, unknown> }[]>();
  private closed = false;
  private exitError: KernelDiedError | undefined;
  /** Set as soon as the kernel process has exited (exitError follows once its last output has arrived). */
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Whether the kernel has answered kernel_info (start-up is over). */
  private started = false;
  /** The connection file written by `start` (removed once the kernel has exited), else undefined. */
  connectionFile: string | undefined;
  process: ChildProcess | undefined;
  interruptMode: "signal" | "message" = "signal";
  stderr = "";
  /**
   * Called with each verified message that answers no request of this client (its parent msg_id is
   * unknown or already settled), e.g. to check that a kernel never answered a forged request.
   */
  onUnclaimedMessage: ((msg: Message, channel: "shell" | "control" | "iopub") => void) | undefined;

  private constructor(readonly connection: ConnectionInfo) {
    this.signer = new Signer(connection.key, connection.signature_scheme);
    const addr = (port: number) => `${connection.transport}://${connection.ip}:${port}`;
    this.shell.connect(addr(connection.shell_port));
    this.control.connect(addr(connection.control_port));
    this.iopub.connect(addr(connection.iopub_port));
    this.iopub.subscribe();
    void this.readReplies(this.shell, "shell");
    void this.readReplies(this.control, "control");
    void this.readIopub();
  }

  /**
   * Start a kernel process and wait until it answers (on shell and on iopub). Its connection file is
   * removed when the process ends, however it ends (shut down, killed here, or died on its own).
   */
  static async start(options: StartOptions = {}): Promise<KernelClient> {
    const conn = await newConnectionInfo(options.signatureScheme);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-kernel-"));
    const file = path.join(dir, "connection.json");
    fs.writeFileSync(file, JSON.stringify(conn), { mode: 0o600 });
    let client: KernelClient;
    try {
      client = new KernelClient(conn);
    } catch (err) {
      removeDir(dir); // e.g. a signature scheme this Node cannot sign with
      throw err;
    }
    client.connectionFile = file;
    const argv = (options.argv ?? kernelArgv()).map((a) => a.replace("{connection_file}", file));
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd ?? process.cwd(),
      // As jupyter_client: the kernel watches this process (not one it inherited the variable from).
      env: { ...(options.env ?? process.env), JPY_PARENT_PID: String(process.pid) },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: a Ctrl-C meant for us is not an interrupt for the kernel.
      detached: process.platform !== "win32",
    });
    track(child, dir);
    client.process = child;
    client.interruptMode = options.interruptMode ?? (process.platform === "win32" ? "message" : "signal");
    child.stdout?.on("data", (d) => (client.stderr = (client.stderr + d).slice(-20_000)));
    child.stderr?.on("data", (d) => (client.stderr = (client.stderr + d).slice(-20_000)));
    let closed = false;
    child.once("close", () => (closed = true));
    const ended = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (client.exited) return;
      client.exited = { code, signal };
      children.delete(child);
      removeDir(dir);
      let reported = false;
      const report = async () => {
        if (reported) return;
        reported = true;
        const stage = client.started ? "running" : "start-up";
        const output = lastLines(client.stderr);
        // A bind failure: name the port(s) of the connection file that another process holds now (the
        // kernel's own sockets died with it).
        const busyPorts = stage === "start-up" && output.some((l) => IN_USE.test(l)) ? await takenPorts(conn).catch(() => []) : [];
        client.exitError = new KernelDiedError({ code, signal, output, stage, spawnError, argv, busyPorts });
        client.failAll(client.exitError);
      };
      // Its last output (stderr through the pipe, iopub messages through zeromq) may still be on the way:
      // wait for the pipes to close, or half a second at most.
      if (closed || spawnError) return void report();
      const t = setTimeout(() => void report(), 500);
      child.once("close", () => {
        clearTimeout(t);
        setImmediate(() => void report());
      });
    };
    child.once("exit", (code, signal) => ended(code, signal));
    // A command that cannot be started (ENOENT, EACCES) emits "error", perhaps without "exit".
    child.once("error", (err) => ended(null, null, err));
    try {
      await client.waitReady(options.startTimeoutMs ?? 60_000);
    } catch (err) {
      // It never answered: no point in a long shutdown handshake.
      await client.shutdown({ graceMs: 1_000 }).catch(() => {});
      throw err;
    }
    client.started = true;
    return client;
  }

  /** Connect to a kernel that is already running. */
  static async connect(conn: ConnectionInfo, timeoutMs = 30_000): Promise<KernelClient> {
    const client = new KernelClient(conn);
    await client.waitReady(timeoutMs);
    return client;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const attempt = async (wait: number, needIdle: boolean): Promise<boolean> => {
      if (this.exitError) throw this.exitError;
      const msgId = this.sendRequest(this.shell, "kernel_info_request", {});
      try {
        await this.waitFor(msgId, Math.max(1, Math.min(wait, deadline - Date.now())), needIdle);
        return true;
      } catch (err) {
        if (this.exitError) throw this.exitError;
        if (!(err instanceof TimeoutError)) throw err;
        return false;
      }
    };
    // The kernel is up once shell answers (requests queue until it binds its sockets) ...
    let up = false;
    while (!up && Date.now() < deadline) up = await attempt(2_000, false);
    // ... and iopub is connected once the idle status of a request arrives (a subscriber that joins late
    // misses earlier messages), so ask again quickly until one does.
    while (up && Date.now() < deadline) {
      if (await attempt(100, true)) return;
    }
    const output = lastLines(this.stderr);
    throw new Error(`the kernel did not answer kernel_info within ${timeoutMs} ms` +
      (output.length ? `; the last lines of its output:\n${output.map((l) => `  ${l}`).join("\n")}` : " and printed nothing"));
  }

  private failAll(err: Error): void {
    for (const w of this.waiters.values()) {
      (w as any).fail?.(err);
    }
  }

  /** The signed messages arriving on `socket`; frames that fail to decode or verify are skipped. */
  private async *messages(socket: AsyncIterable<unknown>): AsyncGenerator<Message> {
    for await (const frames of socket) {
      try {
        yield this.signer.decode(frames as Buffer[]);
      } catch {
        /* not a valid message for this session */
      }
    }
  }

  private async readReplies(socket: zmq.Dealer, channel: "shell" | "control"): Promise<void> {
    try {
      for await (const msg of this.messages(socket)) {
        const w = this.waiters.get(msg.parent_header.msg_id ?? "");
        if (w) {
          w.reply = msg;
          w.done();
        } else {
          this.onUnclaimedMessage?.(msg, channel);
        }
      }
    } catch {
      /* closed */
    }
  }

  private async readIopub(): Promise<void> {
    try {
      for await (const msg of this.messages(this.iopub)) {
        const w = this.waiters.get(msg.parent_header.msg_id ?? "");
        if (!w) {
          this.onUnclaimedMessage?.(msg, "iopub");
          continue;
        }
        if (msg.header.msg_type === "status") {
          if (msg.content.execution_state === "idle") {
            w.idle = true;
            w.done();
          }
          continue;
        }
        w.messages.push(msg);
        w.onMessage?.(msg);
      }
    } catch {
      /* closed */
    }
  }

  private sendRequest(socket: zmq.Dealer, msgType: string, content: unknown, frames?: (header: any) => Buffer[], metadata: Record<string, unknown> = {}): string {
    const header = makeHeader(msgType, this.session, "lepton-client");
    const encoded = frames ? frames(header) : this.signer.encode({ header, parent_header: {}, metadata, content });
    const prev = this.sendChains.get(socket) ?? Promise.resolve();
    this.sendChains.set(socket, prev.then(() => socket.send(encoded)).catch(() => {}));
    return header.msg_id;
  }

  /** Wait for the reply to `msgId` (and, with `needIdle`, for its iopub idle status). */
  private waitFor(msgId: string, timeoutMs: number | undefined, needIdle: boolean, onMessage?: (m: Message) => void): Promise<Waiter> {
    return new Promise<Waiter>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter & { fail?: (e: Error) => void } = {
        idle: false,
        messages: [],
        onMessage,
        done: () => {
          if (w.reply && (w.idle || !needIdle)) {
            if (timer) clearTimeout(timer);
            this.waiters.delete(msgId);
            resolve(w);
          }
        },
      };
      w.fail = (err) => {
        if (timer) clearTimeout(timer);
        this.waiters.delete(msgId);
        reject(err);
      };
      this.waiters.set(msgId, w);
      if (this.exitError) w.fail(this.exitError);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => w.fail!(new TimeoutError(`no ${needIdle ? "reply and idle status" : "reply"} within ${timeoutMs} ms`)), timeoutMs);
      }
    });
  }

  /** Send a request and return its reply (after the kernel reported idle for it). */
  async request(msgType: string, content: Record<string, unknown>, channel: Channel = "shell", timeoutMs = 60_000): Promise<Message> {
    if (this.closed) throw new Error("the kernel client is closed");
    const msgId = this.sendRequest(channel === "shell" ? this.shell : this.control, msgType, content);
    return (await this.waitFor(msgId, timeoutMs, channel === "shell")).reply!;
  }

  /**
   * Send frames signed with another key (tests: a kernel must ignore such a request). Returns its msg_id.
   */
  sendForged(msgType: string, content: Record<string, unknown>, wrongKey: string): string {
    const forger = new Signer(wrongKey);
    return this.sendRequest(this.shell, msgType, content, (header) => forger.encode({ header, parent_header: {}, metadata: {}, content }));
  }

  /** Run code; resolves when the reply and the idle status have arrived. */
  async execute(code: string, options: ExecuteOptions = {}): Promise<Execution> {
    if (this.closed) throw new Error("the kernel client is closed");
    const msgId = this.sendRequest(this.shell, "execute_request", {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: options.stopOnError ?? true,
    }, undefined, options.cellId ? { cellId: options.cellId } : {});
    const outputs: NotebookOutput[] = [];
    const onMessage = (msg: Message) => {
      this.addOutput(outputs, msg);
      options.onMessage?.(msg);
    };
    const wasDead = !!this.exited;
    let w: Waiter;
    try {
      w = await this.waitFor(msgId, options.timeoutMs, true, onMessage);
    } catch (err) {
      if (err instanceof KernelDiedError) throw err.during(wasDead ? "before" : "during", outputs);
      if (err instanceof TimeoutError) {
        await this.interrupt().catch(() => {});
        throw new TimeoutError(`the cell did not finish within ${options.timeoutMs} ms (the kernel was interrupted)`, outputs);
      }
      throw err;
    }
    return { reply: w.reply!, outputs, messages: w.messages };
  }

  private addOutput(outputs: NotebookOutput[], msg: Message): void {
    const c = msg.content;
    switch (msg.header.msg_type) {
      case "stream": {
        const last = outputs[outputs.length - 1];
        if (last && last.output_type === "stream" && last.name === c.name) last.text += c.text;
        else outputs.push({ output_type: "stream", name: c.name, text: c.text });
        break;
      }
      case "display_data": {
        const out = { output_type: "display_data" as const, data: c.data, metadata: c.metadata ?? {} };
        outputs.push(out);
        const id = c.transient?.display_id;
        if (id) this.displays.set(id, [...(this.displays.get(id) ?? []), out]);
        break;
      }
      case "update_display_data": {
        for (const out of this.displays.get(c.transient?.display_id) ?? []) {
          out.data = c.data;
          out.metadata = c.metadata ?? {};
        }
        break;
      }
      case "execute_result":
        outputs.push({ output_type: "execute_result", execution_count: c.execution_count, data: c.data, metadata: c.metadata ?? {} });
        break;
      case "error":
        outputs.push({ output_type: "error", ename: c.ename, evalue: c.evalue, traceback: c.traceback });
        break;
      case "clear_output":
        outputs.length = 0;
        break;
    }
  }

  /** Interrupt the running cell the way the kernel spec asks (SIGINT, or interrupt_request on control). */
  async interrupt(mode: "signal" | "message" = this.interruptMode): Promise<void> {
    if (mode === "signal" && this.process?.pid) {
      this.process.kill("SIGINT");
      return;
    }
    await this.request("interrupt_request", {}, "control", 10_000);
  }

  /**
   * Ask the kernel to shut down, then close sockets; kills the process (SIGKILL) if it does not answer
   * and exit within the grace time. Its connection file is gone when this resolves.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (this.closed) return;
    const graceMs = options.graceMs ?? 5_000;
    const child = this.process;
    const running = () => !!child && !this.exited && child.exitCode === null && child.signalCode === null;
    const exited = (ms: number) => new Promise<boolean>((resolve) => {
      if (!running()) return resolve(true);
      const t = setTimeout(() => resolve(!running()), ms);
      child!.once("exit", () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (running()) {
      await this.request("shutdown_request", { restart: false }, "control", graceMs).catch(() => {});
      if (!(await exited(graceMs))) {
        child!.kill("SIGKILL");
        await exited(5_000);
      }
    }
    this.close();
    this.removeConnectionFile();
  }

  /** Remove the connection file `start` wrote (done by itself when the kernel exits). */
  private removeConnectionFile(): void {
    if (this.connectionFile && (!this.process || !isRunning(this.process))) removeDir(path.dirname(this.connectionFile));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [this.shell, this.control, this.iopub]) {
      s.linger = 0;
      s.close();
    }
    this.failAll(new Error("the kernel client was closed"));
  }
}

const IN_USE = /EADDRINUSE|address already in use/i;

/** The connection file's TCP ports that cannot be bound now, as "IP:PORT (name)". */
async function takenPorts(conn: ConnectionInfo): Promise<string[]> {
  if (conn.transport !== "tcp") return [];
  const names = ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"] as const;
  const taken = await Promise.all(names.map((name) => new Promise<string | undefined>((resolve) => {
    const server = net.createServer();
    server.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "EADDRINUSE" ? `${conn.ip}:${conn[name]} (${name})` : undefined));
    server.listen(conn[name], conn.ip, () => server.close(() => resolve(undefined)));
  })));
  return taken.filter((t): t is string => !!t);
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

const SIGNAL_HINTS: Partial<Record<NodeJS.Signals, string>> = {
  SIGKILL: "SIGKILL usually means the machine ran out of memory (the kernel was stopped by the out-of-memory killer) or another program killed it",
  SIGABRT: "SIGABRT is a crash (an abort in Node.js or native code, e.g. V8 running out of heap: see its output below)",
  SIGSEGV: "SIGSEGV is a crash in native code (see its output below)",
  SIGBUS: "SIGBUS is a crash in native code (see its output below)",
  SIGTERM: "SIGTERM means another program asked it to stop",
};

/** How a kernel process ended, as KernelDiedError is made from it. */
export interface KernelDeath {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines it printed (stdout and stderr). */
  output: string[];
  stage: "start-up" | "running" | "during" | "before";
  /** Set when the command could not be started at all. */
  spawnError?: Error;
  argv?: string[];
  /** Ports of the connection file found taken by another process after a bind failure ("127.0.0.1:5555 (shell_port)"). */
  busyPorts?: string[];
}

/**
 * The kernel process ended when it should not have: while a cell ran, before a request was answered,
 * or during start-up. `outputs` holds what the cell had output; `output` the last lines the kernel
 * printed (stdout and stderr).
 */
export class KernelDiedError extends Error {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last lines the kernel process printed (its stdout and stderr together). */
  readonly output: string[];
  /** What the kernel was doing: starting, running (not executing a cell of ours), or executing a cell. */
  readonly stage: KernelDeath["stage"];
  readonly outputs: NotebookOutput[];
  private readonly details: KernelDeath;

  constructor(details: KernelDeath, outputs: NotebookOutput[] = []) {
    super(KernelDiedError.describe(details));
    this.name = "KernelDiedError";
    this.details = details;
    this.exitCode = details.code;
    this.signal = details.signal;
    this.output = details.output;
    this.stage = details.stage;
    this.outputs = outputs;
  }

  /** How it ended, in words: "was killed by SIGKILL", "exited with code 3". */
  get how(): string {
    return KernelDiedError.how(this.details);
  }

  private static how(d: KernelDeath): string {
    if (d.spawnError) return `could not be started: ${d.spawnError.message}${d.argv ? ` (command: ${d.argv.join(" ")})` : ""}`;
    return d.signal ? `was killed by ${d.signal}` : `exited with code ${d.code}`;
  }

  /** The same death, seen by an execution: with the cell's outputs so far. */
  during(stage: "during" | "before", outputs: NotebookOutput[]): KernelDiedError {
    return new KernelDiedError({ ...this.details, stage: this.details.stage === "start-up" ? "start-up" : stage }, outputs);
  }

  /** Likely causes and what to do, in words (may be empty). */
  get hints(): string[] {
    return KernelDiedError.hints(this.details);
  }

  private static hints(d: KernelDeath): string[] {
    const hints: string[] = [];
    if (d.signal && SIGNAL_HINTS[d.signal]) hints.push(SIGNAL_HINTS[d.signal]!);
    if (!d.spawnError && !d.signal && d.stage !== "start-up" && d.code !== null) hints.push(`a cell may have called process.exit(${d.code}), or the kernel hit a fatal error`);
    if (d.output.some((l) => IN_USE.test(l))) {
      const which = d.busyPorts?.length ? ` (${d.busyPorts.join(", ")})` : "";
      hints.push(`a port in its connection file${which} was already taken by another process: start it again (new free ports are picked each time)`);
    }
    return hints;
  }

  private static describe(d: KernelDeath): string {
    const when = { "start-up": " during start-up, before it answered kernel_info", running: "", during: " while the cell was running", before: " before the cell was sent" }[d.stage];
    const hints = KernelDiedError.hints(d);
    const tail = d.output.length ? `\nthe last lines of its output:\n${d.output.map((l) => `  ${l}`).join("\n")}` : d.spawnError ? "" : "\n(it printed nothing)";
    return `the kernel ${KernelDiedError.how(d)}${when}${hints.length ? `: ${hints.join("; ")}` : ""}${tail}`;
  }
}

export class TimeoutError extends Error {
  /** What the cell had output before it timed out. */
  constructor(message: string, readonly outputs: NotebookOutput[] = []) {
    super(message);
    this.name = "TimeoutError";
  }
}
