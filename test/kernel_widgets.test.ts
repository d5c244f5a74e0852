/**
 * lepton.widgets (src/display/widgets) in the real Lepton kernel over ZeroMQ, driven from Python by
 * Debian's jupyter_client as a widget manager would speak ipywidgets 8's protocol (2.1.0): a cell makes
 * an IntSlider and shows it (comm_open to jupyter.widget with its state, display_data with the
 * widget-view mime), the client sends an update, the kernel echoes it and its onChange output is parented
 * to the cell that made the slider; request_state; comm_info; the jupyter.widget.control comm's
 * request_states; a Button click whose callback captures into an Output (parent msg_id = the Output's
 * msg_id); interact's first run and one debounced run for two changes; close both ways.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ensureBuilt, needJupyter, privateJupyterWithKernel, JUPYTER_CLIENT_PRELUDE, runJupyterClientScript } from "./kernel_helpers";

const work = realpathSync(mkdtempSync(join(tmpdir(), "lepton-kernel-widgets-")));
beforeAll(() => {
  ensureBuilt();
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** The cells the script runs, by name. */
const CELLS: Record<string, string> = {
  make: String.raw`
import * as lepton from "lepton";
const widgets = lepton.widgets;
const slider = new widgets.IntSlider({ value: 3, min: 0, max: 10, description: "epochs" });
slider.onChange(async (v: number, old: number) => {
  await new Promise((r) => setTimeout(r, 50));
  console.log("changed", old, "->", v);
  lepton.display(lepton.html("<b>now " + v + "</b>"));
});
lepton.display(slider);
JSON.stringify({ id: slider.modelId, layout: slider.layout.modelId, style: slider.style.modelId })`,
  button: String.raw`
const out = new widgets.Output();
const button = new widgets.Button({ description: "Go" });
let clicks = 0;
button.onClick(() => {
  clicks++;
  console.log("clicked", clicks);
  out.capture(() => console.log("captured click", clicks));
});
lepton.display(new widgets.VBox([button, out]));
JSON.stringify({ button: button.modelId, out: out.modelId, layout: button.layout.modelId, style: button.style.modelId })`,
  interact: String.raw`
const ui = widgets.interact(({ n, act }: any) => console.log("run", n, act), { n: [0, 10], act: ["a", "b"] }, { debounceMs: 300 });
await ui.ready;
JSON.stringify({ n: ui.controls.n.modelId, act: ui.controls.act.modelId, out: ui.output.modelId, box: ui.box.modelId })`,
  value: `String(slider.value)`,
  kernelCloses: `button.close();\nbutton.closed`,
};

const SCRIPT = JUPYTER_CLIENT_PRELUDE + String.raw`
def drain(msg_id):
    # What came since for an earlier request (a callback's output parented to the cell that made the widget).
    return stash.pop(msg_id, [])

def cell(name):
    msg_id = kc.execute(cells[name])
    outputs = iopub_until_idle(msg_id)
    reply = shell_reply(msg_id)
    out["steps"][name] = {"msg_id": msg_id, "outputs": outputs, "reply": reply["content"]}
    for o in outputs:
        if o["msg_type"] == "execute_result":
            out["steps"][name]["result"] = o["content"]["data"]["text/plain"]
    return out["steps"][name]

def update(comm_id, state):
    return {"comm_id": comm_id, "data": {"method": "update", "state": state, "buffer_paths": []}}

try:
    make = cell("make")
    ids = json.loads(json.loads(make["result"]) if make["result"].startswith("'") or make["result"].startswith('"') else make["result"])
    out["ids"] = ids
    comm("update", "comm_msg", update(ids["id"], {"value": 7}))
    out["steps"]["update"]["toCell"] = drain(make["msg_id"])
    cell("value")
    comm("requestState", "comm_msg", {"comm_id": ids["id"], "data": {"method": "request_state"}})
    comm_info("info", "jupyter.widget")
    comm("controlOpen", "comm_open", {"comm_id": "ctl1", "target_name": "jupyter.widget.control", "data": {}}, {"version": "1.0.0"})
    comm("controlStates", "comm_msg", {"comm_id": "ctl1", "data": {"method": "request_states"}})
    btn = cell("button")
    bids = json.loads(json.loads(btn["result"]) if btn["result"][0] in "'\"" else btn["result"])
    out["bids"] = bids
    comm("click", "comm_msg", {"comm_id": bids["button"], "data": {"method": "custom", "content": {"event": "click"}}})
    out["steps"]["click"]["toCell"] = drain(btn["msg_id"])
    inter = cell("interact")
    iids = json.loads(json.loads(inter["result"]) if inter["result"][0] in "'\"" else inter["result"])
    out["iids"] = iids
    # Two changes, to two controls, sent at once: one debounced run with both.
    first = send("comm_msg", update(iids["n"], {"value": 2}))
    second = send("comm_msg", update(iids["act"], {"index": 1}))
    out["steps"]["burst1"] = {"msg_id": first, "outputs": iopub_until_idle(first)}
    out["steps"]["burst2"] = {"msg_id": second, "outputs": iopub_until_idle(second)}
    out["steps"]["burst1"]["toCell"] = drain(inter["msg_id"])
    comm("frontCloses", "comm_close", {"comm_id": ids["id"], "data": {}})
    comm_info("infoAfterFrontClose", "jupyter.widget")
    cell("kernelCloses")
    comm_info("infoAfterKernelClose", "jupyter.widget")
except Exception:
    out["error"] = traceback.format_exc()
finally:
    try:
        km.shutdown_kernel(now=False)
    except Exception:
        out["shutdown_error"] = traceback.format_exc()
    kc.stop_channels()
print(json.dumps(out))
`;

interface Msg {
  msg_type: string;
  content: any;
  metadata: Record<string, unknown>;
  parent: string;
}
interface Step {
  msg_id: string;
  outputs: Msg[];
  reply?: any;
  result?: string;
  toCell?: Msg[];
}
interface Session {
  steps: Record<string, Step>;
  ids: { id: string; layout: string; style: string };
  bids: { button: string; out: string; layout: string; style: string };
  iids: { n: string; act: string; out: string; box: string };
  stderr: string;
}

let session: Promise<Session> | undefined;

function widgetSession(): Promise<Session> {
  session ??= (async () => {
    const cwd = join(work, "cwd");
    mkdirSync(cwd, { recursive: true });
    const env = await privateJupyterWithKernel(work);
    return (await runJupyterClientScript(work, "widget_session.py", SCRIPT, [cwd, JSON.stringify(CELLS)], env, cwd)) as unknown as Session;
  })();
  return session;
}

const ofType = (msgs: Msg[], type: string) => msgs.filter((o) => o.msg_type === type);
const stream = (msgs: Msg[], name = "stdout") => ofType(msgs, "stream").filter((o) => o.content.name === name).map((o) => o.content.text).join("");
const commData = (msgs: Msg[], commId: string) => ofType(msgs, "comm_msg").filter((m) => m.content.comm_id === commId).map((m) => m.content.data);
function expectBusyIdle(step: Step): void {
  const statuses = ofType(step.outputs, "status").map((o) => o.content.execution_state);
  expect(statuses, JSON.stringify(step.outputs)).toEqual(["busy", "idle"]);
  for (const o of step.outputs) expect(o.parent).toBe(step.msg_id);
}

describe("lepton.widgets in the Lepton kernel, driven by jupyter_client", () => {
  it("a cell makes an IntSlider and shows it: comm_open on jupyter.widget (layout and style first) with the protocol's state, and a display_data with the widget-view mime and a text line", async (ctx) => {
    await needJupyter(ctx);
    const { steps, ids } = await widgetSession();
    const make = steps.make;
    expect(make.reply.status, JSON.stringify(make)).toBe("ok");
    const opens = ofType(make.outputs, "comm_open");
    expect(opens.map((o) => o.content.comm_id)).toEqual([ids.layout, ids.style, ids.id]);
    for (const o of opens) {
      expect(o.content.target_name).toBe("jupyter.widget");
      expect(o.metadata).toEqual({ version: "2.1.0" });
      expect(o.parent).toBe(make.msg_id);
    }
    const { state, buffer_paths } = opens[2].content.data;
    expect(buffer_paths).toEqual([]);
    expect(state).toMatchObject({
      _model_module: "@jupyter-widgets/controls", _model_module_version: "2.0.0", _model_name: "IntSliderModel",
      _view_module: "@jupyter-widgets/controls", _view_module_version: "2.0.0", _view_name: "IntSliderView",
      value: 3, min: 0, max: 10, step: 1, description: "epochs", layout: `IPY_MODEL_${ids.layout}`, style: `IPY_MODEL_${ids.style}`,
    });
    expect(opens[0].content.data.state._model_name).toBe("LayoutModel");
    expect(opens[1].content.data.state._model_name).toBe("SliderStyleModel");
    const [shown] = ofType(make.outputs, "display_data");
    expect(shown.content.data["application/vnd.jupyter.widget-view+json"]).toEqual({ version_major: 2, version_minor: 0, model_id: ids.id });
    expect(shown.content.data["text/plain"]).toBe('IntSlider(value=3, min=0, max=10) "epochs"');
  }, 600_000);

  it("an update {value: 7} from the client: echoed (echo_update parented to it), .value is 7, onChange's console.log and display go to the cell that made the slider", async (ctx) => {
    await needJupyter(ctx);
    const { steps, ids } = await widgetSession();
    const u = steps.update;
    expectBusyIdle(u);
    expect(commData(u.outputs, ids.id)).toEqual([{ method: "echo_update", state: { value: 7 }, buffer_paths: [] }]);
    expect(stream(u.toCell!)).toBe("changed 3 -> 7\n");
    const shown = ofType(u.toCell!, "display_data");
    expect(shown.map((d) => d.content.data["text/html"])).toEqual(["<b>now 7</b>"]);
    for (const o of u.toCell!) expect(o.parent).toBe(steps.make.msg_id);
    expect(steps.value.result).toBe("7");
  }, 600_000);

  it("request_state gets an update with the whole state; comm_info lists the widget comms; the control comm answers request_states", async (ctx) => {
    await needJupyter(ctx);
    const { steps, ids } = await widgetSession();
    const [full] = commData(steps.requestState.outputs, ids.id);
    expect(full.method).toBe("update");
    expect(full.state).toMatchObject({ _model_name: "IntSliderModel", value: 7, max: 10, description: "epochs" });
    const comms = steps.info.reply.comms;
    for (const id of [ids.id, ids.layout, ids.style]) expect(comms[id]).toEqual({ target_name: "jupyter.widget" });
    expect(ofType(steps.controlOpen.outputs, "comm_close")).toEqual([]);
    const [states] = commData(steps.controlStates.outputs, "ctl1");
    expect(states.method).toBe("update_states");
    expect(states.states[ids.id]).toMatchObject({ model_name: "IntSliderModel", model_module: "@jupyter-widgets/controls", model_module_version: "2.0.0" });
    expect(states.states[ids.id].state.value).toBe(7);
    expect(states.states[ids.layout].model_name).toBe("LayoutModel");
  }, 600_000);

  it("a Button click (custom {event: click}): the callback's own print goes to the button's cell, what it captures goes to the click with the Output's msg_id set to the click's msg_id", async (ctx) => {
    await needJupyter(ctx);
    const { steps, bids } = await widgetSession();
    const click = steps.click;
    expectBusyIdle(click);
    expect(stream(click.toCell!)).toBe("clicked 1\n");
    expect(commData(click.outputs, bids.out)).toEqual([
      { method: "update", state: { msg_id: click.msg_id }, buffer_paths: [] },
      { method: "update", state: { msg_id: "" }, buffer_paths: [] },
    ]);
    expect(stream(click.outputs)).toBe("captured click 1\n");
    // The order: msg_id set, then the output, then msg_id cleared.
    const kinds = click.outputs.filter((o) => o.msg_type !== "status").map((o) => o.msg_type);
    expect(kinds).toEqual(["comm_msg", "stream", "comm_msg"]);
  }, 600_000);

  it("interact: runs once with the defaults (into its Output, capturing with the cell's msg_id), then one debounced run for two changes sent at once, parented to the latest", async (ctx) => {
    await needJupyter(ctx);
    const { steps, iids } = await widgetSession();
    const cell = steps.interact;
    expect(cell.reply.status, JSON.stringify(cell)).toBe("ok");
    expect(stream(cell.outputs)).toBe("run 5 a\n");
    expect(commData(cell.outputs, iids.out).map((d) => d.state)).toEqual([{ msg_id: cell.msg_id }, { outputs: [] }, { msg_id: "" }]);
    const box = ofType(cell.outputs, "display_data").find((d) => d.content.data["application/vnd.jupyter.widget-view+json"]?.model_id === iids.box);
    expect(box).toBeDefined();
    const all = [...steps.burst1.outputs, ...steps.burst2.outputs, ...(steps.burst1.toCell ?? [])];
    expect(stream(all)).toBe("run 2 b\n");
    expect(stream(steps.burst2.outputs)).toBe("run 2 b\n");
    expectBusyIdle(steps.burst1);
    expectBusyIdle(steps.burst2);
  }, 600_000);

  it("close both ways: the client's comm_close drops the slider (comm_info); button.close() sends comm_close for it, its layout and its style", async (ctx) => {
    await needJupyter(ctx);
    const { steps, ids, bids } = await widgetSession();
    expectBusyIdle(steps.frontCloses);
    expect(ofType(steps.frontCloses.outputs, "comm_close")).toEqual([]);
    expect(steps.infoAfterFrontClose.reply.comms[ids.id]).toBeUndefined();
    expect(steps.infoAfterFrontClose.reply.comms[ids.layout]).toBeDefined();
    const closed = ofType(steps.kernelCloses.outputs, "comm_close").map((m) => m.content.comm_id);
    expect(closed).toEqual([bids.button, bids.layout, bids.style]);
    expect(steps.kernelCloses.result).toBe("true");
    for (const id of closed) expect(steps.infoAfterKernelClose.reply.comms[id]).toBeUndefined();
  }, 600_000);
});
