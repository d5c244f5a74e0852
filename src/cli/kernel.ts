/** `lepton kernel install|uninstall|list|start` */
import { spawnSync } from "child_process";
import {
  DEFAULT_KERNEL_NAME, installKernelSpec, kernelsDir, launcherPath, listKernelSpecs, uninstallKernelSpec, type InstallTarget,
} from "../kernel/spec";

const USAGE = `usage:
  lepton kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME]
      write the Lepton kernel spec (kernel.json + logos) where Jupyter finds it:
        --user (default)  JUPYTER_DATA_DIR, else ~/.local/share/jupyter (Linux),
                          ~/Library/Jupyter (macOS), %APPDATA%\\jupyter (Windows)
        --sys-prefix      $VIRTUAL_ENV, else $CONDA_PREFIX, else Node's install prefix; + /share/jupyter
        --prefix DIR      DIR/share/jupyter (add DIR/share/jupyter to JUPYTER_PATH if it is not standard)
  lepton kernel uninstall [--name NAME] [--user | --sys-prefix | --prefix DIR]
      remove it (from every folder Jupyter searches unless a place is given)
  lepton kernel list
      the kernel specs Jupyter would find
  lepton kernel start -f CONNECTION_FILE
      run the kernel process (what Jupyter does)`;

function parseTarget(argv: string[]): { target?: InstallTarget; name: string } {
  let target: InstallTarget | undefined;
  let name = DEFAULT_KERNEL_NAME;
  const set = (t: InstallTarget) => {
    if (target) throw new Error("give only one of --user, --sys-prefix, --prefix DIR");
    target = t;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      if (!v) throw new Error(`${a.split("=")[0]} needs a value`);
      return v;
    };
    if (a === "--user") set({ kind: "user" });
    else if (a === "--sys-prefix") set({ kind: "sys-prefix" });
    else if (a === "--prefix" || a.startsWith("--prefix=")) set({ kind: "prefix", dir: value() });
    else if (a === "--name" || a.startsWith("--name=")) name = value();
    else throw new Error(`unknown argument ${a}`);
  }
  return { target, name };
}

export async function kernelCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case "install": {
        const { target, name } = parseTarget(rest);
        const dir = installKernelSpec(target ?? { kind: "user" }, name);
        console.log(`Installed the Lepton kernel spec "${name}" in ${dir}`);
        if (target?.kind === "prefix") {
          console.log(`(Jupyter finds it if ${kernelsDir(target).replace(/[\\/]kernels$/, "")} is on JUPYTER_PATH or is a standard prefix.)`);
        }
        return 0;
      }
      case "uninstall": {
        const { target, name } = parseTarget(rest);
        const removed = uninstallKernelSpec(name, target ? [target] : undefined);
        if (removed.length === 0) {
          console.error(`lepton kernel uninstall: no kernel spec named "${name}" found`);
          return 1;
        }
        for (const dir of removed) console.log(`Removed ${dir}`);
        return 0;
      }
      case "list": {
        if (rest.length) throw new Error(`unknown argument ${rest[0]}`);
        const specs = listKernelSpecs();
        console.log("Available kernels:");
        const width = Math.max(0, ...specs.map((s) => s.name.length));
        for (const s of specs) console.log(`  ${s.name.padEnd(width)}    ${s.dir}`);
        return 0;
      }
      case "start": {
        const res = spawnSync(process.execPath, [launcherPath(), ...rest], { stdio: "inherit" });
        return res.status ?? 1;
      }
      case undefined:
      case "-h":
      case "--help":
      case "help":
        console.log(USAGE);
        return sub ? 0 : 2;
      default:
        throw new Error(`unknown subcommand ${sub}`);
    }
  } catch (err) {
    console.error(`lepton kernel: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
}
