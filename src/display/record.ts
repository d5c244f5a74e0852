/**
 * Named results a notebook reports (a test accuracy, a wall time), in the spirit of scrapbook's
 * `glue`: shown as one line in the notebook and carried in the output under a lepton mime type, so
 * the course runner can read them back from the executed notebook for its summary.
 */
import { DISPLAY_SYMBOL, display, type DisplayHandle, type MimeBundle } from "./display";

export const RECORD_MIME = "application/vnd.lepton.record+json";

export type RecordValue = number | string | boolean;

/** Show `name = value` and store it in the notebook's outputs for the course summary. */
export function record(name: string, value: RecordValue): DisplayHandle {
  if (typeof name !== "string" || name.trim() === "") {
    throw new TypeError("lepton.record(name, value): name must be a non-empty string, e.g. record(\"test_accuracy\", 0.52)");
  }
  const shown = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(4) : String(value);
  const line = `${name} = ${shown}`;
  const handle = display({
    [DISPLAY_SYMBOL]: () => ({
      [RECORD_MIME]: { [name]: value },
      "text/plain": line,
    }),
  });
  // As a cell's last value it shows nothing more: its line is already in the cell.
  const result = { ...handle, [DISPLAY_SYMBOL]: (): MimeBundle => ({}), toString: () => line };
  return result;
}

/** Every record in an nbformat notebook's outputs, later ones winning. */
export function readRecords(notebook: { cells?: { outputs?: object[] }[] }): Record<string, RecordValue> {
  const found: Record<string, RecordValue> = {};
  for (const cell of notebook.cells ?? []) {
    for (const output of cell.outputs ?? []) {
      const data = (output as { data?: Record<string, unknown> }).data?.[RECORD_MIME];
      if (data && typeof data === "object") Object.assign(found, data);
    }
  }
  return found;
}
