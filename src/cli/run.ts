/** `lepton run NOTEBOOK... [--out DIR] [--timeout S] [-p key=value]...` */
import path from "path";
import { outputPath, parseParameter, prepareRun, runNotebook, type PreparedRun, type RunResult } from "../kernel/runner";
import { trustExecutedNotebook } from "../kernel/notary";

const USAGE = `usage: lepton run NOTEBOOK.ipynb... [--out DIR] [--timeout SECONDS] [-p name=value]... [--no-trust]
  Runs each notebook, in the order given, on a fresh Lepton kernel (started here, no Jupyter needed)
  and writes the executed notebook to DIR/NAME.ipynb (default: NAME.executed.ipynb beside it), saved
  after every cell. Stops at the first error (later notebooks are not run). Refused before anything
  runs (exit 2): a malformed notebook, an output folder that cannot be written, a bad -p, notebooks
  that would be written to the same file (the same NAME from two folders with --out).
  -p name=value   override a value declared in the cell tagged "parameters" (the name must be declared
                  there). The value is JSON when it is valid JSON (3, 0.01, true, null, [64,32],
                  {"a":1}, '"text"'), else the text as a string (-p name=demo); refused: broken JSON
                  (starts with [ { or " but does not parse), 1e999 and other non-finite numbers, and
                  numbers JSON does not write (.5, 0x10, NaN): write 0.5, or quote it as a string
  --timeout S     fail a cell that runs longer than S seconds
  --no-trust      do not sign the executed notebook: by default it is signed with your Jupyter key, as
                  \`jupyter trust\` does, so Jupyter shows its HTML output and charts (lepton trust --help)
  --quiet         no progress lines`;

/** Two inputs must not overwrite each other's executed notebook (e.g. a/report.ipynb, b/report.ipynb --out DIR). */
function checkDistinctOutputs(notebooks: string[], outDir: string | undefined): void {
  const written = new Map<string, string>();
  for (const nb of notebooks) {
    const out = outputPath(nb, outDir);
    const key = process.platform === "win32" || process.platform === "darwin" ? out.toLowerCase() : out;
    const earlier = written.get(key);
    if (earlier !== undefined) {
      throw new Error(`${earlier} and ${nb} would both be written to ${out}: ` +
        (path.resolve(earlier) === path.resolve(nb)
          ? "give each notebook once"
          : "rename one of them, or run them in separate calls with different --out folders"));
    }
    written.set(key, nb);
  }
}

export async function runCommand(argv: string[]): Promise<number> {
  const notebooks: string[] = [];
  // No prototype: a name such as "constructor" is an ordinary key (and __proto__ is refused by parseParameter).
  const parameters: Record<string, unknown> = Object.create(null);
  let outDir: string | undefined;
  let timeoutS: number | undefined;
  let quiet = false;
  let trust = true;
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      const value = () => {
        const v = a.includes("=") && a.startsWith("--") ? a.slice(a.indexOf("=") + 1) : argv[++i];
        if (v === undefined) throw new Error(`${a} needs a value`);
        return v;
      };
      if (a === "-h" || a === "--help") {
        console.log(USAGE);
        return 0;
      } else if (a === "--out" || a.startsWith("--out=") || a === "-o") outDir = value();
      else if (a === "--timeout" || a.startsWith("--timeout=")) {
        const v = value();
        timeoutS = Number(v);
        if (!(timeoutS > 0)) throw new Error(`--timeout needs a positive number of seconds, got ${JSON.stringify(v)}`);
      } else if (a === "-p" || a === "--param" || a.startsWith("--param=")) {
        const [k, v] = parseParameter(value());
        parameters[k] = v;
      } else if (a === "--quiet" || a === "-q") quiet = true;
      else if (a === "--no-trust") trust = false;
      else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
      else notebooks.push(a);
    }
    if (notebooks.length === 0) throw new Error("no notebook given");
    checkDistinctOutputs(notebooks, outDir);
  } catch (err) {
    console.error(`lepton run: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  // Everything that can be checked without a kernel, for every notebook, before the first cell runs.
  const prepared: PreparedRun[] = [];
  try {
    for (const nb of notebooks) prepared.push(prepareRun(nb, { outDir, parameters }));
  } catch (err) {
    console.error(`lepton run: ${(err as Error).message}\n(nothing was run)`);
    return 2;
  }
  for (const p of prepared) for (const w of p.warnings) console.error(`lepton run: warning: ${p.input}: ${w}`);
  // Ctrl-C: stop here; the kernels this process started are killed on exit (see client.ts).
  process.once("SIGINT", () => {
    console.error("lepton run: interrupted");
    process.exit(130);
  });
  for (const [i, nb] of notebooks.entries()) {
    let result: RunResult;
    try {
      result = await runNotebook(prepared[i], {
        outDir,
        timeoutS,
        parameters,
        log: quiet ? undefined : (line) => console.error(`${nb} ${line}`),
      });
    } catch (err) {
      console.error(`lepton run: ${nb}: ${(err as Error).message}`);
      return 1;
    }
    // After the final save, also for a run that stopped at an error (what ran is the user's own output).
    if (trust) trustExecutedNotebook(result.output, { warn: (line) => console.error(`lepton run: warning: ${line}`) });
    if (!result.ok) {
      const f = result.failure!;
      console.error(`\nlepton run: ${nb} failed in cell ${f.index + 1}:\n` +
        f.source.split("\n").map((l) => `    ${l}`).join("\n") +
        `\n\n${f.ename}: ${f.evalue}\n${f.traceback.join("\n")}\n\nexecuted notebook (up to the error): ${result.output}`);
      return 1;
    }
    if (!quiet) console.error(`${nb}: ok in ${result.seconds.toFixed(1)} s -> ${result.output}`);
  }
  return 0;
}
