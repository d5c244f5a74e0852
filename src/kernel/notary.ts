/**
 * Jupyter's notebook trust, without Python: the same signature nbformat's NotebookNotary computes
 * (nbformat/sign.py) and the same signature database, so a notebook `lepton run` writes opens in
 * JupyterLab / Notebook with its HTML and charts shown instead of sanitised away.
 *
 * How Jupyter decides: it reads the notebook with `nbformat.read` (json.loads, then rejoin_lines and
 * strip_transient from nbformat/v4/rwbase.py), computes HMAC-SHA256 keyed with the raw bytes of
 * DATA_DIR/notebook_secret over `yield_everything(nb)` (dict keys sorted, strings as UTF-8, anything
 * else as Python's `str()`), and trusts the notebook when that digest is a row of DATA_DIR/nbsignatures.db.
 * So the digest depends on how *Python* sees the JSON text: `1.0` is a float (str "1.0") and `1` an
 * int (str "1"), which a JavaScript number cannot tell apart. That is why everything here works from
 * the JSON text, parsed by parsePythonJson below, never from a JavaScript object.
 */
import { createHmac, randomBytes } from "crypto";
import fs from "fs";
import os from "os";
import path from "path";
import { userDataDir } from "./spec";

// ---------------------------------------------------------------------------------------------------
// The notebook as Python's json module sees it
// ---------------------------------------------------------------------------------------------------

/** A number, bool or null, kept as the text Python's `str()` gives it ("1e-05", "True", "None", "12"). */
export class PyScalar {
  constructor(readonly str: string) {}
}

/** A JSON value as Python holds it: dict (a Map, so "__proto__" is an ordinary key), list, str, or scalar. */
export type PyValue = Map<string, PyValue> | PyValue[] | string | PyScalar;
export type PyDict = Map<string, PyValue>;

/** `repr(float)` (= `str(float)`) in Python 3: shortest round-trip digits, exponent outside 1e-4 <= |x| < 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  // toExponential() without an argument gives the shortest digits that round-trip, as Python's repr does.
  const [mantissa, expText] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exp = Number(expText);
  const decpt = exp + 1; // where the decimal point goes, counted from the first digit
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
}

/** Thrown for text Python's json.loads would refuse too (so Jupyter could not read or sign it either). */
export class NotebookJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotebookJsonError";
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

/**
 * JSON text → PyValue, following Python's json.loads: a number with a fraction or exponent is a float,
 * otherwise an int (any size); NaN, Infinity and -Infinity are accepted (Python writes them); raw control
 * characters in strings are refused (strict mode); a repeated key keeps its last value.
 */
export function parsePythonJson(text: string): PyValue {
  let i = 0;
  const fail = (what: string): never => {
    const line = text.slice(0, i).split("\n").length;
    throw new NotebookJsonError(`${what} at line ${line} (character ${i})`);
  };
  const skip = () => {
    WHITESPACE.lastIndex = i;
    WHITESPACE.exec(text);
    i = WHITESPACE.lastIndex;
  };
  const parseString = (): string => {
    i++; // the opening quote
    let out = "";
    for (;;) {
      const start = i;
      while (i < text.length && text[i] !== '"' && text[i] !== "\\" && text.charCodeAt(i) >= 0x20) i++;
      out += text.slice(start, i);
      if (i >= text.length) fail("unterminated string");
      const ch = text[i];
      if (ch === '"') {
        i++;
        return out;
      }
      if (ch !== "\\") fail(`invalid control character U+${text.charCodeAt(i).toString(16).padStart(4, "0")} in a string`);
      const esc = text[i + 1];
      const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
      if (esc in simple) {
        out += simple[esc];
        i += 2;
      } else if (esc === "u") {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("invalid \\u escape");
        // Two escapes forming a surrogate pair are one character, as in Python; a lone one stays lone.
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else fail(`invalid escape \\${esc ?? ""}`);
    }
  };
  const parseValue = (): PyValue => {
    skip();
    const ch = text[i];
    if (ch === "{") {
      i++;
      const dict: PyDict = new Map();
      skip();
      if (text[i] === "}") {
        i++;
        return dict;
      }
      for (;;) {
        skip();
        if (text[i] !== '"') fail("expected a property name in double quotes");
        const key = parseString();
        skip();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        dict.set(key, parseValue());
        skip();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return dict;
        } else fail("expected ',' or '}'");
      }
    }
    if (ch === "[") {
      i++;
      const list: PyValue[] = [];
      skip();
      if (text[i] === "]") {
        i++;
        return list;
      }
      for (;;) {
        list.push(parseValue());
        skip();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return list;
        } else fail("expected ',' or ']'");
      }
    }
    if (ch === '"') return parseString();
    for (const [word, str] of [["true", "True"], ["false", "False"], ["null", "None"], ["NaN", "nan"], ["Infinity", "inf"], ["-Infinity", "-inf"]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return new PyScalar(str);
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail("expected a value");
    i = NUMBER.lastIndex;
    if (m![1] === undefined && m![2] === undefined) return new PyScalar(m![0] === "-0" ? "0" : m![0]); // int: its digits
    return new PyScalar(pythonFloatRepr(Number(m![0])));
  };
  const value = parseValue();
  skip();
  if (i < text.length) fail("extra data after the JSON value");
  return value;
}

// ---------------------------------------------------------------------------------------------------
// What nbformat.read does after json.loads (nbformat/v4/rwbase.py), and the digest (nbformat/sign.py)
// ---------------------------------------------------------------------------------------------------

const isDict = (v: PyValue | undefined): v is PyDict => v instanceof Map;
const isJsonMime = (mime: string) => mime === "application/json" || (mime.startsWith("application/") && mime.endsWith("+json"));
const joinIfLines = (v: PyValue | undefined): PyValue | undefined =>
  Array.isArray(v) && v.every((line) => typeof line === "string") ? v.join("") : v;

/** rwbase._rejoin_mimebundle: lists of lines become one string, except under JSON mime types. */
function rejoinMimebundle(data: PyValue | undefined): void {
  if (!isDict(data)) return;
  for (const [mime, value] of data) if (!isJsonMime(mime) && Array.isArray(value)) data.set(mime, joinIfLines(value)!);
}

/** Python's bool(value) (rejoin_lines tests `elif output_type:`); a missing value is falsy. */
function pythonTruthy(v: PyValue | undefined): boolean {
  if (v === undefined) return false;
  if (v instanceof PyScalar) return !["None", "False", "0", "0.0", "-0.0"].includes(v.str);
  return isDict(v) ? v.size > 0 : v.length > 0;
}

/** rwbase.rejoin_lines followed by rwbase.strip_transient, in place (both run inside nbformat.read). */
export function normalizeLikeNbformat(nb: PyDict): PyDict {
  const cells = nb.get("cells");
  for (const cell of Array.isArray(cells) ? cells : []) {
    if (!isDict(cell)) continue;
    const source = cell.get("source");
    if (Array.isArray(source)) cell.set("source", joinIfLines(source)!);
    const attachments = cell.get("attachments");
    if (isDict(attachments)) for (const a of attachments.values()) rejoinMimebundle(a);
    const outputs = cell.get("outputs");
    if (cell.get("cell_type") !== "code" || !Array.isArray(outputs)) continue;
    for (const output of outputs) {
      if (!isDict(output)) continue;
      const type = output.get("output_type");
      if (type === "execute_result" || type === "display_data") rejoinMimebundle(output.get("data"));
      else if (pythonTruthy(type) && Array.isArray(output.get("text"))) output.set("text", joinIfLines(output.get("text"))!);
    }
  }
  const metadata = nb.get("metadata");
  if (isDict(metadata)) for (const key of ["orig_nbformat", "orig_nbformat_minor", "signature"]) metadata.delete(key);
  for (const cell of Array.isArray(cells) ? cells : []) {
    const cellMeta = isDict(cell) ? cell.get("metadata") : undefined;
    if (isDict(cellMeta)) cellMeta.delete("trusted");
  }
  return nb;
}

/** Python's `sorted()` of str: by code point (JavaScript's default sort compares UTF-16 units, which differs above U+FFFF). */
function compareCodePoints(a: string, b: string): number {
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** `s.encode("utf8")`; Python raises on a lone surrogate, so Jupyter cannot sign such a notebook and neither do we. */
function utf8(s: string): Buffer {
  if (LONE_SURROGATE.test(s)) {
    throw new NotebookJsonError(`the notebook holds a string with an unpaired surrogate (\\u${s.match(LONE_SURROGATE)![0].charCodeAt(0).toString(16)}), ` +
      "which Jupyter cannot sign either: remove that character");
  }
  return Buffer.from(s, "utf8");
}

/** sign.yield_everything, feeding the HMAC as it goes. */
function feed(update: (b: Buffer) => void, v: PyValue): void {
  if (isDict(v)) {
    for (const key of [...v.keys()].sort(compareCodePoints)) {
      update(utf8(key));
      feed(update, v.get(key)!);
    }
  } else if (Array.isArray(v)) for (const x of v) feed(update, x);
  else if (typeof v === "string") update(utf8(v));
  else update(Buffer.from(v.str, "utf8"));
}

/** A notebook to sign or check: a file, its JSON text, or a JavaScript object (taken as JSON.stringify writes it). */
export type NotebookSource = string | { json: string } | Record<string, unknown>;

function notebookText(source: NotebookSource): { text: string; label: string } {
  if (typeof source === "string") return { text: fs.readFileSync(source, "utf8"), label: source };
  if (typeof (source as { json?: unknown }).json === "string" && Object.keys(source).length === 1) return { text: (source as { json: string }).json, label: "<notebook>" };
  return { text: JSON.stringify(source), label: "<notebook>" };
}

/** The notebook as `nbformat.read(f, as_version=4)` gives it to the notary (nbformat 4 only). */
export function readForSigning(source: NotebookSource): PyDict {
  const { text, label } = notebookText(source);
  let nb: PyValue;
  try {
    nb = parsePythonJson(text);
  } catch (err) {
    throw new NotebookJsonError(`${label} is not valid notebook JSON: ${(err as Error).message}`);
  }
  if (!isDict(nb) || !isDict(nb.get("metadata")) || !Array.isArray(nb.get("cells"))) {
    throw new NotebookJsonError(`${label} is not a notebook (it needs "cells", "metadata" and "nbformat")`);
  }
  const major = nb.get("nbformat");
  if (!(major instanceof PyScalar) || major.str !== "4") {
    throw new NotebookJsonError(`${label} is not an nbformat 4 notebook: open and save it in a current Jupyter first`);
  }
  return normalizeLikeNbformat(nb);
}

/**
 * Why Jupyter will not keep this notebook's signature stable, or undefined: nbformat 4.5+ gives a cell
 * without an id, or with a repeated id, a new random id on every read, so its digest changes each time.
 */
export function unstableIds(nb: PyDict): string | undefined {
  const minor = nb.get("nbformat_minor");
  if (!(minor instanceof PyScalar) || !(Number(minor.str) >= 5)) return undefined;
  const seen = new Set<string>();
  for (const [i, cell] of (nb.get("cells") as PyValue[]).entries()) {
    const id = isDict(cell) ? cell.get("id") : undefined;
    if (id === undefined) return `cell ${i + 1} has no id, so Jupyter gives it a random one on every read and never trusts it; save it once in Jupyter (or run it with lepton run) to add ids`;
    const key = id instanceof PyScalar ? id.str : JSON.stringify(id);
    if (seen.has(key)) return `cell ${i + 1} repeats the id ${key}, so Jupyter replaces it with a random one on every read and never trusts the notebook; give each cell its own id`;
    seen.add(key);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Where Jupyter keeps its secret and signatures
// ---------------------------------------------------------------------------------------------------

export interface NotaryOptions {
  /** Jupyter's data folder (default: as jupyter_core finds it, see notaryDataDir). */
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * jupyter_core.paths.jupyter_data_dir(): JUPYTER_DATA_DIR, else Linux $XDG_DATA_HOME/jupyter or
 * ~/.local/share/jupyter, macOS ~/Library/Jupyter, Windows %APPDATA%\jupyter (spec.ts's userDataDir),
 * and on Windows without APPDATA the config folder's `data` (JUPYTER_CONFIG_DIR or ~/.jupyter).
 */
export function notaryDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === "win32" && !env.JUPYTER_DATA_DIR && !env.APPDATA) {
    return path.join(env.JUPYTER_CONFIG_DIR || path.join(env.USERPROFILE || env.HOME || os.homedir(), ".jupyter"), "data");
  }
  return userDataDir(env, platform);
}

export function notaryFiles(options: NotaryOptions = {}): { dataDir: string; secretFile: string; dbFile: string } {
  const dataDir = options.dataDir ?? notaryDataDir(options.env);
  return { dataDir, secretFile: path.join(dataDir, "notebook_secret"), dbFile: path.join(dataDir, "nbsignatures.db") };
}

/**
 * The raw bytes of notebook_secret, creating it as nbformat does when it is missing (base64 of 1024
 * random bytes in 76-character lines, mode 0600). Created exclusively, so two processes starting at
 * once agree on one secret. Returns undefined when it is missing and `create` is false.
 */
export function notarySecret(options: NotaryOptions & { create?: boolean } = {}): Buffer | undefined {
  const { dataDir, secretFile } = notaryFiles(options);
  try {
    return fs.readFileSync(secretFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    if (options.create === false) return undefined;
  }
  const secret = Buffer.from(randomBytes(1024).toString("base64").replace(/.{76}/g, "$&\n").replace(/\n?$/, "\n"));
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(secretFile, secret, { flag: "wx", mode: 0o600 });
    fs.chmodSync(secretFile, 0o600);
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return fs.readFileSync(secretFile); // another process won the race
    throw err;
  }
}

/** NotebookNotary.compute_signature: hex HMAC-SHA256 of the notebook as Jupyter reads it. */
export function computeSignature(source: NotebookSource | PyDict, options: NotaryOptions & { secret?: Buffer } = {}): string {
  const nb = source instanceof Map ? source : readForSigning(source);
  const secret = options.secret ?? notarySecret(options)!;
  const hmac = createHmac("sha256", secret);
  feed((b) => hmac.update(b), nb);
  return hmac.digest("hex");
}

// ---------------------------------------------------------------------------------------------------
// The signature database (nbformat's SQLiteSignatureStore)
// ---------------------------------------------------------------------------------------------------

interface Db {
  exec(sql: string): void;
  run(sql: string, values?: unknown): unknown;
  get(sql: string, values?: unknown): Record<string, unknown> | null;
  close(): void;
  readonly inTransaction: boolean;
}

// SQLiteSignatureStore.init_db, word for word (SQLite keeps the statement text in its schema).
const CREATE_TABLE = `
            CREATE TABLE IF NOT EXISTS nbsignatures
            (
                id integer PRIMARY KEY AUTOINCREMENT,
                algorithm text,
                signature text,
                path text,
                last_seen timestamp
            )`;
const CREATE_INDEX = `
            CREATE INDEX IF NOT EXISTS algosig ON nbsignatures(algorithm, signature)
            `;
const CACHE_SIZE = 65535;
const ALGORITHM = "sha256";

/** `datetime.utcnow()` as Python's sqlite3 stores it: "YYYY-MM-DD HH:MM:SS[.ffffff]" (no fraction when it is 0). */
function pythonUtcTimestamp(now = new Date()): string {
  const iso = now.toISOString(); // 2026-01-02T03:04:05.678Z
  const ms = now.getUTCMilliseconds();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms ? `.${String(ms * 1000).padStart(6, "0")}` : ""}`;
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const isBusy = (err: unknown) => /database is locked|database table is locked|busy/i.test(String((err as Error)?.message));

/**
 * Open the database, run `fn`, close it. A database another process is writing is "locked" for a few
 * milliseconds: retry for about three seconds before giving up.
 */
function withDatabase<T>(dbFile: string, readOnly: boolean, fn: (db: Db) => T): T {
  const { Database } = require("node-sqlite3-wasm");
  for (let attempt = 0; ; attempt++) {
    let db: Db | undefined;
    try {
      db = new Database(dbFile, { readOnly }) as Db;
      return fn(db);
    } catch (err) {
      if (db?.inTransaction) {
        try {
          db.exec("ROLLBACK");
        } catch {
          /* closing discards it anyway */
        }
      }
      if (!isBusy(err) || attempt >= 30) throw err;
    } finally {
      db?.close();
    }
    sleepSync(Math.min(20 * (attempt + 1), 200));
  }
}

/**
 * SQLiteSignatureStore.store_signature: insert, or refresh last_seen; cull the oldest quarter past 65535
 * rows. One short transaction. Returns whether the signature was already there.
 */
function storeSignature(dbFile: string, digest: string): boolean {
  return withDatabase(dbFile, false, (db) => {
    db.exec(CREATE_TABLE);
    db.exec(CREATE_INDEX);
    db.exec("BEGIN IMMEDIATE");
    const known = !!db.get("SELECT id FROM nbsignatures WHERE algorithm = ? AND signature = ?;", [ALGORITHM, digest]);
    if (!known) db.run("INSERT INTO nbsignatures (algorithm, signature, last_seen) VALUES (?, ?, ?)", [ALGORITHM, digest, pythonUtcTimestamp()]);
    else db.run("UPDATE nbsignatures SET last_seen = ? WHERE algorithm = ? AND signature = ?;", [pythonUtcTimestamp(), ALGORITHM, digest]);
    const n = Number(db.get("SELECT Count(*) AS n FROM nbsignatures")?.n ?? 0);
    if (n > CACHE_SIZE) {
      db.run("DELETE FROM nbsignatures WHERE id IN (SELECT id FROM nbsignatures ORDER BY last_seen DESC LIMIT -1 OFFSET ?);", [Math.max(Math.floor(0.75 * CACHE_SIZE), 1)]);
    }
    db.exec("COMMIT");
    return known;
  });
}

/** Whether `digest` is in the database (read-only: checking never creates or changes a file). */
function knownSignature(dbFile: string, digest: string): boolean {
  if (!fs.existsSync(dbFile)) return false;
  return withDatabase(dbFile, true, (db) => {
    const table = db.get("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'nbsignatures'");
    return !!table && !!db.get("SELECT id FROM nbsignatures WHERE algorithm = ? AND signature = ?;", [ALGORITHM, digest]);
  });
}

// ---------------------------------------------------------------------------------------------------
// Public: sign, check, and the never-failing variant for executed notebooks
// ---------------------------------------------------------------------------------------------------

export interface SignResult {
  signature: string;
  /** The signature was already in the database. */
  alreadySigned: boolean;
  /** A reason Jupyter will still not trust it (see unstableIds). */
  warning?: string;
}

/** `jupyter trust`: store the notebook's signature in Jupyter's database (creating the secret and database if needed). */
export function signNotebook(source: NotebookSource, options: NotaryOptions = {}): SignResult {
  const nb = readForSigning(source);
  const { dbFile } = notaryFiles(options);
  const signature = computeSignature(nb, options);
  const alreadySigned = storeSignature(dbFile, signature);
  return { signature, alreadySigned, warning: unstableIds(nb) };
}

/** Whether Jupyter would trust the notebook now (false when there is no secret or database yet). */
export function isTrusted(source: NotebookSource, options: NotaryOptions = {}): boolean {
  const secret = notarySecret({ ...options, create: false });
  if (!secret) return false;
  return knownSignature(notaryFiles(options).dbFile, computeSignature(source, { ...options, secret }));
}

/** A short reason for a signing failure, with the one thing that usually fixes it. */
function describeFailure(err: unknown, dbFile: string): string {
  const e = err as NodeJS.ErrnoException;
  const message = String(e?.message ?? e);
  if (/file is not a database|malformed|corrupt/i.test(message)) {
    return `the signature database ${dbFile} is damaged (${message}); Jupyter moves a damaged one aside and starts a new one when it next opens it, ` +
      `or rename it yourself (e.g. to nbsignatures.db.bak: the notebooks it trusted become untrusted) and run lepton trust again`;
  }
  if (isBusy(err)) {
    const lock = `${dbFile}.lock`;
    return `the signature database ${dbFile} stayed locked (${message})` +
      (fs.existsSync(lock) ? `; if no lepton is running, remove the stale lock folder ${lock}` : "");
  }
  if (["EACCES", "EPERM", "EROFS", "ENOTDIR", "ENOENT", "EEXIST"].includes(e?.code ?? "") || /readonly|read-only|unable to open|could not open/i.test(message)) {
    return `Jupyter's data folder ${path.dirname(dbFile)} cannot be created or written (${message}); ` +
      "fix its permissions, or point JUPYTER_DATA_DIR at the folder your Jupyter uses (`jupyter --data-dir` prints it)";
  }
  return message;
}

/**
 * Sign an executed notebook and never throw: on any failure print one warning (via `warn`) that says
 * what failed and how to trust it by hand. The notebook file itself is only read, never written.
 */
export function trustExecutedNotebook(file: string, options: NotaryOptions & { warn: (line: string) => void }): boolean {
  let dbFile = "nbsignatures.db";
  try {
    dbFile = notaryFiles(options).dbFile;
    const result = signNotebook(file, options);
    if (result.warning) options.warn(`${file} was signed, but ${result.warning}`);
    return true;
  } catch (err) {
    options.warn(`could not mark ${file} as trusted for Jupyter: ${describeFailure(err, dbFile)}. ` +
      `Until it is trusted, Jupyter hides its HTML output and charts; trust it by hand with: jupyter trust ${JSON.stringify(file)}`);
    return false;
  }
}

const TRUST_USAGE = `usage: lepton trust NOTEBOOK.ipynb...
  Signs each notebook with your Jupyter key (DATA_DIR/notebook_secret) and records the signature in
  DATA_DIR/nbsignatures.db, as \`jupyter trust\` does, so Jupyter shows its HTML output and charts.
  DATA_DIR is Jupyter's data folder: JUPYTER_DATA_DIR, else ~/.local/share/jupyter (Linux; or
  $XDG_DATA_HOME/jupyter), ~/Library/Jupyter (macOS), %APPDATA%\\jupyter (Windows).
  --check   only report whether each notebook is trusted (exit 1 if one is not)`;

/** `lepton trust NOTEBOOK...` (and `--check`). */
export async function trustCommand(argv: string[]): Promise<number> {
  const files: string[] = [];
  let check = false;
  for (const a of argv) {
    if (a === "-h" || a === "--help") {
      console.log(TRUST_USAGE);
      return 0;
    } else if (a === "--check") check = true;
    else if (a.startsWith("-")) {
      console.error(`lepton trust: unknown option ${a}\n${TRUST_USAGE}`);
      return 2;
    } else files.push(a);
  }
  if (files.length === 0) {
    console.error(`lepton trust: no notebook given\n${TRUST_USAGE}`);
    return 2;
  }
  let status = 0;
  for (const file of files) {
    try {
      if (!fs.existsSync(file)) throw new Error(`${file}: no such notebook`);
      if (check) {
        const trusted = isTrusted(file);
        console.log(`${trusted ? "Trusted" : "Not trusted"}: ${file}`);
        if (!trusted) status = 1;
        continue;
      }
      const result = signNotebook(file);
      console.log(`${result.alreadySigned ? "Notebook already signed" : "Signing notebook"}: ${file}`);
      if (result.warning) console.error(`lepton trust: warning: ${file}: ${result.warning}`);
    } catch (err) {
      console.error(`lepton trust: ${file}: ${describeFailure(err, notaryFiles().dbFile)}`);
      status = 1;
    }
  }
  return status;
}
