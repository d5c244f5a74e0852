/**
 * Works around a tslab converter bug: a shorthand property that names a variable of an earlier cell
 * (`train(model, data, { seed })` after `const seed = 1` in another cell) is not rewritten to
 * `exports.seed`, so the cell fails with "ReferenceError: seed is not defined". tslab rewrites plain
 * identifiers only; a shorthand property's name resolves to the property, not to the variable.
 *
 * The fix keeps tslab's type check on the user's own text (so error positions stay right) and,
 * when that passes and the cell has shorthand properties, compiles a copy in which each `{ name }`
 * is spelled `{ name: name }`, which tslab rewrites correctly. The two are the same program.
 */
import type * as TS from "typescript";

import { typescript } from "./tslab";

/** `src` with every shorthand property `{ a }` written as `{ a: a }`; the same text when there is none. */
export function expandShorthandProperties(src: string): string {
  const ts = typescript();
  const file = ts.createSourceFile("cell.ts", src, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const inserts: { pos: number; text: string }[] = [];
  const visit = (node: TS.Node): void => {
    if (ts.isShorthandPropertyAssignment(node) && !node.objectAssignmentInitializer) {
      inserts.push({ pos: node.name.getEnd(), text: `: ${node.name.text}` });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  if (inserts.length === 0) return src;
  let out = src;
  for (const { pos, text } of inserts.sort((a, b) => b.pos - a.pos)) out = out.slice(0, pos) + text + out.slice(pos);
  return out;
}

/** Convert a cell with tslab's converter, expanding shorthand properties when the cell type-checks. */
export function convertExpandingShorthand<R extends { diagnostics?: readonly unknown[] }>(
  convert: (prevDecl: string, src: string) => R,
  prevDecl: string,
  src: string,
): R {
  const result = convert(prevDecl, src);
  if (result.diagnostics && result.diagnostics.length > 0) return result;
  const expanded = expandShorthandProperties(src);
  if (expanded === src) return result;
  const fixed = convert(prevDecl, expanded);
  return fixed.diagnostics && fixed.diagnostics.length > 0 ? result : fixed;
}
