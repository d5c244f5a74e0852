/**
 * Tabular data from a CSV file with a header row (parsed with csv-parse).
 *
 * What the loader decides, and how to change it (everything it decided is in `ds.inferred`, its
 * notices in `ds.notices`, and both are shown when the dataset is displayed):
 *
 * - Header: every column must have its own name. A name used twice is refused with an error naming
 *   the column and its positions (1-based); nothing is renamed behind your back.
 * - Missing values: a cell is missing when it is empty or one of `DEFAULT_MISSING_VALUES` ("NA",
 *   "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "?", "-", ...; `missingValues` replaces the
 *   list). A column is numeric when every value that is not missing is a number, so one "n/a" does
 *   not turn a numeric column into categories. What happens to missing values is `missing`:
 *   "fail" (default) stops with an error naming the column, the row (the header is row 1) and the
 *   options; "drop" leaves out every row with a missing value in a feature or the label; "fill"
 *   fills feature cells with `fillValue` (one value, or one per column), else with the column's
 *   mean (numeric) or most frequent value (categorical; ties: the first in sorted order). A label is
 *   never filled: under "fill", rows without a label are left out (with a notice).
 * - Identifiers: a feature column (not named in `features`) with at least 10 rows whose values are
 *   all different is an identifier when its values are text, or whole numbers that are consecutive
 *   (1, 2, 3, ... in any order) or in a column named like an id ("id", "user_id", "userId", "ID",
 *   "index", "row", "Unnamed: 0", ...; distinct real numbers are never an identifier). It is left out with a notice instead of being one-hot encoded into
 *   one input per row; `keepIdColumns: true` keeps such columns, `drop` leaves out others by name.
 * - Features: a numeric column is one input; any other column is categorical, one-hot encoded
 *   (default; one input per category, named "column=value", categories in sorted order) or replaced
 *   by the category's index (`categorical: "index"`).
 * - Label: when every label value is a number, classes are by value ("1", "1.0" and " 1 " are the
 *   class "1"; names are the shortest form of the number, sorted by value). The label makes a
 *   classification set when its values are not all numbers, or are whole numbers with at most 20
 *   distinct values; otherwise a regression set (targets [1]). `task` overrides the guess.
 *
 * `head()` and `describe()` show the cells as read (a missing number as NaN, which describe()'s
 * count leaves out). `inferred`, `notices`, `featureNames` and the display of the inference belong to
 * the dataset csv() returns; split(), take() and shuffled() give plain datasets.
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "csv-parse/sync";
import { DataFormatError } from "./errors";
import { fromTensors, withTable, type InMemoryDataset } from "./tensor_dataset";
import { DataTable } from "./table";
import { escapeHtml } from "../util/html";
import { DISPLAY_SYMBOL, display, type MimeBundle } from "../display/display";

/** What happens to rows with missing values: see the module comment. */
export type CsvMissing = "fail" | "drop" | "fill";

export interface CsvOptions {
  /** The target column's name. */
  label: string;
  /** Feature columns (default: every column but the label, the `drop` columns and identifiers). */
  features?: readonly string[];
  /** How categorical features become numbers (default "onehot"). */
  categorical?: "onehot" | "index";
  /** Classification or regression (default "auto", see the module comment). */
  task?: "auto" | "classification" | "regression";
  /** Field delimiter (default ","). */
  delimiter?: string;
  /** Rows with missing values: "fail" (default), "drop" the rows, or "fill" the feature cells. */
  missing?: CsvMissing;
  /** With missing: "fill": the value for every feature column, or one per column name (default: mean / most frequent). */
  fillValue?: number | string | Readonly<Record<string, number | string>>;
  /** The cell texts that mean "missing" (default DEFAULT_MISSING_VALUES; the empty cell is always missing). */
  missingValues?: readonly string[];
  /** Keep columns that look like identifiers as features (default false: left out with a notice). */
  keepIdColumns?: boolean;
  /** Columns to leave out (with the default features). */
  drop?: readonly string[];
}

/** What the loader made of one column of the file. */
export interface CsvColumnInfo {
  name: string;
  /** 1-based position in the header. */
  position: number;
  /**
   * "label"; "numeric" or "categorical" (a feature); "identifier" (left out, see keepIdColumns);
   * "dropped" (named in `drop`); "unused" (not in `features`).
   */
  kind: "label" | "numeric" | "categorical" | "identifier" | "dropped" | "unused";
  /** Whether every value that is not missing is a number. */
  numericValues: boolean;
  /** Distinct values that are not missing (numbers by value), over all rows of the file. */
  distinct: number;
  /** Missing cells, over all rows of the file. */
  missing: number;
  /** Inputs the column makes (0 for the label and for left-out columns). */
  inputs: number;
  /** The label's classes, in class-index order (classification). */
  classes?: string[];
  /** A categorical feature's categories, in encoding order. */
  categories?: string[];
  /** The value missing cells were filled with (missing: "fill"). */
  fill?: number | string;
  /** How the fill value was chosen. */
  fillFrom?: "fillValue" | "mean" | "most frequent";
}

/** Everything csv() inferred from the file. */
export interface CsvInference {
  file: string;
  label: string;
  task: "classification" | "regression";
  /** Data rows in the file (after the header). */
  rowsRead: number;
  /** Rows kept as samples. */
  samples: number;
  /** Every column of the file, in file order. */
  columns: CsvColumnInfo[];
  /** Columns left out: identifiers and `drop` columns. */
  droppedColumns: string[];
  /** Rows left out for missing values, as row numbers of the file (the header is row 1). */
  droppedRows: number[];
  missing: CsvMissing;
  /** What the loader did that you might not expect, one sentence each. */
  notices: string[];
}

/** A CSV dataset: the names of its input columns (after encoding) and the categories it found. */
export type CsvDataset = InMemoryDataset & {
  featureNames: string[];
  /** For each categorical feature column, its categories in encoding order. */
  categories: Record<string, string[]>;
  /** What the loader inferred: per column its kind, classes, missing count; left-out columns and rows; notices. */
  inferred: CsvInference;
  /** The same as inferred.notices. */
  notices: string[];
  /** inferred.columns as a table (one row per column of the file), as the dataset's display shows it. */
  inferredTable(): DataTable;
  /** The first n rows as read (text categories, the label column), row labels = row numbers from 0. */
  head(n?: number): DataTable;
  /** count, mean, std, min, 25%, 50%, 75%, max of each numeric column, as pandas' describe(). */
  describe(): DataTable;
};

/** Cell texts read as missing (pandas' defaults plus "?" and "-"); the empty cell is always missing. */
export const DEFAULT_MISSING_VALUES: readonly string[] = [
  // pandas' read_csv defaults, exactly ("-", "?" and "none" can be real categories: add them with missingValues).
  "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

const MAX_AUTO_CLASSES = 20;
/** Columns with fewer rows are never taken for identifiers. */
const MIN_ID_ROWS = 10;
/** "id", "user_id", "user id", "userId", "userID", "index", "row", "Unnamed: 0", ... (not "paid" or "valid"). */
function looksLikeIdName(c: string): boolean {
  return /^(ids?|index|idx|row|rowid|row_?num(ber)?|unnamed(: ?\d+)?|key|uuid|guid)$/i.test(c) || /[_\s.-]id$/i.test(c) || /[a-z0-9](Id|ID)$/.test(c);
}
/** The display lists this many columns of the inference (inferredTable() has them all). */
const SHOWN_COLUMNS = 30;
/** A one-hot column with more categories than this (and than half its rows) gets a notice. */
const MANY_CATEGORIES = 100;

function isNumber(v: string): boolean {
  return v.trim() !== "" && Number.isFinite(Number(v));
}

/** The shortest text of a number ("1.0" and " 1 " are "1"). */
function numberName(v: string): string {
  return String(Number(v));
}

function plural(n: number, one: string, many = one + "s"): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "row 6", "rows 3, 5, 6", "rows 2, 3, ... (40 in all)": row numbers of the file (the header is row 1). */
function listRows(rows: number[]): string {
  return (rows.length === 1 ? "row " : "rows ") + rows.slice(0, 10).join(", ") + (rows.length > 10 ? `, ... (${rows.length} in all)` : "");
}

export function csv(file: string, options: CsvOptions): CsvDataset {
  if (!options || typeof options.label !== "string") throw new Error(`csv(): pass { label: "<target column>" }.`);
  const missingMode = options.missing ?? "fail";
  if (!["fail", "drop", "fill"].includes(missingMode)) throw new Error(`csv(): missing must be "fail", "drop" or "fill"; got ${JSON.stringify(options.missing)}.`);
  if (options.fillValue !== undefined && missingMode !== "fill") throw new Error(`csv(): fillValue is used with missing: "fill"; pass that too.`);
  const text = fs.readFileSync(file, "utf8");
  const name = path.basename(file);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { columns: false, info: true, skip_empty_lines: true, trim: true, delimiter: options.delimiter ?? ",", bom: true }) as unknown as typeof records;
  } catch (err) {
    throw new DataFormatError(`${name}: cannot parse the CSV: ${(err as Error).message}`);
  }
  if (records.length === 0) throw new DataFormatError(`${name}: the file is empty (no header row).`);
  const columns = records[0].record;
  const positions = new Map<string, number[]>();
  columns.forEach((c, i) => positions.set(c, [...(positions.get(c) ?? []), i + 1]));
  const duplicated = [...positions].filter(([, at]) => at.length > 1);
  if (duplicated.length) {
    throw new DataFormatError(`${name}: the header names ${duplicated.map(([c, at]) => `column "${c}" ${at.length} times (columns ${at.join(", ")})`).join("; ")}. ` +
      `Give each column its own name in the file; csv() does not pick one of them for you.`);
  }
  const body = records.slice(1);
  if (body.length === 0) throw new DataFormatError(`${name}: no data rows after the header.`);
  const rows = body.map((r) => r.record);
  /** The file's row number of data row i (the header is row 1), with its line when they differ. */
  const rowName = (i: number) => `row ${i + 2}${body[i].info.lines !== i + 2 ? ` (line ${body[i].info.lines})` : ""}`;
  const col = new Map(columns.map((c, i) => [c, i]));
  const check = (c: string, what = "column") => {
    if (!col.has(c)) throw new Error(`csv(): ${name} has no ${what} "${c}"; its columns are ${columns.join(", ")}.`);
  };
  check(options.label);
  const label = options.label;
  const markers = new Set(["", ...(options.missingValues ?? DEFAULT_MISSING_VALUES)]);
  const isMissing = (v: string) => markers.has(v.trim());

  // What each column of the file holds.
  const stats = columns.map((c, j) => {
    let missing = 0;
    let numeric = true;
    let integer = true;
    const present: string[] = [];
    for (const r of rows) {
      const v = r[j];
      if (isMissing(v)) { missing++; continue; }
      present.push(v);
      if (!isNumber(v)) numeric = false;
      else if (!Number.isInteger(Number(v))) integer = false;
    }
    numeric = numeric && present.length > 0;
    const distinct = new Set(numeric ? present.map(numberName) : present).size;
    return { name: c, missing, numeric, integer: numeric && integer, present, distinct };
  });
  const stat = (c: string) => stats[col.get(c)!];

  if (options.fillValue !== null && typeof options.fillValue === "object") Object.keys(options.fillValue).forEach((c) => check(c, "column for fillValue"));
  const drop = options.drop ? [...options.drop] : [];
  drop.forEach((c) => check(c, "column to drop"));
  if (drop.includes(label)) throw new Error(`csv(): the label column "${label}" cannot be in drop.`);
  if (options.features && drop.length) throw new Error(`csv(): pass features or drop, not both (features lists the columns to use).`);
  const notices: string[] = [];
  const identifiers: string[] = [];
  let features: string[];
  if (options.features) {
    features = [...options.features];
    features.forEach((c) => check(c));
    if (features.includes(label)) throw new Error(`csv(): the label column "${label}" cannot also be a feature.`);
  } else {
    features = columns.filter((c) => c !== label && !drop.includes(c));
  }
  const idReason = (c: string): string | undefined => {
    const s = stat(c);
    if (s.present.length < MIN_ID_ROWS || s.distinct !== s.present.length) return undefined;
    if (!s.numeric) return `${s.distinct} different text values in ${s.present.length} rows; one-hot encoded it would make ${s.distinct} inputs`;
    if (!s.integer) return undefined;
    const values = s.present.map(Number);
    const min = values.reduce((a, b) => Math.min(a, b));
    const max = values.reduce((a, b) => Math.max(a, b));
    // Consecutive whole numbers are an identifier only with an id-like name: x = 0..n, year, rank are data.
    if (max - min === values.length - 1 && looksLikeIdName(c)) return `the whole numbers ${min} to ${max}, each once, and its name says id`;
    if (looksLikeIdName(c)) return `${s.distinct} different whole numbers in ${s.present.length} rows, and its name says id`;
    return undefined;
  };
  for (const c of [...features]) {
    const why = idReason(c);
    if (!why) continue;
    if (options.features) notices.push(`Column "${c}" looks like an identifier (${why}); it is kept because features names it.`);
    else if (options.keepIdColumns) notices.push(`Column "${c}" looks like an identifier (${why}); it is kept (keepIdColumns: true).`);
    else {
      identifiers.push(c);
      features = features.filter((f) => f !== c);
      notices.push(`Left out column "${c}" as an identifier (${why}). Pass keepIdColumns: true to keep it as a feature.`);
    }
  }
  if (features.length === 0) {
    throw new Error(`csv(): ${name} has no feature columns besides "${label}"` +
      (identifiers.length ? ` (left out as identifiers: ${identifiers.join(", ")}; pass keepIdColumns: true to keep them).` : "."));
  }

  // Missing values.
  const used = [...features, label];
  const usedIdx = used.map((c) => col.get(c)!);
  let keep = rows.map((_, i) => i);
  const droppedRows: number[] = [];
  const fills = new Map<string, { value: string; from: "fillValue" | "mean" | "most frequent" }>();
  const missingCells = (c: string) => keep.filter((i) => isMissing(rows[i][col.get(c)!]));
  const totalMissing = used.reduce((n, c) => n + stat(c).missing, 0);
  if (totalMissing > 0) {
    if (missingMode === "fail") {
      const i = rows.findIndex((r) => usedIdx.some((j) => isMissing(r[j])));
      const c = used[usedIdx.findIndex((j) => isMissing(rows[i][j]))];
      const v = rows[i][col.get(c)!];
      const counts = used.filter((u) => stat(u).missing > 0).map((u) => `"${u}" ${stat(u).missing}`).join(", ");
      throw new DataFormatError(`${name}: ${rowName(i)} has no value in column "${c}" (${v === "" ? "an empty cell" : JSON.stringify(v)}, read as missing). ` +
        `Missing values per column: ${counts}. Pass missing: "drop" to leave out the rows with missing values, or missing: "fill" ` +
        `to fill feature cells (with fillValue, else the column's mean or most frequent value); missingValues sets which texts mean missing.`);
    }
    const rowHasMissing = (i: number, cols: number[]) => cols.some((j) => isMissing(rows[i][j]));
    const dropCols = missingMode === "drop" ? usedIdx : [col.get(label)!];
    keep = keep.filter((i) => {
      if (!rowHasMissing(i, dropCols)) return true;
      droppedRows.push(i + 2);
      return false;
    });
    if (droppedRows.length) {
      notices.push(missingMode === "drop"
        ? `Left out ${plural(droppedRows.length, "row")} with missing values (missing: "drop"): ${listRows(droppedRows)}.`
        : `Left out ${plural(droppedRows.length, "row")} without a value in the label column "${label}" (a label is never filled): ${listRows(droppedRows)}.`);
    }
    if (keep.length === 0) throw new DataFormatError(`${name}: every row has a missing value${missingMode === "fill" ? ` in the label column "${label}"` : ""}; no rows are left.`);
    if (missingMode === "fill") {
      for (const c of features) {
        const gaps = missingCells(c);
        if (gaps.length === 0) continue;
        const s = stat(c);
        const j = col.get(c)!;
        const given = options.fillValue === undefined ? undefined
          : typeof options.fillValue === "object" ? options.fillValue[c] : options.fillValue;
        let fill: { value: string; from: "fillValue" | "mean" | "most frequent" };
        const presentKept = keep.map((i) => rows[i][j]).filter((v) => !isMissing(v));
        if (given !== undefined) {
          if (s.numeric && !isNumber(String(given))) throw new Error(`csv(): fillValue for the numeric column "${c}" must be a number; got ${JSON.stringify(given)}.`);
          fill = { value: String(given), from: "fillValue" };
        } else if (presentKept.length === 0) {
          throw new DataFormatError(`${name}: column "${c}" has no values to fill its missing cells from; pass fillValue or drop: ["${c}"].`);
        } else if (s.numeric) {
          fill = { value: String(presentKept.reduce((a, v) => a + Number(v), 0) / presentKept.length), from: "mean" };
        } else {
          const counts = new Map<string, number>();
          for (const v of presentKept) counts.set(v, (counts.get(v) ?? 0) + 1);
          const best = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))[0][0];
          fill = { value: best, from: "most frequent" };
        }
        fills.set(c, fill);
        notices.push(`Filled ${plural(gaps.length, "missing value")} in column "${c}" with ${s.numeric ? Number(fill.value) : JSON.stringify(fill.value)} ` +
          `(${fill.from === "fillValue" ? "fillValue" : fill.from === "mean" ? "the column's mean" : "the column's most frequent value"}).`);
      }
    }
  }
  /** The cell of sample i (a kept row) in column c, missing cells filled. */
  const cell = (r: string[], c: string) => {
    const v = r[col.get(c)!];
    return isMissing(v) ? fills.get(c)!.value : v;
  };
  const kept = keep.map((i) => rows[i]);

  const numeric = new Map<string, boolean>();
  for (const c of used) numeric.set(c, stat(c).numeric);
  const categories: Record<string, string[]> = {};
  const featureNames: string[] = [];
  const mode = options.categorical ?? "onehot";
  for (const c of features) {
    if (numeric.get(c)) featureNames.push(c);
    else {
      categories[c] = [...new Set(kept.map((r) => cell(r, c)))].sort();
      if (mode === "onehot") {
        featureNames.push(...categories[c].map((v) => `${c}=${v}`));
        const k = categories[c].length;
        if (k > MANY_CATEGORIES && k > kept.length / 2) {
          notices.push(`Column "${c}" has ${k} categories in ${kept.length} rows, one-hot encoded as ${k} inputs; consider drop: ["${c}"] or categorical: "index".`);
        }
      } else featureNames.push(c);
    }
  }
  const d = featureNames.length;
  const x = new Float32Array(kept.length * d);
  const catIndex = new Map(Object.entries(categories).map(([c, cats]) => [c, new Map(cats.map((v, i) => [v, i]))]));
  kept.forEach((r, i) => {
    let o = i * d;
    for (const c of features) {
      const v = cell(r, c);
      if (numeric.get(c)) x[o++] = Number(v);
      else if (mode === "onehot") {
        x[o + catIndex.get(c)!.get(v)!] = 1;
        o += categories[c].length;
      } else x[o++] = catIndex.get(c)!.get(v)!;
    }
  });

  // The label: numbers by value when every label is a number.
  const labelNumeric = numeric.get(label)!;
  const labelValues = kept.map((r) => (labelNumeric ? numberName(r[col.get(label)!]) : r[col.get(label)!]));
  let task = options.task ?? "auto";
  if (task === "auto") {
    const distinct = new Set(labelValues);
    task = !labelNumeric || (labelValues.every((v) => Number.isInteger(Number(v))) && distinct.size <= MAX_AUTO_CLASSES)
      ? "classification"
      : "regression";
  }
  let ds: InMemoryDataset;
  let classes: string[] | undefined;
  if (task === "classification") {
    const distinct = [...new Set(labelValues)];
    classes = labelNumeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort();
    const index = new Map(classes.map((v, i) => [v, i]));
    const y = Int32Array.from(labelValues, (v) => index.get(v)!);
    ds = fromTensors(x, y, { inputShape: [d], classes, name });
  } else {
    if (!labelNumeric) throw new Error(`csv(): regression needs a numeric label; column "${label}" has text values.`);
    ds = fromTensors(x, Float32Array.from(labelValues, Number), { inputShape: [d], name });
  }
  // The cells as read, for head() and describe() (they survive split, take and shuffled); a missing
  // number is NaN.
  const shown = columns.filter((c) => used.includes(c));
  const shownIdx = shown.map((c) => col.get(c)!);
  ds = withTable(ds, {
    columns: shown,
    numeric: shown.map((c) => numeric.get(c)!),
    rows: kept.map((r) => shownIdx.map((j) => (stats[j].numeric && isMissing(r[j]) ? "NaN" : r[j]))),
  });

  const infoColumns: CsvColumnInfo[] = columns.map((c, j) => {
    const s = stats[j];
    const kind: CsvColumnInfo["kind"] = c === label ? "label"
      : identifiers.includes(c) ? "identifier"
      : drop.includes(c) ? "dropped"
      : !features.includes(c) ? "unused"
      : s.numeric ? "numeric" : "categorical";
    const info: CsvColumnInfo = {
      name: c, position: j + 1, kind, numericValues: s.numeric, distinct: s.distinct, missing: s.missing,
      inputs: kind === "numeric" ? 1 : kind === "categorical" ? (mode === "onehot" ? categories[c].length : 1) : 0,
    };
    if (kind === "label" && classes) info.classes = [...classes];
    if (kind === "categorical") info.categories = [...categories[c]];
    const f = fills.get(c);
    if (f) { info.fill = s.numeric ? Number(f.value) : f.value; info.fillFrom = f.from; }
    return info;
  });
  const inferred: CsvInference = {
    file: name, label, task, rowsRead: rows.length, samples: kept.length, columns: infoColumns,
    droppedColumns: [...identifiers, ...drop], droppedRows, missing: missingMode, notices,
  };
  if (notices.length) display(notices.map((n) => `Notice: ${name}: ${n}`).join("\n"));
  const baseDisplay = (ds as any)[DISPLAY_SYMBOL].bind(ds) as () => MimeBundle;
  const out = Object.assign(ds, {
    featureNames, categories, inferred, notices,
    inferredTable: () => inferenceTable(inferred),
  }) as CsvDataset;
  (out as any)[DISPLAY_SYMBOL] = (): MimeBundle => withInference(baseDisplay(), inferred);
  return out;
}

/** One row per column of the file: its kind, values, missing cells, inputs and details. */
export function inferenceTable(inf: CsvInference): DataTable {
  const some = (v: string[], n = 6) => v.slice(0, n).join(", ") + (v.length > n ? `, ... (${v.length})` : "");
  const rows = inf.columns.map((c) => {
    let details = "";
    if (c.kind === "label") details = c.classes ? `${plural(c.classes.length, "class", "classes")}: ${some(c.classes)}` : "regression target";
    else if (c.kind === "categorical") details = `categories: ${some(c.categories!)}`;
    else if (c.kind === "identifier") details = "left out (keepIdColumns: true keeps it)";
    else if (c.kind === "dropped") details = "left out (drop)";
    else if (c.kind === "unused") details = "not in features";
    if (c.fill !== undefined) details += `${details ? "; " : ""}missing filled with ${c.fill} (${c.fillFrom})`;
    return [c.kind, c.numericValues ? "numbers" : "text", c.distinct, c.missing, c.inputs, details];
  });
  const title = `${inf.file}: ${inf.samples} of ${inf.rowsRead} rows as samples, ${inf.task}` +
    (inf.droppedColumns.length ? `, left out: ${inf.droppedColumns.join(", ")}` : "");
  return new DataTable(["kind", "values", "distinct", "missing", "inputs", "details"], rows, inf.columns.map((c) => c.name), title);
}

/** The dataset's display with the inference table and the notices after it. */
function withInference(bundle: MimeBundle, inf: CsvInference): MimeBundle {
  let table = inferenceTable(inf);
  if (table.rows.length > SHOWN_COLUMNS) {
    const more = `${table.title}; the first ${SHOWN_COLUMNS} of ${table.rows.length} columns (inferredTable() lists all)`;
    table = new DataTable(table.columns, table.rows.slice(0, SHOWN_COLUMNS), table.index.slice(0, SHOWN_COLUMNS), more);
  }
  const notes = inf.notices.map((n) => `Notice: ${n}`);
  const out: MimeBundle = { ...bundle };
  if (typeof bundle["text/plain"] === "string") {
    out["text/plain"] = [bundle["text/plain"], "", "columns as inferred:", table.toString(), ...notes].join("\n");
  }
  if (typeof bundle["text/html"] === "string") {
    const html = bundle["text/html"];
    const extra = `<div class="lepton-csv-inferred"><b>columns as inferred</b>${table.toHtml()}` +
      (notes.length ? `<ul class="lepton-notices">${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>` : "") + `</div>`;
    out["text/html"] = html.endsWith("</div>") ? html.slice(0, -"</div>".length) + extra + "</div>" : html + extra;
  }
  return out;
}

