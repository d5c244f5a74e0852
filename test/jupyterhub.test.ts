/**
 * A workshop on one shared machine: lepton installed once for everybody (`lepton kernel install --prefix`)
 * and used by two students through Debian's JupyterHub 3.0 on loopback (DummyAuthenticator with a
 * password, LocalProcessSpawner, Debian's classic Notebook as the single-user server).
 *
 * For each student, over HTTP only: a token from the hub's REST API with the password, their server
 * started through the hub, a `lepton` kernel started on it, and a small course notebook's cells run over
 * the kernel's websocket through the hub's proxy (import lepton, train a tiny model for an epoch, download
 * a file into lepton's per-user cache). Then: each kernel ran as its student, wrote only into that
 * student's home, and cannot read the other's cache (EACCES).
 *
 * Needs root (it creates the users lepton-hub-a / lepton-hub-b and removes them after) and Debian's
 * packages `jupyterhub node-configurable-http-proxy` besides Debian's Jupyter; skipped with the reason
 * otherwise, and failing instead under CI (process.env.CI), where a missing prerequisite must not pass.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "child_process";
import { createHash, randomBytes } from "crypto";
import {
  chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync, type Stats,
} from "fs";
import { cp } from "fs/promises";
import * as http from "http";
import { createRequire } from "module";
import * as net from "net";
import { tmpdir } from "os";
import { join } from "path";
import { othersAccessProblems, sharedAccessProblems, describeAccessProblem } from "../src/kernel/spec";
import { JUPYTER_APT_PACKAGES, PYTHON, ROOT, ensureBuilt, runCommand } from "./kernel_helpers";

export const HUB_APT_PACKAGES = "jupyterhub node-configurable-http-proxy";
const USERS = ["lepton-hub-a", "lepton-hub-b"] as const;
const PASSWORD = "workshop-" + randomBytes(6).toString("hex");
const ADMIN_TOKEN = randomBytes(24).toString("hex");
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The minimal part of the `ws` package (a dependency of @jupyterlab/services) used here. */
interface WebSocketLike {
  on(event: "open", cb: () => void): void;
  on(event: "message", cb: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "error", cb: (err: Error) => void): void;
  on(event: "close", cb: () => void): void;
  send(data: string): void;
  close(): void;
  terminate(): void;
}
type WebSocketCtor = new (url: string, options: { headers: Record<string, string> }) => WebSocketLike;

function loadWs(): WebSocketCtor {
  return createRequire(join(ROOT, "node_modules", "@jupyterlab", "services", "package.json"))("ws");
}

/** Why this test cannot run here, or undefined when it can. */
async function hubUnavailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return "JupyterHub's LocalProcessSpawner test runs on Linux only";
  if (process.getuid?.() !== 0) return "it needs root: it creates two system users and runs JupyterHub, whose LocalProcessSpawner switches to them";
  for (const f of ["/usr/bin/jupyterhub", "/usr/bin/jupyterhub-singleuser", "/usr/bin/configurable-http-proxy"]) {
    if (!existsSync(f)) return `${f} is missing (apt-get install -y --no-install-recommends ${HUB_APT_PACKAGES})`;
  }
  for (const f of ["/usr/sbin/useradd", "/usr/sbin/userdel"]) if (!existsSync(f)) return `${f} is missing (the passwd package)`;
  const probe = await runCommand(PYTHON, ["-c", "import jupyterhub, notebook.notebookapp, jupyter_client"], { timeoutMs: 60_000 });
  if (probe.status !== 0) {
    return `Debian's JupyterHub or Notebook cannot be imported (apt-get install -y --no-install-recommends ${HUB_APT_PACKAGES} ${JUPYTER_APT_PACKAGES}): ` +
      probe.stderr.trim().split("\n").pop();
  }
  try {
    loadWs();
  } catch (err) {
    return `the \`ws\` package (a dependency of @jupyterlab/services) is missing: npm ci (${(err as Error).message.split("\n")[0]})`;
  }
  const node = othersAccessProblems(process.execPath);
  if (node.length) return `other users cannot run this Node (${node.map(describeAccessProblem).join("; ")}): use a Node installed for everyone, e.g. /usr/bin/node`;
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Student {
  name: string;
  uid: number;
  home: string;
  token?: string;
}

const state: {
  why?: string;
  base?: string;
  lepton?: string;
  prefix?: string;
  hub?: ChildProcess;
  hubLog: string;
  hubExit?: number | null;
  publicUrl?: string;
  students: Student[];
  usersMade: string[];
  fileServer?: http.Server;
  fileUrl?: string;
  fileMd5?: string;
} = { hubLog: "", students: [], usersMade: [] };

async function run(cmd: string, args: string[], timeoutMs = 120_000) {
  const res = await runCommand(cmd, args, { timeoutMs, env: { ...process.env, PATH: `${SYSTEM_PATH}:${process.env.PATH ?? ""}` } });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${res.status ?? res.signal}):\n${res.stdout}${res.stderr}`);
  return res;
}

/** The /etc/passwd entry of a local user (useradd writes there), or undefined. */
function passwdEntry(name: string): { uid: number; home: string } | undefined {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 7) return { uid: Number(f[2]), home: f[5] };
  }
  return undefined;
}

/** A lepton every user can read: this checkout when it is (and LEPTON_HUB_TEST_COPY is unset), else a copy. */
async function readableLepton(base: string): Promise<string> {
  const problems = sharedAccessProblems(ROOT);
  if (problems.length === 0 && !process.env.LEPTON_HUB_TEST_COPY) return ROOT;
  // A checkout under /root (0700), as on CI: copy what the kernel runs (package.json, dist, kernel, node_modules).
  const copy = join(base, "lepton");
  mkdirSync(copy);
  for (const part of ["package.json", "dist", "kernel", "node_modules"]) {
    // Asynchronous: a synchronous copy of node_modules would hold the worker's event loop for most of a minute.
    await cp(join(ROOT, part), join(copy, part), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
  // chmod -R a+rX (done here: find, cp and chmod close their stdin at once, and runCommand's write to it fails).
  walk(copy, (p, st) => {
    if (!st.isSymbolicLink()) chmodSync(p, (st.mode & 0o7777) | (st.isDirectory() || st.mode & 0o111 ? 0o555 : 0o444));
  });
  return copy;
}

/** Every path under `dir` (not following symbolic links), with its lstat. */
function walk(dir: string, visit: (p: string, st: Stats) => void): void {
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    visit(d, lstatSync(d));
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) stack.push(p);
      else visit(p, st);
    }
  }
}

/** The paths under `dirs` owned by `uid`. */
function ownedBy(uid: number, dirs: string[], depth = Infinity): string[] {
  const found: string[] = [];
  for (const dir of dirs) {
    if (depth === 1) {
      for (const name of readdirSync(dir)) if (lstatSync(join(dir, name)).uid === uid) found.push(join(dir, name));
      continue;
    }
    walk(dir, (p, st) => {
      if (st.uid === uid) found.push(p);
    });
  }
  return found;
}

async function hubApi(path: string, init: { method?: string; token?: string; body?: unknown } = {}): Promise<{ status: number; json: any; text: string }> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (init.token) headers.Authorization = `token ${init.token}`;
  const res = await fetch(`${state.publicUrl}${path}`, {
    method: init.method ?? "GET", headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), redirect: "manual",
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

function hubConfig(dir: string, ports: { public: number; hub: number; proxyApi: number }, prefix: string): string {
  const py = (v: unknown) => JSON.stringify(v);
  return [
    "c = get_config()  # noqa",
    `c.JupyterHub.bind_url = ${py(`http://127.0.0.1:${ports.public}`)}`,
    `c.JupyterHub.hub_bind_url = ${py(`http://127.0.0.1:${ports.hub}`)}`,
    `c.ConfigurableHTTPProxy.api_url = ${py(`http://127.0.0.1:${ports.proxyApi}`)}`,
    `c.ConfigurableHTTPProxy.command = ["/usr/bin/configurable-http-proxy"]`,
    `c.ConfigurableHTTPProxy.pid_file = ${py(join(dir, "proxy.pid"))}`,
    `c.JupyterHub.pid_file = ${py(join(dir, "hub.pid"))}`,
    `c.JupyterHub.db_url = ${py(`sqlite:///${join(dir, "jupyterhub.sqlite")}`)}`,
    `c.JupyterHub.cookie_secret_file = ${py(join(dir, "cookie_secret"))}`,
    `c.JupyterHub.authenticator_class = "jupyterhub.auth.DummyAuthenticator"`,
    `c.DummyAuthenticator.password = ${py(PASSWORD)}`,
    `c.Authenticator.allowed_users = set(${py(USERS)})`,
    `c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"`,
    // Debian's jupyterhub-singleuser on Debian's classic Notebook 6 (there is no jupyter_server package).
    `c.Spawner.cmd = ["/usr/bin/jupyterhub-singleuser"]`,
    `c.Spawner.ip = "127.0.0.1"`,
    `c.Spawner.environment = ${py({ JUPYTER_PATH: join(prefix, "share", "jupyter"), JUPYTERHUB_SINGLEUSER_APP: "notebook.notebookapp.NotebookApp" })}`,
    // A class's usual limits. LocalProcessSpawner does not enforce them: it passes CPU_LIMIT and
    // MEM_LIMIT to the server (and so to its kernels), and lepton sizes its thread pool to CPU_LIMIT.
    `c.Spawner.cpu_limit = 1`,
    `c.Spawner.mem_limit = "1G"`,
    `c.Spawner.start_timeout = 120`,
    `c.Spawner.http_timeout = 120`,
    `c.JupyterHub.services = [{"name": "workshop-admin", "api_token": ${py(ADMIN_TOKEN)}}]`,
    `c.JupyterHub.load_roles = [{"name": "workshop-admin", "scopes": ["admin:users", "admin:servers", "list:users"], "services": ["workshop-admin"]}]`,
    `c.JupyterHub.cleanup_servers = True`,
    "",
  ].join("\n");
}

/** The processes (pids) owned by `uid`, from /proc. */
function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"));
      if (m && Number(m[1]) === uid) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** A kernel's websocket through the hub's proxy, with execute() for a cell. */
class KernelChannel {
  private handlers = new Map<string, (msg: any) => void>();
  private constructor(private socket: WebSocketLike, private session: string) {
    socket.on("message", (data, isBinary) => {
      if (isBinary) return;
      let msg: any;
      try {
        msg = JSON.parse(data.toString("utf8"));
      } catch {
        return;
      }
      const parent = msg.parent_header?.msg_id;
      if (parent) this.handlers.get(parent)?.(msg);
    });
  }

  static open(url: string, token: string): Promise<KernelChannel> {
    const WebSocket = loadWs();
    const session = randomBytes(8).toString("hex");
    const socket = new WebSocket(`${url}?session_id=${session}`, { headers: { Authorization: `token ${token}` } });
    return new Promise((resolve, reject) => {
      socket.on("open", () => resolve(new KernelChannel(socket, session)));
      socket.on("error", reject);
    });
  }

  private send(channel: "shell", msgType: string, content: unknown): string {
    const id = randomBytes(12).toString("hex");
    this.socket.send(JSON.stringify({
      header: { msg_id: id, msg_type: msgType, session: this.session, username: "workshop", version: "5.3", date: new Date().toISOString() },
      parent_header: {}, metadata: {}, content, channel, buffers: [],
    }));
    return id;
  }

  /** kernel_info until the kernel answers (it may still be starting). */
  async ready(timeoutMs = 90_000): Promise<any> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const reply = await new Promise<any>((resolve) => {
        const id = this.send("shell", "kernel_info_request", {});
        const timer = setTimeout(() => {
          this.handlers.delete(id);
          resolve(undefined);
        }, 3000);
        this.handlers.set(id, (msg) => {
          if (msg.msg_type !== "kernel_info_reply") return;
          clearTimeout(timer);
          this.handlers.delete(id);
          resolve(msg.content);
        });
      });
      if (reply) return reply;
    }
    throw new Error(`the kernel did not answer kernel_info_request within ${timeoutMs / 1000} s`);
  }

  /** Run a cell; resolves with its reply and outputs once the reply and the idle status have both come. */
  execute(code: string, timeoutMs = 150_000): Promise<{ status: string; stdout: string; outputs: any[]; error?: string }> {
    return new Promise((resolve, reject) => {
      const id = this.send("shell", "execute_request", { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true });
      const outputs: any[] = [];
      let reply: any;
      let idle = false;
      const timer = setTimeout(() => {
        this.handlers.delete(id);
        reject(new Error(`the cell did not finish within ${timeoutMs / 1000} s:\n${code}\noutputs so far: ${JSON.stringify(outputs).slice(0, 2000)}`));
      }, timeoutMs);
      const finish = () => {
        if (!reply || !idle) return;
        clearTimeout(timer);
        this.handlers.delete(id);
        const stdout = outputs.filter((o) => o.msg_type === "stream" && o.content.name === "stdout").map((o) => o.content.text).join("");
        const err = outputs.find((o) => o.msg_type === "error");
        resolve({ status: reply.status, stdout, outputs, error: err ? `${err.content.ename}: ${err.content.evalue}` : reply.evalue });
      };
      this.handlers.set(id, (msg) => {
        if (msg.channel === "shell" && msg.msg_type === "execute_reply") reply = msg.content;
        else if (msg.channel === "iopub" && msg.msg_type === "status" && msg.content.execution_state === "idle") idle = true;
        else if (msg.channel === "iopub" && ["stream", "execute_result", "display_data", "error"].includes(msg.msg_type)) outputs.push(msg);
        finish();
      });
    });
  }

  close(): void {
    this.socket.close();
    setTimeout(() => this.socket.terminate(), 2000).unref();
  }
}

/** The first line of `stdout` starting with `tag `, parsed as JSON. */
function tagged(stdout: string, tag: string): any {
  const line = stdout.split("\n").find((l) => l.startsWith(tag + " "));
  if (!line) throw new Error(`no "${tag}" line in the cell's output:\n${stdout}`);
  return JSON.parse(line.slice(tag.length + 1));
}

/** The course notebook each student runs (TypeScript cells for the lepton kernel). */
function courseCells(fileUrl: string, md5: string): string[] {
  return [
    `import * as os from "os";
import * as fs from "fs";
import * as path from "path";
import * as lepton from "lepton";
import { userCacheDir } from "lepton/dist/src/data/paths";
const info = await lepton.ready();
console.log("WHO " + JSON.stringify({ uid: process.getuid?.(), user: os.userInfo().username, home: os.homedir(), env: process.env.HOME, cache: userCacheDir().dir, cwd: process.cwd(), backend: info.name, threads: info.threads, cpuLimit: process.env.CPU_LIMIT, memLimit: process.env.MEM_LIMIT }));`,
    `const data = lepton.data.blobs({ n: 96, classes: 3, seed: 1 });
const model = lepton.models.mlp([2, 8, 3], { activation: "relu", seed: 1 });
const history = await lepton.train(model, data, { epochs: 1, batchSize: 32, optimizer: { type: "adam", lr: 0.01 }, verbose: 0, seed: 1 });
const report = await lepton.evaluate(model, data);
console.log("TRAINED " + JSON.stringify({ epochs: history.epochs, accuracy: report.accuracy }));`,
    `const dest = path.join(userCacheDir().dir, "workshop", "greeting.txt");
await lepton.data.downloadFile(${JSON.stringify(fileUrl)}, dest, { md5: ${JSON.stringify(md5)}, progress: false });
const st = fs.statSync(dest);
console.log("CACHED " + JSON.stringify({ dest, uid: st.uid, text: fs.readFileSync(dest, "utf8") }));`,
  ];
}

/** A cell that tries to read `file` (another student's) and list `dir`, printing the error codes. */
function snoopCell(file: string, dir: string): string {
  return `const snoop = (f: () => unknown) => { try { f(); return "read"; } catch (e) { return (e as NodeJS.ErrnoException).code; } };
console.log("SNOOP " + JSON.stringify({ file: snoop(() => fs.readFileSync(${JSON.stringify(file)})), dir: snoop(() => fs.readdirSync(${JSON.stringify(dir)})) }));`;
}

beforeAll(async () => {
  state.why = await hubUnavailable();
  if (state.why) {
    if (process.env.CI) throw new Error(`the JupyterHub test cannot run under CI: ${state.why}`);
    console.warn(`JupyterHub test skipped: ${state.why}`);
    return;
  }
  ensureBuilt();
  // Everything shared lives in a folder every user can pass through (mkdtemp makes 0700 ones).
  const base = realpathSync(mkdtempSync(join(tmpdir(), "lepton-hub-")));
  chmodSync(base, 0o755);
  state.base = base;
  state.lepton = await readableLepton(base);

  // The teacher's install: once, for every user, into a prefix the single-user servers get in JUPYTER_PATH.
  state.prefix = join(base, "prefix");
  const install = await runCommand(process.execPath, [join(state.lepton, "dist", "src", "cli", "main.js"), "kernel", "install", "--prefix", state.prefix], {
    env: { ...process.env, JUPYTER_PATH: join(state.prefix, "share", "jupyter") }, timeoutMs: 120_000,
  });
  if (install.status !== 0) throw new Error(`lepton kernel install --prefix failed:\n${install.stdout}${install.stderr}`);
  expect(install.stderr).not.toMatch(/other users|note:|warning/);

  // Two students, with homes only they can enter (as Debian's adduser makes them: DIR_MODE 0700).
  for (const name of USERS) {
    if (passwdEntry(name)) await run("userdel", ["-r", "-f", name]); // left over from an interrupted run
    await run("useradd", ["--create-home", "--user-group", "--shell", "/bin/bash", "-K", "HOME_MODE=0700", name]);
    state.usersMade.push(name);
    const entry = passwdEntry(name);
    if (!entry) throw new Error(`useradd ${name} succeeded but /etc/passwd has no ${name}`);
    const { uid, home } = entry;
    chmodSync(home, 0o700);
    state.students.push({ name, uid, home });
  }

  // The "course server" for the download cell: a small file on loopback.
  const body = Buffer.from("hello from the workshop\n");
  state.fileMd5 = createHash("md5").update(body).digest("hex");
  state.fileServer = http.createServer((req, res) => {
    if (req.url !== "/greeting.txt") return void res.writeHead(404).end();
    res.writeHead(200, { "Content-Length": String(body.length) }).end(body);
  });
  await new Promise<void>((r) => state.fileServer!.listen(0, "127.0.0.1", r));
  state.fileUrl = `http://127.0.0.1:${(state.fileServer.address() as net.AddressInfo).port}/greeting.txt`;

  // The hub.
  const hubDir = join(base, "hub");
  mkdirSync(hubDir);
  const ports = { public: await freePort(), hub: await freePort(), proxyApi: await freePort() };
  const config = join(hubDir, "jupyterhub_config.py");
  writeFileSync(config, hubConfig(hubDir, ports, state.prefix));
  state.publicUrl = `http://127.0.0.1:${ports.public}`;
  const hub = spawn("/usr/bin/jupyterhub", ["-f", config], {
    cwd: hubDir, detached: true, stdio: ["ignore", "pipe", "pipe"],
    // NODE_PATH: Debian's configurable-http-proxy loads its modules (commander, http-proxy) from
    // /usr/share/nodejs, which only Debian's own build of Node searches by itself (not NodeSource's).
    env: { PATH: SYSTEM_PATH, LANG: "C.UTF-8", HOME: hubDir, NODE_PATH: "/usr/share/nodejs", CONFIGPROXY_AUTH_TOKEN: randomBytes(24).toString("hex") },
  });
  state.hub = hub;
  const log = (d: Buffer) => {
    state.hubLog += d.toString("utf8");
    if (state.hubLog.length > 400_000) state.hubLog = state.hubLog.slice(-200_000);
  };
  hub.stdout!.on("data", log);
  hub.stderr!.on("data", log);
  hub.on("exit", (code) => (state.hubExit = code));
  const end = Date.now() + 90_000;
  for (;;) {
    if (state.hubExit !== undefined) throw new Error(`jupyterhub exited (${state.hubExit}) while starting:\n${state.hubLog.slice(-6000)}`);
    try {
      if ((await hubApi("/hub/api/")).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > end) throw new Error(`jupyterhub did not answer on ${state.publicUrl} within 90 s:\n${state.hubLog.slice(-6000)}`);
    await sleep(500);
  }
}, 420_000);

afterAll(async () => {
  const errors: string[] = [];
  const attempt = async (what: string, f: () => Promise<unknown> | unknown) => {
    try {
      await f();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  if (state.hub && state.hubExit === undefined) {
    // Stop the servers through the hub (which shuts their kernels down), then the hub (and its proxy).
    for (const s of state.students) await attempt(`stopping ${s.name}'s server`, () => hubApi(`/hub/api/users/${s.name}/server`, { method: "DELETE", token: ADMIN_TOKEN }));
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      const running = await Promise.all(state.students.map(async (s) => (await hubApi(`/hub/api/users/${s.name}`, { token: ADMIN_TOKEN }).catch(() => undefined))?.json?.servers?.[""]));
      if (running.every((r) => !r)) break;
      await sleep(500);
    }
    await attempt("stopping jupyterhub", async () => {
      process.kill(-state.hub!.pid!, "SIGTERM");
      const stopEnd = Date.now() + 20_000;
      while (state.hubExit === undefined && Date.now() < stopEnd) await sleep(200);
      if (state.hubExit === undefined) process.kill(-state.hub!.pid!, "SIGKILL");
    });
  }
  if (state.base) {
    // The proxy, if the hub could not stop it (its pid file names it).
    await attempt("stopping the proxy", () => {
      const pidFile = join(state.base!, "hub", "proxy.pid");
      if (!existsSync(pidFile)) return;
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      if (pid > 1) process.kill(pid, "SIGKILL");
    }).catch(() => undefined);
  }
  // Whatever still runs as a test user (a kernel the hub did not stop) ends with it.
  for (const s of state.students) {
    for (const pid of processesOf(s.uid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
  await sleep(300);
  // Their files in the temp folder (lepton's WebAssembly worker scripts, named for the uid) go with them.
  for (const s of state.students) {
    await attempt(`removing ${s.name}'s files in ${tmpdir()}`, () => {
      for (const p of ownedBy(s.uid, [tmpdir()], 1)) rmSync(p, { recursive: true, force: true });
    });
  }
  for (const name of state.usersMade) await attempt(`removing user ${name}`, () => run("userdel", ["-r", "-f", name]));
  if (state.fileServer) {
    state.fileServer.closeAllConnections();
    await new Promise<void>((r) => state.fileServer!.close(() => r()));
  }
  if (state.base) rmSync(state.base, { recursive: true, force: true });
  if (errors.length) console.warn(`JupyterHub test cleanup:\n${errors.join("\n")}`);
}, 120_000);

describe("a workshop on JupyterHub (Debian's jupyterhub 3.0, LocalProcessSpawner, on 127.0.0.1)", () => {
  it("the shared install is readable by every user: spec files 0644, folders 0755, and what it runs", (ctx) => {
    if (state.why) return ctx.skip(state.why);
    const dir = join(state.prefix!, "share", "jupyter", "kernels", "lepton");
    for (const d of ["share", "share/jupyter", "share/jupyter/kernels", "share/jupyter/kernels/lepton"]) {
      expect(statSync(join(state.prefix!, d)).mode & 0o777, d).toBe(0o755);
    }
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o644);
    const spec = JSON.parse(readFileSync(join(dir, "kernel.json"), "utf8"));
    expect(spec.argv.slice(0, 2)).toEqual([process.execPath, join(state.lepton!, "dist", "kernel", "launcher.js")]);
    expect(sharedAccessProblems(state.lepton!).map(describeAccessProblem)).toEqual([]);
  });

  it("two students log in with the password, start their servers and a lepton kernel, run the course cells as themselves, and cannot read each other's cache", async (ctx) => {
    if (state.why) return ctx.skip(state.why);
    const hubFail = (what: string, res: { status: number; text: string }) =>
      new Error(`${what}: HTTP ${res.status} ${res.text.slice(0, 500)}\n--- hub log ---\n${state.hubLog.slice(-5000)}`);

    // The DummyAuthenticator checks the password: a wrong one gets no token.
    const wrong = await hubApi(`/hub/api/users/${USERS[0]}/tokens`, { method: "POST", body: { auth: { username: USERS[0], password: "not-it" } } });
    expect(wrong.status).toBe(403);

    const channels: KernelChannel[] = [];
    try {
      const results = await Promise.all(state.students.map(async (s) => {
        // Log in through the REST API with the password (the hub's Authenticator), getting the student's own token.
        const login = await hubApi(`/hub/api/users/${s.name}/tokens`, { method: "POST", body: { auth: { username: s.name, password: PASSWORD }, note: "workshop test" } });
        if (login.status !== 201 || !login.json?.token) throw hubFail(`logging in ${s.name}`, login);
        s.token = login.json.token as string;
        const start = await hubApi(`/hub/api/users/${s.name}/server`, { method: "POST", token: s.token });
        if (start.status !== 201 && start.status !== 202) throw hubFail(`starting ${s.name}'s server`, start);
        const end = Date.now() + 120_000;
        for (;;) {
          const user = await hubApi(`/hub/api/users/${s.name}`, { token: s.token });
          const server = user.json?.servers?.[""];
          if (server?.ready) break;
          if (Date.now() > end) throw hubFail(`${s.name}'s server did not become ready in 120 s`, user);
          if (user.status === 200 && !server?.pending && !server) throw hubFail(`${s.name}'s server stopped while starting`, user);
          await sleep(500);
        }
        // The single-user server (through the hub's proxy) sees the shared kernel spec.
        const api = `/user/${s.name}/api`;
        const specs = await hubApi(`${api}/kernelspecs`, { token: s.token });
        if (specs.status !== 200) throw hubFail(`${s.name}'s kernelspecs`, specs);
        expect(Object.keys(specs.json.kernelspecs)).toContain("lepton");
        expect(specs.json.kernelspecs.lepton.spec.argv[1]).toBe(join(state.lepton!, "dist", "kernel", "launcher.js"));
        const kernel = await hubApi(`${api}/kernels`, { method: "POST", token: s.token, body: { name: "lepton" } });
        if (kernel.status !== 201) throw hubFail(`starting ${s.name}'s lepton kernel`, kernel);
        const channel = await KernelChannel.open(`${state.publicUrl!.replace(/^http/, "ws")}${api}/kernels/${kernel.json.id}/channels`, s.token);
        channels.push(channel);
        const info = await channel.ready();
        expect(info.language_info?.name).toBe("typescript");
        const outputs: string[] = [];
        for (const code of courseCells(state.fileUrl!, state.fileMd5!)) {
          const res = await channel.execute(code);
          expect(res.status, `${s.name}: ${res.error}\n${code}`).toBe("ok");
          outputs.push(res.stdout);
        }
        return { student: s, channel, who: tagged(outputs[0], "WHO"), trained: tagged(outputs[1], "TRAINED"), cached: tagged(outputs[2], "CACHED") };
      }));

      for (const { student: s, who, trained } of results) {
        console.log(`${s.name}: kernel as uid ${who.uid} (${who.user}), cache ${who.cache}, backend ${who.backend}, threads ${JSON.stringify(who.threads)}, ` +
          `CPU_LIMIT=${who.cpuLimit} MEM_LIMIT=${who.memLimit}, 1 epoch, accuracy ${trained.accuracy}`);
      }
      for (const { student: s, who, trained, cached } of results) {
        // The kernel ran as the student, in their home, with their own cache.
        const cache = join(s.home, ".cache", "lepton");
        expect(who).toMatchObject({ uid: s.uid, user: s.name, home: s.home, env: s.home, cache, cwd: s.home });
        // The hub's limits reach the kernel; on WebAssembly, lepton runs one thread for CPU_LIMIT=1.0.
        expect(who).toMatchObject({ cpuLimit: "1.0", memLimit: String(1024 ** 3) });
        if (who.backend === "wasm") expect(who.threads).toMatchObject({ count: 1, note: expect.stringContaining("CPU_LIMIT=1.0") });
        expect(trained.epochs).toHaveLength(1);
        expect(trained.accuracy).toBeGreaterThanOrEqual(0);
        expect(cached).toEqual({ dest: join(cache, "workshop", "greeting.txt"), uid: s.uid, text: "hello from the workshop\n" });
        expect(statSync(cached.dest).uid).toBe(s.uid);
        // Nothing of theirs outside their home: not in the shared install, its prefix or the hub's folder.
        // (os.tmpdir() only holds files named for their uid: lepton's WebAssembly worker scripts.)
        expect(ownedBy(s.uid, [...new Set([state.base!, state.lepton!])]), `files owned by ${s.name} outside ${s.home}`).toEqual([]);
        for (const f of ownedBy(s.uid, [tmpdir()], 1)) expect(f, `${s.name}'s file in ${tmpdir()}`).toMatch(new RegExp(`-${s.uid}$`));
      }

      // Each student's kernel tries the other's cache: the home folder (0700) keeps them out.
      for (const [i, { student: s, channel }] of results.entries()) {
        const other = results[1 - i];
        const res = await channel.execute(snoopCell(other.cached.dest, join(other.student.home, ".cache", "lepton")));
        expect(res.status, res.error).toBe("ok");
        expect(tagged(res.stdout, "SNOOP"), `${s.name} reading ${other.student.name}'s cache`).toEqual({ file: "EACCES", dir: "EACCES" });
      }
    } finally {
      for (const c of channels) c.close();
    }
  }, 400_000);
});
