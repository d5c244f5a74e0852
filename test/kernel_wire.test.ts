/**
 * The wire protocol's signing (src/kernel/wire.ts): every signature scheme jupyter_client accepts,
 * checked against signatures computed independently by Debian's Python (hmac + hashlib) and, where
 * jupyter_client is installed, against its own Session in both directions; replays refused with a
 * bounded memory of signatures.
 */
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as zmq from "zeromq";
import { KernelClient } from "../src/kernel/client";
import {
  DIGEST_HISTORY_SIZE,
  DigestHistory,
  DuplicateSignatureError,
  HASHLIB_TO_NODE,
  InvalidSignatureError,
  Signer,
  makeHeader,
  nodeDigestFor,
  supportedSignatureSchemes,
  type Message,
} from "../src/kernel/wire";
import { PYTHON, ROOT, ensureBuilt, runCommand } from "./kernel_helpers";

const SCHEMES = Object.keys(HASHLIB_TO_NODE).map((h) => `hmac-${h}`);

function message(code: string, session = "s-1"): Pick<Message, "header" | "parent_header" | "metadata" | "content"> {
  return { header: makeHeader("execute_request", session), parent_header: {}, metadata: { cellId: "c1" }, content: { code, silent: false } };
}

/** Run a Python program that reads JSON on stdin and prints JSON. */
async function python(program: string, input: unknown): Promise<any> {
  const res = await runCommand(PYTHON, ["-c", program], { input: JSON.stringify(input), timeoutMs: 60_000 });
  if (res.status !== 0) throw new Error(`python failed (${res.status}): ${res.stderr}`);
  return JSON.parse(res.stdout);
}

const HAVE_PYTHON = existsSync(PYTHON);

describe("Signer: signature schemes", () => {
  it("supports every hashlib digest jupyter_client can sign with (this Node has them all)", () => {
    expect(supportedSignatureSchemes()).toEqual(SCHEMES);
    expect(nodeDigestFor("hmac-sha3_256")).toBe("sha3-256");
    expect(nodeDigestFor("hmac-blake2b")).toBe("blake2b512");
    expect(nodeDigestFor("hmac-blake2s")).toBe("blake2s256");
  });

  it("refuses an unknown scheme with a message naming it and the supported ones", () => {
    for (const bad of ["hmac-sha999", "hmac-shake_128", "sha256", "hmac-"]) {
      expect(() => new Signer("key", bad)).toThrow(new RegExp(`${bad.replace(/[-]/g, "\\-")}.*supported here: hmac-md5, hmac-sha1, .*hmac-sha256.*hmac-blake2s`));
    }
    // An empty key means no signing: the scheme is not even looked at.
    expect(new Signer("", "hmac-sha999").sign([Buffer.from("x")])).toBe("");
  });

  it.skipIf(!HAVE_PYTHON)("signs each scheme exactly as Python's hmac + hashlib, round trips, and rejects another key", async () => {
    const key = "b7c1a0f3-2a47-4a1f-9d55-0c8e0f6a9e21";
    const cases = SCHEMES.map((scheme) => {
      const frames = new Signer(key, scheme).encode(message(`1 + ${scheme.length}`));
      return { scheme, frames };
    });
    const program = `
import sys, json, hmac, hashlib, base64
out = []
for case in json.load(sys.stdin):
    h = hmac.new(case["key"].encode(), digestmod=getattr(hashlib, case["scheme"].split("-", 1)[1]))
    for p in case["parts"]:
        h.update(base64.b64decode(p))
    out.append(h.hexdigest())
print(json.dumps(out))`;
    const expected: string[] = await python(program, cases.map((c) => ({ key, scheme: c.scheme, parts: c.frames.slice(2, 6).map((f) => f.toString("base64")) })));
    for (const [i, { scheme, frames }] of cases.entries()) {
      expect(frames[1].toString(), scheme).toBe(expected[i]);
      const decoded = new Signer(key, scheme).decode(frames);
      expect(decoded.content.code).toBe(`1 + ${scheme.length}`);
      expect(decoded.metadata).toEqual({ cellId: "c1" });
      expect(() => new Signer("another key", scheme).decode(frames)).toThrow(InvalidSignatureError);
      // The same key with another digest is another signature.
      const other = scheme === "hmac-sha256" ? "hmac-sha512" : "hmac-sha256";
      expect(() => new Signer(key, other).decode(frames)).toThrow(InvalidSignatureError);
    }
  });

  it.skipIf(!HAVE_PYTHON)("interoperates with jupyter_client's Session in both directions, for every scheme", async (ctx) => {
    const probe = await runCommand(PYTHON, ["-c", "import jupyter_client.session"], { timeoutMs: 60_000 });
    if (probe.status !== 0) ctx.skip("jupyter_client is not installed for /usr/bin/python3");
    const key = "0123456789abcdef";
    const ours = SCHEMES.map((scheme) => ({ scheme, frames: new Signer(key, scheme).encode(message(`"from node ${scheme}"`)).map((f) => f.toString("base64")) }));
    // jupyter_client checks our frames (deserialize raises on a bad or repeated signature) and signs one of its own.
    const program = `
import sys, json, base64
from jupyter_client.session import Session
out = []
for case in json.load(sys.stdin):
    s = Session(key=case["key"].encode(), signature_scheme=case["scheme"])
    frames = [base64.b64decode(f) for f in case["frames"]]
    idents, rest = s.feed_identities(frames)
    got = s.deserialize(rest)
    theirs = s.serialize(s.msg("execute_request", content={"code": "from python"}))
    out.append({"code": got["content"]["code"], "theirs": [base64.b64encode(f).decode() for f in theirs]})
print(json.dumps(out))`;
    const answers: { code: string; theirs: string[] }[] = await python(program, ours.map((c) => ({ key, ...c })));
    for (const [i, { scheme }] of ours.entries()) {
      expect(answers[i].code, scheme).toBe(`"from node ${scheme}"`);
      const msg = new Signer(key, scheme).decode(answers[i].theirs.map((f) => Buffer.from(f, "base64")));
      expect(msg.content.code, scheme).toBe("from python");
      expect(msg.header.msg_type).toBe("execute_request");
    }
  });
});

describe("Signer: replays", () => {
  it("refuses a message whose signature was accepted before, with a clear error; a fresh message passes", () => {
    const sender = new Signer("k", "hmac-sha256");
    const kernel = new Signer("k", "hmac-sha256", { rejectReplays: true });
    const frames = sender.encode(message("1"));
    expect(kernel.decode(frames).content.code).toBe("1");
    let err: unknown;
    try {
      kernel.decode(frames);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DuplicateSignatureError);
    expect((err as Error).message).toMatch(/signature seen before \(a replayed execute_request [0-9a-f-]{36}, signature [0-9a-f]{16}\.\.\.\): refused/);
    // Replayed with other routing identities (another socket peer): still the same signature.
    expect(() => kernel.decode([Buffer.from("peer-2"), ...frames])).toThrow(DuplicateSignatureError);
    // The same content in a new message has a new header (msg_id, date), hence a new signature.
    expect(kernel.decode(sender.encode(message("1"))).content.code).toBe("1");
    expect(kernel.history!.size).toBe(2);
  });

  it("remembers only verified signatures, and nothing without rejectReplays or without a key", () => {
    const kernel = new Signer("k", "hmac-sha256", { rejectReplays: true });
    const forged = new Signer("wrong").encode(message("1"));
    expect(() => kernel.decode(forged)).toThrow(InvalidSignatureError);
    expect(() => kernel.decode(forged)).toThrow(InvalidSignatureError);
    expect(kernel.history!.size).toBe(0);
    // A client reading replies does not check for replays (the default).
    const client = new Signer("k");
    const reply = new Signer("k").encode(message("2"));
    client.decode(reply);
    expect(client.decode(reply).content.code).toBe("2");
    expect(client.history).toBeUndefined();
    // Unsigned messages (empty key) carry no signature to remember.
    const open = new Signer("", "hmac-sha256", { rejectReplays: true });
    const unsigned = open.encode(message("3"));
    open.decode(unsigned);
    expect(open.decode(unsigned).content.code).toBe("3");
  });

  it("keeps at most digestHistorySize signatures (2**16 by default), forgetting the oldest", () => {
    expect(new Signer("k", "hmac-sha256", { rejectReplays: true }).history!.maxSize).toBe(DIGEST_HISTORY_SIZE);
    expect(DIGEST_HISTORY_SIZE).toBe(65536);
    const cap = 100;
    const sender = new Signer("k", "hmac-sha512");
    const kernel = new Signer("k", "hmac-sha512", { rejectReplays: true, digestHistorySize: cap });
    const first = sender.encode(message("first"));
    kernel.decode(first);
    let last: Buffer[] = first;
    for (let i = 0; i < 1000; i++) {
      last = sender.encode(message(String(i)));
      kernel.decode(last);
      expect(kernel.history!.size).toBeLessThanOrEqual(cap);
    }
    expect(kernel.history!.size).toBeGreaterThanOrEqual(cap * 0.9);
    expect(() => kernel.decode(last)).toThrow(DuplicateSignatureError); // the newest is remembered
    expect(kernel.decode(first).content.code).toBe("first"); // the oldest was forgotten

    // The default cap over many messages (DigestHistory alone: signing 70,000 messages is slow for a test).
    const history = new DigestHistory();
    for (let i = 0; i < DIGEST_HISTORY_SIZE + 5000; i++) {
      history.add(i.toString(16).padStart(64, "0"));
      if (history.size > DIGEST_HISTORY_SIZE) throw new Error(`history grew to ${history.size}`);
    }
    expect(history.size).toBeLessThanOrEqual(DIGEST_HISTORY_SIZE);
    expect(history.has((DIGEST_HISTORY_SIZE + 4999).toString(16).padStart(64, "0"))).toBe(true);
    expect(history.has("0".repeat(64))).toBe(false);
    const none = new DigestHistory(0);
    none.add("a");
    expect(none.size).toBe(0);
  });
});

describe("a kernel whose Signer rejects replays", () => {
  const work = mkdtempSync(join(tmpdir(), "lepton-replay-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("runs a replayed execute_request once and logs the refusal; everything else works as usual", async () => {
    ensureBuilt();
    // server.ts asks for { rejectReplays: true }; the preload makes sure every Signer of the kernel does.
    const preload = join(work, "replays.js");
    writeFileSync(preload, `const w = require(${JSON.stringify(join(ROOT, "dist", "src", "kernel", "wire.js"))});
const S = w.Signer;
w.Signer = class extends S { constructor(key, scheme, options) { super(key, scheme, { rejectReplays: true, ...(options || {}) }); } };\n`);
    const kernel = await KernelClient.start({ argv: [process.execPath, "-r", preload, join(ROOT, "dist", "kernel", "launcher.js"), "-f", "{connection_file}"], cwd: work });
    const dealer = new zmq.Dealer();
    try {
      expect((await kernel.execute("let runs = 0; 1 + 1")).outputs[0]).toMatchObject({ data: { "text/plain": "2" } });
      const c = kernel.connection;
      dealer.connect(`${c.transport}://${c.ip}:${c.shell_port}`);
      const signer = new Signer(c.key, c.signature_scheme);
      const frames = signer.encode({ header: makeHeader("execute_request", "replayer"), parent_header: {}, metadata: {}, content: { code: "runs += 1", silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true } });
      const replies: Message[] = [];
      void (async () => {
        for await (const f of dealer) replies.push(signer.decode(f as Buffer[]));
      })().catch(() => {});
      await dealer.send(frames);
      await dealer.send(frames); // the same bytes again: a replay
      const end = Date.now() + 20_000;
      while (replies.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 1_000)); // time for a second reply, if there were one
      expect(replies.map((m) => m.header.msg_type)).toEqual(["execute_reply"]);
      expect((await kernel.execute("runs")).outputs[0]).toMatchObject({ data: { "text/plain": "1" } });
      expect(kernel.stderr).toMatch(/lepton kernel: dropped a message .*(signature seen before|seen before \(a replay\))/);
      // Fresh requests (completion, inspection, more cells) are unaffected.
      expect((await kernel.request("complete_request", { code: "Math.fl", cursor_pos: 7 })).content.matches).toContain("floor");
      expect((await kernel.execute("runs + 1")).outputs[0]).toMatchObject({ data: { "text/plain": "2" } });
    } finally {
      dealer.close();
      await kernel.shutdown();
    }
  });
});
