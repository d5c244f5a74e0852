/** Where the kernel spec goes on each platform and for each install option (no processes started). */
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { installKernelSpec, kernelSpec, kernelsDir, knownJupyterDataDirs, packageRoot, userDataDir } from "../src/kernel/spec";
import { ensureBuilt } from "./kernel_helpers";

describe("kernel spec locations", () => {
  it("JUPYTER_DATA_DIR wins, else the platform's per-user folder", () => {
    expect(userDataDir({ JUPYTER_DATA_DIR: "/x/data", HOME: "/home/u" }, "linux")).toBe("/x/data");
    expect(userDataDir({ HOME: "/home/u" }, "linux")).toBe(join("/home/u", ".local", "share", "jupyter"));
    expect(userDataDir({ HOME: "/home/u", XDG_DATA_HOME: "/xdg" }, "linux")).toBe(join("/xdg", "jupyter"));
    expect(userDataDir({ HOME: "/Users/u" }, "darwin")).toBe(join("/Users/u", "Library", "Jupyter"));
    expect(userDataDir({ APPDATA: "C:/Users/u/AppData/Roaming" }, "win32")).toBe(join("C:/Users/u/AppData/Roaming", "jupyter"));
    expect(() => userDataDir({}, "win32")).toThrow(/APPDATA is not set/);
  });

  it("--sys-prefix uses the active Python environment, else Node's prefix; --prefix DIR/share/jupyter", () => {
    expect(kernelsDir({ kind: "sys-prefix" }, { VIRTUAL_ENV: "/venv" })).toBe(join("/venv", "share", "jupyter", "kernels"));
    expect(kernelsDir({ kind: "sys-prefix" }, { CONDA_PREFIX: "/conda" })).toBe(join("/conda", "share", "jupyter", "kernels"));
    expect(kernelsDir({ kind: "sys-prefix" }, {})).toBe(join(process.execPath, "..", "..", "share", "jupyter", "kernels"));
    expect(kernelsDir({ kind: "prefix", dir: "/opt/p" }, {})).toBe(join("/opt/p", "share", "jupyter", "kernels"));
  });

  it("the spec starts this Node on this package's launcher by absolute paths", () => {
    const spec = kernelSpec();
    expect(spec.argv).toEqual([process.execPath, join(packageRoot(), "dist", "kernel", "launcher.js"), "-f", "{connection_file}"]);
    expect(spec).toMatchObject({ display_name: "Lepton (TypeScript)", language: "typescript" });
    expect(["signal", "message"]).toContain(spec.interrupt_mode);
  });

  it("Jupyter's search path as lepton knows it: JUPYTER_PATH, the user folder, an active environment, the system; not Node's prefix", () => {
    if (process.platform === "win32") return;
    const env = { JUPYTER_PATH: ["/jp/a", "/jp/b"].join(":"), JUPYTER_DATA_DIR: "/user/data", VIRTUAL_ENV: "/venv" };
    expect(knownJupyterDataDirs(env)).toEqual(["/jp/a", "/jp/b", "/user/data", join("/venv", "share", "jupyter"), "/usr/local/share/jupyter", "/usr/share/jupyter"]);
    // Nothing for Node's own prefix (it only counts when it is one of these anyway).
    expect(knownJupyterDataDirs({ JUPYTER_DATA_DIR: "/user/data" })).toEqual(["/user/data", "/usr/local/share/jupyter", "/usr/share/jupyter"]);
  });

  it("kernel/kernel.json is what `lepton kernel install` writes, with this Node and this package in place of /path/to/...", () => {
    ensureBuilt();
    const prefix = mkdtempSync(join(tmpdir(), "lepton-spec-template-"));
    const dir = installKernelSpec({ kind: "prefix", dir: prefix });
    const written = JSON.parse(readFileSync(join(dir, "kernel.json"), "utf8"));
    const template = JSON.parse(readFileSync(join(packageRoot(), "kernel", "kernel.json"), "utf8"));
    const fill = (v: string) =>
      v === "/path/to/node" ? process.execPath : v.startsWith("/path/to/lepton") ? join(packageRoot(), v.slice("/path/to/lepton".length)) : v;
    template.argv = template.argv.map(fill);
    template.metadata.lepton.root = fill(template.metadata.lepton.root);
    if (process.platform === "win32") template.interrupt_mode = "message";
    expect(written).toEqual(template);
    expect(written.argv[1]).toBe(join(packageRoot(), "dist", "kernel", "launcher.js"));
  });
});
