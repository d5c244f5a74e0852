/**
 * The WebAssembly thread pool follows a container's CPU limit when it is below the core count:
 * cgroup v2 cpu.max, cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us (each for the process's own cgroup
 * and its ancestors) and JupyterHub's CPU_LIMIT; LEPTON_WASM_THREADS still wins. The pure functions run
 * on fake cgroup folders; one fresh Node process (and `lepton doctor`) runs with a simulated quota.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { availableParallelism, tmpdir } from "os";
import { dirname, join } from "path";
import { containerCpuLimit, cpuLimits, requestedThreads, wasmThreadsInfo } from "../src/backend/wasm_threads";
import { CLI, ensureBuilt, runCommand } from "./kernel_helpers";

const work = mkdtempSync(join(tmpdir(), "lepton-cgroup-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
/** A fake cgroup file system: `files` maps paths under it to contents; returns the root and a proc file. */
function fakeCgroup(files: Record<string, string>, procSelfCgroup = "0::/\n"): { cgroupRoot: string; procSelfCgroup: string } {
  const root = join(work, `fs-${n++}`);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  mkdirSync(root, { recursive: true });
  const proc = join(root, "..", `proc-${n}`);
  writeFileSync(proc, procSelfCgroup);
  return { cgroupRoot: root, procSelfCgroup: proc };
}

const noEnv = {} as NodeJS.ProcessEnv;

describe("container CPU limits", () => {
  it("cgroup v2 cpu.max: a quota in CPUs, 'max' is none", () => {
    expect(cpuLimits({ env: noEnv, ...fakeCgroup({ "cpu.max": "200000 100000\n" }) })).toEqual([{ cpus: 2, source: "cgroup cpu.max quota 2.0 CPUs" }]);
    expect(cpuLimits({ env: noEnv, ...fakeCgroup({ "cpu.max": "max 100000\n" }) })).toEqual([]);
    expect(cpuLimits({ env: noEnv, ...fakeCgroup({ "cpu.max": "150000 100000" }) })).toEqual([{ cpus: 1.5, source: "cgroup cpu.max quota 1.5 CPUs" }]);
    expect(cpuLimits({ env: noEnv, ...fakeCgroup({}) })).toEqual([]); // no files at all
  });

  it("cgroup v2 reads the process's own cgroup (from /proc/self/cgroup) and the smallest quota of its ancestors", () => {
    const nested = fakeCgroup(
      { "kubepods/cpu.max": "400000 100000", "kubepods/pod1/c1/cpu.max": "max 100000", "cpu.max": "max 100000" },
      "12:memory:/kubepods/pod1/c1\n0::/kubepods/pod1/c1\n",
    );
    expect(containerCpuLimit({ env: noEnv, ...nested })).toEqual({ cpus: 4, source: "cgroup cpu.max quota 4.0 CPUs" });
    const tighter = fakeCgroup({ "a/cpu.max": "800000 100000", "a/b/cpu.max": "250000 100000" }, "0::/a/b\n");
    expect(containerCpuLimit({ env: noEnv, ...tighter })!.cpus).toBe(2.5);
    // A cgroup path that is not visible here (a container's own namespace): the root's file counts.
    const hidden = fakeCgroup({ "cpu.max": "300000 100000" }, "0::/docker/0123abcd\n");
    expect(containerCpuLimit({ env: noEnv, ...hidden })!.cpus).toBe(3);
  });

  it("cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us (-1 is none), in the cpu or cpu,cpuacct hierarchy", () => {
    const v1 = fakeCgroup({ "cpu,cpuacct/cpu.cfs_quota_us": "300000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n" }, "4:cpu,cpuacct:/docker/abc\n0::/\n");
    expect(cpuLimits({ env: noEnv, ...v1 })).toEqual([{ cpus: 3, source: "cgroup cpu.cfs_quota_us quota 3.0 CPUs" }]);
    const own = fakeCgroup(
      { "cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000", "cpu/job/cpu.cfs_quota_us": "50000", "cpu/job/cpu.cfs_period_us": "100000" },
      "2:cpuacct:/job\n1:cpu:/job\n",
    );
    expect(containerCpuLimit({ env: noEnv, ...own })).toEqual({ cpus: 0.5, source: "cgroup cpu.cfs_quota_us quota 0.5 CPUs" });
    const unlimited = fakeCgroup({ "cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n" }, "1:cpu:/\n");
    expect(cpuLimits({ env: noEnv, ...unlimited })).toEqual([]);
  });

  it("JupyterHub's CPU_LIMIT (a float); the tightest limit wins; junk is ignored", () => {
    const none = fakeCgroup({});
    expect(cpuLimits({ env: { CPU_LIMIT: "2.0" }, ...none })).toEqual([{ cpus: 2, source: "CPU_LIMIT=2.0" }]);
    expect(cpuLimits({ env: { CPU_LIMIT: "lots" }, ...none })).toEqual([]);
    expect(cpuLimits({ env: { CPU_LIMIT: "0" }, ...none })).toEqual([]);
    const quota = fakeCgroup({ "cpu.max": "300000 100000" });
    expect(containerCpuLimit({ env: { CPU_LIMIT: "1.5" }, ...quota })).toEqual({ cpus: 1.5, source: "CPU_LIMIT=1.5" });
    expect(containerCpuLimit({ env: { CPU_LIMIT: "6" }, ...quota })).toEqual({ cpus: 3, source: "cgroup cpu.max quota 3.0 CPUs" });
  });

  it("LEPTON_CGROUP_ROOT / LEPTON_PROC_SELF_CGROUP point the defaults elsewhere", () => {
    const fake = fakeCgroup({ "cpu.max": "200000 100000" });
    expect(containerCpuLimit({ env: { LEPTON_CGROUP_ROOT: fake.cgroupRoot, LEPTON_PROC_SELF_CGROUP: fake.procSelfCgroup } })!.cpus).toBe(2);
  });
});

describe("requestedThreads", () => {
  const quota2 = fakeCgroup({ "cpu.max": "200000 100000" });
  it("one per core, lowered to a smaller quota (rounded down, at least 1), at most 8", () => {
    expect(requestedThreads(noEnv, { ...quota2, cores: 16 })).toEqual({ requested: 2, limit: "cgroup cpu.max quota 2.0 CPUs; 16 cores" });
    expect(requestedThreads(noEnv, { ...quota2, cores: 2 })).toEqual({ requested: 2, limit: "2 cores", coresOnly: true }); // not below the cores
    expect(requestedThreads(noEnv, { ...quota2, cores: 1 })).toEqual({ requested: 1, reason: "one CPU core", limit: "1 core", coresOnly: true });
    const half = fakeCgroup({ "cpu.max": "50000 100000" });
    expect(requestedThreads(noEnv, { ...half, cores: 4 })).toEqual({ requested: 1, reason: "cgroup cpu.max quota 0.5 CPUs; 4 cores", limit: "cgroup cpu.max quota 0.5 CPUs; 4 cores" });
    const oneAndHalf = fakeCgroup({ "cpu.max": "150000 100000" });
    expect(requestedThreads(noEnv, { ...oneAndHalf, cores: 4 }).requested).toBe(1);
    const none = fakeCgroup({});
    expect(requestedThreads(noEnv, { ...none, cores: 32 })).toEqual({ requested: 8, limit: "at most 8; 32 cores" });
    expect(requestedThreads({ CPU_LIMIT: "12" }, { ...none, cores: 32 })).toEqual({ requested: 8, limit: "at most 8; CPU_LIMIT=12; 32 cores" });
    expect(requestedThreads({ CPU_LIMIT: "3.9" }, { ...none, cores: 16 })).toEqual({ requested: 3, limit: "CPU_LIMIT=3.9; 16 cores" });
  });

  it("LEPTON_WASM_THREADS still wins over any limit", () => {
    const one = fakeCgroup({ "cpu.max": "100000 100000" });
    expect(requestedThreads({ LEPTON_WASM_THREADS: "4", CPU_LIMIT: "1" }, { ...one, cores: 16 })).toEqual({ requested: 4, limit: "LEPTON_WASM_THREADS=4" });
    expect(requestedThreads({ LEPTON_WASM_THREADS: "1" }, { ...quota2, cores: 16 })).toEqual({ requested: 1, reason: "LEPTON_WASM_THREADS=1", limit: "LEPTON_WASM_THREADS=1" });
    expect(requestedThreads({ LEPTON_WASM_THREADS: "20" }, { cores: 16 })).toEqual({ requested: 8, limit: "LEPTON_WASM_THREADS=20, at most 8" });
  });

  it("wasmThreadsInfo: the note says which limit was used (none for plain one-per-core), or that fewer started", () => {
    expect(wasmThreadsInfo(requestedThreads(noEnv, { ...quota2, cores: 16 }), 2)).toEqual({ count: 2, note: "cgroup cpu.max quota 2.0 CPUs; 16 cores", limit: "cgroup cpu.max quota 2.0 CPUs; 16 cores" });
    expect(wasmThreadsInfo(requestedThreads(noEnv, { ...fakeCgroup({}), cores: 2 }), 2)).toEqual({ count: 2, limit: "2 cores" });
    expect(wasmThreadsInfo(requestedThreads(noEnv, { ...quota2, cores: 16 }), 1)).toEqual({ count: 1, note: "asked for 2 (cgroup cpu.max quota 2.0 CPUs; 16 cores)", limit: "cgroup cpu.max quota 2.0 CPUs; 16 cores" });
  });
});

describe("a fresh process under a simulated quota", () => {
  const cores = availableParallelism();
  // Below the core count: 2 CPUs where there are 3 or more cores, else 1 (the single-threaded build).
  const quota = cores >= 3 ? 2 : 1;

  it.skipIf(cores < 2)(`starts ${quota} thread(s) (${quota - 1} pool workers), and backend() and lepton doctor name the quota`, async () => {
    ensureBuilt();
    const fake = fakeCgroup({ "cpu.max": `${quota * 100000} 100000\n` });
    const env = { ...process.env, LEPTON_WASM_THREADS: "", CPU_LIMIT: "", LEPTON_BACKEND: "wasm", LEPTON_CGROUP_ROOT: fake.cgroupRoot, LEPTON_PROC_SELF_CGROUP: fake.procSelfCgroup };
    const script = `
      const tf = require("@tensorflow/tfjs");
      require(${JSON.stringify(require.resolve("../dist/src/backend"))}).ready().then((info) => {
        const pool = tf.backend().wasm.PThread;
        console.log(JSON.stringify({ threads: info.threads, description: info.description, running: pool ? pool.runningWorkers.length : 0 }));
      }, (e) => console.log("ERR " + e.message));`;
    const res = await runCommand(process.execPath, ["-e", script], { env, timeoutMs: 60_000 });
    expect(res.status, res.stderr).toBe(0);
    const got = JSON.parse(res.stdout.trim().split("\n").pop()!);
    const limit = `cgroup cpu.max quota ${quota}.0 CPUs; ${cores} cores`;
    expect(got.threads.count).toBe(quota);
    expect(got.running).toBe(quota - 1); // XNNPACK's pool: the calling thread plus quota - 1 workers
    // One thread: the backend reports the plan's reason. More: once backend/index.ts builds threads with wasmThreadsInfo().
    if (quota === 1 || got.threads.limit) {
      expect(got.threads.note).toBe(limit);
      expect(got.description).toContain(`${quota} thread${quota === 1 ? "" : "s"} (${limit})`);
    }

    const doctor = await runCommand(process.execPath, [CLI, "doctor", "--quick", "--json"], { env, timeoutMs: 120_000 });
    const report = JSON.parse(doctor.stdout);
    const threads = report.checks.find((c: { name: string }) => c.name === "WebAssembly threads");
    expect(threads).toEqual({ name: "WebAssembly threads", status: "ok", detail: `${quota} thread${quota === 1 ? "" : "s"} (${limit})` });
  });
});
