/** `lepton doctor` on this machine: what it finds, and the fix it gives for each problem. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { CLI, ensureBuilt, runCommand } from "./kernel_helpers";

const work = mkdtempSync(join(tmpdir(), "lepton-doctor-"));
function doctor(env: Record<string, string>, ...args: string[]) {
  return runCommand(process.execPath, [CLI, "doctor", ...args], {
    env: { ...process.env, JUPYTER_PATH: "", XDG_DATA_HOME: join(work, "xdg"), HOME: join(work, "home"), ...env },
  });
}
const check = (report: any, name: string) => report.checks.find((c: any) => c.name === name);

beforeAll(() => ensureBuilt());
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("lepton doctor", () => {
  it("without the kernel installed: fails and says how to install it", async () => {
    const res = await doctor({ JUPYTER_DATA_DIR: join(work, "empty"), LEPTON_DATA_DIR: join(work, "nothing") }, "--quick", "--json");
    expect(res.status).toBe(1);
    const report = JSON.parse(res.stdout);
    expect(check(report, "Node.js").status).toBe("ok");
    expect(check(report, "Lepton kernel")).toMatchObject({ status: "fail", fix: "npx lepton kernel install --user" });
    const backend = check(report, "TensorFlow.js backend");
    expect(backend.detail).toMatch(/^wasm/);
    expect(backend.fix).toMatch(/npm install @tensorflow\/tfjs-node/);
    // Why tfjs-node is absent (the 403 from Google's storage) and how to install it with one's own libtensorflow.
    const native = check(report, "tfjs-node (libtensorflow)");
    expect(native.detail).toMatch(/tfjs-node: @tensorflow\/tfjs-node is not installed/);
    expect(native.detail).toMatch(/libtensorflow 2\.9\.1 from storage\.googleapis\.com.*403.*tensorflow\/tfjs issue 8742/);
    expect(native.detail).toMatch(/lepton prefers them over WebAssembly whenever they load/);
    expect(native.fix).toMatch(/TFJS_NODE_CDN_STORAGE=http:\/\/127\.0\.0\.1:8000\/ npm install @tensorflow\/tfjs-node@4\.22\.0/);
    expect(native.fix).toMatch(/custom-binary\.json/);
    expect(native.fix).toMatch(/docs\/performance\.md/);
    // Always a WebGPU line: the adapter, or why there is none.
    expect(check(report, "WebGPU adapter")?.detail).toMatch(/\S/);
    expect(check(report, "CIFAR-10")).toMatchObject({ status: "warn" });
    expect(check(report, "CIFAR-10").fix).toMatch(/LEPTON_DATA_DIR/);
    expect(report.probe).toBeUndefined();
    expect(report.speed).toBeUndefined();
  });

  it("with the kernel installed and CIFAR-10 found: passes, and the probe reports samples/s", async () => {
    const data = join(work, "jupyter");
    const install = await runCommand(process.execPath, [CLI, "kernel", "install"], { env: { ...process.env, JUPYTER_DATA_DIR: data } });
    expect(install.status, install.stderr).toBe(0);
    const datasets = join(work, "datasets");
    mkdirSync(join(datasets, "cifar-10-batches-bin"), { recursive: true });
    const res = await doctor({ JUPYTER_DATA_DIR: data, LEPTON_DATA_DIR: datasets });
    expect(res.status, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^ok {4}Lepton kernel: .*kernels\/lepton$/m);
    expect(res.stdout).toMatch(/^ok {4}CIFAR-10: full set at .*cifar-10-batches-bin/m);
    const probe = /training probe: LeNet, batch 64, wasm: (\d+) samples\/s/.exec(res.stdout);
    expect(probe, res.stdout).not.toBeNull();
    expect(Number(probe![1])).toBeGreaterThan(0);
    // The measured GFLOP/s: samples/s x the FLOPs counted from the probe's model, against the SIMD peak.
    const speed = /^ok {4}training speed: ([\d.]+) GFLOP\/s on wasm \(.*, ([\d.]+) samples\/s x ([\d.]+) MFLOP per sample.*WebAssembly SIMD peak \d+ cores x [\d.]+ GHz x 2 FMA pipes x 4 lanes x 2 flops = ([\d.]+) GFLOP\/s: ([\d.]+)%$/m.exec(res.stdout);
    expect(speed, res.stdout).not.toBeNull();
    const [gflops, sps, mflop, peak] = speed!.slice(1, 5).map(Number);
    expect(gflops).toBeGreaterThan(0);
    expect(peak).toBeGreaterThan(0);
    expect(gflops).toBeCloseTo((sps * mflop) / 1000, 0);
  });

  it("names the WebGPU adapter: SwiftShader (Chromium's software Vulkan driver) is found, and not chosen unless forced", async (ctx) => {
    const icd = "/usr/lib/chromium/vk_swiftshader_icd.json";
    if (!existsSync(icd)) {
      if (process.env.CI) throw new Error(`${icd} is missing (apt-get install chromium)`);
      return ctx.skip(`${icd} is missing (apt-get install chromium)`);
    }
    const vk = { VK_ICD_FILENAMES: icd, LD_LIBRARY_PATH: ["/usr/lib/chromium", process.env.LD_LIBRARY_PATH].filter(Boolean).join(":"), LEPTON_BACKEND: "" };
    const res = await doctor(vk, "--quick", "--json");
    const report = JSON.parse(res.stdout);
    expect(check(report, "TensorFlow.js backend").detail).toMatch(/^wasm .*webgpu: only a software adapter \(swiftshader\) — not chosen; LEPTON_BACKEND=webgpu forces it/);
    expect(check(report, "WebGPU adapter")).toMatchObject({ status: "ok" });
    expect(check(report, "WebGPU adapter").detail).toMatch(/^google swiftshader \(.+\), software: only a software adapter/);
    const forced = JSON.parse((await doctor({ ...vk, LEPTON_BACKEND: "webgpu" }, "--quick", "--json")).stdout);
    expect(check(forced, "TensorFlow.js backend")).toMatchObject({ status: "warn" });
    expect(check(forced, "TensorFlow.js backend").detail).toMatch(/^webgpu — WebGPU .* on google swiftshader .*chosen by LEPTON_BACKEND=webgpu/);
    expect(check(forced, "WebGPU adapter")).toMatchObject({ status: "warn" });
    expect(check(forced, "WebGPU adapter").detail).toMatch(/in use because LEPTON_BACKEND=webgpu/);
  });

  it("rejects an unknown option", async () => {
    const res = await doctor({}, "--fast");
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/unknown option --fast/);
  });
});
