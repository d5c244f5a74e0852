/**
 * Safe reading of .tar.gz archives with the `tar` package. Members are read into memory, never
 * written to disk, so an archive cannot place files anywhere. Every entry is checked: only regular
 * files and folders with relative paths free of ".." are allowed (links, devices and absolute or
 * escaping paths make the whole archive rejected), and wanted members must not exceed their size
 * limit.
 *
 * The work is bounded as the bytes arrive (caps in ./limits, each raisable by an option or an
 * environment variable): compressed bytes read (maxArchiveBytes, LEPTON_MAX_ARCHIVE_BYTES; the file
 * size is checked before reading), decompressed bytes (maxExtractBytes, LEPTON_MAX_EXTRACT_BYTES,
 * counted between gunzip and the tar parser), entries (maxEntries, LEPTON_MAX_ARCHIVE_ENTRIES) and
 * wall time (maxSeconds, LEPTON_MAX_EXTRACT_SECONDS). lepton gunzips itself and feeds node-tar plain
 * tar (node-tar's own decompression is not used, and a gzip or zstd stream inside the gzip is
 * refused). Once node-tar reports the end-of-archive marker (two zero blocks) nothing more is fed to
 * it: node-tar 7 would keep appending (and copying) every later chunk to a buffer, so a small gzip
 * tail of compressed zeros took minutes and gigabytes. What follows the marker is only decompressed
 * (to check the gzip trailer and hash the whole file) up to TAR_TAIL_ALLOWANCE bytes, tar's record
 * padding; more than that is refused as data appended to the archive.
 */
import * as fs from "fs";
import * as path from "path";
import { createGunzip, type Gunzip } from "zlib";
import { Parser, type ReadEntry } from "tar";
import { LIMITS, LimitError, limitValue } from "./limits";

export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArchiveError";
  }
}

export interface ReadArchiveOptions {
  /** Return the size limit in bytes for a member to keep (by its path), or undefined to skip it. */
  want(memberPath: string): number | undefined;
  /**
   * Called with each wanted member as soon as it is read (then it is not kept in the result map),
   * so that large archives can be decoded member by member. A throw rejects the archive.
   */
  onMember?(memberPath: string, data: Buffer): void;
  /** Fed every byte of the archive file as it is read (e.g. an md5 hash, to avoid a second pass). */
  hash?: { update(chunk: Buffer): unknown };
  /**
   * The most bytes all members together may hold by their headers, wanted or not (default: the
   * maxExtractBytes cap): members that are skipped still cost gunzip time.
   */
  maxTotalBytes?: number;
  /** The most entries (files and folders) the archive may have (default 10,000, LEPTON_MAX_ARCHIVE_ENTRIES). */
  maxEntries?: number;
  /** The most bytes of the archive file read (default 512 MiB, LEPTON_MAX_ARCHIVE_BYTES). */
  maxArchiveBytes?: number;
  /** The most bytes the archive may decompress to, padding included (default 512 MiB, LEPTON_MAX_EXTRACT_BYTES). */
  maxExtractBytes?: number;
  /** The most seconds reading the archive may take (default 600, LEPTON_MAX_EXTRACT_SECONDS). */
  maxSeconds?: number;
}

/**
 * Decompressed bytes that may follow the tar end-of-archive marker (tar pads its output to a whole
 * record, 10 KiB by default, 1 MiB at the largest common blocking factor); more is refused.
 */
export const TAR_TAIL_ALLOWANCE = 4 * 1024 * 1024;

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

/** Why a member path is unsafe, or undefined when it is a plain relative path. */
export function unsafePathReason(p: string): string | undefined {
  if (p.includes("\0")) return "contains a NUL byte";
  const norm = p.replace(/\\/g, "/");
  if (norm.startsWith("/") || /^[a-zA-Z]:/.test(norm)) return "is absolute";
  if (norm.split("/").some((seg) => seg === "..")) return 'climbs out with ".."';
  return undefined;
}

/** Read the wanted members of `archive` (gzip or plain tar) into memory, keyed by member path. */
export function readArchiveMembers(archive: string, options: ReadArchiveOptions): Promise<Map<string, Buffer>> {
  const name = path.basename(archive);
  return new Promise((resolve, reject) => {
    const members = new Map<string, Buffer>();
    let maxArchive: number, maxExtract: number, maxEntries: number, maxSeconds: number, size: number;
    try {
      maxArchive = limitValue(LIMITS.archiveBytes, options.maxArchiveBytes);
      maxExtract = limitValue(LIMITS.extractBytes, options.maxExtractBytes);
      maxEntries = limitValue(LIMITS.entries, options.maxEntries);
      maxSeconds = limitValue(LIMITS.extractSeconds, options.maxSeconds);
      size = fs.statSync(archive).size;
    } catch (err) {
      return reject((err as { code?: string }).code ? new ArchiveError(`${name}: cannot read the archive: ${(err as Error).message}`) : err);
    }
    const maxTotal = options.maxTotalBytes ?? maxExtract;
    if (size > maxArchive) return reject(new LimitError(name, `the archive file is ${size.toLocaleString("en-US")} bytes`, LIMITS.archiveBytes, maxArchive));
    let totalBytes = 0;
    let entries = 0;
    let compressed = 0;
    let extracted = 0;
    let afterEnd = 0;
    let sawEnd = false; // node-tar saw the end-of-archive marker: feed it nothing more
    let inputDone = false;
    let parserDone = false;
    let failed = false;
    let gunzip: Gunzip | undefined;
    let sniffed = false;
    let firstTarBytes = true;
    let head: Buffer | undefined;
    const started = Date.now();
    const input = fs.createReadStream(archive, { highWaterMark: 1 << 20 });
    // setTimeout holds at most 2^31 - 1 ms (about 24.8 days); a larger cap means no timer at all.
    const timer = maxSeconds * 1000 <= 0x7fffffff
      ? setTimeout(() => fail(new LimitError(name, `reading it took more than ${maxSeconds} s`, LIMITS.extractSeconds, maxSeconds)), maxSeconds * 1000)
      : undefined;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      input.destroy();
      gunzip?.destroy();
      (parser as unknown as { abort?(e: Error): void }).abort?.(err);
      reject(err.name !== "Error" ? err : new ArchiveError(`${name}: cannot read the archive: ${err.message}`));
    };
    const maybeDone = () => {
      if (failed || !inputDone || !parserDone) return;
      clearTimeout(timer);
      resolve(members);
    };
    const parser = new Parser({
      strict: true,
      zstd: false, // only gzip, and lepton's own gunzip (bounded) does it
      onReadEntry: (entry: ReadEntry) => {
        if (failed) return entry.resume();
        const p = entry.path;
        const why = unsafePathReason(p);
        if (why) return fail(new ArchiveError(`${name}: member "${p}" ${why}; refusing an archive that could write outside its folder.`));
        totalBytes += entry.size ?? 0;
        if (++entries > maxEntries) return fail(new LimitError(name, `more than ${maxEntries} entries`, LIMITS.entries, maxEntries));
        if (totalBytes > maxTotal) {
          const what = `its members hold more than ${maxTotal} bytes in all (at "${p}")`;
          if (options.maxTotalBytes === undefined) return fail(new LimitError(name, what, LIMITS.extractBytes, maxExtract));
          return fail(new ArchiveError(`${name}: ${what}; this is not the archive expected, so it is refused.`));
        }
        if (entry.type === "Directory") return entry.resume();
        if (!FILE_TYPES.has(entry.type)) {
          return fail(new ArchiveError(`${name}: member "${p}" is a ${entry.type}${entry.linkpath ? ` to "${entry.linkpath}"` : ""}; ` +
            `only regular files are accepted, so this archive is refused.`));
        }
        const limit = options.want(p);
        if (limit === undefined) return entry.resume();
        const size = entry.size ?? 0;
        if (size > limit) return fail(new ArchiveError(`${name}: member "${p}" is ${size} bytes, more than the ${limit} expected.`));
        const buf = Buffer.allocUnsafe(size);
        let at = 0;
        entry.on("data", (chunk: Buffer) => {
          if (failed) return;
          if (at + chunk.length > size) return fail(new ArchiveError(`${name}: member "${p}" holds more bytes than its header says (${size}).`));
          chunk.copy(buf, at);
          at += chunk.length;
        });
        entry.on("end", () => {
          if (failed) return;
          if (at !== size) return fail(new ArchiveError(`${name}: member "${p}" is truncated: ${at} of ${size} bytes.`));
          if (!options.onMember) return void members.set(p, buf);
          try {
            options.onMember(p, buf);
          } catch (err) {
            fail(err as Error);
          }
        });
      },
    });
    parser.on("eof", () => (sawEnd = true));
    parser.on("error", (err: Error) => fail(new ArchiveError(`${name}: damaged archive: ${err.message}`)));
    parser.on("abort", (err: Error) => fail(new ArchiveError(`${name}: damaged archive: ${err?.message ?? "aborted"}`)));
    parser.on("end", () => {
      parserDone = true;
      maybeDone();
    });
    const checkTime = () => {
      const s = (Date.now() - started) / 1000;
      if (s > maxSeconds) fail(new LimitError(name, `reading it took more than ${maxSeconds} s`, LIMITS.extractSeconds, maxSeconds));
    };
    /** Plain tar bytes, counted, then fed to node-tar until it has seen the end-of-archive marker. */
    const feedTar = (chunk: Buffer) => {
      if (failed) return;
      extracted += chunk.length;
      if (extracted > maxExtract) {
        return fail(new LimitError(name, `it decompresses to more than ${maxExtract.toLocaleString("en-US")} bytes (counted as they arrive)`, LIMITS.extractBytes, maxExtract));
      }
      if (sawEnd) {
        afterEnd += chunk.length;
        if (afterEnd > TAR_TAIL_ALLOWANCE) {
          fail(new ArchiveError(`${name}: more than ${TAR_TAIL_ALLOWANCE.toLocaleString("en-US")} bytes follow the tar end-of-archive marker ` +
            `(tar pads its end by far less); data was appended to the archive, so it is refused. Replace it with a fresh copy.`));
        }
        return;
      }
      if (firstTarBytes) {
        // Sniff the first 4 bytes however the gunzip output is chunked (node-tar would gunzip an inner
        // stream itself, uncounted): hold them back until there are 4.
        head = head ? Buffer.concat([head, chunk]) : chunk;
        if (head.length < 4) return;
        firstTarBytes = false;
        chunk = head;
        head = undefined;
        if ((chunk[0] === 0x1f && chunk[1] === 0x8b) || (chunk[0] === 0x28 && chunk[1] === 0xb5 && chunk[2] === 0x2f && chunk[3] === 0xfd)) {
          return fail(new ArchiveError(`${name}: holds compressed data inside its compressed data, not a tar archive; it is refused.`));
        }
      }
      parser.write(chunk);
      if (sawEnd && !failed) parser.end(); // the rest of the stream is only counted, never buffered
    };
    const tarInputEnded = () => {
      if (failed) return;
      if (head) parser.write(head); // a stream of fewer than 4 bytes: node-tar says what is wrong with it
      head = undefined;
      if (!sawEnd) parser.end();
      inputDone = true;
      maybeDone();
    };
    input.on("data", (data) => {
      const chunk = data as Buffer;
      if (failed) return;
      compressed += chunk.length;
      if (compressed > maxArchive) {
        return fail(new LimitError(name, `more than ${maxArchive.toLocaleString("en-US")} bytes were read from it`, LIMITS.archiveBytes, maxArchive));
      }
      checkTime();
      if (failed) return;
      options.hash?.update(chunk);
      if (!sniffed) {
        sniffed = true;
        if (chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) {
          gunzip = createGunzip({ chunkSize: 64 * 1024 });
          gunzip.on("data", (c: Buffer) => feedTar(c));
          gunzip.on("error", (err) => fail(new ArchiveError(`${name}: damaged gzip data: ${err.message}`)));
          gunzip.on("end", tarInputEnded);
        }
      }
      if (!gunzip) return feedTar(chunk);
      if (!gunzip.write(chunk)) {
        input.pause();
        gunzip.once("drain", () => input.resume());
      }
    });
    input.on("end", () => {
      if (failed) return;
      if (gunzip) gunzip.end();
      else tarInputEnded();
    });
    input.on("error", (err) => fail(err));
  });
}
