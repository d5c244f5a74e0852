/**
 * Jupyter comms (lepton.comms, src/display/comms.ts) in the real Lepton kernel over ZeroMQ, driven from
 * Python by Debian's jupyter_client (KernelManager + BlockingKernelClient) as a frontend would: a cell
 * registers a target, the client opens comms to it and messages them (with binary buffers), the kernel
 * opens a comm from a cell and hears the client's answer, comm_info_request with and without a target
 * filter, comm_close both ways, an unknown target, and the comms closed at shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ensureBuilt, needJupyter, privateJupyterWithKernel, JUPYTER_CLIENT_PRELUDE, runJupyterClientScript } from "./kernel_helpers";

const work = realpathSync(mkdtempSync(join(tmpdir(), "lepton-kernel-comms-")));

beforeAll(() => {
  ensureBuilt();
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** The cells the script runs, by name. */
const CELLS: Record<string, string> = {
  register: String.raw`
import * as lepton from "lepton";
const comms = lepton.comms;
comms.registerTarget("lepton_test", (comm: any, open: any) => {
  console.log("opened", comm.id, comm.target, JSON.stringify(open.data));
  comm.onMsg(async (msg: any) => {
    const kind = msg.data.kind;
    if (kind === "log") console.log("got", JSON.stringify(msg.data.value));
    if (kind === "display") lepton.display(lepton.html("<b>from a comm</b>"));
    if (kind === "async") {
      await new Promise((r) => setTimeout(r, 300));
      console.log("after await", msg.data.value);
      comm.send({ reply: "async done" });
    }
    if (kind === "throw") throw new Error("callback failed on purpose");
    if (kind === "resolve") (globalThis as any).resolveFromComm?.(msg.data.value);
    if (kind === "buffers") {
      console.log("buffers", JSON.stringify(msg.buffers.map((b: Uint8Array) => Array.from(b))));
      comm.send({ echo: "buffers" }, { m: 1 }, [new Float32Array([1.5, 2.5]), msg.buffers[1]]);
    }
  });
  comm.onClose((msg: any) => console.log("closed by", msg.origin, JSON.stringify(msg.data)));
});
"registered"`,
  kernelOpens: String.raw`
const kreceived: any[] = [];
const kcomm = comms.open("lepton_front", { from: "kernel" }, { v: 1 }, [new Uint8Array([5, 6, 7])]);
kcomm.onMsg((msg: any) => { kreceived.push({ data: msg.data, buffers: msg.buffers.map((b: Uint8Array) => Array.from(b)) }); });
kcomm.onClose((msg: any) => console.log("kcomm closed by", msg.origin, JSON.stringify(msg.data)));
kcomm.id`,
  kernelHeard: `JSON.stringify(kreceived)`,
  kernelCloses: `kcomm.close({ done: true });\nkcomm.closed`,
  awaitComm: `const fromCommP = new Promise((r) => { (globalThis as any).resolveFromComm = r; });\nconsole.log("waiting");\nconst fromComm = await fromCommP;\nconsole.log("the cell got", fromComm);`,
  lateTarget: `comms.registerTarget("late", (comm: any, open: any) => console.log("late target opened", open.data.n));`,
  leftOpen: `const left = comms.open("lepton_front", { left: "open" });\nleft.onClose((m: any) => console.log("left closed by", m.origin));\nleft.id`,
  alive: `1 + 1`,
};

/**
 * Plays a frontend: runs the cells, sends comm messages on shell (buffers as extra frames), and prints one
 * JSON object: for each step the IOPub messages parented to its request (type, content, metadata,
 * buffers as byte lists), and for cells the execute_reply.
 */
const SCRIPT = JUPYTER_CLIENT_PRELUDE + String.raw`
def cell(name, wait=True):
    msg_id = kc.execute(cells[name])
    if not wait:
        return msg_id
    return finish_cell(name, msg_id)

def finish_cell(name, msg_id):
    outputs = iopub_until_idle(msg_id)
    reply = shell_reply(msg_id)
    out["steps"][name] = {"msg_id": msg_id, "outputs": outputs, "reply": reply["content"]}
    return out["steps"][name]

def result_text(step):
    for o in step["outputs"]:
        if o["msg_type"] == "execute_result":
            return o["content"]["data"]["text/plain"]

try:
    cell("register")
    comm("open", "comm_open", {"comm_id": "front1", "target_name": "lepton_test", "data": {"hello": 1}})
    comm("log", "comm_msg", {"comm_id": "front1", "data": {"kind": "log", "value": [1, 2]}})
    comm("display", "comm_msg", {"comm_id": "front1", "data": {"kind": "display"}})
    comm("async", "comm_msg", {"comm_id": "front1", "data": {"kind": "async", "value": 7}})
    comm("throw", "comm_msg", {"comm_id": "front1", "data": {"kind": "throw"}})
    comm("afterThrow", "comm_msg", {"comm_id": "front1", "data": {"kind": "log", "value": "still"}})
    comm("buffers", "comm_msg", {"comm_id": "front1", "data": {"kind": "buffers"}}, buffers=[b"\x01\x02\x03", b"abcd"])
    # A cell awaiting a promise that a comm message resolves: the comm message is handled while it runs.
    waiting = cell("awaitComm", wait=False)
    # Only once the cell is waiting (its "waiting" line has come) does the frontend resolve it: however
    # long the cell takes to compile, the comm message then finds resolveFromComm set.
    stash.setdefault(waiting, [])
    while not any(g["msg_type"] == "stream" and "waiting" in g["content"].get("text", "") for g in stash[waiting]):
        m = summary(kc.get_iopub_msg(timeout=120))
        out["order"].append([m["msg_type"], m["parent"], m["content"].get("execution_state")])
        stash.setdefault(m["parent"], []).append(m)
    comm("resolve", "comm_msg", {"comm_id": "front1", "data": {"kind": "resolve", "value": "go"}})
    finish_cell("awaitComm", waiting)
    out["resolveBusyBeforeCellIdle"] = out["order"].index(["status", out["steps"]["resolve"]["msg_id"], "busy"]) < out["order"].index(["status", waiting, "idle"])
    step = cell("kernelOpens")
    kid = result_text(step)
    out["kid"] = kid
    comm("answer", "comm_msg", {"comm_id": kid, "data": {"answer": 42}}, buffers=[b"\x09"])
    cell("kernelHeard")
    comm_info("infoAll")
    comm_info("infoTest", "lepton_test")
    comm_info("infoFront", "lepton_front")
    comm_info("infoNone", "no_such_target")
    comm("frontCloses", "comm_close", {"comm_id": "front1", "data": {"bye": True}})
    comm_info("infoAfterFrontClose")
    comm("msgAfterClose", "comm_msg", {"comm_id": "front1", "data": {"kind": "log", "value": "not delivered"}})
    cell("kernelCloses")
    comm_info("infoAfterKernelClose")
    comm("unknown", "comm_open", {"comm_id": "u1", "target_name": "no_such_target", "data": {}})
    # A comm_open sent right after the cell that registers its target, before that cell has run.
    late_cell = cell("lateTarget", wait=False)
    comm("late", "comm_open", {"comm_id": "late1", "target_name": "late", "data": {"n": 5}})
    finish_cell("lateTarget", late_cell)
    comm_info("infoLate", "late")
    cell("alive")
    left = cell("leftOpen")
    out["leftId"] = result_text(left)
except Exception:
    out["error"] = traceback.format_exc()
finally:
    try:
        km.shutdown_kernel(now=False)
    except Exception:
        out["shutdown_error"] = traceback.format_exc()
    # What the kernel sent while shutting down (the comms it closed).
    out["atShutdown"] = []
    try:
        while True:
            out["atShutdown"].append(summary(kc.get_iopub_msg(timeout=1)))
    except queue.Empty:
        pass
    kc.stop_channels()
print(json.dumps(out))
`;

interface Msg {
  msg_type: string;
  content: any;
  metadata: Record<string, unknown>;
  buffers: number[][];
  parent: string;
}
interface Step {
  msg_id: string;
  outputs: Msg[];
  reply?: any;
}
interface Session {
  steps: Record<string, Step>;
  order: [string, string, string | null][];
  kid: string;
  leftId: string;
  /** The comm_msg's busy came before the awaiting cell's idle (it was not queued behind the cell). */
  resolveBusyBeforeCellIdle: boolean;
  atShutdown: Msg[];
  stderr: string;
}

let session: Promise<Session> | undefined;

function commSession(): Promise<Session> {
  session ??= (async () => {
    const cwd = join(work, "cwd");
    mkdirSync(cwd, { recursive: true });
    const env = await privateJupyterWithKernel(work);
    return (await runJupyterClientScript(work, "comm_session.py", SCRIPT, [cwd, JSON.stringify(CELLS)], env, cwd)) as unknown as Session;
  })();
  return session;
}

function stream(step: Step, name = "stdout"): string {
  return step.outputs.filter((o) => o.msg_type === "stream" && o.content.name === name).map((o) => o.content.text).join("");
}
function ofType(step: Step, type: string): Msg[] {
  return step.outputs.filter((o) => o.msg_type === type);
}
/** busy first and idle last, each parented to the step's own request. */
function expectBusyIdle(step: Step): void {
  const statuses = step.outputs.filter((o) => o.msg_type === "status").map((o) => o.content.execution_state);
  expect(statuses, JSON.stringify(step.outputs)).toEqual(["busy", "idle"]);
  expect(step.outputs[0].msg_type).toBe("status");
  expect(step.outputs.at(-1)?.msg_type).toBe("status");
  for (const o of step.outputs) expect(o.parent).toBe(step.msg_id);
}

describe("comms in the Lepton kernel, driven by jupyter_client", () => {
  it("a cell registers a target; a comm_open to it reaches the handler with its data (output parented to the comm_open, busy/idle around it)", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await commSession();
    expect(steps.register.reply.status, JSON.stringify(steps.register)).toBe("ok");
    expect(stream(steps.open)).toBe('opened front1 lepton_test {"hello":1}\n');
    expectBusyIdle(steps.open);
    // Nothing closed it: the target accepted.
    expect(ofType(steps.open, "comm_close")).toEqual([]);
  }, 600_000);

  it("comm_msg: the onMsg callback's console.log and lepton.display are outputs whose parent is that comm_msg, between its busy and idle", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await commSession();
    expect(stream(steps.log)).toBe("got [1,2]\n");
    expectBusyIdle(steps.log);
    const shown = ofType(steps.display, "display_data");
    expect(shown).toHaveLength(1);
    expect(shown[0].content.data["text/html"]).toBe("<b>from a comm</b>");
    expectBusyIdle(steps.display);
  }, 600_000);

  it("an async callback is awaited: its output after the await and its comm.send come before the idle", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await commSession();
    const s = steps.async;
    expect(stream(s)).toBe("after await 7\n");
    const sent = ofType(s, "comm_msg");
    expect(sent.map((m) => m.content)).toEqual([{ comm_id: "front1", data: { reply: "async done" } }]);
    expectBusyIdle(s);
  }, 600_000);

  it("a callback that throws: the error is on stderr of that comm_msg, the kernel lives and handles the next message", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await commSession();
    const err = stream(steps.throw, "stderr");
    expect(err).toMatch(/lepton\.comms: the onMsg callback of comm front1 \(target "lepton_test"\) failed:/);
    expect(err).toMatch(/Error: callback failed on purpose/);
    expectBusyIdle(steps.throw);
    expect(stream(steps.afterThrow)).toBe('got "still"\n');
    expect(steps.alive.reply.status).toBe("ok");
    expect(steps.alive.outputs.find((o) => o.msg_type === "execute_result")?.content.data["text/plain"]).toBe("2");
  }, 600_000);

  it("binary buffers both ways: the callback gets the client's frames as Uint8Arrays; comm.send's typed arrays arrive as extra frames", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await commSession();
    expect(stream(steps.buffers)).toBe("buffers [[1,2,3],[97,98,99,100]]\n");
    const [echo] = ofType(steps.buffers, "comm_msg");
    expect(echo.content).toEqual({ comm_id: "front1", data: { echo: "buffers" } });
    expect(echo.metadata).toEqual({ m: 1 });
    expect(echo.buffers).toHaveLength(2);
    expect(Array.from(new Float32Array(new Uint8Array(echo.buffers[0]).buffer))).toEqual([1.5, 2.5]);
    expect(echo.buffers[1]).toEqual([97, 98, 99, 100]);
  }, 600_000);

  it("a comm message is handled while a cell awaits (the cell awaits a promise that the comm callback resolves)", async (ctx) => {
    await needJupyter(ctx);
    const s = await commSession();
    expect(s.steps.awaitComm.reply.status, JSON.stringify(s.steps.awaitComm)).toBe("ok");
    expect(stream(s.steps.awaitComm)).toBe("waiting\nthe cell got go\n");
    expectBusyIdle(s.steps.resolve);
    expect(s.resolveBusyBeforeCellIdle).toBe(true);
  }, 600_000);

  it("the kernel opens a comm from a cell: comm_open (target, data, metadata, buffers) parented to the cell; the client's comm_msg reaches onMsg", async (ctx) => {
    await needJupyter(ctx);
    const { steps, kid } = await commSession();
    const [open] = ofType(steps.kernelOpens, "comm_open");
    expect(open.content).toEqual({ comm_id: kid, target_name: "lepton_front", data: { from: "kernel" } });
    expect(open.metadata).toEqual({ v: 1 });
    expect(open.buffers).toEqual([[5, 6, 7]]);
    expect(open.parent).toBe(steps.kernelOpens.msg_id);
    expectBusyIdle(steps.answer);
    const heard = steps.kernelHeard.outputs.find((o) => o.msg_type === "execute_result")?.content.data["text/plain"];
    expect(JSON.parse(heard)).toEqual([{ data: { answer: 42 }, buffers: [[9]] }]);
  }, 600_000);

  it("comm_info_request lists the open comms ({comm_id: {target_name}}), filtered by target_name when given", async (ctx) => {
    await needJupyter(ctx);
    const { steps, kid } = await commSession();
    expect(steps.infoAll.reply).toEqual({ status: "ok", comms: { front1: { target_name: "lepton_test" }, [kid]: { target_name: "lepton_front" } } });
    expect(steps.infoTest.reply.comms).toEqual({ front1: { target_name: "lepton_test" } });
    expect(steps.infoFront.reply.comms).toEqual({ [kid]: { target_name: "lepton_front" } });
    expect(steps.infoNone.reply.comms).toEqual({});
  }, 600_000);

  it("comm_close both ways: onClose runs (origin frontend / kernel), comm_info no longer lists the comm, later messages to it are dropped", async (ctx) => {
    await needJupyter(ctx);
    const { steps, kid } = await commSession();
    expect(stream(steps.frontCloses)).toBe('closed by frontend {"bye":true}\n');
    expectBusyIdle(steps.frontCloses);
    expect(ofType(steps.frontCloses, "comm_close")).toEqual([]); // not answered with another close
    expect(steps.infoAfterFrontClose.reply.comms).toEqual({ [kid]: { target_name: "lepton_front" } });
    expect(stream(steps.msgAfterClose)).toBe("");
    expectBusyIdle(steps.msgAfterClose);
    const [close] = ofType(steps.kernelCloses, "comm_close");
    expect(close.content).toEqual({ comm_id: kid, data: { done: true } });
    expect(stream(steps.kernelCloses)).toBe('kcomm closed by kernel {"done":true}\n');
    expect(steps.infoAfterKernelClose.reply.comms).toEqual({});
  }, 600_000);

  it("a comm_open to an unknown target is answered with comm_close; one sent before the cell that registers the target has run waits for it", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await commSession();
    expect(ofType(steps.unknown, "comm_close").map((m) => m.content)).toEqual([{ comm_id: "u1", data: {} }]);
    expectBusyIdle(steps.unknown);
    expect(stream(steps.late)).toBe("late target opened 5\n");
    expect(ofType(steps.late, "comm_close")).toEqual([]);
    expect(steps.infoLate.reply.comms).toEqual({ late1: { target_name: "late" } });
  }, 600_000);

  it("at shutdown the kernel closes the comms still open (comm_close on IOPub)", async (ctx) => {
    await needJupyter(ctx);
    const { atShutdown, leftId } = await commSession();
    const closed = atShutdown.filter((m) => m.msg_type === "comm_close").map((m) => m.content.comm_id).sort();
    expect(closed, JSON.stringify(atShutdown)).toEqual([leftId, "late1"].sort());
  }, 600_000);
});
