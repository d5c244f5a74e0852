/**
 * Named results a notebook reports (a test accuracy, a wall time), in the spirit of scrapbook's
 * `glue`: shown as one `text/plain` line and carried in that output's metadata (under
 * "lepton.record"), so the course runner can read them back from the executed notebook for its
 * summary. Metadata, not a mime type of its own: VS Code shows "No renderer could be found" for a
 * vendor mime type it does not know instead of falling back to the text (vscode-jupyter 15004, 11658),
 * while every frontend keeps and ignores output metadata.
 */
import { DISPLAY_SYMBOL, display, type DisplayHandle, type MimeBundle } from "./display";

/** The output metadata key that holds a record: `{ "lepton.record": { name: value } }`. */
export const RECORD_METADATA_KEY = "lepton.record";
/** Where lepton 0.1's notebooks carried records (a mime type of the output's data); still read. */
export const RECORD_MIME = "application/vnd.lepton.record+json";

export type RecordValue = number | string | boolean;

/** Show `name = value` and store it in the notebook's outputs for the course summary. */
export function record(name: string, value: RecordValue): DisplayHandle {
  if (typeof name !== "string" || name.trim() === "") {
    throw new TypeError("lepton.record(name, value): name must be a non-empty string, e.g. record(\"test_accuracy\", 0.52)");
  }
  const shown = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(4) : String(value);
  const line = `${name} = ${shown}`;
  const handle = display({ [DISPLAY_SYMBOL]: () => ({ "text/plain": line }) }, { metadata: { [RECORD_METADATA_KEY]: { [name]: value } } });
  // As a cell's last value it shows nothing more: its line is already in the cell.
  const result = { ...handle, [DISPLAY_SYMBOL]: (): MimeBundle => ({}), toString: () => line };
  return result;
}

/** Every record in an nbformat notebook's outputs (their metadata, or the older mime type), later ones winning. */
export function readRecords(notebook: { cells?: { outputs?: object[] }[] }): Record<string, RecordValue> {
  const found: Record<string, RecordValue> = {};
  const take = (values: unknown) => {
    if (!values || typeof values !== "object" || Array.isArray(values)) return;
    for (const [name, value] of Object.entries(values)) {
      if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") found[name] = value;
    }
  };
  for (const cell of notebook.cells ?? []) {
    for (const output of cell.outputs ?? []) {
      const o = output as { data?: Record<string, unknown>; metadata?: Record<string, unknown> };
      take(o.data?.[RECORD_MIME]);
      take(o.metadata?.[RECORD_METADATA_KEY]);
    }
  }
  return found;
}
