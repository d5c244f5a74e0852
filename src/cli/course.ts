/**
 * `lepton course`: runs the course notebooks headless through the Lepton kernel, writes the executed
 * notebooks (and their HTML where nbconvert is installed) to an output folder, and prints one summary
 * line per notebook. Quick mode (the default) overrides each notebook's `parameters` cell with the
 * small settings in notebooks/course.json; `--full` uses the notebooks' own settings.
 */
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { runNotebook } from "../kernel/runner";
import { readRecords } from "../display/record";
import { packageRoot } from "../data/paths";

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
  notebooksDir: string;
}

const USAGE = `usage: lepton course [--full] [--out DIR] [--only NAME ...] [--timeout S] [--no-html]

Runs the course notebooks in order through the Lepton kernel and writes the executed notebooks to
DIR (default out/course), with HTML copies when Jupyter's nbconvert is installed.
  --full        the notebooks' own settings (full CIFAR-10 where found; slow) instead of quick mode
  --only NAME   run only notebooks whose file name contains NAME (repeatable)
  --timeout S   per-cell timeout in seconds (default 1800)
  --no-html     skip the HTML export`;

function parseArgs(argv: string[]): CourseOptions | string {
  const root = packageRoot();
  const options: CourseOptions = {
    full: false,
    out: path.resolve("out", "course"),
    only: [],
    timeout: 1800,
    html: true,
    notebooksDir: path.join(root, "notebooks"),
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
    else if (arg === "--notebooks") options.notebooksDir = path.resolve(value());
    else if (arg === "-h" || arg === "--help") return USAGE;
    else throw new Error(`unknown option ${arg}\n\n${USAGE}`);
  }
  if (!Number.isFinite(options.timeout) || options.timeout <= 0) throw new Error(`--timeout must be a positive number of seconds`);
  return options;
}

function readCourse(dir: string): CourseEntry[] {
  const file = path.join(dir, "course.json");
  if (!fs.existsSync(file)) throw new Error(`No course index at ${file}: is --notebooks pointing at lepton's notebooks/ folder?`);
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as { notebooks: CourseEntry[] };
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
  const entries = readCourse(options.notebooksDir).filter(
    (e) => options.only.length === 0 || options.only.some((o) => e.file.includes(o)),
  );
  if (entries.length === 0) {
    console.error(`lepton course: no notebook matches --only ${options.only.join(", ")}`);
    return 2;
  }
  fs.mkdirSync(options.out, { recursive: true });
  const nbconvert = options.html ? findNbconvert() : undefined;
  const mode = options.full ? "full" : "quick";
  console.log(`lepton course: ${entries.length} notebooks, ${mode} mode, writing to ${options.out}`);
  if (options.html && !nbconvert) console.log("  (no HTML: Jupyter's nbconvert was not found; `pip install nbconvert` adds it)");

  let failures = 0;
  const summary: { notebook: string; ok: boolean; seconds: number; records: Record<string, unknown> }[] = [];
  for (const entry of entries) {
    const source = path.join(options.notebooksDir, entry.file);
    const parameters = options.full ? entry.full ?? {} : entry.quick;
    const result = await runNotebook(source, { outDir: options.out, timeoutS: options.timeout, parameters });
    const records: Record<string, unknown> = readRecords(result.notebook);
    const status = result.ok ? "ok  " : "FAIL";
    console.log(`  ${status} ${entry.file.padEnd(28)} ${result.seconds.toFixed(1).padStart(7)} s  ${formatRecords(records)}`);
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
    summary.push({ notebook: entry.file, ok: result.ok, seconds: result.seconds, records });
  }
  fs.writeFileSync(path.join(options.out, "summary.json"), JSON.stringify({ mode, notebooks: summary }, null, 2) + "\n");
  const total = summary.reduce((s, n) => s + n.seconds, 0);
  console.log(`lepton course: ${entries.length - failures} passed, ${failures} failed in ${total.toFixed(0)} s (${mode} mode)`);
  if (!options.full) console.log("  Full mode (full CIFAR-10, more epochs): npm start -- --full");
  console.log(`  Open the notebooks yourself: jupyter lab ${path.relative(process.cwd(), options.notebooksDir) || "."}  (kernel "Lepton (TypeScript)")`);
  return failures === 0 ? 0 : 1;
}
