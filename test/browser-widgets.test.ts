/**
 * Jupyter widgets through a real widget manager: a page built with esbuild (fixtures/jupyterlab/widgets-page.ts)
 * from ipywidgets 8's own frontend packages (@jupyter-widgets/html-manager's HTMLManager on the kernel's comms,
 * as ipywidgets' "web3" example does; @jupyter-widgets/controls models 2.0.0, @jupyter-widgets/output),
 * JupyterLab 4.6's services and output areas, served by Debian's Notebook server, on the installed Lepton
 * kernel, in headless Chromium. The widgets are moved and clicked by real input events (keyboard on the
 * noUiSlider handle, mouse drag, clicks), and what the kernel's callbacks do comes back to the page: raw
 * comms, lepton.widgets (controls, boxes, Output capture, interact, a reconnecting second manager), the
 * training display's Stop button, and the course notebooks' sliders.
 *
 * The raw-protocol cases open the widgets by hand with lepton.comms (comm target `jupyter.widget`, protocol
 * version 2.1.0), as ipywidgets' kernel side does, so they test the comm layer and the widget manager
 * independently of lepton.widgets.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import type { Page } from "playwright-core";
import { openLabPage, type LabSession } from "./fixtures/jupyterlab/session";
import { ROOT } from "./kernel_helpers";
import { injectParameters } from "../src/kernel/runner";
import { browserTestsUnavailable } from "./fixtures/plot/harness";
import { RAW_WIDGETS } from "./fixtures/widgets/raw";

const unavailable = browserTestsUnavailable();
if (unavailable) console.warn(`widget browser tests skipped: ${unavailable}`);

/** The frontend packages the page is built from, as installed (logged, for "which frontends were tested"). */
const FRONTEND = ["@jupyter-widgets/html-manager", "@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output", "@jupyterlab/services", "@jupyterlab/outputarea"]
  .map((name) => `${name} ${(JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version}`);

const root = mkdtempSync(join(tmpdir(), "lepton-widgets-"));

let session: LabSession;
let page: Page;
let kernel: number;
let consoleErrors: string[] = [];

type Widgets = {
  startKernel(name: string): Promise<number>;
  newCell(label: string, kernel: number): number;
  run(index: number, code: string): Promise<string>;
  start(index: number, code: string): void;
  wait(index: number): Promise<string>;
  text(index: number): string;
  outputs(index: number): any[];
  messages(index: number): string[];
  count(index: number, selector: string): number;
  textOf(index: number, selector: string, n?: number): string;
  modelState(kernel: number, modelId: string): Promise<Record<string, unknown>>;
  focusSlider(index: number, n?: number): void;
  sliderReadout(index: number, n?: number): string;
  reconnect(other: number, restore: boolean | "legacy"): Promise<number>;
  modelIds(kernel: number): string[];
  commsOpened(kernel: number): string[];
  restoredBy(kernel: number): string[];
  showModel(label: string, kernel: number, modelId: string): Promise<number>;
  problems(): string[];
  shutdownAll(): Promise<void>;
};

/** Call `window.widgets.<name>(...args)` in the page. */
function w<K extends keyof Widgets>(name: K, ...args: Parameters<Widgets[K]>): Promise<Awaited<ReturnType<Widgets[K]>>> {
  return page.evaluate(([n, a]) => (window as any).widgets[n as string](...(a as unknown[])), [name, args] as const) as any;
}

/** Run code in a new cell on the Lepton kernel; returns the cell's index after checking the reply is ok. */
async function cell(label: string, code: string, on = kernel): Promise<number> {
  const index = await w("newCell", label, on);
  const status = await w("run", index, code);
  expect(status, `${label}: ${await w("text", index)}\nmessages: ${(await w("messages", index)).join(", ")}\npage problems: ${(await w("problems")).join("\n")}`).toBe("ok");
  return index;
}

/** The text/plain of a new cell's execute_result. */
async function value(label: string, code: string): Promise<string | undefined> {
  const outputs = await w("outputs", await cell(label, code));
  return outputs.find((o) => o.output_type === "execute_result")?.data?.["text/plain"];
}

/** Wait until the cell's text matches; the failure says what the cell and the page show. */
async function waitForText(index: number, pattern: RegExp, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = await w("text", index);
    if (pattern.test(text)) return;
    if (Date.now() > deadline) {
      throw new Error(`${what}: cell text ${JSON.stringify(text)} does not match ${pattern}; page problems: ${(await w("problems")).join("\n")}; console errors: ${consoleErrors.join("\n")}`);
    }
    await page.waitForTimeout(100);
  }
}

/**
 * `promise`, or after `ms` an error that says what was awaited and what the page shows (its problems and
 * console errors), instead of the test's bare timeout.
 */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void w("problems").then(
        (problems) => reject(new Error(`${what}: no answer in ${ms / 1000} s; page problems: ${problems.join("\n") || "none"}; console errors: ${consoleErrors.join("\n") || "none"}`)),
        (e) => reject(new Error(`${what}: no answer in ${ms / 1000} s (the page did not answer either: ${e})`)),
      );
    }, ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A Label widget (a slider's description is a label.widget-label too). */
const LABEL = ".jupyter-widgets.widget-label";

/** The cell's element matching `selector` (the n-th), once it is visible. */
function locate(index: number, selector: string, n = 0) {
  return page.locator(`.lab-cell`).nth(index).locator(selector).nth(n);
}

beforeAll(async () => {
  if (unavailable) return;
  console.info(`widget manager page: ${FRONTEND.join(", ")}`);
  session = await openLabPage(root, "widgets.html");
  ({ page, errors: consoleErrors } = session);
  kernel = await w("startKernel", "lepton");
  await cell("setup", `import * as lepton from "lepton";\nconst lw = lepton.widgets;\n${RAW_WIDGETS}`);
}, 240_000);

afterAll(async () => {
  await session?.close("widgets-page", (p) => p.evaluate(() => (window as any).widgets.shutdownAll()));
});

describe.skipIf(!!unavailable)("Jupyter widgets on the Lepton kernel, rendered by ipywidgets 8's HTML widget manager", () => {
  it("raw protocol: an IntSlider renders as a noUiSlider; arrow keys and a mouse drag on its handle reach the kernel's callback, which updates a display", async () => {
    const index = await cell(
      "raw slider",
      `const slider = rawWidget("IntSliderModel", "IntSliderView", { value: 5, min: 0, max: 10, step: 1, description: "n", orientation: "horizontal", readout: true, readout_format: "d", continuous_update: true, disabled: false, behavior: "drag-tap" }, "SliderStyleModel", { description_width: "", handle_color: null });
const sliderOut = lepton.display(lepton.mime({ "text/plain": "kernel saw 5" }));
slider.onMsg((msg) => {
  const state = msg.data?.state;
  if (msg.data?.method === "update" && state && "value" in state) sliderOut.update(lepton.mime({ "text/plain": "kernel saw " + state.value }));
});
showWidget(slider, "IntSlider(value=5)");`,
    );
    await locate(index, ".widget-slider .noUi-handle").waitFor({ state: "visible", timeout: 20_000 });
    expect(await w("count", index, ".widget-slider.widget-hslider .noUi-target")).toBe(1);
    expect(await w("sliderReadout", index)).toBe("5");
    await waitForText(index, /kernel saw 5/, "the display before any input");

    // Keyboard: the handle has focus, as after a click or Tab; each arrow key is one step.
    await w("focusSlider", index);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    await waitForText(index, /kernel saw 7/, "after two ArrowRight presses");
    expect(await w("sliderReadout", index)).toBe("7");

    // Mouse: drag the handle to the slider's left end.
    const handle = locate(index, ".widget-slider .noUi-handle");
    const track = locate(index, ".widget-slider .noUi-target");
    const h = (await handle.boundingBox())!;
    const t = (await track.boundingBox())!;
    await page.mouse.move(h.x + h.width / 2, h.y + h.height / 2);
    await page.mouse.down();
    await page.mouse.move(t.x + t.width * 0.5, h.y + h.height / 2, { steps: 5 });
    await page.mouse.move(t.x - 20, h.y + h.height / 2, { steps: 5 });
    await page.mouse.up();
    await waitForText(index, /kernel saw 0/, "after dragging the handle to the left end");
    expect(await w("sliderReadout", index)).toBe("0");
  });

  it("raw protocol: a value the kernel sets moves the slider on the page", async () => {
    const index = await cell(
      "raw slider from kernel",
      `const slider2 = rawWidget("IntSliderModel", "IntSliderView", { value: 1, min: 0, max: 100, step: 1, description: "k", orientation: "horizontal", readout: true, readout_format: "d", continuous_update: true, disabled: false, behavior: "drag-tap" }, "SliderStyleModel", { description_width: "", handle_color: null });
showWidget(slider2, "IntSlider(value=1)");`,
    );
    await locate(index, ".widget-slider .noUi-handle").waitFor({ state: "visible", timeout: 20_000 });
    expect(await w("sliderReadout", index)).toBe("1");
    await cell("set from kernel", `slider2.send({ method: "update", state: { value: 42 }, buffer_paths: [] });`);
    await expect.poll(() => w("sliderReadout", index), { timeout: 20_000 }).toBe("42");
  });

  it("raw protocol: a Button click reaches the kernel; its callback prints into an Output widget (msg_id capture) and updates a display", async () => {
    const index = await cell(
      "raw button",
      `const button = rawWidget("ButtonModel", "ButtonView", { description: "Go", button_style: "", icon: "", tooltip: null, disabled: false }, "ButtonStyleModel", { button_color: null, font_weight: "", font_family: null, font_size: null, font_style: null, font_variant: null, text_color: null, text_decoration: null });
const out = rawWidget("OutputModel", "OutputView", { msg_id: "", outputs: [] }, undefined, undefined, "@jupyter-widgets/output", "1.0.0");
let clicks = 0;
const clickOut = lepton.display(lepton.mime({ "text/plain": "clicks: 0" }));
button.onMsg((msg) => {
  if (msg.data?.method !== "custom" || msg.data?.content?.event !== "click") return;
  clicks++;
  // As ipywidgets' "with out:" does: capture this message's output into the Output widget, then stop.
  out.send({ method: "update", state: { msg_id: msg.header?.msg_id }, buffer_paths: [] });
  console.log("click number " + clicks);
  out.send({ method: "update", state: { msg_id: "" }, buffer_paths: [] });
  clickOut.update(lepton.mime({ "text/plain": "clicks: " + clicks }));
});
showWidget(button, "Button(description='Go')");
showWidget(out, "Output()");`,
    );
    const button = locate(index, "button.widget-button");
    await button.waitFor({ state: "visible", timeout: 20_000 });
    expect((await button.innerText()).trim()).toBe("Go");
    await button.click();
    await waitForText(index, /clicks: 1/, "after one click");
    await button.click();
    await waitForText(index, /clicks: 2/, "after two clicks");
    await expect.poll(() => w("textOf", index, ".widget-output"), { timeout: 20_000 }).toMatch(/click number 1\s+click number 2/);
  });

  it("lepton.widgets: an IntSlider, a Button and a Label in an HBox; the slider's onChange sets the Label and prints into the widget's cell, the click callback reads the slider", async () => {
    const index = await cell(
      "lepton.widgets box",
      `const n = new lw.IntSlider({ value: 3, min: 0, max: 10, description: "n" });
const label = new lw.Label({ value: "no change yet" });
const go = new lw.Button({ description: "Go" });
n.onChange((v: number, old: number) => { label.value = "n went from " + old + " to " + v; console.log("onChange saw " + v); });
go.onClick(() => console.log("Go clicked with n=" + n.value));
new lw.HBox([n, go, label])`,
    );
    await locate(index, ".widget-hbox .widget-slider .noUi-handle").waitFor({ state: "visible", timeout: 20_000 });
    expect(await w("sliderReadout", index)).toBe("3");
    expect(await w("textOf", index, LABEL)).toBe("no change yet");
    expect(await w("outputs", index)).toMatchObject([{ output_type: "execute_result", data: { "application/vnd.jupyter.widget-view+json": { version_major: 2, model_id: expect.any(String) } } }]);

    await w("focusSlider", index);
    await page.keyboard.press("ArrowRight");
    // The kernel's change to the Label comes back through the widget manager; the print goes to the cell that made the widget.
    await expect.poll(() => w("textOf", index, LABEL), { timeout: 20_000 }).toBe("n went from 3 to 4");
    await waitForText(index, /onChange saw 4/, "the onChange callback's print");
    await locate(index, "button.widget-button").click();
    await waitForText(index, /Go clicked with n=4/, "the click callback's print");
    // Kernel and page agree on the value.
    expect(await value("read n", "n.value")).toBe("4");
  });

  it("lepton.widgets: interact with a slider and a dropdown renders both and re-runs its function into its Output on each change", async () => {
    const index = await cell(
      "interact",
      `const ia = lw.interact(({ k, word }: { k: number; word: string }) => console.log("f(" + k + ", " + word + ") = " + word.repeat(k)), { k: [1, 5], word: ["ab", "xyz"] });`,
    );
    await locate(index, ".widget-slider .noUi-handle").waitFor({ state: "visible", timeout: 20_000 });
    expect(await w("count", index, ".widget-slider")).toBe(1);
    expect(await w("count", index, ".widget-dropdown select")).toBe(1);
    const start = Number(await w("sliderReadout", index));
    await expect.poll(() => w("textOf", index, ".widget-output"), { timeout: 20_000 }).toBe(`f(${start}, ab) = ${"ab".repeat(start)}`);

    await w("focusSlider", index);
    await page.keyboard.press("ArrowRight");
    await expect.poll(() => w("textOf", index, ".widget-output"), { timeout: 20_000 }).toBe(`f(${start + 1}, ab) = ${"ab".repeat(start + 1)}`);
    await locate(index, ".widget-dropdown select").selectOption({ label: "xyz" });
    // The Output is cleared before each call: only the latest call's line is there.
    await expect.poll(() => w("textOf", index, ".widget-output"), { timeout: 20_000 }).toBe(`f(${start + 1}, xyz) = ${"xyz".repeat(start + 1)}`);
  });

  it("lepton.widgets: a Button's onClick captures its print into an Output widget; dragging a slider with the mouse ends with kernel and page on the same value", async () => {
    const index = await cell(
      "lepton.widgets output",
      `const out2 = new lw.Output();
const b2 = new lw.Button({ description: "Capture" });
const s2 = new lw.IntSlider({ value: 50, min: 0, max: 100, description: "s" });
let drags = 0;
s2.onChange(() => { drags++; });
b2.onClick(() => out2.capture(() => console.log("captured click, s=" + s2.value)));
new lw.VBox([s2, b2, out2])`,
    );
    await locate(index, ".widget-slider .noUi-handle").waitFor({ state: "visible", timeout: 20_000 });
    const handle = locate(index, ".widget-slider .noUi-handle");
    const track = locate(index, ".widget-slider .noUi-target");
    const h = (await handle.boundingBox())!;
    const t = (await track.boundingBox())!;
    await page.mouse.move(h.x + h.width / 2, h.y + h.height / 2);
    await page.mouse.down();
    for (const f of [0.6, 0.8, 1]) await page.mouse.move(t.x + t.width * f, h.y + h.height / 2, { steps: 4 });
    await page.mouse.move(t.x + t.width + 30, h.y + h.height / 2, { steps: 2 });
    await page.mouse.up();
    expect(await w("sliderReadout", index)).toBe("100");
    await locate(index, "button.widget-button").click();
    // The click's handler runs after the drag's updates (one comm, in order), so it reads the final value.
    await expect.poll(() => w("textOf", index, ".widget-output"), { timeout: 20_000 }).toBe("captured click, s=100");
    expect(await value("read s2", "[s2.value, drags > 0]")).toBe("[ 100, true ]");
    // Only the Output shows the captured line, not the cell.
    expect((await w("text", index)).match(/captured click/g)?.length).toBe(1);
  });

  it("lepton.widgets: a second widget manager on the same kernel (a reloaded page) restores the widgets with their current state; moving its slider moves the first page's", async () => {
    const index = await cell("restore source", `const r = new lw.IntSlider({ value: 2, min: 0, max: 9, description: "r" });\nr.value = 6;\nr`);
    await locate(index, ".widget-slider .noUi-handle").waitFor({ state: "visible", timeout: 20_000 });
    expect(await w("sliderReadout", index)).toBe("6");
    const modelId = (await w("outputs", index))[0].data["application/vnd.jupyter.widget-view+json"].model_id as string;
    const second = await within(60_000, "the second manager's restore", w("reconnect", kernel, true));
    expect(await w("modelIds", second)).toContain(modelId);
    // It asked over ipywidgets 8's control comm (request_states). (On a loaded machine an answer later
    // than base-manager's 4 s sends it on to the comm_info fallback, which restores the same widgets: the
    // next test checks that path on its own.)
    expect(await w("commsOpened", second)).toEqual(["jupyter.widget.control"]);
    const restored = await within(30_000, "the restored model's view", w("showModel", "restored view", second, modelId));
    await locate(restored, ".widget-slider .noUi-handle").waitFor({ state: "visible", timeout: 20_000 });
    expect(await w("sliderReadout", restored)).toBe("6");
    await w("focusSlider", restored);
    await page.keyboard.press("ArrowLeft");
    // The kernel echoes the second page's change (echo_update), so the first page's view follows.
    await expect.poll(() => w("sliderReadout", index), { timeout: 20_000 }).toBe("5");
    expect(await value("read r", "r.value")).toBe("5");
  });

  it("lepton.widgets: a frontend restoring without the control comm (ipywidgets 7's comm_info + request_state per widget) gets every widget with its current state, lepton's and the raw protocol's", async () => {
    const index = await cell("legacy restore source", `const lr = new lw.IntSlider({ value: 1, min: 0, max: 9, description: "lr" });\nlr.value = 7;\nlr`);
    const modelId = (await w("outputs", index))[0].data["application/vnd.jupyter.widget-view+json"].model_id as string;
    const legacy = await within(60_000, "the comm_info restore", w("reconnect", kernel, "legacy"));
    expect(await w("restoredBy", legacy)).toEqual(["comm_info"]);
    // Every widget the kernel holds came back: lepton's (this slider, the earlier cells') and the raw
    // protocol's (the first tests' slider and button), as the first page's manager knows them.
    const ids = await w("modelIds", legacy);
    expect(ids).toContain(modelId);
    expect([...ids].sort()).toEqual([...(await w("modelIds", kernel))].sort());
    expect((await w("modelState", legacy, modelId)).value).toBe(7);
    const restored = await within(30_000, "the restored model's view", w("showModel", "legacy restored view", legacy, modelId));
    await locate(restored, ".widget-slider .noUi-handle").waitFor({ state: "visible", timeout: 20_000 });
    expect(await w("sliderReadout", restored)).toBe("7");
  });

  it("lepton.widgets: a Button clicked while lepton.train runs (comm messages handled during the cell) aborts it through its signal; the cell ends ok, History says why, the kernel answers the next cell", async () => {
    await cell(
      "training setup",
      `await lepton.ready();
const txs = new Float32Array(512).map((_, i) => Math.sin(i * 1.7));
const tys = new Int32Array(256).map((_, i) => (txs[2 * i] + txs[2 * i + 1] > 0 ? 1 : 0));
const blobs = lepton.data.fromTensors(txs, tys, { inputShape: [2], classes: ["neg", "pos"] });
const tnet = lepton.models.mlp([2, 8, 2]);
const abort = new AbortController();
const abortButton = new lw.Button({ description: "Abort training" });
abortButton.onClick(() => { abort.abort(); console.log("abort clicked"); });
abortButton`,
    );
    const index = await w("newCell", "long training", kernel);
    await w("start", index, `const th = await lepton.train(tnet, blobs, { epochs: 100000, batchSize: 16, signal: abort.signal });\n[th.stopReason, th.epochs.length < 100000]`);
    // The training display (progress bar and live chart) is up: training is running.
    await expect.poll(() => w("messages", index).then((m) => m.filter((t) => t === "display_data" || t === "update_display_data").length), { timeout: 60_000 }).toBeGreaterThan(2);
    await page.locator(".lab-cell").nth(index - 1).locator("button.widget-button").click();
    expect(await w("wait", index)).toBe("ok");
    const result = (await w("outputs", index)).find((o) => o.output_type === "execute_result")?.data?.["text/plain"];
    expect(result).toMatch(/^\[\s*'stopped with the abort signal (at epoch \d+, batch \d+ of 16|after epoch \d+)',\s*true\s*\]$/);
    expect(await value("after training", "1 + 1")).toBe("2");
  }, 120_000);

  it("the training display's Stop button (a lepton.widgets Button) stops lepton.train after the current batch; the cell ends ok, History names the button, the button is gone, the kernel answers the next cell", async () => {
    const index = await w("newCell", "training with the Stop button", kernel);
    await w("start", index, `const sh = await lepton.train(tnet, blobs, { epochs: 100000, batchSize: 16 });\n[sh.stopReason, sh.interrupted, sh.epochs.length < 100000]`);
    const stop = locate(index, "button.widget-button");
    await stop.waitFor({ state: "visible", timeout: 60_000 });
    expect((await stop.innerText()).trim()).toBe("Stop training");
    // Training is under way (the progress display has been updated) before the press.
    await expect.poll(() => w("messages", index).then((m) => m.filter((t) => t === "update_display_data").length), { timeout: 60_000 }).toBeGreaterThan(2);
    await stop.click();
    expect(await w("wait", index)).toBe("ok");
    const result = (await w("outputs", index)).find((o) => o.output_type === "execute_result")?.data?.["text/plain"];
    expect(result).toMatch(/^\[\s*'stopped with the Stop button (at epoch \d+, batch \d+ of 16|after epoch \d+)',\s*(true|false),\s*true\s*\]$/s);
    expect(await w("text", index)).toMatch(/stopped with the Stop button/);
    // When training ends the button is closed and its output emptied.
    await expect.poll(() => w("count", index, "button.widget-button"), { timeout: 20_000 }).toBe(0);
    expect(await value("after the Stop button", "[1 + 1, lepton.widgets.instances().size > 0]")).toBe("[ 2, true ]");
  }, 120_000);

  it("the course's notebooks with sliders (01 neuron, 02 gradient descent): each slider, moved by its arrow keys, redraws its cell's chart with the new value in the title", async () => {
    const course = JSON.parse(readFileSync(join(ROOT, "notebooks", "course.json"), "utf8")) as { notebooks: { file: string; quick?: Record<string, unknown> }[] };
    let tried = 0;
    for (const entry of course.notebooks) {
      const nb = injectParameters(JSON.parse(readFileSync(join(ROOT, "notebooks", entry.file), "utf8")), entry.quick ?? {});
      const sources = nb.cells.filter((c: any) => c.cell_type === "code").map((c: any) => (Array.isArray(c.source) ? c.source.join("") : c.source) as string);
      if (!sources.some((src: string) => src.includes("lepton.widgets"))) continue;
      tried++;
      const k = await w("startKernel", "lepton");
      const withSliders: number[] = [];
      for (const [i, source] of sources.entries()) {
        const index = await cell(`${entry.file} [${i}]`, source, k);
        if (source.includes("lepton.widgets")) withSliders.push(index);
      }
      for (const index of withSliders) {
        const title = async (): Promise<string> => {
          const chart = (await w("outputs", index)).find((o) => o.data?.["application/vnd.plotly.v1+json"]);
          const t = chart?.data["application/vnd.plotly.v1+json"].layout?.title;
          return typeof t === "string" ? t : t?.text ?? "";
        };
        const drawnTitle = () => page.evaluate((i) => (document.querySelectorAll(".lab-cell")[i].querySelector(".js-plotly-plot .gtitle") as HTMLElement | null)?.textContent ?? "", index);
        await locate(index, ".widget-slider .noUi-handle").waitFor({ state: "visible", timeout: 20_000 });
        const handles = await w("count", index, ".widget-slider .noUi-handle");
        expect(handles, `${entry.file}: sliders in cell ${index}`).toBeGreaterThanOrEqual(2);
        // Drawn as the kernel last sent it. (A slider whose starting value is off its step grid, such as 02's
        // α = 0.3 on a log grid of 0.05, is snapped by the frontend when drawn, and the chart redraws for it.)
        await expect.poll(async () => (await drawnTitle()) === (await title()), { timeout: 60_000 }).toBe(true);
        for (let n = 0; n < handles; n++) {
          const before = await title();
          const readout = await w("sliderReadout", index, n);
          await w("focusSlider", index, n);
          await page.keyboard.press("ArrowRight");
          // At its maximum a slider does not move right: then left.
          await page.waitForTimeout(200);
          if ((await w("sliderReadout", index, n)) === readout) await page.keyboard.press("ArrowLeft");
          await expect.poll(title, { timeout: 20_000, message: `${entry.file}: slider ${n} (${readout}) changes the chart` }).not.toBe(before);
          const after = await title();
          // The title shows the slider's new value (as the notebook formats it; the readout writes U+2212 for minus).
          const value = Number((await w("sliderReadout", index, n)).replace("\u2212", "-"));
          const shown = (after.match(/-?\d+(\.\d+)?/g) ?? []).map(Number);
          expect(shown.some((x) => Math.abs(x - value) <= 0.06 + 0.02 * Math.abs(value)), `${entry.file}: "${after}" shows slider ${n}'s value ${value}`).toBe(true);
          await expect.poll(drawnTitle, { timeout: 60_000 }).toBe(after);
        }
      }
    }
    expect(tried, "course notebooks with widgets").toBeGreaterThanOrEqual(2);
  }, 180_000);

  it("leaves no widget-manager errors on the page", async () => {
    expect(await w("problems")).toEqual([]);
    // @jupyterlab/services first asks for the v1 kernel websocket subprotocol, which Notebook 6.4 does not
    // offer; it then connects without one (the only console error, and not the widgets').
    expect(consoleErrors.filter((e) => !/favicon|Sent non-empty 'Sec-WebSocket-Protocol' header/.test(e))).toEqual([]);
  });
});
