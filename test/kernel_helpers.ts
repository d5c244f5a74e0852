/** Shared by the kernel and CLI tests: build dist/ when the kernel or CLI is missing or older than src. */
import { spawn, spawnSync } from "child_process";
import { existsSync, readdirSync, statSync } from "fs";
import { join } from "path";

export const ROOT = join(__dirname, "..");
export const CLI = join(ROOT, "dist", "src", "cli", "main.js");
/** Debian's Python with Jupyter (another python3 may come first on PATH). */
export const PYTHON = "/usr/bin/python3";

function newest(dir: string): number {
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
  const stale = outputs.some((f) => !existsSync(f)) || newest(join(ROOT, "src", "kernel")) > statSync(join(ROOT, "dist", "src", "kernel", "client.js")).mtimeMs;
  if (!stale) return;
  const res = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", ROOT], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`npm run build failed:\n${res.stdout}${res.stderr}`);
}

/** Why Debian's Jupyter cannot be used here, or undefined when it can. */
export function jupyterUnavailable(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (apt-get install jupyter-notebook python3-nbclient python3-nbconvert jupyter-client)`;
  const res = spawnSync(PYTHON, ["-c", "import nbclient, nbconvert, jupyter_client"], { encoding: "utf8" });
  if (res.status !== 0) return `Debian's Jupyter is not installed (apt-get install python3-nbclient python3-nbconvert jupyter-client): ${res.stderr.trim().split("\n").pop()}`;
  return undefined;
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
    child.stdin.end(options.input ?? "");
  });
}
