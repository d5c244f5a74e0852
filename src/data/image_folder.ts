/**
 * Images in class subfolders (dir/<class>/<image>.jpg|.jpeg|.png), decoded with jpeg-js and pngjs,
 * resized (bilinear) to size x size, kept as uint8 RGB (or grey) in memory. Classes are the
 * subfolder names in sorted order; files with other extensions and hidden files are skipped.
 */
import * as fs from "fs";
import * as path from "path";
import * as jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { DataFormatError, DataNotFoundError } from "./errors";
import { fromStore, type InMemoryDataset } from "./tensor_dataset";

export interface ImageFolderOptions {
  /** Output side length, or [height, width]. */
  size: number | readonly [number, number];
  /** 3 for RGB (default) or 1 for grey (mean of R, G, B). */
  channels?: 1 | 3;
}

/** Decoded RGBA pixels. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decode a JPEG or PNG file (chosen by its first bytes) to RGBA. */
export function decodeImage(file: string): RgbaImage {
  const buf = fs.readFileSync(file);
  try {
    if (buf.length > 3 && buf[0] === 0xff && buf[1] === 0xd8) {
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 512 });
      return { width: img.width, height: img.height, data: img.data };
    }
    if (buf.length > 8 && buf.subarray(1, 4).toString("latin1") === "PNG") {
      const img = PNG.sync.read(buf);
      return { width: img.width, height: img.height, data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length) };
    }
  } catch (err) {
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
  classes.forEach((c, label) => {
    for (const f of fs.readdirSync(path.join(dir, c)).sort()) {
      if (!f.startsWith(".") && IMAGE_EXT.has(path.extname(f).toLowerCase())) files.push({ file: path.join(dir, c, f), label });
    }
  });
  if (files.length === 0) throw new DataNotFoundError(`imageFolder(): no .jpg, .jpeg or .png files in the subfolders of ${dir}.`);
  const per = h * w * channels;
  const x = new Uint8Array(files.length * per);
  const y = new Int32Array(files.length);
  files.forEach(({ file, label }, i) => {
    resizeInto(decodeImage(file), h, w, channels, x, i * per);
    y[i] = label;
  });
  return fromStore(`imageFolder:${path.basename(path.resolve(dir))}`, { x, scale: 1 / 255, y, inputShape: [h, w, channels], targetShape: [], classes });
}
