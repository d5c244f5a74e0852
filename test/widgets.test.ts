/**
 * lepton.widgets (src/display/widgets) without a kernel: a fake comm transport records what would go to
 * the frontend, comms' kernel-side delivery functions play the frontend's messages, and a fake display
 * sink (with currentParent / runWithParent on an AsyncLocalStorage) records each output with its parent.
 */
import { AsyncLocalStorage } from "async_hooks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { closeAllComms, commInfo, deliverCommMsg, deliverCommOpen, setCommTransport, type CommTransport } from "../src/display/comms";
import { DISPLAY_SYMBOL, display, setDisplaySink, toMimeBundle, type MimeBundle } from "../src/display/display";
import * as widgets from "../src/display/widgets";

type Sent = { type: string; content: any; metadata: Record<string, unknown>; parent: string | undefined };
type Shown = { kind: string; bundle?: MimeBundle; parent: string | undefined; text?: string };

let sent: Sent[];
let shown: Shown[];
const parents = new AsyncLocalStorage<{ msg_id: string }>();
const parentId = () => parents.getStore()?.msg_id;

function install(transport = true): void {
  sent = [];
  shown = [];
  if (transport) {
    const t: CommTransport = { send: (type, content, metadata) => sent.push({ type, content, metadata, parent: parentId() }) };
    setCommTransport(t);
  }
  setDisplaySink({
    display: (bundle) => shown.push({ kind: "display", bundle, parent: parentId() }),
    update: (bundle) => shown.push({ kind: "update", bundle, parent: parentId() }),
    clear: (wait) => shown.push({ kind: wait ? "clear-wait" : "clear", parent: parentId() }),
    outputCell: () => parentId(),
    currentParent: () => parents.getStore(),
    runWithParent: (parent, fn) => parents.run(parent as { msg_id: string }, fn),
  });
}

/** Console output is recorded with its parent too. */
function captureConsole(): void {
  for (const name of ["stdout", "stderr"] as const) {
    vi.spyOn(process[name], "write").mockImplementation(((chunk: unknown) => {
      shown.push({ kind: name, text: String(chunk), parent: parentId() });
      return true;
    }) as any);
  }
  // vitest routes console.* around process.stdout: record them as the kernel's capture would.
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void shown.push({ kind: "stdout", text: args.join(" ") + "\n", parent: parentId() }));
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void shown.push({ kind: "stderr", text: args.join(" ") + "\n", parent: parentId() }));
}

/** A cell: code run with an execute_request header as parent. */
function inCell<T>(msgId: string, fn: () => T): T {
  return parents.run({ msg_id: msgId }, fn);
}

let n = 0;
/** The frontend sends a comm_msg to a widget; the kernel runs its callbacks under that message as parent (as server.ts does). */
function fromFrontend(w: widgets.Widget, data: Record<string, unknown>, msgId = `front-${++n}`): Promise<boolean> {
  return parents.run({ msg_id: msgId }, () =>
    deliverCommMsg({ header: { msg_id: msgId, msg_type: "comm_msg" }, parent_header: {}, metadata: {}, content: { comm_id: w.modelId, data } }));
}

const sentTo = (w: widgets.Widget) => sent.filter((s) => s.content.comm_id === w.modelId);
const opened = (w: widgets.Widget) => sentTo(w).find((s) => s.type === "comm_open")!;
const msgsTo = (w: widgets.Widget) => sentTo(w).filter((s) => s.type === "comm_msg").map((s) => s.content.data);
const ref = (w: widgets.Widget) => `IPY_MODEL_${w.modelId}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(() => install());

afterEach(async () => {
  await closeAllComms();
  setCommTransport(undefined);
  setDisplaySink(undefined);
  vi.restoreAllMocks();
});

const COMMON = { _dom_classes: [], tabbable: null, tooltip: null };
const controls = (model: string, view: string) => ({
  _model_module: "@jupyter-widgets/controls", _model_module_version: "2.0.0", _model_name: model,
  _view_module: "@jupyter-widgets/controls", _view_module_version: "2.0.0", _view_name: view,
});
const styleHeader = (model: string) => ({
  _model_module: "@jupyter-widgets/controls", _model_module_version: "2.0.0", _model_name: model,
  _view_module: "@jupyter-widgets/base", _view_module_version: "2.0.0", _view_name: "StyleView",
});

describe("widget state as the protocol says", () => {
  it("IntSlider: a comm_open to jupyter.widget with {state, buffer_paths}, metadata {version: 2.1.0}; layout and style opened first and referenced", () => {
    const s = new widgets.IntSlider({ value: 3, min: 0, max: 10, description: "epochs" });
    const open = opened(s);
    expect(open.content.target_name).toBe("jupyter.widget");
    expect(open.metadata).toEqual({ version: "2.1.0" });
    expect(open.content.data.buffer_paths).toEqual([]);
    expect(open.content.data.state).toEqual({
      ...controls("IntSliderModel", "IntSliderView"), ...COMMON,
      behavior: "drag-tap", continuous_update: true, description: "epochs", description_allow_html: false, disabled: false,
      layout: ref(s.layout), max: 10, min: 0, orientation: "horizontal", readout: true, readout_format: "d", step: 1,
      style: ref(s.style!), value: 3,
    });
    const layout = opened(s.layout).content.data.state;
    expect(layout._model_module).toBe("@jupyter-widgets/base");
    expect(layout._model_module_version).toBe("2.0.0");
    expect(layout._model_name).toBe("LayoutModel");
    expect(layout._view_name).toBe("LayoutView");
    expect(layout.width).toBeNull();
    expect(opened(s.style!).content.data.state).toEqual({ ...styleHeader("SliderStyleModel"), description_width: "", handle_color: null });
    // layout and style first: the references resolve when the slider's model is made.
    const order = sent.filter((m) => m.type === "comm_open").map((m) => m.content.comm_id);
    expect(order).toEqual([s.layout.modelId, s.style!.modelId, s.modelId]);
    expect(commInfo("jupyter.widget")[s.modelId]).toEqual({ target_name: "jupyter.widget" });
  });

  it("each control's model, view and attributes (ipywidgets 8 defaults)", () => {
    const f = new widgets.FloatSlider({ value: 0.5, min: 0, max: 1, step: 0.01 });
    expect(opened(f).content.data.state).toMatchObject({ ...controls("FloatSliderModel", "FloatSliderView"), readout_format: ".2f", step: 0.01, value: 0.5 });
    const l = new widgets.FloatLogSlider({ value: 0.01, min: -4, max: 0 });
    expect(opened(l).content.data.state).toMatchObject({ ...controls("FloatLogSliderModel", "FloatLogSliderView"), base: 10, min: -4, max: 0, step: 0.1, readout_format: ".3g", value: 0.01 });
    const d = new widgets.Dropdown({ options: ["relu", "tanh"], value: "tanh", description: "act" });
    const ds = opened(d).content.data.state;
    expect(ds).toEqual({ ...controls("DropdownModel", "DropdownView"), ...COMMON, _options_labels: ["relu", "tanh"], description: "act", description_allow_html: false, disabled: false, index: 1, layout: ref(d.layout), style: ref(d.style!) });
    expect("value" in ds).toBe(false); // ipywidgets 8 syncs the index only
    expect(opened(d.style!).content.data.state._model_name).toBe("DescriptionStyleModel");
    const c = new widgets.Checkbox({ value: true, description: "flag" });
    expect(opened(c).content.data.state).toMatchObject({ ...controls("CheckboxModel", "CheckboxView"), indent: true, value: true });
    expect(opened(c.style!).content.data.state).toEqual({ ...styleHeader("CheckboxStyleModel"), background: null, description_width: "" });
    const t = new widgets.ToggleButtons({ options: [["Small", 1], ["Big", 2]] });
    expect(opened(t).content.data.state).toMatchObject({ ...controls("ToggleButtonsModel", "ToggleButtonsView"), _options_labels: ["Small", "Big"], index: 0, button_style: "", icons: [], tooltips: [] });
    expect(t.value).toBe(1);
    const b = new widgets.Button({ description: "Go", button_style: "primary" });
    expect(opened(b).content.data.state).toEqual({ ...controls("ButtonModel", "ButtonView"), ...COMMON, button_style: "primary", description: "Go", disabled: false, icon: "", layout: ref(b.layout), style: ref(b.style!) });
    expect(opened(b.style!).content.data.state._model_name).toBe("ButtonStyleModel");
    const tx = new widgets.Text({ value: "hi" });
    expect(opened(tx).content.data.state).toMatchObject({ ...controls("TextModel", "TextView"), continuous_update: true, placeholder: "\u200b", value: "hi" });
    const p = new widgets.Play({ max: 5, interval: 200 });
    expect(opened(p).content.data.state).toMatchObject({ ...controls("PlayModel", "PlayView"), interval: 200, max: 5, min: 0, playing: false, repeat: false, show_repeat: true, step: 1, value: 0 });
    const h = new widgets.HBox([f, d]);
    expect(opened(h).content.data.state).toEqual({ ...controls("HBoxModel", "HBoxView"), ...COMMON, box_style: "", children: [ref(f), ref(d)], layout: ref(h.layout) });
    const v = new widgets.VBox([h], { width: "50%" });
    expect(opened(v).content.data.state._model_name).toBe("VBoxModel");
    expect(opened(v.layout).content.data.state.width).toBe("50%");
    const o = new widgets.Output();
    expect(opened(o).content.data.state).toEqual({
      _model_module: "@jupyter-widgets/output", _model_module_version: "1.0.0", _model_name: "OutputModel",
      _view_module: "@jupyter-widgets/output", _view_module_version: "1.0.0", _view_name: "OutputView",
      ...COMMON, layout: ref(o.layout), msg_id: "", outputs: [],
    });
    expect(opened(new widgets.Label("x")).content.data.state).toMatchObject({ ...controls("LabelModel", "LabelView"), value: "x" });
    expect(opened(new widgets.HTML("<b>x</b>")).content.data.state).toMatchObject({ ...controls("HTMLModel", "HTMLView"), value: "<b>x</b>" });
  });

  it("display: the widget-view mime {version_major 2, version_minor 0, model_id} plus a text/plain line", () => {
    const s = new widgets.IntSlider({ value: 3, min: 0, max: 10, description: "epochs" });
    expect(toMimeBundle(s)).toEqual({
      "application/vnd.jupyter.widget-view+json": { version_major: 2, version_minor: 0, model_id: s.modelId },
      "text/plain": 'IntSlider(value=3, min=0, max=10) "epochs"',
    });
    display(s);
    expect(shown.at(-1)?.bundle?.["application/vnd.jupyter.widget-view+json"]).toEqual({ version_major: 2, version_minor: 0, model_id: s.modelId });
    expect(String(new widgets.Dropdown({ options: ["a", "b"] }))).toBe('Dropdown(value="a", options=["a", "b"])');
  });
});

describe("state sync", () => {
  it("kernel sets .value: one update {method, state, buffer_paths}; values clamp to min/max and round for ints", () => {
    const s = new widgets.IntSlider({ max: 10 });
    s.value = 4;
    s.value = 4; // unchanged: nothing sent
    s.value = 99;
    s.value = 2.6 as number;
    expect(msgsTo(s)).toEqual([
      { method: "update", state: { value: 4 }, buffer_paths: [] },
      { method: "update", state: { value: 10 }, buffer_paths: [] },
      { method: "update", state: { value: 3 }, buffer_paths: [] },
    ]);
    const d = new widgets.Dropdown({ options: { one: 1, two: 2 } });
    d.value = 2;
    expect(msgsTo(d)).toEqual([{ method: "update", state: { index: 1 }, buffer_paths: [] }]);
    expect(d.label).toBe("two");
  });

  it("an update from the frontend changes .value, is echoed (echo_update, parented to that message), and onChange callbacks are awaited in order", async () => {
    captureConsole();
    const s = inCell("cell-1", () => new widgets.IntSlider({ value: 3, max: 10 }));
    const seen: string[] = [];
    s.onChange(async (v, old) => {
      await sleep(20);
      seen.push(`a ${old}->${v}`);
    });
    s.onChange((v) => {
      seen.push(`b ${v}`);
    });
    const before = sent.length;
    await fromFrontend(s, { method: "update", state: { value: 7 }, buffer_paths: [] }, "front-a");
    expect(s.value).toBe(7);
    expect(seen).toEqual(["a 3->7", "b 7"]);
    const after = sent.slice(before);
    expect(after.map((m) => m.content.data)).toEqual([{ method: "echo_update", state: { value: 7 }, buffer_paths: [] }]);
    expect(after[0].parent).toBe("front-a");
  });

  it("a refused or clamped frontend value is corrected with an update; JUPYTER_WIDGETS_ECHO=0 stops echoes", async () => {
    const s = new widgets.IntSlider({ value: 3, max: 10 });
    await fromFrontend(s, { method: "update", state: { value: 50 }, buffer_paths: [] });
    expect(s.value).toBe(10);
    expect(msgsTo(s)).toEqual([
      { method: "echo_update", state: { value: 50 }, buffer_paths: [] },
      { method: "update", state: { value: 10 }, buffer_paths: [] },
    ]);
    vi.stubEnv("JUPYTER_WIDGETS_ECHO", "0");
    try {
      await fromFrontend(s, { method: "update", state: { value: 5 }, buffer_paths: [] });
    } finally {
      vi.unstubAllEnvs();
    }
    expect(s.value).toBe(5);
    expect(msgsTo(s)).toHaveLength(2);
    // Dropdown: the frontend sends the index.
    const d = new widgets.Dropdown({ options: ["relu", "tanh"] });
    const got: unknown[] = [];
    d.onChange((v, old) => void got.push([v, old]));
    await fromFrontend(d, { method: "update", state: { index: 1 }, buffer_paths: [] });
    expect(d.value).toBe("tanh");
    expect(got).toEqual([["tanh", "relu"]]);
  });

  it("onChange for a frontend change prints to the cell that made the widget; a throwing or rejecting callback is reported there and the next still runs", async () => {
    captureConsole();
    const s = inCell("cell-made", () => new widgets.IntSlider({ description: "n" }));
    s.onChange((v) => console.log("value", v));
    s.onChange(() => {
      throw new Error("boom on purpose");
    });
    s.onChange(async () => Promise.reject(new Error("async boom")));
    s.onChange((v) => console.log("still", v));
    await inCell("cell-later", () => fromFrontend(s, { method: "update", state: { value: 9 }, buffer_paths: [] }));
    const out = shown.filter((o) => o.kind === "stdout" || o.kind === "stderr");
    expect(out.map((o) => o.parent)).toEqual(["cell-made", "cell-made", "cell-made", "cell-made"]);
    expect(out[0].text).toBe("value 9\n");
    expect(out[1].text).toMatch(/lepton\.widgets: the onChange callback of IntSlider "n" \(.{8}\) failed:\nError: boom on purpose/);
    expect(out[2].text).toMatch(/async boom/);
    expect(out[3].text).toBe("still 9\n");
    // A change made by kernel code runs the callbacks where that code runs.
    shown.length = 0;
    inCell("cell-sets", () => {
      s.value = 4;
    });
    await sleep(5);
    expect(shown.filter((o) => o.kind === "stdout").map((o) => [o.text, o.parent])).toEqual([["value 4\n", "cell-sets"], ["still 4\n", "cell-sets"]]);
  });

  it("request_state is answered with an update holding the whole state", async () => {
    const s = new widgets.IntSlider({ value: 2 });
    await fromFrontend(s, { method: "request_state" });
    expect(msgsTo(s)).toEqual([{ method: "update", state: opened(s).content.data.state, buffer_paths: [] }]);
  });

  it("the control comm: request_states gets update_states with every widget's model and state; a wrong major version is refused", async () => {
    const s = new widgets.IntSlider({ value: 2 });
    const outcome = await deliverCommOpen({ header: { msg_id: "c0" }, metadata: { version: "1.0.0" }, content: { comm_id: "ctl", target_name: "jupyter.widget.control", data: {} } });
    expect(outcome).toBe("opened");
    await deliverCommMsg({ header: { msg_id: "c1" }, metadata: {}, content: { comm_id: "ctl", data: { method: "request_states" } } });
    const reply = sent.filter((m) => m.content.comm_id === "ctl" && m.type === "comm_msg").at(-1)!.content.data;
    expect(reply.method).toBe("update_states");
    expect(reply.buffer_paths).toEqual([]);
    expect(reply.states[s.modelId]).toEqual({ model_name: "IntSliderModel", model_module: "@jupyter-widgets/controls", model_module_version: "2.0.0", state: opened(s).content.data.state });
    expect(reply.states[s.layout.modelId].model_name).toBe("LayoutModel");
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const bad = await deliverCommOpen({ header: { msg_id: "c2" }, metadata: { version: "2.0.0" }, content: { comm_id: "ctl2", target_name: "jupyter.widget.control", data: {} } });
    expect(bad).toBe("failed");
  });

  it("close(): comm_close for the widget and the layout/style it made; closed widgets display as text; a frontend close marks it closed", async () => {
    const s = new widgets.IntSlider();
    s.close();
    const closes = sent.filter((m) => m.type === "comm_close").map((m) => m.content.comm_id);
    expect(closes).toEqual([s.modelId, s.layout.modelId, s.style!.modelId]);
    expect(s.closed).toBe(true);
    expect(Object.keys(toMimeBundle(s))).toEqual(["text/plain"]);
    expect(widgets.instances().has(s.modelId)).toBe(false);
  });
});

describe("Button and Output", () => {
  it("Button: the frontend's custom {event: click} runs onClick callbacks (awaited, output to the button's cell)", async () => {
    captureConsole();
    const b = inCell("cell-b", () => new widgets.Button({ description: "Go" }));
    let clicks = 0;
    b.onClick(async (button) => {
      await sleep(10);
      clicks++;
      console.log("clicked", button.description, clicks);
    });
    await fromFrontend(b, { method: "custom", content: { event: "click" } });
    await fromFrontend(b, { method: "custom", content: { event: "other" } });
    expect(clicks).toBe(1);
    expect(shown.filter((o) => o.kind === "stdout").map((o) => [o.text, o.parent])).toEqual([["clicked Go 1\n", "cell-b"]]);
  });

  it("Output.capture: msg_id set to the running request's msg_id, output parented to it, msg_id cleared after (async too)", async () => {
    captureConsole();
    const out = new widgets.Output();
    await inCell("cell-o", () =>
      out.capture(async () => {
        console.log("inside");
        await sleep(5);
        display(widgets.VBox === undefined ? 1 : "shown");
      }));
    expect(msgsTo(out)).toEqual([
      { method: "update", state: { msg_id: "cell-o" }, buffer_paths: [] },
      { method: "update", state: { msg_id: "" }, buffer_paths: [] },
    ]);
    expect(shown.map((o) => [o.kind, o.parent])).toEqual([["stdout", "cell-o"], ["display", "cell-o"]]);
  });

  it("in a widget callback, capture parents to the frontend's comm message (whose future the frontend still holds), not to the widget's cell", async () => {
    captureConsole();
    const out = new widgets.Output();
    const b = inCell("cell-b", () => new widgets.Button());
    b.onClick(() => out.capture(() => console.log("into the output")));
    b.onClick(() => console.log("into the cell"));
    await fromFrontend(b, { method: "custom", content: { event: "click" } }, "click-1");
    expect(msgsTo(out)).toEqual([
      { method: "update", state: { msg_id: "click-1" }, buffer_paths: [] },
      { method: "update", state: { msg_id: "" }, buffer_paths: [] },
    ]);
    expect(shown.filter((o) => o.kind === "stdout").map((o) => [o.text, o.parent])).toEqual([["into the output\n", "click-1"], ["into the cell\n", "cell-b"]]);
  });

  it("append / clear change the outputs from the kernel (clear sends outputs: [] even when empty, and no clear_output, which would clear the cell)", () => {
    const out = new widgets.Output();
    out.append("hello", lepton_html());
    out.appendStderr("oops\n");
    expect(out.outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "hello\n" },
      { output_type: "display_data", data: { "text/html": "<b>x</b>", "text/plain": "x" }, metadata: {} },
      { output_type: "stream", name: "stderr", text: "oops\n" },
    ]);
    inCell("cell-c", () => out.capture(() => out.clear({ wait: true })));
    expect(out.outputs).toEqual([]);
    out.clear();
    expect(shown.filter((o) => o.kind.startsWith("clear"))).toEqual([]);
    expect(msgsTo(out).slice(-4)).toEqual([
      { method: "update", state: { msg_id: "cell-c" }, buffer_paths: [] },
      { method: "update", state: { outputs: [] }, buffer_paths: [] },
      { method: "update", state: { msg_id: "" }, buffer_paths: [] },
      { method: "update", state: { outputs: [] }, buffer_paths: [] },
    ]);
    expect(String(new widgets.Output())).toBe("Output()");
    expect(String(new widgets.HBox([new widgets.Output(), new widgets.Checkbox({ description: "on" })]))).toBe('Checkbox(value=false) "on"');
  });
});

function lepton_html(): unknown {
  return { [DISPLAY_SYMBOL]: () => ({ "text/html": "<b>x</b>", "text/plain": "x" }) };
}

describe("interact", () => {
  it("builds the controls from the spec, shows a VBox (controls + Output), runs once with the defaults into the Output", async () => {
    captureConsole();
    const calls: unknown[] = [];
    const ui = inCell("cell-i", () =>
      widgets.interact((v) => {
        calls.push(v);
        console.log("ran", JSON.stringify(v));
      }, { lr: [1e-3, 1, "log"], epochs: [1, 20], dropout: [0, 0.5], act: ["relu", "tanh"], flag: true, name: "net", w: new widgets.FloatSlider({ value: 2 }) }));
    await ui.ready;
    const c = ui.controls;
    expect(c.lr).toBeInstanceOf(widgets.FloatLogSlider);
    expect(opened(c.lr).content.data.state).toMatchObject({ min: -3, max: 0, step: 0.1, description: "lr" });
    expect(c.lr.value).toBeCloseTo(10 ** -1.5, 6);
    expect(c.epochs).toBeInstanceOf(widgets.IntSlider);
    expect(opened(c.epochs).content.data.state).toMatchObject({ min: 1, max: 20, step: 1, value: 10, description: "epochs" });
    expect(c.dropout).toBeInstanceOf(widgets.FloatSlider);
    expect(c.dropout.value).toBeCloseTo(0.25);
    expect(c.act).toBeInstanceOf(widgets.Dropdown);
    expect(c.act.value).toBe("relu");
    expect(c.flag).toBeInstanceOf(widgets.Checkbox);
    expect(c.name).toBeInstanceOf(widgets.Text);
    expect(c.w.value).toBe(2);
    expect(opened(ui.box).content.data.state.children).toEqual([...Object.values(c).map(ref), ref(ui.output)]);
    const shownBox = shown.find((o) => o.kind === "display")!;
    expect(shownBox.bundle?.["application/vnd.jupyter.widget-view+json"]).toMatchObject({ model_id: ui.box.modelId });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ epochs: 10, act: "relu", flag: true, name: "net", w: 2 });
    const ran = shown.filter((o) => o.kind === "stdout");
    expect(ran).toHaveLength(1);
    expect(ran[0].parent).toBe("cell-i"); // the Output's msg_id while it ran
    expect(msgsTo(ui.output).map((m) => m.state)).toEqual([{ msg_id: "cell-i" }, { outputs: [] }, { msg_id: "" }]);
    // As a cell's last value it shows nothing more.
    expect(toMimeBundle(ui)).toEqual({});
  });

  it("numbers as choices, {options, value}, pairs; bad specs are refused; the values are typed from the spec", async () => {
    const ui = widgets.interactive((v) => {
      // Type-level: each value has the type its spec entry gives.
      const lr: number = v.lr;
      const act: string = v.act;
      const flag: boolean = v.flag;
      const units: number = v.units;
      const size: number = v.size;
      const w: number = v.w;
      void [lr, act, flag, units, size, w];
    }, {
      lr: [1e-4, 1e-1, "log"], act: ["relu", "tanh"], flag: false, units: [16, 32, 64], size: { options: { small: 1, big: 2 }, value: 2 },
      w: new widgets.FloatSlider(),
    });
    await ui.ready;
    expect(ui.controls.units).toBeInstanceOf(widgets.Dropdown);
    expect(ui.controls.units.value).toBe(16);
    expect(ui.controls.size.value).toBe(2);
    expect((ui.controls.size as widgets.Dropdown<number>).label).toBe("big");
    expect(widgets.controlFor("s", [0, 10, 2])).toBeInstanceOf(widgets.IntSlider);
    expect(widgets.controlFor("s", [0, 1, 0.1]).value).toBeCloseTo(0.5);
    expect(widgets.controlFor("p", [["A", 1], ["B", 2]]).value).toBe(1);
    expect(widgets.controlFor("x", 5).value).toBe(5);
    expect(() => widgets.controlFor("l", [0, 1, "log"])).toThrow(/log range/);
    expect(() => widgets.controlFor("o", {} as any)).toThrow(/cannot make a control/);
    expect(() => widgets.interact(42 as any, {})).toThrow(/takes a function/);
    // interactive() shows nothing by itself; as a value it shows its box.
    expect(shown.filter((o) => o.kind === "display")).toEqual([]);
    expect((toMimeBundle(ui)["application/vnd.jupyter.widget-view+json"] as any).model_id).toBe(ui.box.modelId);
  });

  it("a burst of changes becomes one call with the last values, after the quiet time; a change during a call waits for it", async () => {
    captureConsole();
    const calls: { epochs: number; act: string }[] = [];
    let running = 0;
    let overlapped = false;
    const ui = inCell("cell-j", () =>
      widgets.interact(async (v) => {
        running++;
        if (running > 1) overlapped = true;
        await sleep(30);
        calls.push({ epochs: v.epochs, act: v.act });
        running--;
      }, { epochs: [1, 20], act: ["relu", "tanh"] }, { debounceMs: 50 }));
    await ui.ready;
    calls.length = 0;
    const burst = [
      fromFrontend(ui.controls.epochs, { method: "update", state: { value: 3 }, buffer_paths: [] }),
      fromFrontend(ui.controls.epochs, { method: "update", state: { value: 4 }, buffer_paths: [] }),
      fromFrontend(ui.controls.act, { method: "update", state: { index: 1 }, buffer_paths: [] }),
      fromFrontend(ui.controls.epochs, { method: "update", state: { value: 5 }, buffer_paths: [] }, "front-last"),
    ];
    await Promise.all(burst); // each handler waits for the call that covers its change
    expect(calls).toEqual([{ epochs: 5, act: "tanh" }]);
    // While a call runs, another change: it runs after, not at the same time.
    const first = fromFrontend(ui.controls.epochs, { method: "update", state: { value: 6 }, buffer_paths: [] });
    await sleep(60); // the call for 6 is running now
    const second = fromFrontend(ui.controls.epochs, { method: "update", state: { value: 7 }, buffer_paths: [] });
    await Promise.all([first, second]);
    expect(calls.map((c) => c.epochs)).toEqual([5, 6, 7]);
    expect(overlapped).toBe(false);
  });

  it("the debounced call runs in the Output with the latest frontend message as parent; errors go into the Output", async () => {
    captureConsole();
    const ui = inCell("cell-k", () =>
      widgets.interact(({ n }) => {
        if (n === 13) throw new Error("unlucky on purpose");
        console.log("n is", n);
      }, { n: [0, 20] }, { debounceMs: 10 }));
    await ui.ready;
    shown.length = 0;
    await fromFrontend(ui.controls.n, { method: "update", state: { value: 13 }, buffer_paths: [] }, "front-13");
    const err = shown.filter((o) => o.kind === "stderr");
    expect(err).toHaveLength(1);
    expect(err[0].parent).toBe("front-13");
    expect(err[0].text).toMatch(/the interact function failed:\nError: unlucky on purpose/);
    expect(msgsTo(ui.output).slice(-3).map((m) => m.state)).toEqual([{ msg_id: "front-13" }, { outputs: [] }, { msg_id: "" }]);
    await fromFrontend(ui.controls.n, { method: "update", state: { value: 2 }, buffer_paths: [] }, "front-2");
    expect(shown.filter((o) => o.kind === "stdout").map((o) => [o.text, o.parent])).toEqual([["n is 2\n", "front-2"]]);
  });
});

describe("without a widget frontend", () => {
  it("no transport: a widget displays as its text line; interact runs once with its defaults and prints where it runs", async () => {
    setCommTransport(undefined);
    setDisplaySink(undefined);
    const lines: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation(((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    }) as any);
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.join(" ") + "\n"));
    const s = new widgets.IntSlider({ value: 3, min: 0, max: 10, description: "epochs" });
    expect(toMimeBundle(s)).toEqual({ "text/plain": 'IntSlider(value=3, min=0, max=10) "epochs"' });
    display(s);
    const ui = widgets.interact(({ lr, act }) => console.log(`lr=${lr.toPrecision(3)} act=${act}`), { lr: [1e-3, 1, "log"], act: ["relu", "tanh"] });
    await ui.ready;
    expect(lines).toEqual([
      'IntSlider(value=3, min=0, max=10) "epochs"\n',
      'FloatLogSlider(value=0.0316228, min=-3, max=0) "lr"\nDropdown(value="relu", options=["relu", "tanh"]) "act"\n',
      "lr=0.0316 act=relu\n",
    ]);
    expect(String(ui.output)).toBe("Output()");
  });
});

describe("the training display's Stop button", () => {
  it("is offered while training; pressing it stops after the current batch as an interrupt does; its output is emptied at the end", async () => {
    const tf = await import("@tensorflow/tfjs");
    const { mlp } = await import("../src/models");
    const { train } = await import("../src/training");
    const { fromTensors } = await import("../src/data");
    const x = tf.randomNormal([96, 2], 0, 1, "float32", 3);
    const y = tf.tensor1d(Array.from({ length: 96 }, (_, i) => i % 3), "int32");
    const data = fromTensors(x, y, { classes: ["a", "b", "c"] });
    const model = mlp([2, 4, 3]);
    let stopButton: widgets.Widget | undefined;
    const h = await inCell("train-cell", () =>
      train(model, data, {
        epochs: 5, batchSize: 8, optimizer: "sgd",
        callbacks: [{
          onBatchEnd: async (b, logs) => {
            if (logs.epoch === 2 && b === 3) {
              // The frontend presses the button drawn under the progress bar.
              const open = sent.find((s) => s.type === "comm_open" && s.content.data.state._model_name === "ButtonModel");
              expect(open?.content.data.state.description).toBe("Stop training");
              stopButton = widgets.instances().get(open!.content.comm_id);
              await fromFrontend(stopButton!, { method: "custom", content: { event: "click" } });
            }
          },
        }],
      }),
    );
    expect(h.interrupted).toBe(true);
    expect(h.stopReason).toBe("stopped with the Stop button at epoch 2, batch 3 of 12");
    expect(h.epochs).toEqual([1]);
    // The button said it was stopping, then was closed, and its output emptied (no dead control in saved notebooks).
    expect(msgsTo(stopButton!)).toContainEqual({ method: "update", state: { description: "Stopping after this batch…" }, buffer_paths: [] });
    expect(sentTo(stopButton!).some((s) => s.type === "comm_close")).toBe(true);
    const views = shown.filter((o) => o.bundle && "application/vnd.jupyter.widget-view+json" in o.bundle);
    expect(views.length).toBe(1);
    expect(shown.filter((o) => o.kind === "update" && o.bundle?.["text/plain"] === "").length).toBe(1);
    tf.dispose([x, y]);
    model.dispose();
  });

  it("is not offered without a widget frontend (no comm transport)", async () => {
    setCommTransport(undefined);
    const tf = await import("@tensorflow/tfjs");
    const { mlp } = await import("../src/models");
    const { train } = await import("../src/training");
    const { fromTensors } = await import("../src/data");
    const x = tf.zeros([16, 2]);
    const y = tf.zeros([16], "int32");
    const model = mlp([2, 3]);
    await inCell("cell", () => train(model, fromTensors(x, y, { classes: ["a", "b", "c"] }), { epochs: 1, batchSize: 8 }));
    expect(shown.some((o) => o.bundle && "application/vnd.jupyter.widget-view+json" in o.bundle)).toBe(false);
    expect([...widgets.instances().values()].some((w) => w instanceof widgets.Button)).toBe(false);
    tf.dispose([x, y]);
    model.dispose();
  });
});
