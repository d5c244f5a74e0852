/** What code displays (notices, reports) while it runs, captured as plain text instead of shown. */
import { setDisplaySink, plainText, type MimeBundle } from "../src/display/display";

/** Run `fn` with lepton's display going to a list; returns its result and what it displayed, as plain text. */
export async function captureDisplay<T>(fn: () => Promise<T>): Promise<{ result: T; shown: string[] }> {
  const shown: string[] = [];
  setDisplaySink({ display: (b: MimeBundle) => shown.push(plainText(b)), update: (b: MimeBundle) => shown.push(plainText(b)) });
  try {
    return { result: await fn(), shown };
  } finally {
    setDisplaySink(undefined);
  }
}
