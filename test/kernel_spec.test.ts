/** Where the kernel spec goes on each platform and for each install option (no processes started). */
import { describe, expect, it } from "vitest";
import { join } from "path";
import { kernelSpec, kernelsDir, packageRoot, userDataDir } from "../src/kernel/spec";

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
});
