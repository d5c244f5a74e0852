/**
 * `lepton cache info|clear`: where the per-user download cache is (and which variable chose it),
 * what is in it with sizes and provenance, and removing what lepton put there. Only entries lepton
 * itself creates (CACHE_ENTRIES and their `.part-` leftovers) are ever removed, and never in `/`
 * or the home folder (a mistaken LEPTON_CACHE_DIR), so clear cannot delete anyone else's files.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as readline from "readline";
import { formatBytes } from "../data/download";
import {
  CACHE_ENTRIES, describeSource, legacyCacheInUse, readSourceInfo, userCacheDir, type CacheLocation,
} from "../data/paths";

const USAGE = `usage:
  lepton cache info [--json]
      where the download cache is (LEPTON_CACHE_DIR, else $XDG_CACHE_HOME/lepton, else ~/.cache/lepton,
      ~/Library/Caches/lepton on macOS, %LOCALAPPDATA%\\lepton\\Cache on Windows), why, and what is in it
  lepton cache clear [--yes]
      remove what lepton downloaded or extracted there (asks first; --yes when not on a terminal)`;

export interface CacheEntry {
  name: string;
  bytes: number;
  directory: boolean;
  /** Made by lepton (a known name or its leftover): `cache clear` removes it. */
  lepton: boolean;
  /** Where it came from, when known. */
  source?: string;
}

/** Bytes under `p` (not following links). */
function sizeOf(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of fs.readdirSync(p)) total += sizeOf(path.join(p, name));
  return total;
}

/** Whether `name` (an entry at the top of the cache) is one lepton creates. */
export function isLeptonEntry(name: string): boolean {
  return CACHE_ENTRIES.some((known) => name === known || name.startsWith(`${known}.part-`));
}

function provenanceOf(dir: string, name: string, directory: boolean): string | undefined {
  if (name.includes(".part-")) return "leftover of an interrupted download or extraction";
  if (!isLeptonEntry(name)) return undefined;
  if (directory) {
    const info = readSourceInfo(path.join(dir, name));
    if (info) return describeSource(info) + (info.at ? `, ${info.at.slice(0, 10)}` : "");
    return name === "cifar-10-batches-bin" ? "no provenance recorded (extracted by an older lepton, or copied in)" : undefined;
  }
  return name.endsWith(".tar.gz") ? "archive (downloaded by lepton, or copied in)" : undefined;
}

/** The top-level entries of a cache folder, sorted by name (none when it does not exist). */
export function listCache(dir: string): CacheEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.sort().map((name) => {
    const full = path.join(dir, name);
    const directory = (() => {
      try {
        return fs.lstatSync(full).isDirectory();
      } catch {
        return false;
      }
    })();
    const source = provenanceOf(dir, name, directory);
    return { name, bytes: sizeOf(full), directory, lepton: isLeptonEntry(name), ...(source ? { source } : {}) };
  });
}

/** Why clearing `dir` is refused outright (the root, the home folder or a folder above it), or undefined. */
export function unsafeCacheDir(dir: string, home = os.homedir()): string | undefined {
  // Compare real paths too, so that a link to / or to the home folder is caught.
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  for (const [d, h] of [[path.resolve(dir), path.resolve(home)], [real(dir), real(home)]]) {
    if (path.parse(d).root === d) return `${d} is the root of the file system`;
    if (d === h) return `${d} is your home folder`;
    if (h.startsWith(d.endsWith(path.sep) ? d : d + path.sep)) return `${d} holds your home folder`;
  }
  return undefined;
}

function formatEntries(entries: CacheEntry[]): string[] {
  const width = Math.max(0, ...entries.map((e) => e.name.length + (e.directory ? 1 : 0)));
  return entries.map((e) => {
    const name = (e.name + (e.directory ? "/" : "")).padEnd(width);
    const note = e.lepton ? (e.source ?? "") : "not lepton's: left alone by clear";
    return `  ${name}  ${formatBytes(e.bytes).padStart(9)}  ${note}`.trimEnd();
  });
}

function info(argv: string[]): number {
  const json = argv.includes("--json");
  const bad = argv.find((a) => a !== "--json");
  if (bad) {
    console.error(`lepton cache info: unknown option ${bad}\n${USAGE}`);
    return 2;
  }
  const loc = userCacheDir();
  const entries = listCache(loc.dir);
  const legacy = legacyCacheInUse();
  const legacyEntries = legacy && path.resolve(legacy) !== loc.dir ? listCache(legacy) : undefined;
  if (json) {
    console.log(JSON.stringify({
      dir: loc.dir, why: loc.why, exists: fs.existsSync(loc.dir), entries, bytes: entries.reduce((a, e) => a + e.bytes, 0),
      ...(legacyEntries ? { legacy: { dir: legacy, entries: legacyEntries } } : {}),
    }, null, 2));
    return 0;
  }
  const lines = [`lepton cache: ${loc.dir}`, `  chosen by ${loc.why}`];
  if (!fs.existsSync(loc.dir)) lines.push("  (does not exist yet: the first download creates it)");
  else if (entries.length === 0) lines.push("  (empty)");
  else {
    lines.push(...formatEntries(entries));
    lines.push(`  total ${formatBytes(entries.reduce((a, e) => a + e.bytes, 0))}`);
  }
  if (legacyEntries) {
    lines.push(`old in-package cache (read-only, still searched so nothing is downloaded again): ${legacy}`);
    lines.push(...formatEntries(legacyEntries));
  }
  lines.push("Move it with LEPTON_CACHE_DIR=/some/folder; empty it with `lepton cache clear`.");
  console.log(lines.join("\n"));
  return 0;
}

function ask(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  return new Promise((resolve) => rl.question(question, (answer) => {
    rl.close();
    resolve(/^y(es)?$/i.test(answer.trim()));
  }));
}

async function clear(argv: string[]): Promise<number> {
  const yes = argv.includes("--yes") || argv.includes("-y");
  const bad = argv.find((a) => a !== "--yes" && a !== "-y");
  if (bad) {
    console.error(`lepton cache clear: unknown option ${bad}\n${USAGE}`);
    return 2;
  }
  const loc: CacheLocation = userCacheDir();
  const unsafe = unsafeCacheDir(loc.dir);
  if (unsafe) {
    console.error(`lepton cache clear: refusing: the cache (chosen by ${loc.why}) is ${loc.dir}, and ${unsafe}. ` +
      `Point LEPTON_CACHE_DIR at a folder of its own.`);
    return 2;
  }
  const entries = listCache(loc.dir);
  const doomed = entries.filter((e) => e.lepton);
  const kept = entries.filter((e) => !e.lepton);
  if (doomed.length === 0) {
    console.log(`lepton cache: nothing of lepton's in ${loc.dir}${kept.length ? ` (left alone: ${kept.map((e) => e.name).join(", ")})` : ""}`);
    return 0;
  }
  const total = formatBytes(doomed.reduce((a, e) => a + e.bytes, 0));
  const what = `${doomed.length} entr${doomed.length === 1 ? "y" : "ies"} (${total}) from ${loc.dir}: ${doomed.map((e) => e.name).join(", ")}`;
  if (!yes) {
    if (!process.stdin.isTTY) {
      console.error(`lepton cache clear: would remove ${what}. Not on a terminal, so not asking: pass --yes to confirm.`);
      return 2;
    }
    if (!(await ask(`Remove ${what}? [y/N] `))) {
      console.log("nothing removed");
      return 1;
    }
  }
  const busy: string[] = [];
  for (const e of doomed) {
    const full = path.join(loc.dir, e.name);
    if (path.dirname(full) !== loc.dir) continue; // only direct children of the cache, by construction
    // A download or extraction in progress (written to in the last 10 minutes) is left alone.
    if (e.name.includes(".part-")) {
      try {
        if (Date.now() - fs.lstatSync(full).mtimeMs < 10 * 60 * 1000) {
          busy.push(e.name);
          continue;
        }
      } catch {
        continue;
      }
    }
    fs.rmSync(full, { recursive: true, force: true });
  }
  if (busy.length) console.log(`lepton cache: left ${busy.join(", ")}: a download or extraction may be writing it now (clear again later)`);
  console.log(`lepton cache: removed ${what}` + (kept.length ? `\n  left alone (not lepton's): ${kept.map((e) => e.name).join(", ")}` : ""));
  return 0;
}

export async function cacheCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "info":
      return info(rest);
    case "clear":
      return clear(rest);
    case undefined:
    case "-h":
    case "--help":
    case "help":
      console.log(USAGE);
      return sub ? 0 : 2;
    default:
      console.error(`lepton cache: unknown subcommand ${JSON.stringify(sub)}\n${USAGE}`);
      return 2;
  }
}
