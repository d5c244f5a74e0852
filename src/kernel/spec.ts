/**
 * The Lepton kernel spec and where Jupyter looks for it, written without Python.
 *
 * Where `lepton kernel install` writes (kernels/NAME under the Jupyter data folder):
 *   default / --user  JUPYTER_DATA_DIR if set, else the per-user folder: Linux $XDG_DATA_HOME/jupyter or
 *                     ~/.local/share/jupyter, macOS ~/Library/Jupyter, Windows %APPDATA%\jupyter
 *   --sys-prefix      the active Python environment: $VIRTUAL_ENV, else $CONDA_PREFIX, else the prefix
 *                     Node was installed under (path.dirname(dirname(node))), each + /share/jupyter.
 *                     The CLI refuses the Node-prefix case when Jupyter does not search that folder
 *                     (see jupyterSearches) unless --force is given.
 *   --prefix DIR      DIR/share/jupyter (`--prefix /usr/local`: /usr/local/share/jupyter/kernels, the first
 *                     system folder, where jupyter_client itself installs for all users and every Jupyter looks)
 *
 * jupyter_client's `--sys-prefix` is the sys.prefix of the Python running the command. lepton is not run
 * by that Python: it takes the active environment (a Jupyter installed there searches it), and when it
 * refuses, names the sys.prefix of the Python behind the `jupyter` on PATH (jupyterPythonPrefix) for --prefix.
 *
 * --sys-prefix and --prefix are installs for every user: the folders made are 0755 and the files 0644
 * whatever the umask, and sharedAccessProblems lists what other users could not read of what the spec
 * runs (this Node, the launcher in dist/, node_modules). The spec carries no environment: each user's
 * kernel takes its own HOME / XDG_CACHE_HOME (lepton's cache, src/data/paths.ts) when it starts.
 */
import { execFile } from "child_process";
import fs from "fs";
import os from "os";
import path from "path";

export const DEFAULT_KERNEL_NAME = "lepton";
export const DISPLAY_NAME = "Lepton (TypeScript)";

/** This package's root folder (the one whose package.json is named "lepton"). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).name === "lepton") return dir;
    } catch {
      /* keep looking */
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find lepton's package.json above ${__dirname}`);
    dir = parent;
  }
}

/** The compiled kernel launcher (kernel/launcher.ts after `npm run build`). */
export function launcherPath(root = packageRoot()): string {
  return path.join(root, "dist", "kernel", "launcher.js");
}

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: "signal" | "message";
  env?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

/** The command that starts the kernel: this Node and this package's launcher, absolute paths. */
export function kernelArgv(root = packageRoot()): string[] {
  return [process.execPath, launcherPath(root), "-f", "{connection_file}"];
}

export function kernelSpec(root = packageRoot()): KernelSpec {
  return {
    argv: kernelArgv(root),
    display_name: DISPLAY_NAME,
    language: "typescript",
    // POSIX: SIGINT also stops synchronous code (vm breakOnSigint). Windows has no SIGINT for Node
    // children started by Jupyter, so the kernel takes interrupt_request messages there.
    interrupt_mode: process.platform === "win32" ? "message" : "signal",
    metadata: { lepton: { root } },
  };
}

/** Jupyter's per-user data folder (what `jupyter --data-dir` prints). */
export function userDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.JUPYTER_DATA_DIR) return env.JUPYTER_DATA_DIR;
  const home = env.HOME || env.USERPROFILE || os.homedir();
  if (platform === "darwin") return path.join(home, "Library", "Jupyter");
  if (platform === "win32") {
    const appdata = env.APPDATA;
    if (!appdata) throw new Error("APPDATA is not set: cannot find Jupyter's per-user folder (set JUPYTER_DATA_DIR or use --prefix DIR)");
    return path.join(appdata, "jupyter");
  }
  return path.join(env.XDG_DATA_HOME || path.join(home, ".local", "share"), "jupyter");
}

/** The environment prefix for --sys-prefix (see the file comment). */
export function sysPrefix(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIRTUAL_ENV || env.CONDA_PREFIX || path.dirname(path.dirname(process.execPath));
}

export type InstallTarget = { kind: "user" } | { kind: "sys-prefix" } | { kind: "prefix"; dir: string };

/** Whether a target is meant for every user of the machine (--sys-prefix, --prefix) rather than one (--user). */
export function isSharedTarget(target: InstallTarget): boolean {
  return target.kind !== "user";
}

/** The `kernels` folder for a target. */
export function kernelsDir(target: InstallTarget, env: NodeJS.ProcessEnv = process.env): string {
  switch (target.kind) {
    case "user":
      return path.join(userDataDir(env), "kernels");
    case "sys-prefix":
      return path.join(sysPrefix(env), "share", "jupyter", "kernels");
    case "prefix":
      return path.join(path.resolve(target.dir), "share", "jupyter", "kernels");
  }
}

function checkName(name: string): void {
  if (!/^[a-z0-9._-]+$/i.test(name)) {
    throw new Error(`invalid kernel name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' only`);
  }
}

/** The folders `mkdir -p dir` would create, outermost first. */
function missingFolders(dir: string): string[] {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  return missing;
}

export interface InstallOptions {
  /**
   * Make what is written readable by every user (folders 0755, files 0644, whatever the umask).
   * Default: for --sys-prefix and --prefix (see isSharedTarget); a --user install follows the umask.
   */
  shared?: boolean;
}

/** Write kernel.json and the logos into kernels/NAME; returns that folder. */
export function installKernelSpec(
  target: InstallTarget, name = DEFAULT_KERNEL_NAME, env: NodeJS.ProcessEnv = process.env, options: InstallOptions = {},
): string {
  checkName(name);
  const root = packageRoot();
  if (!fs.existsSync(launcherPath(root))) {
    throw new Error(`${launcherPath(root)} is missing: run \`npm run build\` in ${root} first`);
  }
  const shared = options.shared ?? isSharedTarget(target);
  const dir = path.join(kernelsDir(target, env), name);
  const created = missingFolders(dir);
  fs.mkdirSync(dir, { recursive: true });
  // mkdir's mode is masked by the umask (077 would hide the spec from everyone else): set it outright,
  // on the folders made here and on the kernel's own folder, never on folders that were already there.
  const chmod = (p: string, mode: number) => {
    if (shared && process.platform !== "win32") fs.chmodSync(p, mode);
  };
  for (const d of new Set([...created, dir])) chmod(d, 0o755);
  const spec = kernelSpec(root);
  if (name !== DEFAULT_KERNEL_NAME) spec.display_name = `${DISPLAY_NAME} [${name}]`;
  const specFile = path.join(dir, "kernel.json");
  fs.writeFileSync(specFile, JSON.stringify(spec, null, 2) + "\n");
  chmod(specFile, 0o644);
  for (const logo of ["logo-32x32.png", "logo-64x64.png"]) {
    fs.copyFileSync(path.join(root, "kernel", logo), path.join(dir, logo));
    chmod(path.join(dir, logo), 0o644);
  }
  return dir;
}

/** Something another user cannot read (or pass through) that a shared kernel spec needs. */
export interface AccessProblem {
  path: string;
  /** Its permission bits, e.g. 0o700. */
  mode: number;
  /** What others lack: "o+x" (a folder on the way), "o+rx" (a folder to list), "o+r" (a file). */
  need: "o+x" | "o+rx" | "o+r";
}

/** Folders from / down to (not including) `p`, which others must be able to pass (o+x). */
function pathFolders(p: string): string[] {
  const out: string[] = [];
  for (let d = path.dirname(p); ; d = path.dirname(d)) {
    out.unshift(d);
    if (path.dirname(d) === d) break;
  }
  return out;
}

function modeOf(p: string): number | undefined {
  try {
    return fs.statSync(p).mode & 0o7777;
  } catch {
    return undefined;
  }
}

/**
 * What keeps another user from reading `p` (a file) or listing it (a folder), judged by the "others"
 * permission bits of `p` and of every folder above it, as a user in none of the owners' groups sees it
 * (root reads everything, so trying it as root says nothing). [] when nothing does, and on Windows.
 * With leaf "pass", `p` is a folder others only need to pass through (o+x) to reach something below it.
 */
export function othersAccessProblems(p: string, leaf: "read" | "pass" = "read"): AccessProblem[] {
  if (process.platform === "win32") return [];
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch {
    return [];
  }
  const problems: AccessProblem[] = [];
  for (const d of pathFolders(real)) {
    const mode = modeOf(d);
    if (mode !== undefined && !(mode & 0o001)) problems.push({ path: d, mode, need: "o+x" });
  }
  const mode = modeOf(real);
  if (mode !== undefined && leaf === "pass") {
    if (!(mode & 0o001)) problems.push({ path: real, mode, need: "o+x" });
  } else if (mode !== undefined) {
    const dir = fs.statSync(real).isDirectory();
    if (dir ? (mode & 0o005) !== 0o005 : !(mode & 0o004)) problems.push({ path: real, mode, need: dir ? "o+rx" : "o+r" });
  }
  return problems;
}

/** Files and folders under `dir` that others cannot read or list (symbolic links are not followed), up to `max` in `out`. */
function treeProblems(dir: string, max: number, out: AccessProblem[]): void {
  const stack = [dir];
  while (stack.length && out.length < max) {
    const d = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (out.length >= max) return;
      if (e.isSymbolicLink()) continue;
      const p = path.join(d, e.name);
      const mode = modeOf(p);
      if (mode === undefined) continue;
      if (e.isDirectory()) {
        if ((mode & 0o005) !== 0o005) out.push({ path: p, mode, need: "o+rx" });
        else stack.push(p);
      } else if (!(mode & 0o004)) out.push({ path: p, mode, need: "o+r" });
    }
  }
}

/**
 * What other users could not read of what a kernel spec from this lepton runs: the Node binary, the
 * package folder with dist/ (the launcher) and kernel/, and the node_modules its dependencies load from
 * (its own, or the one it is installed in). At most `max` entries; [] when all is readable (and on Windows).
 */
export function sharedAccessProblems(root = packageRoot(), node = process.execPath, max = 12): AccessProblem[] {
  if (process.platform === "win32") return [];
  const problems: AccessProblem[] = [];
  const seen = new Set<string>();
  const add = (list: AccessProblem[]) => {
    for (const p of list) {
      if (!seen.has(p.path) && problems.length < max) problems.push(p);
      seen.add(p.path);
    }
  };
  add(othersAccessProblems(node));
  add(othersAccessProblems(launcherPath(root)));
  for (const p of [root, path.join(root, "package.json")]) add(othersAccessProblems(p));
  const trees = ["dist", "kernel", "node_modules"].map((d) => path.join(root, d)).filter((d) => fs.existsSync(d));
  // Installed as a dependency (npm install lepton): its dependencies sit in the node_modules around it.
  const up = path.dirname(root);
  const around = path.basename(up) === "node_modules" ? up : path.basename(path.dirname(up)) === "node_modules" ? path.dirname(up) : undefined;
  if (around) trees.push(around);
  for (const t of trees) {
    if (problems.length >= max) break;
    const found: AccessProblem[] = [];
    treeProblems(t, max - problems.length, found);
    add(found);
  }
  return problems;
}

/** "/root (mode 0700: others need x to pass through it)" */
export function describeAccessProblem(p: AccessProblem): string {
  const what = p.need === "o+x" ? "others need x to pass through it" : p.need === "o+rx" ? "others need r and x to list it" : "others need r to read it";
  return `${p.path} (mode ${p.mode.toString(8).padStart(4, "0")}: ${what})`;
}

/** The first `command` in env.PATH that is an executable file (Windows: also with .exe / .cmd). */
export function findOnPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of process.platform === "win32" ? [".exe", ".cmd", ""] : [""]) {
      const candidate = path.join(dir, command + ext);
      try {
        if (!fs.statSync(candidate).isFile()) continue;
        if (process.platform !== "win32") fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        /* not here */
      }
    }
  }
  return undefined;
}

/**
 * The interpreter command of a script: its #! line (`#!/usr/bin/python3`, `#!/usr/bin/env python3`),
 * or pip's form for long paths (`#!/bin/sh`, then `'''exec' "/venv/bin/python" "$0" "$@"`). On
 * Windows pip's jupyter.exe has no such line, and PREFIX\Scripts\..\python.exe is used.
 */
export function scriptInterpreter(script: string): string[] | undefined {
  if (process.platform === "win32") {
    const python = path.join(path.dirname(path.dirname(script)), "python.exe");
    return fs.existsSync(python) ? [python] : undefined;
  }
  let head: string;
  try {
    const fd = fs.openSync(script, "r");
    try {
      const buf = Buffer.alloc(1024);
      head = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString("utf8");
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const lines = head.split("\n");
  if (!lines[0].startsWith("#!")) return undefined;
  const words = lines[0].slice(2).trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return undefined;
  if (/(^|\/)(ba|da)?sh$/.test(words[0])) {
    const m = /^'''exec' "?([^"\s]+)"?/.exec(lines[1] ?? "");
    return m ? [m[1]] : undefined;
  }
  if (path.basename(words[0]) === "env") {
    const rest = words.slice(1).filter((w) => !w.startsWith("-"));
    return rest.length ? rest : undefined;
  }
  return words;
}

/**
 * The sys.prefix of the Python behind the `jupyter` command on PATH (what jupyter_client's
 * `--sys-prefix` means when run by that Jupyter: PREFIX/share/jupyter/kernels), found from the
 * script's #! line; undefined when there is no such command or its Python does not answer.
 */
export async function jupyterPythonPrefix(
  env: NodeJS.ProcessEnv = process.env, timeoutMs = 20_000,
): Promise<{ jupyter: string; python: string; prefix: string } | undefined> {
  const jupyter = findOnPath("jupyter", env);
  const python = jupyter ? scriptInterpreter(jupyter) : undefined;
  if (!jupyter || !python) return undefined;
  const prefix = await new Promise<string | undefined>((resolve) => {
    execFile(python[0], [...python.slice(1), "-c", "import sys; print(sys.prefix)"], { env, timeout: timeoutMs, encoding: "utf8" }, (err, stdout) =>
      resolve(err ? undefined : stdout.trim() || undefined));
  });
  return prefix ? { jupyter, python: python.join(" "), prefix } : undefined;
}

/** Remove kernels/NAME from every place Jupyter looks (or from one target); returns the folders removed. */
export function uninstallKernelSpec(name = DEFAULT_KERNEL_NAME, targets?: InstallTarget[], env: NodeJS.ProcessEnv = process.env): string[] {
  checkName(name);
  const removed: string[] = [];
  const dirs = targets ? targets.map((t) => kernelsDir(t, env)) : searchKernelsDirs(env);
  for (const kernels of dirs) {
    const dir = path.join(kernels, name);
    const specFile = path.join(dir, "kernel.json");
    if (!fs.existsSync(specFile)) continue;
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/**
 * Jupyter's data folders in its order: JUPYTER_PATH, the per-user folder (when there is one), the
 * given environment folders, then the system folders.
 */
function jupyterDataDirs(env: NodeJS.ProcessEnv, user: string | undefined, environments: string[]): string[] {
  const dirs: string[] = [...(env.JUPYTER_PATH ?? "").split(path.delimiter).filter(Boolean)];
  if (user) dirs.push(user);
  dirs.push(...environments);
  if (process.platform === "win32") {
    if (env.PROGRAMDATA) dirs.push(path.join(env.PROGRAMDATA, "jupyter"));
  } else {
    dirs.push("/usr/local/share/jupyter", "/usr/share/jupyter");
  }
  return [...new Set(dirs.map((d) => path.resolve(d)))];
}

/**
 * The kernels folders lepton looks in (listing, uninstall), in Jupyter's order: JUPYTER_PATH, user,
 * the --sys-prefix folder, system.
 */
export function searchKernelsDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return jupyterDataDirs(env, userDataDir(env), [path.join(sysPrefix(env), "share", "jupyter")]).map((d) => path.join(d, "kernels"));
}

/**
 * The data folders (each holding `kernels/`) Jupyter searches, as far as lepton can tell without Python:
 * JUPYTER_PATH, the per-user folder, the active virtualenv / conda environment (a Jupyter installed
 * there searches it), and the system folders. Node's own prefix is NOT among them: Jupyter searches
 * its Python's sys.prefix, which is the same folder only when Node and Python share a prefix.
 */
export function knownJupyterDataDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  let user: string | undefined;
  try {
    user = userDataDir(env);
  } catch {
    /* no per-user folder (Windows without APPDATA) */
  }
  const environments = [env.VIRTUAL_ENV, env.CONDA_PREFIX].filter((p): p is string => !!p).map((p) => path.join(p, "share", "jupyter"));
  return jupyterDataDirs(env, user, environments);
}

/**
 * The data folders the `jupyter` on PATH reports (`jupyter --paths --json`, which includes its Python's
 * sys.prefix), or undefined when there is no such command or it fails. Asynchronous: it starts Python.
 */
export function reportedJupyterDataDirs(env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<string[] | undefined> {
  return new Promise((resolve) => {
    execFile("jupyter", ["--paths", "--json"], { env, timeout: timeoutMs, encoding: "utf8" }, (err, stdout) => {
      if (err) return resolve(undefined);
      try {
        const data = JSON.parse(stdout).data;
        resolve(Array.isArray(data) ? data.map((d: string) => path.resolve(d)) : undefined);
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** Whether Jupyter would find kernels installed under `dataDir` (a folder ending in share/jupyter). */
export async function jupyterSearches(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ searched: boolean; dirs: string[] }> {
  const dirs = [...new Set([...knownJupyterDataDirs(env), ...((await reportedJupyterDataDirs(env)) ?? [])])];
  const target = path.resolve(dataDir);
  const same = (a: string, b: string) => (process.platform === "win32" ? a.toLowerCase() === b.toLowerCase() : a === b);
  return { searched: dirs.some((d) => same(d, target)), dirs };
}

export interface InstalledKernel {
  name: string;
  dir: string;
  spec: KernelSpec;
}

/** Every kernel spec Jupyter would find (the first folder wins for a name). */
export function listKernelSpecs(env: NodeJS.ProcessEnv = process.env): InstalledKernel[] {
  const found = new Map<string, InstalledKernel>();
  for (const kernels of searchKernelsDirs(env)) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(kernels);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const key = name.toLowerCase();
      if (found.has(key)) continue;
      try {
        const spec = JSON.parse(fs.readFileSync(path.join(kernels, name, "kernel.json"), "utf8"));
        found.set(key, { name: key, dir: path.join(kernels, name), spec });
      } catch {
        /* not a kernel folder */
      }
    }
  }
  return [...found.values()];
}
