/**
 * Makes `lepton` (and this package's dependencies, e.g. `@tensorflow/tfjs`) importable from a notebook
 * in any folder, at run time and for tslab's type checker, without writing anything into that folder.
 *
 * - Run time: a bare module the notebook's folder cannot resolve is resolved from this package
 *   (`lepton` itself) or its node_modules (a fallback, like NODE_PATH; the folder's own packages win,
 *   as they do for the type checker below).
 * - Type checking: tslab's TypeScript (5.0.4) resolves modules through `ts.sys`. We overlay a virtual
 *   `node_modules/lepton` (and, where the real folder lacks them, this package's dependencies) on top of
 *   every `node_modules` folder, and map those virtual paths back to real ones in `realpath`, so each
 *   file is loaded once under its real name.
 *
 * Must run before tslab creates its converter (the compiler host binds `ts.sys.realpath` then).
 */
import Module from "module";
import { existsSync, statSync } from "fs";
import { join, resolve } from "path";
import { tslab } from "./tslab";

export const PACKAGE_NAME = "lepton";

/** This package's root folder (holds package.json, dist/, node_modules/). */
export function packageRoot(): string {
  // compiled file: <root>/dist/src/kernel/modules.js
  return resolve(__dirname, "..", "..", "..");
}

let runtimeInstalled = false;

/** Hook Node's resolver: `lepton` is this package; unresolvable bare names fall back to its node_modules. */
export function installRuntimeResolution(root = packageRoot()): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const M = Module as any;
  const original = M._resolveFilename;
  const fallbackParent = { id: join(root, "index.js"), filename: join(root, "index.js"), paths: M._nodeModulePaths(root) };
  M._resolveFilename = function (request: string, parent: any, isMain: boolean, options: any) {
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (err: any) {
      if (err?.code !== "MODULE_NOT_FOUND" || !isBareSpecifier(request)) throw err;
      try {
        if (request === PACKAGE_NAME || request.startsWith(PACKAGE_NAME + "/")) {
          return original.call(this, root + request.slice(PACKAGE_NAME.length), parent, isMain, options);
        }
        return original.call(this, request, fallbackParent, isMain, options);
      } catch {
        throw err;
      }
    }
  };
}

function isBareSpecifier(request: string): boolean {
  return !request.startsWith(".") && !request.startsWith("/") && !/^[A-Za-z]:[\\/]/.test(request) && !request.startsWith("node:");
}

/**
 * Map a path the type checker asks about to the real file: `<any>/node_modules/lepton/...` → this
 * package; `<dir>/node_modules/<dep>/...` → this package's node_modules when `<dir>` has no `<dep>`.
 * Paths that exist as they are are returned unchanged.
 */
export function overlayPath(path: string, root = packageRoot()): string {
  const original = path.replace(/\\/g, "/");
  const rootSlash = root.replace(/\\/g, "/");
  const marker = "/node_modules/";
  let p = original;
  let from = 0;
  for (let guard = 0; guard < 32; guard++) {
    const at = p.indexOf(marker, from);
    if (at < 0) break;
    const m = /^((?:@[^/]+\/)?[^/]+)(\/.*)?$/.exec(p.slice(at + marker.length));
    if (!m) break;
    const [, name, rest = ""] = m;
    const folder = p.slice(0, at) + marker + name;
    if (existsSync(folder)) {
      from = at + marker.length + name.length;
      continue;
    }
    // Global type packages (@types) are not overlaid: the notebook's folder (or tslab's own @types/node)
    // supplies them, so a notebook outside the repository does not load this package's dev types.
    if (name === "@types" || name.startsWith("@types/")) break;
    const target = name === PACKAGE_NAME ? rootSlash : dependencyFolder(rootSlash, name);
    if (target === undefined) break;
    p = target + rest;
    from = target.length;
  }
  return p === original ? path : p;
}

const dependencyFolders = new Map<string, string | undefined>();

/**
 * Where this package's dependency `name` is installed: its own node_modules, or (when a package manager
 * hoisted it) the node_modules of a folder above it, the way Node would find it from this package.
 */
function dependencyFolder(rootSlash: string, name: string): string | undefined {
  const key = `${rootSlash}\0${name}`;
  if (dependencyFolders.has(key)) return dependencyFolders.get(key);
  let found: string | undefined;
  for (let dir = rootSlash; ; ) {
    if (!dir.endsWith("/node_modules")) {
      const candidate = `${dir}/node_modules/${name}`;
      if (existsSync(candidate)) {
        found = candidate;
        break;
      }
    }
    const parent = dir.slice(0, dir.lastIndexOf("/"));
    if (!parent || parent === dir) break;
    dir = parent;
  }
  dependencyFolders.set(key, found);
  return found;
}

let compilerInstalled = false;

/** Overlay the module folders on the `ts.sys` of tslab's TypeScript. */
export function installCompilerResolution(root = packageRoot()): void {
  if (compilerInstalled) return;
  compilerInstalled = true;
  const ts: any = tslab().typescript();
  const sys = ts.sys;
  const fwd = (p: string) => overlayPath(p, root);
  const wrap1 = (name: string) => {
    const original = sys[name];
    if (typeof original !== "function") return;
    sys[name] = function (path: string, ...rest: unknown[]) {
      return original.call(sys, typeof path === "string" ? fwd(path) : path, ...rest);
    };
  };
  for (const name of ["fileExists", "directoryExists", "readFile", "getDirectories", "readDirectory", "getModifiedTime", "watchFile", "watchDirectory", "getFileSize"]) wrap1(name);
  const realpath = sys.realpath;
  sys.realpath = function (path: string) {
    const mapped = fwd(path);
    return realpath ? realpath.call(sys, mapped) : mapped;
  };
}

/** Whether `p` is a folder (used by the installer's checks). */
export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
