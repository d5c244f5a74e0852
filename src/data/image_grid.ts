/**
 * A labelled image grid as HTML: each image a PNG data URI with its caption below.
 * Pixels are float NHWC; values in [0,1] are drawn as is, anything else is min-max scaled.
 */
import { PNG } from "pngjs";

export interface ImageGridInput {
  /** count * height * width * channels values, NHWC. */
  pixels: Float32Array;
  count: number;
  height: number;
  width: number;
  /** 1 (grey) or 3 (RGB). */
  channels: number;
  captions: readonly string[];
  /** Displayed side length per image in CSS pixels (default 2x, at least 48). */
  pixelSize?: number;
}

/** Encode one image (float values already in [0,1]) as a PNG data URI. */
export function pngDataUri(pixels: ArrayLike<number>, height: number, width: number, channels: number, offset = 0, lo = 0, hi = 1): string {
  const png = new PNG({ width, height });
  const range = hi - lo || 1;
  for (let p = 0; p < height * width; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const v = pixels[offset + p * channels + (channels === 1 ? 0 : ch)];
      png.data[p * 4 + ch] = Math.max(0, Math.min(255, Math.round(((v - lo) / range) * 255)));
    }
    png.data[p * 4 + 3] = 255;
  }
  return "data:image/png;base64," + PNG.sync.write(png).toString("base64");
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

export function imageGridHtml(input: ImageGridInput): string {
  const { pixels, count, height, width, channels, captions } = input;
  let lo = 0;
  let hi = 1;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < count * height * width * channels; i++) {
    if (pixels[i] < min) min = pixels[i];
    if (pixels[i] > max) max = pixels[i];
  }
  if (min < 0 || max > 1) {
    lo = min;
    hi = max;
  }
  const side = input.pixelSize ?? Math.max(48, 2 * Math.max(height, width));
  const cells: string[] = [];
  const per = height * width * channels;
  for (let i = 0; i < count; i++) {
    const uri = pngDataUri(pixels, height, width, channels, i * per, lo, hi);
    cells.push(
      `<figure style="margin:2px;text-align:center;font:11px sans-serif">` +
        `<img src="${uri}" width="${side}" height="${Math.round((side * height) / width)}" style="image-rendering:pixelated;display:block" alt="${escapeHtml(captions[i] ?? "")}">` +
        `<figcaption>${escapeHtml(captions[i] ?? "")}</figcaption></figure>`,
    );
  }
  return `<div class="lepton-image-grid" style="display:flex;flex-wrap:wrap;max-width:${(side + 8) * 8}px">${cells.join("")}</div>`;
}
