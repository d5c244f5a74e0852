// Regenerates kernel/logo-32x32.png and kernel/logo-64x64.png: `node kernel/make_logos.js`.
const { PNG } = require("pngjs");
const fs = require("fs");
for (const size of [32, 64]) {
  const png = new PNG({ width: size, height: size });
  const c = (size - 1) / 2, R = size / 2;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const i = (y * size + x) * 4, dx = x - c, dy = y - c, r = Math.hypot(dx, dy);
    let rgba = [0, 0, 0, 0];
    if (r <= R - 0.5) rgba = [28, 43, 74, 255];
    const ring = Math.abs(Math.hypot(dx / 1.0, dy / 0.45) - R * 0.72);
    if (r <= R - 0.5 && ring < size / 22) rgba = [49, 120, 198, 255];
    const p = Math.hypot(x - (c + R * 0.5), y - (c - R * 0.12));
    if (p < size / 7) rgba = [255, 196, 61, 255];
    png.data.set(rgba, i);
  }
  fs.writeFileSync(require("path").join(__dirname, `logo-${size}x${size}.png`), PNG.sync.write(png));
}
