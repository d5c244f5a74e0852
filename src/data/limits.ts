/**
 * Caps on the work any input file may cause (archives, compressed files, images, IDX files), so
 * that a small hostile or damaged file cannot take minutes or gigabytes. Each cap has a default
 * sized well above the real data sets (CIFAR-10: 170 MB archive, ~185 MB of tar; Fashion-MNIST:
 * 47 MB largest IDX file), and can be raised by an option of the function that reads the file or by
 * an environment variable (a plain number; the option wins). Errors name the file, the cap and both
 * ways to raise it.
 *
 *   LEPTON_MAX_ARCHIVE_BYTES    compressed bytes of one archive read        (default 512 MiB)
 *   LEPTON_MAX_EXTRACT_BYTES    decompressed bytes of one archive           (default 512 MiB)
 *   LEPTON_MAX_ARCHIVE_ENTRIES  entries (files, folders, headers) of one    (default 10,000)
 *   LEPTON_MAX_EXTRACT_SECONDS  wall time to read one archive               (default 600)
 *   LEPTON_MAX_IDX_BYTES        bytes of one IDX file, after gunzip         (default 64 MiB)
 *   LEPTON_MAX_IMAGE_PIXELS     width x height of one JPEG or PNG           (default 50,000,000)
 *   LEPTON_MAX_IMAGE_BYTES      file size of one JPEG or PNG                (default 64 MiB)
 */
import { DataFormatError } from "./errors";

export interface LimitSpec {
  /** The option that raises it, e.g. "maxExtractBytes". */
  option: string;
  /** The environment variable that raises it, e.g. "LEPTON_MAX_EXTRACT_BYTES". */
  env: string;
  default: number;
  /** Unit in messages ("bytes", "entries", "s", "pixels"). */
  unit: string;
}

export const LIMITS = {
  archiveBytes: { option: "maxArchiveBytes", env: "LEPTON_MAX_ARCHIVE_BYTES", default: 512 * 1024 * 1024, unit: "bytes" },
  extractBytes: { option: "maxExtractBytes", env: "LEPTON_MAX_EXTRACT_BYTES", default: 512 * 1024 * 1024, unit: "bytes" },
  entries: { option: "maxEntries", env: "LEPTON_MAX_ARCHIVE_ENTRIES", default: 10_000, unit: "entries" },
  extractSeconds: { option: "maxSeconds", env: "LEPTON_MAX_EXTRACT_SECONDS", default: 600, unit: "s" },
  idxBytes: { option: "maxBytes", env: "LEPTON_MAX_IDX_BYTES", default: 64 * 1024 * 1024, unit: "bytes" },
  imagePixels: { option: "maxPixels", env: "LEPTON_MAX_IMAGE_PIXELS", default: 50_000_000, unit: "pixels" },
  imageBytes: { option: "maxBytes", env: "LEPTON_MAX_IMAGE_BYTES", default: 64 * 1024 * 1024, unit: "bytes" },
} as const satisfies Record<string, LimitSpec>;

/** The cap in force: the option when given, else the environment variable, else the default. */
export function limitValue(spec: LimitSpec, option?: number): number {
  if (option !== undefined) {
    if (!(typeof option === "number" && option > 0)) throw new Error(`${spec.option} must be a number > 0; got ${option}.`);
    return option;
  }
  const raw = process.env[spec.env];
  if (raw === undefined || raw.trim() === "") return spec.default;
  const v = Number(raw.replace(/_/g, ""));
  if (!(v > 0)) throw new Error(`$${spec.env} must be a number > 0; it is "${raw}".`);
  return v;
}

/** "raise it with { maxExtractBytes } or LEPTON_MAX_EXTRACT_BYTES=<n> if the file is genuine" */
export function howToRaise(spec: LimitSpec): string {
  return `if the file is genuine, raise the cap with { ${spec.option} } or the environment variable ${spec.env}`;
}

/** The refusal for `file` going over `spec`'s cap `value`. */
export class LimitError extends DataFormatError {
  constructor(file: string, what: string, spec: LimitSpec, value: number) {
    super(`${file}: ${what} (the cap is ${value.toLocaleString("en-US")} ${spec.unit}, ${spec.env}); ` +
      `it is refused so that it cannot take unbounded time or memory. ${howToRaise(spec)}.`);
    this.name = "LimitError";
  }
}
