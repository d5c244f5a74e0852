/**
 * Download a file over HTTP(S) into place safely: stream into a temporary file in the target
 * folder, check the byte count and md5, and only then rename it to its final name. A failed or
 * truncated transfer or a wrong checksum removes the temporary file and leaves nothing behind.
 * Progress (bytes, rate, ETA) goes through lepton.display handle updates.
 */
import * as fs from "fs";
import * as path from "path";
import * as http from "http";
import * as https from "https";
import { createHash } from "crypto";
import { display, inKernel, type DisplayHandle } from "../display/display";
import { processAlive } from "../util/process";

export interface DownloadOptions {
  /** Expected md5 (hex). The file is renamed into place only when it matches. */
  md5: string;
  /** Show progress (default true). */
  progress?: boolean;
  /** Name shown in progress lines (default: the file name). */
  label?: string;
  /** Give up when the server does not answer, or no bytes arrive, for this long (ms, default 30 s). */
  idleTimeoutMs?: number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

function formatSeconds(s: number): string {
  if (!isFinite(s)) return "?";
  if (s < 60) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** The progress line: "name: 12.0 MB / 162.2 MB (7%), 4.1 MB/s, ETA 37 s". */
export function progressLine(label: string, received: number, total: number | undefined, seconds: number): string {
  const rate = seconds > 0 ? received / seconds : 0;
  const parts = [`${label}: ${formatBytes(received)}${total ? ` / ${formatBytes(total)} (${Math.floor((received / total) * 100)}%)` : ""}`];
  parts.push(`${formatBytes(rate)}/s`);
  if (total) parts.push(`ETA ${formatSeconds(rate > 0 ? (total - received) / rate : Infinity)}`);
  return parts.join(", ");
}

export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DownloadError";
  }
}

function get(url: string, redirectsLeft: number, timeoutMs: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith("https:") ? https : url.startsWith("http:") ? http : undefined;
    if (!client) return reject(new DownloadError(`unsupported URL ${url} (http or https only)`));
    const req = client.get(url, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirectsLeft <= 0) return reject(new DownloadError(`too many redirects fetching ${url}`));
        return resolve(get(new URL(res.headers.location, url).toString(), redirectsLeft - 1, timeoutMs));
      }
      if (status !== 200) {
        res.resume();
        return reject(new DownloadError(`${url} answered HTTP ${status}`));
      }
      resolve(res);
    });
    req.on("error", (err) => reject(new DownloadError(`cannot reach ${url}: ${err.message}`)));
    // No answer at all (a network that drops packets) must not hang the caller for minutes.
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
  });
}

/** Infix of temporary names in the cache (downloads and extraction): `<final name>.part-<pid>-<ms>`. */
const PART = ".part-";

/** A fresh temporary name beside `target`, which removeStaleParts recognises as one of its leftovers. */
export function partPath(target: string): string {
  return `${target}${PART}${process.pid}-${Date.now()}`;
}

/** How old a leftover temporary file or folder must be before it is removed even when its owner seems alive (a day). */
export const STALE_PART_MS = 24 * 60 * 60 * 1000;

/** The pid in a temporary name `<name>.part-<pid>-<ms>`, or undefined when there is none. */
export function partOwner(name: string): number | undefined {
  const m = /\.part-(\d+)-\d+$/.exec(name);
  const pid = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}


/**
 * Remove leftovers `<name>.part-*` of `target` (temporary files or folders of downloads or
 * extractions that a killed process left behind): those whose owner process (the pid in the name)
 * is no longer running, and any last changed more than `maxAgeMs` ago (a reused pid). Those of a
 * running process may be a download or extraction in progress and are kept. Returns the paths removed.
 */
/** How long a .part folder of a dead owner must be untouched before it is removed. */
export const QUIET_PART_MS = 10 * 60 * 1000;

export function removeStaleParts(target: string, maxAgeMs = STALE_PART_MS): string[] {
  const dir = path.dirname(target);
  const prefix = `${path.basename(target)}${PART}`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const full = path.join(dir, name);
    try {
      const owner = partOwner(name);
      // A pid is only meaningful on this host: a cache shared over NFS or between containers may hold
      // another machine's live download. So a dead owner also needs 10 minutes without a write.
      const age = now - fs.lstatSync(full).mtimeMs;
      const ownerGone = owner !== undefined && !processAlive(owner) && age > QUIET_PART_MS;
      if (ownerGone || age > maxAgeMs) {
        fs.rmSync(full, { recursive: true, force: true });
        removed.push(full);
      }
    } catch {
      /* gone meanwhile, or not ours to remove: leave it */
    }
  }
  return removed;
}

/**
 * Download `url` to `dest`. Leftover temporary files of earlier downloads of `dest` (whose process
 * is gone, or older than a day) are removed first. Resolves with dest once the md5 matched and the file was renamed into
 * place; rejects with a DownloadError (and no file at dest or its temp path) otherwise.
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions): Promise<string> {
  const label = options.label ?? path.basename(dest);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  removeStaleParts(dest);
  const tmp = partPath(dest);
  const showProgress = options.progress ?? true;
  let handle: DisplayHandle | undefined;
  const started = Date.now();
  let lastShown = 0;
  const interval = inKernel() ? 500 : 5000;
  try {
    const res = await get(url, 5, options.idleTimeoutMs ?? 30_000);
    const lengthHeader = res.headers["content-length"];
    const total = lengthHeader !== undefined ? Number(lengthHeader) : undefined;
    const hash = createHash("md5");
    let received = 0;
    if (showProgress) handle = display(progressLine(label, 0, total, 0));
    await new Promise<void>((resolve, reject) => {
      const out = fs.createWriteStream(tmp, { flags: "wx" });
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        res.destroy();
        out.destroy();
        reject(err);
      };
      res.setTimeout(options.idleTimeoutMs ?? 30_000, () => fail(new DownloadError(`no data from ${url} for ${(options.idleTimeoutMs ?? 30_000) / 1000} s`)));
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        hash.update(chunk);
        const now = Date.now();
        if (handle && now - lastShown >= interval) {
          lastShown = now;
          handle.update(progressLine(label, received, total, (now - started) / 1000));
        }
      });
      res.on("aborted", () => fail(new DownloadError(`the transfer of ${url} was cut off after ${received} bytes`)));
      res.on("error", (err) => fail(new DownloadError(`the transfer of ${url} failed after ${received} bytes: ${err.message}`)));
      res.on("end", () => {
        if (total !== undefined && received !== total) {
          fail(new DownloadError(`the transfer of ${url} was cut off: got ${received} of ${total} bytes`));
        }
      });
      out.on("error", (err) => fail(new DownloadError(`cannot write ${tmp}: ${err.message}`)));
      out.on("finish", () => {
        if (!failed) resolve();
      });
      res.pipe(out);
    });
    const md5 = hash.digest("hex");
    if (md5 !== options.md5.toLowerCase()) {
      throw new DownloadError(`${url} downloaded with md5 ${md5}, expected ${options.md5}: the file is damaged or not the expected one; nothing was saved`);
    }
    fs.renameSync(tmp, dest);
    handle?.update(`${progressLine(label, received, total, (Date.now() - started) / 1000)}: done, md5 verified`);
    return dest;
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    handle?.update(`${label}: download failed: ${(err as Error).message}`);
    throw err instanceof DownloadError ? err : new DownloadError(String((err as Error)?.message ?? err));
  }
}

/** md5 of a file on disk (hex). */
export function md5File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("md5");
    fs.createReadStream(file)
      .on("data", (c) => hash.update(c))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}
