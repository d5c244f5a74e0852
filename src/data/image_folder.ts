/**
 * Images in class subfolders (dir/<class>/<image>.jpg|.jpeg|.png), decoded with jpeg-js and pngjs,
 * resized (bilinear) to size x size, kept as uint8 RGB (or grey) in memory. Classes are the
 * subfolder names in sorted order; files with other extensions and hidden files are skipped.
 *
 * Decoding is bounded (caps in ./limits): a file larger than LEPTON_MAX_IMAGE_BYTES (64 MiB) is
 * refused unread, and an image of more than LEPTON_MAX_IMAGE_PIXELS (50 megapixels) is refused
 * before decoding: a PNG's width and height are read from its IHDR chunk, a JPEG's by jpeg-js's own
 * maxResolutionInMP (set to the same cap) and maxMemoryUsageInMB. Options { maxPixels, maxBytes }
 * raise them per call.
 *
 * Empty class folders (no image files) are kept as classes, so that label numbers follow the folder
 * names, but each load says so in a "Notice:" line naming them (a class without examples is almost
 * always a mistake), shown with display() or passed to { onNotice } when given. If every class
 * folder is empty the load is refused.
 */
import * as fs from "fs";
import * as zlib from "zlib";
import * as path from "path";
import * as jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { display } from "../display/display";
import { DataFormatError, DataNotFoundError } from "./errors";
import { LIMITS, LimitError, limitValue } from "./limits";
import { fromStore, type InMemoryDataset } from "./tensor_dataset";

export interface ImageFolderOptions {
  /** Output side length, or [height, width]. */
  size: number | readonly [number, number];
  /** 3 for RGB (default) or 1 for grey (mean of R, G, B). */
  channels?: 1 | 3;
  /** The most pixels (width x height) one image may have (default 50,000,000, LEPTON_MAX_IMAGE_PIXELS). */
  maxPixels?: number;
  /** The most bytes one image file may have (default 64 MiB, LEPTON_MAX_IMAGE_BYTES). */
  maxBytes?: number;
  /** Receives notices (e.g. empty class folders) instead of their being shown with display(). */
  onNotice?: (text: string) => void;
}

/** Caps for decodeImage. */
export interface DecodeLimits {
  maxPixels?: number;
  maxBytes?: number;
}

/** Width and height from a PNG's IHDR chunk (the first chunk, right after the 8-byte signature). */
export function pngSize(buf: Uint8Array): { width: number; height: number } | undefined {
  if (buf.length < 24) return undefined;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.toString("latin1", 12, 16) !== "IHDR") return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** Decoded RGBA pixels. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * pngjs inflates an interlaced PNG's data with no output limit (a 16 x 16 image could inflate to
 * gigabytes): inflate it first with a cap of what its size can hold (8 bytes a pixel, 16-bit RGBA,
 * plus the filter bytes of every row of the 7 passes).
 */
function checkInterlacedInflate(file: string, buf: Buffer, width: number, height: number): void {
  const parts: Buffer[] = [];
  for (let at = 8; at + 8 <= buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString("latin1", at + 4, at + 8);
    if (type === "IDAT") parts.push(buf.subarray(at + 8, Math.min(buf.length, at + 8 + len)));
    if (type === "IEND") break;
    at += 12 + len;
  }
  const cap = height * (1 + width * 8) + 7 * (height + 8) + 1024;
  try {
    zlib.inflateSync(Buffer.concat(parts), { maxOutputLength: cap });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
      throw new DataFormatError(`${file}: its image data inflates to more than a ${width} x ${height} image can hold (${cap.toLocaleString("en-US")} bytes); the file is damaged or hostile, so it is refused.`);
    }
    // Other inflate errors: pngjs reports them below.
  }
}

/** Decode a JPEG or PNG file (chosen by its first bytes) to RGBA. */
export function decodeImage(file: string, limits: DecodeLimits = {}): RgbaImage {
  const maxPixels = limitValue(LIMITS.imagePixels, limits.maxPixels);
  const maxBytes = limitValue(LIMITS.imageBytes, limits.maxBytes);
  const st = fs.statSync(file);
  if (!st.isFile()) throw new DataFormatError(`${file}: not a regular file (a device, pipe or folder); remove it from the image folder.`);
  const size = st.size;
  if (size > maxBytes) throw new LimitError(file, `the image file is ${size.toLocaleString("en-US")} bytes`, LIMITS.imageBytes, maxBytes);
  const buf = fs.readFileSync(file);
  const tooMany = (w: number, h: number) =>
    new LimitError(file, `the image is ${w} x ${h} = ${(w * h).toLocaleString("en-US")} pixels`, LIMITS.imagePixels, maxPixels);
  try {
    if (buf.length > 3 && buf[0] === 0xff && buf[1] === 0xd8) {
      const img = jpeg.decode(buf, {
        useTArray: true, formatAsRGBA: true, maxResolutionInMP: maxPixels / 1e6,
        maxMemoryUsageInMB: Math.max(512, Math.ceil((maxPixels * 8) / (1024 * 1024))),
      });
      return { width: img.width, height: img.height, data: img.data };
    }
    if (buf.length > 8 && buf.subarray(1, 4).toString("latin1") === "PNG") {
      const dims = pngSize(buf);
      if (dims && dims.width * dims.height > maxPixels) throw tooMany(dims.width, dims.height);
      if (dims && buf.length > 28 && buf[28] === 1) checkInterlacedInflate(file, buf, dims.width, dims.height);
      const img = PNG.sync.read(buf);
      return { width: img.width, height: img.height, data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length) };
    }
  } catch (err) {
    if (err instanceof LimitError) throw err;
    const m = /maxResolutionInMP limit exceeded by ([\d.]+)MP/.exec((err as Error).message);
    if (m) {
      throw new LimitError(file, `the JPEG image exceeds the pixel cap by ${m[1]} megapixels`, LIMITS.imagePixels, maxPixels);
    }
    throw new DataFormatError(`${file}: cannot decode the image (${(err as Error).message}); remove or replace the file.`);
  }
  throw new DataFormatError(`${file}: not a JPEG or PNG file (by its first bytes); remove it or convert it.`);
}

/** Bilinear resize of RGBA to h x w, written as `channels` uint8 values per pixel at out[offset]. */
export function resizeInto(img: RgbaImage, h: number, w: number, channels: 1 | 3, out: Uint8Array, offset: number): void {
  const sy = img.height / h;
  const sx = img.width / w;
  const px = (yy: number, xx: number, ch: number) => img.data[(yy * img.width + xx) * 4 + ch];
  for (let y = 0; y < h; y++) {
    // Pixel centres map to pixel centres (align_corners = false), clamped at the border.
    const fy = Math.min(img.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(img.height - 1, y0 + 1);
    const dy = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(img.width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(img.width - 1, x0 + 1);
      const dx = fx - x0;
      const rgb = [0, 1, 2].map((ch) =>
        (px(y0, x0, ch) * (1 - dx) + px(y0, x1, ch) * dx) * (1 - dy) + (px(y1, x0, ch) * (1 - dx) + px(y1, x1, ch) * dx) * dy);
      const o = offset + (y * w + x) * channels;
      if (channels === 3) for (let ch = 0; ch < 3; ch++) out[o + ch] = Math.round(rgb[ch]);
      else out[o] = Math.round((rgb[0] + rgb[1] + rgb[2]) / 3);
    }
  }
}

const IMAGE_EXT = new Set([".jpg", ".jpeg", ".png"]);

/** A classification dataset from dir/<class>/<image> files. */
export function imageFolder(dir: string, options: ImageFolderOptions): InMemoryDataset {
  if (!options || options.size === undefined) throw new Error("imageFolder(): pass { size } (e.g. { size: 32 }).");
  const [h, w] = typeof options.size === "number" ? [options.size, options.size] : options.size;
  if (!(Number.isInteger(h) && h > 0 && Number.isInteger(w) && w > 0)) throw new Error(`imageFolder(): size must be whole numbers > 0; got ${options.size}.`);
  const channels = options.channels ?? 3;
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new DataNotFoundError(`imageFolder(): ${dir} is not a folder.`);
  const classes = fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort();
  if (classes.length === 0) throw new DataNotFoundError(`imageFolder(): ${dir} has no class subfolders; put images in ${dir}/<class name>/.`);
  const files: { file: string; label: number }[] = [];
  const empty: string[] = [];
  classes.forEach((c, label) => {
    const before = files.length;
    for (const f of fs.readdirSync(path.join(dir, c)).sort()) {
      if (!f.startsWith(".") && IMAGE_EXT.has(path.extname(f).toLowerCase())) files.push({ file: path.join(dir, c, f), label });
    }
    if (files.length === before) empty.push(c);
  });
  if (files.length === 0) {
    throw new DataNotFoundError(`imageFolder(): no .jpg, .jpeg or .png files in the subfolders of ${dir} ` +
      `(every class folder is empty: ${classes.join(", ")}).`);
  }
  const notices: string[] = [];
  if (empty.length > 0) {
    notices.push(`imageFolder(${dir}): ${empty.length} of ${classes.length} class folders hold no .jpg, .jpeg or .png files: ` +
      `${empty.join(", ")}. They are kept as classes without examples (labels follow the sorted folder names); ` +
      `add images to them, or remove them if they are not classes.`);
  }
  for (const n of notices) {
    if (options.onNotice) options.onNotice(n);
    else display(`Notice: ${n}`);
  }
  const per = h * w * channels;
  const x = new Uint8Array(files.length * per);
  const y = new Int32Array(files.length);
  files.forEach(({ file, label }, i) => {
    resizeInto(decodeImage(file, { maxPixels: options.maxPixels, maxBytes: options.maxBytes }), h, w, channels, x, i * per);
    y[i] = label;
  });
  return fromStore(`imageFolder:${path.basename(path.resolve(dir))}`, { x, scale: 1 / 255, y, inputShape: [h, w, channels], targetShape: [], classes });
}
