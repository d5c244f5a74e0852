/**
 * The Lepton kernel process, as Jupyter starts it (see the kernel spec written by `lepton kernel install`):
 *
 *   node dist/kernel/launcher.js -f {connection_file}
 *
 * Makes `lepton` and this package's dependencies importable from any notebook folder (at run time and
 * for the type checker), then serves the Jupyter protocol with tslab's TypeScript executor.
 */
import { installCompilerResolution, installRuntimeResolution } from "../src/kernel/modules";

// The parent this process started with, read before anything slow: a parent that dies while the kernel
// loads re-parents it, and the poller must still know whom it was started by.
const startParent = process.ppid;

function connectionFileFrom(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-f" || a === "--connection-file" || a === "--config-path") return argv[i + 1];
    const m = /^--(?:connection-file|config-path|f)=(.*)$/.exec(a);
    if (m) return m[1];
  }
  return argv.find((a) => a.endsWith(".json"));
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const connectionFile = connectionFileFrom(argv);
  if (!connectionFile) {
    process.stderr.write("usage: node launcher.js -f CONNECTION_FILE (Jupyter passes {connection_file})\n");
    process.exit(2);
  }
  installRuntimeResolution();
  installCompilerResolution();
  const { KernelServer } = await import("../src/kernel/server");
  const server = new KernelServer({ connectionFile, parentPid: startParent });
  await server.start();
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`lepton kernel failed to start: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
