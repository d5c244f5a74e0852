/** `lepton kernel install|uninstall|list|start` */
import { spawnSync } from "child_process";
import fs from "fs";
import path from "path";
import {
  DEFAULT_KERNEL_NAME, describeAccessProblem, installKernelSpec, isSharedTarget, jupyterPythonPrefix, jupyterSearches, kernelsDir, launcherPath,
  listKernelSpecs, othersAccessProblems, packageRoot, sharedAccessProblems, uninstallKernelSpec, type AccessProblem, type InstallTarget,
} from "../kernel/spec";

const USAGE = `usage:
  lepton kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME] [--force]
      write the Lepton kernel spec (kernel.json + logos) where Jupyter finds it:
        --user (default)  JUPYTER_DATA_DIR, else ~/.local/share/jupyter (Linux),
                          ~/Library/Jupyter (macOS), %APPDATA%\\jupyter (Windows): for you only
        --sys-prefix      $VIRTUAL_ENV, else $CONDA_PREFIX, else Node's install prefix; + /share/jupyter
                          (refused when Jupyter does not search that folder, unless --force; the message
                          names the sys.prefix of the Python that runs your \`jupyter\`, for --prefix)
        --prefix DIR      DIR/share/jupyter (add DIR/share/jupyter to JUPYTER_PATH if it is not standard);
                          --prefix /usr/local is the system-wide folder every user's Jupyter and JupyterHub
                          single-user server searches (/usr/local/share/jupyter/kernels/lepton)
      --sys-prefix and --prefix are for every user: folders are made 0755 and files 0644. The spec runs
      this Node and this lepton (dist/kernel/launcher.js, node_modules), so when the kernel folder is
      visible to others but those are not readable by them (e.g. a checkout under /root, mode 0700), it
      is refused (--force installs anyway) with what to do: install lepton in a folder everyone can read.
      Each user's kernel keeps its own download cache (~/.cache/lepton, from that user's HOME).
  lepton kernel uninstall [--name NAME] [--user | --sys-prefix | --prefix DIR]
      remove it (from every folder Jupyter searches unless a place is given)
  lepton kernel list
      the kernel specs Jupyter would find
  lepton kernel start -f CONNECTION_FILE
      run the kernel process (what Jupyter does)`;

function parseTarget(argv: string[], allowForce = false): { target?: InstallTarget; name: string; force: boolean } {
  let target: InstallTarget | undefined;
  let name = DEFAULT_KERNEL_NAME;
  let force = false;
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
    else if (a === "--force" && allowForce) force = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return { target, name, force };
}

/** Why Jupyter will not find a kernel under `dataDir`, and the commands that would work. */
function notSearchedMessage(
  dataDir: string, searched: string[], name: string, refused: boolean, jupyterPython?: { jupyter: string; python: string; prefix: string },
): string {
  const named = name === DEFAULT_KERNEL_NAME ? "" : ` --name ${name}`;
  return [
    refused
      ? `lepton kernel install: not installing into ${dataDir}: Jupyter does not search that folder.`
      : `warning: Jupyter does not search ${dataDir}, so it will not find this kernel as things are.`,
    ...(refused ? ["(No virtualenv or conda environment is active, so --sys-prefix means the prefix Node is installed under.)"] : []),
    `Jupyter searches: ${searched.join(", ")}`,
    `Instead:`,
    `  lepton kernel install --user${named}          (your per-user Jupyter folder; works with any Jupyter)`,
    ...(jupyterPython
      ? [`  or lepton kernel install --prefix ${jupyterPython.prefix}${named}   (sys.prefix of ${jupyterPython.python}, which runs ${jupyterPython.jupyter}: ` +
        `what its own --sys-prefix means)`]
      : []),
    ...(process.platform === "win32" ? [] : [`  or lepton kernel install --prefix /usr/local${named}   (for every user: /usr/local/share/jupyter, which every Jupyter searches)`]),
    `  or activate the Python environment that runs Jupyter (VIRTUAL_ENV / CONDA_PREFIX set) and use --sys-prefix again`,
    `  or add ${dataDir} to JUPYTER_PATH${refused ? ` and install with --sys-prefix --force` : ""}`,
  ].join("\n");
}

/** The nearest folder at or above `dir` that exists (what decides who will be able to reach `dir`). */
function nearestExisting(dir: string): string {
  let d = path.resolve(dir);
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/** For a shared install whose kernel folder others can reach but whose lepton they cannot read. */
function unreadableMessage(problems: AccessProblem[], kernelDir: string, refused: boolean, options: string): string {
  const root = packageRoot();
  const lines = [
    refused
      ? `lepton kernel install: not installing into ${kernelDir}: other users would see this kernel but could not start it.`
      : `warning: other users will see ${kernelDir}, but cannot read what it runs, so the kernel will fail for everyone but you.`,
    `The spec runs ${process.execPath} on ${launcherPath(root)}, which loads lepton's dist/ and node_modules, and others cannot read:`,
    ...problems.map((p) => `  ${describeAccessProblem(p)}`),
    `To install for every user, put lepton (with its node_modules) in a folder everyone can read, then install from there, e.g.:`,
    `  cp -a ${root} /opt/lepton && chmod -R a+rX /opt/lepton && node /opt/lepton/dist/src/cli/main.js kernel install ${options}`,
    `  (or as root: npm pack in ${root}, then npm install -g ./lepton-*.tgz, which fetches its dependencies, and run \`lepton kernel install ${options}\`)`,
    `Or make these readable by others (chmod o+x on the folders, chmod -R a+rX ${root}) if exposing them is acceptable.`,
  ];
  if (refused) lines.push(`Or install anyway with --force (only you will be able to use it), or just for you with --user.`);
  return lines.join("\n");
}

export async function kernelCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case "install": {
        const { target, name, force } = parseTarget(rest, true);
        const where = target ?? { kind: "user" };
        const dataDir = path.dirname(kernelsDir(where));
        // --sys-prefix without a virtualenv or conda means Node's prefix, which Jupyter searches only
        // when Node and Jupyter's Python share it (not with nvm, /opt/node, ...). Check before writing.
        const check = where.kind === "user" ? undefined : await jupyterSearches(dataDir);
        if (check && !check.searched && where.kind === "sys-prefix" && !force) {
          console.error(notSearchedMessage(dataDir, check.dirs, name, true, await jupyterPythonPrefix()));
          return 1;
        }
        // A shared install: can other users reach the kernel folder, and read what it runs?
        const kernelDir = path.join(kernelsDir(where), name);
        const hidden = isSharedTarget(where) ? othersAccessProblems(nearestExisting(kernelDir), "pass") : [];
        const unreadable = isSharedTarget(where) && hidden.length === 0 ? sharedAccessProblems() : [];
        const options = [where.kind === "prefix" ? `--prefix ${path.resolve(where.dir)}` : `--${where.kind}`, ...(name === DEFAULT_KERNEL_NAME ? [] : [`--name ${name}`])].join(" ");
        if (unreadable.length && !force) {
          console.error(unreadableMessage(unreadable, kernelDir, true, options));
          return 1;
        }
        const dir = installKernelSpec(where, name);
        console.log(`Installed the Lepton kernel spec "${name}" in ${dir}`);
        if (check && !check.searched) console.error(notSearchedMessage(dataDir, check.dirs, name, false, await jupyterPythonPrefix()));
        if (unreadable.length) console.error(unreadableMessage(unreadable, dir, false, options));
        if (hidden.length) {
          console.error(`note: other users cannot reach ${dir} (${hidden.map(describeAccessProblem).join("; ")}), so only you will see this kernel. ` +
            `For every user, install into a folder they can read, e.g. --prefix /usr/local.`);
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
