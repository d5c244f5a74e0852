/**
 * Where lepton looks for data files: an explicit folder, then $LEPTON_DATA_DIR, then the package's
 * own cache (data/cache under the package root, found from this file's location, not the cwd).
 */
import * as fs from "fs";
import * as path from "path";
import { DataNotFoundError } from "./errors";

let rootCache: string | undefined;

/** The lepton package root: the nearest folder above this file with lepton's package.json. */
export function packageRoot(): string {
  if (rootCache) return rootCache;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, "utf8")).name === "lepton") return (rootCache = dir);
      } catch {
        /* not ours; keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`lepton: cannot find the lepton package root above ${__dirname}.`);
    dir = up;
  }
}

/** data/ in the package: the bundled samples live here. */
export function bundledDataDir(): string {
  return path.join(packageRoot(), "data");
}

/** The download cache (data/cache in the package). */
export function defaultCacheDir(): string {
  return path.join(bundledDataDir(), "cache");
}

/** Folders to search, in order, without duplicates or empty entries. */
export function searchDirs(explicit: string | undefined, cacheDir: string): string[] {
  const dirs = [explicit, process.env.LEPTON_DATA_DIR, cacheDir].filter((d): d is string => !!d).map((d) => path.resolve(d));
  return [...new Set(dirs)];
}

/** A `{ dir }` the caller gave must exist; `instead` says what to pass (a missing folder is never searched past). */
export function requireGivenDir(dir: string | undefined, instead: string): void {
  if (dir !== undefined && !fs.existsSync(dir)) {
    throw new DataNotFoundError(`${path.resolve(dir)} (given as { dir }) does not exist. ${instead}`);
  }
}
