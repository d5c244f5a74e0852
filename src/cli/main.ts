#!/usr/bin/env node
/** The `lepton` command: dispatches to its subcommands; the exit code is what they return. */

const USAGE = `usage: lepton <command> [options]
  kernel install|uninstall|list   the Jupyter kernel spec (lepton kernel --help)
  run NOTEBOOK...                 run notebooks headless on the Lepton kernel (lepton run --help)
  trust NOTEBOOK...               sign notebooks for Jupyter, like \`jupyter trust\` (lepton trust --help)
  doctor                          check the installation
  cache info|clear                the download cache: where, what, and emptying it (lepton cache --help)
  course                          install the kernel and run the course notebooks`;

type Command = (argv: string[]) => Promise<number>;

/** Load `./file`'s `name` export, or undefined when that module is not part of this build. */
function optionalCommand(file: string, name: string): Command | undefined {
  try {
    return require(file)[name];
  } catch (err: any) {
    if (err?.code === "MODULE_NOT_FOUND" && String(err.message).startsWith(`Cannot find module '${file}'`)) return undefined;
    throw err;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "kernel":
      return require("./kernel").kernelCommand(rest);
    case "run":
      return require("./run").runCommand(rest);
    case "cache":
      return require("./cache").cacheCommand(rest);
    case "trust":
      return require("../kernel/notary").trustCommand(rest);
    case "doctor":
    case "course": {
      const fn = optionalCommand(`./${command}`, `${command}Command`);
      if (!fn) {
        console.error(`lepton ${command}: this command is not part of this build yet`);
        return 1;
      }
      return fn(rest);
    }
    case undefined:
    case "-h":
    case "--help":
    case "help":
      console.log(USAGE);
      return command ? 0 : 2;
    default:
      console.error(`lepton: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`lepton: ${err?.stack ?? err}`);
      process.exit(1);
    },
  );
}
