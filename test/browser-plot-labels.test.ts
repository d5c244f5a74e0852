/**
 * Image-grid labels in a real browser (headless Chromium, plotly.js as lepton embeds it): on the
 * drawn page no two label boxes meet, none is under plotly's modebar (the toolbar at the top right)
 * or under the title, each stays above its own image, and lepton's width estimate (which decides
 * where a label is wrapped or cut) is never short of the width Chromium draws.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import type { BrowserContext } from "playwright-core";
import * as plot from "../src/display/plot";
import { labelWidth } from "../src/display/plot/images";
import { artifactsDir, blockNetwork, chromiumUnavailable, launchChromium, waitForCharts } from "./fixtures/plot/harness";

const unavailable = chromiumUnavailable();
if (unavailable) console.warn(`browser label tests skipped: ${unavailable}`);

const CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/** n images of size×size×3 with distinct grey levels. */
function batch(n: number, size: number, channels = 3) {
  const per = size * size * channels;
  const data = new Uint8Array(n * per);
  for (let i = 0; i < n; i++) data.fill(40 + ((i * 53) % 200), i * per, (i + 1) * per);
  return { data, shape: channels === 1 ? [n, size, size] : [n, size, size, channels] };
}

/** The grids checked: the evaluation report's top losses, a dense row of long labels, MNIST digits, one titled image. */
const GRIDS: { name: string; fig: () => plot.Figure }[] = [
  {
    name: "top-losses",
    fig: () => plot.imageGrid(batch(16, 32), {
      labels: Array.from({ length: 16 }, (_, i) => `${CIFAR[i % 10]} / ${CIFAR[(i * 7 + 3) % 10]} (0.${90 - i})`),
      labelColors: Array.from({ length: 16 }, (_, i) => (i % 3 ? "red" : "green")),
      title: "Top losses: actual / predicted (probability)",
    }),
  },
  {
    name: "dense-long",
    fig: () => plot.imageGrid(batch(20, 32), {
      labels: Array.from({ length: 20 }, (_, i) => (i % 2 ? `WIDE LABEL NUMBER ${i} WITH MANY WORDS` : `automobileautomobile${i}`)),
      columns: 10,
    }),
  },
  {
    name: "mnist",
    fig: () => plot.imageGrid(batch(24, 28, 1), { labels: Array.from({ length: 24 }, (_, i) => String(i % 10)), columns: 12 }), // no title: only the modebar band keeps the first row clear
  },
  {
    name: "one-image",
    fig: () => plot.imageGrid(batch(1, 16), { labels: ["a single image with a long label"], title: "One image with a long title" }),
  },
];

interface Box { left: number; top: number; right: number; bottom: number }

interface Measured {
  figure: Box;
  modebar: Box | null;
  title: Box | null;
  image: Box;
  labels: { box: Box; lines: { text: string; width: number }[]; fontSize: number }[];
}

const meets = (a: Box, b: Box) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

describe.skipIf(!!unavailable)("image-grid labels drawn in Chromium", () => {
  const dir = mkdtempSync(join(tmpdir(), "lepton-labels-"));
  let context: BrowserContext;
  beforeAll(async () => {
    context = await launchChromium();
    await blockNetwork(context, []);
  });
  afterAll(async () => {
    await context?.close();
  });

  for (const grid of GRIDS) {
    it(`${grid.name}: labels meet neither each other, nor the modebar, nor the title`, async () => {
      const fig = grid.fig();
      const file = join(dir, `${grid.name}.html`);
      writeFileSync(file, fig.toHTML());
      const page = await context.newPage();
      try {
        await page.goto(pathToFileURL(file).href);
        await waitForCharts(page, 1);
        await page.hover(".js-plotly-plot .nsewdrag"); // the modebar shows on hover
        const m: Measured = await page.evaluate(() => {
          const rect = (el: Element | null) => {
            if (!el) return null;
            const r = el.getBoundingClientRect();
            return r.width && r.height ? { left: r.left, top: r.top, right: r.right, bottom: r.bottom } : null;
          };
          const gd = document.querySelector(".js-plotly-plot")!;
          const labels = Array.from(gd.querySelectorAll<SVGTextElement>(".annotation text.annotation-text")).map((t) => {
            const spans = Array.from(t.querySelectorAll<SVGTSpanElement>("tspan.line"));
            const lines = (spans.length ? spans : [t]).map((s) => ({ text: s.textContent ?? "", width: (s as SVGTextContentElement).getComputedTextLength() }));
            return { box: rect(t)!, lines, fontSize: parseFloat(getComputedStyle(t).fontSize) };
          });
          return {
            figure: rect(gd)!,
            modebar: rect(gd.querySelector(".modebar")),
            title: rect(gd.querySelector(".gtitle")),
            image: rect(gd.querySelector(".imagelayer image"))!,
            labels,
          };
        });
        await page.screenshot({ path: join(artifactsDir(), `plot-labels-${grid.name}.png`) });
        const expected = (fig.layout.annotations as plot.Layout[]).length;
        expect(m.labels).toHaveLength(expected);
        expect(m.modebar, "the modebar is drawn").not.toBeNull();
        for (const [i, a] of m.labels.entries()) {
          expect(meets(a.box, m.modebar!), `label ${i} under the modebar`).toBe(false);
          if (m.title) expect(meets(a.box, m.title), `label ${i} under the title`).toBe(false);
          for (const [j, b] of m.labels.entries()) if (j > i) expect(meets(a.box, b.box), `labels ${i} and ${j} meet`).toBe(false);
          // Inside the figure, and on the image's side of the page (labels are above their images, within the image layer).
          expect(a.box.left).toBeGreaterThanOrEqual(m.figure.left);
          expect(a.box.right).toBeLessThanOrEqual(m.figure.right);
          expect(a.box.top).toBeGreaterThanOrEqual(m.figure.top);
          expect(a.box.bottom).toBeLessThanOrEqual(m.image.bottom);
          // What lepton estimated is at least what Chromium drew.
          for (const line of a.lines) expect(labelWidth(line.text, a.fontSize), `"${line.text}"`).toBeGreaterThanOrEqual(line.width);
        }
        if (m.title) expect(meets(m.title, m.modebar!), "title under the modebar").toBe(false);
        // The first row's labels begin below the modebar.
        const firstTop = Math.min(...m.labels.map((l) => l.box.top));
        expect(firstTop).toBeGreaterThanOrEqual(m.modebar!.bottom);
      } finally {
        await page.close();
      }
    }, 120_000);
  }
});
