/**
 * Option checking shared by every public function: names a function does not know are refused with
 * the nearest known one (a misspelt `momentun` must not silently train without momentum), and numbers
 * are checked where they enter.
 */

/** Edit distance between two strings (Levenshtein, case-insensitive). */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[t.length];
}

/** The known name closest to `name`, if one is close enough to be a likely typo. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const lower = name.toLowerCase();
  const contains = known.find((k) => k.toLowerCase().includes(lower) || lower.includes(k.toLowerCase()));
  if (bestD <= Math.max(2, Math.floor(name.length / 3))) return best;
  return lower.length >= 3 ? contains : undefined;
}

/**
 * Refuse option names `fn` does not know: `train(): unknown option "lr_rate"; did you mean "lr"?
 * Known options: ...`. Plain JavaScript callers get the same check TypeScript gives at compile time.
 */
export function checkOptionNames(options: unknown, known: readonly string[], fn: string, extra = ""): void {
  if (options === undefined || options === null) return;
  if (typeof options !== "object" || Array.isArray(options)) throw new Error(`${fn}: options must be an object such as { ${known.slice(0, 2).map((k) => `${k}: ...`).join(", ")} }; got ${Array.isArray(options) ? "an array" : typeof options}.`);
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = nearestName(key, known);
    throw new Error(
      `${fn}: unknown option "${key}"${near ? `; did you mean "${near}"?` : "."}${extra ? ` ${extra}` : ""} Known options: ${known.join(", ")}.`,
    );
  }
}

/** Throw `fn: name must be <hint>; got v.` unless v is undefined or passes `test`. */
export function checkNumber(v: unknown, name: string, test: (v: number) => boolean, hint: string, fn: string): void {
  if (v === undefined) return;
  if (!(typeof v === "number" && test(v))) throw new Error(`${fn}: ${name} must be ${hint}; got ${typeof v === "string" ? JSON.stringify(v) : String(v)}.`);
}
