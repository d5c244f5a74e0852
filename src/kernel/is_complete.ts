/**
 * Jupyter's `is_complete_request` for TypeScript cells: is the code ready to run ("complete"), does it
 * need more lines ("incomplete", with the indent for the next line), or is it a syntax error that no
 * further input can fix ("invalid", which a console runs at once so that the error shows)?
 *
 * It parses with the TypeScript that tslab compiles cells with. A parse error that lies before the end
 * of the code (anything after it being whitespace or comments) cannot be fixed by typing more: invalid.
 * Errors only at the end (an unclosed bracket, block, template literal or comment, a missing operand
 * after a binary operator, `if (x)` with no body, `x.`) wait for more input: incomplete. An unterminated
 * '...' or "..." string is invalid, as IPython answers for Python: the newline that comes with the next
 * line ends such a string, so more input cannot close it; with a trailing backslash (a line
 * continuation) it is incomplete.
 *
 * Unlike tslab's isCompleteCode, a trailing blank line does not force "complete": blank lines inside a
 * class or function body are ordinary in TypeScript. Frontends run incomplete code on request anyway
 * (JupyterLab's console: Shift+Enter; jupyter console: Esc Enter).
 */
import type * as TS from "typescript";
import { typescript } from "./tslab";

export type IsCompleteStatus = "complete" | "incomplete" | "invalid";

/** The content of an `is_complete_reply` (status "ok" is not part of it: the spec has none). */
export interface IsCompleteResult {
  status: IsCompleteStatus;
  /** Only with "incomplete": the whitespace to start the next line with. */
  indent?: string;
}

export interface IsCompleteOptions {
  /** What a newly opened block adds to the indent: four spaces unless told otherwise. */
  indentUnit?: string;
}

/** Diagnostic codes of TypeScript 5.0's scanner and parser that this module tells apart. */
const UNTERMINATED_STRING = 1002;
const COMMENT_NOT_CLOSED = 1010; // "'*/' expected."
const UNEXPECTED_END_OF_TEXT = 1126; // an escape sequence cut off by the end
const INVALID_CHARACTER = 1127;
const UNTERMINATED_TEMPLATE = 1160;
const UNTERMINATED_REGEXP = 1161;

/** Only whitespace and comments (the last one possibly unclosed) from here to the end. */
const TRIVIA_TO_END = /^(?:\s|\/\/[^\n\r\u2028\u2029]*|\/\*[\s\S]*?(?:\*\/|$))*$/;

const LINE_BREAK = /\r\n|[\n\r\u2028\u2029]/;

type Where = "code" | "literal" | "comment";

/** Whether `code` is a complete TypeScript cell, needs more lines, or is a syntax error more lines cannot fix. */
export function isComplete(code: string, options: IsCompleteOptions = {}): IsCompleteResult {
  const unit = options.indentUnit ?? "    ";
  if (code.trim() === "") return { status: "complete" };
  const ts = typescript();
  const file = ts.createSourceFile("cell.ts", code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const diagnostics: readonly TS.DiagnosticWithLocation[] = (file as any).parseDiagnostics ?? [];

  let where: Where | undefined;
  for (const d of diagnostics) {
    const start = d.start ?? 0;
    if (!TRIVIA_TO_END.test(code.slice(start))) return { status: "invalid" };
    switch (d.code) {
      case UNTERMINATED_STRING:
        // Only a string whose last line ended in a backslash runs on past the newline.
        if (start === code.length && /[\n\r\u2028\u2029]$/.test(code)) where = "literal";
        else return { status: "invalid" };
        break;
      case UNTERMINATED_REGEXP:
      case INVALID_CHARACTER:
        return { status: "invalid" };
      case UNTERMINATED_TEMPLATE:
      case UNEXPECTED_END_OF_TEXT:
        where = "literal";
        break;
      case COMMENT_NOT_CLOSED:
        where ??= "comment";
        break;
      default:
        where ??= "code";
    }
  }
  if (!where) {
    if (!endsInOpenDeclarationList(ts, file)) return { status: "complete" };
    where = "code";
  }
  // Whitespace typed into a template literal or a continued string would become part of the string.
  if (where === "literal") return { status: "incomplete", indent: "" };
  return { status: "incomplete", indent: nextIndent(ts, file, code, unit, where) };
}

/** `const` with nothing after it, or `let a = 1,`: the parser accepts both and leaves them to the checker. */
function endsInOpenDeclarationList(ts: typeof TS, file: TS.SourceFile): boolean {
  const last = file.statements[file.statements.length - 1];
  if (!last || !ts.isVariableStatement(last)) return false;
  const list = last.declarationList.declarations;
  return list.length === 0 || !!list.hasTrailingComma;
}

interface Open {
  kind: "(" | "[" | "{" | "${";
  line: number;
  /** The token before an "(": a header keyword makes `if (x)` want a body. */
  before?: TS.SyntaxKind;
}

/**
 * The indent for the next line: the last non-blank line's indent, plus one unit when that line opened a
 * bracket that is still open or ends a header that wants a body (`if (x)`, `for (...)`, `while (...)`,
 * `else`, `do`, `=>`).
 */
function nextIndent(ts: typeof TS, file: TS.SourceFile, code: string, unit: string, where: Where): string {
  const lines = code.split(LINE_BREAK);
  let ref = lines.length - 1;
  while (ref > 0 && lines[ref].trim() === "") ref--;
  const current = /^[ \t]*/.exec(lines[ref])![0];
  if (where === "comment") return current;

  const { stack, last, lastOpen } = scanBrackets(ts, file, code);
  const top = stack[stack.length - 1];
  if (top && top.line === ref) return current + unit;
  const K = ts.SyntaxKind;
  if (last === K.ElseKeyword || last === K.DoKeyword || last === K.EqualsGreaterThanToken) return current + unit;
  if (last === K.CloseParenToken && lastOpen?.kind === "(" && lastOpen.before !== undefined &&
      [K.IfKeyword, K.ForKeyword, K.WhileKeyword, K.WithKeyword].includes(lastOpen.before)) {
    return current + unit;
  }
  return current;
}

/** The brackets still open at the end (innermost last), the last token, and the bracket the last ")" closed. */
function scanBrackets(ts: typeof TS, file: TS.SourceFile, code: string) {
  const K = ts.SyntaxKind;
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, code);
  const lineOf = (pos: number) => file.getLineAndCharacterOfPosition(pos).line;
  const stack: Open[] = [];
  let last: TS.SyntaxKind | undefined;
  let beforeLast: TS.SyntaxKind | undefined;
  let lastOpen: Open | undefined;
  const endsExpression = (k: TS.SyntaxKind | undefined) =>
    k !== undefined && (k === K.Identifier || k === K.CloseParenToken || k === K.CloseBracketToken ||
      k === K.NumericLiteral || k === K.BigIntLiteral || k === K.StringLiteral || k === K.RegularExpressionLiteral ||
      k === K.NoSubstitutionTemplateLiteral || k === K.TemplateTail || k === K.ThisKeyword || k === K.SuperKeyword ||
      k === K.TrueKeyword || k === K.FalseKeyword || k === K.NullKeyword || k === K.PlusPlusToken ||
      k === K.MinusMinusToken);
  for (let guard = 0; guard <= code.length + 1; guard++) {
    let kind = scanner.scan();
    if (kind === K.EndOfFileToken) break;
    const pos = scanner.getTokenPos();
    if ((kind === K.SlashToken || kind === K.SlashEqualsToken) && !endsExpression(last)) kind = scanner.reScanSlashToken();
    switch (kind) {
      case K.OpenParenToken:
        stack.push({ kind: "(", line: lineOf(pos), before: last === K.AwaitKeyword && beforeLast === K.ForKeyword ? K.ForKeyword : last });
        break;
      case K.OpenBracketToken:
        stack.push({ kind: "[", line: lineOf(pos) });
        break;
      case K.OpenBraceToken:
        stack.push({ kind: "{", line: lineOf(pos) });
        break;
      case K.TemplateHead:
        stack.push({ kind: "${", line: lineOf(pos) });
        break;
      case K.CloseParenToken:
      case K.CloseBracketToken:
        lastOpen = stack.pop();
        break;
      case K.CloseBraceToken:
        if (stack[stack.length - 1]?.kind === "${") {
          kind = scanner.reScanTemplateToken(false);
          if (kind === K.TemplateTail) stack.pop();
        } else lastOpen = stack.pop();
        break;
    }
    beforeLast = last;
    last = kind;
  }
  return { stack, last, lastOpen };
}
