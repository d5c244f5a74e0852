/**
 * csv(): honest tabular data (issue 13, item 2). Each case writes a real CSV file and checks the
 * parsed tensors and classes against values computed here from the rows that were written.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { csv, DataFormatError } from "../src/data";
import { setDisplaySink, toMimeBundle, type DisplaySink, type MimeBundle } from "../src/display/display";

let tmp: string;
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lepton-csv-")); });
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let shown: MimeBundle[] = [];
const sink: DisplaySink = { display: (b) => shown.push(b), update: (b) => shown.push(b) };
beforeEach(() => { shown = []; setDisplaySink(sink); });
afterEach(() => setDisplaySink(undefined));

function write(name: string, lines: string[]): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

/** Every sample of the dataset, in order: x as rows of numbers, y as numbers. */
async function all(ds: { size: number; batches: (o: { batchSize: number }) => AsyncIterableIterator<{ x: tf.Tensor; y: tf.Tensor }> }) {
  const it = ds.batches({ batchSize: ds.size });
  const { value } = await it.next();
  await it.return?.(undefined);
  const d = value.x.shape[1] as number;
  const flat = Array.from(value.x.dataSync(), Number);
  const x = Array.from({ length: ds.size }, (_, i) => flat.slice(i * d, (i + 1) * d));
  const y = Array.from(value.y.dataSync(), Number);
  tf.dispose([value.x, value.y]);
  return { x, y, d };
}

/** The batch's float32 inputs equal the expected values rounded to float32. */
const close = (a: number[][], b: number[][]) => {
  expect(a).toEqual(b.map((row) => row.map(Math.fround)));
};

describe("csv: duplicated header names", () => {
  it("refuses a header that names a column twice, naming the column and its positions", () => {
    const file = write("dup.csv", ["x,y,x,kind", "1,2,3,a", "4,5,6,b"]);
    expect(() => csv(file, { label: "kind" })).toThrow(DataFormatError);
    expect(() => csv(file, { label: "kind" })).toThrow(/column "x" 2 times \(columns 1, 3\)/);
    // every duplicated name is listed
    const two = write("dup2.csv", ["a,b,a,b,a,kind", "1,2,3,4,5,c"]);
    expect(() => csv(two, { label: "kind" })).toThrow(/column "a" 3 times \(columns 1, 3, 5\); column "b" 2 times \(columns 2, 4\)/);
  });
});

describe("csv: numeric labels are classes by value", () => {
  it('"1", "1.0", " 1 " and "1.00" are one class; names are the numbers, sorted by value', async () => {
    const labels = ["1", "1.0", '" 1 "', "2", "2.00", "0", "10", "1.00", "0.0", "10.0"];
    const values = labels.map((l) => Number(l.replace(/"/g, "")));
    const file = write("numlabels.csv", ["f,grade", ...labels.map((l, i) => `${i % 3},${l}`)]);
    const ds = csv(file, { label: "grade" });
    const expectedClasses = [...new Set(values)].sort((a, b) => a - b);
    expect(expectedClasses).toEqual([0, 1, 2, 10]);
    expect(ds.classes).toEqual(expectedClasses.map(String));
    const { x, y } = await all(ds);
    expect(y).toEqual(values.map((v) => expectedClasses.indexOf(v)));
    expect(x.map((r) => r[0])).toEqual(labels.map((_, i) => i % 3));
    expect(ds.inferred.columns.find((c) => c.name === "grade")).toMatchObject({ kind: "label", classes: ["0", "1", "2", "10"], distinct: 4 });
  });
});

describe("csv: missing values", () => {
  // age is numeric with markers in rows 3 ("n/a"), 5 ("NA") and 6 (empty); colour has "None" in row 7.
  const data = [
    { age: "30", colour: "red", kind: "cat" },
    { age: "n/a", colour: "blue", kind: "dog" },
    { age: "50", colour: "red", kind: "dog" },
    { age: "NA", colour: "red", kind: "cat" },
    { age: "", colour: "blue", kind: "cat" },
    { age: "20", colour: "None", kind: "dog" },
    { age: "40", colour: "blue", kind: "cat" },
  ];
  const missing = new Set(["", "NA", "n/a", "None"]);
  const file = () => write("gaps.csv", ["age,colour,kind", ...data.map((r) => `${r.age},${r.colour},${r.kind}`)]);

  it("by default fails, naming the column, the row and the options; one n/a does not make the column categorical", () => {
    const f = write("one_na.csv", ["age,kind", "1,a", "2,b", "n/a,a", "4,b"]);
    expect(() => csv(f, { label: "kind" })).toThrow(DataFormatError);
    expect(() => csv(f, { label: "kind" })).toThrow(/row 4 has no value in column "age" \("n\/a", read as missing\).*missing: "drop".*missing: "fill"/);
    expect(() => csv(file(), { label: "kind" })).toThrow(/row 3 has no value in column "age".*"age" 3, "colour" 1/);
  });

  it('missing: "drop" leaves out the rows with a missing value; age stays one numeric input', async () => {
    const ds = csv(file(), { label: "kind", missing: "drop" });
    const kept = data.filter((r) => !missing.has(r.age) && !missing.has(r.colour));
    expect(kept.length).toBe(3);
    expect(ds.size).toBe(3);
    const colours = [...new Set(kept.map((r) => r.colour))].sort();
    expect(ds.featureNames).toEqual(["age", ...colours.map((c) => `colour=${c}`)]);
    const { x, y } = await all(ds);
    close(x, kept.map((r) => [Number(r.age), ...colours.map((c) => (c === r.colour ? 1 : 0))]));
    const classes = [...new Set(kept.map((r) => r.kind))].sort();
    expect(ds.classes).toEqual(classes);
    expect(y).toEqual(kept.map((r) => classes.indexOf(r.kind)));
    expect(ds.inferred.droppedRows).toEqual([3, 5, 6, 7]);
    expect(ds.inferred.columns.find((c) => c.name === "age")).toMatchObject({ kind: "numeric", missing: 3, inputs: 1 });
    expect(ds.notices.join("\n")).toMatch(/Left out 4 rows with missing values \(missing: "drop"\): rows 3, 5, 6, 7\./);
  });

  it('missing: "fill" fills numbers with the mean and categories with the most frequent value, or with fillValue', async () => {
    const ages = data.map((r) => r.age).filter((v) => !missing.has(v)).map(Number);
    const mean = ages.reduce((a, b) => a + b, 0) / ages.length; // (30 + 50 + 20 + 40) / 4 = 35
    expect(mean).toBe(35);
    const counts: Record<string, number> = {};
    data.forEach((r) => { if (!missing.has(r.colour)) counts[r.colour] = (counts[r.colour] ?? 0) + 1; });
    expect(counts).toEqual({ red: 3, blue: 3 }); // a tie: the first in sorted order, "blue"
    const ds = csv(file(), { label: "kind", missing: "fill" });
    expect(ds.size).toBe(data.length);
    expect(ds.featureNames).toEqual(["age", "colour=blue", "colour=red"]);
    const { x } = await all(ds);
    const filled = data.map((r) => ({ age: missing.has(r.age) ? mean : Number(r.age), colour: missing.has(r.colour) ? "blue" : r.colour }));
    close(x, filled.map((r) => [r.age, r.colour === "blue" ? 1 : 0, r.colour === "red" ? 1 : 0]));
    expect(ds.inferred.columns.find((c) => c.name === "age")).toMatchObject({ fill: 35, fillFrom: "mean", missing: 3 });
    expect(ds.inferred.columns.find((c) => c.name === "colour")).toMatchObject({ fill: "blue", fillFrom: "most frequent", missing: 1 });
    // head() shows the cells as read: the missing number as NaN; describe() counts the numbers present
    expect(ds.head(3).column("age")).toEqual([30, NaN, 50]);
    expect(ds.describe().get("count", "age")).toBe(4);

    const given = csv(file(), { label: "kind", missing: "fill", fillValue: { age: -1, colour: "unknown" } });
    expect(given.featureNames).toEqual(["age", "colour=blue", "colour=red", "colour=unknown"]);
    const g = await all(given);
    close(g.x, data.map((r) => {
      const c = missing.has(r.colour) ? "unknown" : r.colour;
      return [missing.has(r.age) ? -1 : Number(r.age), c === "blue" ? 1 : 0, c === "red" ? 1 : 0, c === "unknown" ? 1 : 0];
    }));
  });

  it("recognises the usual markers; a label is never filled; missingValues replaces the list", async () => {
    const markers = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "<NA>", "#N/A", "None"];
    const rows = [...markers.map((m, i) => [m, i % 2 ? "b" : "a"]), ["7.5", "a"], ["-2", "b"], ["", ""]];
    const f = write("markers.csv", ["v,kind", ...rows.map((r) => r.join(","))]);
    const ds = csv(f, { label: "kind", missing: "fill" });
    expect(ds.featureNames).toEqual(["v"]);
    expect(ds.inferred.columns[0]).toMatchObject({ kind: "numeric", missing: markers.length + 1, fill: (7.5 - 2) / 2 });
    // the last row has no label: left out, not filled
    expect(ds.size).toBe(rows.length - 1);
    expect(ds.inferred.droppedRows).toEqual([rows.length + 1]);
    const { x } = await all(ds);
    expect(x.map((r) => r[0])).toEqual([...markers.map(() => 2.75), 7.5, -2]);
    // with only "?" as a marker, "-" and "NA" are text, and the column is categorical
    const f2 = write("markers2.csv", ["v,kind", "1,a", "-,b", "NA,a", "?,b", "2,a"]);
    const ds2 = csv(f2, { label: "kind", missing: "drop", missingValues: ["?"] });
    expect(ds2.size).toBe(4);
    expect(ds2.categories).toEqual({ v: ["-", "1", "2", "NA"] });
  });
});

describe("csv: identifier columns", () => {
  const n = 300;
  const rows = Array.from({ length: n }, (_, i) => ({
    id: `user-${String(i).padStart(5, "0")}`,
    row_id: i + 1,
    height: 150 + ((i * 37) % 50) + 0.5,
    city: ["paris", "lima", "oslo"][i % 3],
    kind: i % 4 === 0 ? "yes" : "no",
  }));
  const file = () => write("people.csv", ["id,row_id,height,city,kind", ...rows.map((r) => `${r.id},${r.row_id},${r.height},${r.city},${r.kind}`)]);

  it("a text column with one value per row, and whole numbers 1..n, are left out as identifiers with a notice", async () => {
    const ds = csv(file(), { label: "kind" });
    expect(ds.featureNames).toEqual(["height", "city=lima", "city=oslo", "city=paris"]);
    expect(ds.inputShape).toEqual([4]);
    const { x, y } = await all(ds);
    close(x, rows.map((r) => [r.height, r.city === "lima" ? 1 : 0, r.city === "oslo" ? 1 : 0, r.city === "paris" ? 1 : 0]));
    expect(y).toEqual(rows.map((r) => (r.kind === "no" ? 0 : 1)));
    expect(ds.inferred.droppedColumns).toEqual(["id", "row_id"]);
    expect(ds.inferred.columns.map((c) => c.kind)).toEqual(["identifier", "identifier", "numeric", "categorical", "label"]);
    expect(ds.notices[0]).toMatch(/Left out column "id" as an identifier \(300 different text values in 300 rows.*keepIdColumns: true/);
    expect(ds.notices[1]).toMatch(/Left out column "row_id" as an identifier \(the whole numbers 1 to 300, each once, and its name says id\)/);
    // the notices are shown when the data is loaded
    expect(shown.map((b) => String(b["text/plain"])).join("\n")).toMatch(/Notice: people\.csv: Left out column "id"/);
  });

  it("keepIdColumns: true keeps them; drop leaves out a column by name; an explicit features list is used as given", () => {
    const kept = csv(file(), { label: "kind", keepIdColumns: true });
    expect(kept.featureNames.length).toBe(n + 1 + 1 + 3);
    expect(kept.notices[0]).toMatch(/looks like an identifier.*kept \(keepIdColumns: true\)/);
    const dropped = csv(file(), { label: "kind", drop: ["city"] });
    expect(dropped.featureNames).toEqual(["height"]);
    expect(dropped.inferred.columns.find((c) => c.name === "city")!.kind).toBe("dropped");
    const named = csv(file(), { label: "kind", features: ["row_id", "height"] });
    expect(named.featureNames).toEqual(["row_id", "height"]);
  });

  it("distinct real numbers, or whole numbers with gaps in a column not named like an id, stay features", async () => {
    const f = write("sizes.csv", ["area,count,paid,user_id,userId,kind", ...rows.map((r, i) => `${r.height + i / 1000},${i * 7 + 3},${i * 5 + 1},${i * 7 + 3},${i * 9},${r.kind}`)]);
    const ds = csv(f, { label: "kind" });
    expect(ds.featureNames).toEqual(["area", "count", "paid"]);
    expect(ds.inferred.droppedColumns).toEqual(["user_id", "userId"]);
    const { x } = await all(ds);
    close(x, rows.map((r, i) => [r.height + i / 1000, i * 7 + 3, i * 5 + 1]));
  });
});

describe("csv: what the loader inferred", () => {
  it("is on the dataset and shown when it is displayed, as text and HTML", () => {
    const lines = ["id,age,colour,grade"];
    for (let i = 0; i < 12; i++) lines.push(`r${i},${i === 4 ? "NA" : 20 + i},${i % 2 ? "red" : "blue"},${i % 3}${i % 2 ? ".0" : ""}`);
    const ds = csv(write("school.csv", lines), { label: "grade", missing: "drop" });
    expect(ds.inferred).toMatchObject({ file: "school.csv", label: "grade", task: "classification", rowsRead: 12, samples: 11, droppedColumns: ["id"], droppedRows: [6], missing: "drop" });
    expect(ds.inferred.columns).toEqual([
      { name: "id", position: 1, kind: "identifier", numericValues: false, distinct: 12, missing: 0, inputs: 0 },
      { name: "age", position: 2, kind: "numeric", numericValues: true, distinct: 11, missing: 1, inputs: 1 },
      { name: "colour", position: 3, kind: "categorical", numericValues: false, distinct: 2, missing: 0, inputs: 2, categories: ["blue", "red"] },
      { name: "grade", position: 4, kind: "label", numericValues: true, distinct: 3, missing: 0, inputs: 0, classes: ["0", "1", "2"] },
    ]);
    expect(ds.notices).toBe(ds.inferred.notices);
    expect(ds.notices.length).toBe(2);
    const table = ds.inferredTable();
    expect(table.index).toEqual(["id", "age", "colour", "grade"]);
    expect(table.column("kind")).toEqual(["identifier", "numeric", "categorical", "label"]);
    expect(table.column("missing")).toEqual([0, 1, 0, 0]);
    const bundle = toMimeBundle(ds);
    const text = String(bundle["text/plain"]);
    expect(text).toContain("columns as inferred:");
    expect(text).toMatch(/grade\s+label\s+numbers\s+3\s+0\s+0\s+3 classes: 0, 1, 2/);
    expect(text).toMatch(/id\s+identifier\s+text\s+12/);
    expect(text).toContain('Notice: Left out column "id" as an identifier');
    expect(text).toContain('Notice: Left out 1 row with missing values (missing: "drop"): row 6.');
    const html = String(bundle["text/html"]);
    expect(html).toContain('<div class="lepton-csv-inferred">');
    expect(html).toContain(">identifier</td>");
    expect(html).toContain("3 classes: 0, 1, 2");
    expect(html).toMatch(/<li>Notice: Left out column &quot;id&quot; as an identifier/);
    expect(html.endsWith("</div></div>")).toBe(true);
  });

  it("a wide file's display lists the first 30 columns; inferredTable() has them all", () => {
    const names = Array.from({ length: 40 }, (_, j) => `p${j}`);
    const lines = [[...names, "kind"].join(",")];
    for (let i = 0; i < 4; i++) lines.push([...names.map((_, j) => (i * j) % 5), i % 2].join(","));
    const ds = csv(write("wide.csv", lines), { label: "kind" });
    expect(ds.inferredTable().index.length).toBe(41);
    const text = String(toMimeBundle(ds)["text/plain"]);
    expect(text).toContain("the first 30 of 41 columns (inferredTable() lists all)");
    expect(text).toMatch(/\np29 /);
    expect(text).not.toMatch(/\np30 /);
  });
});

describe("csv: option checks", () => {
  it("names the row and its line when blank lines come first; refuses fillValue for a column that is not there", () => {
    const f = write("blank.csv", ["a,kind", "", "1,x", "", "NA,y"]);
    expect(() => csv(f, { label: "kind" })).toThrow(/row 3 \(line 5\) has no value in column "a"/);
    expect(() => csv(f, { label: "kind", missing: "fill", fillValue: { b: 0 } })).toThrow(/no column for fillValue "b"/);
    expect(() => csv(f, { label: "kind", fillValue: 0 })).toThrow(/fillValue is used with missing: "fill"/);
    expect(csv(f, { label: "kind", missing: "fill", fillValue: { a: 7 } }).inferred.columns[0]).toMatchObject({ fill: 7, fillFrom: "fillValue" });
  });
});

describe("csv: data that only looks like ids or markers (review)", () => {
  it("keeps consecutive whole numbers without an id-like name, and '-' / '?' as categories by default", async () => {
    const lines = ["x,strand,y"];
    for (let i = 0; i < 20; i++) lines.push(`${i},${i % 2 ? "-" : "+"},${2 * i + 1}`);
    const ds = csv(write("xs.csv", lines), { label: "y" });
    expect(ds.featureNames).toEqual(["x", "strand=+", "strand=-"]);
    expect(ds.inferred.droppedColumns).toEqual([]);
  });
});
