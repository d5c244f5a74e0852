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
 *   --prefix DIR      DIR/share/jupyter
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

/** Write kernel.json and the logos into kernels/NAME; returns that folder. */
export function installKernelSpec(target: InstallTarget, name = DEFAULT_KERNEL_NAME, env: NodeJS.ProcessEnv = process.env): string {
  checkName(name);
  const root = packageRoot();
  if (!fs.existsSync(launcherPath(root))) {
    throw new Error(`${launcherPath(root)} is missing: run \`npm run build\` in ${root} first`);
  }
  const dir = path.join(kernelsDir(target, env), name);
  fs.mkdirSync(dir, { recursive: true });
  const spec = kernelSpec(root);
  if (name !== DEFAULT_KERNEL_NAME) spec.display_name = `${DISPLAY_NAME} [${name}]`;
  fs.writeFileSync(path.join(dir, "kernel.json"), JSON.stringify(spec, null, 2) + "\n");
  for (const logo of ["logo-32x32.png", "logo-64x64.png"]) fs.copyFileSync(path.join(root, "kernel", logo), path.join(dir, logo));
  return dir;
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
