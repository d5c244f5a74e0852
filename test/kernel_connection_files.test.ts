/**
 * The connection files KernelClient.start writes are removed when the kernel ends, however it ends:
 * a clean shutdown, a kernel the client had to SIGKILL (it did not answer shutdown), a kernel that died
 * on its own, a start-up timeout, and the client's own process exiting without a shutdown.
 * Every test points TMPDIR at a private folder, where the client makes its lepton-kernel-* folders.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "fs";
import { tmpdir } from "os";
import { dirname, join } from "path";
import { KernelClient, KernelDiedError } from "../src/kernel/client";
import { ROOT, ensureBuilt, runCommand } from "./kernel_helpers";

const privateTmp = realpathSync(mkdtempSync(join(tmpdir(), "lepton-connfiles-")));
const savedTmp = process.env.TMPDIR;

beforeAll(() => {
  process.env.TMPDIR = privateTmp;
  ensureBuilt();
});
afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(privateTmp, { recursive: true, force: true });
});

const connectionDirs = () => readdirSync(privateTmp).filter((n) => n.startsWith("lepton-kernel-"));

/** Whether `pid` is gone (or a zombie nobody has reaped yet: dead all the same). */
function dead(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

async function eventually(check: () => boolean, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

describe("connection files", () => {
  it("exists while the kernel runs, gone after shutdown", async () => {
    const kernel = await KernelClient.start({ cwd: privateTmp });
    const file = kernel.connectionFile!;
    expect(dirname(file).startsWith(privateTmp)).toBe(true);
    expect(JSON.parse(readFileSync(file, "utf8")).key).toBe(kernel.connection.key);
    await kernel.shutdown();
    expect(existsSync(dirname(file))).toBe(false);
    expect(connectionDirs()).toEqual([]);
  });

  it("gone when the client had to SIGKILL a kernel that did not answer shutdown", async () => {
    const kernel = await KernelClient.start({ cwd: privateTmp });
    const file = kernel.connectionFile!;
    const child = kernel.process!;
    child.kill("SIGSTOP"); // alive, but answers nothing
    const t0 = Date.now();
    await kernel.shutdown({ graceMs: 500 });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(child.signalCode).toBe("SIGKILL");
    expect(existsSync(dirname(file))).toBe(false);
    expect(connectionDirs()).toEqual([]);
  });

  it("gone as soon as a kernel dies on its own, before any shutdown", async () => {
    const kernel = await KernelClient.start({ cwd: privateTmp });
    const file = kernel.connectionFile!;
    const err = await kernel.execute(`process.kill(process.pid, "SIGKILL")`).catch((e) => e);
    expect(err).toBeInstanceOf(KernelDiedError);
    expect(err.signal).toBe("SIGKILL");
    expect(existsSync(dirname(file))).toBe(false);
    await kernel.shutdown();
    expect(connectionDirs()).toEqual([]);
  });

  it("gone when the kernel never answers and start() times out (the process is killed)", async () => {
    // A "kernel" that prints its pid and connection file, then ignores everything.
    const argv = [process.execPath, "-e", "console.log('pid', process.pid, process.argv[1]); setInterval(() => {}, 1000)", "{connection_file}"];
    const err = await KernelClient.start({ argv, startTimeoutMs: 1_500 }).then(() => undefined, (e) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/^the kernel did not answer kernel_info within 1500 ms; the last lines of its output:\n  pid \d+ \S+connection\.json/);
    const [, pid, file] = /pid (\d+) (\S+)/.exec(err!.message)!;
    expect(file.startsWith(privateTmp)).toBe(true);
    expect(await eventually(() => dead(Number(pid)))).toBe(true);
    expect(existsSync(dirname(file))).toBe(false);
    expect(connectionDirs()).toEqual([]);
  });

  it("gone when the client's process exits without shutting the kernel down (the kernel is killed)", async () => {
    const client = JSON.stringify(join(ROOT, "dist", "src", "kernel", "client.js"));
    const script = `require(${client}).KernelClient.start({ cwd: ${JSON.stringify(privateTmp)} }).then((k) => {
      console.log(JSON.stringify({ pid: k.process.pid, file: k.connectionFile }));
      process.exit(0);
    }, (e) => { console.log("ERR " + e.message); process.exit(1); });`;
    const res = await runCommand(process.execPath, ["-e", script], { env: { ...process.env, TMPDIR: privateTmp }, timeoutMs: 120_000 });
    expect(res.status, res.stdout + res.stderr).toBe(0);
    const { pid, file } = JSON.parse(res.stdout.trim().split("\n").pop()!);
    expect(file.startsWith(privateTmp)).toBe(true);
    expect(existsSync(dirname(file))).toBe(false);
    expect(await eventually(() => dead(pid))).toBe(true);
    expect(connectionDirs()).toEqual([]);
  });

  it("starts (and cleans up) with another signature scheme: the kernel signs with hmac-sha3_256", async () => {
    const kernel = await KernelClient.start({ cwd: privateTmp, signatureScheme: "hmac-sha3_256" });
    try {
      expect(JSON.parse(readFileSync(kernel.connectionFile!, "utf8")).signature_scheme).toBe("hmac-sha3_256");
      const exec = await kernel.execute("6 * 7");
      expect(exec.outputs[0]).toMatchObject({ output_type: "execute_result", data: { "text/plain": "42" } });
    } finally {
      await kernel.shutdown();
    }
    expect(connectionDirs()).toEqual([]);
  });
});
