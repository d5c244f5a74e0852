/**
 * The WebGPU backend (src/backend/webgpu.ts).
 *
 * 1. Selection order with fake adapters, in this process: a hardware adapter is chosen after
 *    tfjs-node-gpu; a software-only one is not, unless LEPTON_BACKEND=webgpu; a missing `webgpu`
 *    package passes to the next backend with the reason.
 * 2. On a real adapter: Dawn's SwiftShader (the Vulkan driver Debian's Chromium ships), in a child
 *    process, because Dawn and the dynamic linker read VK_ICD_FILENAMES and LD_LIBRARY_PATH (for
 *    Chromium's libvulkan.so.1) only when the process starts. Every kernel lepton's models and training
 *    use, forward and gradient, against the pure-JS backend on random inputs; then LeNet and a small
 *    ResNet-9 trained for three batches from the same weights on both, losses compared; no tensor left
 *    behind on either. Skipped only where no adapter can be made at all; under CI that fails instead.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { existsSync, readdirSync, statSync } from "fs";
import { join } from "path";
import { spawnSync } from "child_process";
import { ensureBuilt, runCommand } from "./kernel_helpers";
import type { AdapterLike, WebGPUHooks, WebGPUModule } from "../src/backend/webgpu";

const ROOT = join(__dirname, "..");
const FIXTURE = join(__dirname, "fixtures", "webgpu", "check.cjs");
const ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
const CHROMIUM_LIBS = "/usr/lib/chromium";

// ---------------------------------------------------------------------------------------------
// 1. Selection order, with fake adapters.

function fakeModule(info: AdapterLike["info"] | null): WebGPUModule {
  return {
    globals: {},
    create: () => ({ requestAdapter: async () => (info === null ? null : { info, features: new Set<string>(), limits: {} }) }),
  };
}
/** Stands in for tfjs-backend-webgpu: a backend named "webgpu" (the pure-JS one underneath). */
const fakeStart: WebGPUHooks["start"] = async () => {
  const Cpu = (tf.findBackend("cpu") as object).constructor as new () => tf.KernelBackend;
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () => new Cpu());
  return tf.setBackend("webgpu");
};

/** lepton's backend choice from scratch (fresh module state) with these hooks and LEPTON_BACKEND. */
async function chooseWith(hooks: WebGPUHooks, forced?: string) {
  vi.resetModules();
  const saved = process.env.LEPTON_BACKEND;
  if (forced) process.env.LEPTON_BACKEND = forced;
  else delete process.env.LEPTON_BACKEND;
  try {
    const webgpu = await import("../src/backend/webgpu");
    webgpu.setWebGPUHooks(hooks);
    const backend = await import("../src/backend");
    const info = await backend.ready();
    return { info, line: backend.backendLine(info) };
  } finally {
    if (saved === undefined) delete process.env.LEPTON_BACKEND;
    else process.env.LEPTON_BACKEND = saved;
  }
}

describe("backend selection with WebGPU (fake adapters)", () => {
  afterEach(async () => {
    await tf.setBackend("cpu");
    if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  });

  it("a hardware adapter is chosen, right after tfjs-node-gpu, and named", async () => {
    const { info, line } = await chooseWith({ load: async () => fakeModule({ vendor: "apple", architecture: "metal-3", description: "Apple M2" }), start: fakeStart });
    expect(info.name).toBe("webgpu");
    expect(info.skipped.map((s) => s.name)).toEqual(["tensorflow-gpu"]);
    expect(info.adapter).toMatchObject({ vendor: "apple", architecture: "metal-3", description: "Apple M2", software: false });
    expect(line).toMatch(/^lepton backend: webgpu — WebGPU .* on apple metal-3 \(Apple M2\)\. Not used: tensorflow-gpu: /);
    expect(info.forcedBy).toBeUndefined();
  });

  it("a software adapter (SwiftShader, or one that says it is a fallback) is not chosen on its own", async () => {
    for (const adapter of [
      { vendor: "google", architecture: "swiftshader", description: "SwiftShader driver 5.0.0" },
      { vendor: "mesa", architecture: "", description: "llvmpipe (LLVM 15.0.6, 256 bits)" },
      { vendor: "acme", architecture: "x", description: "Fast GPU", isFallbackAdapter: true },
    ]) {
      let started = false;
      const { info, line } = await chooseWith({ load: async () => fakeModule(adapter), start: async (...a) => ((started = true), fakeStart!(...a)) });
      expect(started).toBe(false);
      expect(info.name).not.toBe("webgpu");
      expect(["wasm", "cpu"]).toContain(info.name);
      const reason = info.skipped.find((s) => s.name === "webgpu")?.reason;
      expect(reason).toMatch(/^only a software adapter \(.+\) — not chosen; LEPTON_BACKEND=webgpu forces it$/);
      expect(info.adapter).toMatchObject({ software: true });
      expect(line).toContain("webgpu: only a software adapter");
    }
    const { info } = await chooseWith({ load: async () => fakeModule({ vendor: "google", architecture: "swiftshader", description: "SwiftShader driver 5.0.0" }), start: fakeStart });
    expect(info.skipped.find((s) => s.name === "webgpu")?.reason).toBe("only a software adapter (swiftshader) — not chosen; LEPTON_BACKEND=webgpu forces it");
  });

  it("LEPTON_BACKEND=webgpu forces a software adapter", async () => {
    const { info, line } = await chooseWith({ load: async () => fakeModule({ vendor: "google", architecture: "swiftshader", description: "SwiftShader driver 5.0.0" }), start: fakeStart }, "webgpu");
    expect(info.name).toBe("webgpu");
    expect(info.forcedBy).toBe("LEPTON_BACKEND=webgpu");
    expect(line).toContain("on google swiftshader (SwiftShader driver 5.0.0), software (chosen by LEPTON_BACKEND=webgpu)");
  });

  it("the webgpu package missing, or no adapter at all: the next backend, with the reason", async () => {
    const missing = await chooseWith({
      load: async () => {
        throw Object.assign(new Error("Cannot find package 'webgpu' imported from /x/dist/src/backend/webgpu.js"), { code: "ERR_MODULE_NOT_FOUND" });
      },
      start: fakeStart,
    });
    expect(missing.info.name).not.toBe("webgpu");
    expect(missing.info.skipped.find((s) => s.name === "webgpu")?.reason).toBe("webgpu is not installed");
    const none = await chooseWith({ load: async () => fakeModule(null), start: fakeStart });
    expect(none.info.name).not.toBe("webgpu");
    expect(none.info.skipped.find((s) => s.name === "webgpu")?.reason).toMatch(/^no WebGPU adapter/);
    // LEPTON_BACKEND=webgpu where it cannot start: the pure-JS backend, saying why.
    const forced = await chooseWith({ load: async () => fakeModule(null), start: fakeStart }, "webgpu");
    expect(forced.info.name).toBe("cpu");
    expect(forced.info.skipped.find((s) => s.name === "webgpu")?.reason).toMatch(/^no WebGPU adapter/);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. On SwiftShader, in a child process.

const env = {
  ...process.env,
  VK_ICD_FILENAMES: ICD,
  LD_LIBRARY_PATH: [CHROMIUM_LIBS, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":"),
};

/** dist/ (which the child loads) must hold the current backend sources. */
function ensureBackendBuilt(): void {
  ensureBuilt();
  const newest = (dir: string, ext: string) => Math.max(...readdirSync(dir).filter((f) => f.endsWith(ext)).map((f) => statSync(join(dir, f)).mtimeMs));
  const out = join(ROOT, "dist", "src", "backend");
  if (existsSync(join(out, "webgpu.js")) && newest(join(ROOT, "src", "backend"), ".ts") <= newest(out, ".js")) return;
  const res = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", ROOT], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`build failed:\n${res.stdout}${res.stderr}`);
}

async function child(mode: "kernels" | "train" | "choose", extra: Record<string, string> = {}) {
  const res = await runCommand(process.execPath, [FIXTURE, mode], { env: { ...env, ...extra }, cwd: ROOT, timeoutMs: 300_000 });
  const last = res.stdout.trim().split("\n").pop() ?? "";
  let out: any;
  try {
    out = JSON.parse(last);
  } catch {
    throw new Error(`the WebGPU check printed no result (status ${res.status}):\n${res.stdout}\n${res.stderr}`);
  }
  if (out.fatal) throw new Error(`the WebGPU check failed: ${out.fatal}`);
  return out;
}

/** Why no WebGPU adapter at all can be made here (undefined when one can); an error under CI. */
let unavailable: string | undefined;
let probe: any;
beforeAll(async () => {
  ensureBackendBuilt();
  let reason: string | undefined;
  if (!existsSync(ICD)) reason = `${ICD} is missing (apt-get install chromium: its SwiftShader Vulkan driver is the software adapter)`;
  else {
    probe = await child("choose", { LEPTON_BACKEND: "webgpu" });
    if (probe.backend !== "webgpu") reason = `no WebGPU adapter could be made: ${probe.line}`;
  }
  if (reason && process.env.CI) throw new Error(`WebGPU tests cannot run under CI: ${reason}`);
  unavailable = reason;
}, 300_000);

describe("WebGPU on a real (software) adapter", () => {
  it("SwiftShader is found, named, and not chosen unless forced", async (ctx) => {
    if (unavailable) return ctx.skip(unavailable);
    expect(probe.adapter).toMatchObject({ vendor: "google", architecture: "swiftshader", software: true });
    expect(probe.line).toMatch(/^lepton backend: webgpu — WebGPU \(Dawn, @tensorflow\/tfjs-backend-webgpu\) on google swiftshader \(.*\), software \(chosen by LEPTON_BACKEND=webgpu\)/);
    const unforced = await child("choose", { LEPTON_BACKEND: "" });
    expect(unforced.backend).toBe("wasm");
    expect(unforced.line).toContain("webgpu: only a software adapter (swiftshader) — not chosen; LEPTON_BACKEND=webgpu forces it");
  });

  it("every kernel of lepton's models and training matches the pure-JS backend (forward and gradients), and leaves no tensor behind", async (ctx) => {
    if (unavailable) return ctx.skip(unavailable);
    const out = await child("kernels", { LEPTON_BACKEND: "webgpu" });
    expect(out.backend).toBe("webgpu");
    expect(out.results.length).toBeGreaterThanOrEqual(35);
    // lepton's fix: evaluate()'s synchronous finiteness check of a fresh (CPU-resident) batch works,
    // though tfjs-backend-webgpu's dataSync needs OffscreenCanvas, which Node.js lacks; a GPU result
    // read synchronously gives lepton's message instead of "OffscreenCanvas is not defined".
    expect(out.syncReads).toMatchObject({ finite: [1, 1, 1, 1, 1, 1, 1, 1], withNaN: [1, 0, 1], gpuResident: true, gpuData: 4096 });
    expect(out.syncReads.gpuDataSync).toMatch(/^lepton: a tensor computed on the GPU cannot be read synchronously in Node\.js .*await tensor\.data\(\)/);
    // Float32 on both; the sums are accumulated in another order, so |cpu - gpu| / (1 + |cpu|) stays
    // around 1e-7 to 1e-6 (largest: 3x3x32x32 conv and a 300-long matMul). 1e-5 leaves headroom and
    // still catches any wrong index, padding or stride, which moves values by ~1e-1.
    // Leaks: none on WebGPU beyond what the same code leaves on the pure-JS backend (tf.train's
    // optimizers keep 2-3 scalars after dispose() on every backend; lepton's train() has none, below).
    const bad = out.results.filter((r: any) => r.error || r.errors.some((e: number) => !(e < 1e-5)) || r.leaked !== r.cpuLeaked || (r.cpuLeaked !== 0 && !/updates/.test(r.name)));
    expect(bad, JSON.stringify(bad, null, 1)).toEqual([]);
    // The inputs were not trivial (no case compared zeros with zeros).
    for (const r of out.results) expect(r.largest, r.name).toBeGreaterThan(1e-3);
  });

  it("LeNet and ResNet-9 (width 8) train three batches on WebGPU with the pure-JS backend's losses; train + evaluate leave no tensor behind", async (ctx) => {
    if (unavailable) return ctx.skip(unavailable);
    const out = await child("train", { LEPTON_BACKEND: "webgpu" });
    expect(out.results).toHaveLength(2);
    for (const r of out.results) {
      expect(r.error, r.name).toBeUndefined();
      expect(r.gpu.losses).toHaveLength(3);
      // Same seed, same initial weights, same batches: only the summation order differs, so losses
      // agree to float32 rounding (seen: ≤ 5e-7); 1e-4 relative allows three batches of drift through
      // SGD momentum / Adam updates. A wrong gradient kernel changes the second and third losses by >1e-2.
      r.gpu.losses.forEach((l: number, i: number) => expect(Math.abs(l - r.cpu.losses[i]) / (1 + Math.abs(r.cpu.losses[i])), `${r.name} batch ${i}`).toBeLessThan(1e-4));
      expect(Math.abs(r.gpu.evalLoss - r.cpu.evalLoss) / (1 + r.cpu.evalLoss), `${r.name} evaluate`).toBeLessThan(1e-4);
      // Training moved the loss (the comparison is not of three copies of the first batch).
      expect(new Set(r.cpu.losses.map((l: number) => l.toFixed(4))).size).toBe(3);
      expect(r.gpu.leaked, `${r.name}: tensors left on WebGPU`).toBe(0);
      expect(r.cpu.leaked).toBe(0);
    }
    // The child's own limit (child(): 300 s), not vitest's 120 s default: SwiftShader trains ResNet-9 on
    // the CPU, and on a slow or busy 2-core machine the run takes about two minutes (seen: 124-140 s).
  }, 320_000);
});
