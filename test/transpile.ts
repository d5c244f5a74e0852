/**
 * Child-process fixtures that must not depend on dist/ being current: transpile lepton's TypeScript
 * sources (an entry and every relative module it imports) into a temporary folder as CommonJS.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

export /** Transpile `entries` (relative to `srcRoot`) and the relative modules they import into `outRoot`, as CommonJS. */
function transpileWithImports(srcRoot: string, entries: string[], outRoot: string): void {
  const todo = [...entries];
  const done = new Set<string>();
  while (todo.length > 0) {
    const rel = todo.pop()!;
    if (done.has(rel)) continue;
    done.add(rel);
    const source = fs.readFileSync(path.join(srcRoot, rel), "utf8");
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true } }).outputText;
    const out = path.join(outRoot, rel.replace(/\.ts$/, ".js"));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, js);
    for (const m of js.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
      const base = path.join(path.dirname(rel), m[1]);
      const found = [`${base}.ts`, path.join(base, "index.ts")].find((p) => fs.existsSync(path.join(srcRoot, p)));
      if (!found) throw new Error(`transpileWithImports: ${rel} imports ${m[1]}, which is not in ${srcRoot}`);
      todo.push(found);
    }
  }
}
