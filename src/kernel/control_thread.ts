/**
 * The kernel's control thread (a worker thread, like ipykernel's control thread): it serves the heartbeat
 * and the control channel, so both answer while the main thread computes. `interrupt_request` is handled
 * here: it sets the shared interrupt flag that every loop of cell code checks (see ./transform), tells the
 * main thread, and replies at once. Every other control message is verified here and handed to the main
 * thread, whose replies come back to be sent on the control socket.
 *
 * Messages from the main thread: { kind: "send", frames } (a reply to send on control), { kind: "close" }.
 * Messages to it: { kind: "bound" } | { kind: "failed", error } once at start, { kind: "interrupt" },
 * { kind: "control", msg } (a decoded message, identities included), { kind: "log", text }.
 */
import { parentPort, workerData } from "worker_threads";
import { DuplicateSignatureError, InvalidSignatureError, Signer, makeHeader } from "./wire";
import { whenParentGone, type ParentWatch } from "./parent";

export interface ControlThreadData {
  hbAddress: string;
  controlAddress: string;
  key: string;
  scheme: string;
  session: string;
  zeromq: string;
  interruptFlag: Int32Array;
  closed: Int32Array;
  parent?: ParentWatch;
}

async function main(): Promise<void> {
  const data = workerData as ControlThreadData;
  const port = parentPort!;
  const zmq = require(data.zeromq);
  const hb = new zmq.Reply();
  const control = new zmq.Router();
  try {
    await hb.bind(data.hbAddress);
  } catch (err: any) {
    port.postMessage({ kind: "failed", error: `cannot listen for the heartbeat on ${data.hbAddress}: ${err?.message ?? err}` });
    return;
  }
  try {
    await control.bind(data.controlAddress);
  } catch (err: any) {
    hb.close();
    port.postMessage({ kind: "failed", error: `cannot listen for the control channel on ${data.controlAddress}: ${err?.message ?? err}` });
    return;
  }
  const signer = new Signer(data.key, data.scheme, { rejectReplays: true });
  let tail: Promise<unknown> = Promise.resolve();
  const send = (frames: Uint8Array[]) => {
    tail = tail.then(() => control.send(frames)).catch((err: any) => port.postMessage({ kind: "log", text: `control send failed: ${err?.message ?? err}` }));
  };
  port.on("message", (m: any) => {
    if (m?.kind === "send") send(m.frames);
    else if (m?.kind === "close") {
      hb.close();
      control.close();
      Atomics.store(data.closed, 0, 1);
      Atomics.notify(data.closed, 0);
      port.close();
    }
  });
  port.postMessage({ kind: "bound" });
  const watch = data.parent;
  if (watch) {
    whenParentGone(watch, () => {
      // Stop a busy cell so the main thread can shut down cleanly; if it cannot within 5 s (stuck in a
      // library's own loop), end the process (no SIGTERM handler is installed: the default ends it).
      Atomics.store(data.interruptFlag, 0, 1);
      port.postMessage({ kind: "parent-gone", pid: watch.pid });
      setTimeout(() => process.kill(process.pid, "SIGTERM"), 5000).unref();
    });
  }
  void (async () => {
    for await (const frames of hb) await hb.send(frames);
  })().catch(() => {});
  for await (const frames of control as AsyncIterable<Buffer[]>) {
    let msg;
    try {
      msg = signer.decode(frames);
    } catch (err) {
      const why = err instanceof InvalidSignatureError ? "an invalid signature" : err instanceof DuplicateSignatureError ? "a signature it has seen before (a replay)" : `a malformed message (${(err as Error).message})`;
      port.postMessage({ kind: "log", text: `lepton kernel: dropped a control message with ${why}` });
      continue;
    }
    if (msg.header.msg_type === "interrupt_request") {
      Atomics.store(data.interruptFlag, 0, 1);
      port.postMessage({ kind: "interrupt" });
      const header = makeHeader("interrupt_reply", data.session);
      send(signer.encode({ header, parent_header: msg.header, metadata: {}, content: { status: "ok" }, identities: msg.identities }));
      continue;
    }
    port.postMessage({ kind: "control", msg });
  }
}

main().catch((err) => parentPort?.postMessage({ kind: "failed", error: String(err?.stack ?? err) }));
