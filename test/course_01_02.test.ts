/**
 * Notebooks 01 and 02 against their own text: the workshop scaffolding is there, and the numbers the
 * markdown quotes are recomputed here independently (plain double-precision JavaScript on the same seeded
 * data), so a change to the data, the parameters or the text that breaks the story fails this test.
 */
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { linear, blobs } from "../src/data";

interface Cell { cell_type: string; source: string[] | string; metadata?: { tags?: string[]; jupyter?: { source_hidden?: boolean } } }
const NOTEBOOKS = join(__dirname, "..", "notebooks");
const cells = (file: string): Cell[] => JSON.parse(readFileSync(join(NOTEBOOKS, file), "utf8")).cells;
const text = (c: Cell) => (Array.isArray(c.source) ? c.source.join("") : c.source);
const markdown = (file: string) => cells(file).filter((c) => c.cell_type === "markdown").map(text).join("\n");
/** A parameter's value from the notebook's parameters cell (`const name = 12;`). */
function parameter(file: string, name: string): number {
  const cell = cells(file).find((c) => c.metadata?.tags?.includes("parameters"));
  const m = cell && new RegExp(`const ${name} = ([-0-9.e]+);`).exec(text(cell));
  if (!m) throw new Error(`${file}: no parameter ${name}`);
  return Number(m[1]);
}
/** As the notebooks write negative numbers in prose (a Unicode minus). */
const prose = (v: number, digits: number) => v.toFixed(digits).replace("-", "−");

describe.each(["01_neuron.ipynb", "02_gradient_descent.ipynb"])("%s: workshop scaffolding", (file) => {
  it("opens with objectives and timing, prompts predictions, and ends with what to expect, a summary and exercises", () => {
    const all = cells(file);
    const first = text(all[0]);
    expect(all[0].cell_type).toBe("markdown");
    expect(first).toContain("**Objectives.**");
    expect(first).toMatch(/\*\*Timing\.\*\*[^*]*\b\d+ s\b[^*]*\bmin(ute)?\b/);
    expect(first).toMatch(/Suggested session: \d+/);
    const md = markdown(file);
    expect(md.match(/\*\*Predict before you run:\*\*/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    const order = ["## What you should see", "## Summary", "## Exercises"].map((h) => md.indexOf(h));
    expect(order.every((i) => i >= 0), `${file}: ${order}`).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(md.slice(order[0], order[1])).toMatch(/chance|baseline/);
  });

  it("gives every exercise a hint and a hidden, self-contained solution cell right after it", () => {
    const all = cells(file);
    const exercises = all.map((c, i) => ({ c, i })).filter(({ c }) => c.cell_type === "markdown" && /^### Exercise \d+: /m.test(text(c)));
    expect(exercises.length).toBeGreaterThanOrEqual(3);
    exercises.forEach(({ c, i }, k) => {
      expect(text(c)).toMatch(new RegExp(`^### Exercise ${k + 1}: `, "m"));
      expect(text(c)).toMatch(/<details><summary>Hint<\/summary>[\s\S]+<\/details>/);
      const solution = all[i + 1];
      expect(solution.cell_type).toBe("code");
      expect(solution.metadata?.tags).toContain("solution");
      expect(solution.metadata?.jupyter?.source_hidden).toBe(true);
      const body = text(solution).trim();
      expect(body.startsWith("{") && body.endsWith("}"), `exercise ${k + 1}'s solution is one block`).toBe(true);
      expect(body).toContain("console.log(");
    });
    const solutions = all.filter((c) => c.metadata?.tags?.includes("solution"));
    expect(solutions.length).toBe(exercises.length);
  });
});

describe("02_gradient_descent.ipynb: the numbers in its text", () => {
  const file = "02_gradient_descent.ipynb";
  const md = markdown(file);

  it("calls the worked example's mean of squares what tf.losses.meanSquaredError returns, and L half of it", () => {
    const y = [0, 1, 0, 1], yHat = [0.2, 0.8, 0.1, 0.9];
    const squares = y.map((t, i) => (t - yHat[i]) ** 2);
    const sum = squares.reduce((a, b) => a + b, 0);
    const tfMse = tf.tidy(() => tf.losses.meanSquaredError(tf.tensor1d(y), tf.tensor1d(yHat)).dataSync()[0]);
    expect(tfMse).toBeCloseTo(sum / 4, 6);
    expect(md).toContain(`The squares add up to $${sum.toFixed(2)}$. Their mean is the MSE, $${sum.toFixed(2)}/4 = ${(sum / 4).toFixed(3)}$: that is what\n\`tf.losses.meanSquaredError\` returns`);
    expect(md).toContain(`$L = \\tfrac12 \\cdot ${(sum / 4).toFixed(3)} = ${(sum / 8).toFixed(4)}$`);
    expect(md).toContain(`\`tf.losses.meanSquaredError\` ${tfMse.toFixed(4)}, $L$ = ${(tfMse / 2).toFixed(4)}`);
    const grad = yHat.map((p, i) => (p - y[i]) / 4);
    expect(md).toContain(`[${grad.map((g) => String(+g.toFixed(3))).join(", ")}]`);
  });

  it("quotes the Hessian's eigenvalues, the minimum, the gradient at the start and each rate's fate as the data give them", async () => {
    const seed = parameter(file, "seed"), steps = parameter(file, "steps"), rate = parameter(file, "learningRate");
    const t = await linear({ n: 100, weights: [2], bias: -1, noise: 0.3, seed }).toTensors();
    const x = Array.from(t.x.dataSync()), y = Array.from(t.y.dataSync());
    tf.dispose([t.x, t.y]);
    const n = x.length;
    const loss = (w: number, b: number) => x.reduce((s, xi, i) => s + 0.5 * (y[i] - w * xi - b) ** 2, 0) / n;
    const gradient = (w: number, b: number) => [
      x.reduce((s, xi, i) => s + (w * xi + b - y[i]) * xi, 0) / n,
      x.reduce((s, xi, i) => s + (w * xi + b - y[i]), 0) / n,
    ];
    const run = (alpha: number, count: number) => {
      let w = -2, b = 2;
      const path = [loss(w, b)];
      for (let k = 0; k < count; k++) { const [gw, gb] = gradient(w, b); w -= alpha * gw; b -= alpha * gb; path.push(loss(w, b)); }
      return { w, b, path };
    };
    // Eigenvalues of H = (1/n)[[Σx², Σx], [Σx, n]] from the characteristic polynomial.
    const a = x.reduce((s, v) => s + v * v, 0) / n, c = x.reduce((s, v) => s + v, 0) / n;
    const tr = a + 1, det = a - c * c;
    const lMax = tr / 2 + Math.sqrt(tr * tr / 4 - det), lMin = tr / 2 - Math.sqrt(tr * tr / 4 - det);
    expect(md).toContain(`$\\lambda_{\\min}$ = ${lMin.toFixed(3)} and $\\lambda_{\\max}$ = ${lMax.toFixed(3)}, so $2/\\lambda_{\\max}$ = ${(2 / lMax).toFixed(3)}`);
    expect(md).toContain(`best fixed rate is ${(2 / (lMin + lMax)).toFixed(3)}`);
    // The least-squares line, by the normal equations.
    const my = y.reduce((s, v) => s + v, 0) / n;
    const wStar = x.reduce((s, xi, i) => s + (xi - c) * (y[i] - my), 0) / x.reduce((s, xi) => s + (xi - c) ** 2, 0);
    const lStar = loss(wStar, my - wStar * c);
    expect(md).toContain(`the best line has $L^\\star$ = ${lStar.toFixed(4)}`);
    expect(md).toContain(`always predicts the mean of $y$ has $L$ = ${loss(0, my).toFixed(4)}`);
    const [gw, gb] = gradient(-2, 2);
    expect(md).toContain(`$(${prose(gw, 4)}, ${prose(gb, 4)})$`.replace(/−/g, "-"));
    const main = run(rate, steps);
    expect(md).toContain(`$w$ = ${prose(main.w, 3)}, $b$ = ${prose(main.b, 3)}, $L$ = ${main.path[steps].toFixed(4)}`);
    // α = 1.5 is within 1e-6 of the minimum first; 0.02 and 0.3 are not after `steps`; only 2.1 grows.
    const within = (alpha: number) => run(alpha, steps).path.findIndex((l) => l - lStar < 1e-6);
    expect(within(0.02)).toBe(-1);
    expect(within(rate)).toBe(-1);
    expect(md).toContain(`$\\alpha = 1.5$ is within $10^{-6}$ of the minimum after ${within(1.5)} steps`);
    for (const alpha of [0.02, rate, 1.5]) expect(run(alpha, steps).path[steps]).toBeLessThan(run(alpha, 0).path[0]);
    expect(run(2.1, steps).path[steps]).toBeGreaterThan(run(2.1, 0).path[0]);
    expect(2.1).toBeGreaterThan(2 / lMax);
    expect(1.5).toBeLessThan(2 / lMax);
  });
});

describe("01_neuron.ipynb: the XOR story in its text", () => {
  const md = markdown("01_neuron.ipynb");
  const xor = { points: [[0, 0], [0, 1], [1, 0], [1, 1]], targets: [0, 1, 1, 0] };
  const crossEntropy = (t1: number, t2: number, b: number) => xor.points.reduce((s, [p, q], i) => {
    const z = t1 * p + t2 * q + b, y = xor.targets[i];
    return s + (Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0) - y * z) / 4;   // a stable softplus(z) − y·z
  }, 0);

  it("quotes the cross-entropy of the 75% lines x₁ + x₂ = 0.5, each above ln 2", () => {
    for (const k of [0.1, 1, 5]) {
      const l = crossEntropy(k, k, -k / 2);
      expect(l).toBeGreaterThan(Math.log(2));
      expect(md).toContain(`${l.toFixed(4)} ($k = ${k}$)`);
    }
    expect(md).toContain(`loss ${Math.log(2).toFixed(4)} = ln 2`);
  });

  it("is right that gradient descent on a linear model's cross-entropy ends at ŷ = 0.5 on XOR", () => {
    // From a start away from zero, plain gradient descent in double precision goes to θ = 0, b = 0.
    let [t1, t2, b] = [0.7, -0.4, 0.3];
    for (let step = 0; step < 20000; step++) {
      const g = [0, 0, 0];
      xor.points.forEach(([p, q], i) => {
        const r = 1 / (1 + Math.exp(-(t1 * p + t2 * q + b))) - xor.targets[i];
        g[0] += r * p / 4; g[1] += r * q / 4; g[2] += r / 4;
      });
      t1 -= g[0]; t2 -= g[1]; b -= g[2];
    }
    expect(Math.max(Math.abs(t1), Math.abs(t2), Math.abs(b))).toBeLessThan(1e-3);
    expect(crossEntropy(t1, t2, b)).toBeCloseTo(Math.log(2), 6);
    expect(md).toContain("The best a line can do on XOR is 3 of 4 points, 75%");
  });

  it("says the blobs are 100 points a class, so the chance baseline it quotes is 50%", async () => {
    const seed = parameter("01_neuron.ipynb", "seed");
    const t = await blobs({ n: 200, classes: 2, seed, spread: 0.8 }).toTensors();
    const ones = t.y.sum().dataSync()[0];
    tf.dispose([t.x, t.y]);
    expect(ones).toBe(100);
    expect(md).toContain("(100 points each, so guessing one class for every point scores 50%: the chance baseline)");
  });
});
