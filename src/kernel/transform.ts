/**
 * Source transforms on a cell, before and after tslab converts it (parsed with tslab's own TypeScript):
 *
 * - `instrumentLoops`: every loop of the converted JavaScript checks the kernel's interrupt flag at the
 *   top of each iteration (`if (__lepton_irq__[0] !== 0) throw __lepton_interrupt__;`). The flag lives
 *   in shared memory that the kernel's watcher threads set on SIGINT or interrupt_request, so a loop stops
 *   even when the main thread never returns to its event loop: after an `await`, in a timer, in a
 *   callback, in a function defined in the cell and called later. The check is one load from shared
 *   memory and a branch that only throws (no call on the hot path), which V8 runs at the loop's speed
 *   (a `for` loop summing 3e8 integers: 169 ms plain, 167 ms instrumented; a loop over a Float64Array
 *   210 → 253 ms). A throw is the only thing that stops JavaScript and keeps the process sound: V8's
 *   TerminateExecution from another thread corrupts Node's async-hooks stack outside vm's boundary.
 * - `usesTopLevelAwait`: tslab misses top-level `for await`, so such a cell ran in a plain function and
 *   failed with "Unexpected reserved word".
 * - `exportsPreamble` / `stripExportsPreamble`: TypeScript's CommonJS output starts with
 *   `exports.a = exports.b = void 0;`, which reset every name the cell declares before its first line
 *   ran; without it a name keeps its old value until its own declaration runs, and the kernel can tell
 *   which declarations ran before an error (see `mergeDeclarations`).
 * - `silencedByTrailingSemicolon`: IPython's rule, a last expression ending in `;` shows nothing.
 */
import type * as TS from "typescript";
import { typescript as ts } from "./tslab";

export const IRQ_FLAG = "__lepton_irq__";
export const IRQ_ERROR = "__lepton_interrupt__";

const CHECK = `if (${IRQ_FLAG}[0] !== 0) throw ${IRQ_ERROR};`;

function parseJs(js: string): TS.SourceFile {
  const t = ts();
  return t.createSourceFile("cell.js", js, t.ScriptTarget.Latest, true, t.ScriptKind.JS);
}

/** The converted cell with an interrupt check at the top of every loop body. */
export function instrumentLoops(js: string): string {
  if (!/\b(?:for|while|do)\b/.test(js)) return js; // no loop keyword: nothing to parse
  const t = ts();
  const file = parseJs(js);
  const inserts: { pos: number; text: string }[] = [];
  const visit = (node: TS.Node): void => {
    if (t.isIterationStatement(node, false)) {
      const body = node.statement;
      if (t.isBlock(body)) {
        inserts.push({ pos: body.getStart(file) + 1, text: ` ${CHECK}` });
      } else {
        inserts.push({ pos: body.getStart(file), text: `{ ${CHECK} ` });
        inserts.push({ pos: body.getEnd(), text: ` }` });
      }
    }
    t.forEachChild(node, visit);
  };
  visit(file);
  if (inserts.length === 0) return js;
  // Apply from the end so earlier positions stay valid (two inserts at one position are both " }").
  inserts.sort((a, b) => b.pos - a.pos);
  let out = js;
  for (const { pos, text } of inserts) out = out.slice(0, pos) + text + out.slice(pos);
  return out;
}

/** Whether the converted cell awaits at its top level (outside any function), `for await` included. */
export function usesTopLevelAwait(js: string): boolean {
  if (!/\bawait\b/.test(js)) return false;
  const t = ts();
  const file = parseJs(js);
  let found = false;
  const visit = (node: TS.Node): void => {
    if (found) return;
    if (t.isFunctionLike(node) || t.isClassLike(node)) return;
    if (t.isAwaitExpression(node) || (t.isForOfStatement(node) && node.awaitModifier)) {
      found = true;
      return;
    }
    t.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

const ES_MODULE_LINE = 'Object.defineProperty(exports, "__esModule", { value: true });\n';
const PREAMBLE_LINE = /^(?:exports\.[A-Za-z_$][\w$]*\s*=\s*)+void 0;[ \t]*(?:\n|$)/;

/**
 * TypeScript's preamble: the `exports.a = exports.b = void 0;` lines (50 names a line) right after the
 * `__esModule` line. Anything else, a user's own `exports.x = void 0;` included, is not part of it.
 */
function preamble(js: string, declared: Set<string>): { start: number; end: number; names: string[] } | undefined {
  const at = js.indexOf(ES_MODULE_LINE);
  if (at < 0) return undefined;
  const start = at + ES_MODULE_LINE.length;
  const names: string[] = [];
  let end = start;
  for (;;) {
    const m = PREAMBLE_LINE.exec(js.slice(end));
    if (!m) break;
    const lineNames = [...m[0].matchAll(/exports\.([A-Za-z_$][\w$]*)\s*=/g)].map((x) => x[1]);
    // Only names the cell itself declares: `x = void 0;` for an earlier cell's x is the user's own line.
    if (!lineNames.every((n) => declared.has(n))) break;
    names.push(...lineNames);
    end += m[0].length;
  }
  return names.length ? { start, end, names } : undefined;
}

/** The top-level names a cell's TypeScript source declares (variables, functions, classes, enums, imports). */
export function declaredNames(src: string): Set<string> {
  const t = ts();
  const file = t.createSourceFile("cell.ts", src, t.ScriptTarget.Latest, true, t.ScriptKind.TS);
  const names = new Set<string>();
  const binding = (n: TS.BindingName) => {
    if (t.isIdentifier(n)) names.add(n.text);
    else for (const e of n.elements) if (!t.isOmittedExpression(e)) binding(e.name);
  };
  for (const st of file.statements) {
    if (t.isVariableStatement(st)) for (const d of st.declarationList.declarations) binding(d.name);
    else if (t.isImportDeclaration(st)) {
      const c = st.importClause;
      if (c?.name) names.add(c.name.text);
      const nb = c?.namedBindings;
      if (nb && t.isNamespaceImport(nb)) names.add(nb.name.text);
      if (nb && t.isNamedImports(nb)) for (const e of nb.elements) names.add(e.name.text);
    } else if (t.isImportEqualsDeclaration(st)) names.add(st.name.text);
    else {
      const name = (st as { name?: TS.Node }).name;
      if (name && t.isIdentifier(name)) names.add(name.text);
    }
  }
  return names;
}

/** The names the cell declares, from TypeScript's `exports.a = exports.b = void 0;` lines. */
export function exportsPreamble(js: string, declared: Set<string>): string[] {
  return preamble(js, declared)?.names ?? [];
}

export function stripExportsPreamble(js: string, declared: Set<string>): string {
  const found = preamble(js, declared);
  return found ? js.slice(0, found.start) + js.slice(found.end) : js;
}

/** IPython's rule: the cell's last statement is an expression that ends with `;`. */
export function silencedByTrailingSemicolon(src: string): boolean {
  if (!src.includes(";")) return false;
  const t = ts();
  const file = t.createSourceFile("cell.ts", src, t.ScriptTarget.Latest, true, t.ScriptKind.TS);
  const last = file.statements[file.statements.length - 1];
  if (!last || !t.isExpressionStatement(last)) return false;
  return src.slice(last.getStart(file), last.getEnd()).trimEnd().endsWith(";");
}

interface DeclPiece {
  names: string[];
  text: string;
}

/** The top-level statements of a declaration text, a variable statement split into one per name. */
function declPieces(decl: string): DeclPiece[] {
  const t = ts();
  const file = t.createSourceFile("decl.d.ts", decl, t.ScriptTarget.Latest, true, t.ScriptKind.TS);
  const pieces: DeclPiece[] = [];
  for (const st of file.statements) {
    const text = decl.slice(st.getStart(file), st.getEnd());
    if (t.isVariableStatement(st)) {
      const list = st.declarationList;
      const kind = list.flags & t.NodeFlags.Const ? "const" : list.flags & t.NodeFlags.Let ? "let" : "var";
      const simple = list.declarations.every((d) => t.isIdentifier(d.name));
      if (simple && list.declarations.length > 1) {
        for (const d of list.declarations) {
          pieces.push({ names: [(d.name as TS.Identifier).text], text: `declare ${kind} ${decl.slice(d.getStart(file), d.getEnd())};` });
        }
        continue;
      }
      const names: string[] = [];
      const collect = (n: TS.BindingName) => {
        if (t.isIdentifier(n)) names.push(n.text);
        else for (const e of n.elements) if (!t.isOmittedExpression(e)) collect(e.name);
      };
      for (const d of list.declarations) collect(d.name);
      pieces.push({ names, text });
      continue;
    }
    if (t.isImportDeclaration(st)) {
      const names: string[] = [];
      const clause = st.importClause;
      if (clause?.name) names.push(clause.name.text);
      const nb = clause?.namedBindings;
      if (nb && t.isNamespaceImport(nb)) names.push(nb.name.text);
      if (nb && t.isNamedImports(nb)) for (const e of nb.elements) names.push(e.name.text);
      pieces.push({ names, text });
      continue;
    }
    if (t.isImportEqualsDeclaration(st)) {
      pieces.push({ names: [st.name.text], text });
      continue;
    }
    const name = (st as { name?: TS.Node }).name;
    pieces.push({ names: name && t.isIdentifier(name) ? [name.text] : [], text });
  }
  return pieces;
}

/**
 * The declarations to carry into the next cell after a cell failed: `newDecl` (what the failed cell
 * would have declared, earlier cells included) without the names in `notRun` (declared by the cell but
 * never reached), and the earlier cells' declarations of those names from `oldDecl`.
 */
export function mergeDeclarations(newDecl: string, oldDecl: string, notRun: Set<string>): string {
  if (notRun.size === 0) return newDecl;
  const kept = declPieces(newDecl).filter((p) => p.names.length === 0 || !p.names.every((n) => notRun.has(n)));
  const restored = declPieces(oldDecl).filter((p) => p.names.length > 0 && p.names.every((n) => notRun.has(n)));
  // A statement of several names where only some ran (`import { a, b }`) is kept whole.
  return [...kept, ...restored].map((p) => p.text).join("\n") + "\n";
}
