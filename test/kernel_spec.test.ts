/** Where the kernel spec goes on each platform and for each install option (no processes started). */
import { describe, expect, it } from "vitest";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
  installKernelSpec, jupyterPythonPrefix, kernelSpec, kernelsDir, knownJupyterDataDirs, othersAccessProblems, packageRoot, scriptInterpreter,
  sharedAccessProblems, userDataDir,
} from "../src/kernel/spec";
import { userCacheDir } from "../src/data/paths";
import { CLI, ensureBuilt, runCommand } from "./kernel_helpers";

const posix = process.platform !== "win32";

/** A fresh folder under the OS temp folder that everyone can pass through (mkdtemp makes 0700 ones). */
function openFolder(name: string): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), `lepton-spec-${name}-`)));
  chmodSync(dir, 0o755);
  return dir;
}

/** Every path under `dir` with its permission bits, e.g. { "share": 0o755, ... }. */
function modes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      out[r] = statSync(p).mode & 0o777;
      if (statSync(p).isDirectory()) walk(p, r);
    }
  };
  walk(dir, "");
  return out;
}

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

  it("--prefix and --sys-prefix write for every user: folders 0755, files 0644 even under umask 077; --user follows the umask", () => {
    if (!posix) return;
    ensureBuilt();
    const old = process.umask(0o077);
    try {
      const prefix = join(openFolder("shared"), "usr-local");
      const dir = installKernelSpec({ kind: "prefix", dir: prefix });
      expect(dir).toBe(join(prefix, "share", "jupyter", "kernels", "lepton"));
      expect(statSync(prefix).mode & 0o777).toBe(0o755);
      expect(modes(prefix)).toEqual({
        share: 0o755, "share/jupyter": 0o755, "share/jupyter/kernels": 0o755, "share/jupyter/kernels/lepton": 0o755,
        "share/jupyter/kernels/lepton/kernel.json": 0o644, "share/jupyter/kernels/lepton/logo-32x32.png": 0o644, "share/jupyter/kernels/lepton/logo-64x64.png": 0o644,
      });
      const venv = join(openFolder("venv"), "venv");
      const sys = installKernelSpec({ kind: "sys-prefix" }, "lepton-sys", { VIRTUAL_ENV: venv });
      expect(sys).toBe(join(venv, "share", "jupyter", "kernels", "lepton-sys"));
      expect(statSync(join(sys, "kernel.json")).mode & 0o777).toBe(0o644);
      // A folder that was already there keeps its mode (lepton does not open up someone's tree).
      const existing = join(openFolder("existing"), "p");
      mkdirSync(join(existing, "share"), { recursive: true });
      chmodSync(join(existing, "share"), 0o750);
      installKernelSpec({ kind: "prefix", dir: existing });
      expect(statSync(join(existing, "share")).mode & 0o777).toBe(0o750);
      expect(statSync(join(existing, "share", "jupyter")).mode & 0o777).toBe(0o755);
      const user = installKernelSpec({ kind: "user" }, "lepton", { JUPYTER_DATA_DIR: join(openFolder("user"), "data") });
      expect(statSync(join(user, "kernel.json")).mode & 0o777).toBe(0o600);
      expect(statSync(user).mode & 0o777).toBe(0o700);
    } finally {
      process.umask(old);
    }
  });

  it("the spec names no HOME, cache or Jupyter folder of the installer: each user's kernel finds its own cache", () => {
    ensureBuilt();
    const prefix = openFolder("noenv");
    const teacher = { ...process.env, HOME: "/home/teacher", LEPTON_CACHE_DIR: "/home/teacher/c", XDG_CACHE_HOME: "/home/teacher/x" };
    const dir = installKernelSpec({ kind: "prefix", dir: prefix }, "lepton", teacher);
    const text = readFileSync(join(dir, "kernel.json"), "utf8");
    expect(JSON.parse(text).env).toBeUndefined();
    expect(text).not.toContain("/home/teacher");
    // lepton's cache comes from the environment of the process asking (the kernel, run as each user).
    expect(userCacheDir({ HOME: "/home/a" }, "linux", "/home/a").dir).toBe("/home/a/.cache/lepton");
    expect(userCacheDir({ HOME: "/home/b" }, "linux", "/home/b").dir).toBe("/home/b/.cache/lepton");
    expect(userCacheDir({ HOME: "/home/b", XDG_CACHE_HOME: "/home/b/xdg" }, "linux", "/home/b").dir).toBe("/home/b/xdg/lepton");
  });

  it("othersAccessProblems / sharedAccessProblems: what other users cannot pass, list or read, by the others bits", () => {
    if (!posix) return;
    const base = openFolder("access");
    const home = join(base, "home");
    const root = join(home, "lepton");
    mkdirSync(join(root, "dist", "kernel"), { recursive: true });
    mkdirSync(join(root, "kernel"));
    mkdirSync(join(root, "node_modules", "dep", "lib"), { recursive: true });
    writeFileSync(join(root, "package.json"), JSON.stringify({ name: "lepton" }));
    writeFileSync(join(root, "dist", "kernel", "launcher.js"), "");
    writeFileSync(join(root, "node_modules", "dep", "index.js"), "");
    writeFileSync(join(root, "node_modules", "dep", "lib", "a.js"), "");
    symlinkSync("/nonexistent", join(root, "node_modules", ".bin-link"));
    const node = join(base, "node");
    writeFileSync(node, "");
    chmodSync(node, 0o755);
    expect(sharedAccessProblems(root, node)).toEqual([]);
    expect(othersAccessProblems(root)).toEqual([]);
    chmodSync(home, 0o700); // a home folder, or /root
    chmodSync(join(root, "node_modules", "dep", "index.js"), 0o600);
    chmodSync(join(root, "node_modules", "dep", "lib"), 0o700);
    const found = sharedAccessProblems(root, node);
    expect(found).toEqual(expect.arrayContaining([
      { path: home, mode: 0o700, need: "o+x" },
      { path: join(root, "node_modules", "dep", "index.js"), mode: 0o600, need: "o+r" },
      { path: join(root, "node_modules", "dep", "lib"), mode: 0o700, need: "o+rx" },
    ]));
    expect(found.filter((p) => p.path === home)).toHaveLength(1); // named once, not for every file below it
    expect(sharedAccessProblems(root, node, 2)).toHaveLength(2);
    // A folder others only pass through needs x, not r.
    chmodSync(home, 0o711);
    expect(othersAccessProblems(home, "pass")).toEqual([]);
    expect(othersAccessProblems(home)).toEqual([{ path: home, mode: 0o711, need: "o+rx" }]);
  });

  it("kernel install --prefix refuses a spec others could see but not run (lepton under a 0700 folder) and says what to do; --force installs", async () => {
    if (!posix) return;
    ensureBuilt();
    const base = openFolder("private-lepton");
    const home = join(base, "root");
    const copy = join(home, "lepton");
    mkdirSync(copy, { recursive: true });
    for (const part of ["package.json", "dist", "kernel"]) cpSync(join(packageRoot(), part), join(copy, part), { recursive: true });
    symlinkSync(join(packageRoot(), "node_modules"), join(copy, "node_modules"));
    chmodSync(home, 0o700);
    const cli = join(copy, "dist", "src", "cli", "main.js");
    const env = { ...process.env, JUPYTER_PATH: "" };
    const prefix = join(openFolder("public-prefix"), "p");
    const kernel = join(prefix, "share", "jupyter", "kernels", "lepton");
    const refused = await runCommand(process.execPath, [cli, "kernel", "install", "--prefix", prefix], { env });
    expect(refused.status, refused.stderr).toBe(1);
    expect(refused.stderr).toContain(`not installing into ${kernel}: other users would see this kernel but could not start it`);
    expect(refused.stderr).toContain(`${home} (mode 0700: others need x to pass through it)`);
    expect(refused.stderr).toContain(`chmod -R a+rX /opt/lepton && node /opt/lepton/dist/src/cli/main.js kernel install --prefix ${prefix}`);
    expect(refused.stderr).toContain("--force");
    expect(existsSync(kernel)).toBe(false);
    const forced = await runCommand(process.execPath, [cli, "kernel", "install", "--prefix", prefix, "--force"], { env });
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toContain("warning: other users will see");
    expect(JSON.parse(readFileSync(join(kernel, "kernel.json"), "utf8")).argv[1]).toBe(join(copy, "dist", "kernel", "launcher.js"));
    // Into a folder only the installer can reach, nobody else would see it: installed, with a note.
    const privatePrefix = realpathSync(mkdtempSync(join(tmpdir(), "lepton-spec-private-prefix-")));
    const mine = await runCommand(process.execPath, [cli, "kernel", "install", "--prefix", privatePrefix], { env });
    expect(mine.status, mine.stderr).toBe(0);
    expect(mine.stderr).toContain(`note: other users cannot reach ${join(privatePrefix, "share", "jupyter", "kernels", "lepton")}`);
    // From a lepton others can read (this checkout, when it is), no complaint.
    if (sharedAccessProblems().length === 0) {
      const ok = await runCommand(process.execPath, [CLI, "kernel", "install", "--prefix", join(openFolder("ok"), "p")], { env });
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stderr).not.toMatch(/other users|note:/);
    }
    // uninstall takes the same place options.
    const removed = await runCommand(process.execPath, [cli, "kernel", "uninstall", "--prefix", prefix], { env });
    expect(removed.status, removed.stderr).toBe(0);
    expect(existsSync(kernel)).toBe(false);
  }, 60_000);

  it("kernel --help documents --user, --sys-prefix and --prefix for install and uninstall", async () => {
    ensureBuilt();
    const res = await runCommand(process.execPath, [CLI, "kernel", "--help"]);
    expect(res.status).toBe(0);
    for (const s of ["--user", "--sys-prefix", "--prefix DIR", "--prefix /usr/local", "0755", "0644", "lepton kernel uninstall [--name NAME] [--user | --sys-prefix | --prefix DIR]"]) {
      expect(res.stdout).toContain(s);
    }
  });

  it("the Python behind `jupyter` on PATH: from its #! line (plain, env, pip's long-path form), asked for sys.prefix", async () => {
    if (!posix) return;
    const dir = openFolder("shebang");
    const write = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      chmodSync(join(dir, name), 0o755);
      return join(dir, name);
    };
    expect(scriptInterpreter(write("plain", "#!/usr/bin/python3\nimport sys\n"))).toEqual(["/usr/bin/python3"]);
    expect(scriptInterpreter(write("env", "#!/usr/bin/env -S python3\n"))).toEqual(["python3"]);
    expect(scriptInterpreter(write("pip", `#!/bin/sh\n'''exec' "/very/long/venv/bin/python" "$0" "$@"\n' '''\n`))).toEqual(["/very/long/venv/bin/python"]);
    expect(scriptInterpreter(write("binary", "\x7fELF"))).toBeUndefined();
    // A fake Python that answers sys.prefix, and a `jupyter` whose #! names it.
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const python = write("bin/python", "#!/bin/sh\necho /opt/jupyter-env\n");
    write("bin/jupyter", `#!${python}\n`);
    expect(await jupyterPythonPrefix({ PATH: bin })).toEqual({ jupyter: join(bin, "jupyter"), python, prefix: "/opt/jupyter-env" });
    expect(await jupyterPythonPrefix({ PATH: join(dir, "none") })).toBeUndefined();
    if (existsSync("/usr/bin/jupyter") && existsSync("/usr/bin/python3")) {
      // Debian's: sys.prefix /usr (its own `jupyter kernelspec install --sys-prefix` writes /usr/share/jupyter/kernels).
      expect((await jupyterPythonPrefix({ PATH: "/usr/bin" }))?.prefix).toBe("/usr");
    }
  });
});
