import { checkNumber, checkOptionNames, nearestName } from "../util/options";

/**
 * Learning-rate schedules, evaluated every batch: lr(step) for step = 0 .. totalSteps-1.
 */

export type ScheduleSpec =
  | ((step: number, baseLr: number) => number)
  | "constant"
  | "cosine"
  | "onecycle"
  | { type: "constant" }
  | {
      type: "step";
      /** Multiply the LR by `gamma` every `everyEpochs` epochs (default 0.1 every 1/3 of training). */
      everyEpochs?: number;
      gamma?: number;
    }
  | {
      type: "cosine";
      /** Final LR (default 0). */
      minLr?: number;
      /** Linear warm-up from ~0 over this many epochs (default 0). */
      warmupEpochs?: number;
    }
  | {
      /** fastai's fit_one_cycle: cosine warm-up from maxLr/divFactor to maxLr, then cosine down to maxLr/(divFactor·finalDivFactor). */
      type: "onecycle";
      /** Peak LR (default: the optimizer's lr). */
      maxLr?: number;
      /** Fraction of the steps spent warming up (default 0.25). */
      pctStart?: number;
      divFactor?: number;
      finalDivFactor?: number;
    };

/** The LR at a step: `step` counts batches from the start of training. */
export type LrFunction = (step: number) => number;

function cosineBetween(start: number, end: number, t: number): number {
  return end + ((start - end) * (1 + Math.cos(Math.PI * Math.min(1, Math.max(0, t))))) / 2;
}

const SCHEDULE_KEYS: Record<string, string[]> = {
  constant: ["type"],
  step: ["type", "everyEpochs", "gamma"],
  cosine: ["type", "minLr", "warmupEpochs"],
  onecycle: ["type", "maxLr", "pctStart", "divFactor", "finalDivFactor"],
};

/** Check a schedule spec before training starts: its type, option names and numbers. */
export function checkSchedule(spec: ScheduleSpec, fn: string): void {
  if (typeof spec === "function") return;
  const s = typeof spec === "string" ? { type: spec } : spec;
  if (!s || typeof s !== "object") throw new Error(`${fn}: schedule must be "constant", "cosine", "onecycle", an object such as { type: "cosine", warmupEpochs: 1 }, or a function (step, lr) => lr.`);
  const keys = SCHEDULE_KEYS[(s as any).type];
  if (!keys) {
    const near = nearestName(String((s as any).type), Object.keys(SCHEDULE_KEYS));
    throw new Error(`${fn}: unknown schedule "${(s as any).type}"${near ? `; did you mean "${near}"?` : ""}. Use "constant", "step", "cosine" or "onecycle", or a function (step, lr) => lr.`);
  }
  checkOptionNames(s, keys, `${fn} schedule ${(s as any).type}`);
  const o = s as Record<string, unknown>;
  const where = `${fn} schedule ${(s as any).type}`;
  checkNumber(o.everyEpochs, "everyEpochs", (v) => Number.isFinite(v) && v > 0, "a positive number", where);
  checkNumber(o.gamma, "gamma", (v) => Number.isFinite(v) && v > 0, "a positive number", where);
  checkNumber(o.minLr, "minLr", (v) => Number.isFinite(v) && v >= 0, "a number >= 0", where);
  checkNumber(o.warmupEpochs, "warmupEpochs", (v) => Number.isFinite(v) && v >= 0, "a number >= 0", where);
  checkNumber(o.maxLr, "maxLr", (v) => Number.isFinite(v) && v > 0, "a positive number", where);
  checkNumber(o.pctStart, "pctStart", (v) => v > 0 && v < 1, "between 0 and 1", where);
  checkNumber(o.divFactor, "divFactor", (v) => Number.isFinite(v) && v > 0, "a positive number", where);
  checkNumber(o.finalDivFactor, "finalDivFactor", (v) => Number.isFinite(v) && v > 0, "a positive number", where);
}

/** Make the per-step LR function for a schedule, a base LR and the run's length. */
export function makeSchedule(spec: ScheduleSpec | undefined, baseLr: number, stepsPerEpoch: number, epochs: number): LrFunction {
  const total = Math.max(1, stepsPerEpoch * epochs);
  if (!(Number.isFinite(baseLr) && baseLr > 0)) throw new Error(`schedule: the base learning rate must be a positive number; got ${baseLr}.`);
  if (typeof spec === "function") {
    return (step) => {
      const lr = spec(step, baseLr);
      if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0) throw new Error(`schedule: the function returned ${String(lr)} for step ${step}; return a finite learning rate >= 0.`);
      return lr;
    };
  }
  const s = typeof spec === "string" ? ({ type: spec } as Exclude<ScheduleSpec, string | ((step: number, baseLr: number) => number)>) : spec ?? { type: "constant" as const };
  switch (s.type) {
    case "constant":
      return () => baseLr;
    case "step": {
      const every = s.everyEpochs ?? Math.max(1, Math.round(epochs / 3));
      const gamma = s.gamma ?? 0.1;
      if (!(every > 0)) throw new Error(`schedule step: everyEpochs must be > 0; got ${every}.`);
      return (step) => baseLr * Math.pow(gamma, Math.floor(step / stepsPerEpoch / every));
    }
    case "cosine": {
      const minLr = s.minLr ?? 0;
      const warm = Math.round((s.warmupEpochs ?? 0) * stepsPerEpoch);
      return (step) => {
        if (step < warm) return (baseLr * (step + 1)) / warm;
        return cosineBetween(baseLr, minLr, (step - warm) / Math.max(1, total - warm - 1));
      };
    }
    case "onecycle": {
      const maxLr = s.maxLr ?? baseLr;
      const pct = s.pctStart ?? 0.25;
      const div = s.divFactor ?? 25;
      const finalDiv = s.finalDivFactor ?? 1e4;
      if (!(pct > 0 && pct < 1)) throw new Error(`schedule onecycle: pctStart must be between 0 and 1; got ${pct}.`);
      const up = Math.max(1, Math.round(total * pct));
      return (step) => {
        if (step < up) return cosineBetween(maxLr / div, maxLr, step / up);
        return cosineBetween(maxLr, maxLr / (div * finalDiv), (step - up) / Math.max(1, total - up - 1));
      };
    }
    default:
      throw new Error(`schedule: unknown type "${(s as any).type}"; use "constant", "step", "cosine" or "onecycle".`);
  }
}
