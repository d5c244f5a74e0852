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
export async function newConnectionInfo(): Promise<ConnectionInfo> {
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
    signature_scheme: "hmac-sha256",
    kernel_name: "lepton",
  };
}

/** Kernel processes started here; killed when this process exits (they run in their own process group). */
const children = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of children) c.kill("SIGKILL");
  });
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
  private exitError: Error | undefined;
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

  /** Start a kernel process and wait until it answers (on shell and on iopub). */
  static async start(options: StartOptions = {}): Promise<KernelClient> {
    const conn = await newConnectionInfo();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-kernel-"));
    const file = path.join(dir, "connection.json");
    fs.writeFileSync(file, JSON.stringify(conn), { mode: 0o600 });
    const argv = (options.argv ?? kernelArgv()).map((a) => a.replace("{connection_file}", file));
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd ?? process.cwd(),
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: a Ctrl-C meant for us is not an interrupt for the kernel.
      detached: process.platform !== "win32",
    });
    track(child);
    const client = new KernelClient(conn);
    client.process = child;
    client.interruptMode = options.interruptMode ?? (process.platform === "win32" ? "message" : "signal");
    child.stdout?.on("data", (d) => (client.stderr = (client.stderr + d).slice(-20_000)));
    child.stderr?.on("data", (d) => (client.stderr = (client.stderr + d).slice(-20_000)));
    child.on("exit", (code, signal) => {
      fs.rmSync(dir, { recursive: true, force: true });
      client.exitError = new Error(`the kernel exited (code ${code}, signal ${signal}); its output:\n${client.stderr.trim()}`);
      client.failAll(client.exitError);
    });
    try {
      await client.waitReady(options.startTimeoutMs ?? 60_000);
    } catch (err) {
      await client.shutdown().catch(() => {});
      throw err;
    }
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
    throw new Error(`the kernel did not answer kernel_info within ${timeoutMs} ms; its output:\n${this.stderr.trim()}`);
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
    let w: Waiter;
    try {
      w = await this.waitFor(msgId, options.timeoutMs, true, onMessage);
    } catch (err) {
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

  /** Ask the kernel to shut down, then close sockets; kills the process if it does not exit. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    const child = this.process;
    const alive = child && child.exitCode === null && child.signalCode === null;
    if (alive && !this.exitError) {
      await this.request("shutdown_request", { restart: false }, "control", 5_000).catch(() => {});
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          child!.kill("SIGKILL");
          resolve();
        }, 5_000);
        child!.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        if (child!.exitCode !== null || child!.signalCode !== null) resolve();
      });
    }
    this.close();
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

export class TimeoutError extends Error {
  /** What the cell had output before it timed out. */
  constructor(message: string, readonly outputs: NotebookOutput[] = []) {
    super(message);
    this.name = "TimeoutError";
  }
}
