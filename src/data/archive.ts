/**
 * Safe reading of .tar.gz archives with the `tar` package. Members are read into memory, never
 * written to disk, so an archive cannot place files anywhere. Every entry is checked: only regular
 * files and folders with relative paths free of ".." are allowed (links, devices and absolute or
 * escaping paths make the whole archive rejected), and wanted members must not exceed their size
 * limit.
 */
import * as fs from "fs";
import * as path from "path";
import { Parser, type ReadEntry } from "tar";

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
   * The most bytes all members together may hold, wanted or not (default 1 GiB): members that are
   * skipped still cost gunzip time, so an archive may not be endless.
   */
  maxTotalBytes?: number;
  /** The most entries (files and folders) the archive may have (default 10,000). */
  maxEntries?: number;
}

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
    const maxTotal = options.maxTotalBytes ?? 1024 * 1024 * 1024;
    const maxEntries = options.maxEntries ?? 10_000;
    let totalBytes = 0;
    let entries = 0;
    let failed = false;
    const input = fs.createReadStream(archive, { highWaterMark: 1 << 20 });
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      input.destroy();
      reject(err.name !== "Error" ? err : new ArchiveError(`${name}: cannot read the archive: ${err.message}`));
    };
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        if (failed) return entry.resume();
        const p = entry.path;
        const why = unsafePathReason(p);
        if (why) return fail(new ArchiveError(`${name}: member "${p}" ${why}; refusing an archive that could write outside its folder.`));
        totalBytes += entry.size ?? 0;
        if (++entries > maxEntries) {
          return fail(new ArchiveError(`${name}: more than ${maxEntries} entries; this is not the archive expected, so it is refused.`));
        }
        if (totalBytes > maxTotal) {
          return fail(new ArchiveError(`${name}: its members hold more than ${maxTotal} bytes in all (at "${p}"); ` +
            `this is not the archive expected, so it is refused.`));
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
    parser.on("error", (err: Error) => fail(new ArchiveError(`${name}: damaged archive: ${err.message}`)));
    parser.on("abort", (err: Error) => fail(new ArchiveError(`${name}: damaged archive: ${err?.message ?? "aborted"}`)));
    parser.on("end", () => {
      if (!failed) resolve(members);
    });
    input.on("error", (err) => fail(err));
    if (options.hash) input.on("data", (chunk) => options.hash!.update(chunk as Buffer));
    input.pipe(parser as unknown as NodeJS.WritableStream);
  });
}
