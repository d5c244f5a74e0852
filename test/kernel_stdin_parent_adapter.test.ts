/**
 * Three kernel features over real processes and sockets:
 * 1. stdin: `lepton.input()` / `lepton.password()` send `input_request` on the stdin channel to the
 *    frontend of the running cell (jupyter_client's BlockingKernelClient answers with `client.input()`),
 *    a frontend without `allow_stdin` gets StdinNotAvailableError saying what to do, and an interrupt
 *    ends the wait with InterruptedError; the kernel answers the next cell every time.
 * 2. Orphans: a kernel whose starting process is SIGKILLed exits on its own (the parent poller), with
 *    JPY_PARENT_PID naming that process and without it (the original parent).
 * 3. The tslab adapter (src/kernel/tslab.ts): refuses a tslab that lacks a function or has another
 *    version, with a message naming what is wrong and `npm ci`; a kernel started on such a tslab exits
 *    non-zero with that message on stderr.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { spawn } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { dirname, join } from "path";
import { KernelClient, newConnectionInfo } from "../src/kernel/client";
import { loadTslab as loadTslabFromSource } from "../src/kernel/tslab";
import { ROOT, ensureBuilt, needJupyter, privateJupyterWithKernel, runCommand, runJupyterClientScript } from "./kernel_helpers";

const work = realpathSync(mkdtempSync(join(tmpdir(), "lepton-stdin-parent-adapter-")));
const LAUNCHER = join(ROOT, "dist", "kernel", "launcher.js");

beforeAll(() => {
  ensureBuilt();
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------
// 1. stdin through jupyter_client
// ---------------------------------------------------------------------------------------------------

/**
 * Drives the installed kernel with jupyter_client (KernelManager + BlockingKernelClient) through the
 * steps named in argv[2] (a JSON list) and prints one JSON object: for each step its input_request (if
 * any), its iopub outputs and its execute_reply.
 */
const STDIN_SCRIPT = String.raw`
import json, queue, sys, traceback
from jupyter_client import BlockingKernelClient, KernelManager

cwd, steps = sys.argv[1], json.loads(sys.argv[2])
out = {"steps": {}}
km = KernelManager(kernel_name="lepton")
km.start_kernel(cwd=cwd)
clients = {}

def client(name):
    if name not in clients:
        # km.client() shares the manager's Session, hence its zmq identity: a second one would collide
        # on the kernel's ROUTER sockets. Each frontend gets its own session, as two real ones have.
        if name == "main":
            kc = km.client()
        else:
            kc = BlockingKernelClient()
            kc.load_connection_info(km.get_connection_info())
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        clients[name] = kc
    return clients[name]

def collect(kc, msg_id):
    outputs = []
    while True:
        m = kc.get_iopub_msg(timeout=120)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status":
            if m["content"]["execution_state"] == "idle":
                break
            continue
        outputs.append({"msg_type": m["msg_type"], "content": m["content"]})
    while True:
        r = kc.get_shell_msg(timeout=120)
        if r["parent_header"].get("msg_id") == msg_id:
            return outputs, r["content"]

try:
    client("main")
    for step in steps:
        kc = client(step.get("client", "main"))
        msg_id = kc.execute(step["code"], allow_stdin=step.get("allow_stdin", True))
        entry = {}
        if "answer" in step or step.get("interrupt"):
            try:
                req = kc.get_stdin_msg(timeout=120)
                entry["request"] = {
                    "msg_type": req["msg_type"],
                    "content": req["content"],
                    "parent_is_cell": req["parent_header"].get("msg_id") == msg_id,
                }
                if step.get("interrupt"):
                    km.interrupt_kernel()
                else:
                    kc.input(step["answer"])
            except queue.Empty:
                entry["request"] = None
        entry["outputs"], entry["reply"] = collect(kc, msg_id)
        # Any other stdin message, on this client (a second request) or another (the router sends to one
        # identity only)? Drained without waiting long: each would have been sent before this cell's reply.
        entry["extra_stdin"] = {}
        for n, c in clients.items():
            while True:
                try:
                    m = c.get_stdin_msg(timeout=0.1)
                except queue.Empty:
                    break
                entry["extra_stdin"].setdefault(n, []).append({"msg_type": m["msg_type"], "content": m["content"], "parent_msg_id": m["parent_header"].get("msg_id")})
        out["steps"][step["name"]] = entry
except Exception:
    out["error"] = traceback.format_exc()
finally:
    for c in clients.values():
        c.stop_channels()
    try:
        km.shutdown_kernel(now=False)
    except Exception:
        out["shutdown_error"] = traceback.format_exc()
print(json.dumps(out))
`;

interface Step {
  name: string;
  code: string;
  client?: string;
  allow_stdin?: boolean;
  answer?: string;
  interrupt?: boolean;
}

interface StepResult {
  request?: { msg_type: string; content: { prompt: string; password: boolean }; parent_is_cell: boolean } | null;
  outputs: { msg_type: string; content: any }[];
  reply: any;
  /** Stdin messages besides the one answered, by client name. */
  extra_stdin: Record<string, { msg_type: string; content: any; parent_msg_id?: string }[]>;
}

const INPUT_CELL = `import * as lepton from "lepton";\nconst answer = await lepton.input("lr? ");\nconsole.log("got", answer)`;

const STEPS: Step[] = [
  { name: "input", code: INPUT_CELL, answer: "0.01" },
  { name: "kept", code: `console.log("kept", answer, typeof answer);\nanswer` },
  { name: "password", code: `const secret = await lepton.password("token: ");\nconsole.log("secret has", secret.length, "characters")`, answer: "hunter2" },
  { name: "defaultPrompt", code: `const pw2 = await lepton.password();\nconsole.log("pw2", pw2)`, answer: "x" },
  { name: "noStdin", code: `const refused = await lepton.input("lr? ");\nconsole.log("not reached", refused)`, allow_stdin: false },
  { name: "afterNoStdin", code: `console.log("still here");\n1 + 1` },
  { name: "interrupted", code: `const never = await lepton.input("wait: ");\nconsole.log("not reached", never)`, interrupt: true },
  { name: "afterInterrupt", code: `console.log("alive after the interrupt", answer)` },
  // A fresh input after the interrupt: no stale pending request is left behind.
  { name: "inputAgain", code: `const again = await lepton.input("again? ");\nconsole.log("again", again)`, answer: "42" },
  // A second frontend on the same kernel: its cell's input_request goes to it, not to the first one.
  { name: "otherClient", client: "second", code: `const other = await lepton.input("second? ");\nconsole.log("second got", other)`, answer: "yes" },
];

let session: Promise<{ steps: Record<string, StepResult>; stderr: string }> | undefined;

/** One kernel session through jupyter_client, shared by the stdin tests (run once, on first use). */
function stdinSession() {
  session ??= (async () => {
    const dir = join(work, "stdin");
    const cwd = join(dir, "cwd");
    mkdirSync(cwd, { recursive: true });
    const env = await privateJupyterWithKernel(dir);
    const { stderr, ...parsed } = await runJupyterClientScript(dir, "stdin_session.py", STDIN_SCRIPT, [cwd, JSON.stringify(STEPS)], env, cwd);
    return { steps: parsed.steps as Record<string, StepResult>, stderr };
  })();
  return session;
}

function streamText(step: StepResult, name = "stdout"): string {
  return step.outputs.filter((o) => o.msg_type === "stream" && o.content.name === name).map((o) => o.content.text).join("");
}

describe("lepton.input() / lepton.password() through jupyter_client's stdin channel", () => {
  it("input: an input_request (prompt 'lr? ', password false) on stdin, answered by client.input(), resolves the await", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await stdinSession();
    const s = steps.input;
    expect(s.request, JSON.stringify(s)).toEqual({ msg_type: "input_request", content: { prompt: "lr? ", password: false }, parent_is_cell: true });
    expect(s.reply.status, JSON.stringify(s.reply)).toBe("ok");
    expect(streamText(s)).toBe("got 0.01\n");
    expect(s.outputs.filter((o) => o.msg_type === "error")).toEqual([]);
  }, 600_000);

  it("the answer is kept: a second cell sees `answer` as the string typed", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await stdinSession();
    const s = steps.kept;
    expect(s.request).toBeUndefined();
    expect(s.reply.status, JSON.stringify(s.reply)).toBe("ok");
    expect(streamText(s)).toBe("kept 0.01 string\n");
    const result = s.outputs.find((o) => o.msg_type === "execute_result");
    expect(result?.content.data["text/plain"]).toContain("0.01");
  }, 600_000);

  it("password: the input_request has password true; the default prompt is 'Password: '", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await stdinSession();
    expect(steps.password.request).toEqual({ msg_type: "input_request", content: { prompt: "token: ", password: true }, parent_is_cell: true });
    expect(steps.password.reply.status).toBe("ok");
    expect(streamText(steps.password)).toBe("secret has 7 characters\n");
    expect(steps.defaultPrompt.request?.content).toEqual({ prompt: "Password: ", password: true });
    expect(streamText(steps.defaultPrompt)).toBe("pw2 x\n");
  }, 600_000);

  it("allow_stdin=False: the cell fails with StdinNotAvailableError naming allow_stdin and what to do; the next cell runs", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await stdinSession();
    const s = steps.noStdin;
    expect(s.reply.status).toBe("error");
    expect(s.reply.ename).toBe("StdinNotAvailableError");
    expect(s.reply.evalue).toMatch(/allow_stdin false/);
    expect(s.reply.evalue).toMatch(/Set the value in the notebook instead/);
    expect(streamText(s)).toBe("");
    const error = s.outputs.find((o) => o.msg_type === "error");
    expect(error?.content.ename).toBe("StdinNotAvailableError");
    expect(steps.afterNoStdin.reply.status).toBe("ok");
    expect(streamText(steps.afterNoStdin)).toBe("still here\n");
    expect(steps.afterNoStdin.outputs.find((o) => o.msg_type === "execute_result")?.content.data["text/plain"]).toBe("2");
  }, 600_000);

  it("an interrupt (km.interrupt_kernel()) while waiting for input ends the cell with InterruptedError; the kernel goes on", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await stdinSession();
    const s = steps.interrupted;
    expect(s.request).toEqual({ msg_type: "input_request", content: { prompt: "wait: ", password: false }, parent_is_cell: true });
    expect(s.reply.status, JSON.stringify(s.reply)).toBe("error");
    expect(s.reply.ename).toBe("InterruptedError");
    expect(streamText(s)).not.toContain("not reached");
    expect(steps.afterInterrupt.reply.status).toBe("ok");
    expect(streamText(steps.afterInterrupt)).toBe("alive after the interrupt 0.01\n");
    // A new input after the interrupt gets its own answer.
    expect(steps.inputAgain.request?.content).toEqual({ prompt: "again? ", password: false });
    expect(steps.inputAgain.reply.status).toBe("ok");
    expect(streamText(steps.inputAgain)).toBe("again 42\n");
  }, 600_000);

  it("the input_request goes to the frontend whose cell runs (a second client on the same kernel)", async (ctx) => {
    await needJupyter(ctx);
    const { steps } = await stdinSession();
    const s = steps.otherClient;
    expect(s.request).toEqual({ msg_type: "input_request", content: { prompt: "second? ", password: false }, parent_is_cell: true });
    expect(s.reply.status).toBe("ok");
    expect(streamText(s)).toBe("second got yes\n");
    for (const [name, step] of Object.entries(steps)) expect(step.extra_stdin, name).toEqual({});
  }, 600_000);
});

describe("lepton.input() through lepton's own KernelClient (allow_stdin false)", () => {
  it("the client sends allow_stdin false; the cell fails with StdinNotAvailableError saying what to do; the next cell runs", async () => {
    const kernel = await KernelClient.start({ cwd: work });
    try {
      const sent: any[] = [];
      const encode = kernel.signer.encode.bind(kernel.signer);
      const spy = vi.spyOn(kernel.signer, "encode").mockImplementation((msg: any) => {
        sent.push(msg);
        return encode(msg);
      });
      const exec = await kernel.execute(INPUT_CELL);
      spy.mockRestore();
      const request = sent.find((m) => m.header.msg_type === "execute_request");
      expect(request?.content.allow_stdin).toBe(false);
      expect(exec.reply.content.status).toBe("error");
      expect(exec.reply.content.ename).toBe("StdinNotAvailableError");
      expect(exec.reply.content.evalue).toMatch(/allow_stdin false/);
      expect(exec.reply.content.evalue).toMatch(/lepton run -p name=value/);
      expect(exec.outputs).toEqual([expect.objectContaining({ output_type: "error", ename: "StdinNotAvailableError" })]);
      const next = await kernel.execute(`console.log("next");\n6 * 7`);
      expect(next.reply.content.status).toBe("ok");
      expect(next.outputs).toEqual([
        { output_type: "stream", name: "stdout", text: "next\n" },
        expect.objectContaining({ output_type: "execute_result", data: { "text/plain": "42" } }),
      ]);
    } finally {
      await kernel.shutdown();
    }
  }, 300_000);
});

// ---------------------------------------------------------------------------------------------------
// 2. Orphans: the parent poller
// ---------------------------------------------------------------------------------------------------

/** Whether `pid` is a live process (a zombie waiting for a reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err: any) {
    return err?.code !== "ESRCH";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

/** The parent pid of `pid` (Linux), for failure messages. */
function parentOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
  } catch {
    return "unknown";
  }
}

/** Polls until `pid` is gone; resolves true, or false after `boundMs`. */
async function gone(pid: number, boundMs: number): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(100);
  }
  return !alive(pid);
}

/**
 * The intermediate process: starts the kernel (stdio ignored, so no closed pipe can end it; its own
 * process group, so no signal meant for the intermediate reaches it), prints its pid, and stays alive.
 */
const INTERMEDIATE = `
const { spawn } = require("child_process");
const [launcher, connectionFile, withParentPid] = process.argv.slice(2);
const env = { ...process.env };
delete env.JPY_PARENT_PID;
if (withParentPid === "1") env.JPY_PARENT_PID = String(process.pid);
const kernel = spawn(process.execPath, [launcher, "-f", connectionFile], { stdio: "ignore", detached: true, env });
process.stdout.write(JSON.stringify({ intermediate: process.pid, kernel: kernel.pid }) + "\\n");
setInterval(() => {}, 1 << 30);
`;

/** Starts the intermediate, reads the kernel's pid; with `waitReady`, waits until the kernel answers. */
async function startOrphanable(name: string, withParentPid: boolean, waitReady: boolean) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const conn = await newConnectionInfo();
  const connectionFile = join(dir, "connection.json");
  writeFileSync(connectionFile, JSON.stringify(conn), { mode: 0o600 });
  const script = join(dir, "intermediate.js");
  writeFileSync(script, INTERMEDIATE);
  const env: NodeJS.ProcessEnv = { ...process.env, LEPTON_PARENT_POLL_MS: "200" };
  delete env.JPY_PARENT_PID;
  const child = spawn(process.execPath, [script, LAUNCHER, connectionFile, withParentPid ? "1" : "0"], { env, cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const pids = await new Promise<{ intermediate: number; kernel: number }>((resolve, reject) => {
    let buf = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.once("exit", (code, signal) => reject(new Error(`the intermediate exited (${code ?? signal}) before printing the kernel's pid: ${stderr}`)));
  });
  expect(pids.intermediate).toBe(child.pid);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  if (waitReady) {
    const client = await KernelClient.connect(conn, 120_000);
    const exec = await client.execute("1 + 1");
    expect(exec.reply.content.status).toBe("ok");
    client.close();
  }
  return { pids, child, exited, conn };
}

function killIfAlive(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* gone */
  }
}

describe("a kernel whose starting process is killed exits on its own", () => {
  for (const withParentPid of [true, false]) {
    const how = withParentPid ? "JPY_PARENT_PID set to the intermediate's pid" : "without JPY_PARENT_PID (its original parent)";
    it(`after start-up, ${how}`, async () => {
      const { pids, child, exited } = await startOrphanable(`orphan-${withParentPid ? "env" : "ppid"}`, withParentPid, true);
      try {
        expect(alive(pids.kernel)).toBe(true);
        child.kill("SIGKILL");
        await exited;
        expect(await gone(pids.kernel, 30_000), `kernel pid ${pids.kernel} still runs 30 s after its parent was killed (its parent now: ${parentOf(pids.kernel)})`).toBe(true);
      } finally {
        killIfAlive(pids.kernel);
      }
    }, 300_000);

    it(`killed during the kernel's start-up, ${how}`, async () => {
      // The intermediate dies while the kernel loads (tslab, the compiler: seconds). The launcher reads
      // its original parent first thing (before this fix it was read after tslab had loaded, when the
      // orphan's ppid was already 1, and the kernel never exited). Without JPY_PARENT_PID the parent is
      // known only once Node itself has started the launcher (tens of ms), so that case waits for it.
      const { pids, child, exited } = await startOrphanable(`orphan-early-${withParentPid ? "env" : "ppid"}`, withParentPid, false);
      try {
        if (!withParentPid) await sleep(300);
        child.kill("SIGKILL");
        await exited;
        expect(await gone(pids.kernel, 30_000), `kernel pid ${pids.kernel} still runs 30 s after its parent was killed during its start-up (its parent now: ${parentOf(pids.kernel)})`).toBe(true);
      } finally {
        killIfAlive(pids.kernel);
      }
    }, 300_000);
  }
});

// ---------------------------------------------------------------------------------------------------
// 3. The tslab adapter
// ---------------------------------------------------------------------------------------------------

/** What src/kernel/tslab.ts requires, file → exports. */
const REQUIRED: Record<string, string[]> = {
  "dist/converter.js": ["createConverter", "isCompleteCode"],
  "dist/metadata.js": ["getCodeMetadata"],
  "dist/inspect.js": ["printQuickInfo"],
  "dist/executor.js": ["createRequire"],
  "dist/jupyter.js": [],
};

/** A fake tslab folder with `version`, exporting every required function except `omit`. */
function fakeTslab(name: string, version: string, omit?: string, withTypeScript = true): string {
  const dir = join(work, "fake-tslab", name);
  for (const [file, names] of Object.entries(REQUIRED)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    const body = names.filter((n) => n !== omit).map((n) => `exports.${n} = function ${n}() { throw new Error("fake"); };`);
    writeFileSync(join(dir, file), [...body, "exports.unrelated = function unrelated() {};", ""].join("\n"));
  }
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "tslab", version, main: "dist/main.js" }));
  writeFileSync(join(dir, "dist", "main.js"), "");
  if (!withTypeScript) return dir;
  // Its TypeScript resolves from the fake folder, as it does from the real tslab.
  const ts = join(dir, "node_modules", "@tslab", "typescript-for-tslab");
  mkdirSync(ts, { recursive: true });
  writeFileSync(join(ts, "package.json"), JSON.stringify({ name: "@tslab/typescript-for-tslab", version: "5.0.4", main: "index.js" }));
  writeFileSync(join(ts, "index.js"), "exports.version = '5.0.4'; exports.createSourceFile = function () {};\n");
  return dir;
}

/** The adapter as the kernel runs it (dist/), so the `npm ci` folder it names is the repository. */
function adapter(): typeof import("../src/kernel/tslab") {
  return require(join(ROOT, "dist", "src", "kernel", "tslab.js"));
}

function refusal(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected loadTslab to throw");
}

describe("the tslab adapter refuses a tslab it was not written for", () => {
  it("a tslab 1.0.22 without createRequire: TslabIncompatibleError naming the file and function, and `npm ci`", () => {
    const { loadTslab, TslabIncompatibleError } = adapter();
    const dir = fakeTslab("no-createRequire", "1.0.22", "createRequire");
    const err = refusal(() => loadTslab(dir));
    expect(err).toBeInstanceOf(TslabIncompatibleError);
    expect(err.name).toBe("TslabIncompatibleError");
    expect(err.message).toContain(`the tslab at ${dir} (version 1.0.22) lacks what lepton's kernel needs: dist/executor.js: createRequire().`);
    expect(err.message).toContain(`cd ${ROOT} && npm ci`);
    // Only the one missing function is named.
    expect(err.message).not.toMatch(/createConverter|getCodeMetadata|printQuickInfo|typescript-for-tslab/);
  });

  it("each required function, when missing, is the one named", () => {
    const { loadTslab } = adapter();
    for (const [file, names] of Object.entries(REQUIRED)) {
      for (const name of names) {
        const dir = fakeTslab(`no-${name}`, "1.0.22", name);
        const err = refusal(() => loadTslab(dir));
        expect(err.name).toBe("TslabIncompatibleError");
        expect(err.message).toContain(`lacks what lepton's kernel needs: ${file}: ${name}().`);
      }
    }
  });

  it("a fake with every function loads (the check is by name); without its TypeScript it is refused", () => {
    const { loadTslab } = adapter();
    const dir = fakeTslab("complete", "1.0.22");
    expect(loadTslab(dir)).toMatchObject({ version: "1.0.22", dir });
    const bare = fakeTslab("complete-without-typescript", "1.0.22", undefined, false);
    const err = refusal(() => loadTslab(bare));
    expect(err.message).toContain("@tslab/typescript-for-tslab (cannot be loaded");
  });

  it("tslab 1.0.21: TslabIncompatibleError naming both versions and `npm ci`", () => {
    const { loadTslab, TslabIncompatibleError } = adapter();
    const dir = fakeTslab("old-version", "1.0.21");
    const err = refusal(() => loadTslab(dir));
    expect(err).toBeInstanceOf(TslabIncompatibleError);
    expect(err.message).toContain(`tslab 1.0.21 is installed at ${dir}, but lepton's kernel uses tslab 1.0.22's internals`);
    expect(err.message).toContain(`cd ${ROOT} && npm ci`);
  });

  it("run from source (src/kernel/tslab.ts, as under vitest or ts-node) it names the same folder for `npm ci`", () => {
    const err = refusal(() => loadTslabFromSource(fakeTslab("from-source", "1.0.21")));
    expect(err.name).toBe("TslabIncompatibleError");
    expect(err.message).toContain(`Reinstall the pinned dependencies: cd ${ROOT} && npm ci`);
  });

  it("a folder without package.json: TslabIncompatibleError naming the folder", () => {
    const { loadTslab } = adapter();
    const dir = join(work, "fake-tslab", "empty");
    mkdirSync(dir, { recursive: true });
    const err = refusal(() => loadTslab(dir));
    expect(err.name).toBe("TslabIncompatibleError");
    expect(err.message).toContain(`no tslab package at ${dir}`);
    expect(err.message).toContain("npm ci");
  });

  it("the real tslab loads: version 1.0.22, TypeScript 5.0.4, and its functions work", () => {
    const { loadTslab, TSLAB_VERSION } = adapter();
    const t = loadTslab();
    expect(t.version).toBe(TSLAB_VERSION);
    expect(t.version).toBe("1.0.22");
    expect(realpathSync(t.dir)).toBe(realpathSync(dirname(require.resolve("tslab/package.json"))));
    expect(t.typescript().version).toBe("5.0.4");
    expect(t.isCompleteCode("const x = 1;").completed).toBe(true);
    expect(t.isCompleteCode("function f() {").completed).toBe(false);
    expect(t.getCodeMetadata("/** @browser */\n1").mode).toBe("browser");
    expect(typeof t.createRequire(work)).toBe("function");
  });

  for (const [label, make, expected] of [
    ["lacks createRequire", () => fakeTslab("kernel-no-createRequire", "1.0.22", "createRequire"), "dist/executor.js: createRequire()"],
    ["is version 1.0.21", () => fakeTslab("kernel-old", "1.0.21"), "tslab 1.0.21 is installed at"],
  ] as const) {
    it(`a kernel started with LEPTON_TSLAB_DIR at a tslab that ${label} exits non-zero, saying so on stderr`, async () => {
      const dir = make();
      const conn = await newConnectionInfo();
      const connectionFile = join(work, `conn-${label.replace(/\W+/g, "-")}.json`);
      writeFileSync(connectionFile, JSON.stringify(conn), { mode: 0o600 });
      const res = await runCommand(process.execPath, [LAUNCHER, "-f", connectionFile], {
        env: { ...process.env, LEPTON_TSLAB_DIR: dir },
        cwd: work,
        timeoutMs: 120_000,
      });
      expect(res.signal, res.stderr).toBeNull();
      expect(res.status, res.stderr).not.toBe(0);
      expect(res.stderr).toContain("lepton kernel failed to start: ");
      expect(res.stderr).toContain("TslabIncompatibleError");
      expect(res.stderr).toContain(expected);
      expect(res.stderr).toContain(`cd ${ROOT} && npm ci (or unset LEPTON_TSLAB_DIR=${dir})`);
    }, 180_000);
  }
});
