/**
 * Where lepton looks for data files: an explicit folder, then $LEPTON_DATA_DIR, then the per-user
 * download cache (shared by every project, untouched by `npm ci`), then, read-only, the cache of
 * older lepton versions inside the package (data/cache, found from this file's location).
 */
import * as fs from "fs";
import * as os from "os";
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

/** The per-user cache folder and why it is that one (which variable or platform default chose it). */
export interface CacheLocation {
  dir: string;
  /** e.g. "LEPTON_CACHE_DIR", "$XDG_CACHE_HOME/lepton", "the default ~/.cache/lepton (...)". */
  why: string;
}

/**
 * The per-user download cache: $LEPTON_CACHE_DIR, else $XDG_CACHE_HOME/lepton, else the platform's
 * cache folder (Linux ~/.cache/lepton, macOS ~/Library/Caches/lepton, Windows
 * %LOCALAPPDATA%\lepton\Cache). Read from the environment on every call.
 */
export function userCacheDir(
  env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: string = os.homedir(),
): CacheLocation {
  const p = platform === "win32" ? path.win32 : path;
  if (env.LEPTON_CACHE_DIR) return { dir: p.resolve(env.LEPTON_CACHE_DIR), why: "LEPTON_CACHE_DIR" };
  if (env.XDG_CACHE_HOME && p.isAbsolute(env.XDG_CACHE_HOME)) {
    return { dir: p.join(env.XDG_CACHE_HOME, "lepton"), why: "$XDG_CACHE_HOME/lepton" };
  }
  if (platform === "win32") {
    const local = env.LOCALAPPDATA || p.join(home, "AppData", "Local");
    return { dir: p.join(local, "lepton", "Cache"), why: "the Windows default %LOCALAPPDATA%\\lepton\\Cache (LEPTON_CACHE_DIR and XDG_CACHE_HOME unset)" };
  }
  if (platform === "darwin") return { dir: p.join(home, "Library", "Caches", "lepton"), why: "the macOS default ~/Library/Caches/lepton (LEPTON_CACHE_DIR and XDG_CACHE_HOME unset)" };
  return { dir: p.join(home, ".cache", "lepton"), why: "the default ~/.cache/lepton (LEPTON_CACHE_DIR and XDG_CACHE_HOME unset)" };
}

/** The download cache: the per-user cache folder (see userCacheDir). */
export function defaultCacheDir(): string {
  return userCacheDir().dir;
}

/** Where lepton versions before the per-user cache kept their downloads (data/cache in the package). */
export function legacyCacheDir(): string {
  return path.join(bundledDataDir(), "cache");
}

/** The old in-package cache when it still holds something (searched read-only, so nobody downloads again). */
export function legacyCacheInUse(): string | undefined {
  const dir = legacyCacheDir();
  try {
    return fs.readdirSync(dir).length > 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Folders to search, in order, without duplicates or empty entries: `explicit`, $LEPTON_DATA_DIR,
 * `cacheDir`, and (only when `cacheDir` is the default one) the old in-package cache if it holds data.
 */
export function searchDirs(explicit: string | undefined, cacheDir: string): string[] {
  const legacy = path.resolve(cacheDir) === path.resolve(defaultCacheDir()) ? legacyCacheInUse() : undefined;
  const dirs = [explicit, process.env.LEPTON_DATA_DIR, cacheDir, legacy].filter((d): d is string => !!d).map((d) => path.resolve(d));
  return [...new Set(dirs)];
}

/** A `{ dir }` the caller gave must exist; `instead` says what to pass (a missing folder is never searched past). */
export function requireGivenDir(dir: string | undefined, instead: string): void {
  if (dir !== undefined && !fs.existsSync(dir)) {
    throw new DataNotFoundError(`${path.resolve(dir)} (given as { dir }) does not exist. ${instead}`);
  }
}

/** Names lepton itself creates at the top of its cache; `lepton cache clear` removes only these (and their `.part-` leftovers). */
export const CACHE_ENTRIES: readonly string[] = ["cifar-10-binary.tar.gz", "cifar-10-batches-bin", "mnist", "fashion-mnist"];

/** The file beside extracted data that says where it came from (see SourceInfo). */
export const SOURCE_FILE = ".lepton-source.json";

/** Provenance of extracted data, stored as `<folder>/.lepton-source.json`. */
export interface SourceInfo {
  dataset: string;
  /** "download" (fetched from `from`), "archive" (a local archive at `from`), "sample", or "unknown archive". */
  kind: "download" | "archive" | "sample" | "unknown archive";
  /** The URL or local path the data came from. */
  from: string;
  /** md5 of the archive (hex). */
  md5?: string;
  /** What the md5 was recognised as, when it was. */
  known?: string;
  /** When it was written (ISO time). */
  at?: string;
}

/** The provenance stored in `folder`, or undefined when there is none (or it cannot be read). */
export function readSourceInfo(folder: string): SourceInfo | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(folder, SOURCE_FILE), "utf8"));
    return info && typeof info === "object" && typeof info.from === "string" && typeof info.kind === "string" ? info : undefined;
  } catch {
    return undefined;
  }
}

/** One line for display: "downloaded from URL (md5 ..., official release)". */
export function describeSource(info: SourceInfo): string {
  const verb = info.kind === "download" ? "downloaded from" : info.kind === "sample" ? "bundled sample at" : info.kind === "unknown archive" ? "unknown archive" : "from the archive";
  const md5 = info.md5 ? ` (md5 ${info.md5}${info.known ? `: ${info.known}` : info.kind === "unknown archive" ? ": not a known release; structure checked" : ""})` : "";
  return `${verb} ${info.from}${md5}`;
}
