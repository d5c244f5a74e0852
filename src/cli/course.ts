/**
 * `lepton course`: runs the course notebooks headless through the Lepton kernel, writes the executed
 * notebooks (and their HTML where nbconvert is installed) to an output folder, and prints one summary
 * line per notebook. Quick mode (the default) overrides each notebook's `parameters` cell with the
 * small settings in notebooks/course.json; `--full` uses the notebooks' own settings. `--notebook PATH`
 * runs a user's own notebook the same way (its own settings). Every notebook, its parameters and the
 * output folder are checked before the first cell runs; each executed notebook is saved after every
 * cell and summary.json after every notebook.
 */
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { outputPath, prepareRun, runNotebook, writeJsonAtomic, type PreparedRun, type RunResult } from "../kernel/runner";
import { readRecords } from "../display/record";
import { packageRoot } from "../data/paths";
import { trustExecutedNotebook } from "../kernel/notary";

interface CourseEntry {
  file: string;
  title: string;
  quick: Record<string, unknown>;
  full?: Record<string, unknown>;
}

interface CourseOptions {
  full: boolean;
  out: string;
  only: string[];
  timeout: number;
  html: boolean;
  /** Sign the executed notebooks with the user's Jupyter key (off with --no-trust). */
  trust: boolean;
  notebooksDir: string;
  /** The user's own notebooks (--notebook PATH, repeatable). */
  notebooks: string[];
}

const USAGE = `usage: lepton course [--full] [--out DIR] [--only NAME ...] [--notebook PATH ...] [--timeout S] [--no-html] [--no-trust]

Runs the course notebooks in order through the Lepton kernel and writes the executed notebooks to
DIR (default out/course), with HTML copies when Jupyter's nbconvert is installed.
  --full        the notebooks' own settings (full CIFAR-10 where found; slow) instead of quick mode
  --only NAME   run only notebooks whose file name contains NAME (repeatable)
  --notebook P  run your own notebook P the same way, with its own settings (repeatable); with
                --notebook only those run, unless --only also picks course notebooks (they run first)
  --timeout S   per-cell timeout in seconds (default 1800)
  --no-html     skip the HTML export
  --no-trust    do not sign the executed notebooks (by default they are signed with your Jupyter key,
                as \`jupyter trust\` does, so Jupyter shows their HTML output and charts)`;

function parseArgs(argv: string[]): CourseOptions | string {
  const root = packageRoot();
  const options: CourseOptions = {
    full: false,
    out: path.resolve("out", "course"),
    only: [],
    timeout: 1800,
    html: true,
    trust: true,
    notebooksDir: path.join(root, "notebooks"),
    notebooks: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n\n${USAGE}`);
      return v;
    };
    if (arg === "--full") options.full = true;
    else if (arg === "--quick") options.full = false;
    else if (arg === "--out") options.out = path.resolve(value());
    else if (arg === "--only") options.only.push(value());
    else if (arg === "--timeout") options.timeout = Number(value());
    else if (arg === "--no-html") options.html = false;
    else if (arg === "--no-trust") options.trust = false;
    else if (arg === "--notebooks") options.notebooksDir = path.resolve(value());
    else if (arg === "--notebook") options.notebooks.push(path.resolve(value()));
    else if (arg === "-h" || arg === "--help") return USAGE;
    else throw new Error(`unknown option ${arg}\n\n${USAGE}`);
  }
  if (!Number.isFinite(options.timeout) || options.timeout <= 0) throw new Error(`--timeout must be a positive number of seconds`);
  return options;
}

function readCourse(dir: string): CourseEntry[] {
  const file = path.join(dir, "course.json");
  if (!fs.existsSync(file)) throw new Error(`No course index at ${file}: is --notebooks pointing at lepton's notebooks/ folder?`);
  let parsed: { notebooks: CourseEntry[] };
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`cannot read the course index ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed?.notebooks)) throw new Error(`the course index ${file} has no "notebooks" list`);
  return parsed.notebooks;
}

/** Debian's or the user's nbconvert, as a command prefix, or undefined. */
function findNbconvert(): string[] | undefined {
  for (const candidate of [["jupyter", "nbconvert"], ["/usr/bin/python3", "-m", "nbconvert"], ["python3", "-m", "nbconvert"]]) {
    const probe = spawnSync(candidate[0], [...candidate.slice(1), "--version"], { encoding: "utf8" });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

function formatRecords(records: Record<string, unknown>): string {
  return Object.entries(records)
    .map(([k, v]) => `${k}=${typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : v}`)
    .join(" ");
}

export async function courseCommand(argv: string[]): Promise<number> {
  let options: CourseOptions;
  try {
    const parsed = parseArgs(argv);
    if (typeof parsed === "string") {
      console.log(parsed);
      return 0;
    }
    options = parsed;
  } catch (err) {
    console.error(`lepton course: ${(err as Error).message}`);
    return 2;
  }
  // What runs: course notebooks (with their quick or full settings), then the user's own (--notebook).
  const runs: { label: string; source: string; parameters: Record<string, unknown> }[] = [];
  try {
    if (options.notebooks.length === 0 || options.only.length > 0) {
      const entries = readCourse(options.notebooksDir).filter(
        (e) => options.only.length === 0 || options.only.some((o) => e.file.includes(o)),
      );
      if (entries.length === 0) throw new Error(`no notebook matches --only ${options.only.join(", ")}`);
      for (const e of entries) runs.push({ label: e.file, source: path.join(options.notebooksDir, e.file), parameters: (options.full ? e.full : e.quick) ?? {} });
    }
    for (const nb of options.notebooks) runs.push({ label: path.relative(process.cwd(), nb) || nb, source: nb, parameters: {} });
  } catch (err) {
    console.error(`lepton course: ${(err as Error).message}`);
    return 2;
  }
  // Every check that needs no kernel, for every notebook, before the first cell runs: the notebook
  // itself, its parameters, the output folder, and two notebooks written to the same file.
  const prepared: PreparedRun[] = [];
  try {
    const written = new Map<string, string>();
    for (const r of runs) {
      const out = outputPath(r.source, options.out);
      const earlier = written.get(out);
      if (earlier !== undefined) throw new Error(`${earlier} and ${r.source} would both be written to ${out}: rename one of them`);
      written.set(out, r.source);
      prepared.push(prepareRun(r.source, { outDir: options.out, parameters: r.parameters }));
    }
  } catch (err) {
    console.error(`lepton course: ${(err as Error).message}\n(nothing was run)`);
    return 2;
  }
  const nbconvert = options.html ? findNbconvert() : undefined;
  const mode = options.full ? "full" : "quick";
  console.log(`lepton course: ${runs.length} notebooks, ${mode} mode, writing to ${options.out}`);
  for (const p of prepared) for (const w of p.warnings) console.log(`  warning: ${p.input}: ${w}`);
  if (options.html && !nbconvert) console.log("  (no HTML: Jupyter's nbconvert was not found; `pip install nbconvert` adds it)");

  let failures = 0;
  const summary: { notebook: string; ok: boolean; seconds: number; records: Record<string, unknown>; error?: string }[] = [];
  const summaryFile = path.join(options.out, "summary.json");
  const saveSummary = () => writeJsonAtomic(summaryFile, { mode, notebooks: summary });
  for (const [i, r] of runs.entries()) {
    let result: RunResult;
    try {
      result = await runNotebook(prepared[i], { timeoutS: options.timeout });
    } catch (err) {
      // The kernel could not start (or the notebook could not be saved): report it, go on with the next.
      failures++;
      const message = (err as Error).message;
      console.log(`  FAIL ${r.label.padEnd(28)} ${message}`);
      summary.push({ notebook: r.label, ok: false, seconds: 0, records: {}, error: message });
      saveSummary();
      continue;
    }
    // After the final save, also for a notebook that stopped at an error.
    if (options.trust) trustExecutedNotebook(result.output, { warn: (line) => console.log(`       warning: ${line}`) });
    const records: Record<string, unknown> = readRecords(result.notebook);
    const status = result.ok ? "ok  " : "FAIL";
    console.log(`  ${status} ${r.label.padEnd(28)} ${result.seconds.toFixed(1).padStart(7)} s  ${formatRecords(records)}`);
    if (!result.ok) {
      failures++;
      const f = result.failure;
      if (f) {
        const text = `cell ${f.index + 1}:\n${f.source}\n${f.ename}: ${f.evalue}\n${f.traceback.join("\n")}`;
        console.log(text.split("\n").map((l) => "       " + l).join("\n"));
      }
    }
    if (nbconvert && fs.existsSync(result.output)) {
      const html = spawnSync(nbconvert[0], [...nbconvert.slice(1), "--to", "html", "--output-dir", options.out, result.output], { encoding: "utf8" });
      if (html.status !== 0) console.log(`       (HTML export failed: ${html.stderr.trim().split("\n").pop()})`);
    }
    summary.push({ notebook: r.label, ok: result.ok, seconds: result.seconds, records });
    saveSummary();
  }
  const total = summary.reduce((s, n) => s + n.seconds, 0);
  console.log(`lepton course: ${runs.length - failures} passed, ${failures} failed in ${total.toFixed(0)} s (${mode} mode)`);
  if (!options.full) console.log("  Full mode (full CIFAR-10, more epochs): npm start -- --full");
  console.log(`  Open the notebooks yourself: jupyter lab ${path.relative(process.cwd(), options.notebooksDir) || "."}  (kernel "Lepton (TypeScript)")`);
  return failures === 0 ? 0 : 1;
}
