/**
 * Tabular data from a CSV file with a header row (parsed with csv-parse).
 *
 * Columns: a column whose every value is a number is numeric; any other column is categorical.
 * Categorical features are one-hot encoded (default; one input per category, named
 * "column=value", categories in sorted order) or replaced by the category's index
 * (`categorical: "index"`). The label column makes a classification set when its values are not all
 * numbers, or are whole numbers with at most 20 distinct values (classes = the distinct values,
 * sorted); otherwise a regression set (targets [1]). `task` overrides the guess.
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "csv-parse/sync";
import { DataFormatError } from "./errors";
import { fromTensors, withTable, type InMemoryDataset } from "./tensor_dataset";
import type { DataTable } from "./table";

export interface CsvOptions {
  /** The target column's name. */
  label: string;
  /** Feature columns (default: every column but the label). */
  features?: readonly string[];
  /** How categorical features become numbers (default "onehot"). */
  categorical?: "onehot" | "index";
  /** Classification or regression (default "auto", see the module comment). */
  task?: "auto" | "classification" | "regression";
  /** Field delimiter (default ","). */
  delimiter?: string;
}

/** A CSV dataset: the names of its input columns (after encoding) and the categories it found. */
export type CsvDataset = InMemoryDataset & {
  featureNames: string[];
  /** For each categorical feature column, its categories in encoding order. */
  categories: Record<string, string[]>;
  /** The first n rows as read (text categories, the label column), row labels = row numbers from 0. */
  head(n?: number): DataTable;
  /** count, mean, std, min, 25%, 50%, 75%, max of each numeric column, as pandas' describe(). */
  describe(): DataTable;
};

const MAX_AUTO_CLASSES = 20;

function isNumber(v: string): boolean {
  return v.trim() !== "" && Number.isFinite(Number(v));
}

export function csv(file: string, options: CsvOptions): CsvDataset {
  if (!options || typeof options.label !== "string") throw new Error(`csv(): pass { label: "<target column>" }.`);
  const text = fs.readFileSync(file, "utf8");
  const name = path.basename(file);
  let rows: Record<string, string>[];
  try {
    rows = parse(text, { columns: true, skip_empty_lines: true, trim: true, delimiter: options.delimiter ?? ",", bom: true });
  } catch (err) {
    throw new DataFormatError(`${name}: cannot parse the CSV: ${(err as Error).message}`);
  }
  if (rows.length === 0) throw new DataFormatError(`${name}: no data rows after the header.`);
  const columns = Object.keys(rows[0]);
  const check = (c: string) => {
    if (!columns.includes(c)) throw new Error(`csv(): ${name} has no column "${c}"; its columns are ${columns.join(", ")}.`);
  };
  check(options.label);
  const features = options.features ? [...options.features] : columns.filter((c) => c !== options.label);
  features.forEach(check);
  if (features.includes(options.label)) throw new Error(`csv(): the label column "${options.label}" cannot also be a feature.`);
  if (features.length === 0) throw new Error(`csv(): ${name} has no feature columns besides "${options.label}".`);
  rows.forEach((r, i) => {
    for (const c of [...features, options.label]) {
      if (r[c] === undefined || r[c] === "") {
        throw new DataFormatError(`${name}: row ${i + 2} (line of data ${i + 1}) has no value in column "${c}"; fill or remove it.`);
      }
    }
  });

  const numeric = new Map<string, boolean>();
  for (const c of [...features, options.label]) numeric.set(c, rows.every((r) => isNumber(r[c])));
  const categories: Record<string, string[]> = {};
  const featureNames: string[] = [];
  const mode = options.categorical ?? "onehot";
  for (const c of features) {
    if (numeric.get(c)) featureNames.push(c);
    else {
      categories[c] = [...new Set(rows.map((r) => r[c]))].sort();
      if (mode === "onehot") featureNames.push(...categories[c].map((v) => `${c}=${v}`));
      else featureNames.push(c);
    }
  }
  const d = featureNames.length;
  const x = new Float32Array(rows.length * d);
  rows.forEach((r, i) => {
    let o = i * d;
    for (const c of features) {
      if (numeric.get(c)) x[o++] = Number(r[c]);
      else if (mode === "onehot") {
        const cats = categories[c];
        x[o + cats.indexOf(r[c])] = 1;
        o += cats.length;
      } else x[o++] = categories[c].indexOf(r[c]);
    }
  });

  const labelValues = rows.map((r) => r[options.label]);
  let task = options.task ?? "auto";
  if (task === "auto") {
    const distinct = new Set(labelValues);
    task = !numeric.get(options.label) || (labelValues.every((v) => Number.isInteger(Number(v))) && distinct.size <= MAX_AUTO_CLASSES)
      ? "classification"
      : "regression";
  }
  let ds: InMemoryDataset;
  if (task === "classification") {
    const distinct = [...new Set(labelValues)];
    const classes = numeric.get(options.label) ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort();
    const y = Int32Array.from(labelValues, (v) => classes.indexOf(v));
    ds = fromTensors(x, y, { inputShape: [d], classes, name });
  } else {
    if (!numeric.get(options.label)) throw new Error(`csv(): regression needs a numeric label; column "${options.label}" has text values.`);
    ds = fromTensors(x, Float32Array.from(labelValues, Number), { inputShape: [d], name });
  }
  // The cells as read, for head() and describe() (they survive split, take and shuffled).
  const used = columns.filter((c) => c === options.label || features.includes(c));
  ds = withTable(ds, { columns: used, numeric: used.map((c) => numeric.get(c)!), rows: rows.map((r) => used.map((c) => r[c])) });
  return Object.assign(ds, { featureNames, categories });
}
