/**
 * Pixels to PNG data URIs (pngjs), for inline images in HTML outputs (tensor images, dataset thumbnails).
 * Shared by the display and data layers.
 */
import { PNG } from "pngjs";

export interface PixelSource {
  /** Values in HWC order starting at `offset` (height * width * channels of them). */
  values: ArrayLike<number>;
  offset?: number;
  height: number;
  width: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA). */
  channels: number;
  /** Multiply each value by this before mapping to bytes (default 1). */
  scale?: number;
  /**
   * How values map to bytes: "unit" means [0, 1] -> 0..255, "byte" means 0..255 as is; both clamp.
   * Default: "unit" when every (scaled) value is at most 1, else "byte".
   */
  range?: "unit" | "byte";
  /** Shrink (nearest pixel, by a whole factor) so that no side exceeds this many pixels. */
  maxSide?: number;
}

/** "unit" when all finite (scaled) values are <= 1, else "byte". */
export function guessRange(values: ArrayLike<number>, offset = 0, count = values.length - offset, scale = 1): "unit" | "byte" {
  for (let i = offset; i < offset + count; i++) {
    const v = values[i] * scale;
    if (v > 1 && Number.isFinite(v)) return "byte";
  }
  return "unit";
}

/** Encode the pixels as an RGBA PNG. */
export function encodePng(src: PixelSource): { png: Buffer; width: number; height: number } {
  const { values, height: h, width: w, channels: c } = src;
  const offset = src.offset ?? 0;
  const scale = src.scale ?? 1;
  if (!(c === 1 || c === 3 || c === 4)) throw new Error(`encodePng: images need 1, 3 or 4 channels, got ${c}.`);
  const range = src.range ?? guessRange(values, offset, h * w * c, scale);
  const factor = range === "unit" ? 255 * scale : scale;
  const step = src.maxSide && Math.max(h, w) > src.maxSide ? Math.ceil(Math.max(h, w) / src.maxSide) : 1;
  const oh = Math.ceil(h / step);
  const ow = Math.ceil(w / step);
  const png = new PNG({ width: ow, height: oh });
  const byte = (v: number) => (Number.isNaN(v) ? 0 : Math.max(0, Math.min(255, Math.round(v * factor))));
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const i = offset + ((y * step) * w + x * step) * c;
      const o = (y * ow + x) * 4;
      if (c === 1) {
        const g = byte(values[i]);
        png.data[o] = png.data[o + 1] = png.data[o + 2] = g;
        png.data[o + 3] = 255;
      } else {
        png.data[o] = byte(values[i]);
        png.data[o + 1] = byte(values[i + 1]);
        png.data[o + 2] = byte(values[i + 2]);
        png.data[o + 3] = c === 4 ? byte(values[i + 3]) : 255;
      }
    }
  }
  return { png: PNG.sync.write(png), width: ow, height: oh };
}

/** `<img>` markup for the pixels, drawn `displaySide` px on its longer side (sharp pixels when enlarged). */
export function pngImgTag(src: PixelSource, options: { displaySide?: number; alt?: string } = {}): string {
  const { png, width, height } = encodePng(src);
  const side = Math.max(width, height);
  const zoom = options.displaySide ? Math.max(1, Math.min(16, Math.floor(options.displaySide / side))) : 1;
  const alt = (options.alt ?? "").replace(/[&<>"']/g, "");
  return `<img src="data:image/png;base64,${png.toString("base64")}" width="${width * zoom}" height="${height * zoom}" ` +
    `style="image-rendering:pixelated" alt="${alt}">`;
}
