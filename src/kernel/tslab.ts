/**
 * The one door to tslab's internals. lepton uses tslab 1.0.22 for what it does well: the TypeScript
 * converter (type check, transpile, completion, hover info), its cell metadata parser and its display
 * API. tslab is frozen (no release since 2024), and none of these are public API, so every use of them
 * goes through this module, which checks once, at start-up, that the tslab it loads is the version it
 * was written for and has every function it needs, and otherwise fails with a message that says what
 * to do instead of a TypeError three calls later.
 *
 * `LEPTON_TSLAB_DIR` points the adapter at another tslab folder (the tests use it to check the refusal).
 */
import { readFileSync } from "fs";
import path from "path";

/** The tslab version this adapter was written and tested against. */
export const TSLAB_VERSION = "1.0.22";

/** What lepton needs from tslab: file (under the package) → functions or objects it must export. */
const REQUIRED: Record<string, string[]> = {
  "dist/converter.js": ["createConverter", "isCompleteCode"],
  "dist/metadata.js": ["getCodeMetadata"],
  "dist/inspect.js": ["printQuickInfo"],
  "dist/executor.js": ["createRequire"],
  "dist/jupyter.js": [],
};

/** The parts of tslab's converter lepton calls. */
export interface TslabConverter {
  convert(prevDecl: string, src: string): ConvertResult;
  inspect(prevDecl: string, src: string, position: number): unknown;
  complete(prevDecl: string, src: string, position: number): { start: number; end: number; candidates: string[] };
  addModule(name: string, src: string, meta: unknown): TslabDiagnostic[];
  close(): void;
}

export interface TslabDiagnostic {
  start: { offset: number; line: number; character: number };
  end: { offset: number; line: number; character: number };
  messageText: string;
  category: number;
  code: number;
  fileName?: string;
}

export interface ConvertResult {
  output?: string;
  declOutput?: string;
  diagnostics: TslabDiagnostic[];
  hasToplevelAwait?: boolean;
  sideOutputs?: { path: string; data: string }[];
  lastExpressionVar?: string;
}

export interface CodeMetadata {
  mode?: "node" | "browser";
  module?: string;
  jsx?: boolean;
}

export interface Tslab {
  version: string;
  dir: string;
  createConverter(options: { isJS: boolean; isBrowser: boolean }): TslabConverter;
  getCodeMetadata(src: string): CodeMetadata;
  printQuickInfo(info: unknown): string;
  isCompleteCode(src: string): { completed: boolean; indent?: string };
  createRequire(rootDir: string): NodeRequire;
  /** tslab's own module, as a cell's `import ... from "tslab"` gets it. */
  main(): unknown;
  /** Route tslab's display API (`tslab.display.html(...)`) to `send`. */
  hookDisplay(send: (data: { data?: Record<string, unknown>; metadata?: Record<string, unknown>; transient?: { display_id?: string } }, update: boolean) => void): void;
  /** The TypeScript that tslab compiles cells with (5.0.4 for tslab 1.0.22). */
  typescript(): typeof import("typescript");
}

export class TslabIncompatibleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TslabIncompatibleError";
  }
}

/**
 * lepton's own folder: the nearest package.json above this file named "lepton" (this file runs from
 * dist/src/kernel after a build, and from src/kernel under ts-node or vitest).
 */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      if (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")).name === "lepton") return dir;
    } catch {
      /* no package.json here */
    }
    if (path.dirname(dir) === dir) return path.resolve(__dirname, "..", "..", "..");
  }
}

function fix(dir: string): string {
  const root = packageRoot();
  return `lepton's kernel is written for tslab ${TSLAB_VERSION} (package.json pins it). ` +
    `Reinstall the pinned dependencies: cd ${root} && npm ci` + (process.env.LEPTON_TSLAB_DIR ? ` (or unset LEPTON_TSLAB_DIR=${dir})` : "");
}

/**
 * Find tslab, check its version and every function lepton uses; throws TslabIncompatibleError saying
 * what is wrong and what to do. `dir` defaults to LEPTON_TSLAB_DIR, else the tslab Node resolves.
 */
export function loadTslab(dir?: string): Tslab {
  let base = dir ?? process.env.LEPTON_TSLAB_DIR;
  if (!base) {
    try {
      base = path.dirname(require.resolve("tslab/package.json"));
    } catch {
      throw new TslabIncompatibleError(`tslab is not installed. ${fix("")}`);
    }
  }
  let version: string;
  try {
    version = String(require(path.join(base, "package.json")).version);
  } catch (err) {
    throw new TslabIncompatibleError(`no tslab package at ${base} (${(err as Error).message}). ${fix(base)}`);
  }
  if (version !== TSLAB_VERSION) {
    throw new TslabIncompatibleError(`tslab ${version} is installed at ${base}, but lepton's kernel uses tslab ${TSLAB_VERSION}'s internals, which change between versions. ${fix(base)}`);
  }
  const modules: Record<string, any> = {};
  const missing: string[] = [];
  for (const [file, names] of Object.entries(REQUIRED)) {
    let mod: any;
    try {
      mod = require(path.join(base, file));
    } catch (err) {
      missing.push(`${file} (cannot be loaded: ${(err as Error).message.split("\n")[0]})`);
      continue;
    }
    modules[file] = mod;
    for (const name of names) if (typeof mod?.[name] !== "function") missing.push(`${file}: ${name}()`);
  }
  let ts: any;
  try {
    ts = require(require.resolve("@tslab/typescript-for-tslab", { paths: [base] }));
    if (typeof ts?.createSourceFile !== "function") missing.push("@tslab/typescript-for-tslab: createSourceFile()");
  } catch (err) {
    missing.push(`@tslab/typescript-for-tslab (cannot be loaded: ${(err as Error).message.split("\n")[0]})`);
  }
  if (missing.length > 0) {
    throw new TslabIncompatibleError(`the tslab at ${base} (version ${version}) lacks what lepton's kernel needs: ${missing.join("; ")}. ${fix(base)}`);
  }
  const converter = modules["dist/converter.js"];
  const jupyter = modules["dist/jupyter.js"];
  return {
    version,
    dir: base,
    createConverter: (options) => converter.createConverter(options),
    getCodeMetadata: (src) => modules["dist/metadata.js"].getCodeMetadata(src),
    printQuickInfo: (info) => modules["dist/inspect.js"].printQuickInfo(info),
    isCompleteCode: (src) => converter.isCompleteCode(src),
    createRequire: (rootDir) => modules["dist/executor.js"].createRequire(rootDir),
    main: () => require(base!),
    hookDisplay: (send) => {
      jupyter.lastWriteDisplayData = send;
    },
    typescript: () => ts,
  };
}

let cached: Tslab | undefined;

/** The checked tslab, loaded once per process. */
export function tslab(): Tslab {
  return (cached ??= loadTslab());
}

/** The TypeScript that tslab compiles cells with, for lepton's own parsing of cells. */
export function typescript(): typeof import("typescript") {
  return tslab().typescript();
}
