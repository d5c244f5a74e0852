/**
 * The comm layer (src/display/comms.ts) without a kernel: a fake transport records what would go to the
 * frontend, and the kernel-side delivery functions play the frontend's messages.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  comms, closeAllComms, commInfo, deliverCommClose, deliverCommMsg, deliverCommOpen, hasComm, setCommTransport,
  type CommMessage, type CommTransport,
} from "../src/display/comms";

type Sent = { type: string; content: any; metadata: Record<string, unknown>; buffers: Uint8Array[] };

function fakeTransport(): { sent: Sent[]; transport: CommTransport } {
  const sent: Sent[] = [];
  return { sent, transport: { send: (type, content, metadata, buffers) => sent.push({ type, content, metadata, buffers }) } };
}

const frontend = (type: string, content: Record<string, unknown>, buffers: Uint8Array[] = []) => ({
  header: { msg_id: `m-${Math.random()}`, msg_type: type }, parent_header: {}, metadata: { from: "test" }, content, buffers,
});

afterEach(async () => {
  setCommTransport(undefined);
  for (const c of comms.list()) c.close();
  for (const name of ["t", "boom", "slow"]) comms.unregisterTarget(name);
  vi.restoreAllMocks();
});

describe("lepton.comms without a kernel", () => {
  it("open() outside a kernel gives a working comm whose messages go nowhere, silently", () => {
    const stderr = vi.spyOn(process.stderr, "write");
    expect(comms.available()).toBe(false);
    const comm = comms.open("nobody", { a: 1 });
    expect(comm.id).toMatch(/^[0-9a-f]{32}$/);
    expect(comm.target).toBe("nobody");
    expect(comm.closed).toBe(false);
    comm.send({ x: 1 }, {}, [new Uint8Array([1, 2])]);
    comm.close();
    expect(comm.closed).toBe(true);
    comm.send({ after: "close" }); // no-op, no throw
    expect(stderr).not.toHaveBeenCalled();
  });

  it("open/send/close through a transport: comm_open with target and data, comm_msg with buffers copied, comm_close once", () => {
    const { sent, transport } = fakeTransport();
    setCommTransport(transport);
    expect(comms.available()).toBe(true);
    const bytes = new Float32Array([1.5, -2]);
    const comm = comms.open("front", { hello: "world" }, { version: "1" }, [bytes.buffer], { commId: "abc" });
    expect(comm.id).toBe("abc");
    expect(() => comms.open("front", {}, {}, [], { commId: "abc" })).toThrow(/already open/);
    const typed = new Uint16Array([7, 8, 9]).subarray(1); // a view with an offset
    comm.send({ n: 1 }, { m: true }, [typed, new DataView(new ArrayBuffer(2))]);
    typed[0] = 100; // after send: what was sent does not change
    expect(commInfo()).toEqual({ abc: { target_name: "front" } });
    comm.close({ bye: 1 });
    comm.close();
    expect(sent.map((s) => s.type)).toEqual(["comm_open", "comm_msg", "comm_close"]);
    expect(sent[0].content).toEqual({ comm_id: "abc", target_name: "front", data: { hello: "world" } });
    expect(sent[0].metadata).toEqual({ version: "1" });
    expect(Array.from(new Float32Array(sent[0].buffers[0].buffer))).toEqual([1.5, -2]);
    expect(sent[1].content).toEqual({ comm_id: "abc", data: { n: 1 } });
    expect(Array.from(new Uint16Array(sent[1].buffers[0].buffer))).toEqual([8, 9]);
    expect(sent[1].buffers[1].byteLength).toBe(2);
    expect(sent[2].content).toEqual({ comm_id: "abc", data: { bye: 1 } });
    expect(commInfo()).toEqual({});
    expect(() => comm.send({}, {}, ["no" as any])).not.toThrow(); // closed: nothing is looked at
    expect(() => comms.open("x", {}, {}, ["no" as any])).toThrow(/not an ArrayBuffer/);
  });

  it("a frontend comm_open reaches the target's handler; comm_msg the onMsg callbacks (awaited, in order); comm_close onClose", async () => {
    const { sent, transport } = fakeTransport();
    setCommTransport(transport);
    const events: string[] = [];
    let opened: CommMessage | undefined;
    comms.registerTarget("t", async (comm, msg) => {
      opened = msg;
      await new Promise((r) => setTimeout(r, 5));
      comm.onMsg(async (m) => {
        await new Promise((r) => setTimeout(r, 5));
        events.push(`msg ${m.data.n} ${m.buffers.map((b) => Array.from(b).join(",")).join("|")}`);
      });
      comm.onMsg((m) => void events.push(`second ${m.data.n}`));
      comm.onClose((m) => void events.push(`close ${m.origin} ${JSON.stringify(m.data)}`));
    });
    expect(await deliverCommOpen(frontend("comm_open", { comm_id: "c1", target_name: "t", data: { x: 1 } }))).toBe("opened");
    expect(opened?.data).toEqual({ x: 1 });
    expect(opened?.content.target_name).toBe("t");
    expect(opened?.metadata).toEqual({ from: "test" });
    expect(hasComm("c1")).toBe(true);
    expect(await deliverCommOpen(frontend("comm_open", { comm_id: "c1", target_name: "t", data: {} }))).toBe("duplicate");
    const pooled = Buffer.from([9, 1, 2, 3]).subarray(1);
    expect(await deliverCommMsg(frontend("comm_msg", { comm_id: "c1", data: { n: 1 } }, [pooled]))).toBe(true);
    expect(await deliverCommMsg(frontend("comm_msg", { comm_id: "c1", data: { n: 2 } }))).toBe(true);
    expect(events).toEqual(["msg 1 1,2,3", "second 1", "msg 2 ", "second 2"]);
    expect(commInfo("t")).toEqual({ c1: { target_name: "t" } });
    expect(commInfo("other")).toEqual({});
    expect(await deliverCommClose(frontend("comm_close", { comm_id: "c1", data: { why: "done" } }))).toBe(true);
    expect(events.at(-1)).toBe('close frontend {"why":"done"}');
    expect(hasComm("c1")).toBe(false);
    expect(await deliverCommMsg(frontend("comm_msg", { comm_id: "c1", data: {} }))).toBe(false);
    expect(sent).toEqual([]); // a frontend close is not answered with another close
  });

  it("an unknown target is answered with comm_close; a handler that throws has its comm closed; a failing callback is reported and the next runs", async () => {
    const { sent, transport } = fakeTransport();
    setCommTransport(transport);
    const stderr: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: any) => (stderr.push(String(chunk)), true));
    expect(await deliverCommOpen(frontend("comm_open", { comm_id: "u1", target_name: "nope", data: {} }))).toBe("unknown-target");
    expect(sent).toEqual([{ type: "comm_close", content: { comm_id: "u1", data: {} }, metadata: {}, buffers: [] }]);
    comms.registerTarget("boom", async () => {
      throw new Error("handler exploded");
    });
    expect(await deliverCommOpen(frontend("comm_open", { comm_id: "b1", target_name: "boom", data: {} }))).toBe("failed");
    expect(hasComm("b1")).toBe(false);
    expect(sent.at(-1)).toMatchObject({ type: "comm_close", content: { comm_id: "b1" } });
    expect(stderr.join("")).toMatch(/handler of target "boom".*failed:\nError: handler exploded/s);
    const seen: number[] = [];
    comms.registerTarget("t", (comm) => {
      comm.onMsg(async (m) => {
        if (m.data.n === 1) throw new Error("callback exploded");
        seen.push(m.data.n);
      });
      comm.onMsg((m) => void seen.push(m.data.n * 10));
    });
    await deliverCommOpen(frontend("comm_open", { comm_id: "t1", target_name: "t", data: {} }));
    await deliverCommMsg(frontend("comm_msg", { comm_id: "t1", data: { n: 1 } }));
    await deliverCommMsg(frontend("comm_msg", { comm_id: "t1", data: { n: 2 } }));
    expect(seen).toEqual([10, 2, 20]);
    expect(stderr.join("")).toMatch(/onMsg callback of comm t1 \(target "t"\) failed:\nError: callback exploded/);
  });

  it("close() from this side runs onClose (origin kernel); unregisterTarget; closeAllComms closes every comm", async () => {
    const { sent, transport } = fakeTransport();
    setCommTransport(transport);
    const closes: string[] = [];
    const a = comms.open("front");
    a.onClose((m) => void closes.push(`a ${m.origin} ${JSON.stringify(m.data)}`));
    const remove = a.onMsg(() => undefined);
    remove();
    a.close({ reason: 1 });
    await new Promise((r) => setTimeout(r, 0));
    expect(closes).toEqual(['a kernel {"reason":1}']);
    comms.registerTarget("t", () => undefined);
    expect(comms.unregisterTarget("t")).toBe(true);
    expect(comms.unregisterTarget("t")).toBe(false);
    expect(await deliverCommOpen(frontend("comm_open", { comm_id: "gone", target_name: "t", data: {} }))).toBe("unknown-target");
    const b = comms.open("front");
    const c = comms.open("other");
    b.onClose(async () => {
      await new Promise((r) => setTimeout(r, 5));
      closes.push("b");
    });
    c.onClose(() => void closes.push("c"));
    sent.length = 0;
    await closeAllComms();
    expect(closes.slice(1).sort()).toEqual(["b", "c"]);
    expect(sent.map((s) => [s.type, s.content.comm_id])).toEqual([["comm_close", b.id], ["comm_close", c.id]]);
    expect(b.closed && c.closed).toBe(true);
    expect(comms.list()).toEqual([]);
  });

  it("the comms live on globalThis: another copy of the module sees the same comms and transport", async () => {
    const { sent, transport } = fakeTransport();
    setCommTransport(transport);
    vi.resetModules();
    const other = await import("../src/display/comms"); // a fresh module instance after resetModules
    expect(other.setCommTransport).not.toBe(setCommTransport);
    const comm = comms.open("front", {}, {}, [], { commId: "shared" });
    expect(other.commInfo()).toEqual({ shared: { target_name: "front" } });
    expect(other.comms.available()).toBe(true);
    other.comms.get("shared")?.send({ via: "other copy" });
    expect(sent.at(-1)?.content).toEqual({ comm_id: "shared", data: { via: "other copy" } });
    comm.close();
  });
});
