/** Shared by the kernel and CLI tests: build dist/ when the kernel or CLI is missing or older than src. */
import { spawn, spawnSync } from "child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "fs";
import { join } from "path";

export const ROOT = join(__dirname, "..");
export const CLI = join(ROOT, "dist", "src", "cli", "main.js");
/** Debian's Python with Jupyter (another python3 may come first on PATH). */
export const PYTHON = "/usr/bin/python3";

function newest(dir: string): number {
  if (!statSync(dir).isDirectory()) return statSync(dir).mtimeMs;
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

export function ensureBuilt(): void {
  const outputs = [CLI, join(ROOT, "dist", "kernel", "launcher.js"), join(ROOT, "dist", "src", "index.js")];
  // The kernel, the CLI, the display layer (display protocol, comms, widgets) and training, which kernels and plain-Node tests load from dist/, must be current.
  const sources = ["src/kernel", "src/cli", "kernel", "src/display", "src/training"].map((p) => join(ROOT, p)).filter(existsSync);
  const stale = outputs.some((f) => !existsSync(f)) ||
    Math.max(...sources.map(newest)) > Math.min(...[join(ROOT, "dist", "src", "kernel", "client.js"), ...outputs].map((f) => statSync(f).mtimeMs));
  if (!stale) return;
  const res = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", ROOT], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`npm run build failed:\n${res.stdout}${res.stderr}`);
}

/** The Debian packages that give the tests their Jupyter (nbclient, nbconvert, nbformat, jupyter_client). */
export const JUPYTER_APT_PACKAGES = "jupyter-notebook python3-nbclient python3-nbconvert jupyter-client";

/** Why Debian's Jupyter cannot be used here, or undefined when it can (asks `python` once per file). */
export async function jupyterUnavailable(python = PYTHON): Promise<string | undefined> {
  if (!existsSync(python)) return `${python} is missing (apt-get install ${JUPYTER_APT_PACKAGES})`;
  const res = await runCommand(python, ["-c", "import nbclient, nbconvert, nbformat, jupyter_client"], { timeoutMs: 60_000 });
  if (res.status !== 0) return `Debian's Jupyter is not installed (apt-get install ${JUPYTER_APT_PACKAGES}): ${res.stderr.trim().split("\n").pop()}`;
  return undefined;
}

const jupyterChecks = new Map<string, Promise<string | undefined>>();

/**
 * For a test (or one check in a test) that needs Debian's Jupyter: resolves true when it is installed.
 * When it is missing: under CI (process.env.CI set) it throws, because a missing prerequisite must not
 * turn the run green, with a message naming the apt packages to install; elsewhere it warns and skips
 * the test (`await needJupyter(ctx)` as its first line) or, without ctx, resolves false so the caller
 * leaves out just that check.
 */
export async function needJupyter(
  ctx?: { skip: (note?: string) => void },
  options: { python?: string; ci?: boolean } = {},
): Promise<boolean> {
  const python = options.python ?? PYTHON;
  if (!jupyterChecks.has(python)) jupyterChecks.set(python, jupyterUnavailable(python));
  const why = await jupyterChecks.get(python)!;
  if (!why) return true;
  if (options.ci ?? !!process.env.CI) {
    throw new Error(`this test needs Debian's Jupyter and CI is set, so a missing one is a failure, not a skip: ${why}. ` +
      `Install it with: apt-get install -y ${JUPYTER_APT_PACKAGES}`);
  }
  console.warn(`${ctx ? "test skipped" : "check left out"} (needs Debian's Jupyter): ${why}`);
  ctx?.skip(why);
  return false;
}

export interface CommandResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a command and wait for it without blocking the test worker's event loop. A long spawnSync
 * (or several in a row) keeps the worker from reading vitest's RPC replies, and after 60 s the run
 * fails with "Timeout calling onTaskUpdate" even though every test passed.
 */
export function runCommand(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: options.env ?? process.env, cwd: options.cwd });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
    // A command that never reads its stdin (find, cp, chmod) may exit before the write lands: the EPIPE
    // that follows is not an error of the command.
    child.stdin.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") reject(err);
    });
    child.stdin.end(options.input ?? "");
  });
}

/**
 * Jupyter folders private to one test under `dir` (config, data, runtime, IPython; jupyter_core's
 * platform folders) with the Lepton kernel installed into `dir/prefix` and on JUPYTER_PATH, so a
 * jupyter_client script finds the kernel and nothing of the user's own Jupyter.
 */
export async function privateJupyterWithKernel(dir: string, extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const prefix = join(dir, "prefix");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: join(prefix, "share", "jupyter"),
    JUPYTER_DATA_DIR: join(dir, "data"),
    JUPYTER_CONFIG_DIR: join(dir, "config"),
    JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
    IPYTHONDIR: join(dir, "ipython"),
    JUPYTER_PLATFORM_DIRS: "1",
    PYTHONDONTWRITEBYTECODE: "1",
    ...extra,
  };
  const installed = await runCommand(process.execPath, [CLI, "kernel", "install", "--prefix", prefix], { env });
  if (installed.status !== 0) throw new Error(`lepton kernel install failed: ${installed.stderr}`);
  return env;
}

/**
 * Write `source` (a Python script driving the kernel with jupyter_client) into `dir`, run it with
 * `args`, and return the JSON object it prints on its last line, with the script's stderr. Throws
 * with the whole output when it printed no JSON, and with its steps when it reports `error`.
 */
export async function runJupyterClientScript(
  dir: string, name: string, source: string, args: string[], env: NodeJS.ProcessEnv, cwd: string,
): Promise<{ [key: string]: any; stderr: string }> {
  const script = join(dir, name);
  writeFileSync(script, source);
  const res = await runCommand(PYTHON, [script, ...args], { env, cwd, timeoutMs: 480_000 });
  const line = res.stdout.trim().split("\n").pop() ?? "";
  let parsed: any;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(`the jupyter_client script printed no JSON (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
  }
  if (parsed.error) throw new Error(`the jupyter_client script failed:\n${parsed.error}\nsteps so far: ${JSON.stringify(parsed.steps, null, 1)}\n${res.stderr}`);
  return { ...parsed, stderr: res.stderr };
}

/**
 * The start of a Python script that plays a frontend with jupyter_client (run it with
 * runJupyterClientScript; argv: the kernel's folder and the cells as JSON): starts the Lepton kernel and
 * defines `out` (the JSON printed at the end: "steps" by name, "order" of every IOPub message),
 * `summary`, `iopub_until_idle` (other requests' messages are stashed for later), `shell_reply`,
 * `send` / `comm` (a shell message, with metadata and buffers as extra frames) and `comm_info`.
 */
export const JUPYTER_CLIENT_PRELUDE = String.raw`
import json, sys, time, traceback, queue, struct
from jupyter_client import KernelManager

cwd, cells = sys.argv[1], json.loads(sys.argv[2])
out = {"steps": {}, "order": []}
km = KernelManager(kernel_name="lepton")
km.start_kernel(cwd=cwd)
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=120)
stash = {}

def summary(m):
    return {"msg_type": m["msg_type"], "content": m["content"], "metadata": m.get("metadata", {}),
            "buffers": [list(bytes(b)) for b in m.get("buffers", [])], "parent": m["parent_header"].get("msg_id")}

def iopub_until_idle(msg_id, timeout=120):
    got = stash.pop(msg_id, [])
    if any(g["msg_type"] == "status" and g["content"]["execution_state"] == "idle" for g in got):
        return got
    while True:
        m = summary(kc.get_iopub_msg(timeout=timeout))
        out["order"].append([m["msg_type"], m["parent"], m["content"].get("execution_state")])
        if m["parent"] != msg_id:
            stash.setdefault(m["parent"], []).append(m)
            continue
        got.append(m)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return got

def shell_reply(msg_id, timeout=120):
    while True:
        r = kc.get_shell_msg(timeout=timeout)
        if r["parent_header"].get("msg_id") == msg_id:
            return r

def send(msg_type, content, metadata=None, buffers=None):
    msg = kc.session.msg(msg_type, content, metadata=metadata or {})
    kc.session.send(kc.shell_channel.socket, msg, buffers=buffers)
    return msg["header"]["msg_id"]

def comm(name, msg_type, content, metadata=None, buffers=None):
    msg_id = send(msg_type, content, metadata, buffers)
    out["steps"][name] = {"msg_id": msg_id, "outputs": iopub_until_idle(msg_id)}
    return out["steps"][name]

def comm_info(name, target=None):
    msg_id = kc.comm_info(target_name=target)
    out["steps"][name] = {"reply": shell_reply(msg_id)["content"], "outputs": iopub_until_idle(msg_id)}
`;
